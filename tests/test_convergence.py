"""Convergence point by the shrinking acceptance window, and KS tests."""

import numpy as np
import pytest
from scipy.stats import ks_2samp

from grasp_pipeline.training.convergence import check_convergence, convergence_point, ks_pvalues


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


def _steps(n=31, every=50):
    return np.arange(n) * every


def test_clean_curve_has_no_flags():
    rng = np.random.default_rng(0)
    i = np.arange(31)
    e = 1.2 + 0.8 * np.exp(-i / 4) + rng.normal(0, 0.01, 31)
    chk = check_convergence(_steps(), e, total_steps=1500)
    assert chk.ok and chk.flags == ()
    assert chk.convergence.step <= 1200  # where the decay falls below the noise (~i = 20)
    assert chk.tail_error == pytest.approx(1.2, abs=0.01)  # mean over steps >= 1000
    assert abs(chk.tail_change) < 0.02


def test_stuck_curve_is_flagged():
    rng = np.random.default_rng(1)
    e = 1.95 + rng.normal(0, 0.005, 31)  # never leaves the untrained network's error
    chk = check_convergence(_steps(), e, total_steps=1500)
    assert "stuck" in chk.flags and not chk.ok
    # A curve that drops by 3 % of its start only is stuck too (default margin 5 %).
    e2 = np.r_[2.0, np.full(30, 1.94)]
    assert "stuck" in check_convergence(_steps(), e2).flags
    assert "stuck" not in check_convergence(_steps(), e2, stuck_margin=0.02).flags


def test_late_convergence_is_flagged():
    e = np.r_[2.0 - 0.03 * np.arange(29), [1.16, 1.16]]  # falls until step 1400
    chk = check_convergence(_steps(), e, total_steps=1500)
    assert chk.convergence.step >= 1400
    assert chk.flags == ("late",)
    assert chk.tail_change > 0.1  # still falling over the last third
    # Judged against the configured training length, not the last logged step.
    assert "late" not in check_convergence(_steps(), e, total_steps=3000).flags


def test_collapse_and_recover_is_flagged():
    rng = np.random.default_rng(2)
    e = np.r_[
        np.linspace(2.0, 1.2, 7),  # learns by step 300
        np.full(3, 1.2),
        np.full(7, 1.9),  # collapses back to nearly the start (steps 500-800)
        np.linspace(1.9, 1.2, 4),  # and recovers
        np.full(10, 1.2),
    ] + rng.normal(0, 0.01, 31)
    chk = check_convergence(_steps(), e, total_steps=1500)
    # The shrinking window, widened by the collapse, accepts a point before it...
    assert chk.convergence.step <= 300
    # ...which the relapse flag catches.
    assert "relapse" in chk.flags and not chk.ok


def test_flag_settings_are_checked():
    with pytest.raises(ValueError, match="late_fraction"):
        check_convergence([0, 1, 2], [1.0, 0.5, 0.5], late_fraction=1.5)


def test_long_collapse_and_single_spike():
    # A collapse longer than the recovered part (the shape that reported step 100 before): the
    # spread after the convergence point is dominated by the collapse, the last third is not.
    e = np.r_[1.95, 1.94, 1.83, 1.92, np.full(9, 1.95), np.linspace(1.80, 1.62, 9), [1.62] * 9]
    e = e + np.random.default_rng(3).normal(0, 0.01, e.size)
    chk = check_convergence(_steps(e.size), e, total_steps=1500)
    assert chk.convergence.step <= 150 and "relapse" in chk.flags
    # One evaluation off the curve is noise, not a relapse.
    spike = np.r_[np.linspace(2.0, 1.6, 8), np.full(23, 1.6)]
    spike[20] = 1.85
    assert "relapse" not in check_convergence(_steps(), spike, total_steps=1500).flags
    assert "relapse" in check_convergence(_steps(), spike, relapse_points=1).flags
