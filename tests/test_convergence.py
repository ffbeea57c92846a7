"""Convergence point by the shrinking acceptance window, and KS tests."""

import numpy as np
import pytest
from scipy.stats import ks_2samp

from grasp_pipeline.training.convergence import convergence_point, ks_pvalues


def test_hand_computed_knee():
    e = [1.0, 0.6] + [0.2] * 8
    # mean 0.32, std 0.256 -> window [0.192, 0.448]: 1.0 and 0.6 rejected; the rest is constant.
    c = convergence_point(np.arange(10) * 500, e)
    assert (c.index, c.step, c.mean_error) == (2, 1000, pytest.approx(0.2))


def test_noisy_exponential_knee():
    rng = np.random.default_rng(0)
    steps = np.arange(200) * 500
    knee = 60
    e = 0.3 + np.where(np.arange(200) < knee, 0.7 * (1 - np.arange(200) / knee), 0.0)
    e = e + rng.normal(0, 0.01, 200)
    c = convergence_point(steps, e)
    assert knee - 5 <= c.index <= knee + 15
    assert c.mean_error == pytest.approx(0.3, abs=0.01)
    assert c.std_error == pytest.approx(0.01, abs=0.004)


def test_bad_curves():
    with pytest.raises(ValueError, match="diverged"):
        convergence_point([0, 1], [0.5, float("nan")])
    with pytest.raises(ValueError, match="equal-length"):
        convergence_point([0, 1, 2], [0.5, 0.4])


def test_ks_pvalues_match_scipy():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 1, 20), rng.normal(1, 1, 20)
    p = ks_pvalues({"a": a, "b": b})
    assert p["a"]["b"] == pytest.approx(ks_2samp(a, b).pvalue)
    assert p["b"]["a"] == pytest.approx(p["a"]["b"])
    assert p["a"]["b"] < 0.05
