"""Activation maps -> object instances with pickup pixel, score and dominant axis (paper Fig. 1).

Pixels are (u, v) = (column, row) of the map they were found in; depths in metres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Instance:
    """One connected blob of activations on one class map.

    ``pixel``: activation-weighted centroid (u, v); ``axis``: unit (du, dv) of the dominant
    direction of the activations (weighted PCA), the object's facing; ``elongation``: ratio of the
    principal standard deviations (1 = no preferred direction); ``score``: peak activation in the
    blob; ``mean_activation`` and ``pixels`` describe its support.
    """

    pixel: tuple[float, float]
    axis: tuple[float, float]
    elongation: float
    score: float
    mean_activation: float
    pixels: int


def weighted_pca_axis(us: np.ndarray, vs: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, float]:
    """Dominant direction (unit (du, dv)) and sqrt eigenvalue ratio of weighted pixel coordinates."""
    w = w / w.sum()
    mu = np.array([np.sum(w * us), np.sum(w * vs)])
    d = np.stack([us - mu[0], vs - mu[1]])  # (2, N)
    cov = (d * w) @ d.T  # (2, 2)
    evals, evecs = np.linalg.eigh(cov)  # ascending
    axis = evecs[:, 1]
    if axis[0] < 0 or (axis[0] == 0 and axis[1] < 0):
        axis = -axis  # a fixed sign so the same blob always reports the same axis
    ratio = float(np.sqrt(evals[1] / evals[0])) if evals[0] > 1e-12 else float("inf")
    return axis, ratio


def find_instances(
    activation: np.ndarray, threshold: float = 0.5, min_pixels: int = 3
) -> list[Instance]:
    """Connected components of ``activation > threshold`` (8-connected), strongest first.

    activation (H, W) in [0, 1]; blobs smaller than ``min_pixels`` are dropped as noise.
    """
    import cv2

    a = np.asarray(activation, dtype=np.float32)
    if a.ndim != 2:
        raise ValueError(f"activation map must be (H, W), got shape {a.shape}")
    a = np.where(np.isfinite(a), a, 0.0).astype(np.float32)
    binary = (a > threshold).astype(np.uint8)
    n, labels = cv2.connectedComponents(binary, connectivity=8)
    out = []
    for k in range(1, n):
        vs, us = np.nonzero(labels == k)
        if us.size < min_pixels:
            continue
        w = a[vs, us].astype(np.float64)
        u, v = float(np.sum(w * us) / w.sum()), float(np.sum(w * vs) / w.sum())
        axis, ratio = weighted_pca_axis(us.astype(float), vs.astype(float), w)
        out.append(
            Instance(
                (u, v),
                (float(axis[0]), float(axis[1])),
                ratio,
                float(w.max()),
                float(w.mean()),
                int(us.size),
            )
        )
    return sorted(out, key=lambda i: -i.score)


def robust_depth(
    depth_m: np.ndarray, u: float, v: float, radius: int = 3, max_radius: int = 24
) -> float:
    """Median of the valid (finite, > 0) depths in a square window around (u, v), metres.

    The window grows (doubling) up to ``max_radius`` when it holds no valid depth, because
    RealSense depth has holes on edges and shiny parts exactly where objects are. NaN if none.
    """
    ui, vi = round(u), round(v)
    r = radius
    while r <= max_radius:
        win = depth_m[max(0, vi - r) : vi + r + 1, max(0, ui - r) : ui + r + 1]
        ok = win[np.isfinite(win) & (win > 0)]
        if ok.size:
            return float(np.median(ok))
        r *= 2
    return float("nan")


def grasp_frame(axis_uv: tuple[float, float], fx: float, fy: float) -> np.ndarray:
    """Rotation (3, 3) with x along the object's dominant axis in the image plane, z along the
    optical axis and y = z x x, the direction in which the gripper closes (camera optical frame).
    """
    d = np.array([axis_uv[0] / fx, axis_uv[1] / fy, 0.0])  # pixel direction -> metric direction
    n = np.linalg.norm(d)
    x = d / n if n > 0 else np.array([1.0, 0.0, 0.0])
    z = np.array([0.0, 0.0, 1.0])
    y = np.cross(z, x)
    return np.stack([x, y, z], axis=1)
