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


# Above this angle (cos < -0.95, about 2.82 rad) the axis comes from the symmetric part of R:
# the antisymmetric part is 2 sin(theta) n, which vanishes at pi and loses the axis to rounding.
_NEAR_PI_COS = -0.95


def so3_log(R: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Rotation matrices (..., 3, 3) -> axis-angle vectors (..., 3), angle in [0, pi].

    Finite values and gradients everywhere: a series near 0, the antisymmetric part of R in
    between, and near pi the axis from R + R^T = 2 cos(theta) I + 2 (1 - cos(theta)) n n^T
    (sign taken from the antisymmetric part; at exactly pi both signs are correct)."""
    vee = torch.stack(
        [R[..., 2, 1] - R[..., 1, 2], R[..., 0, 2] - R[..., 2, 0], R[..., 1, 0] - R[..., 0, 1]], -1
    )
    cos = ((R[..., 0, 0] + R[..., 1, 1] + R[..., 2, 2] - 1) / 2).clamp(-1.0, 1.0)
    sin = torch.sqrt((vee * vee).sum(-1) + eps * eps) / 2  # eps keeps d/dR finite at 0 and pi
    theta = torch.atan2(sin, cos)
    small = theta < 1e-3
    near_pi = cos < _NEAR_PI_COS
    # Every branch is evaluated on safe inputs, so the unused ones add no NaN to the gradient.
    mid = ~(small | near_pi)
    safe_sin = torch.where(mid, torch.sin(theta), torch.ones_like(sin))
    factor = torch.where(small, 0.5 + theta**2 / 12, theta / (2 * safe_sin))
    from_vee = factor[..., None] * vee
    # n n^T = (sym(R) - cos I) / (1 - cos); take the column of its largest diagonal entry.
    one_minus_cos = torch.where(near_pi, 1 - cos, torch.ones_like(cos))
    eye = torch.eye(3, dtype=R.dtype, device=R.device)
    nnT = ((R + R.transpose(-1, -2)) / 2 - cos[..., None, None] * eye) / one_minus_cos[
        ..., None, None
    ]
    diag = torch.diagonal(nnT, dim1=-2, dim2=-1)  # (..., 3), sums to 1
    k = diag.argmax(-1, keepdim=True)  # (..., 1)
    col = torch.gather(nnT, -1, k[..., None].expand(*nnT.shape[:-1], 1))[..., 0]  # (..., 3)
    n_k = torch.sqrt(torch.gather(diag, -1, k).clamp_min(1e-12))  # >= sqrt(1/3) near pi
    axis = col / n_k
    sign = torch.where((axis * vee).sum(-1, keepdim=True) < 0, -1.0, 1.0).to(R.dtype)
    # The eps in ``sin`` would bias the angle by eps/2 at pi; the norm's gradient at 0 is 0.
    theta_pi = torch.atan2(torch.linalg.vector_norm(vee, dim=-1) / 2, cos)
    from_sym = sign * axis * theta_pi[..., None]
    return torch.where(near_pi[..., None], from_sym, from_vee)


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
    safe_half = torch.where(small, torch.ones_like(half), half)
    # cot via cos/sin: tan overflows near theta = pi, where cot(theta/2) -> 0 is harmless.
    c = torch.where(
        small,
        1.0 / 12 + theta2 / 720,
        (1 - safe_half * torch.cos(safe_half) / torch.sin(safe_half)) / safe**2,
    )
    eye = torch.eye(3, dtype=T.dtype, device=T.device).expand_as(W)
    V_inv = eye - W / 2 + c[..., None, None] * (W @ W)
    rho = (V_inv @ t[..., None])[..., 0]
    return torch.cat([rho, omega], -1)


# Relative regularisation of the rotation gradient's denominators (sums of singular values,
# see _KabschRotation): it caps the gradient at about 1 / (2e-3 s_max) near degenerate sets.
_GRAD_EPS_REL = 1e-3


class _KabschRotation(torch.autograd.Function):
    """R = argmax_{R in SO(3)} tr(R H) for cross-covariances H (..., 3, 3), with a stable
    backward.

    Back-propagating through ``torch.linalg.svd`` divides by s_i^2 - s_j^2 and gives NaN/inf
    when two singular values coincide (symmetric keypoint layouts), although R itself is smooth
    there. R's own differential only divides by sums: with M = R H = V L V^T (L = diag(s1, s2,
    d s3), d = det sign) and dR = W R, W skew, the optimality of R (M symmetric) gives
    (V^T W V)_ij = (V^T (dH^T R^T - R dH) V)_ij / (l_i + l_j). Those sums vanish only for
    collinear or coincident points (the rotation is undetermined) or for a reflection with
    s2 = s3; the denominators are regularised there, so the gradient stays finite.
    """

    @staticmethod
    def forward(ctx, H: torch.Tensor) -> torch.Tensor:
        # LAPACK refuses NaN/inf: factor a zero matrix there and return NaN for those R.
        finite = torch.isfinite(H).all(-1).all(-1)
        U, S, Vh = torch.linalg.svd(torch.where(finite[..., None, None], H, torch.zeros_like(H)))
        V = Vh.transpose(-1, -2)
        d = torch.sign(torch.det(V @ U.transpose(-1, -2)))
        d = torch.where(d == 0, torch.ones_like(d), d)
        D = torch.stack([torch.ones_like(d), torch.ones_like(d), d], -1)
        R = V @ torch.diag_embed(D) @ U.transpose(-1, -2)
        R = torch.where(finite[..., None, None], R, torch.full_like(R, float("nan")))
        ctx.save_for_backward(R, V, S * D)
        return R

    @staticmethod
    def backward(ctx, grad_R: torch.Tensor) -> torch.Tensor:
        R, V, lam = ctx.saved_tensors
        Vt = V.transpose(-1, -2)
        c = lam[..., :, None] + lam[..., None, :]  # (..., 3, 3) l_i + l_j
        # eps^2 + tiny: at H = 0 (all points coincide) c = 0 and the gradient is 0, not 0/0.
        eps2 = (_GRAD_EPS_REL * lam.abs().amax(-1)[..., None, None]) ** 2 + torch.finfo(
            lam.dtype
        ).tiny
        inv_c = c / (c * c + eps2)
        K = Vt @ grad_R @ R.transpose(-1, -2) @ V
        E = K * inv_c
        F = V @ ((E - E.transpose(-1, -2)) / 2) @ Vt
        return -2 * R.transpose(-1, -2) @ F


def kabsch(
    src: torch.Tensor, dst: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """(..., N, 3) point sets -> (..., 4, 4) T minimising sum_i w_i ||T src_i - dst_i||^2.

    Gradients are finite for every input (see :class:`_KabschRotation`); for coincident or
    collinear points the rotation is undetermined and so is its gradient's direction: callers
    should leave such sets out of a loss (:func:`kabsch_spread_ok`)."""
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
    R = _KabschRotation.apply(H)
    t = mu_d - (R @ mu_s[..., None])[..., 0]
    T = torch.zeros((*src.shape[:-2], 4, 4), dtype=src.dtype, device=src.device)
    T[..., :3, :3] = R
    T[..., :3, 3] = t
    T[..., 3, 3] = 1.0
    return T


@torch.no_grad()
def kabsch_spread_ok(
    points: torch.Tensor, rank_tol: float = 1e-3, min_spread: float = 1e-6
) -> torch.Tensor:
    """(..., N, 3) points (metres) -> (...,) bool: True where the set spans a plane at least,
    i.e. its second-largest spread is above ``rank_tol`` times the largest and the largest
    above ``min_spread`` metres (RMS), so that Kabsch determines a rotation from it."""
    finite = torch.isfinite(points).all(-1).all(-1)
    points = torch.where(finite[..., None, None], points, torch.zeros_like(points))
    centred = points - points.mean(-2, keepdim=True)
    sv = torch.linalg.svdvals(centred) / points.shape[-2] ** 0.5  # RMS spread per direction
    return finite & (sv[..., 0] > min_spread) & (sv[..., 1] > rank_tol * sv[..., 0])


def inverse(T: torch.Tensor) -> torch.Tensor:
    """Inverse of (..., 4, 4) rigid transforms: [R^T, -R^T t]."""
    R, t = T[..., :3, :3], T[..., :3, 3]
    out = torch.zeros_like(T)
    out[..., :3, :3] = R.transpose(-1, -2)
    out[..., :3, 3] = -(R.transpose(-1, -2) @ t[..., None])[..., 0]
    out[..., 3, 3] = 1.0
    return out
