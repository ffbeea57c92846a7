"""Training loop of the segmentation network with a pluggable loss weighting.

Determinism: batch indices, queried classes and dropout masks of step ``t`` are drawn from
generators seeded with (seed, t), so training N steps in one go and N/2 + resume + N/2 give the
same numbers (on CPU).
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from grasp_pipeline.perception.segnet.config import SegNetConfig
from grasp_pipeline.perception.segnet.losses import (
    pickup_depth,
    queried_loss_terms,
    select_queried,
)
from grasp_pipeline.perception.segnet.model import SegNet, parameter_count
from grasp_pipeline.training.checkpoint import atomic_write_bytes, load_checkpoint, save_checkpoint
from grasp_pipeline.training.segnet_metrics import evaluate_detections, evaluate_segnet
from grasp_pipeline.training.weighting import make_weighting

TENSOR_KEYS = ("image", "masks", "pickup", "present", "depth_m", "intrinsics")
# Batched when every item has them (SegmentationDataset items do): the offset head's target and
# every instance's pickup pixel.
OPTIONAL_KEYS = ("offset", "instances")


@dataclass
class TrainConfig:
    """Optimisation settings (paper defaults: Adam lr 1e-5, betas 0.9/0.999, eps 1e-8, batch 8)."""

    method: str = "auxnet"
    steps: int = 100_000
    batch_size: int = 8
    lr: float = 1e-5
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    eval_every: int = 500
    seed: int = 0
    device: str = "cpu"
    amp: bool = True  # bf16 autocast on CUDA only
    cls_weight: float = 0.1  # classification-vector cross-entropy, added outside the weighting
    # Beyond the paper (all 0/off by default, so the weighting experiment is the paper's setup):
    # per-pixel BCE of every class map against its mask, summed over classes, times dense_weight;
    # a cosine learning-rate decay to lr * lr_final_ratio after lr_warmup linear warm-up steps;
    # flip/colour augmentation applied to each drawn batch (works on cached data).
    dense_weight: float = 0.0
    lr_schedule: str = "constant"  # "constant" or "cosine"
    lr_warmup: int = 0
    lr_final_ratio: float = 0.02
    batch_augment: bool = False
    # Target of the classification vector: the queried class ("queried", as in the experiment) or
    # all classes present in the frame, evenly ("present"; right for multi-object frames).
    cls_target: str = "queried"
    # Smooth-L1 of the offset head (SegNetConfig.offset_head) against the per-pixel offsets to the
    # pixel's own instance's pickup point, averaged over object pixels, times offset_weight.
    offset_weight: float = 0.0
    weighting: dict = field(default_factory=dict)  # options of make_weighting
    log_every: int = 10

    def __post_init__(self) -> None:
        if self.lr_schedule not in ("constant", "cosine"):
            raise ValueError(
                f"lr_schedule must be 'constant' or 'cosine', got {self.lr_schedule!r}"
            )
        if self.cls_target not in ("queried", "present"):
            raise ValueError(f"cls_target must be 'queried' or 'present', got {self.cls_target!r}")
        if self.dense_weight < 0 or self.lr_warmup < 0 or not 0 < self.lr_final_ratio <= 1:
            raise ValueError("dense_weight and lr_warmup must be >= 0, lr_final_ratio in (0, 1]")
        if self.offset_weight < 0:
            raise ValueError(f"offset_weight must be >= 0, got {self.offset_weight}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        d = dict(data)
        if "betas" in d:
            d["betas"] = tuple(d["betas"])
        return cls(**d)


def presence_cross_entropy(class_logits: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """Softmax cross-entropy of the classification vector (B, C) against a target spread evenly
    over the classes present in each frame (B, C) bool; a one-hot target for one-class frames."""
    target = present.float()
    target = target / target.sum(dim=1, keepdim=True).clamp_min(1.0)
    return -(target * F.log_softmax(class_logits, dim=1)).sum(dim=1).mean()


def dense_bce(logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Per-pixel binary cross-entropy of every class map (B, C, H, W) against its mask, summed
    over classes and averaged over pixels: absent classes are pushed to zero everywhere."""
    bce = F.binary_cross_entropy_with_logits(logits, masks.float(), reduction="none")
    return bce.sum(dim=1).mean()


def offset_loss(offsets: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Smooth-L1 (beta 1 px) of predicted offsets (B, 2, H, W) against the target offsets, over
    the pixels where the target is defined (finite); 0 when no pixel is."""
    valid = torch.isfinite(target).all(dim=1, keepdim=True).expand_as(target)
    if not valid.any():
        return offsets.sum() * 0.0
    return F.smooth_l1_loss(offsets[valid], target[valid], beta=1.0) * 2.0  # per pixel, (du, dv)


def augment_batch(b: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Random horizontal flip (masks, depth, pickup pixels and principal point follow) and colour
    gain/contrast per sample, drawn from torch's global RNG (seeded per step by the trainer)."""
    out = dict(b)
    img = b["image"].clone()
    n, _, _, w = img.shape
    flip = torch.rand(n, device=img.device) < 0.5
    if flip.any():
        img[flip] = img[flip].flip(-1)
        for k in ("masks", "depth_m"):
            t = b[k].clone()
            t[flip] = t[flip].flip(-1)
            out[k] = t
        pick = b["pickup"].clone()
        pick[flip, :, 0] = (w - 1) - pick[flip, :, 0]
        out["pickup"] = pick
        if "instances" in b:
            inst = b["instances"].clone()
            inst[flip, ..., 0] = (w - 1) - inst[flip, ..., 0]
            out["instances"] = inst
        if "offset" in b:
            off = b["offset"].clone()
            off[flip] = off[flip].flip(-1)
            off[flip, 0] = -off[flip, 0]
            out["offset"] = off
        intr = b["intrinsics"].clone()
        intr[flip, 2] = (w - 1) - intr[flip, 2]
        out["intrinsics"] = intr
    rgb = img[:, :3]
    gain = torch.empty(n, 1, 1, 1).uniform_(0.75, 1.25) * torch.empty(n, 3, 1, 1).uniform_(0.9, 1.1)
    contrast = torch.empty(n, 1, 1, 1).uniform_(0.8, 1.2)
    mean = rgb.mean(dim=(1, 2, 3), keepdim=True)
    img[:, :3] = ((rgb * gain.to(img) - mean) * contrast.to(img) + mean).clamp(0.0, 1.0)
    out["image"] = img
    return out


def collate(items: Sequence[dict]) -> dict[str, torch.Tensor]:
    """Stack dataset items (dicts with :data:`TENSOR_KEYS`) into a batch."""
    out = {}
    for k in TENSOR_KEYS + tuple(k for k in OPTIONAL_KEYS if all(k in it for it in items)):
        out[k] = torch.stack([torch.as_tensor(it[k]) for it in items])
    out["frame_id"] = [str(it.get("frame_id", "")) for it in items]
    return out


def iterate_batches(data: Dataset, batch_size: int):
    """Every item once, in order, as batches."""
    for start in range(0, len(data), batch_size):
        yield collate([data[i] for i in range(start, min(len(data), start + batch_size))])


class SegNetTrainer:
    """Trains one network with one weighting method and writes logs/checkpoints to ``out_dir``.

    Files: ``checkpoint.pt`` (model, optimiser, weighting state, configs, step, history),
    ``train.csv`` (every ``log_every`` steps), ``eval.csv`` and ``metrics.json`` (every
    ``eval_every`` steps and at the end).
    """

    def __init__(
        self,
        model_config: SegNetConfig,
        train_config: TrainConfig,
        train_data: Dataset,
        val_data: Dataset,
        out_dir: str | os.PathLike,
    ) -> None:
        if len(train_data) == 0 or len(val_data) == 0:
            raise ValueError("training and validation data sets must not be empty")
        self.mcfg, self.tcfg = model_config, train_config
        if train_config.offset_weight > 0 and not model_config.offset_head:
            raise ValueError("offset_weight > 0 needs SegNetConfig(offset_head=True)")
        self.train_data, self.val_data = train_data, val_data
        self.out = Path(out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.device = torch.device(train_config.device)
        torch.manual_seed(train_config.seed)
        self.model = SegNet(model_config).to(self.device)
        wopts = {"lr": train_config.lr, "betas": train_config.betas, "eps": train_config.eps}
        wopts.update(train_config.weighting)
        self.weighting = make_weighting(train_config.method, **wopts)
        self.weighting.to(self.device)
        params = list(self.model.parameters()) + self.weighting.network_parameters()
        self.opt = torch.optim.Adam(
            params, lr=train_config.lr, betas=train_config.betas, eps=train_config.eps
        )
        self.step = 0
        self.history: list[dict] = []
        self.skipped_steps = 0
        self.ckpt_path = self.out / "checkpoint.pt"
        if self.ckpt_path.exists():
            self._resume()

    # -- state -----------------------------------------------------------------------------
    def _resume(self) -> None:
        state = load_checkpoint(self.ckpt_path, map_location=str(self.device))
        if state["config"].get("model") != self.mcfg.to_dict():
            raise ValueError(f"{self.ckpt_path} was written for another model config")
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        self.weighting.load_state_dict(state["weighting"])
        self.weighting.load_extra_state(state["weighting_extra"])
        self.step = int(state["step"])
        self.history = json.loads(state["history"])
        self.skipped_steps = int(state.get("skipped_steps", 0))
        # Rows logged after the checkpoint (before a kill) will be produced again.
        _truncate_csv(self.out / "train.csv", self.step)
        _truncate_csv(self.out / "eval.csv", self.step)

    def save(self) -> None:
        save_checkpoint(
            self.ckpt_path,
            {
                "model": self.model.state_dict(),
                "optimizer": self.opt.state_dict(),
                "weighting": self.weighting.state_dict(),
                "weighting_extra": self.weighting.extra_state(),
                "config": {"model": self.mcfg.to_dict(), "train": self.tcfg.to_dict()},
                "step": self.step,
                "history": json.dumps(self.history),
                "skipped_steps": self.skipped_steps,
            },
        )

    # -- one step --------------------------------------------------------------------------
    def lr_at(self, step: int) -> float:
        """Learning rate of step ``step`` (a pure function of the step, so resuming needs no
        scheduler state)."""
        t = self.tcfg
        if step < t.lr_warmup:
            return t.lr * (step + 1) / t.lr_warmup
        if t.lr_schedule == "constant":
            return t.lr
        frac = min(1.0, (step - t.lr_warmup) / max(1, t.steps - t.lr_warmup))
        lo = t.lr * t.lr_final_ratio
        return lo + 0.5 * (t.lr - lo) * (1.0 + math.cos(math.pi * frac))

    def _draw(self, step: int) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        g = torch.Generator().manual_seed(self.tcfg.seed * 1_000_003 + step)
        idx = torch.randint(len(self.train_data), (self.tcfg.batch_size,), generator=g)
        batch = collate([self.train_data[int(i)] for i in idx])
        present = batch["present"].bool()
        if not present.any(dim=1).all():
            # Frames without objects cannot be queried; they stay out of the loss.
            keep = present.any(dim=1)
            if not keep.any():
                return batch, torch.zeros(0, dtype=torch.long)
            batch = {k: (v[keep] if torch.is_tensor(v) else v) for k, v in batch.items()}
            present = present[keep]
        # A uniformly random present class per sample.
        scores = torch.rand(present.shape, generator=g) * present
        query = scores.argmax(dim=1)  # (B,)
        return batch, query

    def train_step(self) -> dict[str, float]:
        step = self.step
        # Data augmentation and dropout masks of this step, reproducible after a resume.
        torch.manual_seed(self.tcfg.seed * 7_919 + step)
        batch, query = self._draw(step)
        self.model.train()
        self.weighting.train()
        if query.numel() == 0:
            self.step += 1
            return {}
        dev = self.device
        b = {k: v.to(dev) for k, v in batch.items() if torch.is_tensor(v)}
        if self.tcfg.batch_augment:
            b = augment_batch(b)
        query = query.to(dev)
        for group in self.opt.param_groups:
            group["lr"] = self.lr_at(step)
        use_amp = self.tcfg.amp and dev.type == "cuda"
        rng = _rng_state(dev)  # the dropout masks of this forward pass, for a re-evaluation
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=use_amp):
            logits, class_logits, offsets = self.model.forward_all(b["image"])
        rows = torch.arange(len(query), device=dev)
        mask = select_queried(b["masks"], query)  # (B, H, W)
        uv = b["pickup"][rows, query]  # (B, 2)
        z = pickup_depth(b["depth_m"], uv, mask)  # (B,)
        q = select_queried(logits, query).float()  # (B, H, W) queried maps
        terms = queried_loss_terms(q, mask, uv, z, b["intrinsics"])
        if self.tcfg.cls_target == "present":
            terms["classification"] = presence_cross_entropy(class_logits.float(), b["present"])
        else:
            terms["classification"] = F.cross_entropy(class_logits.float(), query)
        losses = torch.stack([terms[t] for t in self.weighting.terms])

        def reeval(q_new: torch.Tensor) -> torch.Tensor:
            t = queried_loss_terms(q_new, mask, uv, z, b["intrinsics"])
            return torch.stack([t[name] for name in self.weighting.terms])

        total = self.weighting(losses, outputs=q, reeval=reeval)
        total = total + self.tcfg.cls_weight * terms["classification"]
        if self.tcfg.dense_weight > 0:
            terms["dense"] = dense_bce(logits.float(), b["masks"])
            total = total + self.tcfg.dense_weight * terms["dense"]
        if self.tcfg.offset_weight > 0:
            if offsets is None or "offset" not in b:
                raise ValueError(
                    "offset_weight > 0 needs a network with offset_head and data with offsets"
                )
            terms["offset"] = offset_loss(offsets.float(), b["offset"].float())
            total = total + self.tcfg.offset_weight * terms["offset"]
        self.opt.zero_grad(set_to_none=True)
        if torch.isfinite(total):
            total.backward()
            self.opt.step()
            if self.weighting.needs_post_step_losses:
                # FAMO: the same batch's losses at the new parameters, same dropout masks.
                with torch.no_grad(), _restored_rng(dev, rng):
                    with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=use_amp):
                        q_new = select_queried(self.model.forward_all(b["image"])[0], query).float()
                    self.weighting.after_step(reeval(q_new))
        else:
            self.skipped_steps += 1  # a non-finite loss never reaches the weights
        self.step += 1
        row = {"step": self.step, "total": float(total.detach())}
        row.update({k: float(v.detach()) for k, v in terms.items()})
        for name, m in zip(self.weighting.terms, self.weighting.multipliers(), strict=True):
            row[f"mult_{name}"] = m
        return row

    # -- loop ------------------------------------------------------------------------------
    def evaluate(self) -> dict:
        metrics = evaluate_segnet(
            self.model, iterate_batches(self.val_data, self.tcfg.batch_size), str(self.device)
        )
        det = evaluate_detections(
            self.model, iterate_batches(self.val_data, self.tcfg.batch_size), str(self.device)
        )
        metrics["detector_pickup_rate"] = det["pickup_rate"]
        metrics["detector_class_accuracy"] = det["class_accuracy"]
        metrics["detector_found"] = det["found"]
        metrics["step"] = self.step
        metrics["summed_error"] = metrics["iou_error"] + metrics["pickup_error"]
        metrics["multipliers"] = self.weighting.multipliers()
        return metrics

    def _log_eval(self, metrics: dict) -> None:
        self.history.append(metrics)
        flat = {k: v for k, v in metrics.items() if not isinstance(v, dict | list)}
        for i, m in enumerate(metrics["multipliers"]):
            flat[f"mult_{i}"] = m
        _append_csv(self.out / "eval.csv", flat)
        doc = {
            "model_config": self.mcfg.to_dict(),
            "train_config": self.tcfg.to_dict(),
            "parameters": parameter_count(self.model),
            "skipped_steps": self.skipped_steps,
            "history": self.history,
        }
        atomic_write_bytes(self.out / "metrics.json", json.dumps(doc, indent=1).encode())

    def fit(self, progress: bool = True, stop_after: int | None = None) -> list[dict]:
        """Train up to ``train_config.steps`` (or only ``stop_after`` more steps); returns the
        evaluation history. Evaluates and checkpoints at step 0, every ``eval_every`` steps and at
        the end."""
        from tqdm import tqdm

        if self.step == 0 and not self.history:
            self._log_eval(self.evaluate())
            self.save()
        end = (
            self.tcfg.steps if stop_after is None else min(self.tcfg.steps, self.step + stop_after)
        )
        bar = tqdm(total=end - self.step, disable=not progress, desc=self.tcfg.method, leave=False)
        while self.step < end:
            row = self.train_step()
            bar.update(1)
            if row and self.step % self.tcfg.log_every == 0:
                _append_csv(self.out / "train.csv", row)
                bar.set_postfix(total=f"{row['total']:.3g}", iou=f"{row['iou']:.3f}")
            if self.step % self.tcfg.eval_every == 0 or self.step == self.tcfg.steps:
                self._log_eval(self.evaluate())
                self.save()
        bar.close()
        return self.history


def _rng_state(dev: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
    cuda = torch.cuda.get_rng_state(dev) if dev.type == "cuda" else None
    return torch.get_rng_state(), cuda


@contextlib.contextmanager
def _restored_rng(dev: torch.device, state: tuple[torch.Tensor, torch.Tensor | None]):
    """Run a block with the global RNG set to ``state``, then put the current state back."""
    now = _rng_state(dev)
    torch.set_rng_state(state[0])
    if state[1] is not None:
        torch.cuda.set_rng_state(state[1], dev)
    try:
        yield
    finally:
        torch.set_rng_state(now[0])
        if now[1] is not None:
            torch.cuda.set_rng_state(now[1], dev)


def _append_csv(path: Path, row: dict) -> None:
    new = not path.exists()
    with path.open("a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(row))
        if new:
            w.writeheader()
        w.writerow(
            {
                k: (v if not (isinstance(v, float) and math.isnan(v)) else "nan")
                for k, v in row.items()
            }
        )


def _truncate_csv(path: Path, max_step: int) -> None:
    if not path.exists():
        return
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return
    kept = [r for r in rows if int(float(r["step"])) <= max_step]
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(kept)
