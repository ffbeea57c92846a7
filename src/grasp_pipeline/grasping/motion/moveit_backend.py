"""MoveIt 2 motion backend through moveit_py (``moveit.planning.MoveItPy``).

Only a ROS 2 install with MoveIt provides moveit_py (it is not on PyPI); this module imports it
inside :class:`MoveItBackend` and raises :class:`MoveItUnavailableError` naming what to install, so the
rest of the package keeps working without it. Written against the documented moveit_py API
(MoveIt 2 "Motion Planning Python API" tutorial): ``MoveItPy(node_name=..., config_dict=...)``,
``get_planning_component(group)``, ``set_start_state(robot_state=...)``,
``set_goal_state(robot_state=... | configuration_name=...)``, ``plan()`` -> result with
``.trajectory``, ``MoveItPy.execute(trajectory, controllers=[])``, and
``RobotState.set_from_ik(group, pose, tip, timeout)``.

Configuration. MoveItPy is always built from the robot's MoveIt configuration: the URDF, the SRDF,
kinematics.yaml, joint_limits.yaml and the planning pipelines, as
``moveit_configs_utils.MoveItConfigsBuilder("moveit_resources_panda").to_dict()`` gives them to a node
(launch/franka_moveit.launch.py). :func:`moveit_py_config` checks such a dict (nested, or flattened
to dotted names as a node's parameters are) and turns it into the structure MoveItPy reads, naming
every missing piece; without an explicit dict, :func:`config_from_params_files` collects it from the
``--params-file`` files launch handed this process. ``MoveItPy(node_name=...)`` alone would read only
the first ``--params-file`` of the process, which for the grasp planner is its own config/*.yaml.

Every segment of a pick is planned before anything moves: each segment starts from the goal state of
the previous one, so an IK failure or an unplannable segment refuses the whole pick. When the
fingers then hold nothing, the hand opens and a path back to where the pick started is planned and
driven (``ExecResult.returned``), as the embedded backend does, so the caller may look again.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from grasp_pipeline.grasping.motion.base import (
    ExecResult,
    MotionBackend,
    Segment,
    Trajectory,
)
from grasp_pipeline.grasping.robots import RobotModel
from grasp_pipeline.grasping.waypoints import Waypoint

# The values grasp_planner_node's ``execution`` parameter accepts (and the ``execution`` launch
# argument passes on); 'kinematic' and 'sim' run the embedded planner (IK + collision checks).
EXECUTION_CHOICES = ("kinematic", "sim", "moveit")
# the arm is where a trajectory starts (or was sent back to) within this much on every joint
AT_START_RAD = 0.01


def install_hint(distro: str | None = None) -> str:
    """What to install for moveit_py, and the planner's alternatives without it. ``distro``: the
    ROS 2 distribution (default: ``$ROS_DISTRO``; ``<distro>`` where unset)."""
    distro = distro or os.environ.get("ROS_DISTRO") or "<distro>"
    return (
        f"moveit_py is not available: install MoveIt 2 for your ROS 2 distribution "
        f"(`sudo apt install ros-{distro}-moveit-py ros-{distro}-moveit-configs-utils "
        f"ros-{distro}-moveit-resources-panda-moveit-config`), source /opt/ros/{distro}/setup.bash "
        "and start the planner with the robot's MoveIt configuration "
        "(ros2 launch grasp_pipeline franka_moveit.launch.py); or plan without MoveIt: the grasp "
        f"planner's parameter 'execution' (launch argument execution:=...) accepts "
        f"{', '.join(repr(c) for c in EXECUTION_CHOICES)}: 'kinematic' (embedded planner: plans "
        "and checks grasps on the robot model, moves no robot) or 'sim' (embedded planner, picks "
        "run in the PyBullet cell)"
    )


INSTALL_HINT = install_hint()

# What MoveItPy needs from the robot's MoveIt configuration (parameter name -> what it is and where
# MoveItConfigsBuilder reads it from).
REQUIRED_CONFIG = {
    "robot_description": "the robot's URDF (XML string; MoveItConfigsBuilder.robot_description())",
    "robot_description_semantic": "the SRDF (XML string: planning groups, named states; "
    "config/<robot>.srdf)",
    "robot_description_kinematics": "the IK solver of each planning group (config/kinematics.yaml)",
    "robot_description_planning": "joint velocity/acceleration limits (config/joint_limits.yaml; "
    "trajectory time parameterisation needs them)",
    "planning_pipelines": "the planning pipelines to load (e.g. ['ompl']) with each one's "
    "configuration under its name (config/ompl_planning.yaml -> key 'ompl')",
}

# MoveItCpp options MoveItConfigsBuilder leaves out unless a moveit_cpp.yaml is given
# (MoveIt 2 "Motion Planning Python API" tutorial values; the topic is move_group's scene).
DEFAULT_PLAN_REQUEST = {
    "planning_attempts": 1,
    "planning_time": 5.0,
    "max_velocity_scaling_factor": 1.0,
    "max_acceleration_scaling_factor": 1.0,
}
DEFAULT_SCENE_MONITOR = {
    "name": "planning_scene_monitor",
    "robot_description": "robot_description",
    "joint_state_topic": "/joint_states",
    "attached_collision_object_topic": "/moveit_cpp/planning_scene_monitor",
    "publish_planning_scene_topic": "/moveit_cpp/publish_planning_scene",
    "monitored_planning_scene_topic": "/moveit_cpp/monitored_planning_scene",
    "wait_for_initial_state_timeout": 10.0,
}


class MoveItConfigError(ValueError):
    """The MoveIt configuration handed to the backend lacks a piece or has a wrong one."""


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
        raise MoveItUnavailableError(f"{install_hint()} ({e})") from e
    return MoveItPy, RobotState


def nest_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters with dotted names (``robot_description_kinematics.panda_arm.kinematics_solver``,
    as a node's parameters and launch_ros's parameter files have them) as nested dicts; already
    nested entries are merged in. Raises MoveItConfigError when a name is both a value and a
    namespace."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        *path, leaf = str(key).split(".")
        node = out
        for part in path:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise MoveItConfigError(
                    f"parameter {key!r}: {part!r} is both a value and a namespace"
                )
        if isinstance(value, Mapping):
            value = nest_params(value)
            if isinstance(node.get(leaf), dict):
                node[leaf].update(value)
                continue
        node[leaf] = value
    return out


def _srdf_groups(srdf: str) -> set[str]:
    return set(re.findall(r"<group\s+name\s*=\s*[\"']([^\"']+)[\"']", srdf))


def moveit_py_config(
    params: Mapping[str, Any], groups: MoveItGroups | None = None
) -> dict[str, Any]:
    """The ``config_dict`` for ``MoveItPy`` from a robot's MoveIt configuration.

    ``params``: what ``MoveItConfigsBuilder(...).to_dict()`` returns (nested or with dotted names).
    Checked: every piece of :data:`REQUIRED_CONFIG` is there and not empty, the URDF and SRDF are
    XML, each planning pipeline named has its configuration, and (with ``groups``) the SRDF
    defines the arm and hand groups and kinematics.yaml has a solver for the arm. The pipeline list
    becomes ``planning_pipelines.pipeline_names`` (what MoveItCpp reads); ``plan_request_params``
    (default pipeline: ``default_planning_pipeline`` or the first) and
    ``planning_scene_monitor_options`` get defaults under whatever the config sets.

    Raises MoveItConfigError naming every missing key / bad piece.
    """
    if not isinstance(params, Mapping):
        raise MoveItConfigError(
            f"MoveIt configuration must be a mapping of parameters, got {type(params).__name__}"
        )
    cfg = nest_params(params)
    missing = [k for k in REQUIRED_CONFIG if cfg.get(k) in (None, "", {}, [])]
    if missing:
        raise MoveItConfigError(
            f"MoveIt configuration is missing {', '.join(repr(k) for k in missing)}: "
            + "; ".join(f"{k} = {REQUIRED_CONFIG[k]}" for k in missing)
            + ". Pass the robot's whole MoveIt config, e.g. MoveItConfigsBuilder("
            "'moveit_resources_panda').to_dict() (launch/franka_moveit.launch.py does)"
        )
    problems = []
    for key in ("robot_description", "robot_description_semantic"):
        text = cfg[key]
        if not isinstance(text, str) or "<robot" not in text:
            problems.append(f"{key!r} must be the XML text of the file (a <robot> element)")
    for key in ("robot_description_kinematics", "robot_description_planning"):
        if not isinstance(cfg[key], dict):
            problems.append(f"{key!r} must be a mapping (the YAML file's content)")

    pipes = cfg["planning_pipelines"]
    names = pipes.get("pipeline_names") if isinstance(pipes, dict) else pipes
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, Sequence) or not names or not all(isinstance(n, str) for n in names):
        problems.append(
            "'planning_pipelines' must list pipeline names (['ompl'] or {pipeline_names: ['ompl']})"
        )
        names = []
    names = list(names)
    for name in names:  # MoveItConfigsBuilder puts each pipeline's file under its name
        if not isinstance(cfg.get(name), dict) or not cfg[name]:
            problems.append(
                f"planning pipeline {name!r} has no configuration: key {name!r} "
                f"(config/{name}_planning.yaml) is missing"
            )
    default = cfg.get("default_planning_pipeline") or (names[0] if names else "")
    if names and default not in names:
        problems.append(f"default_planning_pipeline {default!r} is not one of {names}")

    if groups is not None and not problems:
        defined = _srdf_groups(cfg["robot_description_semantic"])
        for group in (groups.arm, groups.hand):
            if group not in defined:
                problems.append(
                    f"the SRDF defines no planning group {group!r} (it has {sorted(defined)})"
                )
        if not isinstance(cfg["robot_description_kinematics"].get(groups.arm), dict):
            problems.append(
                f"'robot_description_kinematics' has no IK solver for group {groups.arm!r}"
            )
    if problems:
        raise MoveItConfigError("MoveIt configuration: " + "; ".join(problems))

    out = dict(cfg)
    out["planning_pipelines"] = {"pipeline_names": names}
    out["plan_request_params"] = {
        **DEFAULT_PLAN_REQUEST,
        "planning_pipeline": default,
        **(cfg.get("plan_request_params") or {}),
    }
    out["planning_scene_monitor_options"] = {
        **DEFAULT_SCENE_MONITOR,
        **(cfg.get("planning_scene_monitor_options") or {}),
    }
    return out


class _ParamsFileLoader(yaml.SafeLoader):
    """Safe YAML loading of ROS parameter files, plus the ``!!python/tuple`` tag launch_ros writes
    (it dumps a parameter dict with ``yaml.dump``: MoveItConfigsBuilder's controller lists are
    tuples), read as a list."""


_ParamsFileLoader.add_constructor(
    "tag:yaml.org,2002:python/tuple", lambda loader, node: loader.construct_sequence(node)
)


def params_files_in_args(argv: Sequence[str]) -> list[Path]:
    """The files after each ``--params-file`` in a process's arguments (what launch_ros passes)."""
    return [Path(argv[i + 1]) for i, a in enumerate(argv[:-1]) if a == "--params-file"]


def config_from_params_files(
    paths: Sequence[str | Path], node_names: Sequence[str] = ("grasp_planner_node",)
) -> dict[str, Any]:
    """The parameters the ROS parameter files ``paths`` give a node named one of ``node_names``
    (sections ``/**``, ``/*``, ``name``, ``/**/name``, ``/ns/name``), merged in order: the MoveIt
    configuration a launch file handed the planner node as a parameter dict (launch_ros writes it
    to a ``/**`` file). Raises MoveItConfigError naming an unreadable file."""
    merged: dict[str, Any] = {}
    for path in paths:
        try:
            data = yaml.load(Path(path).read_text(), Loader=_ParamsFileLoader)
        except (OSError, yaml.YAMLError) as exc:
            raise MoveItConfigError(f"cannot read parameter file {path}: {exc}") from exc
        if not isinstance(data, dict):
            continue
        for key, body in data.items():
            name = str(key).rstrip("/").split("/")[-1]
            if name not in ("*", "**", *node_names) or not isinstance(body, dict):
                continue
            merged.update(body.get("ros__parameters") or {})
    return merged


class MoveItBackend(MotionBackend):
    """Plans and executes picks with MoveIt 2 for the robot of ``model`` ("franka" | "youbot").

    ``model`` names the robot and supplies the gripper; MoveIt's own IK, planner and planning
    scene do the checking. ``config``: the robot's MoveIt configuration (see
    :func:`moveit_py_config`); None = the parameters the ``--params-file`` files of this process
    (``argv``, default ``sys.argv``) give the grasp planner node, i.e. the dict a launch file passed
    it. Raises MoveItUnavailableError (an ImportError) without moveit_py, MoveItConfigError (a
    ValueError) for an incomplete configuration, both naming what to do.
    """

    name = "moveit"

    def __init__(
        self,
        model: RobotModel,
        node_name: str = "grasp_pipeline_moveit",
        ik_timeout_s: float = 0.1,
        config: Mapping[str, Any] | None = None,
        argv: Sequence[str] | None = None,
    ) -> None:
        robot = model.name
        if robot not in GROUPS:
            raise ValueError(f"robot must be one of {sorted(GROUPS)}, got {robot!r}")
        MoveItPy, RobotState = _import_moveit()
        self.groups = GROUPS[robot]
        if config is None:
            files = params_files_in_args(sys.argv if argv is None else argv)
            config = config_from_params_files(files)
            self.config_source = f"parameter files {[str(f) for f in files]}"
        else:
            self.config_source = "the configuration passed in"
        self.config = moveit_py_config(config, self.groups)
        self._RobotState = RobotState
        self.model = model
        self.ik_timeout_s = ik_timeout_s
        self.moveit = MoveItPy(node_name=node_name, config_dict=self.config)
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
            if wp.joints is not None:
                goal.set_joint_group_positions(self.groups.arm, np.asarray(wp.joints, float))
            elif not goal.set_from_ik(
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
        if not self._at(trajectory.start_q):
            return ExecResult(False, "refused: the robot moved since the plan was made; replan")
        closed = None  # finger opening (m) the robot reports once the hand closed with force
        for seg in trajectory.segments:
            self.moveit.execute(seg.native, controllers=[])
            if seg.gripper is not None:
                state = self.groups.close_state if seg.gripper <= 0 else self.groups.open_state
                if not self._drive(self.hand, configuration_name=state):
                    return ExecResult(
                        False, f"{seg.name}: MoveIt could not plan the gripper motion"
                    )
                if seg.gripper <= 0:
                    closed = self.gripper_opening()
        if not trajectory.holds:
            return ExecResult(True, "done: every segment driven")
        lifted = self.gripper_opening() if closed is not None else None
        return self.judge_lift(trajectory, closed, lifted)

    def _at(self, q: np.ndarray | None) -> bool:
        """Whether the arm stands at joints ``q`` (within AT_START_RAD)."""
        return q is not None and bool(np.abs(self.current_joints() - q).max() <= AT_START_RAD)

    def _drive(self, component, **goal) -> bool:
        """Plan the planning ``component`` (arm or hand) from where it is now to ``goal`` (the
        keywords of ``set_goal_state``: ``configuration_name`` or ``robot_state``) and drive the
        plan; False when MoveIt found none (nothing moves)."""
        component.set_start_state_to_current_state()
        component.set_goal_state(**goal)
        result = component.plan()
        if not result:
            return False
        self.moveit.execute(result.trajectory, controllers=[])
        return True

    def return_to_start(self, trajectory: Trajectory) -> bool:
        """After a pick whose fingers hold nothing (the arm lifted, at the end of ``trajectory``):
        open the hand, plan a path from here to the joints the trajectory started from (MoveIt's
        planner checks it against its planning scene) and drive it. True when the arm got there;
        the caller may then look again and plan another grasp."""
        if not self._drive(self.hand, configuration_name=self.groups.open_state):
            return False
        goal = self._RobotState(self.robot_model)
        goal.set_joint_group_positions(self.groups.arm, np.asarray(trajectory.start_q, float))
        goal.update()
        return self._drive(self.arm, robot_state=goal) and self._at(trajectory.start_q)

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
