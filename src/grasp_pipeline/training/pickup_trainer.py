"""Train the parts detector's pickup network (:mod:`grasp_pipeline.perception.instances.pickup`).

It learns from the classifier's own crops (:mod:`grasp_pipeline.training.parts_data`) of regions
that belong to a part: the input is the crop and the region's 3-D mean, the target the part's
centre of gravity, the loss made of the distance d between them in centimetres at the part's
depth: ``"pickup"`` (default) is what paper 000's pickup rate misses, 1 - 1 / (d^2 + 1) (its
Eq. 4 error), plus ``DISTANCE_WEIGHT`` x d so that far predictions still pull; ``"distance"``
is d alone. ``by_class``: the network is also told each crop's class (its label in training,
the classifier's name for the region in the detector). Augmentation mirrors and transposes
crop, mean and target together (crop coordinates mirror as t -> 1 - t) and jitters brightness.
Validation holds out whole frames (every ``val_every``-th) and reports, beside the network's
figures, the 3-D mean's on the same crops. Each epoch ends with an atomic ``checkpoint.pt`` in
``work_dir`` (a run started again resumes from it); the best epoch by validation pickup rate is
exported as ``classifier.pt``: the given classifier's checkpoint with the network as its
``"pickup"`` entry. Non-finite losses skip the step; too many in a row end the run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from grasp_pipeline.perception.instances.pickup import (
    PickupConfig,
    PickupNet,
    pickup_input,
)
from grasp_pipeline.perception.segnet.losses import pickup_error
from grasp_pipeline.training.checkpoint import load_checkpoint
from grasp_pipeline.training.epochs import export_network, train_epochs
from grasp_pipeline.training.parts_data import CropSet

LOSSES = ("pickup", "distance")
# the "pickup" loss's distance term: the paper's term alone flattens out beyond ~2 cm
DISTANCE_WEIGHT = 0.05


def pickup_loss(d_cm, kind: str):
    """Mean training loss of distances ``d_cm`` (a tensor, cm): see the module docstring."""
    if kind == "distance":
        return d_cm.mean()
    return (pickup_error(d_cm) + DISTANCE_WEIGHT * d_cm).mean()


@dataclass(frozen=True)
class PickupTrainConfig:
    epochs: int = 24
    batch: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    val_every: int = 10
    width: int = 32
    seed: int = 0
    loss: str = "pickup"
    by_class: bool = False

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"pickup loss must be one of {LOSSES}, got {self.loss!r}")


def augment(
    x: np.ndarray, cog: np.ndarray, prior: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Crops (B, C, S, S) with their centres of gravity and 3-D means (B, 2, crop coordinates)
    mirrored left-right, up-down and transposed at random (together), and the colour's
    brightness jittered; new arrays."""
    x, cog, prior = x.copy(), cog.copy(), prior.copy()
    if rng.random() < 0.5:
        x, cog[:, 0], prior[:, 0] = x[..., ::-1], 1.0 - cog[:, 0], 1.0 - prior[:, 0]
    if rng.random() < 0.5:
        x, cog[:, 1], prior[:, 1] = x[..., ::-1, :], 1.0 - cog[:, 1], 1.0 - prior[:, 1]
    if rng.random() < 0.5:
        x, cog, prior = x.swapaxes(2, 3), cog[:, ::-1], prior[:, ::-1]
    x = np.ascontiguousarray(x)
    gain = rng.uniform(0.75, 1.25, (len(x), 1, 1, 1)).astype(np.float32)
    x[:, :3] = np.clip(x[:, :3] * gain, 0.0, 1.0)
    return x, np.ascontiguousarray(cog), np.ascontiguousarray(prior)


def distances_cm(pred: np.ndarray, cog: np.ndarray, side_m: np.ndarray) -> np.ndarray:
    """Distances (cm) between crop coordinates ``pred`` and ``cog`` (N, 2) of windows
    ``side_m`` (N,) wide at the part's depth."""
    return 100.0 * np.linalg.norm(pred - cog, axis=1) * side_m


def pickup_figures(d_cm: np.ndarray) -> dict:
    """Median distance and paper 000's mean pickup rate 1 / (d^2 + 1) of distances in cm."""
    return {
        "distance_cm_median": float(np.median(d_cm)) if len(d_cm) else float("nan"),
        "pickup_rate": float(np.mean(1.0 / (d_cm**2 + 1.0))) if len(d_cm) else float("nan"),
    }


def _batch(x: np.ndarray):
    """A network input array as a channels-last tensor (as the trained weights are)."""
    import torch

    return torch.from_numpy(x).contiguous(memory_format=torch.channels_last)


def _classes(net: PickupNet, y: np.ndarray):
    """The class indices a network trained with classes takes (None for one without)."""
    import torch

    return torch.from_numpy(y.astype(np.int64)) if net.by_class else None


def evaluate(net: PickupNet, crops: CropSet, idx: np.ndarray, batch: int = 256) -> dict:
    """The network's and the 3-D mean's distances and pickup rates on crops ``idx``, overall
    and per class (the network's)."""
    import torch

    net.eval()
    preds = []
    with torch.inference_mode():
        for i in range(0, len(idx), batch):
            j = idx[i : i + batch]
            x = _batch(pickup_input(crops.x[j].astype(np.float32), crops.prior[j]))
            preds.append(net(x, _classes(net, crops.y[j])).numpy())
    pred = np.concatenate(preds) if preds else np.zeros((0, 2))
    net.train()
    d = distances_cm(pred, crops.cog[idx], crops.side_m[idx])
    y = crops.y[idx]
    return {
        "crops": len(idx),
        "network": pickup_figures(d),
        "mean_3d": pickup_figures(
            distances_cm(crops.prior[idx], crops.cog[idx], crops.side_m[idx])
        ),
        "per_class": {
            crops.labels[k]: {"crops": int(np.sum(y == k)), **pickup_figures(d[y == k])}
            for k in np.unique(y)
        },
    }


def train_pickup(
    crops: CropSet,
    classifier: str | Path,
    work_dir: str | Path,
    config: PickupTrainConfig,
    progress: bool = True,
    epoch_limit: int | None = None,
) -> dict:
    """Train (or resume) in ``work_dir`` on the crops of parts (those with a centre of gravity);
    the export is ``classifier`` with the best network added. Returns the summary also written
    to summary.json. ``epoch_limit``: stop after this many epochs in this call."""
    import torch

    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    base = load_checkpoint(classifier)
    usable = np.all(np.isfinite(crops.cog), axis=1) & np.isfinite(crops.side_m)
    val = crops.frame % config.val_every == 0
    train_idx, val_idx = np.flatnonzero(usable & ~val), np.flatnonzero(usable & val)
    if len(train_idx) == 0 or len(val_idx) == 0:
        raise ValueError(
            f"need crops of parts to train and validate on, got {len(train_idx)} / {len(val_idx)}"
        )
    # channels-last weights and batches: 1.3x faster steps on this CPU
    classes = len(crops.labels) if config.by_class else 0
    net = PickupNet(PickupConfig(width=config.width, classes=classes)).to(
        memory_format=torch.channels_last
    )
    steps_per_epoch = int(np.ceil(len(train_idx) / config.batch))
    cfg = {"pickup": net.config.to_dict(), "train": asdict(config), "classifier": str(classifier)}

    def batch_loss(j: np.ndarray, rng: np.random.Generator):
        """The loss (:func:`pickup_loss`) of the predicted centres of gravity's distances (cm
        at the part's depth)."""
        j = np.sort(j)
        x, cog, prior = augment(crops.x[j].astype(np.float32), crops.cog[j], crops.prior[j], rng)
        pred = net(_batch(pickup_input(x, prior)), _classes(net, crops.y[j]))
        side = torch.from_numpy(crops.side_m[j])
        return pickup_loss(100.0 * (pred - torch.from_numpy(cog)).norm(dim=1) * side, config.loss)

    def validate() -> tuple[dict[str, float], dict]:
        figures = evaluate(net, crops, val_idx)
        fields = {
            "val_distance_cm_median": figures["network"]["distance_cm_median"],
            "val_pickup_rate": figures["network"]["pickup_rate"],
            "val_pickup_rate_mean_3d": figures["mean_3d"]["pickup_rate"],
        }
        return fields, figures

    return train_epochs(
        work,
        cfg,
        net,
        config,
        steps_per_epoch,
        order=lambda rng: rng.permutation(train_idx),
        batch_loss=batch_loss,
        validate=validate,
        watch=("val_pickup_rate", "pickup_rate", True),
        export=export_network(base, "pickup", net, work),
        describe=lambda row: (
            f"loss {row['loss']:.3f}, validation median {row['val_distance_cm_median']:.3f} cm, "
            f"pickup rate {row['val_pickup_rate']:.3f} "
            f"(3-D mean {row['val_pickup_rate_mean_3d']:.3f})"
        ),
        data={"crops": {"train": len(train_idx), "val": len(val_idx)}},
        progress=progress,
        epoch_limit=epoch_limit,
    )
