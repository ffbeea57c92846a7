"""Held-out evaluation of descriptors on simulator views: true correspondences, chance levels,
crops, symmetric pose errors; the correspondence term; keypoint pose helpers."""

import numpy as np
import pytest
import torch

from grasp_pipeline.data.pairs import PairSource
from grasp_pipeline.perception.descriptors.correspondence import distribution_loss
from grasp_pipeline.perception.descriptors.keypoint_pose import masked_keypoints
from grasp_pipeline.training.descriptor_eval import (
    CHANCE_KINDS,
    PairSet,
    chance_predictions,
    crop_view,
    evaluate_pairs,
    mask_centre,
    render_object_view,
    rotation_error_deg,
    symmetries,
    true_correspondences,
)
from grasp_pipeline.training.pck import K_RANGE, best_matches, pck_curve


@pytest.fixture(scope="module")
def two_views():
    rng = np.random.default_rng(3)
    return [render_object_view("M20_100", rng) for _ in range(2)]


def test_true_correspondences_show_the_same_surface_point(two_views):
    a, b = two_views
    assert a.mask.sum() > 500 and b.mask.sum() > 500
    assert not np.allclose(a.pose, b.pose)  # a new pose, not the same view
    uv_a, uv_b = true_correspondences(a, b, 300, np.random.default_rng(0))
    assert len(uv_a) >= 100
    pa = a.object_points[uv_a[:, 1].astype(int), uv_a[:, 0].astype(int)]
    ib = np.round(uv_b).astype(int)
    pb = b.object_points[ib[:, 1], ib[:, 0]]
    err = np.linalg.norm(pa - pb, axis=1)
    # one pixel at ~0.5 m is ~0.8 mm; rounding to the pixel grid gives at most ~0.6 px
    assert np.median(err) < 0.0015 and np.percentile(err, 95) < 0.004


def test_crop_keeps_projection_and_oracle_descriptors_score_one(two_views):
    a, b = two_views
    size, scale = (128, 96), 0.6
    ca = crop_view(a, mask_centre(a.mask), scale, size)
    cb = crop_view(b, mask_centre(b.mask), scale, size)
    # a point of the object projects to the crop pixel where the crop shows it
    vs, us = np.nonzero(ca.mask & np.isfinite(ca.object_points[..., 0]))
    X = ca.object_points[vs, us] @ ca.pose[:3, :3].T + ca.pose[:3, 3]
    u = ca.camera.fx * X[:, 0] / X[:, 2] + ca.camera.cx
    assert np.median(np.abs(u - us)) < 0.8
    uv_a, uv_b = true_correspondences(ca, cb, 256, np.random.default_rng(1))
    assert len(uv_a) > 50

    def coords(v):  # perfect descriptors: the object-frame point of each pixel (cm)
        d = np.nan_to_num(v.object_points * 100.0, nan=1e3)
        return torch.as_tensor(d.transpose(2, 0, 1), dtype=torch.float32)

    pred = best_matches(coords(ca), coords(cb), uv_a)
    curve = pck_curve(pred, uv_b, K_RANGE)
    assert curve[2] > 0.9  # PCK@3 of perfect descriptors
    pairs = PairSet([ca], [cb], [uv_a], [uv_b])
    res = evaluate_pairs(None, pairs)
    # a random pixel on the object beats a random pixel of the image, and both are far below
    rp, ro = res["random_pixel"], res["random_on_object"]
    assert ro["pck10"] > rp["pck10"] and ro["auc"] > rp["auc"]
    assert ro["pck10"] < 0.4 and rp["pck3"] < 0.05
    assert set(CHANCE_KINDS) <= set(res)


def test_chance_predictions_stay_where_they_should():
    mask = np.zeros((20, 30), bool)
    mask[5:8, 10:12] = True
    rng = np.random.default_rng(0)
    on = chance_predictions("random_on_object", 500, mask, rng).astype(int)
    assert mask[on[:, 1], on[:, 0]].all()
    anywhere = chance_predictions("random_pixel", 2000, mask, rng)
    assert anywhere[:, 0].max() == 29 and anywhere[:, 1].max() == 19 and anywhere.min() == 0
    with pytest.raises(ValueError, match="unknown chance"):
        chance_predictions("corner", 3, mask, rng)


def test_symmetric_rotation_errors():
    from grasp_pipeline.objects import load_catalog

    cat = load_catalog()
    rz = np.array([[-1.0, 0, 0], [0, -1, 0], [0, 0, 1]])  # 180 deg about z
    box = symmetries(cat["Bearing_Box"])
    assert rotation_error_deg(np.eye(3), rz, box) < 1e-6
    assert rotation_error_deg(np.eye(3), rz) == pytest.approx(180.0)
    c, s = np.cos(0.7), np.sin(0.7)
    about_x = np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    assert rotation_error_deg(np.eye(3), about_x, symmetries(cat["Axis"])) < 0.6
    # a real error is still seen: 10 deg about z for the axis-symmetric cylinder
    c, s = np.cos(np.radians(10)), np.sin(np.radians(10))
    yaw = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    assert rotation_error_deg(np.eye(3), yaw, symmetries(cat["Axis"])) == pytest.approx(10, abs=0.6)


def test_distribution_loss_prefers_true_matches():
    torch.manual_seed(0)
    h, w, d = 8, 10, 4
    grid = torch.stack(torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij"), 0)
    desc = torch.cat([grid.float() * 2.0, torch.zeros(d - 2, h, w)], 0)[None]  # (1, D, H, W)
    uv = torch.tensor([[[1, 2], [5, 6], [8, 3]]], dtype=torch.float32)
    good = distribution_loss(desc, desc, uv, uv, sigma_px=1.0)
    bad = distribution_loss(desc, desc, uv, uv.flip(1), sigma_px=1.0)
    assert good < bad
    # hand check of the one-sided value for one anchor: -sum target * log p
    p = torch.log_softmax(-((desc[0].reshape(d, -1).T - desc[0, :, 2, 1]) ** 2).sum(-1), 0)
    g = ((torch.stack([grid[1], grid[0]], -1).reshape(-1, 2).float() - uv[0, 0]) ** 2).sum(-1)
    t = torch.softmax(-g / 2, 0)
    one = distribution_loss(desc, desc, uv[:, :1], uv[:, :1], sigma_px=1.0)
    assert float(one) == pytest.approx(float(-(t * p).sum()), rel=1e-5)
    x = desc.clone().requires_grad_(True)
    distribution_loss(x, x, uv, uv).backward()
    assert torch.isfinite(x.grad).all()
    with pytest.raises(ValueError, match="sigma_px"):
        distribution_loss(desc, desc, uv, uv, sigma_px=0)


def test_masked_keypoints_use_only_pixels_with_depth():
    prob = np.zeros((2, 4, 5))
    prob[0, 1, 1], prob[0, 3, 4] = 0.5, 0.5  # half its mass where depth is missing
    prob[1, 0, 0] = 1.0  # all of it where depth is missing
    valid = np.ones((4, 5), bool)
    valid[3, 4] = valid[0, 0] = False
    uv, mass = masked_keypoints(prob, valid)
    np.testing.assert_allclose(uv[0], [1, 1])
    assert mass[0] == pytest.approx(0.5) and mass[1] == 0 and np.isnan(uv[1]).all()


def test_pair_source_crop_follows_intrinsics():
    from grasp_pipeline.geometry.camera import preset
    from grasp_pipeline.perception.descriptors.procedural import TexturedBox, look_pose, render_box

    cam = preset("d435")
    r = render_box(TexturedBox((0.05, 0.04, 0.03), seed=2), look_pose(0.4, 0.3, 0.2, 0.5), cam)
    src = PairSource(r.rgb, r.mask, r.depth_m, cam)
    crop = src.crop(mask_centre(r.mask), 0.5, (96, 72))
    vs, us = np.nonzero(crop.mask)
    z = crop.depth_m[vs, us]
    X = np.stack(
        [(us - crop.camera.cx) / crop.camera.fx * z, (vs - crop.camera.cy) / crop.camera.fy * z, z],
        1,
    )
    # back into the full frame: the same 3-D point shows the object there too
    u = cam.fx * X[:, 0] / X[:, 2] + cam.cx
    v = cam.fy * X[:, 1] / X[:, 2] + cam.cy
    assert r.mask[np.round(v).astype(int), np.round(u).astype(int)].mean() > 0.97


def test_object_regions_find_the_part_on_the_surface(two_views):
    from grasp_pipeline.perception.descriptors.roi import object_regions

    for v in two_views:
        cands = [r.centre for r in object_regions(v.depth_m, v.camera)]
        assert cands, "no candidate on a frame with one part on the surface"
        cu, cv = mask_centre(v.mask)
        assert np.hypot(cands[0][0] - cu, cands[0][1] - cv) < 15  # pixels at 640x480
    flat = np.full((48, 64), 0.5, np.float32)  # a bare plane: nothing stands out
    from grasp_pipeline.geometry.camera import preset

    assert object_regions(flat, preset("d435", 64, 48)) == []
