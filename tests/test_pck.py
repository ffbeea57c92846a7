"""PCK@k (standard definition) and its AUC over k = 1..100."""

import numpy as np
import pytest
import torch

from grasp_pipeline.training.pck import K_RANGE, auc, best_matches, pck_curve


def test_perfect_predictor_is_one():
    rng = np.random.default_rng(0)
    true = rng.uniform(0, 100, size=(256, 2))
    curve = pck_curve(true.copy(), true)
    assert curve.shape == (100,)
    assert np.all(curve == 1.0)
    assert auc(curve) == 1.0


@pytest.mark.parametrize("shift", [1, 3, 7.5, 40])
def test_shifted_predictor(shift):
    rng = np.random.default_rng(1)
    true = rng.uniform(0, 100, size=(64, 2))
    direction = rng.normal(size=(64, 2))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    curve = pck_curve(true + shift * direction, true)
    ks = K_RANGE
    assert np.all(curve[ks < shift - 1e-9] == 0.0)
    assert np.all(curve[ks >= shift + 1e-9] == 1.0)
    # AUC = fraction of k in 1..100 with k >= shift
    assert auc(curve) == pytest.approx(np.mean(ks >= shift), abs=0.011)


def test_half_right():
    true = np.zeros((4, 2))
    pred = np.array([[0, 0], [0, 0], [10, 0], [0, 50]], float)
    curve = pck_curve(pred, true)
    assert curve[0] == 0.5  # k = 1
    assert curve[9] == 0.75  # k = 10
    assert curve[49] == 1.0  # k = 50
    assert auc(curve) == pytest.approx((9 * 0.5 + 40 * 0.75 + 51 * 1.0) / 100)


def test_best_matches_on_unique_descriptors():
    # descriptors that encode the pixel position: B is A shifted by (3, -2) pixels
    h, w = 20, 30
    v, u = torch.meshgrid(
        torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij"
    )
    desc_a = torch.stack([u, v, u * v / 10])
    desc_b = torch.stack([u - 3, v + 2, (u - 3) * (v + 2) / 10])
    uv_a = np.array([[5, 5], [10, 3], [20, 12]], float)
    truth = uv_a + np.array([3.0, -2.0])
    pred = best_matches(desc_a, desc_b, uv_a)
    np.testing.assert_array_equal(pred, truth)
    assert auc(pck_curve(pred, truth)) == 1.0


def test_bad_input():
    with pytest.raises(ValueError, match=r"\(M, 2\)"):
        pck_curve(np.zeros((3, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="at least one"):
        pck_curve(np.zeros((0, 2)), np.zeros((0, 2)))
    with pytest.raises(ValueError, match="D, H, W"):
        best_matches(torch.zeros(3, 4, 4), torch.zeros(2, 4, 4), np.zeros((1, 2)))
