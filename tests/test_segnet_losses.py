"""Loss functions of the segmentation network against hand-computed values."""

import math

import pytest
import torch

from grasp_pipeline.perception.segnet.losses import (
    centroid_distance_cm,
    centroid_distance_px,
    cross_entropy_error,
    pickup_depth,
    pickup_error,
    pickup_rate,
    segnet_loss_terms,
    soft_iou_error,
    weighted_centroid,
)


def test_soft_iou_of_known_maps():
    p = torch.zeros(1, 4, 4)
    y = torch.zeros(1, 4, 4)
    y[0, :2, :2] = 1  # 4 mask pixels
    p[0, :2, :] = 0.5  # 8 pixels at 0.5, 2x2 of them on the mask
    # inter = 4 * 0.5 = 2; union = sum p + sum y - inter = 4 + 4 - 2 = 6
    assert soft_iou_error(p, y).item() == pytest.approx(1 - 2 / 6, abs=1e-6)
    assert soft_iou_error(y, y).item() == pytest.approx(0.0, abs=1e-6)
    assert soft_iou_error(1 - y, y).item() == pytest.approx(1.0, abs=1e-6)


def test_weighted_centroid_of_known_activation():
    p = torch.zeros(2, 5, 6)
    p[0, 1, 2] = 1.0
    p[0, 3, 4] = 3.0  # centroid u = (2 + 12) / 4 = 3.5, v = (1 + 9) / 4 = 2.5
    c = weighted_centroid(p)
    assert c[0].tolist() == pytest.approx([3.5, 2.5])
    assert c[1].tolist() == pytest.approx([2.5, 2.0])  # empty map -> image centre
    d = centroid_distance_px(p[:1], torch.tensor([[0.5, -1.5]]))
    assert d.item() == pytest.approx(5.0, abs=1e-5)  # 3-4-5 triangle


def test_distance_cm_and_pickup_error():
    p = torch.zeros(1, 10, 10)
    p[0, 5, 8] = 1.0  # centroid (8, 5)
    uv = torch.tensor([[2.0, 5.0]])  # 6 px left
    intr = torch.tensor([[600.0, 300.0, 5.0, 5.0]])
    d = centroid_distance_cm(p, uv, torch.tensor([0.5]), intr)
    assert d.item() == pytest.approx(100 * 0.5 * 6 / 600, rel=1e-5)  # 0.5 cm
    # Paper: 1 cm -> 50 % failures, 3 cm -> 90 %.
    assert pickup_error(torch.tensor([0.0, 1.0, 3.0])).tolist() == pytest.approx([0, 0.5, 0.9])
    assert pickup_rate(torch.tensor([1.0])).item() == pytest.approx(0.5)


def test_pickup_depth_falls_back_to_mask_median():
    depth = torch.full((1, 4, 4), 0.8)
    mask = torch.zeros(1, 4, 4)
    mask[0, 1:3, 1:3] = 1
    depth[0, 1, 1], depth[0, 1, 2], depth[0, 2, 1], depth[0, 2, 2] = float("nan"), 0.3, 0.4, 0.5
    z = pickup_depth(depth, torch.tensor([[1.0, 1.0]]), mask)
    assert z.item() == pytest.approx(0.4)
    depth[0, 1:3, 1:3] = float("nan")
    assert math.isnan(pickup_depth(depth, torch.tensor([[1.0, 1.0]]), mask).item())


def test_cross_entropy_hand_value():
    logits = torch.zeros(1, 2, 2)
    mask = torch.ones(1, 2, 2)
    assert cross_entropy_error(logits, mask).item() == pytest.approx(math.log(2))


def test_gradcheck_float64():
    torch.manual_seed(0)
    q = torch.randn(2, 5, 6, dtype=torch.float64, requires_grad=True)
    mask = (torch.rand(2, 5, 6, dtype=torch.float64) > 0.5).double()
    uv = torch.tensor([[1.0, 2.0], [4.0, 3.0]], dtype=torch.float64)
    intr = torch.tensor([[50.0, 50.0, 3.0, 2.0]] * 2, dtype=torch.float64)
    z = torch.tensor([0.5, 0.7], dtype=torch.float64)
    for fn in (
        lambda x: soft_iou_error(torch.sigmoid(x), mask),
        lambda x: centroid_distance_px(torch.sigmoid(x), uv),
        lambda x: centroid_distance_cm(torch.sigmoid(x), uv, z, intr),
        lambda x: pickup_error(centroid_distance_cm(torch.sigmoid(x), uv, z, intr)),
        lambda x: cross_entropy_error(x, mask),
    ):
        assert torch.autograd.gradcheck(fn, (q,), eps=1e-6, atol=1e-5)


def test_segnet_loss_terms_queries_the_right_channel():
    b, c, h, w = 2, 3, 6, 8
    logits = torch.full((b, c, h, w), -20.0)
    masks = torch.zeros(b, c, h, w)
    masks[0, 2, 1:3, 1:3] = 1
    masks[1, 0, 2:4, 4:6] = 1
    logits[0, 2][masks[0, 2] > 0] = 20.0  # perfect on the queried channel
    logits[1, 0][masks[1, 0] > 0] = 20.0
    pickup = torch.full((b, c, 2), float("nan"))
    pickup[0, 2] = torch.tensor([1.5, 1.5])
    pickup[1, 0] = torch.tensor([4.5, 2.5])
    batch = {
        "masks": masks,
        "pickup": pickup,
        "depth_m": torch.full((b, h, w), 0.5),
        "intrinsics": torch.tensor([[50.0, 50.0, 3.5, 2.5]] * b),
    }
    class_logits = torch.tensor([[0.0, 0.0, 10.0], [10.0, 0.0, 0.0]])
    t = segnet_loss_terms(logits, class_logits, batch, torch.tensor([2, 0]))
    assert t["iou"].item() == pytest.approx(0.0, abs=1e-5)
    assert t["distance_px"].item() == pytest.approx(0.0, abs=1e-4)
    assert t["pickup_rate"].item() == pytest.approx(1.0, abs=1e-6)
    assert t["classification"].item() < 1e-3
    t_wrong = segnet_loss_terms(logits, class_logits, batch, torch.tensor([1, 1]))
    assert t_wrong["iou"].item() > 0.99
