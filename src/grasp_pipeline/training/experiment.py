"""The loss-weighting experiment of paper 000: every method x seed trained, compared by convergence
step and error after convergence (runs whose convergence point is not trustworthy flagged and
reported apart), with paired tests over seeds, the paper's KS tests and figures.

Layout: the work directory (``work_dir`` of the config, outside git) holds
``runs/<method>_s<seed>/`` (one trainer directory each, resumable) and ``data_cache.pt`` (the data
sets at the network's size); ``out`` receives ``results.json``, ``curves.json`` (the validation
curves of every run), ``curves.png``, ``double_box.png``, ``weights.png`` and ``paired.png``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from grasp_pipeline.training.checkpoint import atomic_write_bytes

PAPER = {
    "auxnet_vs_kgc_fewer_steps_pct": 24.5,
    "auxnet_vs_kgc_pickup_rate_better_pct": 15.8,
    "auxnet_mean_convergence_step": 26800,
    "kgc_mean_convergence_step": 34850,
}


@dataclass
class ExperimentConfig:
    """Parsed experiment YAML (see config/experiments/weighting_cpu.yaml for every field)."""

    name: str
    train_data: str
    val_data: str
    model: dict
    train: dict
    methods: list[str]
    seeds: list[int]
    workers: int = 2
    threads_per_worker: int = 1
    depth_max_m: float = 1.0
    window: float = 0.5
    metric: str = "summed_error"
    generate: dict = field(default_factory=dict)
    notes: str = ""
    work_dir: str = ""
    # The committed experiment ran with the annotation's mask-snapped pickup pixels.
    pickup_label: str = "annotated"
    # Options of convergence.check_convergence (stuck_margin, late_fraction, relapse_fraction,
    # relapse_sigma); missing ones take that function's defaults.
    flags: dict = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | os.PathLike) -> ExperimentConfig:
        import yaml

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"experiment config not found: {path}")
        doc = yaml.safe_load(path.read_text()) or {}
        for key in ("name", "data", "model", "train", "methods", "seeds"):
            if key not in doc:
                raise ValueError(f"{path}: missing field {key!r}")
        data = doc.pop("data")
        if not {"train", "val"} <= set(data):
            raise ValueError(f"{path}: data needs 'train' and 'val' directories")
        from grasp_pipeline.paths import repo_root

        def resolve(p: str) -> str:  # relative paths are relative to the repository root
            return str(Path(p) if Path(p).is_absolute() else (repo_root() / p).resolve())

        doc["work_dir"] = resolve(doc.get("work_dir", f"tmp/{doc['name']}"))
        from grasp_pipeline.training.weighting import METHODS

        bad = [m for m in doc["methods"] if m not in METHODS]
        if bad:
            raise ValueError(f"{path}: unknown method(s) {bad}; choose from {METHODS}")
        doc["flags"] = dict(doc.get("flags") or {})
        known = {
            "stuck_margin",
            "late_fraction",
            "relapse_fraction",
            "relapse_sigma",
            "relapse_points",
        }
        unknown = set(doc.get("flags") or {}) - known
        if unknown:
            raise ValueError(f"{path}: unknown flag setting(s) {sorted(unknown)}; use {known}")
        return cls(
            train_data=resolve(data["train"]),
            val_data=resolve(data["val"]),
            depth_max_m=float(data.get("depth_max_m", 1.0)),
            **doc,
        )


def ensure_data(cfg: ExperimentConfig) -> None:
    """Generate the train/val data sets with ``grasp-pipeline dataset generate`` when missing."""
    for split, root in (("train", cfg.train_data), ("val", cfg.val_data)):
        if (Path(root) / "manifest.json").exists() or not cfg.generate.get(split):
            continue
        args = [sys.executable, "-m", "grasp_pipeline.cli", "dataset", "generate", "--out", root]
        for k, v in cfg.generate[split].items():
            flag = f"--{k.replace('_', '-')}"
            if v is True:
                args.append(flag)
            elif v is not False and v is not None:
                args += [flag, str(v)]
        print("generating", split, "data:", " ".join(args[2:]), flush=True)
        subprocess.run(args, check=True)


def build_cache(cfg: ExperimentConfig, path: Path) -> None:
    """Load both splits once at the network's input size into one tensor file."""
    import torch

    from grasp_pipeline.data.segmentation_dataset import SegmentationDataset

    size = (int(cfg.model["width"]), int(cfg.model["height"]))
    out = {}
    for split, root in (("train", cfg.train_data), ("val", cfg.val_data)):
        ds = SegmentationDataset(
            root,
            size=size,
            augment=False,
            depth_max_m=cfg.depth_max_m,
            pickup_label=cfg.pickup_label,
        )
        items = [ds[i] for i in range(len(ds))]
        out[split] = {
            "image": torch.stack([torch.as_tensor(it["image"]) for it in items]).half(),
            "masks": torch.stack([torch.as_tensor(it["masks"]) for it in items]).bool(),
            "pickup": torch.stack([torch.as_tensor(it["pickup"]) for it in items]),
            "present": torch.stack([torch.as_tensor(it["present"]) for it in items]),
            "depth_m": torch.stack([torch.as_tensor(it["depth_m"]) for it in items]),
            "intrinsics": torch.stack([torch.as_tensor(it["intrinsics"]) for it in items]),
        }
    import io

    buf = io.BytesIO()
    torch.save(out, buf)
    atomic_write_bytes(path, buf.getvalue())


# How cached splits store their large tensors (torch dtype names); CachedData hands them out
# as float32.
COMPACT_DTYPES = {"image": "float16", "masks": "bool", "offset": "float16"}


class CachedData:
    """Items of one cached split, in the layout of SegmentationDataset."""

    def __init__(self, tensors: dict) -> None:
        self.t = tensors

    def __len__(self) -> int:
        return int(self.t["image"].shape[0])

    def __getitem__(self, i: int) -> dict:
        t = self.t
        item = {k: (v[i].float() if k in COMPACT_DTYPES else v[i]) for k, v in t.items()}
        item["frame_id"] = str(i)
        return item


def _run_one(job: tuple[dict, str, str, int, str, int]) -> tuple[str, int, float]:
    model_d, cache, method, seed, run_dir, threads = job
    import torch

    torch.set_num_threads(threads)
    from grasp_pipeline.perception.segnet.config import SegNetConfig
    from grasp_pipeline.training.segnet_trainer import SegNetTrainer, TrainConfig

    data = torch.load(cache, weights_only=True)
    tdict = dict(model_d["train"], method=method, seed=seed)
    trainer = SegNetTrainer(
        SegNetConfig.from_dict(model_d["model"]),
        TrainConfig.from_dict(tdict),
        CachedData(data["train"]),
        CachedData(data["val"]),
        run_dir,
    )
    t0 = time.time()
    trainer.fit(progress=False)
    return method, seed, time.time() - t0


def run_experiment(
    cfg: ExperimentConfig, out: str | os.PathLike, workers: int | None = None
) -> dict:
    """Train every method x seed (skipping finished runs, resuming interrupted ones), then analyse."""
    import multiprocessing as mp

    from tqdm import tqdm

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(cfg.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    ensure_data(cfg)
    cache = work / "data_cache.pt"
    if not cache.exists():
        build_cache(cfg, cache)
    steps = int(cfg.train["steps"])
    jobs = []
    for seed in cfg.seeds:
        for method in cfg.methods:
            run_dir = work / "runs" / f"{method}_s{seed}"
            if _finished(run_dir, steps):
                continue
            jobs.append(
                (
                    {"model": cfg.model, "train": cfg.train},
                    str(cache),
                    method,
                    int(seed),
                    str(run_dir),
                    cfg.threads_per_worker,
                )
            )
    n = workers or cfg.workers
    failures = []
    if jobs:
        # A process pool whose worker dies (a native crash) fails its runs instead of waiting for
        # them forever, as multiprocessing.Pool would.
        with ProcessPoolExecutor(n, mp_context=mp.get_context("spawn")) as pool:
            futures = {pool.submit(_run_one, job): job for job in jobs}
            bar = tqdm(total=len(jobs), desc=f"{cfg.name} runs")
            for fut in as_completed(futures):
                job = futures[fut]
                try:
                    method, seed, secs = fut.result()
                    bar.set_postfix_str(f"{method} s{seed} {secs:.0f}s")
                except Exception as e:  # reported below; finished runs are kept
                    failures.append(f"{job[2]} seed {job[3]}: {type(e).__name__}: {e}")
                bar.update(1)
            bar.close()
    if failures:
        raise RuntimeError(
            f"{len(failures)} of {len(jobs)} training runs failed (re-running resumes them):\n"
            + "\n".join(failures)
        )
    return analyse(cfg, out)


def _finished(run_dir: Path, steps: int) -> bool:
    f = run_dir / "metrics.json"
    if not f.exists():
        return False
    hist = json.loads(f.read_text())["history"]
    return bool(hist) and hist[-1]["step"] >= steps


def _load_histories(cfg: ExperimentConfig, out: Path) -> dict[str, dict[int, list[dict]]]:
    res: dict[str, dict[int, list[dict]]] = {}
    for method in cfg.methods:
        res[method] = {}
        for seed in cfg.seeds:
            f = Path(cfg.work_dir) / "runs" / f"{method}_s{seed}" / "metrics.json"
            if f.exists():
                res[method][int(seed)] = json.loads(f.read_text())["history"]
    return res


PAIRED_REFERENCES = ("auxnet", "kgc")
PER_SEED = (
    "convergence_steps",
    "errors",
    "pickup_rate",
    "iou_error",
    "distance_cm",
    "final_error",
    "tail_errors",
    "tail_change",
)


def _method_summary(cfg: ExperimentConfig, runs: dict[int, list[dict]]) -> dict:
    """Per-seed convergence analysis of one method's runs, with flags and robust summaries."""
    from grasp_pipeline.training.convergence import FLAGS, check_convergence
    from grasp_pipeline.training.stats import bootstrap_median_ci

    m: dict = {"seeds": [], "flags": [], "diverged_seeds": []}
    m.update({k: [] for k in PER_SEED})
    steps_total = float(cfg.train["steps"])
    for seed, h in sorted(runs.items()):
        err = [r[cfg.metric] for r in h]
        if not h or not np.all(np.isfinite(err)):
            m["diverged_seeds"].append(seed)
            continue
        chk = check_convergence(
            [r["step"] for r in h], err, cfg.window, total_steps=steps_total, **cfg.flags
        )
        c = chk.convergence
        after = h[c.index :]
        m["seeds"].append(seed)
        m["flags"].append(list(chk.flags))
        m["convergence_steps"].append(c.step)
        m["errors"].append(c.mean_error)
        m["pickup_rate"].append(float(np.mean([r["pickup_rate"] for r in after])))
        m["iou_error"].append(float(np.mean([r["iou_error"] for r in after])))
        m["distance_cm"].append(float(np.mean([r["distance_cm"] for r in after])))
        m["final_error"].append(float(err[-1]))
        m["tail_errors"].append(chk.tail_error)
        m["tail_change"].append(chk.tail_change)
    ok = [not f for f in m["flags"]]
    m["ok_seeds"] = [s for s, good in zip(m["seeds"], ok, strict=True) if good]
    m["flagged_seeds"] = {
        f: [s for s, fl in zip(m["seeds"], m["flags"], strict=True) if f in fl] for f in FLAGS
    }
    m["stuck_seeds"] = m["flagged_seeds"]["stuck"]
    for key in PER_SEED:
        # Convergence-based quantities only over unflagged runs; the tail of the curve over all.
        every = key in ("final_error", "tail_errors", "tail_change")
        v = np.asarray([x for x, good in zip(m[key], ok, strict=True) if good or every], float)
        m[f"median_{key}"] = float(np.median(v)) if v.size else float("nan")
        m[f"mean_{key}"] = float(np.mean(v)) if v.size else float("nan")
        if key in ("convergence_steps", "errors", "tail_errors"):
            m[f"median_{key}_ci95"] = list(bootstrap_median_ci(v))
    return m


def _by_seed(m: dict, key: str, only_ok: bool) -> dict[int, float]:
    return {
        s: v for s, v, f in zip(m["seeds"], m[key], m["flags"], strict=True) if not (only_ok and f)
    }


def paired_tests(methods: dict[str, dict]) -> dict[str, dict]:
    """Every method against ``auxnet`` and ``kgc`` (where run), paired by seed.

    Metrics: ``convergence_steps`` and ``errors`` (error after convergence) over the seeds where
    neither run is flagged; ``tail_errors`` (mean error over the last third of training) over all
    seeds where both ran. Each entry: see :func:`~grasp_pipeline.training.stats.compare_paired`
    (differences are method - reference), plus ``p_wilcoxon_holm``: Holm-adjusted over every
    comparison of that metric in this table.
    """
    from grasp_pipeline.training.stats import compare_paired, holm

    out: dict[str, dict] = {}
    for ref in PAIRED_REFERENCES:
        if ref not in methods:
            continue
        for name, m in methods.items():
            if name == ref:
                continue
            entry: dict = {"method": name, "reference": ref}
            for key, only_ok in (
                ("convergence_steps", True),
                ("errors", True),
                ("tail_errors", False),
            ):
                entry[key] = compare_paired(
                    _by_seed(m, key, only_ok), _by_seed(methods[ref], key, only_ok)
                )
            out[f"{name}_vs_{ref}"] = entry
    for key in ("convergence_steps", "errors", "tail_errors"):
        adj = holm({k: v[key]["p_wilcoxon"] for k, v in out.items()})
        for k, p in adj.items():
            out[k][key]["p_wilcoxon_holm"] = p
    return out


def analyse(cfg: ExperimentConfig, out: str | os.PathLike) -> dict:
    """Convergence points and their flags, errors after convergence, paired tests over seeds, the
    paper's KS p-values and figures from the run logs."""
    from grasp_pipeline.training.convergence import ks_pvalues
    from grasp_pipeline.training.plots import (
        plot_curves,
        plot_double_box,
        plot_paired,
        plot_weights,
    )

    out = Path(out)
    hist = _load_histories(cfg, out)
    methods = {method: _method_summary(cfg, runs) for method, runs in hist.items()}
    ok = {
        k: (_by_seed(v, "convergence_steps", True), _by_seed(v, "errors", True))
        for k, v in methods.items()
    }
    ks_steps = ks_pvalues({k: list(v[0].values()) for k, v in ok.items()})
    ks_err = ks_pvalues({k: list(v[1].values()) for k, v in ok.items()})
    for k in methods:
        methods[k]["ks_p_convergence_steps"] = ks_steps[k]
        methods[k]["ks_p_errors"] = ks_err[k]
    paired = paired_tests(methods)
    result = {
        "name": cfg.name,
        "metric": cfg.metric,
        "window_sigma": cfg.window,
        "flag_settings": cfg.flags,
        "notes": cfg.notes,
        "model": cfg.model,
        "train": cfg.train,
        "seeds": list(cfg.seeds),
        "methods": methods,
        "paired_tests": paired,
        "comparison": _compare(methods),
        "paper": PAPER,
    }
    atomic_write_bytes(out / "results.json", json.dumps(result, indent=1).encode())
    runs = {k: list(v.values()) for k, v in hist.items()}
    keys = (
        "step",
        "summed_error",
        "iou_error",
        "pickup_rate",
        "distance_cm",
        "distance_px",
        "class_accuracy",
        "multipliers",
    )
    curves = {
        f"{m}_s{seed}": {k: [r[k] for r in h] for k in keys}
        for m, per_seed in hist.items()
        for seed, h in per_seed.items()
    }
    atomic_write_bytes(out / "curves.json", json.dumps(curves).encode())
    plot_curves(runs, out / "curves.png")
    plot_weights(runs, out / "weights.png")
    plot_double_box(
        {k: list(v[0].values()) for k, v in ok.items()},
        {k: list(v[1].values()) for k, v in ok.items()},
        out / "double_box.png",
        flagged={k: len(v["seeds"]) - len(v["ok_seeds"]) for k, v in methods.items()},
    )
    plot_paired(paired, out / "paired.png")
    return result


def _compare(methods: dict) -> dict:
    """AuxNet against every other method, in the paper's terms (relative to the other method,
    means over each method's unflagged runs; the paired tests are in ``paired_tests``)."""
    out = {}
    if "auxnet" not in methods:
        return out
    a = methods["auxnet"]
    for other, o in methods.items():
        if other == "auxnet" or not o["ok_seeds"]:
            continue
        out[f"auxnet_vs_{other}"] = {
            "fewer_steps_pct": 100 * (1 - a["mean_convergence_steps"] / o["mean_convergence_steps"])
            if o["mean_convergence_steps"]
            else float("nan"),
            "pickup_rate_better_pct": 100 * (a["mean_pickup_rate"] / o["mean_pickup_rate"] - 1),
            "summed_error_lower_pct": 100 * (1 - a["mean_errors"] / o["mean_errors"]),
            "ks_p_convergence_steps": a["ks_p_convergence_steps"].get(other, float("nan")),
            "ks_p_errors": a["ks_p_errors"].get(other, float("nan")),
        }
    return out
