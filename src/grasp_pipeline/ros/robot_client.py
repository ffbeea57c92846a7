"""A robot behind ROS interfaces as a :class:`grasp_pipeline.grasping.motion.robot.RobotDriver`:
``/joint_states`` for the state, control_msgs/FollowJointTrajectory for the arm and
control_msgs/GripperCommand for the hand (the simulator node, ros2_control, franka_ros2).

Calls block the calling thread until the robot answers, so they must come from a callback other
than the ones of this client's callback group (its own reentrant group; the node must be spun by a
multi-threaded executor). Joint angles in rad, openings finger-to-finger in m.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import numpy as np
from rclpy.action import ActionClient
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import JointState

from grasp_pipeline.grasping.motion.robot import STEP_S
from grasp_pipeline.ros.conversions import duration_from_s, duration_to_s, stamp_to_ns
from grasp_pipeline.ros.qos import RESULTS

# a goal may take this many times its own duration while its controller reports progress
SLOWDOWN_LIMIT = 8.0


class FeedbackProgress:
    """When an action's feedback last showed progress: a FollowJointTrajectory feedback whose
    ``actual.time_from_start`` advanced, or any other feedback (a gripper's)."""

    def __init__(self) -> None:
        self.last_progress = 0.0  # time.monotonic() of the last progress; 0 = none yet
        self._t = -1.0

    def on_feedback(self, msg) -> None:
        fb = msg.feedback
        actual = getattr(fb, "actual", None)
        if actual is not None:
            t = duration_to_s(actual.time_from_start)
            if t <= self._t:
                return
            self._t = t
        self.last_progress = time.monotonic()


class RobotUnavailableError(RuntimeError):
    """The robot's interfaces did not answer (no joint states, action server not up)."""


class RobotClient:
    """Drives ``arm_joints`` (model order) and the two ``finger_joints`` of a robot through the
    ``trajectory_action`` and ``gripper_action`` of ``node``'s graph. ``timeout_s`` bounds each
    wait for the robot beyond a motion's own duration."""

    def __init__(
        self,
        node: Node,
        arm_joints: Sequence[str],
        finger_joints: Sequence[str],
        trajectory_action: str,
        gripper_action: str,
        timeout_s: float = 10.0,
    ) -> None:
        from control_msgs.action import FollowJointTrajectory, GripperCommand

        self.node = node
        self.arm_joints = list(arm_joints)
        self.finger_joints = list(finger_joints)
        self.timeout_s = float(timeout_s)
        group = ReentrantCallbackGroup()
        self._traj = ActionClient(
            node, FollowJointTrajectory, trajectory_action, callback_group=group
        )
        self._grip = ActionClient(node, GripperCommand, gripper_action, callback_group=group)
        self.trajectory_action, self.gripper_action = trajectory_action, gripper_action
        self._state_lock = threading.Condition()
        self._state: dict[str, float] = {}
        self._state_t = 0  # stamp (ns, node clock) of the newest joint state
        node.create_subscription(
            JointState, "joint_states", self._on_state, RESULTS, callback_group=group
        )
        self.last_gripper = None  # the last GripperCommand result

    # -- state -----------------------------------------------------------------------------------
    def _on_state(self, msg: JointState) -> None:
        if len(msg.position) != len(msg.name):
            return
        stamp = stamp_to_ns(msg.header.stamp)
        with self._state_lock:
            self._state.update(zip(msg.name, msg.position, strict=True))
            # unstamped states (a driver that leaves the stamp 0) count from their arrival
            self._state_t = stamp if stamp > 0 else self._now_ns()
            self._state_lock.notify_all()

    def _now_ns(self) -> int:
        return self.node.get_clock().now().nanoseconds

    def _fresh(self, names: Sequence[str]) -> list[float]:
        """Positions of ``names`` from a joint state *stamped* at or after this call (the node's
        clock), as MoveIt's current-state monitor waits for one. Arrival time is not enough: on a
        loaded machine the subscription's queue still holds states published during the last
        motion when a call comes in (a fresh-clone CI run read one 11 deg short of where the
        simulator had stopped the arm)."""
        after = self._now_ns()
        deadline = time.monotonic() + self.timeout_s
        with self._state_lock:
            while self._state_t < after or any(n not in self._state for n in names):
                left = deadline - time.monotonic()
                if left <= 0:
                    missing = [n for n in names if n not in self._state]
                    if missing or self._state_t == 0:
                        raise RobotUnavailableError(
                            "no joint state on joint_states"
                            + (f" naming {missing}" if missing else "")
                            + f" within {self.timeout_s} s"
                        )
                    lag = (after - self._state_t) / 1e9
                    raise RobotUnavailableError(
                        f"no joint state stamped after the request within {self.timeout_s} s: "
                        f"the newest is {lag:.2f} s older (is the robot's clock behind this "
                        "machine's? they must be synchronised, as for tf)"
                    )
                self._state_lock.wait(left)
            return [self._state[n] for n in names]

    def ready(self) -> bool:
        """Whether joint states arrive and both action servers are up."""
        with self._state_lock:
            have = all(n in self._state for n in (*self.arm_joints, *self.finger_joints))
        return have and self._traj.server_is_ready() and self._grip.server_is_ready()

    def joints(self) -> np.ndarray:
        """Arm joints (rad) from a joint state stamped after this call."""
        return np.array(self._fresh(self.arm_joints))

    def opening(self) -> float:
        """Finger-to-finger opening (m) from a joint state stamped after this call."""
        return float(sum(self._fresh(self.finger_joints)))

    # -- motion ----------------------------------------------------------------------------------
    def _run(self, client: ActionClient, goal, budget_s: float):
        """Send ``goal`` and wait for (status, result): ``budget_s`` + timeout, and longer while
        the controller's feedback reports progress (a simulator or controller running slower
        than real time on a loaded CPU), up to :data:`SLOWDOWN_LIMIT` times the budget."""
        if not client.wait_for_server(timeout_sec=self.timeout_s):
            raise RobotUnavailableError(f"action server {client._action_name} is not up")
        done = threading.Event()
        progress = FeedbackProgress()
        fut = client.send_goal_async(goal, feedback_callback=progress.on_feedback)
        fut.add_done_callback(lambda _f: done.set())
        if not done.wait(self.timeout_s):
            raise RobotUnavailableError(f"{client._action_name} did not answer the goal")
        handle = fut.result()
        if not handle.accepted:
            raise RobotUnavailableError(f"{client._action_name} rejected the goal")
        done.clear()
        res_fut = handle.get_result_async()
        res_fut.add_done_callback(lambda _f: done.set())
        start = time.monotonic()
        hard = start + SLOWDOWN_LIMIT * budget_s + self.timeout_s
        while not done.wait(0.05):
            now = time.monotonic()
            quiet = now - max(start + budget_s, progress.last_progress)
            if quiet > self.timeout_s or now > hard:
                handle.cancel_goal_async()
                why = "no progress reported" if quiet > self.timeout_s else "far too slow"
                raise RobotUnavailableError(
                    f"{client._action_name} did not finish in time ({why}; "
                    f"{now - start:.1f} s for a {budget_s:.1f} s goal)"
                )
        out = res_fut.result()
        return out.status, out.result

    def follow(self, path: np.ndarray, steps_per_point: int = 2) -> float:
        """One FollowJointTrajectory goal through ``path`` ((N, n) rad), a point every
        ``steps_per_point * STEP_S`` s; returns the final joint error (rad) measured on
        ``/joint_states`` after the controller finished (large when the arm was stopped)."""
        from control_msgs.action import FollowJointTrajectory
        from trajectory_msgs.msg import JointTrajectoryPoint

        path = np.asarray(path, dtype=float)
        dt = steps_per_point * STEP_S
        goal = FollowJointTrajectory.Goal()
        goal.trajectory.joint_names = list(self.arm_joints)
        for i, q in enumerate(path):
            t = (i + 1) * dt
            pt = JointTrajectoryPoint()
            pt.positions = q.tolist()
            pt.time_from_start = duration_from_s(t)
            goal.trajectory.points.append(pt)
        _, result = self._run(self._traj, goal, len(path) * dt + 1.0)
        if result.error_code == FollowJointTrajectory.Result.INVALID_GOAL or (
            result.error_code == FollowJointTrajectory.Result.INVALID_JOINTS
        ):
            raise RobotUnavailableError(
                f"{self.trajectory_action} refused the path: {result.error_string}"
            )
        return float(np.abs(self.joints() - path[-1]).max())

    def set_gripper(self, opening: float) -> float:
        """GripperCommand to ``opening`` (m; 0 = close with the hand's grasp force); returns the
        gap the gripper reports (the result's ``position``)."""
        from control_msgs.action import GripperCommand

        goal = GripperCommand.Goal()
        goal.command.position = float(opening)
        goal.command.max_effort = 0.0  # the hand's own grasp force
        _, result = self._run(self._grip, goal, 2.0)
        self.last_gripper = result
        return float(result.position)

    def destroy(self) -> None:
        self._traj.destroy()
        self._grip.destroy()
