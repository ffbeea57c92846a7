"""The simulator camera as a source: ground truth consistent with the rendered depth."""

from __future__ import annotations

import numpy as np
import pytest

from grasp_pipeline.geometry.camera import deproject
from grasp_pipeline.sources.sim_source import SimSource


def test_sim_frames_match_their_ground_truth() -> None:
    with SimSource(width=160, height=120, n_objects=2, seed=3, noise=False, fps=10) as src:
        a, b = src.read(), src.read()
    assert a.rgb.shape == (120, 160, 3) and a.depth.dtype == np.uint16
    assert (a.stamp_ns, b.stamp_ns) == (0, 100_000_000)
    assert len(a.extras["objects"]) >= 1
    for obj in a.extras["objects"]:
        u, v = (round(c) for c in obj.pickup_pixel)
        z = a.depth[v, u] * a.camera.depth_scale
        p = deproject(np.array(obj.pickup_pixel), z, a.camera)
        # noise-free depth at the labelled pixel lands on the labelled surface point (mm quantisation)
        assert np.linalg.norm(p - obj.pickup_point) < 0.003
    # camera 0.5 m above the surface, looking down: the table is at ~0.5 m
    table = a.depth[a.extras["instance_mask"] == 0]
    assert np.median(table[table > 0]) == pytest.approx(500, abs=3)


def test_static_mode_repeats_one_render() -> None:
    with SimSource(width=64, height=48, n_objects=1, seed=0, rerender=False) as src:
        a, b = src.read(), src.read()
    assert a.rgb is b.rgb and b.stamp_ns > a.stamp_ns


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="camera_height"):
        SimSource(camera_height=0.01)
    with pytest.raises(ValueError, match="both world and camera"):
        SimSource(world=object())
    with pytest.raises(RuntimeError, match="not open"):
        SimSource().read()
