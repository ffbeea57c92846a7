"""Direct correspondence term on the synthetic pairs' known matches (our addition to paper 004).

Pixelwise distribution loss (Florence 2020, the "pixelwise distribution loss" the paper cites
as [21]) on L2 descriptor distances: for an anchor pixel a of view A, the predicted match
distribution over every pixel u of view B is p(u) = softmax_u(-||D_B(u) - D_A(a)||^2), the
kernel of the query (paper Eq. 8 with t = 0); its target is a Gaussian of ``sigma_px`` around
the true match b. The loss is the cross-entropy between the two, symmetrised A <-> B. Memory
grows with M x H x W (one distance matrix per side), not with D.
"""

from __future__ import annotations

import torch

from grasp_pipeline.perception.descriptors.spatial import pixel_grid


def _one_side(
    da: torch.Tensor, db: torch.Tensor, uv_a: torch.Tensor, uv_b: torch.Tensor, w: int, sigma: float
) -> torch.Tensor:
    # da, db (HW, D); uv (M, 2) pixels (u, v)
    ia = uv_a[:, 1].round().long() * w + uv_a[:, 0].round().long()
    anchors = da[ia]  # (M, D)
    d2 = (anchors**2).sum(-1, keepdim=True) + (db**2).sum(-1)[None] - 2 * anchors @ db.T  # (M, HW)
    logp = torch.log_softmax(-d2.clamp_min(0), -1)
    grid = pixel_grid(db.shape[0] // w, w, db.device, db.dtype)  # (HW, 2)
    g2 = ((grid[None] - uv_b[:, None].to(db.dtype)) ** 2).sum(-1)  # (M, HW)
    target = torch.softmax(-g2 / (2 * sigma**2), -1)
    return -(target * logp).sum(-1).mean()


def distribution_loss(
    desc_a: torch.Tensor,
    desc_b: torch.Tensor,
    uv_a: torch.Tensor,
    uv_b: torch.Tensor,
    sigma_px: float = 1.0,
) -> torch.Tensor:
    """desc_* (B, D, H, W); uv_* (B, M, 2) matching pixels (u, v). Mean over the batch of the
    symmetrised cross-entropy (nats)."""
    b, d, h, w = desc_a.shape
    if uv_a.shape != uv_b.shape or uv_a.shape[0] != b or uv_a.shape[-1] != 2:
        raise ValueError(
            f"uv_a/uv_b must both be ({b}, M, 2), got {tuple(uv_a.shape)} and {tuple(uv_b.shape)}"
        )
    if sigma_px <= 0:
        raise ValueError(f"sigma_px must be > 0, got {sigma_px}")
    losses = []
    for i in range(b):
        da = desc_a[i].reshape(d, h * w).T
        db = desc_b[i].reshape(d, h * w).T
        losses.append(
            (
                _one_side(da, db, uv_a[i], uv_b[i], w, sigma_px)
                + _one_side(db, da, uv_b[i], uv_a[i], w, sigma_px)
            )
            / 2
        )
    return torch.stack(losses).mean()
