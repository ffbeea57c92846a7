"""Training crops for the boundary network (:mod:`grasp_pipeline.perception.instances.boundary`).

Every region that the detector's depth geometry finds in a frame (:func:`segment_instances`,
the classifier's crop, :func:`region_crop`) with its target: the crop pixels of the region
where two annotated instances meet (:func:`boundary_target`). ``parts`` counts the instances
holding at least ``PART_SHARE`` of the region: regions of two or more are the ones to split.
Crops of one dataset are cached in ``<dataset>/boundary_crops_<key>.npz`` (written atomically;
``key`` hashes the crop and geometry settings).
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from grasp_pipeline.perception.checkpoint import atomic_write_bytes
from grasp_pipeline.perception.detector import depth_in_metres
from grasp_pipeline.perception.instances.crops import CHANNELS, CropSpec, crop_labels, region_crop
from grasp_pipeline.perception.instances.geometry import GeometryConfig, segment_instances

CACHE_VERSION = 2  # 2: pixels off the instances counted to the nearest
PART_SHARE = 0.05  # an instance with this share of a region's crop pixels is a part of it


@dataclass
class BoundarySet:
    """``x`` (N, CHANNELS, S, S) float16 crops, ``target`` (N, S, S) bool boundary pixels,
    ``frame`` (N,) index of the source frame (for splits by frame), ``parts`` (N,) instances
    in the region (see the module docstring)."""

    x: np.ndarray
    target: np.ndarray
    frame: np.ndarray
    parts: np.ndarray

    def __len__(self) -> int:
        return len(self.frame)

    @staticmethod
    def concat(sets: list[BoundarySet]) -> BoundarySet:
        """One set of several datasets' crops; frame indices stay apart per dataset."""
        offset, frames = 0, []
        for s in sets:
            frames.append(s.frame + offset)
            offset += int(s.frame.max()) + 1 if len(s) else 0
        return BoundarySet(
            np.concatenate([s.x for s in sets]),
            np.concatenate([s.target for s in sets]),
            np.concatenate(frames),
            np.concatenate([s.parts for s in sets]),
        )


def boundary_target(instances: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(S, S) bool: the pixels of ``mask`` with a pixel of another instance of the mask among
    their 8 neighbours (both sides of each meeting line), every pixel of the mask off the
    instances (``instances`` 0: the rim a region gets from closing gaps, the table between two
    parts) counted to the nearest instance, so that the lines cross the region from edge to
    edge."""
    from scipy import ndimage

    mask = np.asarray(mask, bool)
    inst = np.where(mask, np.asarray(instances), 0)
    if not inst.any():
        return np.zeros(inst.shape, bool)
    _, (rows, cols) = ndimage.distance_transform_edt(inst == 0, return_indices=True)
    inst = np.where(mask, inst[rows, cols], 0)
    padded = np.pad(inst, 1)
    h, w = inst.shape
    out = np.zeros(inst.shape, bool)
    for dv in (-1, 0, 1):
        for du in (-1, 0, 1):
            q = padded[1 + dv : 1 + dv + h, 1 + du : 1 + du + w]
            out |= (q > 0) & (q != inst)
    return out & mask


def _cache_key(crop: CropSpec, geometry: GeometryConfig) -> str:
    blob = json.dumps([CACHE_VERSION, crop.to_dict(), asdict(geometry), PART_SHARE], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def extract_boundary_crops(
    dataset: str | Path, crop: CropSpec, geometry: GeometryConfig, progress: bool = True
) -> BoundarySet:
    """Crops and boundary targets of every region of every frame of ``dataset`` (cached, see
    the module docstring)."""
    from tqdm import tqdm

    from grasp_pipeline.data.format import list_frames, read_frame

    root = Path(dataset)
    cache = root / f"boundary_crops_{_cache_key(crop, geometry)}.npz"
    if cache.exists():
        with np.load(cache) as z:
            size = z["x"].shape[-1]
            target = np.unpackbits(z["target"], axis=1)[:, : size * size]
            return BoundarySet(
                z["x"], target.reshape(-1, size, size).astype(bool), z["frame"], z["parts"]
            )
    frame_ids = list_frames(root)
    if not frame_ids:
        raise ValueError(f"{root}: no frames")
    xs, targets, frames, parts = [], [], [], []
    for i, fid in enumerate(tqdm(frame_ids, desc=f"boundaries {root.name}", disable=not progress)):
        frame = read_frame(root, fid)
        seg = segment_instances(
            depth_in_metres(frame.depth, frame.camera), frame.camera, geometry, frame.rgb
        )
        for region in seg.regions:
            x, _ = region_crop(frame.rgb, seg.height_m, region, frame.camera, crop)
            mask = x[CHANNELS - 1] > 0.5
            inst = np.where(mask, crop_labels(frame.instance_mask, region, frame.camera, crop), 0)
            _, counts = np.unique(inst[inst > 0], return_counts=True)
            xs.append(x.astype(np.float16))
            targets.append(boundary_target(inst, mask))
            frames.append(i)
            parts.append(int(np.sum(counts >= PART_SHARE * max(int(mask.sum()), 1))))
    s = crop.size
    out = BoundarySet(
        np.stack(xs) if xs else np.zeros((0, CHANNELS, s, s), np.float16),
        np.stack(targets) if targets else np.zeros((0, s, s), bool),
        np.asarray(frames, np.int64),
        np.asarray(parts, np.int64),
    )
    buf = io.BytesIO()
    np.savez(
        buf,
        x=out.x,
        target=np.packbits(out.target.reshape(len(out), -1), axis=1),
        frame=out.frame,
        parts=out.parts,
    )
    atomic_write_bytes(cache, buf.getvalue())
    return out
