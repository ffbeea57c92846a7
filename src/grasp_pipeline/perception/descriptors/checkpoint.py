"""The descriptor-network checkpoint layout, saved by the trainer and loaded for inference.

One layout for the final model and the trainer's resume file: ``model`` (DescriptorNet state
dict), ``config["net"]`` (:class:`DescriptorNetConfig` as a dict, enough to rebuild the network),
``config["train"]`` (the training config as a plain dict, informative) and ``step``; the resume
file adds optimiser, scheduler, random-generator state and history. Files are checked as
:func:`~grasp_pipeline.perception.checkpoint.load_checkpoint` says (content hash,
``weights_only=True``, finite weights).
"""

from __future__ import annotations

import os
from typing import Any

from grasp_pipeline.perception.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from grasp_pipeline.perception.descriptors.config import DescriptorNetConfig
from grasp_pipeline.perception.descriptors.model import DescriptorNet


def descriptor_checkpoint_state(
    model: DescriptorNet, step: int, train_config: dict | None = None, **extra: Any
) -> dict[str, Any]:
    """The checkpoint dict of ``model`` after ``step`` steps (``extra``: more entries)."""
    return {
        **extra,
        "model": model.state_dict(),
        "config": {"net": model.config.to_dict(), "train": train_config or {}},
        "step": int(step),
    }


def save_descriptor_model(
    path: str | os.PathLike, model: DescriptorNet, step: int, train_config: dict | None = None
) -> None:
    """Atomic checkpoint (with content hash) of ``model``; see the module docstring."""
    save_checkpoint(path, descriptor_checkpoint_state(model, step, train_config))


def load_descriptor_model(path: str | os.PathLike, device: str = "cpu") -> DescriptorNet:
    """Rebuild a :class:`DescriptorNet` (eval mode, on ``device``) from a descriptor checkpoint.

    Raises FileNotFoundError for a missing file and ValueError (CheckpointError) naming the file
    when it is corrupt, lacks the network config or holds weights that do not fit it."""
    state = load_checkpoint(path, map_location=device)
    net_cfg = state["config"].get("net") if isinstance(state["config"], dict) else None
    if not isinstance(net_cfg, dict):
        raise CheckpointError(f"{path}: checkpoint config lacks the 'net' section")
    try:
        model = DescriptorNet(DescriptorNetConfig.from_dict(net_cfg)).to(device)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: bad descriptor network config: {exc}") from exc
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not match its config: {exc}") from exc
    return model.eval()
