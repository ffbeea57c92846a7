"""Where touching parts meet: a small network that draws the boundaries between parts in a
region's crop, and the pieces the region falls into along them.

The depth geometry (:func:`~grasp_pipeline.perception.instances.geometry.segment_instances`)
returns two touching parts as one region when neither a depth step nor a colour edge separates
them, and :func:`~grasp_pipeline.perception.instances.split.split_region` parts them only when
their tops stand at different heights. Grey metal parts of one height lying against each other
(a nut against a bearing, an axis against a motor, a spacer beside a drill) need what a person
sees: the outline of each part. This network looks at the classifier's crop of the region
(colour, height above the support, the region's mask: the same input, cut once) and gives, per
crop pixel, the probability that the pixel lies on a boundary between two parts. The region's
pixels off the boundaries fall into connected pieces (4-neighbourhood); pieces holding at least
``MIN_PIECE_SHARE`` of the region are kept and every other pixel of the region joins the nearest
kept piece. Nothing here decides whether the pieces are better than the whole: the detector asks
its classifier (:func:`~grasp_pipeline.perception.instances.detector.split_accepted`).

Trained by ``grasp-pipeline train boundaries`` (:mod:`grasp_pipeline.training.boundary_trainer`)
on the regions of generated frames, the target being the pixels where two annotated instances
meet. It ships in the parts classifier's checkpoint as its ``"boundary"`` entry (``model``,
``config``: :class:`BoundaryConfig`, ``validation``); a classifier without it splits by heights
alone.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from scipy.special import expit
from torch import nn

from grasp_pipeline.geometry.camera import CameraIntrinsics
from grasp_pipeline.perception.instances.crops import CHANNELS, CropSpec, crop_window
from grasp_pipeline.perception.instances.geometry import (
    GeometryConfig,
    Region,
    Segmentation,
    region_from_cells,
)
from grasp_pipeline.perception.instances.layers import (
    conv_bn_relu,
    fold_batch_norms,
    network_from_entry,
)
from grasp_pipeline.perception.network_runtime import NetworkRunner

# a crop pixel lies on a boundary above this probability
BOUNDARY_THRESHOLD = 0.5
# a piece is kept when it holds at least this share of the region's crop pixels
MIN_PIECE_SHARE = 0.08


@dataclass(frozen=True)
class BoundaryConfig:
    """``width``: channels of the first stage (twice that in the second); ``stride``: the first
    stage's step in crop pixels (2: it works at half the crop's resolution, a quarter of the
    cost, and the boundaries are upsampled to the crop)."""

    width: int = 16
    stride: int = 1

    def __post_init__(self) -> None:
        if self.width < 4 or self.stride not in (1, 2):
            raise ValueError(f"bad boundary network config {self}")

    def to_dict(self) -> dict:
        return asdict(self)


class BoundaryNet(nn.Module):
    """(B, CHANNELS, S, S) crops -> (B, S, S) boundary logits: a first stage (at the crop's
    resolution, or half of it), a second one at half of that with dilations 2 and 4 (a view
    across a part), upsampled onto the first and read out per pixel (then upsampled to the
    crop)."""

    def __init__(self, config: BoundaryConfig = BoundaryConfig()) -> None:
        super().__init__()
        self.config = config
        w = config.width
        self.fine = nn.Sequential(conv_bn_relu(CHANNELS, w, config.stride), conv_bn_relu(w, w))
        self.coarse = nn.Sequential(
            conv_bn_relu(w, 2 * w, 2),
            conv_bn_relu(2 * w, 2 * w, dilation=2),
            conv_bn_relu(2 * w, 2 * w, dilation=4),
        )
        self.head = nn.Sequential(conv_bn_relu(3 * w, w), nn.Conv2d(w, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.fine(x)
        b = nn.functional.interpolate(
            self.coarse(a), size=a.shape[-2:], mode="bilinear", align_corners=False
        )
        logits = self.head(torch.cat([a, b], dim=1))
        if logits.shape[-2:] != x.shape[-2:]:
            logits = nn.functional.interpolate(
                logits, size=x.shape[-2:], mode="bilinear", align_corners=False
            )
        return logits[:, 0]


def crop_pieces(
    boundary: np.ndarray,
    mask: np.ndarray,
    threshold: float = BOUNDARY_THRESHOLD,
    min_share: float = MIN_PIECE_SHARE,
) -> np.ndarray | None:
    """(S, S) piece labels 1..n (0 off the region) of a region's crop ``mask`` (bool) cut along
    the pixels whose ``boundary`` probability exceeds ``threshold`` (see the module docstring),
    or None when fewer than two pieces hold ``min_share`` of the region."""
    from scipy import ndimage

    mask = np.asarray(mask, bool)
    total = int(mask.sum())
    if total == 0:
        return None
    comps, n = ndimage.label(mask & (np.asarray(boundary) <= threshold))
    if n < 2:
        return None
    sizes = np.bincount(comps.ravel(), minlength=n + 1)[1:]
    kept = np.flatnonzero(sizes >= min_share * total) + 1
    if len(kept) < 2:
        return None
    relabel = np.zeros(n + 1, np.int32)
    relabel[kept] = np.arange(1, len(kept) + 1)
    pieces = relabel[comps]
    # every other pixel of the region joins the nearest kept piece
    _, (rows, cols) = ndimage.distance_transform_edt(pieces == 0, return_indices=True)
    return np.where(mask, pieces[rows, cols], 0).astype(np.int32)


def region_pieces(
    seg: Segmentation,
    region: Region,
    pieces: np.ndarray,
    window: tuple[int, int, int],
    geometry: GeometryConfig,
) -> list[Region]:
    """The regions of ``seg``'s cell grid that ``region``'s crop piece labels ``pieces`` (S, S,
    from :func:`crop_pieces`, crop ``window`` (u0, v0, side) in image pixels) cover: each cell of
    the region takes the label of the crop pixel it lies in (the nearest labelled one where the
    crop's coarser mask leaves it out). [] when fewer than two pieces make regions that are not
    sparse (see :func:`region_from_cells`)."""
    from scipy import ndimage

    cells = seg.cells
    if cells is None:
        return []
    s, size = cells.stride, pieces.shape[0]
    u0, v0, u1, v1 = region.bbox
    box = (slice(v0 // s, -(-v1 // s)), slice(u0 // s, -(-u1 // s)))
    inside = region.mask[::s, ::s][box]
    wu, wv, side = window
    rows = (np.arange(inside.shape[0]) + box[0].start) * s
    cols = (np.arange(inside.shape[1]) + box[1].start) * s
    ci = np.clip(((rows - wv + 0.5) * size / side).astype(int), 0, size - 1)
    cj = np.clip(((cols - wu + 0.5) * size / side).astype(int), 0, size - 1)
    label = np.where(inside, pieces[ci[:, None], cj[None, :]], 0)
    if not label.any():
        return []
    if (inside & (label == 0)).any():
        _, (r, c) = ndimage.distance_transform_edt(label == 0, return_indices=True)
        label = np.where(inside, label[r, c], 0)
    out: list[Region] = []
    for k, found in enumerate(ndimage.find_objects(label), start=1):
        if found is None:
            continue
        sub = tuple(
            slice(outer.start + inner.start, outer.start + inner.stop)
            for outer, inner in zip(box, found, strict=True)
        )
        piece = region_from_cells(cells, sub, label[found] == k, geometry)
        if piece is not None and not piece.sparse:
            out.append(piece)
    return out if len(out) >= 2 else []


class BoundarySplitter:
    """A trained :class:`BoundaryNet` (batch norms folded, channels-last), run by ``runtime``
    (:mod:`~grasp_pipeline.perception.network_runtime`), and the pieces it cuts regions into."""

    def __init__(self, net: BoundaryNet, device: str = "cpu", runtime: str = "auto") -> None:
        fold_batch_norms(net)
        self.net = net.to(device).to(memory_format=torch.channels_last)
        self.run = NetworkRunner(self.net, runtime, device)

    def prepare(self, size: int) -> None:
        """Makes the runtime's graph for crops of ``size`` x ``size`` now (at load time)."""
        self.run.prepare(np.zeros((1, CHANNELS, size, size), np.float32))

    def boundaries(self, crops: np.ndarray) -> np.ndarray:
        """(B, S, S) boundary probabilities of crops (B, CHANNELS, S, S)."""
        crops = np.asarray(crops, np.float32)
        if crops.ndim != 4 or crops.shape[1] != CHANNELS:
            raise ValueError(f"boundary input must be (B, {CHANNELS}, S, S), got {crops.shape}")
        if len(crops) == 0:
            return np.zeros((0, *crops.shape[2:]), np.float32)
        return expit(self.run(crops))

    def split(
        self,
        seg: Segmentation,
        regions: list[Region],
        crops: np.ndarray,
        camera: CameraIntrinsics,
        spec: CropSpec,
        geometry: GeometryConfig,
    ) -> list[list[Region]]:
        """The pieces of each of ``regions`` (of ``seg``) by the boundaries in its crop
        (``crops``, one per region, cut with ``spec``); [] for a region it does not split."""
        out: list[list[Region]] = []
        for region, crop, prob in zip(regions, crops, self.boundaries(crops), strict=True):
            pieces = crop_pieces(prob, crop[CHANNELS - 1] > 0.5)
            if pieces is None:
                out.append([])
                continue
            window = crop_window(region, camera, spec)
            out.append(region_pieces(seg, region, pieces, window, geometry))
        return out


def splitter_from_entry(
    entry: Any, path: str | os.PathLike, device: str = "cpu", runtime: str = "auto"
) -> BoundarySplitter:
    """The splitter of a checkpoint's ``"boundary"`` entry, run by ``runtime``; CheckpointError
    naming ``path`` when the entry is malformed or its weights do not fit its config."""
    net = network_from_entry(
        entry, path, "boundary", lambda config: BoundaryNet(BoundaryConfig(**config))
    )
    return BoundarySplitter(net, device, runtime)
