"""The crop classifier's checkpoint layout, loaded for inference without the trainer.

One layout for the trainer's ``checkpoint.pt`` and the shipped ``classifier.pt``: ``model``
(CropClassifier state dict), ``config["model"]`` (:class:`ClassifierConfig`), ``config["crop"]``
(:class:`CropSpec`), ``config["geometry"]`` (:class:`GeometryConfig` the crops were cut with),
``config["labels"]`` (class names, the last one ``"unknown"``) and ``step``; the training state
adds ``optimizer`` and ``epoch``; the shipped file may add ``pickup``, the pickup network
(:mod:`grasp_pipeline.perception.instances.pickup`, written by ``grasp-pipeline train pickup``),
and ``boundary``, the boundary network (:mod:`grasp_pipeline.perception.instances.boundary`,
written by ``grasp-pipeline train boundaries``). Files are checked as
:func:`~grasp_pipeline.perception.checkpoint.load_checkpoint` says (content hash,
``weights_only=True``, finite weights).
"""

from __future__ import annotations

import os
from dataclasses import asdict
from typing import Any

from grasp_pipeline.perception.checkpoint import CheckpointError, load_checkpoint
from grasp_pipeline.perception.instances.crops import CropSpec
from grasp_pipeline.perception.instances.geometry import GeometryConfig
from grasp_pipeline.perception.instances.model import (
    ClassifierConfig,
    CropClassifier,
    for_inference,
)

UNKNOWN = "unknown"


def classifier_config(
    model: ClassifierConfig, crop: CropSpec, geometry: GeometryConfig, labels: list[str]
) -> dict[str, Any]:
    """The ``config`` entry of a classifier checkpoint."""
    if labels[-1] != UNKNOWN or len(labels) != model.num_classes:
        raise ValueError(f"labels must be the {model.num_classes} classes ending in {UNKNOWN!r}")
    return {
        "model": model.to_dict(),
        "crop": crop.to_dict(),
        "geometry": asdict(geometry),
        "labels": list(labels),
    }


def load_classifier(
    path: str | os.PathLike, device: str = "cpu"
) -> tuple[CropClassifier, CropSpec, GeometryConfig, list[str], dict[str, Any]]:
    """(network ready for inference (eval mode, batch norms folded, see
    :func:`~grasp_pipeline.perception.instances.model.for_inference`), crop spec, geometry config,
    labels, checkpoint dict).

    Raises FileNotFoundError for a missing file and CheckpointError (a ValueError) naming the
    file for a corrupt one, a foreign layout or weights that do not fit the config.
    """
    state = load_checkpoint(path, map_location=device)
    cfg = state["config"]
    if not isinstance(cfg, dict) or "crop" not in cfg or "labels" not in cfg:
        raise CheckpointError(
            f"{path}: not a crop classifier checkpoint (no crop settings or labels: a segnet or "
            "descriptor model? the detector parameter must name the model's kind)"
        )
    try:
        config = ClassifierConfig.from_dict(cfg["model"])
        crop = CropSpec.from_dict(cfg["crop"])
        geometry = GeometryConfig(**cfg["geometry"])
        labels = [str(x) for x in cfg["labels"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a crop classifier checkpoint ({exc})") from exc
    if len(labels) != config.num_classes or labels[-1] != UNKNOWN:
        raise CheckpointError(f"{path}: labels do not match the classifier's classes")
    model = CropClassifier(config).to(device).eval()
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: weights do not match its config: {exc}") from exc
    return for_inference(model), crop, geometry, labels, state
