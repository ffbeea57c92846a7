"""Synthetic pairs: correspondences land on the same surface point, Kabsch matches the truth."""

import numpy as np
import pytest

from grasp_pipeline.data.backgrounds import KINDS, BackgroundBank, procedural_background
from grasp_pipeline.data.pairs import PairConfig, PairSource, make_pair
from grasp_pipeline.geometry.camera import preset
from grasp_pipeline.perception.descriptors.procedural import TexturedBox, look_pose, render_box

BOX = TexturedBox((0.08, 0.05, 0.03), seed=4)
POSE = look_pose(0.4, 0.5, 0.3, 0.2)


@pytest.fixture(scope="module")
def source():
    cam = preset("d435")
    r = render_box(BOX, POSE, cam)
    return PairSource(r.rgb, r.mask, r.depth_m, cam, "box").crop_around_object(128, 96)


def _rot_deg(R):
    return np.degrees(np.arccos(np.clip((np.trace(R) - 1) / 2, -1, 1)))


def test_crop_keeps_geometry(source):
    # The crop's intrinsics must still project the box's true points onto its mask.
    r = render_box(BOX, POSE, source.camera)
    assert (r.mask == source.mask).mean() > 0.99
    both = r.mask & source.mask
    # depth is resampled with nearest neighbour (one source pixel ~ 2.7 crop pixels apart)
    err = np.abs(r.depth_m[both] - source.depth_m[both])
    assert np.median(err) < 5e-4 and err.max() < 3e-3


def test_correspondences_hit_same_surface_point(source):
    rng = np.random.default_rng(1)
    cfg = PairConfig(colour_jitter=False, tilt_deg=8.0)
    errs_px = []
    for _ in range(4):
        pair = make_pair(source, cfg, rng)
        # Ground truth: ray-cast the box where view B put it and read the surface point at uv_b.
        truth_b = render_box(BOX, pair.extras["T_b"] @ POSE, source.camera)
        src_px = pair.extras["source_px"]
        p_src = render_box(BOX, POSE, source.camera).object_points[src_px[:, 1], src_px[:, 0]]
        have = np.isfinite(p_src).all(1)
        assert have.mean() > 0.97
        # where the true render of B shows each tracked surface point (sub-pixel)
        T = pair.extras["T_b"] @ POSE
        X = p_src[have] @ T[:3, :3].T + T[:3, 3]
        cam = source.camera
        q = np.stack([cam.fx * X[:, 0] / X[:, 2] + cam.cx, cam.fy * X[:, 1] / X[:, 2] + cam.cy], 1)
        errs_px.append(np.linalg.norm(q - pair.uv_b[have], axis=1))
        # and that surface point is the one visible there (not hidden behind another face)
        ui, vi = np.round(pair.uv_b[have]).astype(int).T
        z_b = truth_b.depth_m[vi, ui]
        assert np.isfinite(z_b).mean() > 0.97
        # the depth seen there is the point's own (an occluding face would be centimetres off)
        assert np.quantile(np.abs(np.nan_to_num(z_b, nan=1.0) - X[:, 2]), 0.97) < 0.003
        # the warped image B shows the same colours as the true render on the object
        both = pair.mask_b & truth_b.mask
        diff = np.abs(pair.rgb_b[both].astype(int) - truth_b.rgb[both].astype(int)).mean()
        assert diff < 12, diff
    errs = np.concatenate(errs_px)
    assert len(errs) > 400
    assert np.median(errs) < 0.3
    assert errs.max() < 1.0


def test_kabsch_relative_transform_matches_truth(source):
    rng = np.random.default_rng(2)
    for _ in range(5):
        pair = make_pair(source, PairConfig(), rng)
        D = np.linalg.inv(pair.T_ab) @ pair.T_ab_kabsch
        assert _rot_deg(D[:3, :3]) < 1.0
        assert np.linalg.norm(D[:3, 3]) < 0.005
        # and the transform is a real motion (not identity), so the check has teeth
        assert _rot_deg(pair.T_ab[:3, :3]) > 0.5 or np.linalg.norm(pair.T_ab[:3, 3]) > 0.01


def test_pair_shapes_and_visibility(source):
    pair = make_pair(source, PairConfig(), np.random.default_rng(3))
    h, w = source.camera.height, source.camera.width
    assert pair.rgb_a.shape == (h, w, 3) and pair.rgb_a.dtype == np.uint8
    assert pair.uv_a.shape == pair.uv_b.shape and pair.uv_a.shape[1] == 2
    for uv, mask in ((pair.uv_a, pair.mask_a), (pair.uv_b, pair.mask_b)):
        assert uv[:, 0].min() >= 0 and uv[:, 0].max() <= w - 1 and uv[:, 1].max() <= h - 1
        ui, vi = np.round(uv).astype(int).T
        assert mask[vi, ui].all()
    # background replaced: pixels off the object differ from the flat grey of the render
    assert (pair.rgb_a[~pair.mask_a] != 128).any()


def test_pair_source_validation(source):
    with pytest.raises(ValueError, match="rgb"):
        PairSource(source.rgb[:, :-1], source.mask, source.depth_m, source.camera)
    with pytest.raises(ValueError, match="valid depth"):
        PairSource(source.rgb, source.mask, np.full(source.mask.shape, np.nan), source.camera)
    with pytest.raises(ValueError, match="scale_range"):
        PairConfig(scale_range=(1.2, 0.8))


def test_depth_holes_are_filled(source):
    depth = source.depth_m.copy()
    vs, us = np.nonzero(source.mask)
    depth[vs[::3], us[::3]] = np.nan
    s = PairSource(source.rgb, source.mask, depth, source.camera)
    assert np.isfinite(s.depth_m[source.mask]).all()
    assert np.nanmax(np.abs(s.depth_m - source.depth_m)) < 0.01


def test_backgrounds():
    rng = np.random.default_rng(0)
    imgs = [procedural_background(rng, 48, 64, k) for k in KINDS]
    for img in imgs:
        assert img.shape == (48, 64, 3) and img.dtype == np.uint8
        assert img.std() > 1.0
    with pytest.raises(ValueError, match="unknown background"):
        procedural_background(rng, 4, 4, "plasma")
    scene = np.zeros((100, 100, 3), np.uint8)
    scene[:, 50:] = 200
    bank = BackgroundBank([scene], procedural_fraction=0.0)
    out = bank.sample(rng, 30, 40)
    assert out.shape == (30, 40, 3)
    assert set(np.unique(out)) <= set(range(0, 201))
    with pytest.raises(ValueError, match="needs at least one"):
        BackgroundBank([], procedural_fraction=0.5)


def test_pairs_from_a_dataset_frame(tmp_path):
    """A frame written in the dataset format (uint16 mm depth, instance mask) is a pair source."""
    from grasp_pipeline.data.format import Frame, ObjectAnnotation, read_frame, write_frame
    from grasp_pipeline.perception.descriptors.sources import dataset_sources

    cam = preset("d435", 320, 240)
    r = render_box(BOX, POSE, cam)
    obj = ObjectAnnotation(
        3, "Motor", 13, (160.0, 120.0), None, POSE, None, None, int(r.mask.sum())
    )
    frame = Frame("f0", r.rgb, r.depth, (r.mask * 3).astype(np.uint16), cam, None, [obj])
    write_frame(tmp_path, frame)
    src = PairSource.from_frame(read_frame(tmp_path, "f0")).crop_around_object(128, 96)
    assert src.name == "Motor" and src.mask.sum() > 1000
    pair = make_pair(src, PairConfig(), np.random.default_rng(4))
    D = np.linalg.inv(pair.T_ab) @ pair.T_ab_kabsch
    assert _rot_deg(D[:3, :3]) < 1.0 and np.linalg.norm(D[:3, 3]) < 0.005  # mm-quantised depth
    assert dataset_sources(tmp_path, 1, 0, (64, 48))[0].rgb.shape == (48, 64, 3)
