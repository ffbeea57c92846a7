"""Keypoint-task losses of paper 004 (KeypointNet terms + the paper's multi-view and pose terms).

All terms are computed for a twin pass over views A and B. Pixels (u, v) at the network's input
resolution, depth and 3-D points in metres in each view's camera optical frame.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from grasp_pipeline.perception.descriptors.config import KeypointLossConfig
from grasp_pipeline.perception.descriptors.lie_torch import (
    inverse,
    kabsch,
    kabsch_spread_ok,
    se3_log,
)
from grasp_pipeline.perception.descriptors.spatial import lift_uvd, pixel_grid


def silhouette_loss(prob: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """-mean log(sum_pixels p * mask): keypoint probability mass must lie on the object.
    prob (B, N, H, W), mask (B, H, W) in {0, 1}."""
    b, n = prob.shape[:2]
    inside = prob.reshape(b, n, -1) @ mask.reshape(b, -1, 1).to(prob.dtype)  # (B, N, 1)
    return -torch.log(inside[..., 0] + 1e-12).mean()


def variance_loss(prob: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """Mean over keypoints of sum_pixels p * ||pixel - E[uv]||^2 (pixels^2): peaky maps.

    Evaluated as E[||pixel - c||^2] - ||E[uv] - c||^2 (the maps sum to 1; ``uv`` must be their
    expectation), with pixels taken about the image centre c to keep the difference exact in
    float32; no (B, N, H*W, 2) intermediate."""
    b, n, h, w = prob.shape
    centre = torch.tensor([(w - 1) / 2, (h - 1) / 2], device=prob.device, dtype=prob.dtype)
    grid = pixel_grid(h, w, prob.device, prob.dtype) - centre  # (HW, 2)
    second = prob.reshape(b, n, -1) @ (grid**2).sum(-1, keepdim=True)  # (B, N, 1)
    return (second[..., 0] - ((uv - centre) ** 2).sum(-1)).clamp_min(0.0).mean()


def separation_loss(uv: torch.Tensor, margin_px: float) -> torch.Tensor:
    """Mean over keypoint pairs i != j of max(margin^2 - ||uv_i - uv_j||^2, 0) / margin^2."""
    n = uv.shape[1]
    d2 = ((uv[:, :, None] - uv[:, None]) ** 2).sum(-1)  # (B, N, N)
    off = ~torch.eye(n, dtype=torch.bool, device=uv.device)
    return (F.relu(margin_px**2 - d2) / margin_px**2)[:, off].mean()


def _transform(T: torch.Tensor, pts: torch.Tensor) -> torch.Tensor:
    return pts @ T[:, :3, :3].transpose(-1, -2) + T[:, None, :3, 3]


def multiview_loss(
    x_a: torch.Tensor, x_b: torch.Tensor, T_ab: torch.Tensor, scale: float, delta: float
) -> torch.Tensor:
    """Huber between B's keypoints and A's keypoints moved by T_ab (and the reverse), on 3-D
    points (B, N, 3) in metres times ``scale``."""
    fwd = F.huber_loss(_transform(T_ab, x_a) * scale, x_b * scale, delta=delta)
    bwd = F.huber_loss(_transform(inverse(T_ab), x_b) * scale, x_a * scale, delta=delta)
    return (fwd + bwd) / 2


def pose_loss(x_a: torch.Tensor, x_b: torch.Tensor, T_ab: torch.Tensor) -> torch.Tensor:
    """||log(T_true^-1 T_pred)|| with T_pred = Kabsch(keypoints A -> keypoints B) (paper Eq. 7),
    averaged over the pairs whose keypoints in both views span at least a plane (elsewhere the
    rotation, and so the term, is undetermined; 0 when no pair qualifies)."""
    ok = kabsch_spread_ok(x_a.detach().double()) & kabsch_spread_ok(x_b.detach().double())
    T_pred = kabsch(x_a.double(), x_b.double())
    err = se3_log(inverse(T_ab.double()) @ T_pred).norm(dim=-1)  # (B,)
    err = torch.where(ok, err, torch.zeros_like(err))
    return (err.sum() / ok.sum().clamp_min(1)).to(x_a.dtype)


def keypoint_losses(
    out_a,
    out_b,
    mask_a: torch.Tensor,
    mask_b: torch.Tensor,
    T_ab: torch.Tensor,
    intrinsics: torch.Tensor,
    cfg: KeypointLossConfig,
) -> dict[str, torch.Tensor]:
    """Named terms plus ``total`` (weighted sum). ``out_*`` are DescriptorOutputs with keypoint
    heads; masks (B, H, W); T_ab (B, 4, 4) with X_B = T_ab X_A; intrinsics (B, 4) fx, fy, cx, cy."""
    terms: dict[str, torch.Tensor] = {}
    terms["silhouette"] = (
        silhouette_loss(out_a.prob, mask_a) + silhouette_loss(out_b.prob, mask_b)
    ) / 2
    terms["variance"] = (
        variance_loss(out_a.prob, out_a.uvd[..., :2])
        + variance_loss(out_b.prob, out_b.uvd[..., :2])
    ) / 2
    terms["separation"] = (
        separation_loss(out_a.uvd[..., :2], cfg.separation_margin_px)
        + separation_loss(out_b.uvd[..., :2], cfg.separation_margin_px)
    ) / 2
    x_a = lift_uvd(out_a.uvd, intrinsics[:, None])
    x_b = lift_uvd(out_b.uvd, intrinsics[:, None])
    terms["multiview"] = multiview_loss(x_a, x_b, T_ab, cfg.mvc_scale, cfg.huber_delta)
    pose = pose_loss(x_a, x_b, T_ab)
    # Degenerate keypoint sets are left out of the term (pose_loss) and its gradient is finite
    # (lie_torch.kabsch); a non-finite value (NaN keypoints) still drops it for this step, and
    # the trainer skips any step whose loss or gradient is not finite.
    terms["pose"] = pose if torch.isfinite(pose) else pose.new_zeros(())
    terms["total"] = sum(cfg.weights[k] * v for k, v in terms.items())
    return terms
