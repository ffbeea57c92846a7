"""Convergence point of a noisy training curve (paper 000, Fig. 12) and significance tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Convergence:
    """Result of :func:`convergence_point`: ``index`` into the curve, its ``step``, and the mean and
    standard deviation of the errors from the convergence point on."""

    index: int
    step: float
    mean_error: float
    std_error: float
    iterations: int


def convergence_point(
    steps: Sequence[float], errors: Sequence[float], window: float = 0.5
) -> Convergence:
    """First point of the converged part of a curve by the shrinking acceptance window.

    The errors after convergence are assumed normal around their mean. Starting from the whole
    curve, the acceptance window mean +- ``window`` * std of the remaining points is computed; the
    earliest remaining points outside it are rejected and the window is recomputed from what is
    left, until the earliest remaining point lies inside the window. That point is the convergence
    point; the mean of the remaining points is the error after convergence. NaN errors are not
    allowed (a diverged run has no convergence point).
    """
    s = np.asarray(steps, dtype=float)
    e = np.asarray(errors, dtype=float)
    if s.shape != e.shape or e.ndim != 1 or e.size == 0:
        raise ValueError(f"steps and errors must be equal-length 1-D, got {s.shape} and {e.shape}")
    if not np.all(np.isfinite(e)):
        raise ValueError("errors contain NaN/inf: the run diverged and has no convergence point")
    start, iterations = 0, 0
    while start < e.size - 1:
        iterations += 1
        rest = e[start:]
        mu, sd = rest.mean(), rest.std()
        inside = np.abs(e[start:] - mu) <= window * sd + 1e-12 * max(1.0, abs(mu))
        first_inside = int(np.argmax(inside)) if inside.any() else rest.size - 1
        if first_inside == 0:
            break
        start += first_inside
    rest = e[start:]
    return Convergence(start, float(s[start]), float(rest.mean()), float(rest.std()), iterations)


def ks_pvalues(samples: Mapping[str, Sequence[float]]) -> dict[str, dict[str, float]]:
    """Two-sample Kolmogorov-Smirnov p-value for every ordered pair of named samples.

    Pairs where a sample has fewer than one finite value get NaN.
    """
    from scipy.stats import ks_2samp

    out: dict[str, dict[str, float]] = {}
    for a, xa in samples.items():
        out[a] = {}
        va = np.asarray([x for x in xa if np.isfinite(x)], dtype=float)
        for b, xb in samples.items():
            if a == b:
                continue
            vb = np.asarray([x for x in xb if np.isfinite(x)], dtype=float)
            out[a][b] = float(ks_2samp(va, vb).pvalue) if va.size and vb.size else float("nan")
    return out
