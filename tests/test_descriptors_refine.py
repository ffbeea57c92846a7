"""Depth refinement of descriptor poses (perception/descriptors/refine.py) and the regions it
aligns on (roi.py), on simulator frames of a part the refinement has to turn end-for-end."""

import numpy as np
import pytest

from grasp_pipeline.geometry.camera import preset
from grasp_pipeline.objects import load_catalog
from grasp_pipeline.perception.descriptors.refine import (
    lift_pixels,
    model_cloud,
    refine_pose,
    turn_about,
    upright,
)
from grasp_pipeline.perception.descriptors.roi import object_regions
from grasp_pipeline.training.descriptor_eval import (
    enrollment_frame,
    render_object_view,
    rotation_error_deg,
    symmetries,
    translation_error_m,
)


def _axis_turn(axis, angle):
    from scipy.spatial.transform import Rotation

    return Rotation.from_rotvec(axis / np.linalg.norm(axis) * angle).as_matrix()


def test_turn_about_recovers_a_turn_and_a_shift():
    rng = np.random.default_rng(0)
    src = rng.normal(size=(200, 3))
    axis = np.array([0.2, -0.4, -0.9])
    R = _axis_turn(axis, 0.7)
    dst = (src - src.mean(0)) @ R.T + src.mean(0) + [0.01, -0.02, 0.03]
    M = turn_about(axis, src, dst)
    assert np.allclose(src @ M[:3, :3].T + M[:3, 3], dst, atol=1e-9)


def test_upright_turns_the_object_up_onto_the_normal():
    T = np.eye(4)
    T[:3, :3] = _axis_turn(np.array([1.0, 2.0, 0.5]), 1.1)
    up_obj, up = np.array([0.0, 0.0, 1.0]), np.array([0.0, -0.4, -0.9])
    U = upright(T, up_obj, up)
    assert np.allclose(U[:3, :3] @ up_obj, up / np.linalg.norm(up), atol=1e-9)
    assert np.allclose(U[:3, 3], T[:3, 3])
    un = up / np.linalg.norm(up)
    down_obj = -T[:3, :3].T @ un  # the object's "up" points away from the normal: a half turn
    assert np.allclose(upright(T, down_obj, up)[:3, :3] @ down_obj, un, atol=1e-9)


@pytest.fixture(scope="module")
def enrolled_and_new():
    src, pose = enrollment_frame("M20_100")
    views = [render_object_view("M20_100", np.random.default_rng(s)) for s in (21, 22)]
    return src, pose, views


def test_refinement_recovers_a_part_turned_end_for_end(enrolled_and_new):
    src, pose, views = enrolled_and_new
    assert src.support_normal is not None  # measured on the whole enrolment frame
    model = model_cloud(src.depth_m, src.mask, src.camera, pose)
    up_obj = pose[:3, :3].T @ src.support_normal
    syms = symmetries(load_catalog()["M20_100"])
    for v in views:
        regions = object_regions(v.depth_m, v.camera)
        assert regions and (regions[0].mask & v.mask).sum() > 0.9 * regions[0].mask.sum()
        observed = lift_pixels(v.depth_m, v.camera, regions[0].mask, 1500)
        # a network pose off by 150 deg about the surface normal and 8 mm to the side
        start = v.pose.copy()
        R = _axis_turn(regions[0].normal, np.radians(150))
        start[:3, :3] = R @ start[:3, :3]
        start[:3, 3] += [0.008, 0.0, 0.0]
        r = refine_pose(
            model, observed, start, v.depth_m, v.camera, regions[0].normal, up_object=up_obj
        )
        assert rotation_error_deg(v.pose[:3, :3], r.pose[:3, :3], syms) < 5.0
        assert translation_error_m(v.pose, r.pose) < 0.005
        assert r.start != 0  # a turned start won, not the given pose
        # from the given start alone the alignment stays end-for-end
        one = refine_pose(model, observed, start, v.depth_m, v.camera, regions[0].normal, turns=1)
        assert rotation_error_deg(v.pose[:3, :3], one.pose[:3, :3], syms) > 30.0
        assert one.score < r.score


def test_regions_join_a_part_seen_in_pieces():
    cam = preset("d435", 160, 120)
    v, u = np.mgrid[0:120, 0:160]
    depth = np.full((120, 160), 0.6, np.float32)
    part = (abs(u - 80) < 25) & (abs(v - 60) < 12)
    depth[part] = 0.58  # 2 cm out of the surface
    depth[part & (u % 8 < 2)] = np.nan  # dropouts cut it into slices
    regions = object_regions(depth, cam, area_range=(700, 2000))
    assert len(regions) == 1
    assert regions[0].mask.sum() == int((part & np.isfinite(depth)).sum())
    assert abs(regions[0].centre[0] - 80) < 2 and abs(regions[0].centre[1] - 60) < 2
    assert np.allclose(regions[0].normal, [0, 0, -1], atol=1e-6)
    # without joining, each slice is its own region, too small for the part
    assert object_regions(depth, cam, area_range=(700, 2000), join_px=0) == []


def test_refinement_refuses_too_few_points(enrolled_and_new):
    src, pose, views = enrolled_and_new
    model = model_cloud(src.depth_m, src.mask, src.camera, pose)
    with pytest.raises(ValueError, match="measured part points"):
        refine_pose(model, np.zeros((3, 3)), pose, views[0].depth_m, views[0].camera)
    with pytest.raises(ValueError, match="enrolment view"):
        model_cloud(src.depth_m, np.zeros_like(src.mask), src.camera, pose)


def test_shipped_enrolment_database_finds_each_part_once_and_aligned():
    """The committed enrolment database (four parts, each its own model) through
    Detector.detect on new simulator frames: one detection per frame, the right part, its
    refined pose within 5 deg / 8 mm of the truth."""
    from pathlib import Path

    from grasp_pipeline.perception.descriptors.detector import DescriptorDetector

    db = Path(__file__).resolve().parents[1] / "models/descriptors/enrolled/database.json"
    det = DescriptorDetector.from_database(db)
    assert {"M20_100", "Axis2", "Motor"} <= set(det.labels)
    catalog = load_catalog()
    for name, seed in (("M20_100", 77), ("Axis2", 78)):
        v = render_object_view(name, np.random.default_rng(seed))
        dets = det.detect(v.rgb, v.depth, v.camera)
        assert [d.label for d in dets] == [name]
        d = dets[0]
        assert d.extras["refinement"]["score"] >= det.min_alignment
        assert rotation_error_deg(v.pose[:3, :3], d.pose[:3, :3], symmetries(catalog[name])) < 5
        # single views: a cylinder's surface slides along its axis (the median is ~2 mm)
        assert translation_error_m(v.pose, d.pose) < 0.008
        # the network's own pose is kept next to the refined one
        assert d.extras["pose_network"].shape == (4, 4)
