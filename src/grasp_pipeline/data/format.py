"""The on-disk RGB-D dataset format (see docs/dataset_format.md).

Layout::

    DIR/manifest.json
    DIR/frames/<frame_id>/color.png        8-bit RGB
    DIR/frames/<frame_id>/depth.png        16-bit, driver depth units (depth_scale metres), 0 = none
    DIR/frames/<frame_id>/mask.png         16-bit instance ids, 0 = background
    DIR/frames/<frame_id>/annotation.json  intrinsics, camera pose, objects

A frame directory is written under a temporary name and renamed into place, so a frame either
exists completely or not at all. Names starting with ``.`` inside ``frames/`` are unfinished
writes and are ignored (and cleaned up by the generator).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from grasp_pipeline.geometry.camera import CameraIntrinsics

FORMAT_NAME = "grasp_pipeline.rgbd_dataset"
FORMAT_VERSION = 1
FRAME_FILES = ("color.png", "depth.png", "mask.png", "annotation.json")


@dataclass
class ObjectAnnotation:
    """Ground truth / labels of one object instance in one frame.

    Attributes:
        instance_id: value of this object in the frame's instance mask (1..n).
        label / class_index: catalog name and class index (channel + 1; 1..13 for the classic
            2018 set, up to 22 with the rulebook set: config/objects.yaml).
        pickup_pixel: (u, v) pixel where the object should be grasped (column, row).
        pickup_point: (3,) point on the object's visible surface at ``pickup_pixel``, camera
            optical frame, metres (what deprojecting the depth at that pixel should give).
        pose_camera: (4, 4) object frame -> camera optical frame, or None when unknown
            (hand-labelled real recordings).
        pose_world: (4, 4) object frame -> world, or None.
        axis_camera: (3,) unit dominant axis (object x) in the camera frame, or None.
        visible_pixels: number of pixels of this instance in the mask.
        com_camera: (3,) centre of mass in the camera frame (metres), or None.
    """

    instance_id: int
    label: str
    class_index: int
    pickup_pixel: tuple[float, float]
    pickup_point: np.ndarray | None
    pose_camera: np.ndarray | None
    pose_world: np.ndarray | None
    axis_camera: np.ndarray | None
    visible_pixels: int
    com_camera: np.ndarray | None = None

    def to_dict(self) -> dict:
        def arr(a: np.ndarray | None) -> list | None:
            return None if a is None else np.asarray(a, dtype=float).tolist()

        return {
            "instance_id": int(self.instance_id),
            "label": self.label,
            "class_index": int(self.class_index),
            "pickup_pixel": [float(self.pickup_pixel[0]), float(self.pickup_pixel[1])],
            "pickup_point": arr(self.pickup_point),
            "pose_camera": arr(self.pose_camera),
            "pose_world": arr(self.pose_world),
            "axis_camera": arr(self.axis_camera),
            "visible_pixels": int(self.visible_pixels),
            "com_camera": arr(self.com_camera),
        }

    @classmethod
    def from_dict(cls, d: dict, where: str = "annotation") -> ObjectAnnotation:
        """Parse one object entry; ValueError names ``where`` and the bad field."""

        def get(key: str, required: bool = True):
            if key not in d:
                if required:
                    raise ValueError(f"{where}: object entry lacks field {key!r}")
                return None
            return d[key]

        def arr(key: str, shape: tuple[int, ...], required: bool = False) -> np.ndarray | None:
            value = get(key, required)
            if value is None:
                return None
            a = np.asarray(value, dtype=np.float64)
            if a.shape != shape or not np.all(np.isfinite(a)):
                raise ValueError(
                    f"{where}: field {key!r} must be finite with shape {shape}, got {a.shape}"
                )
            return a

        pixel = arr("pickup_pixel", (2,), required=True)
        try:
            return cls(
                instance_id=int(get("instance_id")),
                label=str(get("label")),
                class_index=int(get("class_index")),
                pickup_pixel=(float(pixel[0]), float(pixel[1])),
                pickup_point=arr("pickup_point", (3,)),
                pose_camera=arr("pose_camera", (4, 4)),
                pose_world=arr("pose_world", (4, 4)),
                axis_camera=arr("axis_camera", (3,)),
                visible_pixels=int(get("visible_pixels", required=False) or 0),
                com_camera=arr("com_camera", (3,)),
            )
        except (TypeError, ValueError) as exc:
            if str(exc).startswith(where):
                raise
            raise ValueError(f"{where}: bad object entry ({exc})") from exc


@dataclass
class Frame:
    """One RGB-D frame with its labels; arrays at the camera's resolution.

    rgb (H, W, 3) uint8; depth (H, W) uint16 in ``camera.depth_scale`` metres (0 = no depth);
    instance_mask (H, W) uint16 (0 = background, else ``ObjectAnnotation.instance_id``);
    camera_pose_world (4, 4) camera optical frame -> world, or None. ``meta`` holds free-form
    scene information (generator settings, lighting ...).
    """

    frame_id: str
    rgb: np.ndarray
    depth: np.ndarray
    instance_mask: np.ndarray
    camera: CameraIntrinsics
    camera_pose_world: np.ndarray | None
    objects: list[ObjectAnnotation]
    meta: dict = field(default_factory=dict)

    def validate(self) -> None:
        """Raise ValueError naming the field when shapes, dtypes or ids are inconsistent."""
        h, w = self.camera.height, self.camera.width
        checks = (
            ("rgb", self.rgb, (h, w, 3), np.uint8),
            ("depth", self.depth, (h, w), np.uint16),
            ("instance_mask", self.instance_mask, (h, w), np.uint16),
        )
        for name, a, shape, dtype in checks:
            if not isinstance(a, np.ndarray) or a.shape != shape or a.dtype != dtype:
                got = (getattr(a, "shape", None), getattr(a, "dtype", None))
                raise ValueError(
                    f"frame {self.frame_id}: {name} must be {shape} {np.dtype(dtype)}, got {got}"
                )
        if not self.frame_id or "/" in self.frame_id or self.frame_id.startswith("."):
            raise ValueError(f"invalid frame_id {self.frame_id!r}")
        ids = [o.instance_id for o in self.objects]
        if len(set(ids)) != len(ids) or any(i <= 0 for i in ids):
            raise ValueError(
                f"frame {self.frame_id}: instance ids must be unique and >= 1, got {ids}"
            )
        if self.camera_pose_world is not None and np.asarray(self.camera_pose_world).shape != (
            4,
            4,
        ):
            raise ValueError(f"frame {self.frame_id}: camera_pose_world must be 4x4")


def frame_dir(root: str | Path, frame_id: str) -> Path:
    return Path(root) / "frames" / frame_id


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)


def write_frame(root: str | Path, frame: Frame) -> Path:
    """Write ``frame`` atomically to ``root/frames/<frame_id>/``; returns the directory.

    An existing frame directory with the same id is replaced.
    """
    import cv2

    frame.validate()
    frames = Path(root) / "frames"
    frames.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{frame.frame_id}.", dir=frames))
    try:
        ok = cv2.imwrite(str(tmp / "color.png"), np.ascontiguousarray(frame.rgb[:, :, ::-1]))
        ok &= cv2.imwrite(str(tmp / "depth.png"), frame.depth)
        ok &= cv2.imwrite(str(tmp / "mask.png"), frame.instance_mask)
        if not ok:
            raise OSError(f"could not encode the PNG images of frame {frame.frame_id} in {tmp}")
        annotation = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "frame_id": frame.frame_id,
            "camera": frame.camera.to_dict(),
            "camera_pose_world": None
            if frame.camera_pose_world is None
            else np.asarray(frame.camera_pose_world, dtype=float).tolist(),
            "objects": [o.to_dict() for o in frame.objects],
            "meta": frame.meta,
        }
        (tmp / "annotation.json").write_text(
            json.dumps(annotation, indent=1, sort_keys=True) + "\n"
        )
        os.chmod(tmp, 0o755)
        final = frame_dir(root, frame.frame_id)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        return final
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _read_png(path: Path, dtype: type, channels: int) -> np.ndarray:
    import cv2

    if not path.is_file():
        raise FileNotFoundError(f"missing dataset file: {path}")
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError(f"cannot decode image file (corrupt or not a PNG): {path}")
    if (
        img.dtype != dtype
        or (img.ndim == 3) != (channels == 3)
        or (channels == 3 and img.shape[2] != 3)
    ):
        raise ValueError(
            f"{path}: expected {channels}-channel {np.dtype(dtype)} image, got {img.shape} {img.dtype}"
        )
    return img


def read_frame(root: str | Path, frame_id: str) -> Frame:
    """Read one frame; FileNotFoundError / ValueError name the missing or corrupt file."""
    d = frame_dir(root, frame_id)
    if not d.is_dir():
        raise FileNotFoundError(f"frame {frame_id!r} not found: {d}")
    ann_path = d / "annotation.json"
    if not ann_path.is_file():
        raise FileNotFoundError(f"missing dataset file: {ann_path}")
    try:
        ann = json.loads(ann_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"corrupt JSON in {ann_path}: {exc}") from exc
    if not isinstance(ann, dict):
        raise ValueError(f"{ann_path}: top level must be a JSON object")
    for key in ("camera", "objects"):
        if key not in ann:
            raise ValueError(f"{ann_path}: lacks field {key!r}")
    try:
        camera = CameraIntrinsics.from_dict(ann["camera"])
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{ann_path}: bad field 'camera': {exc}") from exc
    pose = ann.get("camera_pose_world")
    if pose is not None:
        pose = np.asarray(pose, dtype=np.float64)
        if pose.shape != (4, 4):
            raise ValueError(f"{ann_path}: camera_pose_world must be 4x4, got {pose.shape}")
    objects = [
        ObjectAnnotation.from_dict(o, where=f"{ann_path} objects[{i}]")
        for i, o in enumerate(ann["objects"])
    ]
    rgb = _read_png(d / "color.png", np.uint8, 3)[:, :, ::-1].copy()
    depth = _read_png(d / "depth.png", np.uint16, 1)
    mask = _read_png(d / "mask.png", np.uint16, 1)
    for name, img in (("color.png", rgb), ("depth.png", depth), ("mask.png", mask)):
        if img.shape[:2] != (camera.height, camera.width):
            raise ValueError(
                f"{d / name}: image is {img.shape[1]}x{img.shape[0]} but the annotation's camera is "
                f"{camera.width}x{camera.height}"
            )
    frame = Frame(
        str(ann.get("frame_id", frame_id)),
        rgb,
        depth,
        mask,
        camera,
        pose,
        objects,
        ann.get("meta", {}),
    )
    frame.validate()
    return frame


def is_complete_frame(path: Path) -> bool:
    return (
        path.is_dir()
        and not path.name.startswith(".")
        and all((path / f).is_file() for f in FRAME_FILES)
    )


def list_frames(root: str | Path) -> list[str]:
    """Ids of the frames in ``root`` (sorted); unfinished ``.``-prefixed writes are skipped."""
    frames = Path(root) / "frames"
    if not frames.is_dir():
        raise FileNotFoundError(f"not a dataset (no frames/ directory): {Path(root)}")
    return sorted(p.name for p in frames.iterdir() if p.is_dir() and not p.name.startswith("."))


def write_manifest(root: str | Path, manifest: dict) -> None:
    """Write ``root/manifest.json`` atomically."""
    Path(root).mkdir(parents=True, exist_ok=True)
    data = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, **manifest}
    _write_json(Path(root) / "manifest.json", data)


def read_manifest(root: str | Path) -> dict:
    """Parse ``root/manifest.json``; FileNotFoundError / ValueError name the file."""
    path = Path(root) / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(f"missing dataset manifest: {path}")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"corrupt JSON in {path}: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
        raise ValueError(f"{path}: not a {FORMAT_NAME} manifest (field 'format')")
    if int(data.get("format_version", -1)) > FORMAT_VERSION:
        raise ValueError(
            f"{path}: format_version {data['format_version']} is newer than {FORMAT_VERSION}"
        )
    return data
