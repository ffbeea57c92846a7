"""Figures of the weighting experiment: averaged curves (paper Fig. 10), double box plot (Fig. 13),
learned weights over training (Fig. 9) and paired differences against the reference methods."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _colors(names: Sequence[str]) -> dict[str, tuple]:
    plt = _plt()
    cmap = plt.get_cmap("tab10")
    return {n: cmap(i % 10) for i, n in enumerate(names)}


def plot_curves(
    histories: Mapping[str, Sequence[Sequence[dict]]],
    path: str | os.PathLike,
    metrics: Sequence[tuple[str, str]] = (
        ("distance_cm", "distance error (cm)"),
        ("summed_error", "IoU error + pickup error"),
    ),
) -> None:
    """Mean (line) and +-1 std (band) over seeds of each method's validation curves."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(metrics), figsize=(6 * len(metrics), 4.2))
    axes = np.atleast_1d(axes)
    col = _colors(list(histories))
    for ax, (key, label) in zip(axes, metrics, strict=True):
        for method, runs in histories.items():
            runs = [r for r in runs if r]
            if not runs:
                continue
            n = min(len(r) for r in runs)
            steps = np.array([h["step"] for h in runs[0][:n]])
            vals = np.array([[h[key] for h in r[:n]] for r in runs], dtype=float)
            mu, sd = np.nanmean(vals, axis=0), np.nanstd(vals, axis=0)
            ax.plot(steps, mu, color=col[method], label=method)
            ax.fill_between(steps, mu - sd, mu + sd, color=col[method], alpha=0.15)
        ax.set_xlabel("training step")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_double_box(
    steps: Mapping[str, Sequence[float]],
    errors: Mapping[str, Sequence[float]],
    path: str | os.PathLike,
    ylabel: str = "IoU error + pickup error after convergence",
    flagged: Mapping[str, int] | None = None,
) -> None:
    """For each method a horizontal box of convergence steps drawn at its median error and a
    vertical box of errors drawn at its median convergence step. ``steps``/``errors`` should hold
    the unflagged runs only; ``flagged`` (runs left out per method) goes into the legend."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 5.5))
    col = _colors(list(steps))
    all_s = np.concatenate([np.asarray(v, float) for v in steps.values()] + [np.zeros(0)])
    all_e = np.concatenate([np.asarray(v, float) for v in errors.values()] + [np.zeros(0)])
    if not all_s.size:  # every run flagged: an empty, labelled figure
        all_s, all_e = np.zeros(1), np.zeros(1)
    ws = 0.04 * (np.ptp(all_s) or 1.0)
    we = 0.04 * (np.ptp(all_e) or 1.0)
    for m in steps:
        s, e = np.asarray(steps[m], float), np.asarray(errors[m], float)
        left_out = f", {flagged[m]} flagged" if flagged and flagged.get(m) else ""
        ax.plot([], [], color=col[m], label=f"{m} (n={s.size}{left_out})")
        if not s.size:
            continue
        props = {"color": col[m]}
        kw = dict(
            manage_ticks=False,
            showfliers=True,
            boxprops=props,
            whiskerprops=props,
            capprops=props,
            medianprops={"color": col[m], "linewidth": 2},
            flierprops={"markeredgecolor": col[m], "markersize": 4},
        )
        ax.boxplot(s, positions=[np.median(e)], widths=we, orientation="horizontal", **kw)
        ax.boxplot(e, positions=[np.median(s)], widths=ws, **kw)
    ax.set_xlabel("convergence step")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_weights(
    histories: Mapping[str, Sequence[Sequence[dict]]], path: str | os.PathLike
) -> None:
    """Share of the distance term in the normalised multipliers, mean over seeds (Fig. 9 idea).

    Multipliers of methods trained on raw pixel distances are divided by 100 first, as in the paper,
    so every method is compared on the px / 100 scale."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    col = _colors(list(histories))
    for method, runs in histories.items():
        runs = [r for r in runs if r and len(r[0]["multipliers"]) == 2]
        if not runs:
            continue
        raw = method in ("kgc_mean", "auxnet", "auxnet_lookahead")
        n = min(len(r) for r in runs)
        steps = np.array([h["step"] for h in runs[0][:n]])
        share = []
        for r in runs:
            m = np.array([h["multipliers"] for h in r[:n]], dtype=float)
            if raw:
                m[:, 1] *= 100.0
            share.append(m[:, 1] / m.sum(axis=1))
        ax.plot(steps, np.nanmean(share, axis=0), color=col[method], label=method)
    ax.set_ylim(0, 1)
    ax.set_xlabel("training step")
    ax.set_ylabel("distance share of the weights")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_paired(
    paired: Mapping[str, Mapping], path: str | os.PathLike, metric: str = "tail_errors"
) -> None:
    """Forest plot: median paired difference (method - reference) of ``metric`` with its bootstrap
    95 % interval, one panel per reference method; the Wilcoxon p-value is written next to it."""
    plt = _plt()
    refs = sorted({e["reference"] for e in paired.values()}) or ["none"]
    fig, axes = plt.subplots(1, len(refs), figsize=(6 * len(refs), 4.5), squeeze=False)
    for ax, ref in zip(axes[0], refs, strict=True):
        rows = [(e["method"], e[metric]) for e in paired.values() if e["reference"] == ref]
        for i, (_, r) in enumerate(rows):
            med, (lo, hi) = r["median_diff"], r["median_diff_ci95"]
            if not np.isfinite(med):
                continue
            ax.plot([lo, hi], [i, i], color="0.4")
            ax.plot([med], [i], "o", color="C0")
            ax.annotate(
                f"p={r['p_wilcoxon']:.3g} n={r['n_pairs']}",
                (hi, i),
                xytext=(4, -3),
                textcoords="offset points",
                fontsize=7,
            )
        ax.axvline(0.0, color="k", linewidth=0.8)
        ax.set_yticks(range(len(rows)), [n for n, _ in rows])
        ax.set_xlabel(f"{metric}: method - {ref} (median over seeds)")
        ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
