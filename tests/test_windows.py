"""Turned windows (geometry.windows): exact intrinsics and frame, the inverse map, a mask's own
direction; canonical pairs and crops that use them."""

import cv2
import numpy as np
import pytest

from grasp_pipeline.geometry.camera import preset
from grasp_pipeline.geometry.windows import (
    canonical_frame,
    to_image,
    window_affine,
    window_camera,
    window_frame,
    window_turn,
)


@pytest.mark.parametrize("angle", [0.0, 0.7, -2.5, np.pi])
def test_window_camera_sees_what_the_turned_window_shows(angle):
    cam = preset("d435")
    rng = np.random.default_rng(0)
    X = np.stack(
        [rng.uniform(-0.1, 0.1, 50), rng.uniform(-0.1, 0.1, 50), rng.uniform(0.4, 0.7, 50)], 1
    )
    uv = np.stack([cam.fx * X[:, 0] / X[:, 2] + cam.cx, cam.fy * X[:, 1] / X[:, 2] + cam.cy], 1)
    centre, scale, size = (350.0, 200.0), 0.6, (128, 96)
    M = window_affine(centre, scale, size, angle)
    in_window = uv @ M[:, :2].T + M[:, 2]
    wc = window_camera(cam, centre, scale, size, angle)
    Xw = X @ window_turn(angle).T
    proj = np.stack([wc.fx * Xw[:, 0] / Xw[:, 2] + wc.cx, wc.fy * Xw[:, 1] / Xw[:, 2] + wc.cy], 1)
    np.testing.assert_allclose(proj, in_window, atol=1e-9)
    np.testing.assert_allclose(to_image(M, in_window), uv, atol=1e-9)
    # the centre lands in the window's middle
    np.testing.assert_allclose(M[:, :2] @ centre + M[:, 2], [63.5, 47.5], atol=1e-9)


def _bolt_mask(angle: float, size=(240, 320)) -> np.ndarray:
    """A bolt's silhouette: a long shaft with a wide head at one end, turned by ``angle``."""
    m = np.zeros(size, np.uint8)
    c, s = np.cos(angle), np.sin(angle)
    R = np.array([[c, -s], [s, c]])
    shaft = np.array([[-60, -8], [60, -8], [60, 8], [-60, 8]], float)
    head = np.array([[60, -20], [80, -20], [80, 20], [60, 20]], float)
    for poly in (shaft, head):
        pts = poly @ R.T + [160, 120]
        cv2.fillPoly(m, [np.round(pts).astype(np.int32)], 1)
    return m > 0


@pytest.mark.parametrize("angle", [0.0, 0.5, 2.0, -1.2, 3.0])
def test_canonical_frame_follows_the_part_and_points_to_its_tail(angle):
    got = canonical_frame(_bolt_mask(angle))[1]
    # the head (at +x before the turn) pulls the centroid to it: the long tail, the shaft's
    # tip, lies on the other side, and the direction points there
    diff = np.angle(np.exp(1j * (got - angle - np.pi)))
    assert abs(diff) < np.deg2rad(2), np.degrees(diff)
    with pytest.raises(ValueError, match="empty"):
        canonical_frame(np.zeros((10, 10), bool))
    # where windows are cut: the bounding box's centre unturned, or the mask's own frame
    mask = _bolt_mask(angle)
    vs, us = np.nonzero(mask)
    box = ((us.min() + us.max()) / 2, (vs.min() + vs.max()) / 2)
    assert window_frame(mask, canonical=False) == (box, 0.0)
    assert window_frame(mask, canonical=True) == canonical_frame(mask)
    with pytest.raises(ValueError, match="empty"):
        window_frame(np.zeros((10, 10), bool), canonical=False)


def test_canonical_pairs_show_the_part_the_same_way_up():
    from grasp_pipeline.data.pairs import PairConfig, make_pair
    from grasp_pipeline.training.descriptor_eval import enrollment_frame

    view, _ = enrollment_frame("M20_100")
    centre, angle = canonical_frame(view.mask)
    src = view.crop(centre, 0.5, (128, 96), angle)
    (cu, cv), turned = canonical_frame(src.mask)
    assert abs(turned) < np.deg2rad(5) and abs(cu - 63.5) < 1.5 and abs(cv - 47.5) < 1.5
    rng = np.random.default_rng(0)
    turned, plain = [], []
    for canonical, out in ((True, turned), (False, plain)):
        cfg = PairConfig(rotation_deg=180, tilt_deg=20, canonical=canonical)
        for _ in range(4):
            p = make_pair(src, cfg, rng)
            out += [canonical_frame(p.mask_a)[1], canonical_frame(p.mask_b)[1]]
    assert np.max(np.abs(turned)) < np.deg2rad(8), np.degrees(turned)
    assert np.max(np.abs(plain)) > np.deg2rad(30)  # without it, views keep their random turn


def test_turned_crops_keep_true_correspondences():
    from grasp_pipeline.training.descriptor_eval import (
        SAME_PIXEL,
        PairSet,
        crop_view,
        evaluate_pairs,
        render_object_view,
        true_correspondences,
    )

    rng = np.random.default_rng(3)
    a, b = (render_object_view("M20_100", rng) for _ in range(2))
    crops = []
    for v in (a, b):
        centre, angle = canonical_frame(v.mask)
        crops.append(crop_view(v, centre, 0.6, (128, 96), angle))
    ca, cb = crops
    uv_a, uv_b = true_correspondences(ca, cb, 256, np.random.default_rng(1))
    assert len(uv_a) > 50
    pa = ca.object_points[uv_a[:, 1].astype(int), uv_a[:, 0].astype(int)]
    ib = np.round(uv_b).astype(int)
    err = np.linalg.norm(pa - cb.object_points[ib[:, 1], ib[:, 0]], axis=1)
    assert np.median(err) < 0.0025
    # both windows show the bolt the same way up: the same window pixel is close to its match
    res = evaluate_pairs(None, PairSet([ca], [cb], [uv_a], [uv_b]))
    assert res[SAME_PIXEL]["pck10"] > 2 * res["random_on_object"]["pck10"]


def test_enrollment_window_turns_the_pose_with_the_window():
    from grasp_pipeline.perception.descriptors.enroll import enrollment_window
    from grasp_pipeline.training.descriptor_eval import enrollment_frame

    view, pose = enrollment_frame("M20_100")

    def object_points(src, T):  # the mask's measured points in the object frame
        vs, us = np.nonzero(src.mask & np.isfinite(src.depth_m))
        z = src.depth_m[vs, us]
        c = src.camera
        X = np.stack([(us - c.cx) / c.fx * z, (vs - c.cy) / c.fy * z, z], 1)
        return (X - T[:3, 3]) @ T[:3, :3]

    whole = object_points(view, pose)
    for canonical in (False, True):
        crop, _, angle, pose_w = enrollment_window(view, (128, 96), canonical, pose)
        assert (abs(angle) > 0.1) == canonical  # the part does not lie along +u in this frame
        pts = object_points(crop, pose_w)
        # the window shows the same part at the same place in its own frame
        np.testing.assert_allclose(pts.mean(0), whole.mean(0), atol=0.002)
        assert abs(np.ptp(pts[:, 0]) - np.ptp(whole[:, 0])) < 0.004
        if canonical:
            assert crop.support_normal is not None
            np.testing.assert_allclose(
                crop.support_normal, window_turn(angle) @ view.support_normal, atol=1e-9
            )


def test_registered_part_keeps_the_turned_support_normal():
    # every caller of register_enrolled (enrolment, the descriptor benchmark) gets the normal the
    # detector's refinement needs to keep the part resting
    from grasp_pipeline.perception.descriptors.config import DescriptorNetConfig
    from grasp_pipeline.perception.descriptors.enroll import enrollment_window, register_enrolled
    from grasp_pipeline.perception.descriptors.model import DescriptorNet
    from grasp_pipeline.training.descriptor_eval import enrollment_frame

    view, pose = enrollment_frame("M20_100")
    crop, scale, angle, pose_w = enrollment_window(view, (64, 48), True, pose)
    net = DescriptorNet(DescriptorNetConfig(descriptor_dim=8, num_keypoints=8, base_width=8))
    entry = register_enrolled(net.eval(), crop, "M20_100", pose_w, scale, (64, 48), canonical=True)
    n = np.asarray(entry.meta["support_normal_camera"])
    np.testing.assert_allclose(n, window_turn(angle) @ view.support_normal, atol=1e-9)
    assert entry.meta["canonical"] is True
