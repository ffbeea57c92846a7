"""Rigs shared by the tests that talk to node processes over real DDS.

``Feeder`` publishes frame sets on a detector's camera topics, ``collect_detections`` gathers what
the detector publishes, ``PlannerRig`` publishes detections to a planner and calls its ``pick``.
"""

from __future__ import annotations

import time

import numpy as np

from grasp_pipeline.perception.detector import Detection
from grasp_pipeline.ros.node_process import NodeProcess, Probe

CAMERA_FRAME = "camera_color_optical_frame"


def tiny_segnet_checkpoint(path):
    """A tiny untrained segnet whose output bias makes M20 fire everywhere, and Motor too but
    weaker: its detections are deterministic and known."""
    import torch

    from grasp_pipeline.perception.segnet.config import SegNetConfig
    from grasp_pipeline.perception.segnet.model import SegNet
    from grasp_pipeline.training.checkpoint import save_checkpoint

    torch.manual_seed(0)
    cfg = SegNetConfig(width=32, height=24, filters=(4, 8), dropout=0.0)
    state = SegNet(cfg).state_dict()
    state["head.bias"][:] = -8.0
    state["head.bias"][5] = 8.0  # M20
    state["head.bias"][12] = 2.0  # Motor: the same pixels with less evidence
    save_checkpoint(
        path, {"model": state, "config": {"model": cfg.to_dict(), "depth_max_m": 1.0}, "step": 0}
    )
    return path


class Feeder:
    """Publishes frame sets to the detector's camera topics from the probe node."""

    def __init__(self, probe: Probe, ns: str) -> None:
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import CameraInfo, Image

        q = qos_profile_sensor_data
        self.probe = probe
        self.color = probe.node.create_publisher(Image, f"{ns}/camera/color/image_raw", q)
        self.depth = probe.node.create_publisher(
            Image, f"{ns}/camera/aligned_depth_to_color/image_raw", q
        )
        self.info = probe.node.create_publisher(CameraInfo, f"{ns}/camera/color/camera_info", q)

    def send(
        self,
        fs,
        color_msg=None,
        depth_msg=None,
        info: bool = True,
        stamp: int | None = None,
        info_msg=None,
        info_last: bool = False,
        color: bool = True,
    ) -> int:
        """One frame set stamped ``stamp`` (default: now); camera_info first unless ``info_last``
        (the order DDS may deliver them in anyway)."""
        from grasp_pipeline.ros import conversions as cv

        stamp = time.time_ns() if stamp is None else stamp
        fid = "camera_color_optical_frame"
        i = info_msg or cv.intrinsics_to_camera_info(fs.camera, stamp, fid)
        i.header.stamp = cv.stamp_from_ns(stamp)
        if info and not info_last:
            self.info.publish(i)
        d = depth_msg or cv.numpy_to_image(fs.depth, "16UC1", stamp, fid)
        c = color_msg or cv.numpy_to_image(fs.rgb, "rgb8", stamp, fid)
        d.header.stamp = c.header.stamp = cv.stamp_from_ns(stamp)
        self.depth.publish(d)
        if color:
            self.color.publish(c)
        if info and info_last:
            self.info.publish(i)
        return stamp


def collect_detections(probe: Probe, ns: str) -> dict:
    import vision_msgs.msg as vm
    from geometry_msgs.msg import PoseStamped

    from grasp_pipeline.ros.qos import RESULTS

    got: dict[str, list] = {"dets": [], "pickup": []}
    probe.node.create_subscription(
        vm.Detection3DArray, f"{ns}/detections", got["dets"].append, RESULTS
    )
    probe.node.create_subscription(PoseStamped, f"{ns}/pickup_pose", got["pickup"].append, RESULTS)
    return got


def feed_until(probe, feeder, fs, done, node, timeout=60.0, **kw) -> bool:
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        feeder.send(fs, **kw)
        if probe.spin_until(done, 0.3, watch=node):
            return True
    return False


def detection(label: str, point_cam, score: float = 0.9, yaw_deg: float = 0.0) -> Detection:
    c, s = np.cos(np.radians(yaw_deg)), np.sin(np.radians(yaw_deg))
    T = np.eye(4)
    T[:3, :3] = [[c, -s, 0], [s, c, 0], [0, 0, 1]]
    T[:3, 3] = point_cam
    return Detection(
        label, score, (0.0, 0.0), np.asarray(point_cam, float), T, T[:3, 1].copy(), False
    )


class PlannerRig:
    """Publisher of detections and client of ``pick`` for one planner node under ``ns``."""

    def __init__(self, probe: Probe, node, ns: str) -> None:
        import vision_msgs.msg as vm
        from geometry_msgs.msg import PoseStamped
        from std_srvs.srv import Trigger

        from grasp_pipeline.ros.qos import LATCHED, RESULTS

        self.probe, self.node, self.ns = probe, node, ns
        self.poses: list = []
        probe.node.create_subscription(PoseStamped, f"{ns}/grasp_pose", self.poses.append, LATCHED)
        self.pub = probe.node.create_publisher(vm.Detection3DArray, f"{ns}/detections", RESULTS)
        self.client = probe.node.create_client(Trigger, f"{ns}/pick")
        watch = node if isinstance(node, NodeProcess) else None
        assert probe.spin_until(lambda: self.pub.get_subscription_count() > 0, 40, watch), self.log
        assert self.client.wait_for_service(timeout_sec=40), self.log

    @property
    def log(self) -> str:
        return self.node.log if isinstance(self.node, NodeProcess) else ""

    def publish(self, dets, stamp_offset_s: float = 0.0, frame: str = CAMERA_FRAME) -> None:
        from grasp_pipeline.ros import conversions as cv

        stamp = time.time_ns() + int(stamp_offset_s * 1e9)
        self.pub.publish(cv.detections_to_msg(dets, stamp, frame))

    def pick(self, settle_s: float = 0.5, timeout: float = 40.0):
        """(response, round-trip seconds) of one ``pick`` call after ``settle_s`` of spinning."""
        from std_srvs.srv import Trigger

        self.probe.spin_until(lambda: False, settle_s)  # let the planner take the detections
        t0 = time.perf_counter()
        response = self.probe.call(self.client, Trigger.Request(), timeout=timeout)
        dt = time.perf_counter() - t0
        assert response is not None, f"no answer from pick\n{self.log}"
        return response, dt
