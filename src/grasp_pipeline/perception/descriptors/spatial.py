"""Spatial(-depth) expectation: softmax-weighted pixel coordinates and depth of keypoint maps."""

from __future__ import annotations

import torch


def pixel_grid(height: int, width: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """(H*W, 2) pixel coordinates (u, v), row-major, pixel centres at integers."""
    v, u = torch.meshgrid(
        torch.arange(height, device=device, dtype=dtype),
        torch.arange(width, device=device, dtype=dtype),
        indexing="ij",
    )
    return torch.stack([u.reshape(-1), v.reshape(-1)], -1)


def spatial_softmax(logits: torch.Tensor) -> torch.Tensor:
    """(B, N, H, W) logits -> (B, N, H, W) probabilities summing to 1 over each map's pixels."""
    b, n, h, w = logits.shape
    return torch.softmax(logits.reshape(b, n, h * w), -1).reshape(b, n, h, w)


def spatial_expectation(prob: torch.Tensor, depth: torch.Tensor | None = None) -> torch.Tensor:
    """Expected (u, v) pixels, or (u, v, d) with ``depth`` maps, under ``prob`` (B, N, H, W).

    Returns (B, N, 2) or (B, N, 3); d in the depth maps' unit (metres here).
    """
    b, n, h, w = prob.shape
    p = prob.reshape(b, n, h * w)
    uv = p @ pixel_grid(h, w, prob.device, prob.dtype)  # (B, N, 2)
    if depth is None:
        return uv
    d = (p * depth.reshape(b, n, h * w)).sum(-1, keepdim=True)  # (B, N, 1)
    return torch.cat([uv, d], -1)


def lift_uvd(uvd: torch.Tensor, intrinsics: torch.Tensor) -> torch.Tensor:
    """(..., 3) (u, v, depth) -> (..., 3) camera-frame points (metres); intrinsics (..., 4) or (4,)
    broadcastable against uvd[..., 0], as fx, fy, cx, cy (paper Eq. 5: X = K^-1 [u, v, 1]^T d)."""
    fx, fy, cx, cy = intrinsics.unbind(-1)  # each broadcasts against u, v, d
    u, v, d = uvd.unbind(-1)
    return torch.stack([(u - cx) / fx * d, (v - cy) / fy * d, d], -1)
