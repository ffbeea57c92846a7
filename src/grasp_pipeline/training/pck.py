"""PCK@k of dense descriptors (standard definition) and its AUC over k = 1..100 pixels.

For each ground-truth correspondence (u_a -> u_b) the predicted match is the pixel of image B
whose descriptor is nearest (L2) to D_A(u_a); it is correct at k when ||u_pred - u_b|| <= k px.
PCK@k is the fraction correct; AUC is the mean of PCK@k over k = 1..100.
"""

from __future__ import annotations

import numpy as np
import torch

K_RANGE = np.arange(1, 101)


def best_matches(desc_a: torch.Tensor, desc_b: torch.Tensor, uv_a: np.ndarray) -> np.ndarray:
    """(D, H, W) descriptor images and (M, 2) pixels in A -> (M, 2) argmin-distance pixels in B."""
    if desc_a.dim() != 3 or desc_b.dim() != 3 or desc_a.shape[0] != desc_b.shape[0]:
        raise ValueError(
            f"descriptor images must be (D, H, W) with equal D, got {tuple(desc_a.shape)} and {tuple(desc_b.shape)}"
        )
    d, _, w = desc_b.shape
    uv = np.round(np.asarray(uv_a)).astype(int)
    if uv.ndim != 2 or uv.shape[1] != 2:
        raise ValueError(f"uv_a must be (M, 2), got {uv.shape}")
    q = desc_a[
        :, uv[:, 1].clip(0, desc_a.shape[1] - 1), uv[:, 0].clip(0, desc_a.shape[2] - 1)
    ].T  # (M, D)
    dist = torch.cdist(q[None].float(), desc_b.reshape(d, -1).T[None].float())[0]  # (M, HW)
    idx = dist.argmin(1).cpu().numpy()
    return np.stack([idx % w, idx // w], 1).astype(np.float64)


def pck_curve(pred_uv: np.ndarray, true_uv: np.ndarray, ks: np.ndarray = K_RANGE) -> np.ndarray:
    """Fraction of predictions within k pixels of the truth, for each k in ``ks``."""
    pred, true = np.asarray(pred_uv, float), np.asarray(true_uv, float)
    if pred.shape != true.shape or pred.ndim != 2 or pred.shape[1] != 2:
        raise ValueError(
            f"pred_uv and true_uv must both be (M, 2), got {pred.shape} and {true.shape}"
        )
    if len(pred) == 0:
        raise ValueError("PCK needs at least one correspondence")
    err = np.linalg.norm(pred - true, axis=1)
    return (err[None, :] <= np.asarray(ks, float)[:, None]).mean(1)


def auc(curve: np.ndarray) -> float:
    """Mean of PCK@k over the k values of the curve (k = 1..100 -> normalised area)."""
    return float(np.mean(curve))
