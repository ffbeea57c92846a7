"""The segnet checkpoint layout, loaded for inference without the trainer.

One layout for the trainer's ``checkpoint.pt`` and the exported detector ``model.pt``:
``model`` (SegNet state dict), ``config["model"]`` (:class:`SegNetConfig` as a dict) and
``step``; a detector file adds ``config["labels"]``, ``config["depth_max_m"]`` and the tuned
``config["vote_weight"]`` / ``config["vote_mode"]``; the training state adds optimiser and
weighting entries. Files are checked as :func:`~grasp_pipeline.perception.checkpoint.load_checkpoint`
says (content hash, ``weights_only=True``, finite weights).
"""

from __future__ import annotations

import os
from typing import Any

from grasp_pipeline.perception.checkpoint import CheckpointError, load_checkpoint
from grasp_pipeline.perception.segnet.config import SegNetConfig
from grasp_pipeline.perception.segnet.model import SegNet


def load_segnet(
    path: str | os.PathLike, device: str = "cpu", expect_config: SegNetConfig | None = None
) -> tuple[SegNet, dict[str, Any]]:
    """(network in eval mode on ``device``, the checkpoint dict) from a segnet checkpoint.

    Raises FileNotFoundError for a missing file and ValueError (CheckpointError) naming the file
    for a corrupt one, a foreign layout, a config other than ``expect_config`` or weights that do
    not fit the config.
    """
    state = load_checkpoint(path, map_location=device)
    cfg_d = state["config"].get("model") if isinstance(state["config"], dict) else None
    if not isinstance(cfg_d, dict):
        raise CheckpointError(f"{path}: config has no 'model' section (not a segnet checkpoint)")
    try:
        config = SegNetConfig.from_dict(cfg_d)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: bad segnet config: {exc}") from exc
    if expect_config is not None and expect_config != config:
        raise CheckpointError(f"{path} was trained with {config}, expected {expect_config}")
    model = SegNet(config).to(device).eval()
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not match its config: {exc}") from exc
    return model, state
