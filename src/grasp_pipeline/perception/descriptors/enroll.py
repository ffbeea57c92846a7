"""A new object in minutes: train the descriptor network on synthetic pairs made from one view
of the object and register its reference descriptors in a database."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from grasp_pipeline.data.pairs import PairSource
from grasp_pipeline.geometry.windows import window_frame, window_turn
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


# ------------------------------------------------------------------ one object, its own model
@dataclass
class Recipe:
    """An enrolment recipe: the training config and the window size (width, height) pixels."""

    train: DescriptorTrainConfig
    size: tuple[int, int]


def load_recipe(path: str | Path) -> Recipe:
    """Recipe from YAML: ``size: [W, H]`` and ``train:`` (DescriptorTrainConfig fields; ``net``,
    ``loss`` and ``pairs`` as nested mappings). Relative paths: the working directory, then the
    package's share directory."""
    import yaml

    from grasp_pipeline.paths import resolve_path

    p = resolve_path(str(path), "enrolment recipe")
    raw = yaml.safe_load(Path(p).read_text()) or {}
    unknown = set(raw) - {"size", "train"}
    if unknown:
        raise ValueError(f"{p}: unknown recipe key(s) {sorted(unknown)}; known: size, train")
    train = dict(raw.get("train", {}))
    if "pairs" in train and "scale_range" in train["pairs"]:
        train["pairs"]["scale_range"] = tuple(train["pairs"]["scale_range"])
    size = tuple(int(x) for x in raw.get("size", (128, 96)))
    if len(size) != 2 or min(size) < 32:
        raise ValueError(f"{p}: size must be [width, height] >= 32, got {size}")
    return Recipe(DescriptorTrainConfig(**train), size)


def enrollment_scale(mask: np.ndarray, size: tuple[int, int], fill: float = 0.8) -> float:
    """Training pixels per camera pixel so that the object's mask diagonal spans ``fill`` of the
    window's shorter side (any in-plane turn then fits); at most 1 (never upsampled)."""
    vs, us = np.nonzero(mask)
    if len(us) == 0:
        raise ValueError("the mask is empty")
    diag = float(np.hypot(np.ptp(us) + 1, np.ptp(vs) + 1))
    return min(1.0, fill * min(size) / diag)


def register_enrolled(
    model: DescriptorNet,
    crop: PairSource,
    name: str,
    pose_camera: np.ndarray,
    scale: float,
    size: tuple[int, int],
    num_points: int = 64,
    device: str = "cpu",
    canonical: bool = False,
) -> ObjectDescriptors:
    """Database entry of an object enrolled from the window ``crop`` (cut at ``scale`` to
    ``size``, at the mask's own centre and direction when ``canonical``) with its own
    ``model``: reference descriptors and points, the heads' reference keypoints (object frame)
    and what the detector needs to find it (scale, window size, how windows are cut) and to
    refine its pose (the support surface's normal in the window's frame, when measured)."""
    from grasp_pipeline.perception.descriptors.keypoint_pose import reference_keypoints

    entry = register_view(model, crop, name, num_points, pose_camera, device)
    if model.config.keypoint_heads:
        with torch.no_grad():
            o = model(to_input(crop.rgb, device))
        entry.keypoint_points = reference_keypoints(
            o.prob[0].cpu(), crop.mask, crop.depth_m, crop.camera, pose_camera
        )
    entry.meta.update({"scale": float(scale), "crop_size": list(size), "canonical": canonical})
    if crop.support_normal is not None:  # the detector's depth refinement keeps the part resting
        entry.meta["support_normal_camera"] = np.asarray(crop.support_normal).tolist()
    return entry


def enrollment_window(
    view: PairSource,
    size: tuple[int, int],
    canonical: bool,
    pose_camera: np.ndarray | None = None,
) -> tuple[PairSource, float, float, np.ndarray | None]:
    """The window a part is enrolled from: (crop, scale, angle, pose of the object in the
    window's frame). Cut at :func:`enrollment_scale` around the mask's bounding-box centre, or
    with ``canonical`` at the mask's own centre and direction (``geometry.windows``), as the
    detector cuts windows of that part; the pose and the support normal turn with the window."""
    scale = enrollment_scale(view.mask, size)
    centre, angle = window_frame(view.mask, canonical)
    crop = view.crop(centre, scale, size, angle)
    if pose_camera is not None:
        pose_camera = np.asarray(pose_camera, float).copy()
        pose_camera[:3] = window_turn(angle) @ pose_camera[:3]
    return crop, scale, angle, pose_camera


@dataclass
class EnrolledObject:
    entry: ObjectDescriptors
    model: DescriptorNet
    checkpoint: Path
    seconds: float
    seconds_per_step: float
    final_loss: float


def enroll_view(
    view: PairSource,
    name: str,
    cfg: DescriptorTrainConfig,
    out_dir: str | Path,
    size: tuple[int, int] = (128, 96),
    pose_camera: np.ndarray | None = None,
    num_points: int = 64,
    progress: bool = True,
    database: str | Path | None = None,
) -> EnrolledObject:
    """Show the object once: ``view`` is one RGB-D frame (any size) with the object's mask.

    The frame is cropped around the mask at :func:`enrollment_scale` to ``size``, a model of its
    own is trained on synthetic pairs of that crop (``out_dir/NAME.pt``; a killed run resumes
    from ``NAME.pt.resume``) and ``name`` is registered in ``database`` (default
    ``out_dir/database``): reference descriptors and points, the reference keypoints of the heads
    (object frame), the model's file (relative to the database), the scale and window size the
    detector must use. ``pose_camera`` (object -> camera of ``view``) fixes the object frame;
    by default the principal axes of the view's points."""
    import time

    from grasp_pipeline.perception.descriptors.database import object_frame_from_points

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    db_path = Path(database) if database is not None else out / "database"
    given = pose_camera is not None
    crop, scale, angle, pose_camera = enrollment_window(
        view, size, cfg.pairs.canonical, pose_camera
    )
    if pose_camera is None:
        good = crop.mask & np.isfinite(crop.depth_m)
        v, u = np.nonzero(good)
        z = crop.depth_m[v, u]
        c = crop.camera
        pts = np.stack([(u - c.cx) / c.fx * z, (v - c.cy) / c.fy * z, z], 1)
        pose_camera = object_frame_from_points(pts)
    ckpt = out / f"{name}.pt"
    t0, c0 = time.perf_counter(), time.process_time()
    res = train_descriptors(
        cfg, [crop], progress=progress, checkpoint=ckpt, resume=Path(f"{ckpt}.resume")
    )
    entry = register_enrolled(
        res.model, crop, name, pose_camera, scale, size, num_points, cfg.device, cfg.pairs.canonical
    )
    seconds = time.perf_counter() - t0
    entry.meta.update(
        {
            "checkpoint": str(ckpt.resolve().relative_to(db_path.parent.resolve()))
            if ckpt.resolve().is_relative_to(db_path.parent.resolve())
            else str(ckpt.resolve()),
            "enroll_seconds": seconds,  # wall time of this (last) session, training included
            "enroll_cpu_seconds": time.process_time() - c0,
            "threads": torch.get_num_threads(),
            "steps": len(res.history),
            "frame": "given pose" if given else "principal axes of the reference view",
            "window_angle": angle,
        }
    )
    db = (
        DescriptorDatabase.load(db_path)
        if db_path.with_suffix(".json").exists()
        else DescriptorDatabase()
    )
    db.add(entry)  # refuses a descriptor size other than the database's
    db.save(db_path)
    return EnrolledObject(
        entry, res.model, ckpt, seconds, res.seconds_per_step, res.history[-1]["total"]
    )
