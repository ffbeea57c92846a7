"""Query a descriptor in a dense descriptor image by the kernel spatial expectation (paper Eq. 8).

The kernel weight of pixel (u, v) is k(u, v) = exp(-(||I_D[u, v] - d|| / exp(t))^2) (``squared``;
the public code omits the square, ``squared=False``). Normalised over the image it is a spatial
probability; the query answer is its expectation E[u, v] (pixels) and the confidence is the
largest kernel value (1 when the exact descriptor occurs in the image).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from grasp_pipeline.perception.descriptors.spatial import pixel_grid


@dataclass
class QueryResult:
    uv: np.ndarray  # (K, 2) expected pixel (u, v) per query descriptor
    confidence: np.ndarray  # (K,) max kernel value in [0, 1]
    heatmap: np.ndarray  # (K, H, W) spatial probability, sums to 1 per query
    nearest_uv: np.ndarray  # (K, 2) pixel with the smallest descriptor distance


def query_descriptors(
    descriptor_image: torch.Tensor | np.ndarray,
    queries: torch.Tensor | np.ndarray,
    temperature: float = 0.0,
    squared: bool = True,
    window: int | None = None,
) -> QueryResult:
    """``descriptor_image`` (D, H, W), ``queries`` (K, D) or (D,); ``temperature`` t sets the
    kernel width exp(t) in descriptor-distance units.

    ``window`` (pixels): when given, the expectation only uses pixels within that distance of
    the nearest descriptor, so a second, weaker mode elsewhere in the image cannot pull the
    answer between the two (the heatmap stays the global one of Eq. 8)."""
    img = torch.as_tensor(descriptor_image, dtype=torch.float32)
    q = torch.as_tensor(queries, dtype=torch.float32)
    if q.dim() == 1:
        q = q[None]
    if img.dim() != 3 or q.dim() != 2 or q.shape[1] != img.shape[0]:
        raise ValueError(
            f"descriptor image must be (D, H, W) and queries (K, D); got {tuple(img.shape)} and {tuple(q.shape)}"
        )
    d, h, w = img.shape
    flat = img.reshape(d, h * w).T  # (HW, D)
    dist = torch.cdist(q[None], flat[None])[0]  # (K, HW)
    z = dist / float(np.exp(temperature))
    logk = -(z**2) if squared else -z
    prob = torch.softmax(logk, -1)  # (K, HW)
    grid = pixel_grid(h, w)  # (HW, 2)
    idx = dist.argmin(-1)
    nearest = torch.stack([idx % w, idx // w], -1)
    if window is None:
        uv = prob @ grid  # (K, 2)
    else:
        near = torch.cdist(nearest.float(), grid) <= window  # (K, HW)
        local = torch.where(near, prob, torch.zeros_like(prob))
        uv = (local @ grid) / local.sum(-1, keepdim=True).clamp_min(1e-30)
    conf = torch.exp(logk.max(-1).values)
    return QueryResult(
        uv.numpy(), conf.numpy(), prob.reshape(-1, h, w).numpy(), nearest.numpy().astype(np.float64)
    )
