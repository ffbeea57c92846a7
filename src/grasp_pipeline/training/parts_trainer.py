"""Train the parts classifier on crops (:mod:`grasp_pipeline.training.parts_data`).

Validation holds out whole frames (every ``val_every``-th frame of each dataset), so no crop of
a validation frame was trained on. Each epoch ends with an atomic ``checkpoint.pt`` (weights,
optimiser, epoch, history) in ``work_dir``; a run started again with the same ``work_dir``
resumes from it. The best epoch by validation accuracy is exported as ``classifier.pt`` (the
layout of :mod:`grasp_pipeline.perception.instances.checkpoint`). Non-finite losses skip the
step; too many in a row end the run with an error naming the step.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from grasp_pipeline.perception.instances.checkpoint import UNKNOWN, classifier_config
from grasp_pipeline.perception.instances.crops import CropSpec
from grasp_pipeline.perception.instances.geometry import GeometryConfig
from grasp_pipeline.perception.instances.model import ClassifierConfig, CropClassifier
from grasp_pipeline.training.checkpoint import save_checkpoint
from grasp_pipeline.training.epochs import append_row, resume, run_epoch, save_state
from grasp_pipeline.training.parts_data import CropSet

SHIFT_PX = 4


@dataclass(frozen=True)
class PartsTrainConfig:
    epochs: int = 30
    batch: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    label_smoothing: float = 0.05
    val_every: int = 10
    width: int = 32
    seed: int = 0


def split_by_frame(crops: CropSet, val_every: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of training and validation crops: frames with index % val_every == 0 validate."""
    val = crops.frame % val_every == 0
    return np.flatnonzero(~val), np.flatnonzero(val)


def augment(x, rng: np.random.Generator):
    """Random quarter turns and flips (a part seen from above has no up), a shift of up to
    ``SHIFT_PX`` pixels (a window placed off the part's centre, as a fragment's is), brightness
    and height jitter. ``x``: (B, C, S, S) torch tensor; returns a new tensor."""
    import torch

    k = int(rng.integers(0, 4))
    x = torch.rot90(x, k, dims=(2, 3))
    if rng.random() < 0.5:
        x = torch.flip(x, dims=(3,))
    du, dv = (int(d) for d in rng.integers(-SHIFT_PX, SHIFT_PX + 1, 2))
    if du or dv:  # zeros where the window moved out, as crops are cut at image borders
        p, s = SHIFT_PX, x.shape[-1]
        x = torch.nn.functional.pad(x, (p, p, p, p))[:, :, p - dv : p - dv + s, p - du : p - du + s]
    b = x.shape[0]
    gain = torch.from_numpy(rng.uniform(0.75, 1.25, (b, 1, 1, 1)).astype(np.float32))
    x = x.clone()
    x[:, :3] = (x[:, :3] * gain).clamp(0.0, 1.0)
    x[:, 3] = x[:, 3] + torch.from_numpy(rng.normal(0, 0.02, (b, 1, 1)).astype(np.float32))
    return x


def evaluate(model, crops: CropSet, idx: np.ndarray, batch: int = 256) -> dict:
    """Accuracy on ``idx``, per class and overall, and the confusion counts."""
    import torch

    model.eval()
    preds = []
    with torch.inference_mode():
        for i in range(0, len(idx), batch):
            j = idx[i : i + batch]
            x = torch.from_numpy(crops.x[j].astype(np.float32))
            f = torch.from_numpy(crops.feats[j])
            preds.append(model(x, f).argmax(dim=1).numpy())
    pred = np.concatenate(preds) if preds else np.zeros(0, np.int64)
    true = crops.y[idx]
    n = len(crops.labels)
    conf = np.zeros((n, n), np.int64)
    np.add.at(conf, (true, pred), 1)
    per_class = {
        crops.labels[c]: float(conf[c, c] / conf[c].sum()) for c in range(n) if conf[c].sum()
    }
    unknown = crops.labels.index(UNKNOWN)
    parts = true != unknown
    return {
        "accuracy": float((pred == true).mean()) if len(true) else float("nan"),
        "part_accuracy": float((pred[parts] == true[parts]).mean())
        if parts.any()
        else float("nan"),
        "unknown_called_part": float((pred[~parts] != unknown).mean()) if (~parts).any() else 0.0,
        "per_class": per_class,
        "confusion": conf.tolist(),
    }


def train_parts(
    crops: CropSet,
    work_dir: str | Path,
    config: PartsTrainConfig,
    crop: CropSpec,
    geometry: GeometryConfig,
    progress: bool = True,
    epoch_limit: int | None = None,
) -> dict:
    """Train (or resume) in ``work_dir``; returns the summary also written to summary.json.
    ``epoch_limit``: stop after this many epochs in this call (a later call resumes)."""
    import torch

    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    train_idx, val_idx = split_by_frame(crops, config.val_every)
    if len(train_idx) == 0 or len(val_idx) == 0:
        raise ValueError(
            f"need crops to train and validate on, got {len(train_idx)} / {len(val_idx)}"
        )
    model_cfg = ClassifierConfig(num_classes=len(crops.labels), width=config.width, size=crop.size)
    # channels-last weights: faster steps on this CPU (as the pickup trainer's)
    model = CropClassifier(model_cfg).to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = int(np.ceil(len(train_idx) / config.batch))
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=config.lr, total_steps=config.epochs * steps_per_epoch, pct_start=0.15
    )
    export_cfg = classifier_config(model_cfg, crop, geometry, crops.labels)  # classifier.pt's
    cfg = {**export_cfg, "train": asdict(config)}  # the training state's: with the settings
    ckpt = work / "checkpoint.pt"
    epoch0, history, best = resume(ckpt, cfg, model, opt, sched) or (
        0,
        [],
        {"epoch": -1, "accuracy": -1.0},
    )
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)

    def batch_loss(j: np.ndarray, rng: np.random.Generator):
        """Cross-entropy of augmented crops with their size features jittered by 5 %."""
        x = augment(torch.from_numpy(crops.x[j].astype(np.float32)), rng)
        f = torch.from_numpy(
            crops.feats[j] * rng.uniform(0.95, 1.05, (len(j), 1)).astype(np.float32)
        )
        return loss_fn(model(x, f), torch.from_numpy(crops.y[j]))

    log = work / "train.csv"
    last = config.epochs if epoch_limit is None else min(config.epochs, epoch0 + epoch_limit)
    for epoch in range(epoch0, last):
        rng = np.random.default_rng((config.seed, epoch))
        order = rng.permutation(train_idx)
        model.train()
        t0 = time.perf_counter()
        losses = run_epoch(
            order, config.batch, batch_loss, rng, opt, sched, epoch, config.epochs, progress
        )
        val = evaluate(model, crops, val_idx)
        row = {
            "epoch": epoch + 1,
            "loss": float(np.mean(losses)) if losses else float("nan"),
            "val_accuracy": val["accuracy"],
            "val_part_accuracy": val["part_accuracy"],
            "val_unknown_called_part": val["unknown_called_part"],
            "seconds": time.perf_counter() - t0,
        }
        history.append(row)
        if val["accuracy"] > best["accuracy"]:
            best = {"epoch": epoch + 1, "accuracy": val["accuracy"]}
            save_checkpoint(
                work / "classifier.pt",
                {
                    "model": model.state_dict(),
                    "config": export_cfg,
                    "step": epoch + 1,
                },
            )
            (work / "best_val.json").write_text(json.dumps(val, indent=1))
        save_state(
            ckpt, cfg, model, opt, sched, (epoch + 1) * steps_per_epoch, epoch + 1, history, best
        )
        append_row(log, row)
        if progress:
            print(
                f"epoch {epoch + 1}: loss {row['loss']:.3f}, val accuracy {val['accuracy']:.3f} "
                f"(parts {val['part_accuracy']:.3f}, unknown called a part {val['unknown_called_part']:.3f})",
                flush=True,
            )
    summary = {
        "crops": {
            "train": len(train_idx),
            "val": len(val_idx),
            "per_class": crops.counts(),
        },
        "history": history,
        "best": best,
        "config": cfg,
    }
    (work / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary
