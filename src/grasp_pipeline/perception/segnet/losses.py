"""Error functions of paper 000 on one queried class map per sample.

Shapes: activations ``p`` (B, H, W) in [0, 1]; masks (B, H, W) in {0, 1}; pixels (u, v) =
(column, row) at the network's output resolution; depth in metres; intrinsics (B, 4) = fx, fy,
cx, cy at the output resolution. Every function returns per-sample values (B,) so callers can
average or inspect them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_EPS = 1e-6


def soft_iou_error(p: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """1 - soft IoU: sum(p*y) / sum(p + y - p*y) over the image. (B, H, W) -> (B,)."""
    inter = (p * mask).sum(dim=(-2, -1))
    union = (p + mask - p * mask).sum(dim=(-2, -1))
    return 1.0 - inter / (union + _EPS)


def weighted_centroid(p: torch.Tensor) -> torch.Tensor:
    """Activation-weighted mean pixel (u, v) of each map. (B, H, W) -> (B, 2), pixels.

    An all-zero map has no centroid; it returns the image centre so distances stay finite.
    """
    h, w = p.shape[-2:]
    us = torch.arange(w, dtype=p.dtype, device=p.device)
    vs = torch.arange(h, dtype=p.dtype, device=p.device)
    mass = p.sum(dim=(-2, -1))  # (B,)
    u = (p.sum(dim=-2) * us).sum(dim=-1)  # (B,)
    v = (p.sum(dim=-1) * vs).sum(dim=-1)
    centre = torch.tensor([(w - 1) / 2.0, (h - 1) / 2.0], dtype=p.dtype, device=p.device)
    c = torch.stack([u, v], dim=-1) / (mass.unsqueeze(-1) + _EPS)  # (B, 2)
    return torch.where(mass.unsqueeze(-1) > _EPS, c, centre.expand_as(c))


def centroid_distance_px(p: torch.Tensor, pickup_uv: torch.Tensor) -> torch.Tensor:
    """Euclidean pixel distance between the weighted centroid and the labelled pickup pixel (B,)."""
    d = weighted_centroid(p) - pickup_uv
    # sqrt has an infinite slope at 0; the epsilon keeps gradcheck and training finite there.
    return torch.sqrt((d * d).sum(dim=-1) + 1e-12)


def pickup_depth(
    depth_m: torch.Tensor, pickup_uv: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """Depth (m) at the pickup pixel; the median valid depth inside the mask when that is missing.

    depth_m (B, H, W) with NaN for missing values -> (B,) (NaN where no valid depth exists).
    """
    b, h, w = depth_m.shape
    u = pickup_uv[:, 0].round().long().clamp(0, w - 1)
    v = pickup_uv[:, 1].round().long().clamp(0, h - 1)
    z = depth_m[torch.arange(b, device=depth_m.device), v, u]
    out = z.clone()
    for i in torch.nonzero(~torch.isfinite(z) | (z <= 0)).flatten().tolist():
        vals = depth_m[i][(mask[i] > 0.5) & torch.isfinite(depth_m[i]) & (depth_m[i] > 0)]
        out[i] = vals.median() if vals.numel() else float("nan")
    return out


def centroid_distance_cm(
    p: torch.Tensor, pickup_uv: torch.Tensor, z_m: torch.Tensor, intrinsics: torch.Tensor
) -> torch.Tensor:
    """Metric offset (cm) between centroid and pickup point on the plane at the object's depth.

    Both pixels are back-projected at the pickup depth ``z_m`` (B,), so the offset is
    z * ((du / fx)^2 + (dv / fy)^2)^0.5. NaN where the depth is unknown.
    """
    d = weighted_centroid(p) - pickup_uv  # (B, 2) pixels
    fx, fy = intrinsics[:, 0], intrinsics[:, 1]
    metric = torch.sqrt((d[:, 0] / fx) ** 2 + (d[:, 1] / fy) ** 2 + 1e-18) * z_m
    return 100.0 * metric


def pickup_error(distance_cm: torch.Tensor) -> torch.Tensor:
    """Paper Eq. 4: E = 1 - 1 / (d_cm^2 + 1); 0 at d = 0, tends to 1 for large offsets."""
    return 1.0 - 1.0 / (distance_cm**2 + 1.0)


def pickup_rate(distance_cm: torch.Tensor) -> torch.Tensor:
    """Estimated probability of a successful pick, 1 - E = 1 / (d_cm^2 + 1)."""
    return 1.0 / (distance_cm**2 + 1.0)


def cross_entropy_error(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-pixel binary cross-entropy of the queried map's logits against its mask (B,)."""
    return F.binary_cross_entropy_with_logits(logits, mask, reduction="none").mean(dim=(-2, -1))


def select_queried(maps: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
    """Pick channel ``query[b]`` of ``maps[b]``: (B, C, H, W), (B,) long -> (B, H, W)."""
    return maps[torch.arange(maps.shape[0], device=maps.device), query]


def queried_loss_terms(
    q_logits: torch.Tensor,
    mask: torch.Tensor,
    uv: torch.Tensor,
    z_m: torch.Tensor,
    intrinsics: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """Batch-mean error terms of the queried maps (B, H, W) against masks, pickup pixels (B, 2),
    pickup depths (B,) in metres and intrinsics (B, 4). Keys: ``iou`` (1 - soft IoU),
    ``distance_px``, ``distance`` (px / 100, the paper's 0..1 scaling), ``distance_cm``,
    ``pickup_error``, ``pickup_rate`` (means over samples with known depth) and ``cross_entropy``.
    """
    p = torch.sigmoid(q_logits.float())  # (B, H, W)
    dpx = centroid_distance_px(p, uv)
    dcm = centroid_distance_cm(p, uv, z_m, intrinsics)
    ok = torch.isfinite(dcm)
    dcm_ok = dcm[ok] if ok.any() else dcm.new_zeros(1)
    return {
        "iou": soft_iou_error(p, mask).mean(),
        "distance_px": dpx.mean(),
        "distance": dpx.mean() / 100.0,
        "distance_cm": dcm_ok.mean(),
        "pickup_error": pickup_error(dcm_ok).mean(),
        "pickup_rate": pickup_rate(dcm_ok).mean(),
        "cross_entropy": cross_entropy_error(q_logits.float(), mask).mean(),
    }


def segnet_loss_terms(
    logits: torch.Tensor,
    class_logits: torch.Tensor,
    batch: dict[str, torch.Tensor],
    query: torch.Tensor,
) -> dict[str, torch.Tensor]:
    """All error terms for the queried class of each sample (scalars, batch means).

    ``logits`` (B, C, H, W) and ``class_logits`` (B, C) from the network; ``batch`` holds
    ``masks`` (B, C, H, W), ``pickup`` (B, C, 2), ``depth_m`` (B, H, W), ``intrinsics`` (B, 4);
    ``query`` (B,) class channels (class_index - 1). Keys of :func:`queried_loss_terms` plus
    ``classification`` (softmax cross-entropy of the classification vector).
    """
    rows = torch.arange(logits.shape[0], device=logits.device)
    mask = select_queried(batch["masks"], query)  # (B, H, W)
    uv = batch["pickup"][rows, query]  # (B, 2)
    z = pickup_depth(batch["depth_m"], uv, mask)
    terms = queried_loss_terms(select_queried(logits, query), mask, uv, z, batch["intrinsics"])
    terms["classification"] = F.cross_entropy(class_logits.float(), query)
    return terms
