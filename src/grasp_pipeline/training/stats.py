"""Paired significance tests, effect sizes and bootstrap intervals for the weighting experiment.

Every method of the experiment is trained with the same seeds, and a seed fixes the network's
initial weights and the batch order; two methods' runs with the same seed therefore form a pair.
The paper's two-sample Kolmogorov-Smirnov test ignores that pairing; these tests use it:

- Wilcoxon signed-rank test on the paired differences (``scipy.stats.wilcoxon``, exact
  distribution for small n without ties, two-sided);
- exact paired permutation (sign-flip) test: under H0 each difference d_j is equally likely to
  carry either sign, the statistic is |mean(d)| and the p-value the share of the 2^n sign patterns
  whose |mean| reaches the observed one (enumerated for n <= ``EXACT_MAX_PAIRS``, else sampled);
- effect sizes: median paired difference (units of the compared quantity) with a percentile
  bootstrap 95 % interval, and the matched-pairs rank-biserial correlation
  r = (W+ - W-) / (W+ + W-) in [-1, 1] (W+/W- the rank sums of positive/negative differences,
  zero differences dropped), positive when the first method's values are larger.

The smallest two-sided p-value of both exact paired tests is 2 / 2^n (0.0020 for 10 pairs); the
two-sample KS test on 5 vs 5 runs cannot go below 0.0079.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import product

import numpy as np

EXACT_MAX_PAIRS = 16  # 65,536 sign patterns; above that the permutation test samples
_REL_TOL = 1e-12  # statistics equal within this relative tolerance count as "at least as extreme"


def _pairs(x: Sequence[float], y: Sequence[float]) -> np.ndarray:
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired samples must be equal-length 1-D, got {a.shape} and {b.shape}")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("paired samples contain NaN/inf; drop those pairs first")
    return a - b


def paired_permutation_pvalue(
    x: Sequence[float], y: Sequence[float], n_resamples: int = 100_000, seed: int = 0
) -> float:
    """Two-sided paired permutation (sign-flip) p-value of mean(x - y) = 0.

    Exact for n <= :data:`EXACT_MAX_PAIRS` pairs (all 2^n sign patterns, the observed one
    included); otherwise ``n_resamples`` random patterns plus the observed one. Returns 1.0 when
    there are no pairs or every difference is 0.
    """
    d = _pairs(x, y)
    if d.size == 0 or not np.any(d):
        return 1.0
    observed = abs(d.mean())
    if d.size <= EXACT_MAX_PAIRS:
        signs = np.array(list(product((1.0, -1.0), repeat=d.size)))  # (2^n, n)
        hits, total = 0, 0
    else:
        rng = np.random.default_rng(seed)
        signs = rng.choice((1.0, -1.0), size=(n_resamples, d.size))
        hits, total = 1, 1  # the observed pattern counts once
    stats = np.abs(signs @ d) / d.size
    hits += int(np.sum(stats >= observed * (1 - _REL_TOL)))
    total += stats.size
    return hits / total


def wilcoxon_pvalue(x: Sequence[float], y: Sequence[float]) -> float:
    """Two-sided Wilcoxon signed-rank p-value of the paired differences x - y
    (``scipy.stats.wilcoxon`` defaults: zero differences dropped, exact for small n without ties).
    1.0 when there are no pairs or every difference is 0."""
    from scipy.stats import wilcoxon

    d = _pairs(x, y)
    if d.size == 0 or not np.any(d):
        return 1.0
    return float(wilcoxon(d).pvalue)


def rank_biserial(x: Sequence[float], y: Sequence[float]) -> float:
    """Matched-pairs rank-biserial correlation of x - y (Kerby's simple difference formula);
    NaN when every difference is 0."""
    from scipy.stats import rankdata

    d = _pairs(x, y)
    d = d[d != 0]
    if d.size == 0:
        return float("nan")
    r = rankdata(np.abs(d))
    w_plus, w_minus = r[d > 0].sum(), r[d < 0].sum()
    return float((w_plus - w_minus) / (w_plus + w_minus))


def bootstrap_median_ci(
    values: Sequence[float], level: float = 0.95, n_resamples: int = 10_000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the median (resampling ``values`` with replacement).
    (NaN, NaN) for an empty sample; a single value gives a zero-width interval."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    meds = np.median(rng.choice(v, size=(n_resamples, v.size), replace=True), axis=1)
    alpha = (1 - level) / 2
    return float(np.quantile(meds, alpha)), float(np.quantile(meds, 1 - alpha))


def ks_pvalue(x: Sequence[float], y: Sequence[float]) -> float:
    """Two-sample Kolmogorov-Smirnov p-value (the paper's test); NaN if a sample is empty."""
    from scipy.stats import ks_2samp

    a = np.asarray([v for v in x if np.isfinite(v)], dtype=float)
    b = np.asarray([v for v in y if np.isfinite(v)], dtype=float)
    return float(ks_2samp(a, b).pvalue) if a.size and b.size else float("nan")


def compare_paired(
    a: Mapping[int, float], b: Mapping[int, float], seed: int = 0
) -> dict[str, float | int | list[float]]:
    """Compare method A with method B on values keyed by seed.

    Paired statistics use the seeds present (and finite) in both; the KS test uses every finite
    value of each. Returns ``n_pairs``, ``p_wilcoxon``, ``p_permutation``, ``p_ks``,
    ``median_diff`` (median of A - B over pairs), ``median_diff_ci95`` and ``rank_biserial``
    (positive: A larger).
    """
    common = sorted(s for s in set(a) & set(b) if np.isfinite(a[s]) and np.isfinite(b[s]))
    x = np.array([a[s] for s in common], dtype=float)
    y = np.array([b[s] for s in common], dtype=float)
    nan = float("nan")
    out: dict[str, float | int | list[float]] = {
        "n_pairs": len(common),
        "p_ks": ks_pvalue(list(a.values()), list(b.values())),
    }
    if not common:
        out.update(p_wilcoxon=nan, p_permutation=nan, median_diff=nan, median_diff_ci95=[nan, nan])
        out["rank_biserial"] = nan
        return out
    d = x - y
    out["p_wilcoxon"] = wilcoxon_pvalue(x, y)
    out["p_permutation"] = paired_permutation_pvalue(x, y, seed=seed)
    out["median_diff"] = float(np.median(d))
    out["median_diff_ci95"] = list(bootstrap_median_ci(d, seed=seed))
    out["rank_biserial"] = rank_biserial(x, y)
    return out


def holm(pvalues: Mapping[str, float]) -> dict[str, float]:
    """Holm-Bonferroni adjusted p-values of a family of tests (NaN entries stay NaN and do not
    count towards the family size)."""
    items = sorted(((p, k) for k, p in pvalues.items() if np.isfinite(p)), key=lambda t: t[0])
    m = len(items)
    out = {k: float("nan") for k in pvalues}
    running = 0.0
    for i, (p, k) in enumerate(items):
        running = max(running, min(1.0, (m - i) * p))
        out[k] = running
    return out
