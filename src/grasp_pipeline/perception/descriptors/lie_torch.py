"""Differentiable SE(3) log and weighted Kabsch in torch (batched).

These mirror ``grasp_pipeline.geometry.se3.se3_log`` and ``grasp_pipeline.geometry.kabsch.kabsch``
(numpy) but keep gradients for the relative-pose loss. Twist order: [rho (translation), omega
(rotation)]. Near the identity the series expansions keep the gradients finite.
"""

from __future__ import annotations

import torch


def _skew(w: torch.Tensor) -> torch.Tensor:
    # (..., 3) -> (..., 3, 3)
    z = torch.zeros_like(w[..., 0])
    return torch.stack(
        [
            torch.stack([z, -w[..., 2], w[..., 1]], -1),
            torch.stack([w[..., 2], z, -w[..., 0]], -1),
            torch.stack([-w[..., 1], w[..., 0], z], -1),
        ],
        -2,
    )


def so3_log(R: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Rotation matrices (..., 3, 3) -> axis-angle vectors (..., 3), angle in [0, pi)."""
    vee = torch.stack(
        [R[..., 2, 1] - R[..., 1, 2], R[..., 0, 2] - R[..., 2, 0], R[..., 1, 0] - R[..., 0, 1]], -1
    )
    cos = ((R[..., 0, 0] + R[..., 1, 1] + R[..., 2, 2] - 1) / 2).clamp(-1.0, 1.0)
    sin = torch.sqrt((vee * vee).sum(-1) + eps * eps) / 2  # eps keeps d/dR finite at theta = 0
    theta = torch.atan2(sin, cos)
    small = theta < 1e-3
    safe_sin = torch.where(small, torch.ones_like(sin), torch.sin(theta))
    factor = torch.where(small, 0.5 + theta**2 / 12, theta / (2 * safe_sin))
    # Near pi the antisymmetric part vanishes; those rotations never occur between the
    # keypoint sets in training, and factor stays finite because sin >= eps/2.
    return factor[..., None] * vee


def se3_log(T: torch.Tensor) -> torch.Tensor:
    """(..., 4, 4) rigid transforms -> (..., 6) twists [rho, omega] with T = exp(twist)."""
    R, t = T[..., :3, :3], T[..., :3, 3]
    omega = so3_log(R)
    theta2 = (omega * omega).sum(-1)
    theta = torch.sqrt(theta2 + 1e-12)
    W = _skew(omega)
    small = theta < 1e-3
    half = theta / 2
    safe = torch.where(small, torch.ones_like(theta), theta)
    # V^-1 = I - W/2 + c W^2, c = (1 - (theta/2) cot(theta/2)) / theta^2 -> 1/12 at 0.
    c = torch.where(
        small,
        1.0 / 12 + theta2 / 720,
        (1 - half / torch.tan(torch.where(small, torch.ones_like(half), half))) / safe**2,
    )
    eye = torch.eye(3, dtype=T.dtype, device=T.device).expand_as(W)
    V_inv = eye - W / 2 + c[..., None, None] * (W @ W)
    rho = (V_inv @ t[..., None])[..., 0]
    return torch.cat([rho, omega], -1)


def kabsch(
    src: torch.Tensor, dst: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """(..., N, 3) point sets -> (..., 4, 4) T minimising sum_i w_i ||T src_i - dst_i||^2."""
    if src.shape != dst.shape or src.shape[-1] != 3 or src.shape[-2] < 3:
        raise ValueError(
            f"kabsch needs two (..., N>=3, 3) point sets of equal shape, got {tuple(src.shape)} and {tuple(dst.shape)}"
        )
    if weights is None:
        weights = torch.ones(src.shape[:-1], dtype=src.dtype, device=src.device)
    w = weights / weights.sum(-1, keepdim=True).clamp_min(1e-12)  # (..., N)
    mu_s = (w[..., None] * src).sum(-2)
    mu_d = (w[..., None] * dst).sum(-2)
    H = ((src - mu_s[..., None, :]) * w[..., None]).transpose(-1, -2) @ (dst - mu_d[..., None, :])
    U, _, Vh = torch.linalg.svd(H)
    d = torch.sign(torch.det(Vh.transpose(-1, -2) @ U.transpose(-1, -2)))
    D = torch.diag_embed(torch.stack([torch.ones_like(d), torch.ones_like(d), d], -1))
    R = Vh.transpose(-1, -2) @ D @ U.transpose(-1, -2)
    t = mu_d - (R @ mu_s[..., None])[..., 0]
    T = torch.zeros((*src.shape[:-2], 4, 4), dtype=src.dtype, device=src.device)
    T[..., :3, :3] = R
    T[..., :3, 3] = t
    T[..., 3, 3] = 1.0
    return T


def inverse(T: torch.Tensor) -> torch.Tensor:
    """Inverse of (..., 4, 4) rigid transforms: [R^T, -R^T t]."""
    R, t = T[..., :3, :3], T[..., :3, 3]
    out = torch.zeros_like(T)
    out[..., :3, :3] = R.transpose(-1, -2)
    out[..., :3, 3] = -(R.transpose(-1, -2) @ t[..., None])[..., 0]
    out[..., 3, 3] = 1.0
    return out
