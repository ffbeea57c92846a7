"""Pixelwise NT-Xent loss of the DON baseline (SimCLR-style, on dense descriptors).

For each matched anchor pixel a_i in A with its match b_i in B the logits are the cosine
similarities / tau to every pixel of B (the positive among them) and to every pixel of A except
the anchor itself (non-matches); cross-entropy picks b_i. The loss is symmetrised over A <-> B.

``similarity="broadcast"`` computes the cosines by broadcasting (M, 1, D) against (1, H*W, D)
as the public reference implementation does, so memory grows with M x H x W x D; ``"matmul"``
normalises once and uses a matrix product (memory M x H x W).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _cosine(anchors: torch.Tensor, dense: torch.Tensor, mode: str) -> torch.Tensor:
    # anchors (M, D), dense (HW, D) -> (M, HW)
    if mode == "broadcast":
        return F.cosine_similarity(anchors[:, None, :], dense[None, :, :], dim=-1)
    if mode == "matmul":
        return F.normalize(anchors, dim=-1) @ F.normalize(dense, dim=-1).T
    raise ValueError(f"unknown similarity mode {mode!r}; use 'broadcast' or 'matmul'")


def _one_side(
    desc_a: torch.Tensor,
    desc_b: torch.Tensor,
    idx_a: torch.Tensor,
    idx_b: torch.Tensor,
    tau: float,
    mode: str,
) -> torch.Tensor:
    anchors = desc_a[idx_a]  # (M, D)
    logits_b = _cosine(anchors, desc_b, mode) / tau  # (M, HW)
    logits_a = _cosine(anchors, desc_a, mode) / tau  # (M, HW)
    self_mask = torch.zeros_like(logits_a, dtype=torch.bool)
    self_mask[torch.arange(len(idx_a)), idx_a] = True
    logits_a = logits_a.masked_fill(self_mask, float("-inf"))
    return F.cross_entropy(torch.cat([logits_b, logits_a], 1), idx_b)


def ntxent_loss(
    desc_a: torch.Tensor,
    desc_b: torch.Tensor,
    uv_a: torch.Tensor,
    uv_b: torch.Tensor,
    tau: float = 0.1,
    similarity: str = "broadcast",
) -> dict[str, torch.Tensor]:
    """desc_* (B, D, H, W); uv_* (B, M, 2) integer-valued pixel (u, v) matches. Returns
    {"ntxent": ..., "total": ...} averaged over the batch."""
    b, d, h, w = desc_a.shape
    if uv_a.shape != uv_b.shape or uv_a.shape[0] != b or uv_a.shape[-1] != 2:
        raise ValueError(
            f"uv_a/uv_b must both be ({b}, M, 2), got {tuple(uv_a.shape)} and {tuple(uv_b.shape)}"
        )
    losses = []
    for i in range(b):
        da = desc_a[i].reshape(d, h * w).T  # (HW, D)
        db = desc_b[i].reshape(d, h * w).T
        ia = uv_a[i, :, 1].long() * w + uv_a[i, :, 0].long()
        ib = uv_b[i, :, 1].long() * w + uv_b[i, :, 0].long()
        losses.append(
            (
                _one_side(da, db, ia, ib, tau, similarity)
                + _one_side(db, da, ib, ia, tau, similarity)
            )
            / 2
        )
    loss = torch.stack(losses).mean()
    return {"ntxent": loss, "total": loss}
