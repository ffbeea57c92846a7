"""sim_node: the simulated robot cell (PyBullet), served as a real cell is: camera, robot, TF.

Owns the one simulated world (:class:`grasp_pipeline.sim.robot_cell.CellRuntime`): work surface,
catalog objects, the robot (Panda or youBot) and the cell's RealSense. Nothing else simulates;
planners, detectors and demos talk to it only through ROS:

* camera: the realsense2_camera topics (see :mod:`grasp_pipeline.ros.camera_publisher`) at
  ``fps``, stamped with the node clock; the optical frame's pose in ``base_frame`` (and the base in
  ``world_frame``) on ``/tf_static``.
* robot: ``/joint_states`` (sensor_msgs/JointState, arm + finger joints) at ``joint_state_rate_hz``;
  ``<arm_controller>/follow_joint_trajectory`` (control_msgs/FollowJointTrajectory, as a ros2_control
  joint trajectory controller: positions + time_from_start, linear interpolation, aborted with
  GOAL_TOLERANCE_VIOLATED when the arm ends further than ``goal_tolerance_rad`` from the last point,
  e.g. stopped by a part); the gripper through control_msgs/GripperCommand (position = the finger
  gap in m; the result reports the measured gap, ``stalled`` when the fingers stopped on something
  before the goal, ``reached_goal``). Action names: :mod:`grasp_pipeline.ros.robot_interfaces`.
* simulator ground truth (for the oracle detector and for scoring, never for a real cell):
  ``sim/objects`` (vision_msgs/Detection3DArray, camera optical frame, true 6D poses, ids
  ``<name>#<body>``, bbox size from the catalog) and ``sim/objects/pickup`` (the true pickup point
  on each object's top with the closing axis as the pose's y axis), both with every camera frame
  (same stamp) and after each scene reset.
* scene control: set ``scene`` / ``objects`` / ``n_objects`` / ``seed``, then call ``~/reset_scene``
  (std_srvs/Trigger; refused while a robot goal runs). The answer's message is JSON:
  ``{"scene", "seed", "objects": [{"id", "name"}], "target": {"id", "name"} | null}``.
* the final (scene ``final``: four service areas, see :mod:`grasp_pipeline.sim.scene`): set
  ``service_area`` and call ``~/go_to_area`` (the robot and its camera stand at that area, as a
  mobile base drives up to a workstation; ``world`` -> ``base_frame`` is sent again on
  ``/tf_static``, base -> camera stays); ``~/put_aside`` takes away what the hand holds and sends
  the arm home (both std_srvs/Trigger, JSON answers, refused while a robot goal runs).
* ``sim/overview/image_raw`` (rgb8, ``overview_width`` x ``overview_height``): a third-person
  view of the robot at its area, rendered every 1/``overview_fps`` simulated seconds while a robot
  goal runs and once after each scene change (``overview_fps`` 0 = off, the default).

Physics runs in the node's own thread: one step of 1/240 s at a time, paced to
``real_time_factor`` x wall time (0 = as fast as the CPU allows); camera renders, scene resets and
queries take the same lock (a :class:`~grasp_pipeline.sim.turn_lock.TurnLock`: the loop lets
every waiting thread in before its next few steps), so the world is only ever touched from one
thread at a time.
"""

from __future__ import annotations

import json
import sys
import threading
import time

import numpy as np
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_srvs.srv import Trigger

from grasp_pipeline.paths import share_dir
from grasp_pipeline.ros import conversions as cv
from grasp_pipeline.ros.answer_log import log_answer
from grasp_pipeline.ros.camera_publisher import CameraPublisher
from grasp_pipeline.ros.params import Param, declare_parameters
from grasp_pipeline.ros.qos import RESULTS
from grasp_pipeline.ros.robot_interfaces import gripper_action, name_ok, trajectory_action
from grasp_pipeline.ros.spin import spin_node
from grasp_pipeline.ros.tf_static import StaticBroadcaster
from grasp_pipeline.sim.robot_cell import SCENES
from grasp_pipeline.sim.turn_lock import TurnLock
from grasp_pipeline.sources.base import FrameSet

STEPS_PER_LOCK = 4  # physics steps per lock hold: renders and queries wait at most this long
FEEDBACK_PERIOD_S = 0.1  # a running trajectory goal reports its progress this often (wall s)


def _objects_ok(v: list) -> str | None:
    from grasp_pipeline.objects import load_catalog

    names = list(load_catalog().names)
    bad = [n for n in v if n not in names]
    return None if not bad else f"{bad} are not catalog objects; known: {names}"


PARAMS = (
    Param("robot", "franka", "robot in the cell", choices=("franka", "youbot"), read_only=True),
    Param(
        "gripper",
        "wide",
        "youBot gripper (ignored for franka)",
        choices=("wide", "stock"),
        read_only=True,
    ),
    Param(
        "surface_height",
        0.10,
        "work surface height above the floor (m; RoboCup@Work: 0, 0.05, 0.10, 0.15)",
        range=(0.0, 0.15),
        read_only=True,
    ),
    Param("preset", "d435", "simulated camera model", choices=("d435", "sr300"), read_only=True),
    Param("width", 640, "image width (pixels)", range=(16, 1920), read_only=True),
    Param("height", 480, "image height (pixels)", range=(16, 1080), read_only=True),
    Param(
        "fps",
        5.0,
        "camera frame sets per second (Hz; a 640x480 render takes ~150 ms)",
        range=(0.1, 60.0),
    ),
    Param("noise", True, "RealSense depth noise model on", read_only=True),
    Param("camera_name", "camera", "topic prefix and optical frame prefix", read_only=True),
    Param(
        "base_frame",
        "base_link",
        "robot base frame (parent of the camera on /tf_static)",
        read_only=True,
    ),
    Param(
        "world_frame", "world", "cell frame (parent of base_frame on /tf_static)", read_only=True
    ),
    Param(
        "real_time_factor",
        1.0,
        "simulated seconds per wall second (0 = as fast as the CPU allows)",
        range=(0.0, 50.0),
    ),
    Param(
        "joint_state_rate_hz", 50.0, "/joint_states rate (Hz)", range=(1.0, 1000.0), read_only=True
    ),
    Param(
        "arm_controller",
        "",
        "trajectory controller name: <name>/follow_joint_trajectory ('' = panda_arm_controller "
        "for franka, arm_controller for youbot)",
        check=name_ok,
        read_only=True,
    ),
    Param(
        "gripper_action",
        "",
        "GripperCommand action ('' = franka_gripper/gripper_action for franka, "
        "gripper_controller/gripper_cmd for youbot)",
        check=name_ok,
        read_only=True,
    ),
    Param(
        "goal_tolerance_rad",
        0.05,
        "a trajectory ending further than this from its last point (any joint) is aborted (rad)",
        range=(0.001, 1.0),
    ),
    Param("scene", "spread", "scene ~/reset_scene builds", choices=SCENES),
    Param(
        "objects",
        [],
        "catalog objects of the scene (single: the first; spread: these; [] = random)",
        array_type="string",
        check=_objects_ok,
    ),
    Param("n_objects", 3, "objects of a 'spread' scene without names", range=(0, 13)),
    Param("seed", 0, "scene seed (same seed, same scene)", range=(0, 2**31 - 1)),
    Param("service_area", 0, "final scene: the area ~/go_to_area moves the robot to", range=(0, 3)),
    Param(
        "overview_fps",
        0.0,
        "third-person frames per simulated second while the robot moves (0 = none)",
        range=(0.0, 30.0),
    ),
    Param(
        "overview_width", 320, "third-person view width (pixels)", range=(16, 1280), read_only=True
    ),
    Param(
        "overview_height", 240, "third-person view height (pixels)", range=(16, 960), read_only=True
    ),
)


def point_axis_pose(point: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """Pose (4x4, camera frame) carrying a pickup ``point`` and closing ``axis`` the way detection
    messages do: y = the axis, z as close to the optical axis as that allows."""
    y = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    z = np.array([0.0, 0.0, 1.0]) - y[2] * y
    if np.linalg.norm(z) < 1e-6:
        z = np.array([1.0, 0.0, 0.0]) - y[0] * y
    z /= np.linalg.norm(z)
    T = np.eye(4)
    T[:3, :3] = np.column_stack([np.cross(y, z), y, z])
    T[:3, 3] = point
    return T


class SimNode(Node):
    """See the module docstring."""

    def __init__(self, **node_kwargs) -> None:
        super().__init__("sim_node", **node_kwargs)
        self._stop = threading.Event()
        self._physics = None
        self.runtime = None
        self.p = declare_parameters(self, PARAMS, on_change=self._on_params)
        self.get_logger().info(f"package data (catalog): {share_dir()}")
        from grasp_pipeline.geometry.camera import preset
        from grasp_pipeline.sim.robot_cell import CellRuntime

        self.lock = TurnLock()  # the physics loop lets waiting threads in between its turns
        self.runtime = CellRuntime(
            self.p.robot,
            self.p.gripper,
            self.p.surface_height,
            preset(self.p.preset, self.p.width, self.p.height),
            noise=self.p.noise,
            seed=self.p.seed,
        )
        rt = self.runtime
        self.joint_names = rt.joint_names
        self.n_arm = len(rt.arm.arm_idx)
        self.camera = CameraPublisher(self, self.p.camera_name)
        from vision_msgs.msg import Detection3DArray

        self.pub_truth = self.create_publisher(Detection3DArray, "sim/objects", RESULTS)
        self.pub_pickup = self.create_publisher(Detection3DArray, "sim/objects/pickup", RESULTS)
        self.pub_joints = self.create_publisher(JointState, "joint_states", RESULTS)
        from sensor_msgs.msg import Image

        self.pub_overview = self.create_publisher(Image, "sim/overview/image_raw", RESULTS)
        self._overview_due = True  # a frame after each scene change
        self._next_overview_s = 0.0
        self._tf = StaticBroadcaster(self)
        self._send_tf()
        from control_msgs.action import FollowJointTrajectory, GripperCommand

        actions = ReentrantCallbackGroup()
        self.traj_name = trajectory_action(self.p.robot, self.p.arm_controller)
        self.grip_name = gripper_action(self.p.robot, self.p.gripper_action)
        self._traj_server = ActionServer(
            self,
            FollowJointTrajectory,
            self.traj_name,
            execute_callback=self._execute_trajectory,
            goal_callback=lambda _g: GoalResponse.ACCEPT,
            cancel_callback=lambda _g: CancelResponse.ACCEPT,
            callback_group=actions,
        )
        self._grip_server = ActionServer(
            self,
            GripperCommand,
            self.grip_name,
            execute_callback=self._execute_gripper,
            goal_callback=lambda _g: GoalResponse.ACCEPT,
            cancel_callback=lambda _g: CancelResponse.ACCEPT,
            callback_group=actions,
        )
        scene_group = MutuallyExclusiveCallbackGroup()
        self.create_service(Trigger, "~/reset_scene", self._on_reset, callback_group=scene_group)
        self.create_service(
            Trigger, "~/go_to_area", self._on_go_to_area, callback_group=scene_group
        )
        self.create_service(Trigger, "~/put_aside", self._on_put_aside, callback_group=scene_group)
        self.create_timer(
            1.0 / self.p.joint_state_rate_hz,
            self._publish_joints,
            callback_group=MutuallyExclusiveCallbackGroup(),
        )
        self._cam_timer = self.create_timer(
            1.0 / self.p.fps, self._publish_frame, callback_group=MutuallyExclusiveCallbackGroup()
        )
        with self.lock:
            info = self._reset_locked()
        self.get_logger().info(f"scene: {json.dumps(info)}")
        self._physics = threading.Thread(target=self._physics_loop, name="physics", daemon=True)
        self._physics.start()
        self.get_logger().info(
            f"{self.p.robot} cell simulated (real_time_factor {self.p.real_time_factor}); "
            f"arm: {self.traj_name}, gripper: {self.grip_name}, camera: {self.p.camera_name} "
            f"at {self.p.fps} Hz"
        )

    def _send_tf(self) -> None:
        rt = self.runtime
        self._tf.send(
            [
                (rt.base_pose_world, self.p.world_frame, self.p.base_frame),
                (
                    np.linalg.inv(rt.base_pose_world) @ rt.camera_pose_world,
                    self.p.base_frame,
                    self.camera.frame_id,
                ),
            ]
        )

    @property
    def frames_published(self) -> int:
        return self.camera.frames_published

    def _on_params(self, changed: dict) -> None:
        if "fps" in changed:
            self._cam_timer.timer_period_ns = int(1e9 / changed["fps"])

    # -- physics ---------------------------------------------------------------------------------
    def _physics_loop(self) -> None:
        rt = self.runtime
        wall0, sim0 = time.monotonic(), rt.sim_time_s
        rtf = self.p.real_time_factor
        while not self._stop.is_set():
            with self.lock.loop_turn():
                for _ in range(STEPS_PER_LOCK):
                    rt.step()
                sim_now = rt.sim_time_s
                overview = self._overview_locked(sim_now)
            if overview is not None:
                self.pub_overview.publish(overview)
            if self.p.real_time_factor != rtf:  # re-anchor on a new factor
                rtf, wall0, sim0 = self.p.real_time_factor, time.monotonic(), sim_now
            if rtf <= 0:
                time.sleep(0)  # let the other threads in between chunks
                continue
            ahead = (sim_now - sim0) / rtf - (time.monotonic() - wall0)
            if ahead > 0:
                self._stop.wait(ahead)
            elif ahead < -0.25:  # fell behind (a render, a loaded CPU): don't sprint to catch up
                wall0, sim0 = time.monotonic(), sim_now

    def _overview_locked(self, sim_now: float):
        """The third-person frame due now (an Image message), or None."""
        fps = self.p.overview_fps
        if fps <= 0 or not (self._overview_due or self.runtime.busy()):
            return None
        if not self._overview_due and sim_now < self._next_overview_s:
            return None
        self._overview_due = False
        self._next_overview_s = sim_now + 1.0 / fps
        try:
            rgb = self.runtime.render_overview(self.p.overview_width, self.p.overview_height)
        except Exception as exc:  # a view for people: report it, keep simulating
            self.get_logger().error(f"overview not rendered: {exc}", throttle_duration_sec=10.0)
            return None
        stamp = self.get_clock().now().nanoseconds
        return cv.numpy_to_image(rgb, "rgb8", stamp, self.p.world_frame)

    # -- camera, ground truth, joints ----------------------------------------------------------
    def _publish_frame(self) -> None:
        try:
            with self.lock:
                r = self.runtime.render()
                truth = self.runtime.truth()
        except Exception as exc:  # a long-running node reports, and keeps serving the robot
            self.get_logger().error(
                f"camera frame not rendered: {type(exc).__name__}: {exc}",
                throttle_duration_sec=10.0,
            )
            return
        stamp = self.get_clock().now().nanoseconds
        self._publish_truth(truth, stamp)
        fs = FrameSet(r.rgb, r.depth, r.camera, stamp, self.camera.frames_published)
        self.camera.publish(fs, stamp)

    def _publish_truth(self, truth: list, stamp: int) -> None:
        frame = self.camera.frame_id
        six, pick = [], []
        for _, d6, dp in truth:  # a snapshot taken under the lock: no world access here
            dp.pose = point_axis_pose(dp.point, dp.grasp_axis)
            six.append(d6)
            pick.append(dp)
        for pub, dets in ((self.pub_truth, six), (self.pub_pickup, pick)):
            msg = cv.detections_to_msg(dets, stamp, frame)
            for m, (body, d6, _) in zip(msg.detections, truth, strict=True):
                m.id = f"{d6.label}#{body}"
            pub.publish(msg)

    def _publish_joints(self) -> None:
        with self.lock:  # stamped when measured: a client waits for a state newer than its call
            q, v, e = self.runtime.joint_state()
            stamp = self.get_clock().now().nanoseconds
        msg = JointState()
        msg.header = cv.make_header(stamp, "")
        msg.name = list(self.joint_names)
        msg.position, msg.velocity, msg.effort = (x.tolist() for x in (q, v, e))
        self.pub_joints.publish(msg)

    # -- scene -----------------------------------------------------------------------------------
    def _reset_locked(self) -> dict:
        return self.runtime.reset_scene(
            self.p.scene, list(self.p.objects), self.p.n_objects, self.p.seed
        )

    def _on_reset(self, request, response):
        with self.lock:
            if self.runtime.busy():
                response.success = False
                response.message = "refused: a trajectory or gripper goal is running"
            else:
                try:
                    info = self._reset_locked()
                except ValueError as exc:  # parameters are validated; a scene may still refuse
                    response.success, response.message = False, f"refused: {exc}"
                else:
                    response.success, response.message = True, json.dumps(info)
            truth = self.runtime.truth() if response.success else None
            self._overview_due = True
        if truth is not None:
            self._send_tf()  # a final may have moved the robot
            self._publish_truth(truth, self.get_clock().now().nanoseconds)
        log_answer(self.get_logger(), response.success, f"reset_scene: {response.message}")
        return response

    def _scene_call(self, what: str, fn, response):
        """Run ``fn`` (a CellRuntime call returning a dict) under the lock; JSON answer."""
        with self.lock:
            try:
                out = fn()
            except ValueError as exc:
                response.success, response.message = False, f"refused: {exc}"
            else:
                response.success, response.message = True, json.dumps(out)
            truth = self.runtime.truth() if response.success else None
            self._overview_due = True
        if truth is not None:
            self._send_tf()
            self._publish_truth(truth, self.get_clock().now().nanoseconds)
        log_answer(self.get_logger(), response.success, f"{what}: {response.message}")
        return response

    def _on_go_to_area(self, request, response):
        return self._scene_call(
            "go_to_area", lambda: self.runtime.go_to_area(self.p.service_area), response
        )

    def _on_put_aside(self, request, response):
        return self._scene_call("put_aside", self.runtime.put_aside, response)

    # -- robot -----------------------------------------------------------------------------------
    def _wait(self, goal_handle, motion, feedback=None) -> bool:
        """Wait for ``motion`` to end, publishing ``feedback()`` every FEEDBACK_PERIOD_S when
        given; False when the client canceled it (then it is ended)."""
        next_fb = time.monotonic()
        while not motion.done.wait(0.02):
            if goal_handle.is_cancel_requested or self._stop.is_set():
                with self.lock:
                    self.runtime.cancel(motion)
                return False
            if feedback is not None and time.monotonic() >= next_fb:
                next_fb = time.monotonic() + FEEDBACK_PERIOD_S
                goal_handle.publish_feedback(feedback())
        return not motion.canceled

    def _trajectory_feedback(self, motion, arm: list[str]):
        """FollowJointTrajectory feedback as ros2_control's controller sends it: the arm's
        measured joints and how far into the trajectory the (simulated) clock is."""
        from control_msgs.action import FollowJointTrajectory

        with self.lock:
            q = self.runtime.joint_state()[0][: self.n_arm]
            t = max(0.0, self.runtime.sim_time_s - motion.started_s)
        fb = FollowJointTrajectory.Feedback()
        fb.header.stamp = self.get_clock().now().to_msg()
        fb.joint_names = arm
        fb.actual.positions = [float(x) for x in q]
        fb.actual.time_from_start = cv.duration_from_s(t)
        fb.desired.time_from_start = fb.actual.time_from_start
        return fb

    def _execute_trajectory(self, goal_handle):
        from control_msgs.action import FollowJointTrajectory

        Result = FollowJointTrajectory.Result
        res = Result()
        traj = goal_handle.request.trajectory
        arm = self.joint_names[: self.n_arm]
        try:
            if sorted(traj.joint_names) != sorted(arm):
                res.error_code = Result.INVALID_JOINTS
                raise ValueError(f"joint_names {list(traj.joint_names)} are not the arm's {arm}")
            order = [list(traj.joint_names).index(n) for n in arm]
            if not traj.points:
                raise ValueError("trajectory has no points")
            pts = np.array([[p.positions[i] for i in order] for p in traj.points], dtype=float)
            times = np.array([cv.duration_to_s(p.time_from_start) for p in traj.points])
            with self.lock:
                motion = self.runtime.start_trajectory(times, pts)
        except (ValueError, IndexError) as exc:
            res.error_code = res.error_code or Result.INVALID_GOAL
            res.error_string = f"refused: {exc}"
            self.get_logger().warning(f"{self.traj_name}: {res.error_string}")
            goal_handle.abort()
            return res
        if not self._wait(goal_handle, motion, lambda: self._trajectory_feedback(motion, arm)):
            res.error_string = "canceled"
            if goal_handle.is_cancel_requested:
                goal_handle.canceled()
            else:
                goal_handle.abort()
            return res
        err = motion.outcome["error_rad"]
        tol = self.p.goal_tolerance_rad
        if err > tol:
            res.error_code = Result.GOAL_TOLERANCE_VIOLATED
            res.error_string = f"arm ended {err:.3f} rad from the goal (tolerance {tol} rad)"
            goal_handle.abort()
        else:
            res.error_code = Result.SUCCESSFUL
            res.error_string = f"goal reached within {err:.4f} rad"
            goal_handle.succeed()
        return res

    def _gripper_feedback(self):
        """GripperCommand feedback: the fingers' gap now (the robot client waits on a slow
        cell while feedback arrives)."""
        from control_msgs.action import GripperCommand

        with self.lock:
            gap = float(self.runtime.arm.opening())
        fb = GripperCommand.Feedback()
        fb.position = gap
        return fb

    def _execute_gripper(self, goal_handle):
        from control_msgs.action import GripperCommand

        res = GripperCommand.Result()
        cmd = goal_handle.request.command
        try:
            with self.lock:
                motion = self.runtime.start_gripper(float(cmd.position), float(cmd.max_effort))
        except ValueError as exc:
            self.get_logger().warning(f"{self.grip_name}: refused: {exc}")
            goal_handle.abort()
            return res
        if not self._wait(goal_handle, motion, self._gripper_feedback):
            if goal_handle.is_cancel_requested:
                goal_handle.canceled()
            else:
                goal_handle.abort()
            return res
        o = motion.outcome
        res.position, res.effort = float(o["position"]), float(o["effort"])
        res.stalled, res.reached_goal = bool(o["stalled"]), bool(o["reached_goal"])
        goal_handle.succeed()
        return res

    def destroy_node(self) -> None:
        # also called by context shutdown after a failed __init__: attributes may be missing
        self._stop.set()
        if getattr(self, "_physics", None) is not None:
            self._physics.join(timeout=5.0)
        if getattr(self, "runtime", None) is not None:
            with self.lock:
                self.runtime.close()
            self.runtime = None
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    # threads: the camera, joint states, the reset service and both action servers overlap
    return spin_node(SimNode, "sim_node", args, threads=6)


if __name__ == "__main__":
    sys.exit(main())
