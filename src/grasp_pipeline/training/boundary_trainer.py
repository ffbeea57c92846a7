"""Train the parts detector's boundary network
(:mod:`grasp_pipeline.perception.instances.boundary`).

It learns from the crops of the regions the depth geometry finds
(:mod:`grasp_pipeline.training.boundary_data`): each epoch takes every training region holding
two or more parts and as many regions of one part, drawn anew, so that splitting is learned
without the network being told that every region splits. The loss is binary cross-entropy per
crop pixel of the region, boundary pixels weighted by ``pos_weight`` (they are few). Augmentation
mirrors and transposes crop and target together and jitters brightness. Validation holds out
whole frames (every ``val_every``-th) and reports what the detector uses: the share of regions of
two or more parts that :func:`~grasp_pipeline.perception.instances.boundary.crop_pieces` cuts into
pieces (``split_rate_parts``) and the share of one-part regions it cuts (``split_rate_one``).
Each epoch ends with an atomic ``checkpoint.pt`` in ``work_dir`` (a run started again resumes
from it); the best epoch by validation loss is exported as ``classifier.pt``: the given
classifier's checkpoint with the network as its ``"boundary"`` entry. Non-finite losses skip the
step; too many in a row end the run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from grasp_pipeline.perception.instances.boundary import (
    BoundaryConfig,
    BoundaryNet,
    crop_pieces,
)
from grasp_pipeline.perception.instances.crops import CHANNELS
from grasp_pipeline.training.boundary_data import BoundarySet
from grasp_pipeline.training.checkpoint import load_checkpoint
from grasp_pipeline.training.epochs import export_network, train_epochs


@dataclass(frozen=True)
class BoundaryTrainConfig:
    epochs: int = 24
    batch: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-4
    val_every: int = 10
    width: int = 24
    stride: int = 2
    seed: int = 0
    pos_weight: float = 4.0


def augment(
    x: np.ndarray, target: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Crops (B, C, S, S) and targets (B, S, S) mirrored left-right, up-down and transposed at
    random (together), and the colour's brightness jittered; new arrays."""
    if rng.random() < 0.5:
        x, target = x[..., ::-1], target[..., ::-1]
    if rng.random() < 0.5:
        x, target = x[..., ::-1, :], target[..., ::-1, :]
    if rng.random() < 0.5:
        x, target = x.swapaxes(2, 3), target.swapaxes(1, 2)
    x, target = np.array(x, np.float32), np.array(target, np.float32)
    gain = rng.uniform(0.75, 1.25, (len(x), 1, 1, 1)).astype(np.float32)
    x[:, :3] = np.clip(x[:, :3] * gain, 0.0, 1.0)
    return x, target


def _batch(x: np.ndarray):
    """A network input array as a channels-last tensor (as the trained weights are)."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(x, np.float32)).contiguous(
        memory_format=torch.channels_last
    )


def region_loss(logits, target, mask, pos_weight: float):
    """Mean binary cross-entropy over the ``mask`` pixels (tensors (B, S, S))."""
    import torch

    return torch.nn.functional.binary_cross_entropy_with_logits(
        logits[mask], target[mask], pos_weight=torch.tensor(pos_weight)
    )


def evaluate(
    net: BoundaryNet,
    data: BoundarySet,
    idx: np.ndarray,
    pos_weight: float,
    batch: int = 256,
) -> dict:
    """Validation loss and split rates (see the module docstring) on crops ``idx``."""
    import torch

    net.eval()
    losses, split_parts, split_one = [], 0, 0
    with torch.inference_mode():
        for i in range(0, len(idx), batch):
            j = idx[i : i + batch]
            x = _batch(data.x[j])
            mask = x[:, CHANNELS - 1] > 0.5
            logits = net(x)
            target = torch.from_numpy(data.target[j].astype(np.float32))
            if mask.any():
                losses.append(float(region_loss(logits, target, mask, pos_weight)) * len(j))
            prob = torch.sigmoid(logits).numpy()
            for k, jj in enumerate(j):
                pieces = crop_pieces(prob[k], mask[k].numpy())
                if data.parts[jj] >= 2:
                    split_parts += pieces is not None
                else:
                    split_one += pieces is not None
    net.train()
    many = int(np.sum(data.parts[idx] >= 2))
    one = len(idx) - many
    return {
        "regions": len(idx),
        "regions_of_parts": many,
        "loss": float(np.sum(losses) / max(len(idx), 1)),
        "split_rate_parts": split_parts / max(many, 1),
        "split_rate_one": split_one / max(one, 1),
    }


def train_boundaries(
    data: BoundarySet,
    classifier: str | Path,
    work_dir: str | Path,
    config: BoundaryTrainConfig,
    progress: bool = True,
    epoch_limit: int | None = None,
) -> dict:
    """Train (or resume) in ``work_dir``; the export is ``classifier`` with the best network
    added. Returns the summary also written to summary.json. ``epoch_limit``: stop after this
    many epochs in this call."""
    import torch

    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    base = load_checkpoint(classifier)
    val = data.frame % config.val_every == 0
    many = data.parts >= 2
    train_many = np.flatnonzero(many & ~val)
    train_one = np.flatnonzero(~many & ~val)
    val_idx = np.flatnonzero(val)
    if len(train_many) == 0 or len(train_one) == 0 or len(val_idx) == 0:
        raise ValueError(
            "need regions of several parts and of one part to train on and regions to validate "
            f"on, got {len(train_many)} / {len(train_one)} / {len(val_idx)}"
        )
    net = BoundaryNet(BoundaryConfig(width=config.width, stride=config.stride)).to(
        memory_format=torch.channels_last
    )
    per_epoch = len(train_many) + min(len(train_many), len(train_one))
    steps_per_epoch = int(np.ceil(per_epoch / config.batch))
    cfg = {"boundary": net.config.to_dict(), "train": asdict(config), "classifier": str(classifier)}

    def batch_loss(j: np.ndarray, rng: np.random.Generator):
        j = np.sort(j)
        x, target = augment(data.x[j], data.target[j], rng)
        xt = _batch(x)
        return region_loss(
            net(xt), torch.from_numpy(target), xt[:, CHANNELS - 1] > 0.5, config.pos_weight
        )

    def order(rng: np.random.Generator) -> np.ndarray:
        """Every training region of several parts and as many of one part, drawn anew."""
        ones = rng.choice(train_one, min(len(train_many), len(train_one)), replace=False)
        return rng.permutation(np.concatenate([train_many, ones]))

    def validate() -> tuple[dict[str, float], dict]:
        figures = evaluate(net, data, val_idx, config.pos_weight)
        fields = {
            "val_loss": figures["loss"],
            "val_split_rate_parts": figures["split_rate_parts"],
            "val_split_rate_one": figures["split_rate_one"],
        }
        return fields, figures

    return train_epochs(
        work,
        cfg,
        net,
        config,
        steps_per_epoch,
        order=order,
        batch_loss=batch_loss,
        validate=validate,
        watch=("val_loss", "loss", False),
        export=export_network(base, "boundary", net, work),
        describe=lambda row: (
            f"loss {row['loss']:.3f}, validation loss {row['val_loss']:.3f}, "
            f"split {row['val_split_rate_parts']:.3f} of regions of parts, "
            f"{row['val_split_rate_one']:.3f} of one part"
        ),
        data={"regions": {"train": len(train_many) + len(train_one), "val": len(val_idx)}},
        progress=progress,
        epoch_limit=epoch_limit,
    )
