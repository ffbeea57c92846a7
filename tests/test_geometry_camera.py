"""Pinhole camera: hand-computed pixels, round trips, resizing and depth images."""

from __future__ import annotations

import numpy as np
import pytest

from grasp_pipeline.geometry.camera import (
    CameraIntrinsics,
    deproject,
    depth_image_to_points,
    depth_to_metres,
    preset,
    project,
)


def test_hand_computed_pixel() -> None:
    cam = preset("d435")
    # u = 615 * 0.1 / 0.5 + 319.5 = 442.5; v = 615 * -0.05 / 0.5 + 239.5 = 178.0
    np.testing.assert_allclose(project([0.1, -0.05, 0.5], cam), [442.5, 178.0])
    np.testing.assert_allclose(deproject([442.5, 178.0], 0.5, cam), [0.1, -0.05, 0.5])
    # The principal point lies on the optical axis at any depth.
    np.testing.assert_allclose(deproject([319.5, 239.5], 2.0, cam), [0.0, 0.0, 2.0])
    np.testing.assert_allclose(cam.K, [[615, 0, 319.5], [0, 615, 239.5], [0, 0, 1]])


def test_round_trip_batches() -> None:
    rng = np.random.default_rng(0)
    cam = preset("sr300")
    pts = np.c_[rng.uniform(-0.3, 0.3, (100, 2)), rng.uniform(0.2, 1.5, 100)].reshape(10, 10, 3)
    uv = project(pts, cam)
    assert uv.shape == (10, 10, 2)
    np.testing.assert_allclose(deproject(uv, pts[..., 2], cam), pts, atol=1e-12)


def test_invalid_depth_and_points_raise() -> None:
    cam = preset("d435")
    with pytest.raises(ValueError, match="zero, negative or NaN depth"):
        deproject([10.0, 20.0], 0.0, cam)
    with pytest.raises(ValueError, match="zero, negative or NaN depth"):
        deproject([[10.0, 20.0], [1.0, 2.0]], [0.5, np.nan], cam)
    with pytest.raises(ValueError, match="z <= 0"):
        project([0.0, 0.0, -1.0], cam)
    with pytest.raises(ValueError, match=r"\(\.\.\., 3\)"):
        project([0.0, 1.0], cam)
    with pytest.raises(ValueError, match=r"\(\.\.\., 2\)"):
        deproject([0.0, 1.0, 2.0], 1.0, cam)


def test_scaled_to_network_size() -> None:
    cam = preset("d435").scaled(256, 192)
    # s = 0.4: fx' = 246; the centred principal point (319.5, 239.5) stays centred (127.5, 95.5).
    assert (cam.width, cam.height) == (256, 192)
    assert cam.fx == pytest.approx(246.0)
    assert cam.fy == pytest.approx(246.0)
    assert cam.cx == pytest.approx(127.5)
    assert cam.cy == pytest.approx(95.5)
    # An off-centre principal point follows the pixel-centre rule u' = (u + 0.5) s - 0.5.
    off = CameraIntrinsics(640, 480, 600.0, 600.0, 330.0, 250.0).scaled(320, 240)
    assert (off.cx, off.cy) == pytest.approx((164.75, 124.75))
    # The same 3-D point lands on corresponding pixels at both sizes.
    big, p = preset("d435"), np.array([0.07, 0.02, 0.6])
    np.testing.assert_allclose((project(p, big) + 0.5) * 0.4 - 0.5, project(p, cam), atol=1e-12)
    assert preset("d435", 256, 192) == cam


def test_depth_image_to_points() -> None:
    cam = CameraIntrinsics(4, 3, 2.0, 2.0, 1.5, 1.0, depth_scale=0.001)
    depth = np.array(
        [[1000, 0, 500, 500], [1000, 1000, 2000, 1000], [0, 250, 1000, 1000]], np.uint16
    )
    pts = depth_image_to_points(depth, cam)
    assert pts.shape == (3, 4, 3)
    assert np.isnan(pts[0, 1]).all() and np.isnan(pts[2, 0]).all()
    assert np.isfinite(pts[1]).all()
    # Pixel (u=2, v=1) at 2 m: x = (2 - 1.5) / 2 * 2 = 0.5, y = (1 - 1) / 2 * 2 = 0.
    np.testing.assert_allclose(pts[1, 2], [0.5, 0.0, 2.0], atol=1e-6)
    # Every valid pixel agrees with deproject.
    v, u = np.nonzero(depth)
    ref = deproject(np.c_[u, v].astype(float), depth[v, u] * 0.001, cam)
    np.testing.assert_allclose(pts[v, u], ref, atol=1e-6)
    z = depth_to_metres(depth, cam)
    assert z.dtype == np.float32 and np.isnan(z[0, 1]) and z[1, 2] == pytest.approx(2.0)
    with pytest.raises(ValueError, match="4x3"):
        depth_image_to_points(np.zeros((4, 3), np.uint16), cam)
    with pytest.raises(ValueError, match="2-D"):
        depth_to_metres(np.zeros((3, 4, 1), np.uint16), cam)


def test_presets_and_dict_round_trip() -> None:
    cam = preset("SR300")
    assert cam.model == "sr300" and cam.fx == 619.0
    assert CameraIntrinsics.from_dict(cam.to_dict()) == cam
    with pytest.raises(ValueError, match="unknown camera preset 'kinect'"):
        preset("kinect")
    with pytest.raises(ValueError, match=r"\['fy'\]"):
        CameraIntrinsics.from_dict({"width": 1, "height": 1, "fx": 1, "cx": 0, "cy": 0})
    with pytest.raises(ValueError, match="focal lengths"):
        CameraIntrinsics(640, 480, 0.0, 600.0, 320, 240)
    with pytest.raises(ValueError, match="camera size"):
        CameraIntrinsics(0, 480, 600.0, 600.0, 320, 240)


def test_wide_modes_keep_square_pixels() -> None:
    # 848x480 is the 16:9 sensor at the same scale as 640x480: same focal length, wider crop.
    wide = preset("d435", 848, 480)
    assert (wide.fx, wide.fy) == pytest.approx((615.0, 615.0))
    assert (wide.cx, wide.cy) == pytest.approx((423.5, 239.5))
    # 1280x720 is 1.5x that: f = 922.5, centred principal point.
    hd = preset("d435", 1280, 720)
    assert (hd.fx, hd.fy, hd.cx, hd.cy) == pytest.approx((922.5, 922.5, 639.5, 359.5))
    # A ray through the centre column maps to the same angle in both modes.
    p = np.array([0.0, 0.1, 1.0])
    assert project(p, wide)[1] == pytest.approx(project(p, preset("d435"))[1])
