"""Descriptor database: per object, reference descriptors with their 3-D points in the object
frame (for 6-D pose), saved as NAME.npz (arrays) + NAME.json (metadata)."""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from grasp_pipeline.data.pairs import PairSource
from grasp_pipeline.geometry.camera import CameraIntrinsics


@dataclass
class ObjectDescriptors:
    name: str
    descriptors: np.ndarray  # (K, D) float32
    points_object: np.ndarray  # (K, 3) metres, object frame
    pixels: np.ndarray  # (K, 2) pixels in the reference image
    temperature: float = 0.0  # query kernel width exp(t), descriptor units
    meta: dict = field(default_factory=dict)
    reference: PairSource | None = None  # the view the entry came from (for re-registration)
    # (N, 3) metres, object frame: the model's N keypoints (heads' expectations) in the
    # reference view lifted with its depth; NaN where a keypoint had no depth. None for models
    # without keypoint heads.
    keypoint_points: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.descriptors = np.asarray(self.descriptors, dtype=np.float32)
        self.points_object = np.asarray(self.points_object, dtype=np.float64)
        self.pixels = np.asarray(self.pixels, dtype=np.float64)
        if self.keypoint_points is not None:
            self.keypoint_points = np.asarray(self.keypoint_points, dtype=np.float64)
            if self.keypoint_points.ndim != 2 or self.keypoint_points.shape[1] != 3:
                raise ValueError(
                    f"{self.name}: keypoint_points must be (N, 3), got {self.keypoint_points.shape}"
                )
        k = len(self.descriptors)
        if self.descriptors.ndim != 2 or k == 0:
            raise ValueError(
                f"{self.name}: descriptors must be (K, D) with K >= 1, got {self.descriptors.shape}"
            )
        if self.points_object.shape != (k, 3) or self.pixels.shape != (k, 2):
            raise ValueError(
                f"{self.name}: points_object must be ({k}, 3) and pixels ({k}, 2), got {self.points_object.shape}, {self.pixels.shape}"
            )


class DescriptorDatabase:
    """Objects by name; every entry has the same descriptor size D. ``model`` records the
    checkpoint the descriptors came from (descriptors of another model are meaningless)."""

    def __init__(self, model: str | None = None):
        self.model = model
        self.objects: dict[str, ObjectDescriptors] = {}
        self.path: Path | None = None  # where it was loaded from (PATH without suffix)

    @property
    def names(self) -> list[str]:
        return sorted(self.objects)

    @property
    def dim(self) -> int | None:
        return next(iter(self.objects.values())).descriptors.shape[1] if self.objects else None

    def add(self, entry: ObjectDescriptors) -> None:
        if self.dim is not None and entry.descriptors.shape[1] != self.dim:
            raise ValueError(
                f"{entry.name}: descriptor size {entry.descriptors.shape[1]} differs from the database's {self.dim}"
            )
        self.objects[entry.name] = entry

    def __getitem__(self, name: str) -> ObjectDescriptors:
        if name not in self.objects:
            raise ValueError(f"object {name!r} not in the descriptor database; known: {self.names}")
        return self.objects[name]

    def __len__(self) -> int:
        return len(self.objects)

    def save(self, path: str | Path) -> None:
        """Write PATH.npz and PATH.json (suffix of ``path`` ignored), atomically."""
        import io

        from grasp_pipeline.perception.checkpoint import atomic_write_bytes

        base = Path(path).with_suffix("")
        arrays = {}
        meta = {"model": self.model, "objects": {}}
        for i, (name, e) in enumerate(sorted(self.objects.items())):
            arrays[f"o{i}_descriptors"], arrays[f"o{i}_points"], arrays[f"o{i}_pixels"] = (
                e.descriptors,
                e.points_object,
                e.pixels,
            )
            meta["objects"][name] = {"index": i, "temperature": e.temperature, "meta": e.meta}
            if e.keypoint_points is not None:
                arrays[f"o{i}_keypoints"] = e.keypoint_points
            if e.reference is not None:
                r = e.reference
                arrays[f"o{i}_rgb"], arrays[f"o{i}_mask"], arrays[f"o{i}_depth"] = (
                    r.rgb,
                    r.mask,
                    r.depth_m,
                )
                meta["objects"][name]["camera"] = r.camera.to_dict()
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        atomic_write_bytes(base.with_suffix(".npz"), buf.getvalue())
        atomic_write_bytes(base.with_suffix(".json"), json.dumps(meta, indent=2).encode())

    @classmethod
    def load(cls, path: str | Path) -> DescriptorDatabase:
        base = Path(path).with_suffix("")
        jpath, npath = base.with_suffix(".json"), base.with_suffix(".npz")
        for p in (jpath, npath):
            if not p.is_file():
                raise FileNotFoundError(f"descriptor database file not found: {p}")
        try:
            meta = json.loads(jpath.read_text())
            arrays = np.load(npath, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise ValueError(f"cannot read descriptor database {base}: {exc}") from exc
        db = cls(meta.get("model"))
        db.path = base
        for name, info in meta.get("objects", {}).items():
            i = info["index"]
            try:
                ref = None
                if "camera" in info:
                    ref = PairSource(
                        arrays[f"o{i}_rgb"],
                        arrays[f"o{i}_mask"],
                        arrays[f"o{i}_depth"],
                        CameraIntrinsics.from_dict(info["camera"]),
                        name,
                    )
                db.add(
                    ObjectDescriptors(
                        name,
                        arrays[f"o{i}_descriptors"],
                        arrays[f"o{i}_points"],
                        arrays[f"o{i}_pixels"],
                        float(info.get("temperature", 0.0)),
                        info.get("meta", {}),
                        ref,
                        arrays.get(f"o{i}_keypoints", None),
                    )
                )
            except KeyError as exc:
                raise ValueError(f"{npath}: missing array {exc} for object {name!r}") from exc
            except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
                # npz members are read lazily; a flipped bit shows up here as a CRC error.
                raise ValueError(
                    f"descriptor database {npath} is corrupt (object {name!r}): {exc}"
                ) from exc
            entry = db.objects[name]
            for what in ("descriptors", "points_object"):
                if not np.all(np.isfinite(getattr(entry, what))):
                    raise ValueError(
                        f"descriptor database {npath}: object {name!r} has non-finite {what}"
                    )
        return db


def farthest_point_sample(points: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``k`` points spread over ``points`` (N, dims) by farthest-point sampling."""
    n = len(points)
    if n == 0:
        raise ValueError("cannot sample from an empty point set")
    k = min(k, n)
    idx = [int(rng.integers(n))]
    dmin = np.linalg.norm(points - points[idx[0]], axis=1)
    for _ in range(k - 1):
        idx.append(int(dmin.argmax()))
        dmin = np.minimum(dmin, np.linalg.norm(points - points[idx[-1]], axis=1))
    return np.array(idx)


def object_frame_from_points(points: np.ndarray) -> np.ndarray:
    """A 4x4 object -> camera pose from a view's 3-D points: origin at the centroid, x along the
    dominant principal axis, z the least-spread axis turned towards the camera."""
    c = points.mean(0)
    _, _, vt = np.linalg.svd(points - c, full_matrices=False)
    x, z = vt[0], vt[2]
    if z @ (-c) < 0:  # camera sits at the origin: make z face it
        z = -z
    y = np.cross(z, x)
    T = np.eye(4)
    T[:3, :3] = np.stack([x, y, z], 1)
    T[:3, 3] = c
    return T


def register_object(
    descriptor_image: np.ndarray,
    mask: np.ndarray,
    depth_m: np.ndarray,
    camera: CameraIntrinsics,
    name: str,
    num_points: int = 64,
    pose_camera: np.ndarray | None = None,
    temperature: float = 0.0,
    seed: int = 0,
    erode_px: int = 2,
) -> ObjectDescriptors:
    """Reference entry from one view: ``num_points`` mask pixels with depth, spread by
    farthest-point sampling (away from the mask border), with their descriptors
    (``descriptor_image`` (D, H, W)) and 3-D points in the object frame. The object frame is
    ``pose_camera`` (object -> camera) when known, else :func:`object_frame_from_points`."""
    import cv2

    _, h, w = descriptor_image.shape
    if mask.shape != (h, w) or depth_m.shape != (h, w):
        raise ValueError(
            f"mask {mask.shape} and depth {depth_m.shape} must match the descriptor image {(h, w)}"
        )
    inner = (
        cv2.erode(mask.astype(np.uint8), np.ones((2 * erode_px + 1,) * 2, np.uint8)) > 0
        if erode_px
        else mask.astype(bool)
    )
    good = inner & np.isfinite(depth_m) & (depth_m > 0)
    if good.sum() < 4:
        raise ValueError(f"{name}: fewer than 4 mask pixels with depth")
    vs, us = np.nonzero(good)
    z = depth_m[vs, us]
    pts_cam = np.stack([(us - camera.cx) / camera.fx * z, (vs - camera.cy) / camera.fy * z, z], 1)
    sel = farthest_point_sample(
        np.stack([us, vs], 1).astype(float), num_points, np.random.default_rng(seed)
    )
    T = (
        object_frame_from_points(pts_cam)
        if pose_camera is None
        else np.asarray(pose_camera, dtype=np.float64)
    )
    T_inv = np.linalg.inv(T)
    pts_obj = pts_cam[sel] @ T_inv[:3, :3].T + T_inv[:3, 3]
    desc = descriptor_image[:, vs[sel], us[sel]].T
    return ObjectDescriptors(
        name,
        desc,
        pts_obj,
        np.stack([us[sel], vs[sel]], 1),
        temperature,
        {
            "frame": "given pose"
            if pose_camera is not None
            else "principal axes of the reference view"
        },
    )
