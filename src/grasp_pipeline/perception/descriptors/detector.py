"""DescriptorDetector: the common Detector interface on top of the descriptor network and a
descriptor database, returning full 6-D poses (camera optical frame, metres)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from grasp_pipeline.geometry.camera import CameraIntrinsics, depth_to_metres
from grasp_pipeline.perception.descriptors.database import DescriptorDatabase
from grasp_pipeline.perception.descriptors.model import DescriptorNet, to_input
from grasp_pipeline.perception.descriptors.pose import pose_from_keypoints
from grasp_pipeline.perception.descriptors.query import query_descriptors
from grasp_pipeline.perception.detector import Detection


class DescriptorDetector:
    """Query every reference descriptor of each object, lift the answers with the measured
    depth and fit the object's pose by Kabsch. ``input_size`` (width, height) resizes frames
    before the network (the scale the model was trained at); pixels are reported at the input
    frame's resolution. ``temperature`` overrides the database's per-object value; ``window``
    (pixels of the descriptor image) limits each query's expectation to the neighbourhood of its
    best match (None: the global expectation of paper Eq. 8)."""

    def __init__(
        self,
        model: DescriptorNet | None,
        database: DescriptorDatabase,
        input_size: tuple[int, int] | None = None,
        temperature: float | None = None,
        min_confidence: float = 0.05,
        window: int | None = 4,
        min_inliers: int = 4,
        device: str = "cpu",
    ):
        if len(database) == 0:
            raise ValueError("the descriptor database is empty")
        if model is not None and database.dim != model.config.descriptor_dim:
            raise ValueError(
                f"database descriptors have D={database.dim}, the model D={model.config.descriptor_dim}"
            )
        self.model = model.eval().to(device) if model is not None else None
        self.database = database
        self.input_size = input_size
        self.temperature = temperature
        self.min_confidence = min_confidence
        self.min_inliers = min_inliers
        self.window = window
        self.device = device
        self.labels: Sequence[str] = database.names

    @torch.no_grad()
    def descriptor_image(self, rgb: np.ndarray) -> torch.Tensor:
        """(D, H, W) descriptors of an (H, W, 3) uint8 image."""
        if self.model is None:
            raise ValueError("this detector has no model; use detect_in_descriptors")
        return self.model(to_input(rgb, self.device), keypoints=False).descriptors[0].cpu()

    def detect(
        self,
        rgb: np.ndarray,
        depth: np.ndarray,
        camera: CameraIntrinsics,
        targets: Sequence[str] | None = None,
    ) -> list[Detection]:
        import cv2

        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"rgb must be (H, W, 3) uint8, got {rgb.shape} {rgb.dtype}")
        if rgb.shape[:2] != (camera.height, camera.width) or depth.shape != rgb.shape[:2]:
            raise ValueError(
                f"rgb {rgb.shape[:2]} and depth {depth.shape} must match the camera {camera.height}x{camera.width}"
            )
        names = list(self.labels) if targets is None else list(targets)
        for n in names:
            if n not in self.database.objects:
                raise ValueError(
                    f"unknown target {n!r}; the descriptor database has {list(self.labels)}"
                )
        depth_m = depth_to_metres(depth, camera)
        img = rgb
        if self.input_size is not None and tuple(self.input_size) != (camera.width, camera.height):
            img = cv2.resize(rgb, tuple(self.input_size), interpolation=cv2.INTER_AREA)
        return self.detect_in_descriptors(self.descriptor_image(img), depth_m, camera, names)

    def detect_in_descriptors(
        self,
        desc: torch.Tensor | np.ndarray,
        depth_m: np.ndarray,
        camera: CameraIntrinsics,
        names: Sequence[str],
    ) -> list[Detection]:
        """Detections from a descriptor image (D, h, w) (any resolution; pixels are mapped to
        ``camera``'s) and metric depth (H, W) metres (NaN = missing) at the camera's resolution."""
        desc = torch.as_tensor(desc, dtype=torch.float32)
        sx, sy = camera.width / desc.shape[2], camera.height / desc.shape[1]
        out = []
        for name in names:
            entry = self.database[name]
            t = entry.temperature if self.temperature is None else self.temperature
            q = query_descriptors(desc, entry.descriptors, t, window=self.window)
            uv = np.stack([(q.uv[:, 0] + 0.5) * sx - 0.5, (q.uv[:, 1] + 0.5) * sy - 0.5], 1)
            weights = np.where(q.confidence >= self.min_confidence, q.confidence, 0.0)
            try:
                est = pose_from_keypoints(
                    uv, depth_m, camera, entry.points_object, weights, self.min_inliers
                )
            except ValueError:
                continue  # too few confident keypoints with depth: the object is not seen
            point = est.pose[:3, 3].copy()
            pixel = (
                float(camera.fx * point[0] / point[2] + camera.cx),
                float(camera.fy * point[1] / point[2] + camera.cy),
            )
            score = float(est.inliers.mean() * q.confidence[est.inliers].mean())
            out.append(
                Detection(
                    name,
                    score,
                    pixel,
                    point,
                    est.pose,
                    grasp_axis=est.pose[:3, 1].copy(),
                    pose_is_full_6d=True,
                    extras={
                        "inliers": int(est.inliers.sum()),
                        "keypoints": len(uv),
                        "rmse_m": est.rmse_m,
                        "keypoints_uv": uv,
                    },
                )
            )
        return sorted(out, key=lambda d: -d.score)
