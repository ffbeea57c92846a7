"""Convergence point of a noisy training curve (paper 000, Fig. 12), checks of its validity and the
paper's two-sample KS tests (paired tests: :mod:`grasp_pipeline.training.stats`)."""

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


# Defaults of check_convergence (fractions of the start error / of the training length).
STUCK_MARGIN = 0.05
LATE_FRACTION = 0.1
RELAPSE_FRACTION = 0.5
RELAPSE_SIGMA = 4.0
RELAPSE_POINTS = 2
FLAGS = ("stuck", "late", "relapse")


@dataclass(frozen=True)
class ConvergenceCheck:
    """:func:`convergence_point` of a curve plus the reasons not to trust it.

    ``flags`` is a subset of :data:`FLAGS`; ``tail_error`` the mean error over the last third of
    the curve's steps (defined for every finite curve, independent of the convergence point);
    ``tail_change`` the mean of the first half of that last third minus the mean of its second
    half (> 0: still falling), in error units.
    """

    convergence: Convergence
    flags: tuple[str, ...]
    tail_error: float
    tail_change: float

    @property
    def ok(self) -> bool:
        return not self.flags


def check_convergence(
    steps: Sequence[float],
    errors: Sequence[float],
    window: float = 0.5,
    total_steps: float | None = None,
    stuck_margin: float = STUCK_MARGIN,
    late_fraction: float = LATE_FRACTION,
    relapse_fraction: float = RELAPSE_FRACTION,
    relapse_sigma: float = RELAPSE_SIGMA,
    relapse_points: int = RELAPSE_POINTS,
) -> ConvergenceCheck:
    """Convergence point of a curve and the flags that make it unusable for a comparison.

    The paper's procedure assumes every run converges within the run and stays converged; these
    flags catch the runs where that is false, so they can be left out of medians and reported on
    their own:

    - ``stuck``: the mean error after the convergence point is less than ``stuck_margin`` x
      |start error| below the start error (``errors[0]``, the untrained network): the run never
      left its initial plateau (dead ReLUs, saturated outputs). Its "convergence point" is
      meaningless.
    - ``late``: the convergence point lies in the last ``late_fraction`` of training
      (step > first step + (1 - late_fraction) x (``total_steps`` - first step); ``total_steps``
      defaults to the last step): the curve was still moving when training stopped.
    - ``relapse``: at least ``relapse_points`` consecutive errors after the convergence point lie
      above the median of the last third of the curve by more than
      max(``relapse_sigma`` x robust sigma, ``relapse_fraction`` x drop), where robust sigma =
      1.4826 x MAD of the last third and drop = start error - its median. A curve that falls,
      collapses back towards its start and recovers breaks the "normal around the mean"
      assumption; the acceptance window, widened by the collapse, then accepts a point before the
      collapse. The reference is the last third, not the part after the convergence point,
      because a long collapse inflates that part's spread and median; a single-evaluation spike
      is not a relapse.

    Steps are training steps; errors in any unit (the experiment uses IoU error + pickup error).
    """
    c = convergence_point(steps, errors, window)
    s = np.asarray(steps, dtype=float)
    e = np.asarray(errors, dtype=float)
    for name, v in (
        ("stuck_margin", stuck_margin),
        ("late_fraction", late_fraction),
        ("relapse_fraction", relapse_fraction),
    ):
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {v}")
    end = float(s[-1] if total_steps is None else total_steps)
    after = e[c.index :]
    drop = float(e[0] - c.mean_error)
    flags = []
    if drop < stuck_margin * abs(float(e[0])):
        flags.append("stuck")
    if c.step > s[0] + (1.0 - late_fraction) * (end - s[0]):
        flags.append("late")
    tail = s >= s[0] + (2.0 / 3.0) * (s[-1] - s[0])
    t = e[tail]
    if "stuck" not in flags:
        ref = float(np.median(t))
        sigma = 1.4826 * float(np.median(np.abs(t - ref)))
        limit = max(relapse_sigma * sigma, relapse_fraction * (float(e[0]) - ref))
        if _longest_run(after - ref > limit) >= relapse_points:
            flags.append("relapse")
    half = max(1, t.size // 2)
    change = float(t[:half].mean() - t[half:].mean()) if t.size >= 2 else 0.0
    return ConvergenceCheck(c, tuple(flags), float(t.mean()), change)


def _longest_run(mask: np.ndarray) -> int:
    """Length of the longest run of True in a 1-D bool array."""
    best = cur = 0
    for m in mask:
        cur = cur + 1 if m else 0
        best = max(best, cur)
    return best


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
