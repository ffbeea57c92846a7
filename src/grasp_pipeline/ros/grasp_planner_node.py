"""grasp_planner_node: detections in, a checked grasp (and on request, a pick) out.

Subscribes to ``detections`` (vision_msgs/Detection3DArray, camera optical frame). For each new
array with the ``target_object`` in it, plans a grasp through the grasping core
(:class:`grasp_pipeline.grasping.planner.GraspPlanner`) and publishes ``grasp_pose`` (PoseStamped,
robot base frame, latched) and ``grasp/markers``. The ``pick`` service (std_srvs/Trigger) plans
from the newest detections and executes through the motion backend, answering success and, when
it fails, why: no detections, stale detections (older than ``max_age_s``), target not seen, no
reachable collision-free grasp, execution refused. When the arm is stopped on its way down and
backs off, the answer says to call ``pick`` again: the next plan comes from new detections (the
stall may have moved the part) and passes over the grasp that stalled.

``execution``: ``sim`` runs the robot in a PyBullet cell (the embedded backend; in the composed
demo the cell is shared with the simulated camera), ``kinematic`` plans and "executes" on the
robot model only (joint state bookkeeping, for planning without a robot), ``moveit`` plans through
moveit_py (needs a ROS install with MoveIt).
"""

from __future__ import annotations

import sys
import threading
import time

import numpy as np
from geometry_msgs.msg import PoseStamped
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from std_srvs.srv import Trigger
from visualization_msgs.msg import MarkerArray

from grasp_pipeline.paths import share_dir
from grasp_pipeline.ros import conversions as cv
from grasp_pipeline.ros.params import Param, declare_parameters
from grasp_pipeline.ros.qos import LATCHED, RESULTS
from grasp_pipeline.ros.spin import spin_node
from grasp_pipeline.ros.visualization import grasp_markers


def _target_ok(v: str) -> str | None:
    from grasp_pipeline.objects import load_catalog

    names = list(load_catalog().names)
    return None if v == "" or v in names else f"not a catalog object; known: {names}"


def _pose7_ok(v: list) -> str | None:
    if len(v) == 0:
        return None
    if len(v) != 7:
        return "must be [] or [x, y, z, qx, qy, qz, qw] (metres, unit quaternion)"
    if abs(np.linalg.norm(v[3:]) - 1.0) > 1e-3:
        return f"quaternion {v[3:]} is not unit length"
    return None


PARAMS = (
    Param("robot", "franka", "robot model", choices=("franka", "youbot"), read_only=True),
    Param(
        "gripper",
        "wide",
        "youBot gripper variant (ignored for franka)",
        choices=("wide", "stock"),
        read_only=True,
    ),
    Param(
        "execution",
        "sim",
        "where picks run",
        choices=("sim", "kinematic", "moveit"),
        read_only=True,
    ),
    Param(
        "target_object", "", "catalog object to pick ('' = best detection of any)", check=_target_ok
    ),
    Param("max_age_s", 2.0, "detections older than this are refused (s)", range=(0.01, 600.0)),
    Param("base_frame", "base_link", "frame id of grasp_pose (the robot base)", read_only=True),
    Param(
        "camera_pose_base",
        [],
        "camera optical frame in the robot base [x, y, z, qx, qy, qz, qw]; [] = the sim cell's camera",
        check=_pose7_ok,
        array_type="double",
        read_only=True,
    ),
    Param(
        "surface_z_base",
        0.0,
        "work surface height in the base frame (m), used for clearance",
        range=(-2.0, 2.0),
        read_only=True,
    ),
    Param(
        "plan_on_detections", True, "plan (and publish grasp_pose) for every new detections message"
    ),
)


def _pose7_to_matrix(v: list[float]) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    T = np.eye(4)
    T[:3, :3] = Rotation.from_quat(v[3:]).as_matrix()
    T[:3, 3] = v[:3]
    return T


class GraspPlannerNode(Node):
    """See the module docstring. ``cell`` injects a :class:`grasp_pipeline.sim.grasp_execution.
    PickCell` (shared simulated world); ``planner`` injects a ready GraspPlanner; ``sim_lock``
    is held while planning / executing (shared with the camera node rendering the same world)."""

    def __init__(
        self, cell=None, planner=None, sim_lock: threading.Lock | None = None, **node_kwargs
    ) -> None:
        super().__init__("grasp_planner_node", **node_kwargs)
        self.p = declare_parameters(self, PARAMS)
        self.get_logger().info(f"package data (catalog): {share_dir()}")
        self.cell = cell
        self.planner = planner if planner is not None else self._make_planner()
        from vision_msgs.msg import Detection3DArray

        self.create_subscription(Detection3DArray, "detections", self._on_detections, RESULTS)
        self.pub_grasp = self.create_publisher(PoseStamped, "grasp_pose", LATCHED)
        self.pub_markers = self.create_publisher(MarkerArray, "grasp/markers", RESULTS)
        # its own group: a steady stream of detection callbacks must not starve pick requests in a
        # multi-threaded executor (self._lock still serialises planning and execution)
        self.create_service(
            Trigger, "pick", self._on_pick, callback_group=MutuallyExclusiveCallbackGroup()
        )
        # one plan / pick at a time (they share the robot state); in the composed demo the same lock
        # guards the PyBullet client the camera renders from
        self._lock = sim_lock or threading.Lock()
        self._latest = None  # (Detection3DArray, receive time ns)
        self.last_plan = None
        self.last_exec = None  # ExecResult of the last pick (backed_off: a re-plan may follow)
        self.picks: list[tuple[bool, str]] = []
        self.get_logger().info(
            f"{self.p.robot} planner ready (execution={self.p.execution}); "
            f"target_object={self.p.target_object or 'any'}"
        )

    def _make_planner(self):
        if self.p.execution == "sim":
            if self.cell is None:
                from grasp_pipeline.sim.grasp_execution import PickCell

                self.cell = PickCell(self.p.robot, gripper=self.p.gripper)
                if self.p.camera_pose_base:
                    T = _pose7_to_matrix(self.p.camera_pose_base)
                    self.cell.camera_pose_world = self.cell.base_pose_world @ T
                    self.cell.planner.camera_pose_base = T
            planner = self.cell.planner
            planner.max_age_s = self.p.max_age_s
            return planner
        from grasp_pipeline.grasping.motion.embedded import EmbeddedBackend
        from grasp_pipeline.grasping.planner import GraspPlanner

        if not self.p.camera_pose_base:
            raise ValueError(
                f"parameter 'camera_pose_base' is required with execution={self.p.execution!r}"
            )
        if self.p.robot == "franka":
            from grasp_pipeline.grasping.robots.panda import PandaModel

            model = PandaModel()
        else:
            from grasp_pipeline.grasping.robots.youbot import YouBotModel, gripper_spec

            model = YouBotModel(gripper_spec(self.p.gripper))
        if self.p.execution == "moveit":
            try:
                from grasp_pipeline.grasping.motion.moveit_backend import MoveItBackend

                backend = MoveItBackend(model)
            except (ImportError, RuntimeError) as exc:
                raise ValueError(
                    "parameter 'execution' = 'moveit' needs moveit_py (a ROS 2 install with MoveIt: "
                    f"apt install ros-$ROS_DISTRO-moveit-py): {exc}"
                ) from exc
        else:
            backend = EmbeddedBackend(model)
        return GraspPlanner(
            self.p.robot,
            backend,
            _pose7_to_matrix(self.p.camera_pose_base),
            surface_z_base=self.p.surface_z_base,
            max_age_s=self.p.max_age_s,
        )

    # -- detections ------------------------------------------------------------------------------
    def _on_detections(self, msg) -> None:
        self._latest = (msg, self.get_clock().now().nanoseconds)
        if self.p.plan_on_detections and self._lock.acquire(timeout=0.5):
            try:
                self._plan_latest()
            finally:
                self._lock.release()

    def _age_s(self, msg) -> float:
        return (self.get_clock().now().nanoseconds - cv.stamp_to_ns(msg.header.stamp)) / 1e9

    def _choose(self, msg):
        """(detections of the target, best first, or [] with the reason)."""
        try:
            dets = cv.msg_to_detections(msg)
        except ValueError as exc:
            return [], f"bad detections message: {exc}"
        target = self.p.target_object
        wanted = sorted(
            (d for d in dets if not target or d.label == target), key=lambda d: -d.score
        )
        if not wanted:
            seen = sorted({d.label for d in dets}) or "nothing"
            return [], f"{target or 'no object'} not among the newest detections (saw {seen})"
        return wanted, ""

    def _plan_latest(self):
        """Plan for the newest detections; returns (PlanResult | None, reason)."""
        if self._latest is None:
            return None, "no detections received yet"
        msg, _ = self._latest
        age = self._age_s(msg)
        if age > self.p.max_age_s:
            return None, f"stale detections: {age:.2f} s old (max_age_s = {self.p.max_age_s})"
        wanted, why = self._choose(msg)
        if not wanted:
            return None, why
        # the best detection first; the next ones when it can't be picked (e.g. buried in clutter)
        plan = self.planner.plan_best(
            wanted, wanted[0].label if self.p.target_object else None, max(age, 0.0)
        )
        self.last_plan = plan
        if plan.ok:
            now = self.get_clock().now().nanoseconds
            self.pub_grasp.publish(cv.pose_stamped(plan.grasp_pose_base, now, self.p.base_frame))
            self.pub_markers.publish(
                grasp_markers(plan.grasp_pose_base, plan.width_m, now, self.p.base_frame)
            )
        return plan, plan.reason

    # -- pick service ----------------------------------------------------------------------------
    def _on_pick(self, request, response):
        with self._lock:
            t0 = time.perf_counter()
            self.last_exec = None
            plan, why = self._plan_latest()
            if plan is None or not plan.ok:
                response.success, response.message = False, f"no pick: {why}"
            else:
                res = self.planner.execute(plan)
                self.last_exec = res
                response.success = bool(res.ok)
                response.message = (
                    f"picked {plan.label}: {res.reason} (planned in {plan.planning_ms:.0f} ms, "
                    f"total {1e3 * (time.perf_counter() - t0):.0f} ms)"
                    if res.ok
                    else f"pick of {plan.label} failed: {res.reason}"
                )
                if res.backed_off:  # the arm is clear of the parts again: another look may do
                    response.message += "; call pick again to re-plan from new detections"
            self.picks.append((response.success, response.message))
            # rclpy ties a severity to the call site: one call per severity
            if response.success:
                self.get_logger().info(response.message)
            else:
                self.get_logger().warning(response.message)
            return response


def main(args: list[str] | None = None) -> int:
    return spin_node(GraspPlannerNode, "grasp_planner_node", args)


if __name__ == "__main__":
    sys.exit(main())
