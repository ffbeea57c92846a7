"""Pick trials in the simulated cell: scene set-up, outcome records, the summary JSON, plots and
attempt images. Used by ``grasp-pipeline demo`` (composed ROS nodes or the core directly).

A trial places objects at random in the robot's workspace (one object, or 3-5 touching objects
for clutter), asks for a pick of its target and records whether the target was physically lifted
and held.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from grasp_pipeline.sim.grasp_execution import SCENE_CENTRE, PickCell


@dataclass
class TrialRecord:
    index: int
    kind: str  # "single" | "clutter"
    target: str
    n_objects: int
    ok: bool
    reason: str
    planning_ms: float
    lift_m: float
    seconds: float


def setup_trial(
    cell: PickCell,
    rng: np.random.Generator,
    kind: str,
    target: str | None,
    names: Sequence[str] | None = None,
) -> tuple[int | None, list[int]]:
    """Reset the arm, place a new scene; returns (target body or None, all bodies).

    ``single``: ``target`` alone, random position and yaw in the robot's workspace. ``clutter``:
    3-5 random objects resting side by side with 0-10 mm gaps (many touch), see
    :func:`place_cluster`. ``pile``: 3-5 objects dropped against and onto each other (the
    simulator's clutter scenes). For clutter and piles the target is a random object near the
    workspace centre (``target`` is ignored), drawn from ``names`` (default: every catalog object).
    """
    w = cell.world
    cell.home()
    w.clear_objects()
    centre, radius = SCENE_CENTRE[cell.robot]
    if kind == "single":
        if target is None:
            raise ValueError("a single-object trial needs a target name")
        bodies = w.random_scene(rng, 1, names=[target], centre=centre, radius=radius)
    elif kind == "clutter":
        bodies = place_cluster(w, rng, int(rng.integers(3, 6)), centre, names=names)
    elif kind == "pile":
        n = int(rng.integers(3, 6))
        bodies = w.random_scene(
            rng,
            n,
            names=list(names) if names else None,
            clutter=True,
            centre=centre,
            radius=0.3 * radius,
        )
    else:
        raise ValueError(f"trial kind must be 'single', 'clutter' or 'pile', got {kind!r}")
    w.settle(max_seconds=1.5)
    bodies = [b for b in bodies if b in w.objects]
    if not bodies:
        return None, []
    if kind == "single":
        return bodies[0], bodies
    near = [
        b for b in bodies if np.hypot(*(w.object_pose(b)[:2, 3] - np.asarray(centre))) <= radius
    ]
    pool = near or bodies
    return int(pool[int(rng.integers(len(pool)))]), bodies


def place_cluster(
    world,
    rng: np.random.Generator,
    n: int,
    centre: tuple[float, float],
    max_gap_m: float = 0.01,
    names: Sequence[str] | None = None,
) -> list[int]:
    """``n`` random catalog objects (of ``names``, default all) in their resting pose, each placed next to an earlier one
    with a random 0..``max_gap_m`` gap between their outlines (so many touch) and never
    overlapping (checked with PyBullet distance queries before settling)."""
    import pybullet as p

    c = world.client
    names = list(names) if names else world.catalog.names
    bodies: list[int] = []
    for _ in range(n):
        spec = world.catalog[names[int(rng.integers(len(names)))]]
        for _try in range(40):
            yaw = rng.uniform(-np.pi, np.pi)
            T = np.eye(4)
            T[:3, :3] = [[np.cos(yaw), -np.sin(yaw), 0], [np.sin(yaw), np.cos(yaw), 0], [0, 0, 1]]
            if bodies:
                ref = world.object_pose(bodies[int(rng.integers(len(bodies)))])[:2, 3]
                ang = rng.uniform(-np.pi, np.pi)
                d = 0.5 * (min(spec.size[:2]) + 0.03) + rng.uniform(0.0, 0.05)
                xy = ref + d * np.array([np.cos(ang), np.sin(ang)])
            else:
                xy = np.asarray(centre) + rng.uniform(-0.02, 0.02, 2)
            T[:3, 3] = [xy[0], xy[1], world.surface_z + spec.size[2] / 2 + 0.001]
            b = world.spawn_object(spec.name, T)
            gaps = [
                min(
                    (pt[8] for pt in p.getClosestPoints(b, o, 0.05, physicsClientId=c)), default=1.0
                )
                for o in bodies
            ]
            if bodies and (min(gaps) < 0.0 or min(gaps) > max_gap_m):
                world.remove_object(b)
                continue
            bodies.append(b)
            break
    return bodies


def summarize(records: list[TrialRecord], meta: dict) -> dict:
    """The demo JSON: ``success_rate`` (single-object trials), ``per_object`` (name -> trials,
    successes), ``clutter_success_rate``, ``planning_ms_median`` / ``_p95`` over every planned
    pick, failure reasons, plus ``meta``."""
    single = [r for r in records if r.kind == "single"]
    clutter = [r for r in records if r.kind == "clutter"]
    pile = [r for r in records if r.kind == "pile"]
    per_object: dict[str, dict[str, int]] = {}
    for r in single:
        d = per_object.setdefault(r.target, {"trials": 0, "successes": 0})
        d["trials"] += 1
        d["successes"] += int(r.ok)
    plan_ms = np.array([r.planning_ms for r in records if r.planning_ms > 0])
    reasons: dict[str, int] = {}
    for r in records:
        if not r.ok:
            key = r.reason.split(";")[0][:120]
            reasons[key] = reasons.get(key, 0) + 1
    return {
        **meta,
        "success_rate": float(np.mean([r.ok for r in single])) if single else None,
        "per_object": per_object,
        "clutter_success_rate": float(np.mean([r.ok for r in clutter])) if clutter else None,
        "clutter_trials": len(clutter),
        "pile_success_rate": float(np.mean([r.ok for r in pile])) if pile else None,
        "pile_trials": len(pile),
        "single_trials": len(single),
        "planning_ms_median": float(np.median(plan_ms)) if plan_ms.size else None,
        "planning_ms_p95": float(np.percentile(plan_ms, 95)) if plan_ms.size else None,
        "seconds_per_trial_median": float(np.median([r.seconds for r in records]))
        if records
        else None,
        "failure_reasons": dict(sorted(reasons.items(), key=lambda kv: -kv[1])),
        "trials": [asdict(r) for r in records],
    }


def write_json(summary: dict, path: Path) -> None:
    """Atomic JSON write (tmp file + os.replace)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(summary, f, indent=1)
    os.chmod(tmp, 0o644)  # mkstemp makes it private; results are for everyone to read
    os.replace(tmp, path)


def print_table(summary: dict) -> str:
    """The per-object table the demo prints."""
    lines = [f"{'object':<14} {'trials':>6} {'ok':>4} {'rate':>7}"]
    for name, d in summary["per_object"].items():
        lines.append(
            f"{name:<14} {d['trials']:>6} {d['successes']:>4} {d['successes'] / d['trials']:>7.1%}"
        )
    if summary["success_rate"] is not None:
        lines.append(
            f"{'single, all':<14} {summary['single_trials']:>6} {'':>4} {summary['success_rate']:>7.1%}"
        )
    if summary["clutter_success_rate"] is not None:
        lines.append(
            f"{'clutter 3-5':<14} {summary['clutter_trials']:>6} {'':>4} "
            f"{summary['clutter_success_rate']:>7.1%}"
        )
    if summary.get("pile_success_rate") is not None:
        lines.append(
            f"{'piles 3-5':<14} {summary['pile_trials']:>6} {'':>4} "
            f"{summary['pile_success_rate']:>7.1%}"
        )
    if summary["planning_ms_median"] is not None:
        lines.append(
            f"planning time per pick: median {summary['planning_ms_median']:.0f} ms, "
            f"p95 {summary['planning_ms_p95']:.0f} ms"
        )
    return "\n".join(lines)


def plot_summary(summary: dict, path: Path) -> None:
    """Bar chart of pickup success per object (+ clutter) and the planning-time histogram."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(summary["per_object"])
    rates = [
        summary["per_object"][n]["successes"] / summary["per_object"][n]["trials"] for n in names
    ]
    if summary["clutter_success_rate"] is not None:
        names.append("clutter 3-5")
        rates.append(summary["clutter_success_rate"])
    if summary.get("pile_success_rate") is not None:
        names.append("piles 3-5")
        rates.append(summary["pile_success_rate"])
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4), gridspec_kw={"width_ratios": [3, 1]})
    a.bar(range(len(names)), [100 * r for r in rates], color="tab:green")
    a.set_xticks(range(len(names)), names, rotation=60, ha="right")
    a.set_ylim(0, 105)
    a.set_ylabel("pickup success (%)")
    a.set_title(
        f"{summary['robot']} ({summary['detector']} detector, {summary['mode']}): "
        f"single {100 * (summary['success_rate'] or 0):.1f}%"
    )
    ms = [t["planning_ms"] for t in summary["trials"] if t["planning_ms"] > 0]
    b.hist(ms, bins=20, color="tab:blue")
    b.set_xlabel("planning time per pick (ms)")
    b.set_ylabel("picks")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def draw_attempt(
    rgb: np.ndarray, detections: list, target: str, ok: bool, reason: str
) -> np.ndarray:
    """The camera image with every detection (point, closing axis or pose axes) and the outcome."""
    import cv2

    img = np.ascontiguousarray(rgb[..., ::-1]).copy()  # BGR for OpenCV drawing
    for d in detections:
        u, v = (round(c) for c in d.pixel)
        colour = (0, 200, 0) if d.label == target else (200, 160, 0)
        cv2.circle(img, (u, v), 5, colour, 2)
        cv2.putText(img, d.label, (u + 6, v - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.4, colour, 1)
    banner = f"{target}: {'LIFTED' if ok else 'FAILED'} - {reason}"[:90]
    cv2.rectangle(img, (0, 0), (img.shape[1], 18), (0, 0, 0), -1)
    cv2.putText(
        img, banner, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 255, 0) if ok else (0, 0, 255), 1
    )
    return img[..., ::-1]


def save_image(rgb: np.ndarray, path: Path) -> None:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1]))


def contact_sheet(images: list[np.ndarray], path: Path, cols: int = 6, width: int = 240) -> None:
    """A grid of (downscaled) attempt images, written as one JPEG."""
    import cv2

    if not images:
        return
    h = round(images[0].shape[0] * width / images[0].shape[1])
    tiles = [cv2.resize(im, (width, h), interpolation=cv2.INTER_AREA) for im in images]
    while len(tiles) % cols:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.concatenate(tiles[i : i + cols], axis=1) for i in range(0, len(tiles), cols)]
    save_image(np.concatenate(rows, axis=0), path)
