"""Weighted least-squares rigid alignment of corresponding 3-D points (Kabsch / Umeyama, no scale).

Finds R, t minimising sum_i w_i |R src_i + t - dst_i|^2 with det(R) = +1: the cross-covariance
H = sum w_i (src_i - c_src)(dst_i - c_dst)^T = U S V^T gives R = V diag(1, 1, d) U^T, where
d = sign(det(V U^T)) turns a reflection into the best proper rotation.
"""

from __future__ import annotations

import numpy as np

# Relative singular-value threshold below which a centred point set counts as collinear.
DEFAULT_RANK_TOL = 1e-6


def _points(x: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != 3:
        raise ValueError(f"{name} must have shape (N, 3), got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or infinite values (e.g. points without depth)")
    return a


def _check_spread(centred: np.ndarray, w: np.ndarray, name: str, rank_tol: float) -> None:
    sv = np.linalg.svd(centred * np.sqrt(w)[:, None], compute_uv=False)  # spread per direction
    if sv[0] <= 1e-12:
        raise ValueError(f"{name}: all points coincide; a rotation is undetermined")
    if sv[1] <= rank_tol * sv[0]:
        raise ValueError(
            f"{name}: points are collinear (singular values {sv.round(9).tolist()}); "
            "the rotation about their line is undetermined"
        )


def kabsch(
    src: np.ndarray,
    dst: np.ndarray,
    weights: np.ndarray | None = None,
    rank_tol: float = DEFAULT_RANK_TOL,
) -> np.ndarray:
    """4x4 rigid transform T with dst ~ T @ src (points (N, 3) in metres, rows correspond).

    ``weights`` (N,) are non-negative confidences; points with weight 0 are ignored. Raises
    ValueError for mismatched shapes, NaN/inf, fewer than 3 points of positive weight, or
    coincident / collinear point sets (second singular value below ``rank_tol`` times the first).
    """
    P, Q = _points(src, "src"), _points(dst, "dst")
    if P.shape != Q.shape:
        raise ValueError(f"src and dst must have the same shape, got {P.shape} and {Q.shape}")
    if weights is None:
        w = np.ones(len(P))
    else:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (len(P),):
            raise ValueError(f"weights must have shape ({len(P)},), got {w.shape}")
        if not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError("weights must be finite and non-negative")
    keep = w > 0
    if int(keep.sum()) < 3:
        raise ValueError(f"need at least 3 points with positive weight, got {int(keep.sum())}")
    P, Q, w = P[keep], Q[keep], w[keep]
    w = w / w.sum()

    c_p = w @ P
    c_q = w @ Q
    Pc, Qc = P - c_p, Q - c_q
    _check_spread(Pc, w, "src", rank_tol)
    _check_spread(Qc, w, "dst", rank_tol)

    H = (Pc * w[:, None]).T @ Qc  # (3, 3)
    U, _, Vt = np.linalg.svd(H)
    d = 1.0 if np.linalg.det(Vt.T @ U.T) >= 0.0 else -1.0
    R = Vt.T @ np.diag([1.0, 1.0, d]) @ U.T
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = c_q - R @ c_p
    return T


def alignment_rmse(
    T: np.ndarray, src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None
) -> float:
    """Weighted root-mean-square distance (metres) between T @ src and dst."""
    P, Q = _points(src, "src"), _points(dst, "dst")
    if P.shape != Q.shape:
        raise ValueError(f"src and dst must have the same shape, got {P.shape} and {Q.shape}")
    T = np.asarray(T, dtype=np.float64)
    if T.shape != (4, 4):
        raise ValueError(f"T must be 4x4, got {T.shape}")
    r2 = np.sum((P @ T[:3, :3].T + T[:3, 3] - Q) ** 2, axis=1)
    w = np.ones(len(P)) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != r2.shape or w.sum() <= 0:
        raise ValueError(f"weights must have shape ({len(P)},) and a positive sum")
    return float(np.sqrt(np.sum(w * r2) / np.sum(w)))
