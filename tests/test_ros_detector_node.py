"""detector_node in its own process: frames published here over real DDS, detections checked
against the same detector run here on the same frame; bad frames are dropped, the node survives.

The segnet checkpoint is a tiny untrained network with a hand-set output bias (M20 and Motor
fire everywhere), so its detections are deterministic and known; the accuracy check with a trained
model runs with the shipped ``models/segnet/model.pt``.
"""

from __future__ import annotations

import os
import time
import uuid

import numpy as np
import pytest

from grasp_pipeline.ros.environment import apply_ros_env
from grasp_pipeline.ros.node_process import NodeProcess, Probe

pytestmark = [pytest.mark.ros, pytest.mark.timeout(150)]

DOMAIN = 130 + os.getpid() % 30


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    import torch

    from grasp_pipeline.perception.segnet.config import SegNetConfig
    from grasp_pipeline.perception.segnet.model import SegNet
    from grasp_pipeline.training.checkpoint import save_checkpoint

    apply_ros_env(DOMAIN)
    torch.manual_seed(0)
    cfg = SegNetConfig(width=32, height=24, filters=(4, 8), dropout=0.0)
    state = SegNet(cfg).state_dict()
    state["head.bias"][:] = -8.0
    state["head.bias"][[5, 12]] = 8.0  # channels of M20 and Motor
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    save_checkpoint(
        path, {"model": state, "config": {"model": cfg.to_dict(), "depth_max_m": 1.0}, "step": 0}
    )
    return path


@pytest.fixture(scope="module")
def sim_frame():
    from grasp_pipeline.sources.sim_source import SimSource

    with SimSource(width=160, height=120, n_objects=2, seed=4, noise=False) as src:
        return src.read()


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

    def send(self, fs, color_msg=None, depth_msg=None, info: bool = True) -> int:
        from grasp_pipeline.ros import conversions as cv

        stamp = time.time_ns()
        fid = "camera_color_optical_frame"
        if info:
            self.info.publish(cv.intrinsics_to_camera_info(fs.camera, stamp, fid))
        d = depth_msg or cv.numpy_to_image(fs.depth, "16UC1", stamp, fid)
        c = color_msg or cv.numpy_to_image(fs.rgb, "rgb8", stamp, fid)
        d.header.stamp = c.header.stamp = cv.stamp_from_ns(stamp)
        self.depth.publish(d)
        self.color.publish(c)
        return stamp


def _collect(probe: Probe, ns: str) -> dict:
    import vision_msgs.msg as vm
    from geometry_msgs.msg import PoseStamped

    from grasp_pipeline.ros.qos import RESULTS

    got: dict[str, list] = {"dets": [], "pickup": []}
    probe.node.create_subscription(
        vm.Detection3DArray, f"{ns}/detections", got["dets"].append, RESULTS
    )
    probe.node.create_subscription(PoseStamped, f"{ns}/pickup_pose", got["pickup"].append, RESULTS)
    return got


def _feed_until(probe, feeder, fs, done, node, timeout=60.0, **kw) -> bool:
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        feeder.send(fs, **kw)
        if probe.spin_until(done, 0.3, watch=node):
            return True
    return False


def test_detections_match_the_detector_run_locally(checkpoint, sim_frame) -> None:
    from grasp_pipeline.objects import load_catalog
    from grasp_pipeline.perception.segnet.detector import SegnetDetector
    from grasp_pipeline.ros import conversions as cv

    expected = SegnetDetector(checkpoint).detect(sim_frame.rgb, sim_frame.depth, sim_frame.camera)
    assert sorted(d.label for d in expected) == ["M20", "Motor"]
    ns = f"/t{uuid.uuid4().hex[:8]}"
    params = {"model_path": str(checkpoint), "min_score": 0.0, "target_object": "Motor"}
    with Probe(DOMAIN) as probe, NodeProcess("detector_node", params, DOMAIN, ns) as node:
        got = _collect(probe, ns)
        feeder = Feeder(probe, ns)
        assert _feed_until(probe, feeder, sim_frame, lambda: got["dets"] and got["pickup"], node), (
            node.log
        )
    msg = got["dets"][-1]
    assert msg.header.frame_id == "camera_color_optical_frame"
    dets = cv.msg_to_detections(msg)
    assert sorted(d.label for d in dets) == ["M20", "Motor"]
    for d in dets:
        e = next(x for x in expected if x.label == d.label)
        np.testing.assert_allclose(d.pose, e.pose, atol=1e-6)
        assert d.score == pytest.approx(e.score)
        assert d.extras["size"] == pytest.approx(
            load_catalog()[d.label].size
        )  # bbox from the catalog
    motor = next(e for e in expected if e.label == "Motor")
    pick = got["pickup"][-1]
    assert pick.header.frame_id == "camera_color_optical_frame"
    np.testing.assert_allclose(cv.pose_to_matrix(pick.pose), motor.pose, atol=1e-6)


def test_bad_frames_are_dropped_and_the_node_keeps_running(checkpoint, sim_frame) -> None:
    from grasp_pipeline.ros import conversions as cv

    ns = f"/t{uuid.uuid4().hex[:8]}"
    params = {"model_path": str(checkpoint), "min_score": 0.0}
    fs = sim_frame
    bad_step = cv.numpy_to_image(fs.rgb, "rgb8")
    bad_step.step = 10  # smaller than a row
    yuv = cv.numpy_to_image(fs.rgb, "rgb8")
    yuv.encoding = "yuv422"
    nan_depth = cv.numpy_to_image(np.full(fs.depth.shape, np.nan, np.float32), "32FC1")
    small = cv.numpy_to_image(fs.depth[:60, :80].copy(), "16UC1")
    with Probe(DOMAIN) as probe, NodeProcess("detector_node", params, DOMAIN, ns) as node:
        got = _collect(probe, ns)
        feeder = Feeder(probe, ns)
        # wait until the node is up and connected (a good frame gets through), then the bad ones
        assert _feed_until(probe, feeder, fs, lambda: got["dets"], node), node.log
        causes = ["bad colour image", "no valid depth", "size mismatch"]
        for kw in (
            {"color_msg": bad_step},
            {"color_msg": yuv},
            {"depth_msg": nan_depth},
            {"depth_msg": small},
        ):
            for _ in range(3):
                feeder.send(fs, **kw)
                probe.spin_until(lambda: False, 0.1)
        assert probe.spin_until(lambda: all(c in node.log for c in causes), 20, watch=node), (
            node.log
        )
        n_before = len(got["dets"])
        assert _feed_until(probe, feeder, fs, lambda: len(got["dets"]) > n_before, node), node.log
        assert node.alive()
    for cause in causes:  # logged once per cause, not per frame
        assert node.log.count(f"dropping frame: {cause}") == 1, node.log


SHIPPED_MODEL = os.path.join(os.path.dirname(__file__), "..", "models", "segnet", "model.pt")
# Single solid objects the shipped model localises well on these top-down frames (it is weakest on
# the hollow nuts and the bearing; benchmarks/results/segnet_eval.json has its held-out figures).
KNOWN_SCENES = [("F20_20_B", 1), ("F20_20_G", 1), ("S40_40_G", 1), ("Axis", 1)]


def test_trained_detector_finds_known_objects_within_1cm() -> None:
    """The shipped model in the node, fed simulated frames with known objects (sensor noise on):
    exactly the right class, its pickup point within 1 cm of the true one."""
    from grasp_pipeline.ros import conversions as cv
    from grasp_pipeline.sources.sim_source import SimSource

    ns = f"/t{uuid.uuid4().hex[:8]}"
    with (
        Probe(DOMAIN) as probe,
        NodeProcess("detector_node", {"min_score": 0.3}, DOMAIN, ns) as node,
    ):
        got = _collect(probe, ns)
        feeder = Feeder(probe, ns)
        for name, seed in KNOWN_SCENES:
            with SimSource(n_objects=1, objects=[name], seed=seed, noise=True) as src:
                fs = src.read()
            (obj,) = fs.extras["objects"]
            first = time.time_ns()

            def answered(first=first) -> bool:  # a result for a frame of this scene
                return any(cv.stamp_to_ns(m.header.stamp) >= first for m in got["dets"])

            assert _feed_until(probe, feeder, fs, answered, node, timeout=60), node.log
            msg = next(m for m in got["dets"] if cv.stamp_to_ns(m.header.stamp) >= first)
            dets = cv.msg_to_detections(msg)
            assert [d.label for d in dets] == [name], (name, [(d.label, d.score) for d in dets])
            err = np.linalg.norm(dets[0].point - obj.pickup_point)
            assert err < 0.01, (name, err)
