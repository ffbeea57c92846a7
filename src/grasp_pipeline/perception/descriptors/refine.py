"""Depth refinement of a 6-D pose (our addition to paper 004's keypoint pose).

The keypoint or descriptor pose of an enrolled part is a starting point: with a model trained
from one view in minutes its rotation can be tens of degrees off, often a part turned
end-for-end. The enrolment view's depth already holds the part's visible surface in the object
frame (:func:`model_cloud`); here that surface is aligned with the points the camera measures
on the part (trimmed point-to-point ICP) from several starting rotations - the network's pose,
and the network's pose turned about the support surface's normal - and the alignment that
explains the measured depth best wins (:func:`refine_pose`).

Scoring an alignment: the fraction of the part's measured points within ``tol_m`` of the aligned
model surface, minus the fraction of model points the camera looks *through* (the measured depth
at their pixel lies more than ``free_space_m`` behind them). The second term is blind to
self-occlusion (a hidden model point lies behind the measured surface, not in front of it) and
is what tells a part from the same part turned end-for-end."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from grasp_pipeline.geometry.camera import CameraIntrinsics, deproject, project
from grasp_pipeline.geometry.kabsch import kabsch
from grasp_pipeline.geometry.se3 import check_pose, inverse, so3_exp, transform_points

COARSE_ITERATIONS = 8
COARSE_POINTS = 400


@dataclass
class Refinement:
    pose: np.ndarray  # (4, 4) object -> camera optical frame
    fitness: float  # measured part points within tol of the aligned model surface (0..1)
    free_space_violation: float  # model points the camera sees through (0..1)
    rmse_m: float  # RMS distance of the trimmed pairs
    start: int  # which start won (0 = the given pose set upright, -1 = it aligned freely)

    @property
    def score(self) -> float:
        return self.fitness - self.free_space_violation


def lift_pixels(
    depth_m: np.ndarray, camera: CameraIntrinsics, mask: np.ndarray, max_points: int, seed: int = 0
) -> np.ndarray:
    """(M, 3) camera-frame points of the ``mask`` pixels with depth, at most ``max_points``
    (a fixed random subset)."""
    if depth_m.shape != mask.shape:
        raise ValueError(f"depth {depth_m.shape} and mask {mask.shape} differ")
    z = depth_m.astype(np.float64)
    good = mask & np.isfinite(z) & (z > 0)
    vs, us = np.nonzero(good)
    if len(vs) > max_points:
        sel = np.random.default_rng(seed).choice(len(vs), max_points, replace=False)
        vs, us = vs[sel], us[sel]
    return deproject(np.stack([us, vs], 1), z[vs, us], camera).reshape(-1, 3)


def model_cloud(
    depth_m: np.ndarray,
    mask: np.ndarray,
    camera: CameraIntrinsics,
    pose_camera: np.ndarray,
    max_points: int = 1500,
) -> np.ndarray:
    """The enrolment view's measured surface of the part in the object frame (M, 3) metres."""
    pts = lift_pixels(depth_m, camera, mask.astype(bool), max_points)
    if len(pts) < 10:
        raise ValueError(f"the enrolment view has {len(pts)} part pixels with depth, need 10")
    return transform_points(inverse(np.asarray(pose_camera, dtype=np.float64)), pts)


def support_normal(
    depth_m: np.ndarray, camera: CameraIntrinsics, mask: np.ndarray
) -> np.ndarray | None:
    """Normal (camera frame, towards the camera) of the surface the part rests on: the dominant
    plane of the depth outside the part's ``mask``; None when the view shows no plane."""
    from grasp_pipeline.perception.descriptors.roi import support_plane

    pts = lift_pixels(depth_m, camera, ~mask.astype(bool), max_points=4000)
    plane = support_plane(pts, np.random.default_rng(0)) if len(pts) >= 50 else None
    return None if plane is None else plane[0]


def enrolled_surface(entry) -> tuple[np.ndarray, np.ndarray | None]:
    """From an enrolled database entry (its reference view and ``meta``): the part's surface in
    the object frame (:func:`model_cloud`) and the support surface's normal in the object frame
    (``meta["support_normal_camera"]``, stored at enrolment; None when unknown)."""
    ref = entry.reference
    pose = np.asarray(entry.meta["pose_camera"], dtype=np.float64)
    cloud = model_cloud(ref.depth_m, ref.mask, ref.camera, pose)
    n = entry.meta.get("support_normal_camera")
    return cloud, None if n is None else pose[:3, :3].T @ np.asarray(n, dtype=np.float64)


def turn_about(axis: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 4x4 motion x -> R (x - mean(src)) + mean(dst), R a rotation about unit ``axis``,
    that best maps points ``src`` onto ``dst`` (least squares; closed form)."""
    cs, cd = src.mean(0), dst.mean(0)
    p, q = src - cs, dst - cd
    n = axis / np.linalg.norm(axis)
    sin_sum = float(np.einsum("ij,ij->", q, np.cross(n, p)))
    cos_sum = float(np.einsum("ij,ij->", q, p) - (q @ n) @ (p @ n))
    R = so3_exp(n * float(np.arctan2(sin_sum, cos_sum)))
    M = np.eye(4)
    M[:3, :3] = R
    M[:3, 3] = cd - R @ cs
    return M


def upright(pose: np.ndarray, up_object: np.ndarray, up: np.ndarray) -> np.ndarray:
    """``pose`` turned (about its origin) by the smallest rotation that makes the object's
    ``up_object`` (object frame) point along ``up`` (camera frame)."""
    a = pose[:3, :3] @ (up_object / np.linalg.norm(up_object))
    b = up / np.linalg.norm(up)
    v = np.cross(a, b)
    s, c = np.linalg.norm(v), float(a @ b)
    T = np.asarray(pose, dtype=np.float64).copy()
    angle = float(np.arctan2(s, c))
    if s < 1e-9:
        if c > 0:
            return T
        # opposite: a half turn about any axis across them
        v = np.cross(a, [1.0, 0.0, 0.0] if abs(a[0]) < 0.9 else [0.0, 1.0, 0.0])
        s, angle = np.linalg.norm(v), np.pi
    T[:3, :3] = so3_exp(v / s * angle) @ T[:3, :3]
    return T


def icp(
    model_obj: np.ndarray,
    observed: np.ndarray,
    pose: np.ndarray,
    iterations: int = 30,
    max_pair_m: tuple[float, float] = (0.02, 0.003),
    keep: float = 0.9,
    tree: cKDTree | None = None,
    axis: np.ndarray | None = None,
) -> tuple[np.ndarray, float]:
    """Trimmed point-to-point ICP: each measured point (camera frame) is paired with its nearest
    model point (object frame); pairs farther than the pair distance (shrinking linearly from
    ``max_pair_m[0]`` to ``[1]``) are dropped, the best ``keep`` fraction of the rest fits the
    pose by Kabsch. With ``axis`` (camera frame) the rotation only turns about that axis (the
    part keeps resting as it does). Returns the pose (object -> camera) and the RMS of the last
    pairs."""
    tree = tree or cKDTree(model_obj)
    # checked once: the loop's own poses come from Kabsch (checking each transform cost a third
    # of the refinement's time)
    T = check_pose(np.asarray(pose, dtype=np.float64), "pose").copy()
    rmse = float("inf")
    for it in range(iterations):
        frac = it / max(1, iterations - 1)
        dmax = max_pair_m[0] + frac * (max_pair_m[1] - max_pair_m[0])
        R, t = T[:3, :3], T[:3, 3]
        dist, idx = tree.query((observed - t) @ R, distance_upper_bound=dmax)  # R^T (p - t)
        ok = np.isfinite(dist)
        if ok.sum() < 6:
            break
        d_ok = dist[ok]
        cut = np.quantile(d_ok, keep)
        sel = np.flatnonzero(ok)[d_ok <= cut]
        if len(sel) < 6:
            break
        if axis is not None:
            T_new = turn_about(axis, model_obj[idx[sel]] @ R.T + t, observed[sel]) @ T
        else:
            try:
                T_new = kabsch(model_obj[idx[sel]], observed[sel])
            except ValueError:
                break
        rmse = float(np.sqrt(np.mean(dist[sel] ** 2)))
        step = np.linalg.norm(T_new[:3, 3] - T[:3, 3])
        T = T_new
        if step < 1e-5 and it > 2:
            break
    return T, rmse


def score_pose(
    model_obj: np.ndarray,
    observed: np.ndarray,
    pose: np.ndarray,
    depth_m: np.ndarray,
    camera: CameraIntrinsics,
    tol_m: float = 0.004,
    free_space_m: float = 0.01,
    tree: cKDTree | None = None,
) -> tuple[float, float]:
    """(fitness, free-space violation) of ``pose`` (see the module doc)."""
    tree = tree or cKDTree(model_obj)
    dist, _ = tree.query(transform_points(inverse(pose), observed), distance_upper_bound=tol_m)
    fitness = float(np.isfinite(dist).mean()) if len(dist) else 0.0
    m = transform_points(pose, model_obj)
    z = m[:, 2]
    front = z > 1e-3
    u, v = np.round(project(m[front], camera)).astype(int).T
    inside = (u >= 0) & (u < camera.width) & (v >= 0) & (v < camera.height)
    if not inside.any():
        return fitness, 1.0
    measured = depth_m[v[inside], u[inside]].astype(np.float64)
    seen = np.isfinite(measured) & (measured > 0)
    through = measured[seen] > z[front][inside][seen] + free_space_m
    # model points outside the image or without depth neither support nor violate
    violation = float(through.sum()) / max(1, int(seen.sum()))
    return fitness, violation


def refine_pose(
    model_obj: np.ndarray,
    observed: np.ndarray,
    pose: np.ndarray,
    depth_m: np.ndarray,
    camera: CameraIntrinsics,
    up: np.ndarray | None = None,
    turns: int = 12,
    keep_margin: float = 0.03,
    up_object: np.ndarray | None = None,
    finalists: int = 2,
) -> Refinement:
    """Align the enrolled surface ``model_obj`` (object frame) with the measured part points
    ``observed`` (camera frame) starting from ``pose`` and from ``pose`` turned by multiples of
    360/``turns`` deg about ``up`` (the support surface's normal in the camera frame; the
    viewing direction when None) through the measured points' centroid. With ``up_object``
    (the enrolment view's support normal in the object frame) and ``up``, every start is first
    set upright (the part resting as it was enrolled) and aligned by turns about ``up`` only;
    the given pose is also aligned freely (6-D), in case the part rests differently. The
    best-scoring alignment wins; the first start's alignment is kept unless another beats it by
    ``keep_margin``. Every start is aligned coarsely (:data:`COARSE_ITERATIONS` on
    :data:`COARSE_POINTS` of the measured points), the ``finalists`` best and the first on all
    points to convergence."""
    if len(observed) < 10:
        raise ValueError(f"only {len(observed)} measured part points, need 10")
    axis = np.array([0.0, 0.0, -1.0]) if up is None else np.asarray(up, dtype=np.float64)
    tree = cKDTree(model_obj)
    c = observed.mean(0)
    resting = up_object is not None and up is not None
    start = upright(pose, up_object, axis) if resting else np.asarray(pose, dtype=np.float64)
    starts: list[tuple[int, np.ndarray, np.ndarray | None]] = []
    for k in range(max(1, turns)):
        T0 = start.copy()
        if k:
            R = so3_exp(axis / np.linalg.norm(axis) * (2 * np.pi * k / turns))
            T0[:3, :3] = R @ T0[:3, :3]
            T0[:3, 3] = R @ (T0[:3, 3] - c) + c
        # start with the model's centroid on the measured one
        centre = transform_points(T0, model_obj).mean(0)
        T0[:3, 3] += c - centre
        starts.append((k, T0, axis if resting else None))
    if resting:  # the network's pose, free: the part may rest another way than enrolled
        starts.append((-1, np.asarray(pose, dtype=np.float64), None))

    def align(k: int, T0: np.ndarray, ax, pts: np.ndarray, **icp_args) -> Refinement:
        T, rmse = icp(model_obj, pts, T0, tree=tree, axis=ax, **icp_args)
        fit, viol = score_pose(model_obj, pts, T, depth_m, camera, tree=tree)
        return Refinement(T, fit, viol, rmse, k)

    # coarse alignment from every start on a subset of the points (lift_pixels returns them in
    # random order), then the best few (and the first) on all of them to convergence
    few = observed[:COARSE_POINTS]
    coarse = [align(k, T0, ax, few, iterations=COARSE_ITERATIONS) for k, T0, ax in starts]
    order = sorted(range(len(coarse)), key=lambda i: -coarse[i].score)[:finalists]
    results = [
        align(c.start, c.pose, starts[i][2], observed, iterations=20, max_pair_m=(0.008, 0.003))
        for i, c in ((i, coarse[i]) for i in sorted(set(order) | {0}))
    ]
    best = max(results, key=lambda r: r.score)
    if results[0].score >= best.score - keep_margin:
        best = results[0]
    return best
