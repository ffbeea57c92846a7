"""6-D object pose from descriptor keypoints and measured depth (camera optical frame, metres).

Keypoint pixels are lifted with the measured depth (keypoints where depth is missing are
dropped) and aligned by Kabsch with the object's reference keypoints (object frame); a few
rounds of trimming drop outliers (wrong matches)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from grasp_pipeline.geometry.camera import CameraIntrinsics
from grasp_pipeline.geometry.kabsch import kabsch


@dataclass
class PoseEstimate:
    pose: np.ndarray  # (4, 4) object -> camera optical frame
    inliers: np.ndarray  # (K,) bool, keypoints used in the final fit
    rmse_m: float  # RMS 3-D residual of the inliers, metres


def lift_keypoints(
    uv: np.ndarray, depth_m: np.ndarray, camera: CameraIntrinsics, window: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """(K, 2) pixels -> (K, 3) points (metres) using the median valid depth in a (2w+1)^2
    window; ``valid`` (K,) is False where the window has no depth."""
    uv = np.asarray(uv, dtype=np.float64)
    if uv.ndim != 2 or uv.shape[1] != 2:
        raise ValueError(f"keypoints must be (K, 2) pixels, got {uv.shape}")
    if depth_m.shape != (camera.height, camera.width):
        raise ValueError(f"depth is {depth_m.shape}, camera is {camera.height}x{camera.width}")
    pts = np.full((len(uv), 3), np.nan)
    valid = np.zeros(len(uv), bool)
    for i, (u, v) in enumerate(uv):
        if not (np.isfinite(u) and np.isfinite(v)):
            continue
        ui, vi = round(u), round(v)
        if not (0 <= ui < camera.width and 0 <= vi < camera.height):
            continue
        patch = depth_m[
            max(0, vi - window) : vi + window + 1, max(0, ui - window) : ui + window + 1
        ]
        z = patch[np.isfinite(patch) & (patch > 0)]
        if z.size == 0:
            continue
        zm = float(np.median(z))
        pts[i] = [(u - camera.cx) / camera.fx * zm, (v - camera.cy) / camera.fy * zm, zm]
        valid[i] = True
    return pts, valid


def pose_from_keypoints(
    uv: np.ndarray,
    depth_m: np.ndarray,
    camera: CameraIntrinsics,
    reference_points: np.ndarray,
    weights: np.ndarray | None = None,
    min_points: int = 4,
    trim_rounds: int = 3,
    min_threshold_m: float = 0.004,
    ransac_iterations: int = 200,
    ransac_threshold_m: float = 0.008,
    seed: int = 0,
) -> PoseEstimate:
    """Pose (object -> camera) aligning ``reference_points`` (K, 3, object frame) to the lifted
    keypoints. RANSAC over 3-point Kabsch fits (inlier within ``ransac_threshold_m``) finds the
    consistent matches, then trimmed weighted Kabsch refines. Raises ValueError with fewer than
    ``min_points`` keypoints with depth."""
    ref = np.asarray(reference_points, dtype=np.float64)
    if ref.shape != (len(uv), 3):
        raise ValueError(f"reference_points must be ({len(uv)}, 3), got {ref.shape}")
    pts, valid = lift_keypoints(uv, depth_m, camera)
    w = np.ones(len(uv)) if weights is None else np.asarray(weights, dtype=np.float64)
    keep = valid & (w > 0)
    if keep.sum() < min_points:
        raise ValueError(f"only {int(keep.sum())} keypoints have depth, need {min_points}")
    idx = np.flatnonzero(keep)
    rng = np.random.default_rng(seed)
    best = keep
    best_count = -1
    for _ in range(ransac_iterations if len(idx) > min_points else 0):
        trio = rng.choice(idx, 3, replace=False)
        try:
            T_h = kabsch(ref[trio], pts[trio])
        except ValueError:
            continue  # collinear or coincident sample
        res = np.linalg.norm(ref[idx] @ T_h[:3, :3].T + T_h[:3, 3] - pts[idx], axis=1)
        count = float(w[idx][res <= ransac_threshold_m].sum())
        if count > best_count:
            best_count = count
            best = np.zeros_like(keep)
            best[idx[res <= ransac_threshold_m]] = True
    if best.sum() >= min_points:
        keep = best
    T = kabsch(ref[keep], pts[keep], w[keep])
    for _ in range(trim_rounds):
        res = np.linalg.norm(ref @ T[:3, :3].T + T[:3, 3] - np.nan_to_num(pts), axis=1)
        thr = max(3.0 * float(np.median(res[keep])), min_threshold_m)
        new_keep = valid & (w > 0) & (res <= thr)
        if new_keep.sum() < min_points:
            break
        keep = new_keep
        T = kabsch(ref[keep], pts[keep], w[keep])
    res = np.linalg.norm(ref[keep] @ T[:3, :3].T + T[:3, 3] - pts[keep], axis=1)
    return PoseEstimate(T, keep, float(np.sqrt(np.mean(res**2))))
