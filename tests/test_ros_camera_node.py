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


def _camera_in_process(recording, fps: float = 20.0):
    """A CameraNode in this process on the recording (its own context; no executor spins it)."""
    import rclpy
    from rclpy.parameter import Parameter

    from grasp_pipeline.ros.camera_node import CameraNode

    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=DOMAIN)
    overrides = {"source": "realsense_file", "file": str(recording), "loop": True, "fps": fps}
    node = CameraNode(
        context=ctx,
        parameter_overrides=[Parameter(k, value=v) for k, v in overrides.items()],
        start_parameter_services=False,
    )
    return ctx, node


def test_a_refused_atomic_parameter_set_leaves_the_rate_unchanged(recording) -> None:
    """fps together with an invalid stamp_source: refused as a whole, the timer keeps its period
    (before: the rate changed although the set was refused)."""
    from rclpy.parameter import Parameter

    ctx, node = _camera_in_process(recording, fps=20.0)
    try:
        period = node._timer.timer_period_ns
        assert period == int(1e9 / 20.0)
        res = node.set_parameters_atomically(
            [Parameter("fps", value=5.0), Parameter("stamp_source", value="gps")]
        )
        assert not res.successful and "'stamp_source' = 'gps' is not one of" in res.reason
        assert node._timer.timer_period_ns == period
        assert node.get_parameter("fps").value == 20.0 and node.p.fps == 20.0
        assert node.p.stamp_source == "now"
        # out of the declared range: refused by rclpy's descriptor check, same outcome
        res = node.set_parameters_atomically(
            [Parameter("stamp_source", value="source"), Parameter("fps", value=500.0)]
        )
        assert not res.successful and node.p.stamp_source == "now"
        assert node._timer.timer_period_ns == period
        res = node.set_parameters_atomically(
            [Parameter("fps", value=5.0), Parameter("stamp_source", value="source")]
        )
        assert res.successful
        assert node._timer.timer_period_ns == int(1e9 / 5.0)
        assert (node.p.fps, node.p.stamp_source) == (5.0, "source")
    finally:
        node.destroy_node()
        ctx.try_shutdown()


def test_refused_set_over_the_parameter_service_keeps_publishing_at_the_old_rate(
    recording,
) -> None:
    """The user's path (``ros2 param`` / a parameter client) against the node process: the
    colour rate stays at 20 Hz after a refused set with fps 2, drops after an accepted one."""
    from rcl_interfaces.srv import SetParametersAtomically
    from rclpy.parameter import Parameter
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    ns = f"/t{uuid.uuid4().hex[:8]}"
    params = {"source": "realsense_file", "file": str(recording), "loop": True, "fps": 20.0}
    stamps: list[float] = []
    with Probe(DOMAIN) as probe, NodeProcess("camera_node", params, DOMAIN, ns) as node:
        probe.node.create_subscription(
            Image,
            f"{ns}/camera/color/image_raw",
            lambda m: stamps.append(time.monotonic()),
            qos_profile_sensor_data,
        )
        client = probe.node.create_client(
            SetParametersAtomically, f"{ns}/camera_node/set_parameters_atomically"
        )

        def rate(seconds: float = 2.0) -> float:
            n0 = len(stamps)
            probe.spin_until(lambda: False, seconds, watch=node)
            return (len(stamps) - n0) / seconds

        def set_atomically(**values):
            req = SetParametersAtomically.Request()
            req.parameters = [Parameter(k, value=v).to_parameter_msg() for k, v in values.items()]
            res = probe.call(client, req, 20)
            assert res is not None, node.log
            return res.result

        assert probe.spin_until(lambda: len(stamps) > 5, 40, watch=node), node.log
        before = rate()
        assert before > 10, (before, node.log)
        res = set_atomically(fps=2.0, stamp_source="gps")
        assert not res.successful and "stamp_source" in res.reason
        after_refused = rate()
        assert after_refused > 10, (before, after_refused)
        assert set_atomically(fps=2.0).successful
        probe.spin_until(lambda: False, 1.0)  # let the old period's frames drain
        after_accepted = rate(3.0)
        assert after_accepted < 4, (before, after_refused, after_accepted)


def test_frames_larger_than_the_shm_segment_are_warned_about(recording, tmp_path) -> None:
    """A profile with a 64 KiB segment: the recording's 160x120 frame set (94 KiB) exceeds it."""
    from grasp_pipeline.paths import config_path

    profile = tmp_path / "small_shm.xml"
    profile.write_text(
        config_path("fastdds_shm.xml").read_text().replace("16777216", str(64 * 1024))
    )
    params = {"source": "realsense_file", "file": str(recording), "loop": True, "fps": 20.0}
    node = NodeProcess("camera_node", params, DOMAIN)
    node.env["FASTDDS_DEFAULT_PROFILES_FILE"] = str(profile)
    with node:
        assert node.wait_for_log("larger than the Fast DDS shared-memory segment", 40), node.log
        time.sleep(1.0)  # several frame sets later: still one warning per resolution
        assert node.alive()
    assert "frame set 160x120 is 0.1 MiB" in node.log and "(0.1 MiB, " in node.log
    assert node.log.count("larger than the Fast DDS shared-memory segment") == 1, node.log
