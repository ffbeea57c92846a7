"""numpy <-> sensor_msgs / vision_msgs conversion: round trips, padded rows, byte order, bad input."""

from __future__ import annotations

import array
import importlib.util

import numpy as np
import pytest
from sensor_msgs.msg import CameraInfo, Image

from grasp_pipeline.geometry.camera import CameraIntrinsics, preset
from grasp_pipeline.perception.detector import Detection
from grasp_pipeline.ros import conversions as cv

RNG = np.random.default_rng(7)
SAMPLES = {
    "rgb8": RNG.integers(0, 256, (6, 5, 3), dtype=np.uint8),
    "bgr8": RNG.integers(0, 256, (6, 5, 3), dtype=np.uint8),
    "mono8": RNG.integers(0, 256, (6, 5), dtype=np.uint8),
    "16UC1": RNG.integers(0, 65536, (6, 5), dtype=np.uint16),
    "32FC1": RNG.normal(size=(6, 5)).astype(np.float32),
}


@pytest.mark.parametrize("encoding", sorted(SAMPLES))
def test_round_trip_every_encoding(encoding: str) -> None:
    a = SAMPLES[encoding]
    msg = cv.numpy_to_image(a, encoding, stamp_ns=1_500_000_123, frame_id="cam")
    assert msg.encoding == encoding
    assert (msg.height, msg.width) == a.shape[:2]
    assert msg.step == a.shape[1] * (a.shape[2] if a.ndim == 3 else 1) * a.itemsize
    assert len(msg.data) == msg.step * msg.height
    assert msg.header.stamp.sec == 1 and msg.header.stamp.nanosec == 500_000_123
    back = cv.image_to_numpy(msg)
    assert back.dtype == a.dtype and back.shape == a.shape
    np.testing.assert_array_equal(back, a)


def test_known_bytes_of_16uc1_little_endian() -> None:
    msg = cv.numpy_to_image(np.array([[0x0102, 0xA0B0]], dtype=np.uint16), "16UC1")
    assert bytes(msg.data) == bytes([0x02, 0x01, 0xB0, 0xA0])


def _padded(a: np.ndarray, encoding: str, pad: int, big: bool = False) -> Image:
    """Hand-built message with ``pad`` junk bytes after each row."""
    dt = a.dtype.newbyteorder(">" if big else "<")
    rows = a.astype(dt).reshape(a.shape[0], -1).view(np.uint8)
    junk = np.full((a.shape[0], pad), 0xEE, dtype=np.uint8)
    data = np.concatenate([rows, junk], axis=1)
    msg = Image(height=a.shape[0], width=a.shape[1], encoding=encoding, is_bigendian=int(big))
    msg.step = data.shape[1]
    msg.data = array.array("B", data.tobytes())
    return msg


@pytest.mark.parametrize("encoding", sorted(SAMPLES))
def test_padded_rows_are_skipped(encoding: str) -> None:
    a = SAMPLES[encoding]
    pad = 4 if a.itemsize > 1 else 3
    np.testing.assert_array_equal(cv.image_to_numpy(_padded(a, encoding, pad)), a)


@pytest.mark.parametrize("encoding", ["16UC1", "32FC1"])
def test_big_endian_data_is_swapped(encoding: str) -> None:
    a = SAMPLES[encoding]
    back = cv.image_to_numpy(_padded(a, encoding, 0, big=True))
    assert back.dtype == a.dtype  # native order again
    np.testing.assert_array_equal(back, a)


def test_bgr_and_mono_to_rgb() -> None:
    rgb = SAMPLES["rgb8"]
    msg = cv.numpy_to_image(np.ascontiguousarray(rgb[..., ::-1]), "bgr8")
    np.testing.assert_array_equal(cv.to_rgb(msg), rgb)
    mono = cv.to_rgb(cv.numpy_to_image(SAMPLES["mono8"], "mono8"))
    assert mono.shape == (6, 5, 3)
    np.testing.assert_array_equal(mono[..., 2], SAMPLES["mono8"])


def test_depth_32fc1_metres_to_millimetres() -> None:
    m = np.array([[0.5, np.nan, 1.2344], [-1.0, 0.0, np.inf]], dtype=np.float32)
    d = cv.to_depth_u16(cv.numpy_to_image(m, "32FC1"))
    np.testing.assert_array_equal(d, np.array([[500, 0, 1234], [0, 0, 0]], dtype=np.uint16))
    mm = np.array([[500, 0]], dtype=np.uint16)
    np.testing.assert_array_equal(cv.to_depth_u16(cv.numpy_to_image(mm, "16UC1")), mm)
    # 0.1 mm units: 500 mm -> 5000
    np.testing.assert_array_equal(
        cv.to_depth_u16(cv.numpy_to_image(mm, "16UC1"), depth_scale=0.0001), [[5000, 0]]
    )


@pytest.mark.parametrize(
    "change, field",
    [
        ({"step": 14}, "step"),  # smaller than 5*3
        ({"height": 7}, "data size"),
        ({"encoding": "yuv422"}, "encoding"),
        ({"width": 0}, "width"),
    ],
)
def test_inconsistent_messages_are_refused(change: dict, field: str) -> None:
    msg = cv.numpy_to_image(SAMPLES["rgb8"], "rgb8")
    for k, v in change.items():
        setattr(msg, k, v)
    with pytest.raises(ValueError, match=field):
        cv.image_to_numpy(msg)


def test_wrong_array_for_encoding_is_refused() -> None:
    with pytest.raises(ValueError, match="dtype"):
        cv.numpy_to_image(SAMPLES["16UC1"].astype(np.int32), "16UC1")
    with pytest.raises(ValueError, match="shape"):
        cv.numpy_to_image(SAMPLES["mono8"], "rgb8")
    with pytest.raises(ValueError, match="not one of"):
        cv.image_to_numpy(cv.numpy_to_image(SAMPLES["mono8"], "mono8"), expected=("16UC1",))


def test_640x480_conversion_is_fast() -> None:
    import time

    a = np.zeros((480, 640, 3), np.uint8)
    t = time.perf_counter()
    for _ in range(10):
        cv.image_to_numpy(cv.numpy_to_image(a, "rgb8"))
    assert (time.perf_counter() - t) / 10 < 0.05  # a per-pixel Python loop takes seconds


def test_camera_info_round_trip() -> None:
    cam = CameraIntrinsics(640, 480, 615.5, 616.25, 321.0, 238.5, 0.001, "d435")
    msg = cv.intrinsics_to_camera_info(cam, 7, "camera_color_optical_frame")
    assert isinstance(msg, CameraInfo)
    assert msg.distortion_model == "plumb_bob" and list(msg.d) == [0.0] * 5
    assert list(msg.p) == [615.5, 0, 321.0, 0, 0, 616.25, 238.5, 0, 0, 0, 1, 0]
    back = cv.camera_info_to_intrinsics(msg, model="d435")
    assert back == cam


def test_bad_camera_info_is_refused() -> None:
    msg = cv.intrinsics_to_camera_info(preset("d435"))
    msg.d = [0.1, 0.0, 0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="distortion"):
        cv.camera_info_to_intrinsics(msg)
    with pytest.raises(ValueError, match="K"):
        cv.camera_info_to_intrinsics(CameraInfo(width=640, height=480))


def test_stamps() -> None:
    ns = 1_700_000_000_123_456_789
    assert cv.stamp_to_ns(cv.stamp_from_ns(ns)) == ns
    with pytest.raises(ValueError, match="non-negative"):
        cv.stamp_from_ns(-1)


def test_pose_round_trip_against_scipy() -> None:
    from scipy.spatial.transform import Rotation

    T = np.eye(4)
    T[:3, :3] = Rotation.from_euler("xyz", [10, -20, 30], degrees=True).as_matrix()
    T[:3, 3] = [0.1, -0.2, 0.6]
    p = cv.matrix_to_pose(T)
    q = Rotation.from_matrix(T[:3, :3]).as_quat()
    assert np.allclose(
        np.abs([p.orientation.x, p.orientation.y, p.orientation.z, p.orientation.w]), np.abs(q)
    )
    np.testing.assert_allclose(cv.pose_to_matrix(p), T, atol=1e-12)
    bad = cv.matrix_to_pose(np.eye(4))
    bad.orientation.w = 0.0
    with pytest.raises(ValueError, match="quaternion"):
        cv.pose_to_matrix(bad)


needs_vision_msgs = pytest.mark.skipif(
    importlib.util.find_spec("vision_msgs") is None, reason="vision_msgs not built yet (make test)"
)


def _det(label: str, full: bool, yaw_deg: float, point: list[float]) -> Detection:
    c, s = np.cos(np.radians(yaw_deg)), np.sin(np.radians(yaw_deg))
    T = np.eye(4)
    T[:3, :3] = [[c, -s, 0], [s, c, 0], [0, 0, 1]]
    T[:3, 3] = point
    return Detection(label, 0.87, (0.0, 0.0), np.array(point), T, T[:3, 1].copy(), full, {})


@needs_vision_msgs
def test_detection_array_round_trip() -> None:
    cam = preset("d435")
    dets = [
        _det("M20", False, 30.0, [0.05, -0.02, 0.5]),
        _det("Motor", True, -75.0, [0.0, 0.0, 0.4]),
    ]
    msg = cv.detections_to_msg(dets, 123, "camera_color_optical_frame")
    assert msg.header.frame_id == "camera_color_optical_frame" and len(msg.detections) == 2
    assert msg.detections[0].results[0].hypothesis.class_id == "M20"
    assert msg.detections[0].results[0].hypothesis.score == pytest.approx(0.87)
    back = cv.msg_to_detections(msg, cam)
    for a, b in zip(dets, back, strict=True):
        assert b.label == a.label and b.pose_is_full_6d == a.pose_is_full_6d
        np.testing.assert_allclose(b.pose, a.pose, atol=1e-12)
        np.testing.assert_allclose(b.grasp_axis, a.grasp_axis, atol=1e-12)
    # pixel recomputed by projection: u = 615 * 0.05 / 0.5 + 319.5
    assert back[0].pixel == pytest.approx((381.0, 239.5 - 615 * 0.04))
