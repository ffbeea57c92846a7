"""camera_node in its own process replays a RealSense SDK recording (made here with pyrealsense2's
software device + recorder); the frames received over real DDS equal the recorded ones."""

from __future__ import annotations

import os
import time
import uuid

import numpy as np
import pytest

from grasp_pipeline.geometry.camera import CameraIntrinsics
from grasp_pipeline.ros.environment import apply_ros_env
from grasp_pipeline.ros.node_process import NodeProcess, Probe
from grasp_pipeline.sources.realsense_recorder import record_frames

pytestmark = [pytest.mark.ros, pytest.mark.timeout(120)]

CAM = CameraIntrinsics(160, 120, 150.0, 151.0, 79.0, 60.5, 0.001, "d435")
N = 10
DOMAIN = 100 + os.getpid() % 30


def frame(k: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(50 + k)
    v, u = np.mgrid[0:120, 0:160]
    depth = (500 + u + 2 * v + 7 * k).astype(np.uint16)
    depth[rng.integers(0, 120, 40), rng.integers(0, 160, 40)] = 0  # missing depth survives too
    return rng.integers(0, 256, (120, 160, 3), dtype=np.uint8), depth


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    apply_ros_env(DOMAIN)
    path = tmp_path_factory.mktemp("cam") / "take.db3"
    record_frames(path, [frame(k) for k in range(N)], CAM, fps=30)
    return path


def _stamp_index(msg) -> int:
    """Recorded timestamps are 1000 ms + k * 33.33 ms (stamp_source: source)."""
    ns = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
    return round((ns - 10**9) / (1e9 / 30))


def test_replayed_frames_equal_the_recording(recording) -> None:
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import CameraInfo, Image

    from grasp_pipeline.ros import conversions as cv

    ns = f"/t{uuid.uuid4().hex[:8]}"
    params = {
        "source": "realsense_file",
        "file": str(recording),
        "loop": True,
        "fps": 20.0,
        "stamp_source": "source",
    }
    got: dict[str, dict[int, object]] = {
        "color": {},
        "depth": {},
        "color_info": {},
        "depth_info": {},
    }
    topics = {
        "color": (Image, "camera/color/image_raw"),
        "depth": (Image, "camera/aligned_depth_to_color/image_raw"),
        "color_info": (CameraInfo, "camera/color/camera_info"),
        "depth_info": (CameraInfo, "camera/aligned_depth_to_color/camera_info"),
    }
    with Probe(DOMAIN) as probe, NodeProcess("camera_node", params, DOMAIN, ns) as node:
        for key, (typ, topic) in topics.items():
            probe.node.create_subscription(
                typ,
                f"{ns}/{topic}",
                lambda m, key=key: got[key].setdefault(_stamp_index(m), m),
                qos_profile_sensor_data,
            )
        ok = probe.spin_until(lambda: all(len(v) == N for v in got.values()), 60, watch=node)
    assert ok, f"received {[sorted(v) for v in got.values()]}\n{node.log}"
    for k in range(N):
        rgb, depth = frame(k)
        c, d = got["color"][k], got["depth"][k]
        assert c.encoding == "rgb8" and d.encoding == "16UC1"
        np.testing.assert_array_equal(cv.image_to_numpy(c), rgb)
        np.testing.assert_array_equal(cv.image_to_numpy(d), depth)
        # one stamp and the colour optical frame for all four messages of the frame set
        msgs = [got[key][k] for key in got]
        assert len({(m.header.stamp.sec, m.header.stamp.nanosec) for m in msgs}) == 1
        assert {m.header.frame_id for m in msgs} == {"camera_color_optical_frame"}
    assert cv.camera_info_to_intrinsics(got["color_info"][0], model="d435") == CAM


def test_end_of_file_is_reported_and_publishing_stops(recording) -> None:
    ns = f"/t{uuid.uuid4().hex[:8]}"
    params = {"source": "realsense_file", "file": str(recording), "loop": False, "fps": 50.0}
    with NodeProcess("camera_node", params, DOMAIN, ns) as node:
        assert node.wait_for_log(f"after {N} frame sets; stopping", 40), node.log
        assert node.alive()  # stops publishing, keeps running


@pytest.mark.parametrize(
    "param, value, message",
    [
        ("fps", 500.0, "parameter 'fps'"),
        ("source", "kinect", "'source' = 'kinect' is not one of"),
    ],
)
def test_bad_parameter_is_refused_naming_it(param: str, value, message: str) -> None:
    with NodeProcess("camera_node", {param: value, "sim_n_objects": 0}, DOMAIN) as node:
        node.proc.wait(60)
    assert node.proc.returncode != 0
    assert message in node.log


def test_missing_recording_is_refused(tmp_path) -> None:
    params = {"source": "realsense_file", "file": str(tmp_path / "none.db3")}
    with NodeProcess("camera_node", params, DOMAIN) as node:
        node.proc.wait(60)
    assert node.proc.returncode != 0 and "none.db3" in node.log


def test_missing_device_is_reported_and_retried() -> None:
    """No RealSense on this machine: the node reports it and keeps trying to (re)open it."""
    params = {"source": "realsense", "serial": "123456789", "reopen_delay_s": 0.2}
    with NodeProcess("camera_node", params, DOMAIN) as node:
        assert node.wait_for_log("no RealSense device serial=123456789 connected", 40), node.log
        t_end = time.monotonic() + 20
        while node.log.count("retrying in 0.2 s") < 3 and time.monotonic() < t_end:
            time.sleep(0.1)
        assert node.log.count("retrying in 0.2 s") >= 3, node.log
        assert node.alive()
