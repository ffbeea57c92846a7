"""Benchmark: keypoint-trained descriptors (ours) vs the DON NT-Xent baseline.

For each method and descriptor size D, ``models_per_setting`` models are trained in fresh
subprocesses on identical synthetic pairs; each reports AUC of PCK@k (k = 1..100) over
``correspondences`` matches per held-out pair, its peak training memory (CUDA max allocated on a
GPU, peak RSS of the training loop on CPU) and its time per step. Optionally a short memory
probe trains the baseline with the reference implementation's broadcast cosine similarity.
Writes results.json, results.md and PNG plots into the output directory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
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

    def __post_init__(self) -> None:
        self.image_size = tuple(int(x) for x in self.image_size)
        unknown = set(self.methods) - {"keypoint", "don_ntxent"}
        if unknown:
            raise ValueError(f"unknown method(s) {sorted(unknown)} in benchmark config")
        for m, spec in self.methods.items():
            if not spec.get("dims"):
                raise ValueError(f"methods.{m}.dims must list descriptor sizes")
        if self.models_per_setting < 1:
            raise ValueError("models_per_setting must be >= 1")
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
    if kind == "procedural":
        return procedural_sources(int(s.get("count", 1)), int(s.get("seed", 0)), cfg.image_size)
    if kind == "dataset":
        if "root" not in s:
            raise ValueError("sources.root is required for kind 'dataset'")
        return dataset_sources(
            s["root"], int(s.get("count", 1)), int(s.get("seed", 0)), cfg.image_size
        )
    raise ValueError(f"unknown sources.kind {kind!r}; use 'procedural' or 'dataset'")


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
    if spec.get("similarity"):
        mspec["similarity"] = spec["similarity"]
    sources = _build_sources(cfg)
    pair_cfg = PairConfig(**cfg.pairs)
    tcfg = DescriptorTrainConfig(
        method=method,
        net=DescriptorNetConfig(
            descriptor_dim=dim, num_keypoints=cfg.num_keypoints, base_width=cfg.base_width
        ),
        pairs=pair_cfg,
        steps=int(spec["steps"]),
        lr=float(mspec.get("lr", 1e-3)),
        weight_decay=float(mspec.get("weight_decay", 0.0)),
        matches=int(mspec.get("matches", 128)),
        tau=float(mspec.get("tau", 0.1)),
        similarity=mspec.get("similarity", "matmul"),
        seed=int(spec["seed"]),
        device=cfg.device,
    )
    with PeakMemory(cfg.device) as mem:
        res = train_descriptors(tcfg, sources, progress=False)
    taken = [h for h in res.history[-20:] if not h.get("skipped")]
    out = {
        "method": method,
        "dim": dim,
        "seed": int(spec["seed"]),
        "steps": tcfg.steps,
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
    if not spec.get("probe"):
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
        (m, d, s, False, None)
        for m, spec in cfg.methods.items()
        for d in spec["dims"]
        for s in range(cfg.models_per_setting)
    ]
    if cfg.memory_probe:
        jobs += [
            ("don_ntxent", d, 0, True, cfg.memory_probe.get("similarity", "broadcast"))
            for d in cfg.memory_probe.get("dims", [])
        ]
    results, failures = [], []
    t0 = time.time()
    for method, dim, seed, probe, sim in tqdm(
        jobs, desc="descriptor benchmark", disable=not progress
    ):
        tag = f"{method}_D{dim}_s{seed}" + (f"_probe_{sim}" if probe else "")
        spec = {
            "config": cfg_dict,
            "method": method,
            "dim": dim,
            "seed": seed,
            "probe": probe,
            "similarity": sim,
            "steps": int(cfg.memory_probe.get("steps", 2)) if probe else cfg.steps,
        }
        try:
            results.append(_run_subprocess(spec, runs_dir, tag, cfg.worker_timeout_s))
        except WorkerFailedError as e:  # the other settings still run; a re-run retries this one
            failures.append(str(e))
    if failures:
        raise WorkerFailedError(
            f"{len(failures)} of {len(jobs)} benchmark workers failed (finished ones are kept; "
            "re-running resumes):\n" + "\n".join(failures)
        )
    summary = summarise(results, cfg, time.time() - t0)
    write_report(summary, results, out)
    return summary


def summarise(results: list[dict], cfg, wall_s: float) -> dict:
    """results.json layout: per method, per D: auc_mean, auc_std, peak_memory_bytes, ..."""
    from dataclasses import asdict

    summary: dict = {"config": asdict(cfg), "wall_seconds": wall_s, "methods": {}}
    for r in results:
        if "auc" not in r:
            continue
        summary["methods"].setdefault(r["method"], {}).setdefault(str(r["dim"]), []).append(r)
    for per_dim in summary["methods"].values():
        for dim, runs in per_dim.items():
            aucs = np.array([r["auc"] for r in runs])
            per_dim[dim] = {
                "auc_mean": float(aucs.mean()),
                "auc_std": float(aucs.std(ddof=1)) if len(aucs) > 1 else 0.0,
                "aucs": aucs.tolist(),
                "models": len(runs),
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
    probes = [r for r in results if "auc" not in r]
    if probes:
        summary["don_ntxent_memory_probe"] = {
            str(r["dim"]): {
                "similarity": r["similarity"],
                "steps": r["steps"],
                "peak_memory_bytes": r["peak_memory_bytes"],
                "training_memory_bytes": r["peak_memory_bytes"] - r["baseline_memory_bytes"],
                "seconds_per_step": r["seconds_per_step"],
                "memory_kind": r["memory_kind"],
            }
            for r in probes
        }
    for key in summary["methods"]:  # fill the flat layout asked for: results[method][D]
        summary[key] = summary["methods"][key]
    return summary


def write_report(summary: dict, results: list[dict], out: Path) -> None:
    """results.json, results.md (tables like the paper's) and PNG plots."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from grasp_pipeline.training.checkpoint import atomic_write_bytes

    atomic_write_bytes(out / "results.json", json.dumps(summary, indent=2).encode())
    lines = [
        f"# Descriptor benchmark `{summary['config']['name']}`",
        "",
        f"device {summary['config']['device']}, image {summary['config']['image_size']}, "
        f"{summary['config']['steps']} steps, {summary['config']['models_per_setting']} models per setting, "
        f"wall time {summary['wall_seconds'] / 60:.1f} min",
        "",
        "| method | D | AUC ± σ (PCK@k, k=1..100) | PCK@3 | PCK@10 | peak memory (MB) | training memory (MB) | s/step |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for method, per_dim in summary["methods"].items():
        for dim, s in sorted(per_dim.items(), key=lambda kv: int(kv[0])):
            lines.append(
                f"| {method} | {dim} | {s['auc_mean']:.3f} ± {s['auc_std']:.3f} | {s['pck_at']['3']:.3f} | "
                f"{s['pck_at']['10']:.3f} | {s['peak_memory_bytes'] / 1e6:.0f} | "
                f"{s['training_memory_bytes'] / 1e6:.0f} | {s['seconds_per_step']:.3f} |"
            )
    if "don_ntxent_memory_probe" in summary:
        lines += [
            "",
            "DON NT-Xent memory with the reference implementation's broadcast cosine similarity:",
            "",
            "| D | peak memory (MB) | training memory (MB) | s/step |",
            "|---|---|---|---|",
        ]
        for dim, s in sorted(summary["don_ntxent_memory_probe"].items(), key=lambda kv: int(kv[0])):
            lines.append(
                f"| {dim} | {s['peak_memory_bytes'] / 1e6:.0f} | {s['training_memory_bytes'] / 1e6:.0f} | {s['seconds_per_step']:.2f} |"
            )
    (out / "results.md").write_text("\n".join(lines) + "\n")

    ks = np.arange(1, 101)
    fig, axes = plt.subplots(
        1, len(summary["methods"]), figsize=(6 * len(summary["methods"]), 4), squeeze=False
    )
    for ax, (method, per_dim) in zip(axes[0], summary["methods"].items(), strict=False):
        for dim, s in sorted(per_dim.items(), key=lambda kv: int(kv[0])):
            ax.plot(ks, s["pck_curve_mean"], label=f"D={dim} (AUC {s['auc_mean']:.3f})")
        ax.set(title=method, xlabel="k (pixels)", ylabel="PCK@k", ylim=(0, 1.02))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "pck_curves.png", dpi=120)
    plt.close(fig)

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for method, per_dim in summary["methods"].items():
        dims = sorted(per_dim, key=int)
        ax1.errorbar(
            [int(d) for d in dims],
            [per_dim[d]["auc_mean"] for d in dims],
            yerr=[per_dim[d]["auc_std"] for d in dims],
            marker="o",
            capsize=3,
            label=method,
        )
        ax2.plot(
            [int(d) for d in dims],
            [per_dim[d]["peak_memory_bytes"] / 1e6 for d in dims],
            marker="o",
            label=f"{method} peak",
        )
    if "don_ntxent_memory_probe" in summary:
        probe = summary["don_ntxent_memory_probe"]
        dims = sorted(probe, key=int)
        ax2.plot(
            [int(d) for d in dims],
            [probe[d]["peak_memory_bytes"] / 1e6 for d in dims],
            marker="s",
            ls="--",
            label="don_ntxent (broadcast) peak",
        )
    ax1.set(xscale="log", xlabel="descriptor size D", ylabel="AUC of PCK@k", title="robustness")
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
