"""Train the parts classifier on crops (:mod:`grasp_pipeline.training.parts_data`).

Validation holds out whole frames (every ``val_every``-th frame of each dataset), so no crop of
a validation frame was trained on. Each epoch ends with an atomic ``checkpoint.pt`` (weights,
optimiser, epoch, history) in ``work_dir``; a run started again with the same ``work_dir``
resumes from it. The best epoch by validation accuracy is exported as ``classifier.pt`` (the
layout of :mod:`grasp_pipeline.perception.instances.checkpoint`). Non-finite losses skip the
step; too many in a row end the run with an error naming the step.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from grasp_pipeline.perception.instances.checkpoint import UNKNOWN, classifier_config
from grasp_pipeline.perception.instances.crops import CropSpec
from grasp_pipeline.perception.instances.geometry import GeometryConfig
from grasp_pipeline.perception.instances.model import ClassifierConfig, CropClassifier
from grasp_pipeline.training.epochs import export_best, train_epochs
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
    steps_per_epoch = int(np.ceil(len(train_idx) / config.batch))
    export_cfg = classifier_config(model_cfg, crop, geometry, crops.labels)  # classifier.pt's
    cfg = {**export_cfg, "train": asdict(config)}  # the training state's: with the settings
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)

    def batch_loss(j: np.ndarray, rng: np.random.Generator):
        """Cross-entropy of augmented crops with their size features jittered by 5 %."""
        x = augment(torch.from_numpy(crops.x[j].astype(np.float32)), rng)
        f = torch.from_numpy(
            crops.feats[j] * rng.uniform(0.95, 1.05, (len(j), 1)).astype(np.float32)
        )
        return loss_fn(model(x, f), torch.from_numpy(crops.y[j]))

    def validate() -> tuple[dict[str, float], dict]:
        val = evaluate(model, crops, val_idx)
        fields = {
            "val_accuracy": val["accuracy"],
            "val_part_accuracy": val["part_accuracy"],
            "val_unknown_called_part": val["unknown_called_part"],
        }
        return fields, val

    def export(epoch: int, val: dict) -> None:
        export_best(work, {"model": model.state_dict(), "config": export_cfg, "step": epoch}, val)

    return train_epochs(
        work,
        cfg,
        model,
        config,
        steps_per_epoch,
        order=lambda rng: rng.permutation(train_idx),
        batch_loss=batch_loss,
        validate=validate,
        watch=("val_accuracy", "accuracy", True),
        export=export,
        describe=lambda row: (
            f"loss {row['loss']:.3f}, val accuracy {row['val_accuracy']:.3f} (parts "
            f"{row['val_part_accuracy']:.3f}, unknown called a part "
            f"{row['val_unknown_called_part']:.3f})"
        ),
        data={
            "crops": {
                "train": len(train_idx),
                "val": len(val_idx),
                "per_class": crops.counts(),
            }
        },
        progress=progress,
        epoch_limit=epoch_limit,
    )
