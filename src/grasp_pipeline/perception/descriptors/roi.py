"""Where to look: object candidates from the depth image (parts lying on a support surface).

The dominant plane of the depth image (the table or service area) is found by RANSAC; pixels at
least ``min_height_m`` in front of it (towards the camera) are grouped into connected regions,
and each large enough region is a candidate window centre. The detector then scores each window
with the object's own descriptors (see :mod:`detector`)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from grasp_pipeline.geometry.camera import CameraIntrinsics


def support_plane(
    points: np.ndarray, rng: np.random.Generator, iterations: int = 150, tol_m: float = 0.004
) -> tuple[np.ndarray, float] | None:
    """(normal, offset) of the plane n.x + d = 0 holding the most of ``points`` (M, 3) metres,
    the normal turned towards the camera (n.z < 0 for a camera looking along +z); None if no
    plane holds 20 % of the points."""
    if len(points) < 50:
        return None
    best, best_count = None, 0
    for _ in range(iterations):
        p = points[rng.choice(len(points), 3, replace=False)]
        n = np.cross(p[1] - p[0], p[2] - p[0])
        norm = np.linalg.norm(n)
        if norm < 1e-9:
            continue
        n /= norm
        d = -n @ p[0]
        count = int((np.abs(points @ n + d) < tol_m).sum())
        if count > best_count:
            best, best_count = (n, d), count
    if best is None or best_count < 0.2 * len(points):
        return None
    n, d = best
    inl = points[np.abs(points @ n + d) < tol_m]
    c = inl.mean(0)
    _, _, vt = np.linalg.svd(inl - c, full_matrices=False)
    n = vt[2]
    if n[2] > 0:
        n = -n
    return n, float(-n @ c)


@dataclass
class Region:
    """A region standing out of the support plane: its box centre (u, v) pixels, its pixels
    (H, W) bool, and the plane's normal (camera frame, towards the camera)."""

    centre: tuple[float, float]
    mask: np.ndarray
    normal: np.ndarray
    area: float = 0.0  # pixels of its closed outline (the measured pieces and the gaps between)


def object_regions(
    depth_m: np.ndarray,
    camera: CameraIntrinsics,
    min_height_m: float = 0.004,
    min_pixels: int = 40,
    max_candidates: int = 6,
    seed: int = 0,
    area_range: tuple[float, float] | None = None,
    join_px: int = 4,
) -> list[Region]:
    """The regions standing out of the support plane, largest first (at most
    ``max_candidates``; with ``area_range`` only regions of that many pixels); [] when no plane
    is found."""
    h, w = depth_m.shape
    step = 4
    v, u = np.mgrid[0:h:step, 0:w:step]
    z = depth_m[v, u]
    ok = np.isfinite(z) & (z > 0)
    pts = np.stack(
        [(u[ok] - camera.cx) / camera.fx * z[ok], (v[ok] - camera.cy) / camera.fy * z[ok], z[ok]], 1
    )
    plane = support_plane(pts, np.random.default_rng(seed), iterations=80)
    if plane is None:
        return []
    n, d = plane
    vv, uu = np.mgrid[0:h, 0:w].astype(np.float64)
    zz = depth_m.astype(np.float64)
    X = np.stack([(uu - camera.cx) / camera.fx * zz, (vv - camera.cy) / camera.fy * zz, zz], -1)
    height = X @ n + d  # > 0: in front of the plane, towards the camera
    above = np.nan_to_num(height, nan=-1.0) > min_height_m
    above = cv2.morphologyEx(above.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    # dark or shiny parts come back from the sensor in pieces (depth dropouts): pieces within
    # ``join_px`` of each other form one region (its pixels stay the measured ones)
    k = 2 * join_px + 1
    joined = cv2.dilate(above, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    count, joined_labels = cv2.connectedComponents(joined, connectivity=8)
    labels = np.where(above > 0, joined_labels, 0)
    # a region's area is that of its closed outline (the pieces and the gaps between them)
    closed = cv2.erode(joined, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))) > 0
    areas = np.bincount(joined_labels[closed | (above > 0)], minlength=count)
    regions = [
        (int(areas[i]), i)
        for i in range(1, count)
        if areas[i] >= min_pixels
        and (area_range is None or area_range[0] <= areas[i] <= area_range[1])
    ]
    out = []
    for _, i in sorted(regions, reverse=True)[:max_candidates]:
        mask = labels == i
        vs, us = np.nonzero(mask)
        centre = ((us.min() + us.max()) / 2, (vs.min() + vs.max()) / 2)
        out.append(Region((float(centre[0]), float(centre[1])), mask, n.copy(), float(areas[i])))
    return out
