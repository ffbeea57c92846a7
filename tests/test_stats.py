"""Paired tests over seeds: our wrappers against scipy, effect sizes and bootstrap intervals."""

import numpy as np
import pytest
from scipy.stats import permutation_test, wilcoxon

from grasp_pipeline.training.stats import (
    bootstrap_median_ci,
    compare_paired,
    holm,
    ks_pvalue,
    paired_permutation_pvalue,
    rank_biserial,
    wilcoxon_pvalue,
)

X = np.array([1.62, 1.58, 1.71, 1.55, 1.66, 1.60, 1.69, 1.57, 1.64, 1.61])
Y = np.array([1.70, 1.61, 1.69, 1.63, 1.75, 1.66, 1.68, 1.65, 1.72, 1.70])


def test_permutation_matches_scipy_exact():
    ours = paired_permutation_pvalue(X, Y)
    ref = permutation_test(
        (X, Y),
        lambda a, b, axis: np.mean(a - b, axis=axis),
        permutation_type="samples",
        alternative="two-sided",
        n_resamples=np.inf,
    ).pvalue
    assert ours == pytest.approx(ref, rel=1e-12)
    # 10 pairs: the smallest attainable two-sided p is 2 / 1024.
    assert paired_permutation_pvalue(X, X + 1.0) == pytest.approx(2 / 1024)


def test_wilcoxon_matches_scipy_and_rank_biserial_by_hand():
    assert wilcoxon_pvalue(X, Y) == pytest.approx(wilcoxon(X - Y).pvalue)
    assert wilcoxon_pvalue(X, Y) < 0.05
    # d = x - y: 8 negative, 2 positive (0.02 and 0.01, the two smallest |d|: ranks 2 and 1).
    # W+ = 3, W- = 52: r = (3 - 52) / 55.
    assert rank_biserial(X, Y) == pytest.approx(-49 / 55)
    assert wilcoxon_pvalue(X, X) == 1.0 and paired_permutation_pvalue(X, X) == 1.0


def test_bootstrap_interval_and_compare_paired():
    lo, hi = bootstrap_median_ci(X)
    assert lo <= np.median(X) <= hi and hi - lo < np.ptp(X)
    assert bootstrap_median_ci([]) != bootstrap_median_ci([])  # NaNs
    a = dict(enumerate(X))
    b = dict(enumerate(Y))
    b.pop(3)  # seed 3 missing for B: 9 pairs
    r = compare_paired(a, b)
    assert r["n_pairs"] == 9
    keep = [i for i in range(10) if i != 3]
    assert r["p_wilcoxon"] == pytest.approx(wilcoxon(X[keep] - Y[keep]).pvalue)
    assert r["median_diff"] == pytest.approx(np.median(X[keep] - Y[keep]))
    lo, hi = r["median_diff_ci95"]
    assert lo <= r["median_diff"] <= hi and lo < r["median_diff"] < 0
    assert r["p_ks"] == pytest.approx(ks_pvalue(X, np.delete(Y, 3)))
    empty = compare_paired({0: 1.0}, {1: 2.0})
    assert empty["n_pairs"] == 0 and np.isnan(empty["p_wilcoxon"])


def test_holm():
    adj = holm({"a": 0.01, "b": 0.04, "c": 0.03, "d": float("nan")})
    assert adj["a"] == pytest.approx(0.03)
    assert adj["c"] == pytest.approx(0.06)
    assert adj["b"] == pytest.approx(0.06)  # monotone: never below the previous one
    assert np.isnan(adj["d"])


def test_bad_pairs():
    with pytest.raises(ValueError, match="equal-length"):
        paired_permutation_pvalue([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="NaN"):
        wilcoxon_pvalue([1.0, float("nan")], [1.0, 2.0])
