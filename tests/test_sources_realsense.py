"""RealSense file playback: a recording made with pyrealsense2's software device + recorder plays
back frame for frame (the SDK's own file format, no camera needed)."""

from __future__ import annotations

import numpy as np
import pytest

from grasp_pipeline.geometry.camera import CameraIntrinsics
from grasp_pipeline.sources.base import DeviceLostError
from grasp_pipeline.sources.realsense import RealSenseSource
from grasp_pipeline.sources.realsense_recorder import record_frames

CAM = CameraIntrinsics(80, 60, 75.0, 76.0, 39.0, 30.5, 0.001, "d435")


def scene(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame k: random colour, smooth depth ramp (mm) with a hole of missing depth."""
    rng = np.random.default_rng(k)
    rgb = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    v, u = np.mgrid[0:60, 0:80]
    depth = (400 + 2 * u + 3 * v + 10 * k).astype(np.uint16)
    depth[10:15, 20:30] = 0
    return rgb, depth


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> tuple:
    path = tmp_path_factory.mktemp("rs") / "take.db3"
    frames = [scene(k) for k in range(12)]
    assert record_frames(path, frames, CAM, fps=30) == 12
    return path, frames


def test_playback_returns_every_recorded_frame_unchanged(recording) -> None:
    path, frames = recording
    with RealSenseSource(file=path) as src:
        assert src.finite
        got = []
        while (fs := src.read()) is not None:
            got.append(fs)
    assert [g.index for g in got] == list(range(12))
    assert [g.extras["frame_number"] for g in got] == list(range(12))
    for g, (rgb, depth) in zip(got, frames, strict=True):
        np.testing.assert_array_equal(g.rgb, rgb)
        np.testing.assert_array_equal(g.depth, depth)
    # intrinsics and depth unit come from the file, stamps from the recorded timestamps (ms)
    assert got[0].camera == CAM
    assert got[0].stamp_ns == 1_000_000_000
    assert got[3].stamp_ns - got[2].stamp_ns == pytest.approx(33_333_333, abs=2)


def test_sdk_alignment_path_keeps_smooth_depth(recording) -> None:
    """align='always' runs rs.align; on registered smooth depth it must be (nearly) the identity."""
    path, frames = recording
    with RealSenseSource(file=path, align="always") as src:
        fs = src.read()
    assert fs is not None
    rgb, depth = frames[0]
    np.testing.assert_array_equal(fs.rgb, rgb)
    valid = (fs.depth > 0) & (depth > 0)
    assert valid.mean() > 0.9
    diff = np.abs(fs.depth[valid].astype(int) - depth[valid])
    # rs.align maps each depth pixel's footprint; rounding at the edges hands a few pixels their
    # neighbour's value (the ramp changes 2-3 mm per pixel), nothing more
    assert (diff == 0).mean() > 0.9
    assert diff.max() <= 5


def test_loop_restarts_the_file(recording) -> None:
    path, _ = recording
    with RealSenseSource(file=path, loop=True) as src:
        numbers = [src.read().extras["frame_number"] for _ in range(15)]
    assert numbers == [*range(12), 0, 1, 2]


def test_bad_arguments_and_missing_device(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nothing\.db3"):
        RealSenseSource(file=tmp_path / "nothing.db3")
    (tmp_path / "x.avi").write_bytes(b"")
    with pytest.raises(ValueError, match=r"\.db3 or \.bag"):
        RealSenseSource(file=tmp_path / "x.avi")
    with pytest.raises(ValueError, match="preset"):
        RealSenseSource(preset="kinect")
    with pytest.raises(ValueError, match="align"):
        RealSenseSource(align="sometimes")
    # no camera on this machine: opening a live device is reported as a lost device
    with pytest.raises(DeviceLostError, match="serial=0000"):
        RealSenseSource(serial="0000").open()


def test_recorder_refuses_wrong_frames(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"\.db3"):
        record_frames(tmp_path / "a.bag", [], CAM)
    with pytest.raises(ValueError, match="frame 0: depth"):
        record_frames(tmp_path / "a.db3", [(scene(0)[0], np.zeros((60, 80), np.float32))], CAM)
