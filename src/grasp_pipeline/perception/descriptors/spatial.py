"""Spatial(-depth) expectation: softmax-weighted pixel coordinates and depth of keypoint maps."""

from __future__ import annotations

from functools import lru_cache

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


@lru_cache(maxsize=32)
def _interpolation_matrix(n_out: int, n_in: int) -> torch.Tensor:
    """(n_out, n_in) weights of 1-D linear interpolation with align_corners=True."""
    a = torch.zeros(n_out, n_in, dtype=torch.float64)
    if n_in == 1 or n_out == 1:
        a[:, 0] = 1.0
        return a
    pos = torch.arange(n_out, dtype=torch.float64) * (n_in - 1) / (n_out - 1)
    lo = pos.floor().long().clamp(max=n_in - 2)
    frac = pos - lo
    rows = torch.arange(n_out)
    a[rows, lo] = 1.0 - frac
    a[rows, lo + 1] = frac
    return a


def upsample_bilinear(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear upsampling of (B, C, h, w) maps to ``size`` (H, W) with align_corners=True, the
    same function as F.interpolate(mode="bilinear", align_corners=True), written as two matrix
    products (A_h x A_w^T). On a CPU its backward pass is a matrix product too, several times
    faster than interpolate's scatter for the many maps of the keypoint heads."""
    h_out, w_out = size
    a_h = _interpolation_matrix(h_out, x.shape[-2]).to(x.device, x.dtype)
    a_w = _interpolation_matrix(w_out, x.shape[-1]).to(x.device, x.dtype)
    return a_h @ x @ a_w.T
