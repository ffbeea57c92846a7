"""Splitting a region that holds touching parts, by the heights of their tops.

Two parts that touch come back from :func:`segment_instances` as one region when neither a depth
step between neighbouring cells nor a colour edge separates them: a profile leaning on a housing
of the same grey, a nut against a bearing, seen at an angle so that the taller part's side is a
ramp rather than a step. Their tops are still at different heights. :func:`split_region` finds
the distinct levels of the region's flat cells (peaks of their height histogram, apart by a
valley), seeds one marker per level and floods the region's height gradient from them
(watershed), so every cell joins the level it is not separated from by a slope, and a cell
that stands above its level's top moves to a level it does not rise above. Nothing here
decides whether the pieces are better than the whole; the detector asks its classifier
(:mod:`grasp_pipeline.perception.instances.detector`).
"""

from __future__ import annotations

import numpy as np

from grasp_pipeline.perception.instances.geometry import (
    GeometryConfig,
    Region,
    Segmentation,
    region_from_cells,
)

# a cell can seed a piece when its height changes by less than this per cell (m, 3x3 Sobel
# gradient / 8): tops, not the slopes of sides seen at an angle
FLAT_GRADIENT_M = 0.002
# a level seeds a piece from this much surface (m^2) within LEVEL_BAND_M of its height
MIN_LEVEL_M2 = 4.0e-5
LEVEL_BAND_M = 0.0015
# two levels are two parts when their heights differ by this much (m) and the histogram between
# them falls below VALLEY_SHARE of the smaller peak (one part's slope fills the valley)
MIN_LEVEL_STEP_M = 0.004
VALLEY_SHARE = 0.5
# no cell of a piece stands higher than the piece's top by more than this (m): the side of a
# taller part seen at an angle is a ramp down to the table that the flooding gives to a lower
# neighbour it touches, yet rises above that neighbour's top (touching profiles came back as a
# 20 mm piece holding a third of the 40 mm profile's side, named below SPLIT_PIECE_PROBABILITY)
ABOVE_TOP_M = 0.003


def _levels(height: np.ndarray, weights: np.ndarray) -> list[float]:
    """Heights (m) of the distinct tops among cells of ``height`` (1-D, m) with surface
    ``weights`` (m^2): peaks of their 1 mm histogram, lowest first."""
    from scipy import ndimage

    lo = float(height.min())
    bins = np.floor((height - lo) / 0.001).astype(int)
    hist = ndimage.gaussian_filter1d(np.bincount(bins, weights=weights).astype(float), 1.0)
    peaks = [
        b
        for b in range(len(hist))
        if hist[b] >= hist[max(b - 1, 0)] and hist[b] >= hist[min(b + 1, len(hist) - 1)]
    ]
    band = round(LEVEL_BAND_M / 0.001)
    mass = {b: weights[np.abs(bins - b) <= band].sum() for b in peaks}
    peaks = [b for b in peaks if mass[b] >= MIN_LEVEL_M2]
    kept: list[int] = []
    for b in peaks:  # lowest first
        if kept:
            last = kept[-1]
            too_close = (b - last) * 0.001 < MIN_LEVEL_STEP_M
            no_valley = hist[last : b + 1].min() > VALLEY_SHARE * min(hist[last], hist[b])
            if too_close or no_valley:  # one level: the larger peak of the two stands for it
                if hist[b] > hist[last]:
                    kept[-1] = b
                continue
        kept.append(b)
    return [lo + 0.001 * (b + 0.5) for b in kept]


def _lift_above_tops(
    flooded: np.ndarray,
    markers: np.ndarray,
    filled: np.ndarray,
    inside: np.ndarray,
    levels: list[float],
) -> None:
    """Moves (in place) each cell of ``flooded`` that stands more than ABOVE_TOP_M above its
    piece's level to the nearest seed (``markers``) of a level it does not rise above."""
    from scipy import ndimage

    tops = np.asarray(levels)[np.clip(flooded, 1, len(levels)) - 1]
    wrong = inside & (flooded >= 1) & (filled > tops + ABOVE_TOP_M)
    if not wrong.any():
        return
    best = np.full(filled.shape, np.inf)
    choice = flooded.copy()
    for m, level in enumerate(levels, start=1):
        seeds = markers == m
        if not seeds.any():
            continue
        dist = ndimage.distance_transform_edt(~seeds)
        better = wrong & (filled <= level + ABOVE_TOP_M) & (dist < best)
        best[better] = dist[better]
        choice[better] = m
    flooded[wrong] = choice[wrong]


def split_region(
    seg: Segmentation, region: Region, config: GeometryConfig | None = None
) -> list[Region]:
    """The pieces of ``region`` (a region of ``seg``, found with ``config``) at the distinct
    heights of its tops, or [] when it has fewer than two levels or a piece would be too sparse
    or too wide to be a region."""
    import cv2
    from scipy import ndimage

    config = config or GeometryConfig()
    cells = seg.cells
    if cells is None:
        return []
    s = cells.stride
    u0, v0, u1, v1 = region.bbox
    box = (slice(v0 // s, -(-v1 // s)), slice(u0 // s, -(-u1 // s)))
    inside = region.mask[::s, ::s][box]
    height = cells.height[box].astype(np.float32)
    known = inside & np.isfinite(height)
    if known.sum() < 8:
        return []
    # every other cell takes the height of the nearest cell of the region with depth (no slope
    # of its own, none at the region's border)
    _, (rows, cols) = ndimage.distance_transform_edt(~known, return_indices=True)
    filled = height[rows, cols]
    # 3x3 median; OpenCV's equals scipy's ndimage.median_filter(size=3) here (its replicated
    # border is scipy's reflected one for a 3x3 window) at a hundredth of the time
    filled = cv2.medianBlur(np.ascontiguousarray(filled, np.float32), 3)
    grad_u = cv2.Sobel(filled, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    grad_v = cv2.Sobel(filled, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    flat = known & (np.hypot(grad_u, grad_v) < FLAT_GRADIENT_M) & (filled > config.min_height_m)
    if flat.sum() < 8:
        return []
    levels = _levels(filled[flat], cells.area[box][flat])
    if len(levels) < 2:
        return []
    markers = np.zeros(filled.shape, np.int32)
    for m, level in enumerate(levels, start=1):
        markers[flat & (np.abs(filled - level) <= LEVEL_BAND_M)] = m
    # flood the slope from the levels' seeds; cells outside the region are a background marker
    grad = np.hypot(*np.gradient(filled))
    cost = np.clip(grad / (2 * FLAT_GRADIENT_M) * 255.0, 0, 255).astype(np.uint8)
    seeds = np.where(inside, markers, -1).astype(np.int32)
    flooded = ndimage.watershed_ift(cost, seeds)
    # a piece is what is connected to its own level's seeds; cells cut off from them and cells
    # at the table's height (the rim a region gets from closing gaps; reached at equal cost from
    # every side) go to the nearest seed
    kept = np.zeros(inside.shape, bool)
    for m in range(1, len(levels) + 1):
        comps, _ = ndimage.label(inside & (flooded == m), structure=np.ones((3, 3)))
        seeded = np.unique(comps[(markers == m) & (comps > 0)])
        kept |= np.isin(comps, seeded[seeded > 0])
    orphans = inside & ~(kept & (filled > config.min_height_m))
    if orphans.any():
        _, (rows, cols) = ndimage.distance_transform_edt(markers == 0, return_indices=True)
        flooded[orphans] = markers[rows[orphans], cols[orphans]]
    _lift_above_tops(flooded, markers, filled, inside, levels)
    pieces: list[Region] = []
    for m in range(1, len(levels) + 1):
        found = ndimage.find_objects((inside & (flooded == m)).astype(np.int32))
        if not found or found[0] is None:
            return []
        tight = found[0]  # the piece's own box inside the region's
        sub = tuple(
            slice(outer.start + inner.start, outer.start + inner.stop)
            for outer, inner in zip(box, tight, strict=True)
        )
        cell = inside[tight] & (flooded[tight] == m)
        piece = region_from_cells(cells, sub, cell, config)
        if piece is None or piece.sparse:
            return []
        pieces.append(piece)
    return pieces
