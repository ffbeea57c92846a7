"""Benchmark: keypoint-trained descriptors (paper 004) vs the DON NT-Xent baseline.

For each method, descriptor size D and count N (keypoints of the keypoint methods, matches per
pair of NT-Xent), ``models_per_setting`` models are trained in fresh subprocesses on identical
synthetic pairs, for ``steps`` steps or ``seconds_per_model`` seconds of optimisation (equal wall
time), and each reports its peak training memory (CUDA max allocated on a GPU, peak RSS of the
training loop on CPU) and time per step. Evaluation:

* ``sources.kind: sim``: the model is trained on one enrolment view of a catalog object and
  scored on held-out simulator views (:mod:`descriptor_eval`): PCK@k on pairs of two new views
  and on (enrolment view, new view) pairs, next to the chance levels of a random pixel and a
  random pixel on the object computed by the same code, plus the 6-D pose error of
  ``Detector.detect`` on new full frames (keypoint pose for models with heads, descriptor pose
  for all);
* ``procedural`` / ``dataset``: PCK on held-out synthetic pairs of the training views (what the
  first benchmark did; these pairs come from the same source view as training).

Methods: ``keypoint`` (the paper's losses), ``keypoint_corr`` (plus our correspondence term,
with its own decoder), ``don_ntxent``. Optionally a short memory probe trains the baseline with
the reference implementation's broadcast cosine similarity (the training uses ``similarity``).
Writes results.json, results.md and PNG plots into the output directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class BenchmarkConfig:
    name: str = "descriptors"
    device: str = "cpu"
    image_size: tuple[int, int] = (128, 96)  # (width, height)
    base_width: int = 64
    num_keypoints: int = 128
    steps: int = 300
    models_per_setting: int = 3
    threads: int = 2
    workers: int = 1  # settings trained side by side (each in its own process, ``threads`` each)
    sources: dict = field(default_factory=lambda: {"kind": "procedural", "count": 1, "seed": 0})
    eval: dict = field(default_factory=lambda: {"pairs": 20, "correspondences": 256, "seed": 12345})
    methods: dict = field(
        default_factory=lambda: {
            "keypoint": {"dims": [3, 8, 16, 32], "lr": 1e-3, "weight_decay": 0.0},
            "don_ntxent": {
                "dims": [3, 8, 16, 32],
                "lr": 3e-4,
                "weight_decay": 1e-4,
                "matches": 128,
                "tau": 0.1,
                "similarity": "matmul",
            },
        }
    )
    memory_probe: dict | None = (
        None  # e.g. {"similarity": "broadcast", "steps": 2, "dims": [3, 8, 16, 32]}
    )
    pairs: dict = field(default_factory=dict)  # PairConfig overrides
    worker_timeout_s: float = 4 * 3600.0  # a worker running longer is stopped and reported failed
    seconds_per_model: float | None = None  # equal time budget per model (None: steps)
    budget_clock: str = "wall"  # "wall" or "cpu" (process CPU seconds: fair on a shared machine)
    decoder: str = "none"  # network decoder of every method unless the method sets its own
    lr_schedule: str = "step"
    pose_views: int = 10  # held-out full frames for the pose error (sim sources)

    def __post_init__(self) -> None:
        self.image_size = tuple(int(x) for x in self.image_size)
        unknown = set(self.methods) - {"keypoint", "keypoint_corr", "don_ntxent"}
        if unknown:
            raise ValueError(f"unknown method(s) {sorted(unknown)} in benchmark config")
        for m, spec in self.methods.items():
            if not spec.get("dims"):
                raise ValueError(f"methods.{m}.dims must list descriptor sizes")
        if self.models_per_setting < 1:
            raise ValueError("models_per_setting must be >= 1")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if not self.worker_timeout_s > 0:
            raise ValueError(f"worker_timeout_s must be > 0, got {self.worker_timeout_s}")

    @classmethod
    def from_yaml(cls, path: str | Path) -> BenchmarkConfig:
        import yaml

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"benchmark config not found: {path}")
        data = yaml.safe_load(path.read_text()) or {}
        from dataclasses import fields

        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"{path}: unknown field(s) {sorted(unknown)}")
        return cls(**data)


def _build_sources(cfg: BenchmarkConfig):
    from grasp_pipeline.perception.descriptors.sources import dataset_sources, procedural_sources

    s = dict(cfg.sources)
    kind = s.pop("kind", "procedural")
    if kind == "sim":
        return [_sim_source(cfg)[0]]
    if kind == "procedural":
        return procedural_sources(int(s.get("count", 1)), int(s.get("seed", 0)), cfg.image_size)
    if kind == "dataset":
        if "root" not in s:
            raise ValueError("sources.root is required for kind 'dataset'")
        return dataset_sources(
            s["root"], int(s.get("count", 1)), int(s.get("seed", 0)), cfg.image_size
        )
    raise ValueError(f"unknown sources.kind {kind!r}; use 'procedural' or 'dataset'")


def _canonical(cfg: BenchmarkConfig) -> bool:
    """Whether the pairs (and so every window) are cut at the part's own centre and direction."""
    return bool(cfg.pairs.get("canonical", False))


def _sim_source(cfg: BenchmarkConfig):
    """(window PairSource, scale, true pose of the window's object) of the enrolment frame."""
    from grasp_pipeline.perception.descriptors.enroll import enrollment_window
    from grasp_pipeline.training.descriptor_eval import enrollment_frame

    view, pose = enrollment_frame(cfg.sources["object"], seed=int(cfg.sources.get("seed", 0)))
    crop, scale, _, pose = enrollment_window(view, cfg.image_size, _canonical(cfg), pose)
    return crop, scale, pose


def held_out_sets(cfg: BenchmarkConfig, cache: Path | None = None) -> dict:
    """The held-out PCK pair sets of a ``sim`` benchmark (new/new and enrolment/new), rendered
    once and cached in ``cache`` (a pickle of our own arrays) for the workers."""
    import pickle

    if cache is not None and cache.exists():
        return pickle.loads(cache.read_bytes())
    from grasp_pipeline.training.descriptor_eval import _reference_view, held_out_pairs

    src, scale, pose = _sim_source(cfg)
    name = cfg.sources["object"]
    n, corr, seed = (
        int(cfg.eval.get("pairs", 10)),
        int(cfg.eval.get("correspondences", 256)),
        int(cfg.eval.get("seed", 12345)),
    )

    from types import SimpleNamespace

    entry = SimpleNamespace(name=name, meta={"pose_camera": pose.tolist(), "frame": "given pose"})
    ref = _reference_view(src, entry)
    sets = {
        "new_new": held_out_pairs(
            name, n, seed, scale, cfg.image_size, corr, canonical=_canonical(cfg)
        ),
        "enrol_new": held_out_pairs(
            name, n, seed + 1, scale, cfg.image_size, corr, reference=ref, canonical=_canonical(cfg)
        ),
    }
    if cache is not None:
        from grasp_pipeline.training.checkpoint import atomic_write_bytes

        atomic_write_bytes(cache, pickle.dumps(sets))
    return sets


def _sim_pose(cfg: BenchmarkConfig, model) -> dict:
    """Median pose errors of ``Detector.detect`` with ``model`` enrolled from the sim view."""
    from grasp_pipeline.perception.descriptors.database import DescriptorDatabase
    from grasp_pipeline.perception.descriptors.detector import DescriptorDetector
    from grasp_pipeline.perception.descriptors.enroll import register_enrolled
    from grasp_pipeline.training.descriptor_eval import evaluate_enrolled

    src, scale, pose = _sim_source(cfg)
    name = cfg.sources["object"]
    db = DescriptorDatabase()
    db.add(
        register_enrolled(model, src, name, pose, scale, cfg.image_size, canonical=_canonical(cfg))
    )
    det = DescriptorDetector(None, db, models={name: model})
    methods = ("keypoints", "descriptors") if model.config.keypoint_heads else ("descriptors",)
    ev = evaluate_enrolled(det, name, cfg.pose_views, 4242, pck_pairs=0, pose_methods=methods)
    return {m: {k: v for k, v in r.items() if k != "views"} for m, r in ev["pose"].items()}


def run_worker(spec: dict) -> dict:
    """Train and evaluate one model (called in a fresh subprocess). ``spec``: config dict, method,
    dim, seed, steps, probe (bool: memory only)."""
    import torch

    from grasp_pipeline.data.pairs import PairConfig, make_pair
    from grasp_pipeline.perception.descriptors.config import DescriptorNetConfig
    from grasp_pipeline.training.descriptor_trainer import (
        DescriptorTrainConfig,
        evaluate_pck,
        train_descriptors,
    )
    from grasp_pipeline.training.memory import PeakMemory

    cfg = BenchmarkConfig(**spec["config"])
    torch.set_num_threads(cfg.threads)
    method, dim = spec["method"], int(spec["dim"])
    mspec = dict(cfg.methods[method])
    default = mspec.get("matches", 128) if method == "don_ntxent" else cfg.num_keypoints
    count = int(spec.get("count") or default)
    if spec.get("similarity"):
        mspec["similarity"] = spec["similarity"]
    sources = _build_sources(cfg)
    pair_cfg = PairConfig(**cfg.pairs)
    from grasp_pipeline.perception.descriptors.config import KeypointLossConfig

    weights = dict(KeypointLossConfig().weights)
    weights["correspondence"] = float(mspec.get("correspondence", 0.0))
    tcfg = DescriptorTrainConfig(
        method="don_ntxent" if method == "don_ntxent" else "keypoint",
        net=DescriptorNetConfig(
            descriptor_dim=dim,
            num_keypoints=count if method != "don_ntxent" else cfg.num_keypoints,
            base_width=cfg.base_width,
            decoder=mspec.get("decoder", cfg.decoder),
        ),
        loss=KeypointLossConfig(
            weights=weights,
            correspondence_sigma_px=float(mspec.get("correspondence_sigma_px", 1.0)),
            correspondence_sigma_start_px=mspec.get("correspondence_sigma_start_px"),
        ),
        pairs=pair_cfg,
        steps=int(spec["steps"]),
        lr=float(mspec.get("lr", 1e-3)),
        weight_decay=float(mspec.get("weight_decay", 0.0)),
        lr_schedule=mspec.get("lr_schedule", cfg.lr_schedule),
        warmup_steps=int(mspec.get("warmup_steps", 0)),
        matches=count if method == "don_ntxent" else int(mspec.get("matches", 128)),
        tau=float(mspec.get("tau", 0.1)),
        similarity=mspec.get("similarity", "matmul"),
        seed=int(spec["seed"]),
        device=cfg.device,
    )
    budget = None if spec.get("probe") else cfg.seconds_per_model
    with PeakMemory(cfg.device) as mem:
        res = train_descriptors(
            tcfg,
            sources,
            progress=False,
            max_seconds=budget,
            cpu_clock=cfg.budget_clock == "cpu",
        )
    taken = [h for h in res.history[-20:] if not h.get("skipped")]
    out = {
        "method": method,
        "dim": dim,
        "count": count,
        "seed": int(spec["seed"]),
        "steps": len(res.history),
        "train_seconds": res.seconds_per_step * len(res.history),
        "similarity": tcfg.similarity if method == "don_ntxent" else None,
        "peak_memory_bytes": mem.peak_bytes,
        "baseline_memory_bytes": mem.baseline_bytes,
        "memory_kind": mem.kind,
        "seconds_per_step": res.seconds_per_step,
        # Means over the last 20 steps that were taken (a skipped step's loss is not finite).
        "final_losses": {
            k: float(np.mean([h[k] for h in taken] or [float("nan")]))
            for k in res.history[-1]
            if k != "skipped"
        },
        "skipped_steps": int(sum(bool(h.get("skipped")) for h in res.history)),
    }
    if not spec.get("probe") and cfg.sources.get("kind") == "sim":
        from grasp_pipeline.training.descriptor_eval import evaluate_pairs

        sets = held_out_sets(cfg, Path(spec["heldout"]) if spec.get("heldout") else None)
        for key, pairs in sets.items():
            r = evaluate_pairs(res.model, pairs, int(cfg.eval.get("seed", 12345)))
            out[key] = r
        out["auc"] = out["new_new"]["model"]["auc"]
        out["pck_curve"] = out["new_new"]["model"]["curve"]
        out["pose"] = _sim_pose(cfg, res.model)
    elif not spec.get("probe"):
        rng = np.random.default_rng(int(cfg.eval.get("seed", 12345)))
        pairs = [
            make_pair(sources[i % len(sources)], pair_cfg, rng)
            for i in range(int(cfg.eval.get("pairs", 20)))
        ]
        with torch.no_grad():
            curve, area = evaluate_pck(
                res.model,
                pairs,
                int(cfg.eval.get("correspondences", 256)),
                seed=int(cfg.eval.get("seed", 12345)),
                device=cfg.device,
            )
        out.update({"auc": area, "pck_curve": curve.tolist()})
    return out


class WorkerFailedError(RuntimeError):
    """A benchmark worker crashed, hung past its time limit or wrote no result."""


def _run_subprocess(spec: dict, workdir: Path, tag: str, timeout_s: float) -> dict:
    """Train + evaluate one setting in a fresh process (its peak RSS is the setting's alone).

    Resumes: a run whose result file exists for the identical spec is not run again. Result files
    are written atomically by the worker, so a killed benchmark never leaves a half result.
    Raises WorkerFailedError when the worker exits non-zero, is killed by a signal or runs past
    ``timeout_s`` seconds.
    """
    spec_path, out_path = workdir / f"{tag}.spec.json", workdir / f"{tag}.result.json"
    spec_text = json.dumps(spec)
    if out_path.exists() and spec_path.exists() and spec_path.read_text() == spec_text:
        return json.loads(out_path.read_text())
    out_path.unlink(missing_ok=True)
    spec_path.write_text(spec_text)
    env = dict(os.environ, OMP_NUM_THREADS=str(spec["config"]["threads"]))
    cmd = [
        sys.executable,
        "-m",
        "grasp_pipeline.training.descriptor_benchmark",
        str(spec_path),
        str(out_path),
    ]
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as e:
        raise WorkerFailedError(
            f"benchmark worker {tag} ran past {timeout_s:.0f} s and was stopped"
        ) from e
    if proc.returncode != 0 or not out_path.exists():
        how = f"signal {-proc.returncode}" if proc.returncode < 0 else f"exit {proc.returncode}"
        raise WorkerFailedError(f"benchmark worker {tag} failed ({how}):\n{proc.stderr[-3000:]}")
    return json.loads(out_path.read_text())


def run_benchmark(config_path: str | Path, out_dir: str | Path, progress: bool = True) -> dict:
    """Run every setting of the config; returns and writes the aggregated results."""
    from dataclasses import asdict

    from tqdm import tqdm

    cfg = BenchmarkConfig.from_yaml(config_path)
    out = Path(out_dir)
    runs_dir = out / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    cfg_dict = asdict(cfg)
    jobs = [
        (m, d, n, s, False, None)
        for m, spec in cfg.methods.items()
        for d in spec["dims"]
        for n in spec.get("counts", [None])
        for s in range(cfg.models_per_setting)
    ]
    if cfg.memory_probe:
        for sim in cfg.memory_probe.get("similarities", [cfg.memory_probe.get("similarity")]):
            jobs += [
                ("don_ntxent", d, n, 0, True, sim or "broadcast")
                for d in cfg.memory_probe.get("dims", [])
                for n in cfg.memory_probe.get("counts", [None])
            ]
    heldout = None
    if cfg.sources.get("kind") == "sim":
        # named for what decides the pairs, so that a changed config never reads old pairs
        key = json.dumps(
            [cfg.sources, cfg.eval, list(cfg.image_size), _canonical(cfg)], sort_keys=True
        )
        heldout = runs_dir / f"heldout_{hashlib.sha1(key.encode()).hexdigest()[:12]}.pkl"
        held_out_sets(cfg, heldout)  # rendered once, before any worker
    specs = []
    for method, dim, count, seed, probe, sim in jobs:
        tag = f"{method}_D{dim}" + (f"_N{count}" if count else "") + f"_s{seed}"
        tag += f"_probe_{sim}" if probe else ""
        spec = {
            "config": cfg_dict,
            "method": method,
            "dim": dim,
            "count": count,
            "seed": seed,
            "probe": probe,
            "similarity": sim,
            "steps": int(cfg.memory_probe.get("steps", 2)) if probe else cfg.steps,
            "heldout": str(heldout) if heldout else None,
        }
        specs.append((tag, spec))
    results, failures = [None] * len(specs), []
    t0 = time.time()
    # Each setting runs in its own process: side by side they share the machine's cores, and
    # with budget_clock "cpu" each still gets the same CPU seconds of optimisation.
    with ThreadPoolExecutor(max_workers=cfg.workers) as pool:
        futures = {
            pool.submit(_run_subprocess, spec, runs_dir, tag, cfg.worker_timeout_s): i
            for i, (tag, spec) in enumerate(specs)
        }
        for fut in tqdm(
            as_completed(futures),
            total=len(futures),
            desc="descriptor benchmark",
            disable=not progress,
        ):
            try:
                results[futures[fut]] = fut.result()
            except WorkerFailedError as e:  # the others still run; a re-run retries this one
                failures.append(str(e))
    results = [r for r in results if r is not None]
    if failures:
        raise WorkerFailedError(
            f"{len(failures)} of {len(jobs)} benchmark workers failed (finished ones are kept; "
            "re-running resumes):\n" + "\n".join(failures)
        )
    summary = summarise(results, cfg, time.time() - t0)
    write_report(summary, results, out)
    return summary


def _mean_block(runs: list[dict], key: str) -> dict:
    """Mean PCK@3/@10/AUC of ``runs[i][key]`` for the model, both chance levels and the
    same-window-pixel matcher."""
    out = {}
    for who in ("model", "random_pixel", "random_on_object", "same_window_pixel"):
        if who not in runs[0][key]:
            continue
        out[who] = {
            m: float(np.mean([r[key][who][m] for r in runs])) for m in ("pck3", "pck10", "auc")
        }
    return out


def summarise(results: list[dict], cfg, wall_s: float) -> dict:
    """results.json layout: ``methods[method][D]``: headline PCK@3/@10/AUC (largest N) with the
    two chance levels, and ``by_N[N]``: auc_mean/std, PCK, chance levels, pose errors, memory."""
    from dataclasses import asdict

    summary: dict = {"config": asdict(cfg), "wall_seconds": wall_s, "methods": {}}
    groups: dict = {}
    for r in results:
        if "auc" not in r:
            continue
        n = str(r["count"])
        groups.setdefault(r["method"], {}).setdefault(str(r["dim"]), {}).setdefault(n, []).append(r)
    for method, per_dim in groups.items():
        for dim, per_n in per_dim.items():
            by_n = {}
            for n, runs in per_n.items():
                aucs = np.array([r["auc"] for r in runs])
                row = {
                    "auc_mean": float(aucs.mean()),
                    "auc_std": float(aucs.std(ddof=1)) if len(aucs) > 1 else 0.0,
                    "aucs": aucs.tolist(),
                    "models": len(runs),
                    "steps": [r["steps"] for r in runs],
                    "peak_memory_bytes": int(max(r["peak_memory_bytes"] for r in runs)),
                    "training_memory_bytes": int(
                        max(r["peak_memory_bytes"] - r["baseline_memory_bytes"] for r in runs)
                    ),
                    "memory_kind": runs[0]["memory_kind"],
                    "seconds_per_step": float(np.mean([r["seconds_per_step"] for r in runs])),
                    "pck_curve_mean": np.mean([r["pck_curve"] for r in runs], 0).tolist(),
                    "pck_at": {
                        str(k): float(np.mean([r["pck_curve"][k - 1] for r in runs]))
                        for k in (1, 3, 10, 30)
                    },
                }
                if "new_new" in runs[0]:
                    row["unseen_new_new"] = _mean_block(runs, "new_new")
                    row["unseen_enrol_new"] = _mean_block(runs, "enrol_new")
                    row["pose"] = {
                        m: {
                            k: float(np.median([r["pose"][m][k] for r in runs]))
                            for k in (
                                "rotation_error_deg_median",
                                "translation_error_mm_median",
                                "within_5deg_5mm",
                            )
                        }
                        for m in runs[0]["pose"]
                    }
                by_n[n] = row
            head = by_n[max(by_n, key=int)]
            entry = {"N_headline": int(max(by_n, key=int)), "by_N": by_n}
            if "unseen_new_new" in head:
                u = head["unseen_new_new"]
                entry.update(u["model"])
                entry["chance_random_pixel"] = u["random_pixel"]
                entry["chance_random_on_object"] = u["random_on_object"]
                if "same_window_pixel" in u:
                    entry["same_window_pixel"] = u["same_window_pixel"]
            else:
                entry.update({"auc": head["auc_mean"], "pck3": head["pck_at"]["3"]})
                entry["pck10"] = head["pck_at"]["10"]
            summary["methods"].setdefault(method, {})[dim] = entry
    probes = [r for r in results if "auc" not in r]
    if probes:
        summary["don_ntxent_memory_probe"] = [
            {
                "dim": r["dim"],
                "matches": r.get("count"),
                "similarity": r["similarity"],
                "steps": r["steps"],
                "peak_memory_bytes": r["peak_memory_bytes"],
                "training_memory_bytes": r["peak_memory_bytes"] - r["baseline_memory_bytes"],
                "seconds_per_step": r["seconds_per_step"],
                "memory_kind": r["memory_kind"],
            }
            for r in probes
        ]
    for key in summary["methods"]:  # the flat layout asked for: results[method][D]
        summary[key] = summary["methods"][key]
    return summary


def write_report(summary: dict, results: list[dict], out: Path) -> None:
    """results.json, results.md (tables like the paper's) and PNG plots."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from grasp_pipeline.training.checkpoint import atomic_write_bytes

    atomic_write_bytes(out / "results.json", json.dumps(summary, indent=2).encode())
    c = summary["config"]
    budget = (
        f"{c['seconds_per_model']:.0f} s of optimisation per model (equal wall time)"
        if c.get("seconds_per_model")
        else f"{c['steps']} steps"
    )
    lines = [
        f"# Descriptor benchmark `{c['name']}`",
        "",
        f"device {c['device']}, image {c['image_size']}, {budget}, "
        f"{c['models_per_setting']} model(s) per setting, sources {c['sources']}, "
        f"wall time {summary['wall_seconds'] / 60:.1f} min",
        "",
        "PCK on held-out pairs (sim sources: two new simulator views; chance levels by the same "
        "code on the same correspondences). N = keypoints (keypoint methods) or matches per "
        "pair (NT-Xent).",
        "",
        "| method | D | N | steps | PCK@3 | PCK@10 | AUC | chance on-object PCK@10 / AUC | "
        "chance pixel PCK@10 / AUC | same window pixel PCK@10 / AUC | pose (deg / mm, median) | "
        "peak MB | training MB | s/step |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for method, per_dim in summary["methods"].items():
        for dim, e in sorted(per_dim.items(), key=lambda kv: int(kv[0])):
            for n, s in sorted(e["by_N"].items(), key=lambda kv: int(kv[0])):
                u = s.get("unseen_new_new")
                m = u["model"] if u else {"pck3": s["pck_at"]["3"], "pck10": s["pck_at"]["10"]}
                auc = u["model"]["auc"] if u else s["auc_mean"]
                ch_o = (
                    f"{u['random_on_object']['pck10']:.3f} / {u['random_on_object']['auc']:.3f}"
                    if u
                    else "-"
                )
                ch_p = (
                    f"{u['random_pixel']['pck10']:.3f} / {u['random_pixel']['auc']:.3f}"
                    if u
                    else "-"
                )
                same = u.get("same_window_pixel") if u else None
                ch_s = f"{same['pck10']:.3f} / {same['auc']:.3f}" if same else "-"
                pose = "-"
                if "pose" in s:
                    pose = "; ".join(
                        f"{k}: {v['rotation_error_deg_median']:.1f} / "
                        f"{v['translation_error_mm_median']:.1f}"
                        for k, v in s["pose"].items()
                    )
                lines.append(
                    f"| {method} | {dim} | {n} | {s['steps']} | {m['pck3']:.3f} | {m['pck10']:.3f} | "
                    f"{auc:.3f} | {ch_o} | {ch_p} | {ch_s} | {pose} | {s['peak_memory_bytes'] / 1e6:.0f} | "
                    f"{s['training_memory_bytes'] / 1e6:.0f} | {s['seconds_per_step']:.3f} |"
                )
    if "don_ntxent_memory_probe" in summary:
        lines += [
            "",
            "DON NT-Xent memory probes (both forms of the cosine: `broadcast` as the reference "
            "code, `matmul`):",
            "",
            "| D | matches | similarity | peak memory (MB) | training memory (MB) | s/step |",
            "|---|---|---|---|---|---|",
        ]
        for s in sorted(
            summary["don_ntxent_memory_probe"],
            key=lambda r: (r["similarity"], r["dim"], r["matches"] or 0),
        ):
            lines.append(
                f"| {s['dim']} | {s['matches']} | {s['similarity']} | {s['peak_memory_bytes'] / 1e6:.0f} | "
                f"{s['training_memory_bytes'] / 1e6:.0f} | {s['seconds_per_step']:.2f} |"
            )
    (out / "results.md").write_text("\n".join(lines) + "\n")

    ks = np.arange(1, 101)
    fig, axes = plt.subplots(
        1, len(summary["methods"]), figsize=(6 * len(summary["methods"]), 4), squeeze=False
    )
    for ax, (method, per_dim) in zip(axes[0], summary["methods"].items(), strict=False):
        for dim, e in sorted(per_dim.items(), key=lambda kv: int(kv[0])):
            for n, s in sorted(e["by_N"].items(), key=lambda kv: int(kv[0])):
                ax.plot(ks, s["pck_curve_mean"], label=f"D={dim} N={n} (AUC {s['auc_mean']:.3f})")
        ax.set(title=method, xlabel="k (pixels)", ylabel="PCK@k", ylim=(0, 1.02))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "pck_curves.png", dpi=120)
    plt.close(fig)

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for method, per_dim in summary["methods"].items():
        dims = sorted(per_dim, key=int)
        for n in sorted({n for d in dims for n in per_dim[d]["by_N"]}, key=int):
            ds = [d for d in dims if n in per_dim[d]["by_N"]]
            rows = [per_dim[d]["by_N"][n] for d in ds]
            ax1.plot(
                [int(d) for d in ds],
                [r["pck_at"]["10"] for r in rows],
                marker="o",
                label=f"{method} N={n}",
            )
            ax2.plot(
                [int(d) for d in ds],
                [r["peak_memory_bytes"] / 1e6 for r in rows],
                marker="o",
                label=f"{method} N={n} peak",
            )
    for sim in sorted({r["similarity"] for r in summary.get("don_ntxent_memory_probe", [])}):
        rows = sorted(
            (r for r in summary["don_ntxent_memory_probe"] if r["similarity"] == sim),
            key=lambda r: (r["matches"] or 0, r["dim"]),
        )
        for n in sorted({r["matches"] or 0 for r in rows}):
            sub = [r for r in rows if (r["matches"] or 0) == n]
            ax2.plot(
                [r["dim"] for r in sub],
                [r["peak_memory_bytes"] / 1e6 for r in sub],
                marker="s",
                ls="--",
                label=f"don_ntxent {sim} N={n} (probe)",
            )
    ax1.set(xscale="log", xlabel="descriptor size D", ylabel="PCK@10 (held out)", title="matching")
    ax2.set(xscale="log", xlabel="descriptor size D", ylabel="MB", title="peak training memory")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "auc_memory.png", dpi=120)
    plt.close(fig)


if __name__ == "__main__":  # worker entry: python -m ... SPEC.json OUT.json
    spec_file, out_file = sys.argv[1], sys.argv[2]
    result = run_worker(json.loads(Path(spec_file).read_text()))
    from grasp_pipeline.training.checkpoint import atomic_write_bytes

    atomic_write_bytes(out_file, json.dumps(result).encode())
