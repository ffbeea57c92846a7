"""Real DDS between two processes: 640x480 rgb8 + 16UC1 frames and a vision_msgs/Detection3DArray.

The publisher runs in a subprocess (its own rclpy, its own Fast DDS participant); the subscriber runs
here. Both use the shipped Fast DDS profile, ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST, a test-chosen
ROS_DOMAIN_ID and topic names with a random token, so other ROS users of the machine can't interfere.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from grasp_pipeline.paths import config_path
from grasp_pipeline.ros.environment import ros_env

pytestmark = [pytest.mark.ros, pytest.mark.timeout(90)]

N_FRAMES = 8
PUBLISHER = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    import rclpy
    from rclpy.qos import qos_profile_sensor_data, QoSProfile, ReliabilityPolicy, DurabilityPolicy
    from sensor_msgs.msg import Image
    from grasp_pipeline.ros import conversions as cv

    mode, prefix, n = sys.argv[1], sys.argv[2], int(sys.argv[3])

    def frame(k):
        rng = np.random.default_rng(1000 + k)
        return (rng.integers(0, 256, (480, 640, 3), dtype=np.uint8),
                rng.integers(0, 65536, (480, 640), dtype=np.uint16))

    rclpy.init()
    node = rclpy.create_node("transport_publisher")
    if mode == "images":
        pc = node.create_publisher(Image, prefix + "/color", qos_profile_sensor_data)
        pd = node.create_publisher(Image, prefix + "/depth", qos_profile_sensor_data)
        frames = [frame(k) for k in range(n)]
        t_end = time.monotonic() + 40
        k = 0
        while time.monotonic() < t_end:  # cycle until the test kills us
            rgb, depth = frames[k % n]
            stamp = (k % n) * 1_000_000_000 + 5
            pc.publish(cv.numpy_to_image(rgb, "rgb8", stamp, "cam_color_optical_frame"))
            pd.publish(cv.numpy_to_image(depth, "16UC1", stamp, "cam_color_optical_frame"))
            k += 1
            time.sleep(1 / 30)
    else:
        import vision_msgs.msg as vm
        from grasp_pipeline.perception.detector import Detection
        qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)
        pub = node.create_publisher(vm.Detection3DArray, prefix + "/detections", qos)
        T = np.eye(4); T[:3, :3] = [[0, -1, 0], [1, 0, 0], [0, 0, 1]]; T[:3, 3] = [0.1, -0.05, 0.45]
        dets = [Detection("Bearing_Box", 0.75, (0, 0), T[:3, 3], T, T[:3, 1], True, {"size": (0.05, 0.045, 0.025)}),
                Detection("M30", 0.5, (0, 0), np.array([0, 0, 0.5]), np.eye(4), None, False, {})]
        dets[1].pose[:3, 3] = [0, 0, 0.5]
        msg = cv.detections_to_msg(dets, 77_000_000_123, "cam_color_optical_frame")
        t_end = time.monotonic() + 40
        while time.monotonic() < t_end:
            pub.publish(msg)
            time.sleep(0.1)
    """
)


def expected_frame(k: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1000 + k)
    return (
        rng.integers(0, 256, (480, 640, 3), dtype=np.uint8),
        rng.integers(0, 65536, (480, 640), dtype=np.uint16),
    )


@pytest.fixture()
def ros_session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Environment for both ends; rclpy context for this process; publisher launcher."""
    domain = 60 + os.getpid() % 40
    env = ros_env(domain_id=domain)
    env["FASTDDS_DEFAULT_PROFILES_FILE"] = str(config_path("fastdds_shm.xml"))
    for key in ("ROS_DOMAIN_ID", "ROS_AUTOMATIC_DISCOVERY_RANGE", "FASTDDS_DEFAULT_PROFILES_FILE"):
        monkeypatch.setenv(key, env[key])
    script = tmp_path / "publisher.py"
    script.write_text(PUBLISHER)
    prefix = f"/t{uuid.uuid4().hex[:10]}"
    procs: list[subprocess.Popen] = []

    def start(mode: str) -> subprocess.Popen:
        p = subprocess.Popen(
            [sys.executable, str(script), mode, prefix, str(N_FRAMES)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        procs.append(p)
        return p

    import rclpy

    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain)
    try:
        yield ctx, prefix, start
    finally:
        for p in procs:
            p.kill()
            p.wait(5)
        ctx.try_shutdown()


def _spin_until(ctx, node, done, timeout: float, proc: subprocess.Popen) -> None:
    from rclpy.executors import SingleThreadedExecutor

    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(node)
    t_end = time.monotonic() + timeout
    while not done() and time.monotonic() < t_end:
        ex.spin_once(timeout_sec=0.1)
        if proc.poll() is not None:
            out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            pytest.fail(f"publisher exited with {proc.returncode}:\n{out}")
    ex.remove_node(node)


def test_rgb8_and_16uc1_frames_cross_processes_unchanged(ros_session) -> None:
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    from grasp_pipeline.ros import conversions as cv

    ctx, prefix, start = ros_session
    node = __import__("rclpy").create_node("transport_subscriber", context=ctx)
    got: dict[str, dict[int, Image]] = {"color": {}, "depth": {}}
    for kind in got:
        node.create_subscription(
            Image,
            f"{prefix}/{kind}",
            lambda m, kind=kind: got[kind].setdefault(m.header.stamp.sec, m),
            qos_profile_sensor_data,
        )
    proc = start("images")
    _spin_until(ctx, node, lambda: all(len(v) == N_FRAMES for v in got.values()), 60, proc)
    node.destroy_node()
    assert sorted(got["color"]) == list(range(N_FRAMES)), (
        f"colour frames received: {sorted(got['color'])}"
    )
    assert sorted(got["depth"]) == list(range(N_FRAMES))
    for k in range(N_FRAMES):
        rgb, depth = expected_frame(k)
        c, d = got["color"][k], got["depth"][k]
        assert (c.width, c.height, c.encoding) == (640, 480, "rgb8")
        assert (d.width, d.height, d.encoding) == (640, 480, "16UC1")
        assert c.header.frame_id == "cam_color_optical_frame" and c.header.stamp.nanosec == 5
        np.testing.assert_array_equal(cv.image_to_numpy(c), rgb)
        np.testing.assert_array_equal(cv.image_to_numpy(d), depth)


@pytest.mark.skipif(importlib.util.find_spec("vision_msgs") is None, reason="vision_msgs not built")
def test_detection3d_array_crosses_processes(ros_session) -> None:
    import rclpy
    import vision_msgs.msg as vm
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

    from grasp_pipeline.ros import conversions as cv

    ctx, prefix, start = ros_session
    node = rclpy.create_node("detections_subscriber", context=ctx)
    got: list = []
    qos = QoSProfile(
        depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
    )
    node.create_subscription(vm.Detection3DArray, f"{prefix}/detections", got.append, qos)
    proc = start("detections")
    _spin_until(ctx, node, lambda: bool(got), 40, proc)
    node.destroy_node()
    assert got, "no Detection3DArray received"
    msg = got[0]
    assert msg.header.frame_id == "cam_color_optical_frame"
    assert cv.stamp_to_ns(msg.header.stamp) == 77_000_000_123
    assert [d.results[0].hypothesis.class_id for d in msg.detections] == ["Bearing_Box", "M30"]
    assert [d.id for d in msg.detections] == ["Bearing_Box#0", "M30#1"]
    dets = cv.msg_to_detections(msg)
    assert dets[0].score == pytest.approx(0.75) and dets[1].score == pytest.approx(0.5)
    T = np.eye(4)
    T[:3, :3] = [[0, -1, 0], [1, 0, 0], [0, 0, 1]]
    T[:3, 3] = [0.1, -0.05, 0.45]
    np.testing.assert_allclose(dets[0].pose, T, atol=1e-12)
    assert dets[0].pose_is_full_6d and not dets[1].pose_is_full_6d
    assert dets[0].extras["size"] == pytest.approx((0.05, 0.045, 0.025))
    np.testing.assert_allclose(dets[1].point, [0, 0, 0.5])
