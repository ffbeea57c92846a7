"""Training crops for the parts classifier, cut from generated (or labelled) RGB-D datasets.

Every frame goes through the detector's own first steps (:func:`segment_instances`, the pieces
:func:`split_region` makes of each region, then :func:`region_crop`), so the classifier learns
from exactly the regions it will see, the pieces it is asked to name included. A region's
label is the catalog class of the annotated instance holding at least ``min_share`` of its
pixels, else ``"unknown"`` (surface edges, containers, non-catalog clutter, regions spanning two
parts). A part's crop also records where that instance's centre of gravity lies and where the
region's 3-D mean projects, in crop coordinates (the pickup network learns the one from the
other, :mod:`grasp_pipeline.perception.instances.pickup`). Crops of one dataset are cached in
``<dataset>/parts_crops_<key>.npz`` (written atomically; ``key`` hashes the crop and geometry
settings), so a second training run reuses them.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from grasp_pipeline.geometry.camera import project
from grasp_pipeline.perception.checkpoint import atomic_write_bytes
from grasp_pipeline.perception.detector import depth_in_metres
from grasp_pipeline.perception.instances.checkpoint import UNKNOWN
from grasp_pipeline.perception.instances.crops import CHANNELS, CropSpec, crop_window, region_crop
from grasp_pipeline.perception.instances.geometry import GeometryConfig, segment_instances
from grasp_pipeline.perception.instances.pickup import to_crop
from grasp_pipeline.perception.instances.split import split_region

CACHE_VERSION = 3  # 2: crops of the split pieces too; 3: centres of gravity


@dataclass
class CropSet:
    """Crops with labels: ``x`` (N, CHANNELS, S, S) float16, ``feats`` (N, FEATURES) float32,
    ``y`` (N,) class index into ``labels``, ``frame`` (N,) index of the source frame (for
    splits by frame), ``labels`` the class names (last ``"unknown"``); for the pickup network
    (NaN where the crop's instance has no centre of gravity, e.g. unknown regions): ``cog``
    (N, 2) the instance's centre of gravity and ``prior`` (N, 2) the region's 3-D mean, both in
    crop coordinates, and ``side_m`` (N,) the window's side at the centre of gravity's depth."""

    x: np.ndarray
    feats: np.ndarray
    y: np.ndarray
    frame: np.ndarray
    labels: list[str]
    cog: np.ndarray | None = None
    prior: np.ndarray | None = None
    side_m: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.y)
        if self.cog is None:
            self.cog = np.full((n, 2), np.nan, np.float32)
        if self.prior is None:
            self.prior = np.full((n, 2), np.nan, np.float32)
        if self.side_m is None:
            self.side_m = np.full(n, np.nan, np.float32)

    def __len__(self) -> int:
        return len(self.y)

    def counts(self) -> dict[str, int]:
        c = np.bincount(self.y, minlength=len(self.labels))
        return {name: int(n) for name, n in zip(self.labels, c, strict=False)}

    @staticmethod
    def concat(sets: list[CropSet]) -> CropSet:
        if not sets:
            raise ValueError("no crop sets to join")
        labels = sets[0].labels
        if any(s.labels != labels for s in sets):
            raise ValueError("crop sets with different labels cannot be joined")
        offset, frames = 0, []
        for s in sets:
            frames.append(s.frame + offset)
            offset += int(s.frame.max()) + 1 if len(s.frame) else 0
        return CropSet(
            np.concatenate([s.x for s in sets]),
            np.concatenate([s.feats for s in sets]),
            np.concatenate([s.y for s in sets]),
            np.concatenate(frames),
            labels,
            np.concatenate([s.cog for s in sets]),
            np.concatenate([s.prior for s in sets]),
            np.concatenate([s.side_m for s in sets]),
        )


def region_owner(instance_ids: np.ndarray, min_share: float) -> int:
    """The instance holding at least ``min_share`` of a region's pixels (the instance ids under
    them, 0 = background), else 0."""
    if instance_ids.size == 0:
        return 0
    ids, counts = np.unique(instance_ids, return_counts=True)
    best = int(np.argmax(counts))
    return int(ids[best]) if counts[best] >= min_share * instance_ids.size else 0


def _cog_pixel(com_camera: np.ndarray | None, camera) -> tuple[float, float, float] | None:
    """(u, v, z) of a centre of gravity in the camera frame, or None."""
    if com_camera is None or not np.all(np.isfinite(com_camera)) or com_camera[2] <= 0:
        return None
    u, v = project(com_camera, camera)
    return float(u), float(v), float(com_camera[2])


def _cache_key(
    crop: CropSpec, geometry: GeometryConfig, labels: list[str], min_share: float
) -> str:
    blob = json.dumps(
        [CACHE_VERSION, crop.to_dict(), asdict(geometry), labels, min_share], sort_keys=True
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def extract_crops(
    dataset: str | Path,
    labels: list[str],
    crop: CropSpec,
    geometry: GeometryConfig,
    min_share: float = 0.5,
    progress: bool = True,
) -> CropSet:
    """Crops of every region of every frame of ``dataset`` (cached, see the module docstring).
    Objects whose class is not in ``labels`` count as unknown."""
    from tqdm import tqdm

    from grasp_pipeline.data.format import list_frames, read_frame

    root = Path(dataset)
    if labels[-1] != UNKNOWN:
        raise ValueError(f"labels must end with {UNKNOWN!r}")
    cache = root / f"parts_crops_{_cache_key(crop, geometry, labels, min_share)}.npz"
    if cache.exists():
        with np.load(cache) as z:
            return CropSet(
                z["x"], z["feats"], z["y"], z["frame"], labels, z["cog"], z["prior"], z["side_m"]
            )
    frame_ids = list_frames(root)
    if not frame_ids:
        raise ValueError(f"{root}: no frames")
    index = {name: i for i, name in enumerate(labels)}
    xs, fs, ys, fr, cogs, priors, sides = [], [], [], [], [], [], []
    for i, fid in enumerate(tqdm(frame_ids, desc=f"crops {root.name}", disable=not progress)):
        frame = read_frame(root, fid)
        seg = segment_instances(
            depth_in_metres(frame.depth, frame.camera), frame.camera, geometry, frame.rgb
        )
        id_to_label = {o.instance_id: o.label for o in frame.objects if o.label in index}
        cog_px = {o.instance_id: _cog_pixel(o.com_camera, frame.camera) for o in frame.objects}
        pieces = [p for region in seg.regions for p in split_region(seg, region, geometry)]
        for region in [*seg.regions, *pieces]:
            x, f = region_crop(frame.rgb, seg.height_m, region, frame.camera, crop)
            xs.append(x.astype(np.float16))
            fs.append(f)
            # the region's label: the catalog class of its owner; unknown without one
            owner = region_owner(frame.instance_mask[region.mask], min_share)
            label = id_to_label.get(owner, UNKNOWN) if owner else UNKNOWN
            ys.append(index[label])
            fr.append(i)
            window = crop_window(region, frame.camera, crop)
            cog = cog_px.get(owner) if label != UNKNOWN else None
            cogs.append(to_crop(cog[:2], window) if cog else (np.nan, np.nan))
            priors.append(to_crop(project(region.centroid, frame.camera), window))
            sides.append(window[2] * cog[2] / frame.camera.fx if cog else np.nan)
    s = crop.size
    out = CropSet(
        np.stack(xs) if xs else np.zeros((0, CHANNELS, s, s), np.float16),
        np.stack(fs) if fs else np.zeros((0, 4), np.float32),
        np.asarray(ys, np.int64),
        np.asarray(fr, np.int64),
        labels,
        np.asarray(cogs, np.float32).reshape(-1, 2),
        np.asarray(priors, np.float32).reshape(-1, 2),
        np.asarray(sides, np.float32),
    )
    buf = io.BytesIO()
    np.savez(
        buf,
        x=out.x,
        feats=out.feats,
        y=out.y,
        frame=out.frame,
        cog=out.cog,
        prior=out.prior,
        side_m=out.side_m,
    )
    atomic_write_bytes(cache, buf.getvalue())
    return out
