"""Object instances from depth alone: support planes, then connected regions above them.

A RoboCup@Work service area is a flat surface; parts lie on it. :func:`support_planes` finds the
large planes of a depth frame (RANSAC on a subsampled point cloud, then least squares on the
inliers; several parallel planes for surfaces of different heights), and :func:`segment_instances`
keeps the pixels standing out of the plane below them and splits them into connected regions at
depth steps. Nothing here knows object classes: a region is "something on a surface", which the
crop classifier then names (or calls unknown).

Frames and units: points in the camera optical frame (x right, y down, z forward), metres;
pixels (u, v) of the depth image given; plane ``n . p = d`` with unit ``n`` pointing towards the
camera (``d < 0``), so ``n . p - d`` is the height of a point above the plane.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from grasp_pipeline.geometry.camera import CameraIntrinsics


@dataclass(frozen=True)
class Plane:
    """``normal . p = offset`` (unit normal towards the camera); ``inliers``: subsampled points
    that support it."""

    normal: np.ndarray
    offset: float
    inliers: int

    def height(self, points: np.ndarray) -> np.ndarray:
        """Signed height (m) of (..., 3) points above the plane."""
        return points @ self.normal - self.offset


@dataclass(frozen=True)
class GeometryConfig:
    """Settings of the depth segmentation (metres, pixels at the working resolution).

    ``stride``: work on every stride-th pixel (2 at 640x480 -> 320x240); ``plane_tol_m``: plane
    inlier band at 0.5 m (grows with z^2 like the sensor noise); ``min_height_m``: a pixel stands
    out of its plane above this; ``max_height_m``: and below this (taller = no part);
    ``max_planes``; ``min_plane_share``: a plane holds at least this share of the valid points and
    ``min_plane_area_m2`` of surface (the top of a part is a plane too, but a small one);
    ``step_m``: depth step between neighbours that separates two regions (at 0.5 m, grows
    with z^2); ``min_area_m2`` / ``max_extent_m``: a region's metric area and size bounds;
    ``canny_low`` / ``canny_high``: thresholds of the colour edges that split touching parts,
    taken over the R, G and B channels (``colour_edges``; the strongest channel's gradient) or
    over grey.
    """

    stride: int = 2
    plane_tol_m: float = 0.0025
    min_height_m: float = 0.003
    max_height_m: float = 0.25
    max_planes: int = 4
    min_plane_share: float = 0.04
    min_plane_area_m2: float = 0.03
    ransac_iterations: int = 160
    step_m: float = 0.008
    min_area_m2: float = 1.0e-4
    max_extent_m: float = 0.32
    canny_low: int = 20
    canny_high: int = 60
    colour_edges: bool = True
    seed: int = 0


@dataclass
class Region:
    """One connected region standing out of a support plane.

    ``mask``: bool (H, W) at the input resolution; ``pixels``: its size there; ``bbox``:
    (u0, v0, u1, v1) exclusive ends; ``plane``: index into the planes found; ``height_m``: its
    highest point above that plane (robust 95th percentile); ``centroid``: 3-D mean of its points
    (m, camera frame); ``extent_m``: largest 3-D spread (m); ``sample``: up to
    ``SAMPLE_POINTS`` of its 3-D points (m, camera frame; None when not known).
    """

    mask: np.ndarray
    pixels: int
    bbox: tuple[int, int, int, int]
    plane: int
    height_m: float
    centroid: np.ndarray
    extent_m: float
    area_m2: float
    bounds: np.ndarray
    sample: np.ndarray | None = None
    sparse: bool = False  # too small by its measured depth alone (kept for the cells without)


# 3-D points a region keeps of itself (for the shape of fragments taken together)
SAMPLE_POINTS = 96


@dataclass
class CellGrid:
    """The working grid of a segmentation (every ``stride``-th pixel of an (H, W) frame):
    ``points`` (h, w, 3) camera-frame metres (NaN = no depth), ``height`` (h, w) above the plane
    under each cell (NaN = unknown), ``plane`` (h, w) that plane's index (-1 = none), ``area``
    (h, w) m^2 each cell stands for."""

    points: np.ndarray
    height: np.ndarray
    plane: np.ndarray
    area: np.ndarray
    stride: int
    shape: tuple[int, int]


@dataclass
class Segmentation:
    """What :func:`segment_instances` found: ``regions`` (largest first), the support ``planes``
    and ``height_m``, (H, W) height of each pixel above the plane under it (NaN = unknown);
    ``cells``: the grid it worked on (None when no plane was found)."""

    regions: list[Region]
    planes: list[Plane]
    height_m: np.ndarray
    cells: CellGrid | None = None


def _finite_rows(points: np.ndarray) -> np.ndarray:
    """(N,) bool: the rows of (N, 3) ``points`` whose three coordinates are finite (column by
    column: the same as ``np.all(np.isfinite(points), axis=1)``, 20x faster on a frame's 76,800
    points)."""
    return np.isfinite(points[:, 0]) & np.isfinite(points[:, 1]) & np.isfinite(points[:, 2])


def _percentiles(values: np.ndarray, qs: Sequence[float], scalar: bool) -> np.ndarray | np.floating:
    """What ``np.percentile(values, qs, axis=0)`` (``scalar``: ``np.percentile(values, qs[0])``)
    returns, bit for bit (numpy's "linear" method), from one partition: numpy's own call costs
    more than the work on the few hundred points of a region, and regions are many per frame."""
    n = len(values)
    index = [(n - 1) * (q / 100.0) for q in qs]
    below = [min(max(math.floor(i), 0), n - 1) for i in index]
    above = [min(b + 1, n - 1) for b in below]
    part = np.partition(values, sorted(set(below + above)), axis=0)
    out = []
    for i, b, a in zip(index, below, above, strict=True):
        t = i - math.floor(i)
        lo, hi = part[b], part[a]
        step = hi - lo  # in the values' own precision, as numpy interpolates
        weight = t if scalar else np.float64(t)
        out.append(lo + step * weight if t < 0.5 else hi - step * (1 - weight))
    return out[0] if scalar else np.stack(out)


def backproject(depth_m: np.ndarray, camera: CameraIntrinsics, stride: int = 1) -> np.ndarray:
    """(H, W) metres (NaN = missing) -> (H/s, W/s, 3) points in the camera frame (NaN where
    missing), for every ``stride``-th pixel."""
    z = depth_m[::stride, ::stride]
    us = np.arange(0, depth_m.shape[1], stride)[None, :]  # broadcast, not a full pixel grid
    vs = np.arange(0, depth_m.shape[0], stride)[:, None]
    out = np.empty((*z.shape, 3), np.float32)
    out[..., 0] = (us - camera.cx) * z / camera.fx
    out[..., 1] = (vs - camera.cy) * z / camera.fy
    out[..., 2] = z
    return out


def _fit(points: np.ndarray) -> tuple[np.ndarray, float]:
    """Least-squares plane through (N, 3) points, normal towards the camera."""
    mu = points.mean(axis=0)
    _, _, vt = np.linalg.svd(points - mu, full_matrices=False)
    n = vt[2]
    if n @ mu > 0:  # the camera (origin) must be on the positive side
        n = -n
    return n, float(n @ mu)


def support_planes(
    points: np.ndarray,
    config: GeometryConfig = GeometryConfig(),
    cell_area: np.ndarray | None = None,
) -> list[Plane]:
    """Large planes among (N, 3) finite points, biggest first; every later plane is parallel to
    the first within 10 degrees (surfaces of different heights, not walls). ``cell_area``: (N,)
    surface (m^2) each point stands for, to hold planes to ``min_plane_area_m2``."""
    rng = np.random.default_rng(config.seed)
    finite = _finite_rows(points)
    pts = np.compress(finite, points, axis=0)  # (as points[finite], 5x faster here)
    area = np.ones(len(pts)) if cell_area is None else cell_area[finite]
    if len(pts) < 100:
        return []
    pick = np.arange(len(pts))
    if len(pts) > 6000:  # enough for the hypotheses and the fit
        pick = rng.choice(len(pts), 6000, replace=False)
    sample = pts[pick]
    sample_area = area[pick] * (len(pts) / len(pick))
    tol = config.plane_tol_m * (sample[:, 2] / 0.5) ** 2 + 0.001
    remaining = np.ones(len(sample), bool)
    planes: list[Plane] = []
    for _ in range(config.max_planes):
        idx = np.flatnonzero(remaining)
        if len(idx) < config.min_plane_share * len(sample) or len(idx) < 3:
            break
        tri = sample[idx[rng.integers(0, len(idx), (config.ransac_iterations, 3))]]
        n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        norm = np.linalg.norm(n, axis=1)
        ok = norm > 1e-9
        n, tri = n[ok] / norm[ok, None], tri[ok]
        if planes:  # only planes parallel to the first
            ok = np.abs(n @ planes[0].normal) > np.cos(np.radians(10.0))
            n, tri = n[ok], tri[ok]
        if len(n) == 0:
            break
        d = np.einsum("hk,hk->h", n, tri[:, 0])
        dist = sample[idx] @ n.T  # (M, hypotheses): |n . p - d|, in place
        np.abs(np.subtract(dist, d, out=dist), out=dist)
        votes = (dist < tol[idx, None]).sum(axis=0, dtype=np.int32)
        best = int(np.argmax(votes))
        inl = idx[dist[:, best] < tol[idx]]
        if len(inl) < config.min_plane_share * len(sample):
            break
        normal, offset = _fit(sample[inl])
        h = np.abs(sample @ normal - offset)
        inl_all = np.flatnonzero(remaining & (h < tol))
        if len(inl_all) >= 3:
            normal, offset = _fit(sample[inl_all])
        remaining &= ~(np.abs(sample @ normal - offset) < tol)
        if cell_area is not None and sample_area[inl_all].sum() < config.min_plane_area_m2:
            continue  # the top of a part, not a surface
        planes.append(Plane(normal, offset, len(inl_all)))
    if planes:  # one orientation for all: the first (largest) plane's normal
        n0 = planes[0].normal
        planes = [
            Plane(
                n0,
                float(np.nanmedian(sample[np.abs(sample @ p.normal - p.offset) < 0.01] @ n0)),
                p.inliers,
            )
            for p in planes
        ]
    return planes


def height_above_support(
    points: np.ndarray, planes: list[Plane], tol: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per point (..., 3): height (m) above the highest plane it is not below (NaN where no
    depth or no plane lies under it) and that plane's index (-1 = none)."""
    shape = points.shape[:-1]
    best_h = np.full(shape, np.nan, np.float32)
    best_k = np.full(shape, -1, np.int16)
    for k, plane in enumerate(planes):
        h = plane.height(points)
        under = h > -tol  # this plane is under (or through) the point
        # a lower height = a higher plane below the point (NaN, nothing yet, compares False)
        better = under & ~(best_h <= h)
        best_h = np.where(better, h, best_h)
        best_k = np.where(better, k, best_k)
    return best_h, best_k


def segment_instances(
    depth_m: np.ndarray,
    camera: CameraIntrinsics,
    config: GeometryConfig = GeometryConfig(),
    rgb: np.ndarray | None = None,
) -> Segmentation:
    """Regions standing out of the support planes of a depth frame (see :class:`Segmentation`).

    ``depth_m``: (H, W) metres, NaN or <= 0 = missing; ``rgb`` (H, W, 3) uint8, optional: colour
    edges then split touching parts too. No regions when nothing stands out or no plane is found
    (no surface in view).
    """
    import cv2
    from scipy import ndimage

    depth_m = np.where(np.isfinite(depth_m) & (depth_m > 0), depth_m, np.nan).astype(np.float32)
    s = config.stride
    pts = backproject(depth_m, camera, s)
    z = pts[..., 2]
    cell_area = (np.nan_to_num(z, nan=0.0) * s) ** 2 / (camera.fx * camera.fy)  # m^2 per cell
    planes = support_planes(pts.reshape(-1, 3), config, cell_area.reshape(-1))
    H, W = depth_m.shape
    if not planes:
        return Segmentation([], [], np.full((H, W), np.nan, np.float32))
    tol = config.plane_tol_m * (np.nan_to_num(z, nan=1.0) / 0.5) ** 2 + 0.001
    h, k = height_above_support(pts, planes, tol)
    height_full = cv2.resize(h, (W, H), interpolation=cv2.INTER_NEAREST)
    out = np.isfinite(h) & (h > np.maximum(config.min_height_m, tol)) & (h < config.max_height_m)
    out = out.astype(np.uint8)
    # depth missing inside a part (dark surfaces, speckle): close small gaps between its pixels
    out = cv2.morphologyEx(out, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    out = cv2.morphologyEx(out, cv2.MORPH_OPEN, np.ones((2, 2), np.uint8)).astype(bool)
    # depth steps between neighbours separate regions (parts side by side at different heights)
    zf = np.nan_to_num(z, nan=0.0)
    step = config.step_m * (np.nan_to_num(z, nan=0.5) / 0.5) ** 2
    edge = np.zeros_like(out)
    for dv, du in ((0, 1), (1, 0)):
        a, b = zf[: zf.shape[0] - dv, : zf.shape[1] - du], zf[dv:, du:]
        jump = (np.abs(a - b) > step[dv:, du:]) & (a > 0) & (b > 0)
        edge[: zf.shape[0] - dv, : zf.shape[1] - du] |= jump & (a > b)  # the farther side
        edge[dv:, du:] |= jump & (b > a)
    if rgb is not None:  # colour edges separate touching parts of different colour
        # Canny over R, G and B (a red part beside a grey one can share one grey level) or grey
        small = np.ascontiguousarray(rgb[::s, ::s])
        if not config.colour_edges:
            small = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
        edge |= cv2.Canny(small, config.canny_low, config.canny_high) > 0
    cores = (out & ~edge).astype(np.uint8)
    n, labels = cv2.connectedComponents(cores, connectivity=4)
    if n <= 1:
        return Segmentation([], planes, height_full)
    # edge pixels join the region next to them (grow the labels by up to 2 steps)
    grown = labels.copy()
    for _ in range(2):
        dil = cv2.dilate(grown.astype(np.float32), np.ones((3, 3), np.uint8)).astype(np.int32)
        fill = (grown == 0) & out & (dil > 0)
        grown[fill] = dil[fill]
    cells = CellGrid(pts, h, k, cell_area, s, (H, W))
    regions: list[Region] = []
    # per-label counts and areas at once; each region's work stays inside its bounding box
    flat = grown.ravel()
    counts = np.bincount(flat, minlength=n)
    # the size filter also counts cells without depth (a metal nut loses half of its ring's
    # depth) at the region's mean depth; area_m2 stays the measured part (a classifier feature)
    has_z = np.isfinite(z).ravel()
    z_mean = np.bincount(flat, weights=np.nan_to_num(z).ravel(), minlength=n) / np.maximum(
        np.bincount(flat, weights=has_z, minlength=n), 1
    )
    filled = counts * (z_mean * s) ** 2 / (camera.fx * camera.fy)
    for lab, box in enumerate(ndimage.find_objects(grown, max_label=n - 1), start=1):
        if box is None or counts[lab] < 4 or filled[lab] < config.min_area_m2:
            continue
        region = region_from_cells(cells, box, grown[box] == lab, config)
        if region is not None:
            regions.append(region)
    regions.sort(key=lambda r: -r.pixels)
    return Segmentation(regions, planes, height_full, cells)


def region_from_cells(
    cells: CellGrid, box: tuple[slice, slice], cell: np.ndarray, config: GeometryConfig
) -> Region | None:
    """The region of the grid cells ``cell`` (bool, the shape of ``box``, a (rows, columns) slice
    pair of the grid), or None when too few of them have depth or they spread wider than
    ``config.max_extent_m``. Sparse: smaller than ``config.min_area_m2`` by its cells with depth
    (the caller decides whether it is large enough with the others)."""
    s, (H, W) = cells.stride, cells.shape
    p = cells.points[box][cell]
    p = p[_finite_rows(p)]
    if len(p) < 4:
        return None
    lo, hi = _percentiles(p, (2.0, 98.0), scalar=False)
    extent = float(np.linalg.norm(hi - lo))
    if extent > config.max_extent_m:
        return None
    planes_here = cells.plane[box][cell]
    plane = int(np.bincount(planes_here[planes_here >= 0], minlength=1).argmax())
    bbox = (
        int(box[1].start * s),
        int(box[0].start * s),
        int(min(W, box[1].stop * s)),
        int(min(H, box[0].stop * s)),
    )
    mask = np.zeros((H, W), bool)
    # each pixel belongs to the cell it falls in (as a nearest-neighbour resize of the grid)
    rows = (np.arange(bbox[1], bbox[3]) - box[0].start * s) // s
    cols = (np.arange(bbox[0], bbox[2]) - box[1].start * s) // s
    rows, cols = np.minimum(rows, cell.shape[0] - 1), np.minimum(cols, cell.shape[1] - 1)
    inside = cell[np.ix_(rows, cols)]
    mask[bbox[1] : bbox[3], bbox[0] : bbox[2]] = inside
    area = float(np.nansum(np.where(cell, cells.area[box], 0.0)))
    heights = cells.height[box][cell]
    heights = heights[np.isfinite(heights)]  # (the 95th percentile ignoring unknown heights)
    return Region(
        mask=mask,
        pixels=int(np.count_nonzero(inside)),
        bbox=bbox,
        plane=plane,
        height_m=float(_percentiles(heights, (95.0,), scalar=True)) if len(heights) else math.nan,
        centroid=p.mean(axis=0),
        extent_m=extent,
        area_m2=area,
        bounds=np.stack([lo, hi]),
        sample=p[:: max(1, len(p) // SAMPLE_POINTS)][:SAMPLE_POINTS].copy(),
        sparse=bool(area < config.min_area_m2),
    )


def union_bounds(regions: list[Region]) -> np.ndarray:
    """(2, 3) low and high corners of the regions' points together (m)."""
    return np.stack(
        [
            np.min([r.bounds[0] for r in regions], axis=0),
            np.max([r.bounds[1] for r in regions], axis=0),
        ]
    )


def merge_regions(regions: list[Region]) -> Region:
    """One region from several (fragments of one part): masks joined, the centroid weighted by
    pixels, bounds, extent, height and area of the whole."""
    if len(regions) == 1:
        return regions[0]
    w = np.array([r.pixels for r in regions], float)
    lo, hi = union_bounds(regions)
    mask = np.logical_or.reduce([r.mask for r in regions])
    return Region(
        mask=mask,
        pixels=int(mask.sum()),
        bbox=(
            min(r.bbox[0] for r in regions),
            min(r.bbox[1] for r in regions),
            max(r.bbox[2] for r in regions),
            max(r.bbox[3] for r in regions),
        ),
        plane=max(regions, key=lambda r: r.pixels).plane,
        height_m=max(r.height_m for r in regions),
        centroid=np.average([r.centroid for r in regions], axis=0, weights=w),
        extent_m=float(np.linalg.norm(hi - lo)),
        area_m2=sum(r.area_m2 for r in regions),
        bounds=np.stack([lo, hi]),
        sample=(
            np.concatenate([r.sample for r in regions])
            if all(r.sample is not None for r in regions)
            else None
        ),
        sparse=all(r.sparse for r in regions),
    )


def footprint_extents(points: np.ndarray, normal: np.ndarray) -> tuple[float, float]:
    """(length, width) in metres of (N, 3) points seen from above a plane with unit ``normal``:
    their spread (2nd to 98th percentile) along the principal axes of their projection."""
    n = np.asarray(normal, float) / np.linalg.norm(normal)
    e1 = np.cross(n, [1.0, 0.0, 0.0] if abs(n[0]) < 0.9 else [0.0, 1.0, 0.0])
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(n, e1)
    q = np.stack([points @ e1, points @ e2], axis=1)
    q = q - q.mean(axis=0)
    if len(q) < 3:
        return 0.0, 0.0
    _, vecs = np.linalg.eigh(np.cov(q.T))
    spans = [np.subtract(*np.percentile(q @ vecs[:, k], [98, 2])) for k in (1, 0)]
    return float(spans[0]), float(spans[1])


def regions_touch(a: Region, b: Region, gap_px: int = 3) -> bool:
    """Whether two regions' masks come within ``gap_px`` pixels of each other."""
    import cv2

    g = gap_px
    # where b's box meets a's box grown by the gap; nothing there -> too far apart
    u0, v0 = max(a.bbox[0] - g, b.bbox[0]), max(a.bbox[1] - g, b.bbox[1])
    u1, v1 = min(a.bbox[2] + g, b.bbox[2]), min(a.bbox[3] + g, b.bbox[3])
    if u1 <= u0 or v1 <= v0:
        return False
    H, W = a.mask.shape
    u0, v0, u1, v1 = max(u0 - g, 0), max(v0 - g, 0), min(u1 + g, W), min(v1 + g, H)
    ma = a.mask[v0:v1, u0:u1].astype(np.uint8)
    grown = cv2.dilate(ma, np.ones((2 * gap_px + 1, 2 * gap_px + 1), np.uint8)) > 0
    return bool((grown & b.mask[v0:v1, u0:u1]).any())
