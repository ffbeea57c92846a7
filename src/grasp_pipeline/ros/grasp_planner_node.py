"""grasp_planner_node: detections in, a checked grasp (and on request, a pick) out.

Subscribes to ``detections`` (vision_msgs/Detection3DArray, in ``camera_frame``, the camera
optical frame ``camera_pose_base`` is calibrated for; arrays in ``base_frame`` are transformed with
the same extrinsics, any other frame is refused naming both). The subscription only keeps the
newest array; a worker (a timer in its own callback group) plans for the newest array with the
``target_object`` in it through the grasping core
(:class:`grasp_pipeline.grasping.planner.GraspPlanner`) and publishes ``grasp_pose`` (PoseStamped,
robot base frame, latched) and ``grasp/markers``; arrays that arrive meanwhile are coalesced, and a
pick request interrupts it. The ``pick`` service (std_srvs/Trigger) plans from the newest
detections and executes through the motion backend, answering success only when the gripper holds
the object (the finger opening the robot reports after closing and after the lift) and, when it
fails, why: no detections, stale detections (older than ``max_age_s``) or stamped in the future
(beyond ``future_tolerance_s``), a foreign frame, target not seen, labels not in the object catalog
(ignored, with a throttled warning), no reachable collision-free grasp, execution refused, gripper
closed on nothing. Work per array is bounded: at most ``max_detections`` detections and
``planning_budget_s`` of planning (CPU time of the planning thread; at most three times that of
wall time). When the arm is stopped on its way down and backs off, the
answer says to call ``pick`` again: the next plan comes from new detections (the stall may have
moved the part) and passes over the grasp that stalled.

``execution``: ``sim`` plans with the embedded backend and drives a robot over its ROS interfaces
(``/joint_states``, ``<arm_controller>/follow_joint_trajectory``, the GripperCommand action; the
simulator node serves them, and so do ros2_control and franka_ros2): it judges the hold from the
finger gap the gripper reports. The planner never simulates: it plans in its own planning scene
(robot URDF, the static cell given by ``surface_z_base`` / ``floor_z_base`` / ``table_centre_base`` /
``table_size``, and the detected objects of the array it plans for as obstacles).
``kinematic`` plans and "executes" on the robot model only (joint state bookkeeping, for planning
without a robot), ``moveit`` plans through moveit_py (needs a ROS install with MoveIt).
``camera_pose_base`` [] takes the camera pose from ``/tf_static`` (``base_frame`` <- ``camera_frame``,
as the simulator node and a calibrated camera publish it); until it arrives picks are refused
saying so.
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

from grasp_pipeline.grasping.intake import IntakeRules, screen
from grasp_pipeline.paths import share_dir
from grasp_pipeline.ros import conversions as cv
from grasp_pipeline.ros.camera_node import pose7_ok as _pose7_ok
from grasp_pipeline.ros.camera_node import pose7_to_matrix as _pose7_to_matrix
from grasp_pipeline.ros.depth_frames import DepthFrames
from grasp_pipeline.ros.params import Param, declare_parameters
from grasp_pipeline.ros.pick_answer import REPLAN_HINT
from grasp_pipeline.ros.qos import LATCHED, RESULTS, SENSOR
from grasp_pipeline.ros.robot_interfaces import gripper_action, name_ok, trajectory_action
from grasp_pipeline.ros.spin import spin_node
from grasp_pipeline.ros.visualization import grasp_markers


def _target_ok(v: str) -> str | None:
    from grasp_pipeline.objects import load_catalog

    names = list(load_catalog().names)
    return None if v == "" or v in names else f"not a catalog object; known: {names}"


def _xy_ok(v: list) -> str | None:
    return None if len(v) in (0, 2) else "must be [] or [x, y] (metres)"


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
        "camera_frame",
        "camera_color_optical_frame",
        "frame id of the camera optical frame detections arrive in (camera_pose_base is its pose)",
        read_only=True,
    ),
    Param(
        "future_tolerance_s",
        0.5,
        "detections stamped further than this ahead of the node clock are refused (s)",
        range=(0.0, 10.0),
    ),
    Param(
        "max_detections",
        5,
        "detections of the target planned for per array, best score first",
        range=(1, 100),
    ),
    Param(
        "planning_budget_s",
        1.5,
        "CPU time one plan may take before it is given up (s; wall time up to 3x that)",
        range=(0.05, 60.0),
    ),
    Param(
        "camera_pose_base",
        [],
        "camera optical frame in the robot base [x, y, z, qx, qy, qz, qw]; [] = from /tf_static",
        check=_pose7_ok,
        array_type="double",
        read_only=True,
    ),
    Param(
        "tf_timeout_s",
        2.0,
        "a pick waits this long for the camera's transform to arrive in TF (s)",
        range=(0.0, 60.0),
    ),
    Param(
        "detections_timeout_s",
        2.0,
        "a pick waits this long for detections no older than max_age_s when the newest are "
        "older (a detector slowed down by a loaded CPU) (s)",
        range=(0.0, 60.0),
    ),
    Param(
        "surface_z_base",
        0.0,
        "work surface height in the base frame (m), used for clearance",
        range=(-2.0, 2.0),
        read_only=True,
    ),
    Param(
        "floor_z_base",
        -0.10,
        "floor height in the base frame (m), planning scene",
        range=(-3.0, 2.0),
        read_only=True,
    ),
    Param(
        "table_centre_base",
        [],
        "work surface centre [x, y] in the base frame (m) for the planning scene; [] = no table",
        check=_xy_ok,
        array_type="double",
        read_only=True,
    ),
    Param(
        "table_size",
        [],
        "work surface extent [x, y] (m) for the planning scene; [] = no table",
        check=_xy_ok,
        array_type="double",
        read_only=True,
    ),
    Param(
        "arm_controller",
        "",
        "execution sim: trajectory controller, <name>/follow_joint_trajectory ('' = "
        "panda_arm_controller for franka, arm_controller for youbot)",
        check=name_ok,
        read_only=True,
    ),
    Param(
        "gripper_action",
        "",
        "execution sim: GripperCommand action ('' = franka_gripper/gripper_action for franka, "
        "gripper_controller/gripper_cmd for youbot)",
        check=name_ok,
        read_only=True,
    ),
    Param(
        "robot_timeout_s",
        10.0,
        "execution sim: how long to wait for the robot's joint states / action answers (s)",
        range=(0.1, 120.0),
        read_only=True,
    ),
    Param(
        "depth_clearance",
        True,
        "check each grasp's finger paths in the aligned depth frame the detections came from "
        "(<camera_name>/aligned_depth_to_color/image_raw + camera_info); detections that are not "
        "full 6D poses then are not obstacles: the depth shows where the neighbours really are",
        read_only=True,
    ),
    Param(
        "push_free",
        True,
        "when touching neighbours leave a pick no grasp in the observed depth, push the part "
        "into free space with the closed fingers and answer that pick with a request to call "
        "again (a new look; needs depth_clearance)",
    ),
    Param("camera_name", "camera", "namespace of the camera topics", read_only=True),
    Param(
        "plan_on_detections", True, "plan (and publish grasp_pose) for every new detections message"
    ),
)
WORKER_PERIOD_S = 0.05  # how often the planning worker looks for a new detections array
WARN_THROTTLE_S = 10.0


def robot_model(robot: str, gripper: str = "wide"):
    """(RobotModel, a function giving the URDF with collision meshes, finger joint names) of
    ``robot``. The URDF is only looked up for the planning scene (execution sim): the Panda's
    meshes come with pybullet_data, which the real-robot path with MoveIt must not need."""
    if robot == "franka":
        from grasp_pipeline.grasping.robots.panda import FINGER_JOINTS, PandaModel, panda_urdf_path

        return PandaModel(), panda_urdf_path, list(FINGER_JOINTS)
    from grasp_pipeline.grasping.robots.youbot import YouBotModel, gripper_spec, youbot_urdf_path

    fingers = ["gripper_finger_joint_l", "gripper_finger_joint_r"]
    return YouBotModel(gripper_spec(gripper)), lambda: youbot_urdf_path(gripper), fingers


class GraspPlannerNode(Node):
    """See the module docstring. ``planner`` injects a ready GraspPlanner."""

    def __init__(self, planner=None, **node_kwargs) -> None:
        super().__init__("grasp_planner_node", **node_kwargs)
        self.scene = None  # the planning scene (execution sim)
        self.robot = None  # the RobotClient (execution sim)
        self.p = declare_parameters(self, PARAMS)
        self.get_logger().info(f"package data (catalog): {share_dir()}")
        self._tf = None
        self._camera_known = planner is not None or bool(self.p.camera_pose_base)
        self.planner = planner if planner is not None else self._make_planner()
        if not self._camera_known:
            from grasp_pipeline.ros.tf_lookup import CameraPoseSource

            # tf2 in a ROS install, else the /tf_static listener
            self._tf = CameraPoseSource(self, self.p.base_frame, self.p.camera_frame)
        from vision_msgs.msg import Detection3DArray

        # one plan / pick at a time (they share the robot state and the planning scene)
        self._lock = threading.Lock()
        self._latest = None  # (Detection3DArray, receive time ns): the newest array only
        self._planned_from = None  # (detections, observed cloud) of the last plan
        self._planned = None  # the _latest the worker last planned for
        self._pick_waiting = threading.Event()  # set while a pick waits for the lock
        self.create_subscription(Detection3DArray, "detections", self._on_detections, RESULTS)
        self._depth = DepthFrames()
        if self.p.depth_clearance:
            from sensor_msgs.msg import CameraInfo, Image

            cam = self.p.camera_name
            self.create_subscription(
                Image, f"{cam}/aligned_depth_to_color/image_raw", self._depth.add_image, SENSOR
            )
            self.create_subscription(
                CameraInfo,
                f"{cam}/aligned_depth_to_color/camera_info",
                self._depth.add_info,
                SENSOR,
            )
        self.pub_grasp = self.create_publisher(PoseStamped, "grasp_pose", LATCHED)
        self.pub_markers = self.create_publisher(MarkerArray, "grasp/markers", RESULTS)
        # own groups: in a multi-threaded executor neither a stream of detections nor the worker's
        # planning delays a pick request (self._lock still serialises planning and execution)
        self.create_timer(
            WORKER_PERIOD_S, self._plan_worker, callback_group=MutuallyExclusiveCallbackGroup()
        )
        self.create_service(
            Trigger, "pick", self._on_pick, callback_group=MutuallyExclusiveCallbackGroup()
        )
        self.last_plan = None
        self.last_exec = None  # ExecResult of the last pick (backed_off: a re-plan may follow)
        self.picks: list[tuple[bool, str]] = []
        robot = (
            f"; robot: {self.robot.trajectory_action}, {self.robot.gripper_action}"
            if self.robot is not None
            else ""
        )
        self.get_logger().info(
            f"{self.p.robot} planner ready (execution={self.p.execution}); "
            f"target_object={self.p.target_object or 'any'}{robot}"
        )

    def _make_planner(self):
        from grasp_pipeline.grasping.motion.embedded import EmbeddedBackend
        from grasp_pipeline.grasping.planner import GraspPlanner

        model, urdf, fingers = robot_model(self.p.robot, self.p.gripper)
        if self.p.execution == "moveit":
            try:
                from grasp_pipeline.grasping.motion.moveit_backend import MoveItBackend

                backend = MoveItBackend(model)
            except (ImportError, RuntimeError) as exc:
                raise ValueError(
                    "parameter 'execution' = 'moveit' needs moveit_py (a ROS 2 install with MoveIt: "
                    f"apt install ros-$ROS_DISTRO-moveit-py): {exc}"
                ) from exc
        elif self.p.execution == "sim":
            from grasp_pipeline.grasping.motion.planning_scene import CellGeometry, PlanningScene
            from grasp_pipeline.objects import load_catalog
            from grasp_pipeline.ros.robot_client import RobotClient

            cell = CellGeometry(
                self.p.surface_z_base,
                self.p.floor_z_base,
                tuple(self.p.table_centre_base),
                tuple(self.p.table_size),
            )
            self.scene = PlanningScene(model, urdf(), fingers, cell, load_catalog())
            self.robot = RobotClient(
                self,
                model.joint_names,
                fingers,
                trajectory_action(self.p.robot, self.p.arm_controller),
                gripper_action(self.p.robot, self.p.gripper_action),
                timeout_s=self.p.robot_timeout_s,
            )
            backend = EmbeddedBackend(model, self.robot, self.scene.checker)
        else:
            backend = EmbeddedBackend(model)
        T = _pose7_to_matrix(self.p.camera_pose_base) if self.p.camera_pose_base else np.eye(4)
        return GraspPlanner(
            self.p.robot,
            backend,
            T,
            surface_z_base=self.p.surface_z_base,
            max_age_s=self.p.max_age_s,
        )

    def _camera_pose(self, wait_s: float = 0.0) -> str | None:
        """None once the camera pose is known, else why not (looked up in TF, for up to
        ``wait_s`` while TF has no answer: the /tf_static subscription runs in another callback
        group, so it is delivered while this waits)."""
        if self._camera_known:
            return None
        T = self._tf.get()
        deadline = time.monotonic() + wait_s
        while T is None and time.monotonic() < deadline:
            time.sleep(0.05)
            T = self._tf.get()
        if T is None:
            return (
                f"camera pose unknown: no transform {self.p.base_frame} -> "
                f"{self.p.camera_frame} in TF yet (set camera_pose_base or publish the camera's "
                "frame)"
            )
        self.planner.camera_pose_base = T
        self._camera_known = True
        self.get_logger().info(
            f"camera pose from {self._tf.source}: {self.p.camera_frame} at "
            f"{np.round(T[:3, 3], 3).tolist()} m in {self.p.base_frame}"
        )
        return None

    # -- detections ------------------------------------------------------------------------------
    def _on_detections(self, msg) -> None:
        # cheap on purpose: a flood of arrays must not hold up picks; the worker plans the newest
        self._latest = (msg, self.get_clock().now().nanoseconds)

    def _plan_worker(self) -> None:
        """Plan (and publish grasp_pose) for the newest array, once; skipped while a pick or the
        camera holds the lock (retried next tick), interrupted as soon as a pick waits."""
        latest = self._latest
        if latest is None or latest is self._planned or not self.p.plan_on_detections:
            return
        if not self._lock.acquire(blocking=False):
            return
        try:
            self._planned = latest
            _, why, bad_input = self._plan_latest(latest, self._pick_waiting.is_set)
            if bad_input:
                self.get_logger().warning(
                    f"not planning: {why}", throttle_duration_sec=WARN_THROTTLE_S
                )
        finally:
            self._lock.release()

    def _age_s(self, msg) -> float:
        """Age (s) of ``msg`` by this node's clock; negative when stamped in the future."""
        return (self.get_clock().now().nanoseconds - cv.stamp_to_ns(msg.header.stamp)) / 1e9

    def _wait_for_fresh_detections(self, wait_s: float) -> None:
        """Return when the newest array is no older than ``max_age_s`` or ``wait_s`` passed
        (the subscription runs in another callback group, so arrays arrive while this waits)."""
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            latest = self._latest
            if latest is not None and self._age_s(latest[0]) <= self.p.max_age_s:
                return
            time.sleep(0.05)

    def _rules(self) -> IntakeRules:
        return IntakeRules(
            camera_frame=self.p.camera_frame,
            base_frame=self.p.base_frame,
            camera_pose_base=self.planner.camera_pose_base,
            max_age_s=self.p.max_age_s,
            future_tolerance_s=self.p.future_tolerance_s,
            max_detections=self.p.max_detections,
        )

    def _plan_latest(self, latest, interrupt=None):
        """Plan for the array ``latest`` ((msg, receive ns) or None); returns (PlanResult | None,
        reason, whether the array itself is unusable: stamp, frame, content).
        ``interrupt()`` true ends the planning early (a pick is waiting)."""
        if latest is None:
            return None, "no detections received yet", False
        why = self._camera_pose()
        if why:
            return None, why, False
        msg, _ = latest
        try:
            dets = cv.msg_to_detections(msg)
        except ValueError as exc:
            return None, f"bad detections message: {exc}", True
        intake = screen(
            dets,
            msg.header.frame_id,
            self._age_s(msg),
            self.p.target_object,
            self.planner.catalog,
            self._rules(),
        )
        if intake.unknown:
            self.get_logger().warning(
                f"ignoring detections labelled {intake.unknown}: not in the object catalog",
                throttle_duration_sec=WARN_THROTTLE_S,
            )
        if not intake.detections:
            return None, intake.reason, intake.bad_input
        observed, why_not = (
            self._depth.cloud(cv.stamp_to_ns(msg.header.stamp))
            if self.p.depth_clearance
            else (None, "")
        )
        if why_not:
            self.get_logger().warning(
                f"planning without the depth check: {why_not}",
                throttle_duration_sec=WARN_THROTTLE_S,
            )
        if self.scene is not None:  # the detected parts are obstacles (the target may be touched)
            from grasp_pipeline.grasping.intake import to_camera_frame
            from grasp_pipeline.grasping.motion.planning_scene import obstacles_besides

            seen, _ = to_camera_frame(
                dets[: 10 * self.p.max_detections], msg.header.frame_id, self._rules()
            )
            if observed is not None:  # the depth shows the neighbours; only full poses are shapes
                seen = [d for d in seen if d.pose_is_full_6d]
            self.scene.set_objects(
                obstacles_besides(
                    seen, intake.detections, self.planner.camera_pose_base, self.planner.catalog
                )
                + list(intake.detections),
                self.planner.camera_pose_base,
            )
        # the best detection first; the next ones when it can't be picked (e.g. buried in clutter)
        self.planner.max_age_s = self.p.max_age_s
        from grasp_pipeline.ros.robot_client import RobotUnavailableError

        try:
            plan = self.planner.plan_best(
                intake.detections,
                intake.detections[0].label if self.p.target_object else None,
                intake.age_s,
                max_detections=self.p.max_detections,
                budget_s=self.p.planning_budget_s,
                interrupt=interrupt,
                observed=observed,
            )
        except RobotUnavailableError as exc:
            return None, f"robot not available: {exc}", False
        self.last_plan = plan
        self._planned_from = (intake.detections, observed)  # what a push would start from
        if plan.ok:
            now = self.get_clock().now().nanoseconds
            self.pub_grasp.publish(cv.pose_stamped(plan.grasp_pose_base, now, self.p.base_frame))
            self.pub_markers.publish(
                grasp_markers(plan.grasp_pose_base, plan.width_m, now, self.p.base_frame)
            )
        return plan, plan.reason, False

    # -- pick service ----------------------------------------------------------------------------
    def _on_pick(self, request, response):
        self._camera_pose(self.p.tf_timeout_s)  # as tf2's lookup_transform with a timeout
        self._wait_for_fresh_detections(self.p.detections_timeout_s)
        self._pick_waiting.set()  # the worker gives the lock up before its next grasp candidate
        with self._lock:
            self._pick_waiting.clear()
            t0 = time.perf_counter()
            self.last_exec = None
            self._planned_from = None
            plan, why, _ = self._plan_latest(self._latest)
            if plan is not None and plan.halted and not plan.ok:
                # the budget ended the search, not the scene: the arm has not moved, look again
                response.success, response.message = False, f"no pick: {why}; {REPLAN_HINT}"
            elif plan is not None and plan.crowded and self.p.push_free and self._planned_from:
                response.success, response.message = False, self._push_free(plan)
            elif plan is None or not plan.ok:
                response.success, response.message = False, f"no pick: {why}"
            else:
                from grasp_pipeline.grasping.motion.base import ExecResult
                from grasp_pipeline.ros.robot_client import RobotUnavailableError

                try:
                    res = self.planner.execute(plan)
                except RobotUnavailableError as exc:
                    res = ExecResult(False, f"robot not available: {exc}")
                self.last_exec = res
                response.success = bool(res.ok)
                response.message = (
                    f"picked {plan.label}: {res.reason} (planned in {plan.planning_ms:.0f} ms, "
                    f"total {1e3 * (time.perf_counter() - t0):.0f} ms)"
                    if res.ok
                    else f"pick of {plan.label} failed: {res.reason}"
                )
                if res.may_retry:  # the arm is clear of the parts again: another look may do
                    response.message += f"; {REPLAN_HINT}"
            self.picks.append((response.success, response.message))
            # rclpy ties a severity to the call site: one call per severity
            if response.success:
                self.get_logger().info(response.message)
            else:
                self.get_logger().warning(response.message)
            return response

    def _push_free(self, refused) -> str:
        """The ``pick`` answer after every grasp of the target was refused for touching
        neighbours (``refused``, a PlanResult): push the part free (GraspPlanner.plan_push) and
        ask for another call, or say why no push was made."""
        from grasp_pipeline.grasping.motion.base import ExecResult
        from grasp_pipeline.ros.robot_client import RobotUnavailableError

        detections, observed = self._planned_from
        why = f"no pick: {refused.reason}"
        if observed is None:
            return f"{why}; no push: no depth frame to push in"
        try:
            push, res = self.planner.push_free(detections, refused.label, observed)
        except RobotUnavailableError as exc:
            push, res = None, ExecResult(False, f"robot not available: {exc}")
        if res is None:
            return f"{why}; {push.reason}"
        self.last_exec = res
        if push is not None and (res.ok or res.backed_off):  # the arm is out of the way: look again
            return f"{why}; pushed {refused.label}: {push.reason}; {REPLAN_HINT}"
        return f"{why}; push of {refused.label} failed: {res.reason}"

    def destroy_node(self) -> None:
        # also called by context shutdown after a failed __init__: attributes may be missing
        if getattr(self, "robot", None) is not None:
            self.robot.destroy()
        if getattr(self, "scene", None) is not None:
            self.scene.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    # threads: the pick service, the planning worker, the subscription and the robot client's
    # action / joint state callbacks (a pick waits on them) each in their own
    return spin_node(GraspPlannerNode, "grasp_planner_node", args, threads=5)


if __name__ == "__main__":
    sys.exit(main())
