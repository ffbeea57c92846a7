"""``SegnetDetector``: the Converge-Fast network behind the common Detector interface.

640x480 (any size) RGB-D in, per-class pickup points out. Every point, pose and axis is in the
camera optical frame (x right, y down, z forward), metres; pixels are (u, v) of the input image.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from grasp_pipeline.geometry.camera import CameraIntrinsics
from grasp_pipeline.perception.detector import (
    Detection,
    check_frame,
    check_targets,
    depth_in_metres,
    planar_grasp_detection,
)
from grasp_pipeline.perception.planar_axis import grasp_frame
from grasp_pipeline.perception.segnet.config import SegNetConfig
from grasp_pipeline.perception.segnet.postprocess import (
    VOTE_MODES,
    demote_look_alikes,
    find_instances,
    robust_depth,
)
from grasp_pipeline.perception.threads import blas_on_calling_thread


def default_labels(num_classes: int) -> list[str]:
    """Catalog names in class order (class_index 1..N -> channel 0..N-1): the first
    ``num_classes`` (a model of the classic 13 classes in the grown catalog)."""
    from grasp_pipeline.objects import load_catalog

    names = list(load_catalog().names)
    if num_classes > len(names):
        raise ValueError(f"model has {num_classes} classes but the catalog lists {len(names)}")
    return names[:num_classes]


def preprocess(
    rgb: np.ndarray, depth_m: np.ndarray, size: tuple[int, int], depth_max_m: float
) -> np.ndarray:
    """(H, W, 3) uint8 + (H, W) metres (NaN/0 = missing) -> (4, h, w) float32 network input.

    RGB is area-averaged; depth is resized nearest-neighbour so holes are not smeared into
    plausible-looking depths, scaled by ``depth_max_m`` and clipped to [0, 1], 0 where missing.
    """
    import cv2

    w, h = size
    img = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    d = cv2.resize(depth_m.astype(np.float32), (w, h), interpolation=cv2.INTER_NEAREST)
    d = np.where(np.isfinite(d) & (d > 0), np.clip(d / depth_max_m, 0.0, 1.0), 0.0)
    return np.concatenate([img.transpose(2, 0, 1), d[None].astype(np.float32)], axis=0)


class SegnetDetector:
    """Loads a checkpoint (``model``, ``config`` with ``model`` = SegNetConfig dict) and detects.

    ``threshold``: activation (0..1) above which pixels belong to an instance; ``min_pixels``:
    smallest blob kept (network pixels); ``max_instances``: most instances reported per class
    (the strongest; a RoboCup@Work task rarely holds more of one kind); ``backend``: inference path (see
    :mod:`~grasp_pipeline.perception.segnet.runtime`). Labels come from ``labels``, else the
    checkpoint's ``config["labels"]``, else the object catalog; the depth scaling from the
    checkpoint's ``config["depth_max_m"]`` (default 1 m). ``vote_weight``: for a network with an
    offset head, how far the pickup moves from the blob centroid to its centre-of-mass votes
    (:func:`find_instances`); default the checkpoint's ``config["vote_weight"]`` (chosen on
    validation data when the model was exported), else 1; ``vote_mode`` likewise ("mean" or
    "mode" of the votes), else "mean". ``min_overlap``: one label per object — a blob lying
    for at least this fraction inside a blob of another class with more evidence (activation
    mass times class probability) has its score scaled by its share of that evidence (:func:`~grasp_pipeline.perception.segnet.postprocess.demote_look_alikes`).
    """

    def __init__(
        self,
        checkpoint: str | os.PathLike,
        device: str = "cpu",
        threshold: float = 0.5,
        min_pixels: int = 3,
        labels: Sequence[str] | None = None,
        expect_config: SegNetConfig | None = None,
        backend: str = "torch",
        max_instances: int = 3,
        vote_weight: float | None = None,
        vote_mode: str | None = None,
        look_alike_overlap: float | None = None,
    ) -> None:
        from grasp_pipeline.perception.segnet.checkpoint import load_segnet

        self.model, state = load_segnet(checkpoint, device, expect_config)
        self.config = self.model.config
        self.device = device
        self.threshold, self.min_pixels = threshold, min_pixels
        self.max_instances = max_instances
        if look_alike_overlap is not None and not 0.0 < look_alike_overlap <= 1.0:
            raise ValueError(f"look_alike_overlap must be in (0, 1], got {look_alike_overlap}")
        self.look_alike_overlap = look_alike_overlap
        self.depth_max_m = float(state["config"].get("depth_max_m", 1.0))
        if vote_weight is None:
            vote_weight = float(state["config"].get("vote_weight", 1.0))
        if not 0.0 <= vote_weight <= 1.0:
            raise ValueError(f"vote_weight must be in [0, 1], got {vote_weight}")
        self.vote_weight = vote_weight
        self.vote_mode = vote_mode or str(state["config"].get("vote_mode", "mean"))
        if self.vote_mode not in VOTE_MODES:
            raise ValueError(f"vote_mode must be one of {VOTE_MODES}, got {self.vote_mode!r}")
        self.labels = list(
            labels or state["config"].get("labels") or default_labels(self.config.num_classes)
        )
        self.path = Path(checkpoint)
        from grasp_pipeline.perception.segnet.runtime import make_backend

        shape = (1, self.config.in_channels, self.config.height, self.config.width)
        self.backend_name = backend
        self.backend = make_backend(backend, self.model, shape)
        self.last_timing_ms: dict[str, float] = {}

    # -- validation --------------------------------------------------------------------------
    def _check(self, rgb, depth, camera: CameraIntrinsics, targets) -> list[int]:
        check_frame(rgb, depth, camera)
        check_targets(targets, self.labels)
        if targets is None:
            return list(range(len(self.labels)))
        return [self.labels.index(t) for t in targets]

    # -- inference ---------------------------------------------------------------------------
    def activations(self, rgb: np.ndarray, depth_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sigmoid maps (C, h, w) at the network size and class probabilities (C,)."""
        x = preprocess(rgb, depth_m, self.config.size, self.depth_max_m)
        maps, probs, _ = self.backend(x[None])
        return maps, probs

    @blas_on_calling_thread
    def detect(
        self,
        rgb: np.ndarray,
        depth: np.ndarray,
        camera: CameraIntrinsics,
        targets: Sequence[str] | None = None,
    ) -> list[Detection]:
        """Instances of the target classes, strongest first; [] when none has valid depth.

        ``depth`` in camera.depth_scale units (uint16, 0 = missing); float arrays are accepted
        with NaN/inf treated as missing. Detections whose depth is unknown in a window around the
        pickup pixel are left out, since they cannot be grasped.
        """
        t0 = time.perf_counter()
        channels = self._check(rgb, depth, camera, targets)
        depth_m = depth_in_metres(depth, camera)
        x = preprocess(rgb, depth_m, self.config.size, self.depth_max_m)
        t1 = time.perf_counter()
        maps, probs, offsets = self.backend(x[None])
        t2 = time.perf_counter()
        h, w = maps.shape[1:]
        sx, sy = camera.width / w, camera.height / h
        out: list[Detection] = []
        # With look-alike demotion every class map takes part in deciding what each object is.
        wanted = set(channels)
        candidates = [
            (c, inst)
            for c in (range(len(self.labels)) if self.look_alike_overlap else channels)
            for inst in find_instances(
                maps[c],
                self.threshold,
                self.min_pixels,
                self.max_instances,
                offsets,
                self.vote_weight,
                self.vote_mode,
            )
        ]
        if self.look_alike_overlap:
            candidates = demote_look_alikes(candidates, self.look_alike_overlap, probs)
        for c, inst in candidates:
            if c not in wanted:
                continue
            # pixel-centre convention, as in scaled(); votes may point past the image border
            u = min(max((inst.pixel[0] + 0.5) * sx - 0.5, 0.0), camera.width - 1.0)
            v = min(max((inst.pixel[1] + 0.5) * sy - 0.5, 0.0), camera.height - 1.0)
            z = robust_depth(depth_m, u, v, radius=max(2, round(2 * sx)))
            if not np.isfinite(z):
                continue
            point = np.array([(u - camera.cx) * z / camera.fx, (v - camera.cy) * z / camera.fy, z])
            axis_uv = (inst.axis[0] * sx, inst.axis[1] * sy)
            R = grasp_frame(axis_uv, camera.fx, camera.fy)
            out.append(
                planar_grasp_detection(
                    self.labels[c],
                    inst.score,
                    (u, v),
                    point,
                    R,
                    {
                        "class_probability": float(probs[c]),
                        "mean_activation": inst.mean_activation,
                        "pixels": inst.pixels,
                        "mass": inst.mass,
                        "elongation": inst.elongation,
                    },
                )
            )
        out.sort(key=lambda d: -d.score)
        t3 = time.perf_counter()
        self.last_timing_ms = {
            "pre": 1e3 * (t1 - t0),
            "net": 1e3 * (t2 - t1),
            "post": 1e3 * (t3 - t2),
        }
        return out
