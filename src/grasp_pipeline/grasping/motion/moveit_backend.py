"""MoveIt 2 motion backend through moveit_py (``moveit.planning.MoveItPy``).

Only a ROS 2 install with MoveIt provides moveit_py (it is not on PyPI); this module imports it
inside :class:`MoveItBackend` and raises :class:`MoveItUnavailableError` naming what to install, so the
rest of the package keeps working without it. Written against the documented moveit_py API
(MoveIt 2 "Motion Planning Python API" tutorial): ``MoveItPy(node_name=...)``,
``get_planning_component(group)``, ``set_start_state(robot_state=...)``,
``set_goal_state(robot_state=... | configuration_name=...)``, ``plan()`` -> result with
``.trajectory``, ``MoveItPy.execute(trajectory, controllers=[])``, and
``RobotState.set_from_ik(group, pose, tip, timeout)``.

Every segment of a pick is planned before anything moves: each segment starts from the goal state of
the previous one, so an IK failure or an unplannable segment refuses the whole pick.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from grasp_pipeline.grasping.motion.base import (
    ExecResult,
    MotionBackend,
    Segment,
    Trajectory,
    judge_hold,
)
from grasp_pipeline.grasping.robots import RobotModel
from grasp_pipeline.grasping.waypoints import Waypoint

# The alternatives are the values grasp_planner_node's ``execution`` parameter accepts (and the
# ``execution`` launch argument passes on); both run the embedded planner (IK + collision checks).
INSTALL_HINT = (
    "moveit_py is not available: install MoveIt 2 for your ROS 2 distribution "
    "(e.g. `sudo apt install ros-$ROS_DISTRO-moveit-py ros-$ROS_DISTRO-moveit-resources-panda-"
    "moveit-config`), source /opt/ros/$ROS_DISTRO/setup.bash and launch the robot's MoveIt config; "
    "or plan without MoveIt, with the embedded planner: set the grasp planner's parameter "
    "'execution' (launch argument execution:=...) to 'kinematic' (plans and checks grasps on the "
    "robot model, moves no robot) or 'sim' (runs the picks in the PyBullet cell)"
)


class MoveItUnavailableError(ImportError):
    """moveit_py (a ROS 2 + MoveIt install) is missing."""


@dataclass(frozen=True)
class MoveItGroups:
    """Names in the robot's MoveIt configuration; ``tcp_offset_m`` along ``tip_link``'s z axis;
    ``fingers``: the two finger joints (prismatic, m each side: their sum is the opening)."""

    arm: str
    hand: str
    tip_link: str
    tcp_offset_m: float
    base_frame: str
    fingers: tuple[str, str]
    open_state: str = "open"
    close_state: str = "close"


GROUPS = {
    "franka": MoveItGroups(
        "panda_arm",
        "hand",
        "panda_hand",
        0.1034,
        "panda_link0",
        ("panda_finger_joint1", "panda_finger_joint2"),
    ),
    "youbot": MoveItGroups(
        "arm_1",
        "arm_1_gripper",
        "arm_link_5",
        0.0875,
        "arm_link_0",
        ("gripper_finger_joint_l", "gripper_finger_joint_r"),
    ),
}


def _import_moveit():
    try:
        from moveit.core.robot_state import RobotState
        from moveit.planning import MoveItPy
    except ImportError as e:  # pragma: no cover - depends on a ROS install
        raise MoveItUnavailableError(f"{INSTALL_HINT} ({e})") from e
    return MoveItPy, RobotState


class MoveItBackend(MotionBackend):
    """Plans and executes picks with MoveIt 2 for the robot of ``model`` ("franka" | "youbot").

    ``model`` names the robot and supplies the gripper; MoveIt's own IK, planner and planning
    scene do the checking.
    """

    name = "moveit"

    def __init__(
        self,
        model: RobotModel,
        node_name: str = "grasp_pipeline_moveit",
        ik_timeout_s: float = 0.1,
    ) -> None:
        robot = model.name
        if robot not in GROUPS:
            raise ValueError(f"robot must be one of {sorted(GROUPS)}, got {robot!r}")
        MoveItPy, RobotState = _import_moveit()
        self._RobotState = RobotState
        self.groups = GROUPS[robot]
        self.model = model
        self.ik_timeout_s = ik_timeout_s
        self.moveit = MoveItPy(node_name=node_name)
        self.robot_model = self.moveit.get_robot_model()
        self.arm = self.moveit.get_planning_component(self.groups.arm)
        self.hand = self.moveit.get_planning_component(self.groups.hand)
        self._psm = self.moveit.get_planning_scene_monitor()

    def current_joints(self) -> np.ndarray:
        with self._psm.read_only() as scene:
            state = scene.current_state
            return np.array(state.get_joint_group_positions(self.groups.arm), dtype=float)

    def _tip_pose_msg(self, tcp_pose: np.ndarray):
        from geometry_msgs.msg import Pose
        from scipy.spatial.transform import Rotation

        T = np.asarray(tcp_pose, dtype=float) @ np.array(
            [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, -self.groups.tcp_offset_m], [0, 0, 0, 1]]
        )
        x, y, z, w = Rotation.from_matrix(T[:3, :3]).as_quat()
        msg = Pose()
        msg.position.x, msg.position.y, msg.position.z = (float(v) for v in T[:3, 3])
        msg.orientation.x, msg.orientation.y = float(x), float(y)
        msg.orientation.z, msg.orientation.w = float(z), float(w)
        return msg

    def plan(self, waypoints: list[Waypoint], target_point: np.ndarray | None = None) -> Trajectory:
        if not waypoints:
            return Trajectory(False, "no waypoints to plan")
        with self._psm.read_only() as scene:
            start = self._RobotState(self.robot_model)
            start.set_joint_group_positions(
                self.groups.arm, scene.current_state.get_joint_group_positions(self.groups.arm)
            )
        start.update()
        start_q = np.array(start.get_joint_group_positions(self.groups.arm), dtype=float)
        prev = start
        segments: list[Segment] = []
        for wp in waypoints:
            goal = self._RobotState(self.robot_model)
            goal.set_joint_group_positions(
                self.groups.arm, prev.get_joint_group_positions(self.groups.arm)
            )
            if not goal.set_from_ik(
                self.groups.arm,
                self._tip_pose_msg(wp.pose),
                self.groups.tip_link,
                self.ik_timeout_s,
            ):
                return Trajectory(False, f"{wp.name}: MoveIt IK failed", start_q=start_q)
            goal.update()
            self.arm.set_start_state(robot_state=prev)
            self.arm.set_goal_state(robot_state=goal)
            result = self.arm.plan()
            if not result:
                return Trajectory(
                    False, f"{wp.name}: MoveIt found no collision-free path", start_q=start_q
                )
            q_goal = np.array(goal.get_joint_group_positions(self.groups.arm))
            segments.append(Segment(wp.name, q_goal[None, :], wp.gripper, native=result.trajectory))
            prev = goal
        return Trajectory(True, "ok", segments, start_q=start_q)

    def execute(self, trajectory: Trajectory) -> ExecResult:
        if not trajectory.ok:
            return ExecResult(False, f"refused, plan not ok: {trajectory.reason}")
        if np.abs(self.current_joints() - trajectory.start_q).max() > 0.01:
            return ExecResult(False, "refused: the robot moved since the plan was made; replan")
        closed = None  # finger opening (m) the robot reports once the hand closed with force
        for seg in trajectory.segments:
            self.moveit.execute(seg.native, controllers=[])
            if seg.gripper is not None:
                self.hand.set_start_state_to_current_state()
                self.hand.set_goal_state(
                    configuration_name=self.groups.close_state
                    if seg.gripper <= 0
                    else self.groups.open_state
                )
                result = self.hand.plan()
                if not result:
                    return ExecResult(
                        False, f"{seg.name}: MoveIt could not plan the gripper motion"
                    )
                self.moveit.execute(result.trajectory, controllers=[])
                if seg.gripper <= 0:
                    closed = self.gripper_opening()
        lifted = self.gripper_opening() if closed is not None else None
        held, why = judge_hold(closed, lifted, self.model.gripper)
        return ExecResult(held, why, opening_closed_m=closed, opening_lifted_m=lifted)

    def gripper_opening(self, settle_s: float = 0.3) -> float | None:
        """Finger-to-finger opening (m) from the robot's joint states (the planning scene monitor
        follows ``/joint_states``), read ``settle_s`` after the last motion; None when the finger
        joints are not in the state."""
        time.sleep(settle_s)
        with self._psm.read_only() as scene:
            positions = scene.current_state.joint_positions
        try:
            return float(sum(positions[j] for j in self.groups.fingers))
        except KeyError:
            return None
