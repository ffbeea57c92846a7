"""6-D pose from the keypoint heads, as paper 004 does it (Sec. 4.3): each keypoint's spatial
probability is switched off where the camera has no depth, its expectation (u, v) is lifted with
the *measured* depth (not the network's depth head) and the lifted keypoints are aligned by
Kabsch (RANSAC + trimmed weighted Kabsch, :func:`pose.pose_from_keypoints`) with the same
keypoints of the enrolled reference view, stored in the object frame."""

from __future__ import annotations

import numpy as np
import torch

from grasp_pipeline.geometry.camera import CameraIntrinsics
from grasp_pipeline.perception.descriptors.pose import lift_keypoints
from grasp_pipeline.perception.descriptors.spatial import pixel_grid


def masked_keypoints(
    prob: torch.Tensor | np.ndarray, valid: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Keypoint expectations with the probability outside ``valid`` (H, W) bool set to 0.

    ``prob`` (N, H, W) sums to 1 per map. Returns uv (N, 2) pixels (NaN where no mass is left)
    and the mass (N,) that was on valid pixels (a keypoint's confidence, 0..1)."""
    p = torch.as_tensor(prob, dtype=torch.float64)
    n, h, w = p.shape
    if valid.shape != (h, w):
        raise ValueError(f"valid mask {valid.shape} must match the maps {(h, w)}")
    p = p * torch.as_tensor(valid, dtype=torch.float64)[None]
    flat = p.reshape(n, h * w)
    mass = flat.sum(-1)
    uv = (flat @ pixel_grid(h, w, dtype=torch.float64)) / mass[:, None].clamp_min(1e-12)
    uv[mass <= 1e-12] = float("nan")
    return uv.numpy(), mass.numpy()


def reference_keypoints(
    prob: torch.Tensor | np.ndarray,
    mask: np.ndarray,
    depth_m: np.ndarray,
    camera: CameraIntrinsics,
    pose_camera: np.ndarray,
) -> np.ndarray:
    """(N, 3) keypoints of the reference view in the object frame (metres; NaN where a keypoint
    has no depth), from the heads' maps restricted to the object's pixels with depth."""
    valid = mask & np.isfinite(depth_m) & (depth_m > 0)
    uv, _ = masked_keypoints(prob, valid)
    pts, ok = lift_keypoints(np.nan_to_num(uv, nan=-1.0), depth_m, camera)
    inv = np.linalg.inv(pose_camera)
    out = pts @ inv[:3, :3].T + inv[:3, 3]
    out[~ok] = np.nan
    return out
