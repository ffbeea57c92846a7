"""DescriptorDetector: the common Detector interface on top of descriptor networks and a
descriptor database, returning full 6-D poses (camera optical frame, metres).

Two ways to a pose, both ending in RANSAC + trimmed Kabsch against the enrolled reference
(:func:`pose.pose_from_keypoints`) with the measured depth:

* ``"keypoints"`` (paper 004, Sec. 4.3): the keypoint heads' expectations, with each map's
  probability switched off where the camera has no depth, matched to the same keypoints of the
  reference view (:mod:`keypoint_pose`);
* ``"descriptors"``: every stored reference descriptor is queried in the image (kernel spatial
  expectation, paper Eq. 8) and matched to its reference point.

Entries enrolled with ``grasp-pipeline enroll`` carry their own model (``meta["checkpoint"]``,
relative to the database) and the scale they were trained at (``meta["scale"]``: training
pixels per camera pixel, ``meta["crop_size"]``). The detector then runs the object's model on the
regions that stand out of the support plane in the depth image (:mod:`roi`), scores a
training-size window around each at that scale by how well the reference descriptors find
matches in it, and computes either pose in the best window (the region of interest); pixels and
poses are reported in the input frame. Without a support plane the window is centred on the
median of the best descriptor matches in the whole frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from grasp_pipeline.geometry.camera import CameraIntrinsics, depth_to_metres, project
from grasp_pipeline.geometry.windows import to_image, window_affine, window_frame, window_rgb
from grasp_pipeline.perception.descriptors.database import DescriptorDatabase
from grasp_pipeline.perception.descriptors.keypoint_pose import masked_keypoints
from grasp_pipeline.perception.descriptors.model import DescriptorNet, to_input
from grasp_pipeline.perception.descriptors.pose import pose_from_keypoints
from grasp_pipeline.perception.descriptors.query import query_descriptors
from grasp_pipeline.perception.descriptors.refine import enrolled_surface, lift_pixels, refine_pose
from grasp_pipeline.perception.descriptors.roi import Region, object_regions
from grasp_pipeline.perception.detector import Detection
from grasp_pipeline.perception.threads import blas_on_calling_thread

POSE_METHODS = ("auto", "keypoints", "descriptors")


class DescriptorDetector:
    """Query every reference descriptor of each object, lift the answers with the measured
    depth and fit the object's pose by Kabsch. ``input_size`` (width, height) resizes frames
    before the network (the scale the model was trained at); pixels are reported at the input
    frame's resolution. ``temperature`` overrides the database's per-object value; ``window``
    (pixels of the descriptor image) limits each query's expectation to the neighbourhood of its
    best match (None: the global expectation of paper Eq. 8). ``models``: per-object networks
    (name -> model) used instead of ``model`` for those objects; ``pose_method``: "keypoints",
    "descriptors" or "auto" (keypoints where the object's model has heads and its entry has
    reference keypoints); ``refine``: align the enrolled view's surface with the measured depth
    of the part's region, from the network's pose and turns of it (:mod:`refine`; our addition to
    the paper); a refined detection whose alignment scores below ``min_alignment`` (fit minus
    free-space violations, :class:`refine.Refinement`) is dropped, and one region of the depth
    image holds at most one object (the best aligned)."""

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
        pose_method: str = "auto",
        models: dict[str, DescriptorNet] | None = None,
        refine: bool = True,
        min_alignment: float = 0.7,
    ):
        if len(database) == 0:
            raise ValueError("the descriptor database is empty")
        if pose_method not in POSE_METHODS:
            raise ValueError(f"pose_method must be one of {POSE_METHODS}, got {pose_method!r}")
        self.models = {n: m.eval().to(device) for n, m in (models or {}).items()}
        for name, m in self.models.items():
            d = database[name].descriptors.shape[1]
            if d != m.config.descriptor_dim:
                raise ValueError(
                    f"{name}: database descriptors have D={d}, its model D={m.config.descriptor_dim}"
                )
        shared = [n for n in database.names if n not in self.models]
        if model is not None and shared:
            dims = {database[n].descriptors.shape[1] for n in shared}
            if dims != {model.config.descriptor_dim}:
                raise ValueError(
                    f"database descriptors have D={sorted(dims)[0]}, the model D={model.config.descriptor_dim}"
                )
        self.pose_method = pose_method
        self.refine = refine
        self.min_alignment = min_alignment
        self._clouds: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
        self.model = model.eval().to(device) if model is not None else None
        self.database = database
        self.input_size = input_size
        self.temperature = temperature
        self.min_confidence = min_confidence
        self.min_inliers = min_inliers
        self.window = window
        self.device = device
        self.labels: Sequence[str] = database.names

    @classmethod
    def from_database(cls, path: str | Path, device: str = "cpu", **options) -> DescriptorDetector:
        """Detector over a database written by ``grasp-pipeline enroll``: each entry's model is
        loaded from its ``meta["checkpoint"]`` (relative to the database's folder)."""
        from grasp_pipeline.perception.descriptors.checkpoint import load_descriptor_model

        db = DescriptorDatabase.load(path)
        folder = Path(path).parent
        models = {}
        for name in db.names:
            ckpt = db[name].meta.get("checkpoint")
            if not ckpt:
                raise ValueError(
                    f"database {path}: object {name!r} names no model (meta.checkpoint); "
                    "enrol it with 'grasp-pipeline enroll' or pass a model"
                )
            p = Path(ckpt) if Path(ckpt).is_absolute() else folder / ckpt
            models[name] = load_descriptor_model(p, device)
        return cls(None, db, device=device, models=models, **options)

    def _model_for(self, name: str) -> DescriptorNet:
        model = self.models.get(name, self.model)
        if model is None:
            raise ValueError("this detector has no model; use detect_in_descriptors")
        return model

    @torch.no_grad()
    def descriptor_image(self, rgb: np.ndarray, name: str | None = None) -> torch.Tensor:
        """(D, H, W) descriptors of an (H, W, 3) uint8 image (by ``name``'s model)."""
        model = self.model if name is None else self._model_for(name)
        if model is None:
            raise ValueError("this detector has no model; use detect_in_descriptors")
        return model(to_input(rgb, self.device), keypoints=False).descriptors[0].cpu()

    @blas_on_calling_thread
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
        out: list[Detection] = []
        plain = []
        regions: list[Region] | None = None
        for name in names:
            if "scale" in self.database[name].meta:
                if regions is None:  # one support plane and one set of regions per frame
                    regions = object_regions(depth_m, camera, seed=0, max_candidates=8)
                det = self._detect_roi(name, rgb, depth_m, camera, regions)
                out.extend([det] if det is not None else [])
            else:
                plain.append(name)
        out = self._one_object_per_region(out)
        if plain:
            img = rgb
            if self.input_size is not None and tuple(self.input_size) != (
                camera.width,
                camera.height,
            ):
                img = cv2.resize(rgb, tuple(self.input_size), interpolation=cv2.INTER_AREA)
            by_model: dict[int, list[str]] = {}
            for n in plain:
                by_model.setdefault(id(self._model_for(n)), []).append(n)
            for group in by_model.values():
                desc = self.descriptor_image(img, group[0])
                out.extend(self.detect_in_descriptors(desc, depth_m, camera, group))
        return sorted(out, key=lambda d: -d.score)

    def _one_object_per_region(self, dets: list[Detection]) -> list[Detection]:
        """Depth-refined detections: those whose alignment scores below ``min_alignment`` are
        dropped, and of several objects found on one region only the best-aligned stays."""
        best: dict[int, float] = {}
        for d in dets:
            r = d.extras.get("refinement")
            if r is not None:
                best[r["region"]] = max(best.get(r["region"], -1.0), r["score"])
        keep = []
        for d in dets:
            r = d.extras.get("refinement")
            if r is None or (r["score"] >= self.min_alignment and r["score"] >= best[r["region"]]):
                keep.append(d)
        return keep

    @torch.no_grad()
    def _detect_roi(
        self,
        name: str,
        rgb: np.ndarray,
        depth_m: np.ndarray,
        camera: CameraIntrinsics,
        regions: list[Region],
    ) -> Detection | None:
        """Whole frame at the training scale -> object centre -> training-size window -> pose."""
        entry = self.database[name]
        model = self._model_for(name)
        s = float(entry.meta["scale"])
        cw, ch = (int(x) for x in entry.meta["crop_size"])
        ref = torch.as_tensor(entry.descriptors, dtype=torch.float32)

        turned = bool(entry.meta.get("canonical", False))

        def window(
            centre: tuple[float, float], angle: float = 0.0
        ) -> tuple[np.ndarray, np.ndarray]:
            M = window_affine(centre, s, (cw, ch), angle)
            return window_rgb(rgb, M, (cw, ch)), M

        def match_cost(crop: np.ndarray) -> float:
            # median distance of the reference descriptors to their nearest match in the window
            desc = model(to_input(crop, self.device), keypoints=False).descriptors[0]
            flat = desc.reshape(desc.shape[0], -1).T
            return float(torch.cdist(ref[None], flat[None])[0].min(-1).values.median())

        # regions about the size the part had when it was enrolled (frame pixels)
        area = entry.reference.mask.sum() / s**2 if entry.reference is not None else None
        lo, hi = (0.3 * area, 3.0 * area) if area else (0.0, np.inf)
        fits = [i for i, r in enumerate(regions) if lo <= r.area <= hi]
        if len(fits) > 1:
            costs = [match_cost(window(*window_frame(regions[i].mask, turned))[0]) for i in fits]
            fits = [fits[int(np.argmin(costs))]]
        region_index = fits[0] if fits else None
        region = regions[region_index] if fits else None
        # as the enrolment and the evaluation cut: at the region's own centre and direction
        # when the part was enrolled that way (geometry.windows.window_frame)
        if region is not None:
            crop, M = window(*window_frame(region.mask, turned))
        else:
            crop, M = window(self._global_centre(model, entry, rgb, camera, s))
        out = model(to_input(crop, self.device), keypoints=None)

        def to_frame(uv: np.ndarray) -> np.ndarray:
            return to_image(M, uv)

        method = self.pose_method
        if method == "auto":
            has_heads = out.prob is not None and entry.keypoint_points is not None
            method = "keypoints" if has_heads else "descriptors"
        if method == "keypoints":
            if out.prob is None or entry.keypoint_points is None:
                raise ValueError(
                    f"{name}: keypoint pose needs a model with heads and reference keypoints"
                )
            # depth validity of each window pixel, looked up in the frame
            vv, uu = np.mgrid[0:ch, 0:cw].astype(np.float64)
            fuv = np.round(to_frame(np.stack([uu.ravel(), vv.ravel()], 1))).astype(int)
            fu, fv = fuv[:, 0].reshape(ch, cw), fuv[:, 1].reshape(ch, cw)
            inside = (fu >= 0) & (fu < camera.width) & (fv >= 0) & (fv < camera.height)
            z = np.full((ch, cw), np.nan)
            z[inside] = depth_m[fv[inside], fu[inside]]
            valid = np.isfinite(z) & (z > 0)
            uv_c, mass = masked_keypoints(out.prob[0].cpu(), valid)
            ref_pts = entry.keypoint_points
            weights = np.where(np.isfinite(ref_pts).all(1) & np.isfinite(uv_c).all(1), mass, 0.0)
            uv = to_frame(np.nan_to_num(uv_c, nan=-1e6))
            conf = mass
        else:
            t = entry.temperature if self.temperature is None else self.temperature
            q = query_descriptors(
                out.descriptors[0].cpu(), entry.descriptors, t, window=self.window
            )
            uv = to_frame(q.uv)
            ref_pts = entry.points_object
            weights = np.where(q.confidence >= self.min_confidence, q.confidence, 0.0)
            conf = q.confidence
        det = self._pose_detection(
            name, uv, depth_m, camera, np.nan_to_num(ref_pts), weights, conf, method
        )
        if det is not None and self.refine and region is not None:
            self._refine(det, entry, region, depth_m, camera)
            if "refinement" in det.extras:
                det.extras["refinement"]["region"] = region_index
        return det

    def _refine(
        self,
        det: Detection,
        entry,
        region: Region,
        depth_m: np.ndarray,
        camera: CameraIntrinsics,
    ) -> None:
        """Depth refinement (:mod:`refine`) of ``det``'s pose on the region's measured points,
        in place; the network's pose stays in ``extras["pose_network"]``."""
        if entry.name not in self._clouds:
            ref = entry.reference
            if ref is None or "pose_camera" not in entry.meta:
                return  # nothing enrolled to align: keep the network's pose
            self._clouds[entry.name] = enrolled_surface(entry)
        model, up_object = self._clouds[entry.name]
        observed = lift_pixels(depth_m, camera, region.mask, max_points=800)
        if len(observed) < 10:
            return
        r = refine_pose(
            model, observed, det.pose, depth_m, camera, up=region.normal, up_object=up_object
        )
        det.extras["pose_network"] = det.pose
        det.extras["refinement"] = {
            "start": r.start,
            "fitness": r.fitness,
            "free_space_violation": r.free_space_violation,
            "rmse_m": r.rmse_m,
            "score": r.score,
        }
        det.pose = r.pose
        det.point = r.pose[:3, 3].copy()
        det.grasp_axis = r.pose[:3, 1].copy()
        det.pixel = _pixel(det.point, camera)

    @torch.no_grad()
    def _global_centre(self, model, entry, rgb, camera, s: float) -> tuple[float, float]:
        """Fallback without a support plane: the whole frame at the training scale, the median
        pixel of the better half of the reference descriptors' nearest matches."""
        import cv2

        small = rgb
        if abs(s - 1.0) > 1e-6:
            size = (max(8, round(camera.width * s)), max(8, round(camera.height * s)))
            small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        desc = model(to_input(small, self.device), keypoints=False).descriptors[0]
        d, h, w = desc.shape
        dist = torch.cdist(
            torch.as_tensor(entry.descriptors, dtype=desc.dtype)[None], desc.reshape(d, -1).T[None]
        )[0]
        best, idx = dist.min(-1)
        keep = best <= best.median()
        us, vs = (idx[keep] % w).double(), (idx[keep] // w).double()
        sx, sy = camera.width / w, camera.height / h
        return (float(us.median()) + 0.5) * sx - 0.5, (float(vs.median()) + 0.5) * sy - 0.5

    def _pose_detection(
        self,
        name: str,
        uv: np.ndarray,
        depth_m: np.ndarray,
        camera: CameraIntrinsics,
        ref_pts: np.ndarray,
        weights: np.ndarray,
        conf: np.ndarray,
        method: str,
    ) -> Detection | None:
        try:
            est = pose_from_keypoints(uv, depth_m, camera, ref_pts, weights, self.min_inliers)
        except ValueError:
            return None  # too few confident keypoints with depth: the object is not seen
        point = est.pose[:3, 3].copy()
        pixel = _pixel(point, camera)
        score = float(est.inliers.mean() * conf[est.inliers].mean())
        return Detection(
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
                "pose_method": method,
            },
        )

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
            det = self._pose_detection(
                name, uv, depth_m, camera, entry.points_object, weights, q.confidence, "descriptors"
            )
            if det is not None:
                out.append(det)
        return sorted(out, key=lambda d: -d.score)


def _pixel(point: np.ndarray, camera: CameraIntrinsics) -> tuple[float, float]:
    """The pixel (u, v) where ``point`` (camera frame) is seen."""
    u, v = project(point, camera)
    return float(u), float(v)
