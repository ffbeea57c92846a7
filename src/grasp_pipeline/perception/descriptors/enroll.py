"""A new object in minutes: train the descriptor network on synthetic pairs made from one view
of the object and register its reference descriptors in a database."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from grasp_pipeline.data.pairs import PairSource
from grasp_pipeline.perception.descriptors.database import (
    DescriptorDatabase,
    ObjectDescriptors,
    register_object,
)
from grasp_pipeline.perception.descriptors.model import DescriptorNet, to_input
from grasp_pipeline.training.descriptor_trainer import DescriptorTrainConfig, train_descriptors


@dataclass
class EnrollResult:
    model: DescriptorNet
    entry: ObjectDescriptors
    seconds_per_step: float
    final_loss: float


def calibrate_temperature(descriptor_image: torch.Tensor, entry: ObjectDescriptors) -> float:
    """Kernel width t (log units) from the reference view: the median distance between a
    reference descriptor and the descriptors 2 px away, so the kernel spans about 2 pixels."""
    _, h, w = descriptor_image.shape
    dists = []
    for u, v in entry.pixels.astype(int):
        ref = descriptor_image[:, v, u]
        for du, dv in ((2, 0), (-2, 0), (0, 2), (0, -2)):
            uu, vv = min(max(u + du, 0), w - 1), min(max(v + dv, 0), h - 1)
            dists.append(float(torch.linalg.norm(descriptor_image[:, vv, uu] - ref)))
    return float(np.log(max(np.median(dists), 1e-6)))


def register_view(
    model: DescriptorNet,
    source: PairSource,
    name: str,
    num_points: int = 64,
    pose_camera: np.ndarray | None = None,
    device: str = "cpu",
) -> ObjectDescriptors:
    """Database entry for ``source`` with ``model``'s descriptors and a calibrated temperature."""
    with torch.no_grad():
        desc = model(to_input(source.rgb, device), keypoints=False).descriptors[0].cpu()
    entry = register_object(
        desc.numpy(), source.mask, source.depth_m, source.camera, name, num_points, pose_camera
    )
    entry.temperature = calibrate_temperature(desc, entry)
    entry.reference = source
    if pose_camera is not None:
        entry.meta["pose_camera"] = np.asarray(pose_camera).tolist()
    return entry


def enroll_object(
    source: PairSource,
    name: str,
    cfg: DescriptorTrainConfig,
    num_points: int = 64,
    pose_camera: np.ndarray | None = None,
    progress: bool = True,
    checkpoint: str | Path | None = None,
    database: DescriptorDatabase | None = None,
    init: DescriptorNet | None = None,
) -> EnrollResult:
    """Train on ``source`` (one RGB + mask + depth view) and register ``name``.

    With a ``database`` that already holds objects (with their reference views), the model is
    trained on all reference views plus the new one (starting from ``init`` when given) and
    every entry is registered again, since descriptors of an older model do not match the new
    one. ``pose_camera`` (object -> camera) fixes the new object's frame.
    """
    others = [e for n, e in (database.objects.items() if database else []) if n != name]
    missing = [e.name for e in others if e.reference is None]
    if missing:
        raise ValueError(
            f"database entries {missing} lack their reference view; cannot retrain the shared model"
        )
    sources = [e.reference for e in others] + [source]
    # A killed enrolment resumes from the training state kept next to the checkpoint.
    resume = Path(f"{checkpoint}.resume") if checkpoint is not None else None
    res = train_descriptors(
        cfg, sources, progress=progress, checkpoint=checkpoint, init=init, resume=resume
    )
    entry = register_view(res.model, source, name, num_points, pose_camera, cfg.device)
    if database is not None:
        for e in others:
            pose = np.asarray(e.meta["pose_camera"]) if "pose_camera" in e.meta else None
            database.add(
                register_view(res.model, e.reference, e.name, len(e.descriptors), pose, cfg.device)
            )
        database.add(entry)
        database.model = str(checkpoint) if checkpoint is not None else database.model
    return EnrollResult(res.model, entry, res.seconds_per_step, res.history[-1]["total"])
