"""Training of the dense descriptor network: the keypoint task (paper 004) or the DON NT-Xent
baseline, on synthetic pairs made on the fly from one or more object views."""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from grasp_pipeline.data.backgrounds import BackgroundBank
from grasp_pipeline.data.pairs import PairConfig, PairSource, SyntheticPair, make_pair
from grasp_pipeline.perception.descriptors.checkpoint import (
    load_descriptor_model,
    save_descriptor_model,
)
from grasp_pipeline.perception.descriptors.config import DescriptorNetConfig, KeypointLossConfig
from grasp_pipeline.perception.descriptors.correspondence import distribution_loss
from grasp_pipeline.perception.descriptors.keypoint_losses import keypoint_losses
from grasp_pipeline.perception.descriptors.model import DescriptorNet, to_input
from grasp_pipeline.perception.descriptors.ntxent import ntxent_loss
from grasp_pipeline.training.pck import K_RANGE, auc, best_matches, pck_curve

METHODS = ("keypoint", "don_ntxent")
__all__ = [
    "DescriptorTrainConfig",
    "TrainResult",
    "evaluate_pck",
    "load_descriptor_model",
    "save_descriptor_checkpoint",
    "train_descriptors",
]
log = logging.getLogger(__name__)


@dataclass
class DescriptorTrainConfig:
    """``method``: "keypoint" (ours) or "don_ntxent". Paper settings: keypoint lr 1e-3, no weight
    decay; DON lr 3e-4, weight decay 1e-4, 128 matches, tau 0.1; batch 1; StepLR gamma 0.9."""

    method: str = "keypoint"
    net: DescriptorNetConfig = field(default_factory=DescriptorNetConfig)
    loss: KeypointLossConfig = field(default_factory=KeypointLossConfig)
    pairs: PairConfig = field(default_factory=PairConfig)
    steps: int = 1000
    batch_size: int = 1
    lr: float = 1e-3
    weight_decay: float = 0.0
    lr_step: int = 2500
    lr_gamma: float = 0.9
    # "step" (the paper's StepLR with lr_step / lr_gamma) or "cosine" (cosine decay to 0 over
    # ``steps`` after ``warmup_steps`` of linear warm-up; used for the short CPU runs)
    lr_schedule: str = "step"
    warmup_steps: int = 0
    matches: int = 128
    tau: float = 0.1
    similarity: str = "matmul"
    relative_transform: str = "kabsch"  # "kabsch" (from correspondences, as the paper) or "true"
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if isinstance(self.net, dict):
            self.net = DescriptorNetConfig.from_dict(self.net)
        if isinstance(self.loss, dict):
            self.loss = KeypointLossConfig(**self.loss)
        if isinstance(self.pairs, dict):
            self.pairs = PairConfig(**self.pairs)
        self.net.keypoint_heads = self.method == "keypoint"
        self.net.normalize = self.method == "don_ntxent"  # NT-Xent compares cosines
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError(
                f"steps and batch_size must be >= 1, got {self.steps}, {self.batch_size}"
            )
        if self.lr_schedule not in ("step", "cosine"):
            raise ValueError(f"lr_schedule must be 'step' or 'cosine', got {self.lr_schedule!r}")
        if self.relative_transform not in ("kabsch", "true"):
            raise ValueError(
                f"relative_transform must be 'kabsch' or 'true', got {self.relative_transform!r}"
            )

    def to_dict(self) -> dict:
        d = asdict(self)
        d["net"] = self.net.to_dict()
        d["pairs"]["scale_range"] = list(self.pairs.scale_range)
        return d


@dataclass
class TrainResult:
    """``history``: one row per step (loss terms, ``grad_norm``, ``skipped`` 0/1);
    ``skipped_steps``: steps whose loss or gradient was not finite (no optimiser step taken)."""

    model: DescriptorNet
    history: list[dict[str, float]]
    seconds_per_step: float
    skipped_steps: int = 0


def _batch(pairs: list[SyntheticPair], device: str, matches: int, rng: np.random.Generator):
    cam = pairs[0].camera
    rgb_a = to_input(np.stack([p.rgb_a for p in pairs]), device)
    rgb_b = to_input(np.stack([p.rgb_b for p in pairs]), device)
    mask_a = torch.as_tensor(
        np.stack([p.mask_a for p in pairs]), dtype=torch.float32, device=device
    )
    mask_b = torch.as_tensor(
        np.stack([p.mask_b for p in pairs]), dtype=torch.float32, device=device
    )
    intr = torch.tensor(
        [[cam.fx, cam.fy, cam.cx, cam.cy]] * len(pairs), dtype=torch.float32, device=device
    )
    uv_a, uv_b = [], []
    for p in pairs:
        sel = rng.choice(len(p.uv_a), size=matches, replace=len(p.uv_a) < matches)
        uv_a.append(np.round(p.uv_a[sel]))
        uv_b.append(np.round(p.uv_b[sel]))
    uv = (
        torch.as_tensor(np.stack(uv_a), device=device),
        torch.as_tensor(np.stack(uv_b), device=device),
    )
    return rgb_a, rgb_b, mask_a, mask_b, intr, uv


def train_descriptors(
    cfg: DescriptorTrainConfig,
    sources: list[PairSource],
    progress: bool = True,
    backgrounds: BackgroundBank | None = None,
    checkpoint: str | Path | None = None,
    init: DescriptorNet | None = None,
    resume: str | Path | None = None,
    resume_every: int = 100,
    max_seconds: float | None = None,
    cpu_clock: bool = False,
) -> TrainResult:
    """Train for ``cfg.steps`` steps from scratch (or from ``init``'s weights, which must have
    the same network config); optionally save a checkpoint.

    ``resume``: a file holding the whole training state (weights, optimiser, scheduler, random
    generators, history, step), written atomically every ``resume_every`` steps; when it exists
    and was written for the same config, training continues from it, so a killed run loses at
    most ``resume_every`` steps. It is removed once the run completes."""
    if not sources:
        raise ValueError("training needs at least one PairSource")
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    model = DescriptorNet(cfg.net).to(cfg.device)
    if init is not None:
        if init.config.to_dict() != cfg.net.to_dict():
            raise ValueError(
                f"init model config {init.config.to_dict()} differs from the training config {cfg.net.to_dict()}"
            )
        model.load_state_dict(init.state_dict())
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    clock = {"t": 0.0}
    sched = _scheduler(cfg, opt, max_seconds, clock)
    history: list[dict[str, float]] = []
    start = 0
    if resume is not None and Path(resume).is_file():
        start = _load_resume(resume, cfg, model, opt, sched, rng, history)
    from tqdm import tqdm

    bar = tqdm(
        range(start, cfg.steps),
        initial=start,
        total=cfg.steps,
        desc=f"train {cfg.method} D={cfg.net.descriptor_dim}",
        disable=not progress,
    )
    model.train()
    t_total = 0.0
    for step in bar:
        if max_seconds is not None and t_total >= max_seconds:
            break
        pairs = [
            make_pair(sources[int(rng.integers(len(sources)))], cfg.pairs, rng, backgrounds)
            for _ in range(cfg.batch_size)
        ]
        now = time.process_time if cpu_clock else time.perf_counter
        t0 = now()
        rgb_a, rgb_b, mask_a, mask_b, intr, (uv_a, uv_b) = _batch(
            pairs, cfg.device, cfg.matches, rng
        )
        # Batch-norm statistics move in the forward pass; a skipped step puts them back.
        buffers = [b.detach().clone() for b in model.buffers()]
        out = model(torch.cat([rgb_a, rgb_b]))  # twin pass: one batch of both views
        n = len(pairs)
        if cfg.method == "keypoint":
            from grasp_pipeline.perception.descriptors.model import DescriptorOutput

            key = "T_ab" if cfg.relative_transform == "true" else "T_ab_kabsch"
            T_ab = torch.as_tensor(
                np.stack([getattr(p, key) for p in pairs]), dtype=torch.float32, device=cfg.device
            )
            halves = [
                DescriptorOutput(out.descriptors[s], out.prob[s], out.depth[s], out.uvd[s])
                for s in (slice(0, n), slice(n, None))
            ]
            terms = keypoint_losses(halves[0], halves[1], mask_a, mask_b, T_ab, intr, cfg.loss)
            w_corr = cfg.loss.weights["correspondence"]
            if w_corr > 0:
                frac = clock["t"] / max_seconds if max_seconds else step / cfg.steps
                terms["correspondence"] = distribution_loss(
                    halves[0].descriptors,
                    halves[1].descriptors,
                    uv_a,
                    uv_b,
                    correspondence_sigma(cfg.loss, frac),
                )
                terms["total"] = terms["total"] + w_corr * terms["correspondence"]
        else:
            terms = ntxent_loss(
                out.descriptors[:n], out.descriptors[n:], uv_a, uv_b, cfg.tau, cfg.similarity
            )
        opt.zero_grad(set_to_none=True)
        grad_norm = _backward_checked(terms["total"], model)
        skipped = not np.isfinite(grad_norm)
        if skipped:
            # One bad batch (degenerate keypoints, an overflow) must not poison the weights,
            # Adam's moments or the batch-norm statistics: drop its gradient, restore the
            # buffers, keep the schedule a function of the step.
            opt.zero_grad(set_to_none=True)
            with torch.no_grad():
                for b, saved in zip(model.buffers(), buffers, strict=True):
                    b.copy_(saved)
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*lr_scheduler.step.*")
                sched.step()
            log.warning(
                "step %d: non-finite %s; step skipped (%d so far)",
                step,
                "loss" if not torch.isfinite(terms["total"]) else "gradient",
                sum(int(h.get("skipped", 0)) for h in history) + 1,
            )
        else:
            opt.step()
            sched.step()
        if cfg.device.startswith("cuda"):
            torch.cuda.synchronize()
        t_total += now() - t0
        clock["t"] = t_total
        history.append(
            {
                **{k: float(v.detach()) for k, v in terms.items()},
                "grad_norm": grad_norm,
                "skipped": float(skipped),
            }
        )
        if step % 10 == 0:
            n_skip = sum(int(h.get("skipped", 0)) for h in history)
            bar.set_postfix(loss=f"{history[-1]['total']:.3f}", skipped=n_skip)
        if resume is not None and (step + 1) % resume_every == 0 and step + 1 < cfg.steps:
            _save_resume(resume, cfg, model, opt, sched, rng, history, step + 1)
    model.eval()
    done = len(history)
    if checkpoint is not None:
        save_descriptor_checkpoint(checkpoint, model, cfg, done)
    if resume is not None:
        Path(resume).unlink(missing_ok=True)
    skipped_steps = sum(int(h.get("skipped", 0)) for h in history)
    return TrainResult(model, history, t_total / max(1, done - start), skipped_steps)


def correspondence_sigma(loss: KeypointLossConfig, progress: float) -> float:
    """Target width (pixels) of the correspondence term at ``progress`` (0..1) of training."""
    end, start = loss.correspondence_sigma_px, loss.correspondence_sigma_start_px
    if start is None or loss.correspondence_anneal <= 0:
        return end
    t = min(1.0, max(0.0, progress) / loss.correspondence_anneal)
    return start + (end - start) * t


def _scheduler(
    cfg: DescriptorTrainConfig,
    opt: torch.optim.Optimizer,
    max_seconds: float | None = None,
    clock: dict | None = None,
):
    if cfg.lr_schedule == "step":
        return torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.lr_step, gamma=cfg.lr_gamma)
    warm, total = cfg.warmup_steps, cfg.steps

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        if max_seconds is not None and clock is not None:
            frac = clock["t"] / max_seconds
        else:
            frac = (step - warm) / max(1, total - warm)
        return 0.5 * (1 + np.cos(np.pi * min(1.0, frac)))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


def _backward_checked(loss: torch.Tensor, model: torch.nn.Module) -> float:
    """Back-propagate ``loss`` if it is finite; return the global gradient L2 norm (inf when
    the loss or any gradient is NaN/inf, so the caller skips the step)."""
    if not torch.isfinite(loss):
        return float("inf")
    loss.backward()
    norms = [torch.linalg.vector_norm(p.grad) for p in model.parameters() if p.grad is not None]
    if not norms:
        return 0.0
    total = float(torch.linalg.vector_norm(torch.stack(norms)))
    return total if np.isfinite(total) else float("inf")


def _save_resume(path, cfg, model, opt, sched, rng, history, step: int) -> None:
    import json

    from grasp_pipeline.perception.descriptors.checkpoint import descriptor_checkpoint_state
    from grasp_pipeline.training.checkpoint import save_checkpoint

    state = descriptor_checkpoint_state(
        model,
        step,
        cfg.to_dict(),
        optimizer=opt.state_dict(),
        scheduler=sched.state_dict(),
        numpy_rng=json.dumps(rng.bit_generator.state),
        torch_rng=torch.get_rng_state(),
        history=json.dumps(history),
        skipped_steps=sum(int(h.get("skipped", 0)) for h in history),
    )
    save_checkpoint(path, state)


def _load_resume(path, cfg, model, opt, sched, rng, history) -> int:
    import json

    from grasp_pipeline.training.checkpoint import load_checkpoint

    state = load_checkpoint(path, map_location=cfg.device)
    if state["config"].get("train") != cfg.to_dict():
        raise ValueError(f"{path} was written for another training config; delete it to restart")
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    rng.bit_generator.state = json.loads(state["numpy_rng"])
    torch.set_rng_state(state["torch_rng"].cpu())
    history.extend(json.loads(state["history"]))
    return int(state["step"])


def save_descriptor_checkpoint(
    path: str | Path, model: DescriptorNet, cfg: DescriptorTrainConfig, step: int
) -> None:
    """Atomic checkpoint (network config, training config, step, content hash) in the layout
    of :mod:`grasp_pipeline.perception.descriptors.checkpoint`, which loads it."""
    save_descriptor_model(path, model, step, cfg.to_dict())


@torch.no_grad()
def evaluate_pck(
    model: DescriptorNet,
    pairs: list[SyntheticPair],
    correspondences: int = 256,
    seed: int = 0,
    device: str = "cpu",
) -> tuple[np.ndarray, float]:
    """PCK@k curve (k = 1..100) pooled over ``correspondences`` random matches per pair, and AUC."""
    rng = np.random.default_rng(seed)
    model.eval()
    preds, trues = [], []
    for p in pairs:
        sel = rng.choice(len(p.uv_a), size=min(correspondences, len(p.uv_a)), replace=False)
        out = model(
            torch.cat([to_input(p.rgb_a, device), to_input(p.rgb_b, device)]), keypoints=False
        )
        preds.append(best_matches(out.descriptors[0], out.descriptors[1], p.uv_a[sel]))
        trues.append(p.uv_b[sel])
    curve = pck_curve(np.concatenate(preds), np.concatenate(trues), K_RANGE)
    return curve, auc(curve)
