"""The demo's side of the cell: a ROS client node that sets scenes up and asks for picks, the way
a task planner (or a referee box bridge) would talk to a cell.

Everything goes through interfaces: the simulator node's parameters and ``~/reset_scene``, its
ground truth (``sim/objects``, simulator only: for scoring), the camera and ``detections`` topics
(for the attempt images), ``/tf_static`` (camera pose in the robot base) and the planner's
``target_object`` parameter and ``pick`` service.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from grasp_pipeline.ros import conversions as cv
from grasp_pipeline.ros.pick_answer import asks_replan


@dataclass
class PickAnswer:
    """The last ``pick`` answer (``ok``, ``message``) and the earlier answers of attempts the arm
    backed off from (``stalls``); ``answers``: all messages, in order."""

    ok: bool
    message: str
    stalls: list[str] = field(default_factory=list)

    @property
    def answers(self) -> list[str]:
        return [*self.stalls, self.message]


class CellClient:
    """A node of its own (own context) in ``domain_id``; ``sim`` / ``planner`` / ``detector``
    are the node names of the simulator, the grasp planner and the detector."""

    def __init__(
        self,
        domain_id: int,
        sim: str = "sim_node",
        planner: str = "grasp_planner_node",
        detector: str = "detector_node",
    ):
        import rclpy
        from rcl_interfaces.srv import SetParameters
        from rclpy.executors import SingleThreadedExecutor
        from sensor_msgs.msg import CameraInfo, Image
        from std_srvs.srv import Trigger
        from vision_msgs.msg import Detection3DArray

        from grasp_pipeline.ros.qos import RESULTS, SENSOR
        from grasp_pipeline.ros.tf_lookup import StaticTfListener

        self.ctx = rclpy.Context()
        from rclpy.signals import SignalHandlerOptions

        # Ctrl-C must reach the demo loop (which stops the node processes), not just end contexts
        rclpy.init(
            context=self.ctx, domain_id=domain_id, signal_handler_options=SignalHandlerOptions.NO
        )
        self.node = rclpy.create_node("demo_client", context=self.ctx)
        self.executor = SingleThreadedExecutor(context=self.ctx)
        self.executor.add_node(self.node)
        n = self.node
        self._lock = threading.Lock()
        self.dets = None  # newest detections message
        self.truth = None  # newest sim/objects message
        self.rgb = None
        self.info = None
        n.create_subscription(Detection3DArray, "detections", self._set("dets"), RESULTS)
        n.create_subscription(Detection3DArray, "sim/objects", self._set("truth"), RESULTS)
        n.create_subscription(Image, "camera/color/image_raw", self._set("rgb"), SENSOR)
        n.create_subscription(CameraInfo, "camera/color/camera_info", self._set("info"), SENSOR)
        self.tf = StaticTfListener(n)
        self.on_overview = None  # called with each sim/overview/image_raw message when set
        n.create_subscription(Image, "sim/overview/image_raw", self._overview, RESULTS)
        self.reset_cli = n.create_client(Trigger, f"/{sim}/reset_scene")
        self.area_cli = n.create_client(Trigger, f"/{sim}/go_to_area")
        self.aside_cli = n.create_client(Trigger, f"/{sim}/put_aside")
        self.pick_cli = n.create_client(Trigger, "pick")
        self.sim_params = n.create_client(SetParameters, f"/{sim}/set_parameters")
        self.planner_params = n.create_client(SetParameters, f"/{planner}/set_parameters")
        self.detector_params = n.create_client(SetParameters, f"/{detector}/set_parameters")

    def _set(self, attr: str):
        def cb(msg) -> None:
            setattr(self, attr, msg)

        return cb

    def _overview(self, msg) -> None:
        if self.on_overview is not None:
            self.on_overview(msg)

    def spin_until(self, done, timeout: float) -> bool:
        t_end = time.monotonic() + timeout
        while time.monotonic() < t_end:
            if done():
                return True
            self.executor.spin_once(timeout_sec=0.02)
        return bool(done())

    def now_ns(self) -> int:
        return self.node.get_clock().now().nanoseconds

    def _call(self, client, request, timeout: float, what: str):
        if not client.wait_for_service(timeout_sec=timeout):
            raise RuntimeError(f"{what}: service {client.srv_name} is not available")
        fut = client.call_async(request)
        if not self.spin_until(fut.done, timeout):
            raise RuntimeError(f"{what}: no answer from {client.srv_name} in {timeout} s")
        return fut.result()

    def set_params(self, which: str, values: dict[str, Any], timeout: float = 20.0) -> None:
        """Set parameters of the ``which`` ("sim" | "planner" | "detector") node; RuntimeError
        if refused."""
        from rcl_interfaces.srv import SetParameters
        from rclpy.parameter import Parameter

        req = SetParameters.Request()
        req.parameters = [
            Parameter(
                k,
                Parameter.Type.STRING_ARRAY if v == [] else Parameter.Type.from_parameter_value(v),
                v,
            ).to_parameter_msg()
            for k, v in values.items()
        ]
        clients = {
            "sim": self.sim_params,
            "planner": self.planner_params,
            "detector": self.detector_params,
        }
        if which not in clients:
            raise ValueError(f"which must be one of {sorted(clients)}, got {which!r}")
        cli = clients[which]
        res = self._call(cli, req, timeout, f"set {which} parameters")
        bad = [r.reason for r in res.results if not r.successful]
        if bad:
            raise RuntimeError(f"{which} refused parameters {values}: {bad}")

    def wait_ready(self, timeout: float) -> None:
        """Until the simulator's camera pose, a detections message and both services are there."""
        ok = self.spin_until(
            lambda: (
                self.camera_pose() is not None
                and self.dets is not None
                and self.reset_cli.service_is_ready()
                and self.pick_cli.service_is_ready()
            ),
            timeout,
        )
        if not ok:
            raise RuntimeError(
                "cell not ready: "
                + ", ".join(
                    w
                    for w, missing in (
                        ("no camera pose on /tf_static", self.camera_pose() is None),
                        ("no detections", self.dets is None),
                        ("no reset_scene service", not self.reset_cli.service_is_ready()),
                        ("no pick service", not self.pick_cli.service_is_ready()),
                    )
                    if missing
                )
            )

    def camera_pose(self) -> np.ndarray | None:
        """Camera optical frame in the robot base (4x4), from /tf_static."""
        frame = (
            self.truth.header.frame_id if self.truth is not None else "camera_color_optical_frame"
        )
        for base in ("base_link", "panda_link0", "arm_link_0"):
            T = self.tf.lookup(base, frame)
            if T is not None:
                return T
        return None

    def reset(self, scene: str, objects: list[str], seed: int, timeout: float = 60.0) -> dict:
        """New scene on the simulator node; its description (see the node's ``reset_scene``)."""
        self.set_params("sim", {"scene": scene, "objects": list(objects), "seed": int(seed)})
        return self._trigger(self.reset_cli, "reset_scene", timeout)

    def _trigger(self, client, what: str, timeout: float = 60.0) -> dict:
        """Call a simulator Trigger service whose answer is JSON; RuntimeError when refused."""
        from std_srvs.srv import Trigger

        t_end = time.monotonic() + timeout
        while True:
            res = self._call(client, Trigger.Request(), timeout, what)
            # a goal still running (the arm sent home at start, or coming to rest after a
            # pick) ends within seconds
            if res.success or "goal is running" not in res.message or time.monotonic() > t_end:
                break
            time.sleep(0.3)
        if not res.success:
            raise RuntimeError(f"{what} refused: {res.message}")
        return json.loads(res.message)

    def go_to_area(self, area: int) -> dict:
        """Move the simulated robot to service area ``area`` of a final scene (its answer)."""
        self.set_params("sim", {"service_area": int(area)})
        return self._trigger(self.area_cli, "go_to_area")

    def put_aside(self) -> dict:
        """Take away what the simulated robot holds, arm home (the simulator's answer)."""
        return self._trigger(self.aside_cli, "put_aside")

    def wait_fresh(self, after_ns: int, timeout: float = 30.0) -> bool:
        """Until detections, ground truth and an image stamped after ``after_ns`` arrived."""

        def fresh(m) -> bool:
            return m is not None and cv.stamp_to_ns(m.header.stamp) > after_ns

        return self.spin_until(
            lambda: fresh(self.dets) and fresh(self.truth) and fresh(self.rgb), timeout
        )

    def heights(self) -> dict[str, float]:
        """Height (m, robot base z) of every object in the newest ground truth, by ``name#id``."""
        T = self.camera_pose()
        out = {}
        for d in self.truth.detections:
            p = cv.pose_to_matrix(d.results[0].pose.pose)[:3, 3]
            out[d.id] = float((T[:3, :3] @ p + T[:3, 3])[2])
        return out

    def frame(self):
        """(rgb (H, W, 3) uint8, detections as Detection objects) of the newest messages."""
        rgb = cv.to_rgb(self.rgb)
        cam = cv.camera_info_to_intrinsics(self.info) if self.info is not None else None
        return rgb, cv.msg_to_detections(self.dets, cam)

    def pick(self, target: str, timeout: float = 90.0) -> tuple[bool, str]:
        """Set the planner's target and call ``pick``: (success, message)."""
        from std_srvs.srv import Trigger

        self.set_params("planner", {"target_object": target})
        res = self._call(self.pick_cli, Trigger.Request(), timeout, "pick")
        return bool(res.success), res.message

    def pick_with_replans(
        self,
        target: str,
        replans: int,
        since_ns: int,
        settle_s: float,
        before_pick: Callable[[], None] | None = None,
    ) -> PickAnswer:
        """Pick ``target`` from detections newer than ``since_ns``; when the arm backed off and
        the planner asks for another call, let the parts settle ``settle_s``, wait for new
        detections and call again, at most ``replans`` times. ``before_pick()`` runs before each
        call, once the fresh detections are in (e.g. to record the frame and heights)."""
        stalls: list[str] = []
        for attempt in range(1 + replans):
            if not self.wait_fresh(since_ns):
                return PickAnswer(False, "no fresh detections arrived in time", stalls)
            time.sleep(0.1)  # the planner receives the same detections
            if before_pick is not None:
                before_pick()
            ok, why = self.pick(target)
            if ok or not asks_replan(why) or attempt == replans:
                return PickAnswer(ok, why, stalls)
            stalls.append(why)
            time.sleep(settle_s)
            since_ns = self.now_ns()
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.executor.remove_node(self.node)
        self.node.destroy_node()
        self.ctx.try_shutdown()
