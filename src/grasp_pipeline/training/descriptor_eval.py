"""Honest evaluation of dense descriptors on views the model never saw.

Held-out views are rendered by the simulator (PyBullet, :mod:`grasp_pipeline.sim`): the catalog
object resting on the work surface at a new position and yaw, a new camera height and tilt, a
new surface texture and colour and new lighting, with the simulated sensor noise. True
correspondences between two views come from the simulator: every object pixel of view A with
a true depth is lifted to the camera frame, moved into the object frame with A's true pose,
into B's camera frame with B's true pose and projected; it counts when it lands inside B on the
object and B's true depth at that pixel agrees (depth test, ``visibility_tol_m``).

PCK@k (standard definition, :mod:`grasp_pipeline.training.pck`) is reported next to two
chance levels computed by the same code on the same correspondences: a uniformly random pixel
of image B, and a uniformly random pixel on the object's mask in B.

Views are crops at the scale the model was trained at (``scale``: training crop pixels per
camera pixel) around the object's true mask centre, as a detector's region of interest would
be; pose evaluation (:mod:`grasp_pipeline.perception.descriptors.detector`) runs on full frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch

from grasp_pipeline.geometry.camera import CameraIntrinsics, preset
from grasp_pipeline.geometry.windows import (
    window_affine,
    window_camera,
    window_frame,
    window_rgb,
    window_turn,
)
from grasp_pipeline.perception.descriptors.model import DescriptorNet, to_input
from grasp_pipeline.training.pck import K_RANGE, auc, best_matches, pck_curve

CHANCE_KINDS = ("random_pixel", "random_on_object")
# A matcher without descriptors: the pixel of B at A's window coordinates. What the windows'
# alignment alone (centre, scale and, when canonical, the turn) gives; the network must beat it.
SAME_PIXEL = "same_window_pixel"


@dataclass
class SimView:
    """One rendered view. ``rgb`` (H, W, 3) uint8; ``depth`` (H, W) uint16 driver units (noisy);
    ``depth_m`` measured depth metres (NaN = none); ``depth_true_m`` noise-free depth metres;
    ``mask`` (H, W) bool object pixels; ``object_points`` (H, W, 3) object-frame point of each
    pixel (metres, NaN off the object); ``pose`` (4, 4) object -> camera optical frame."""

    rgb: np.ndarray
    depth: np.ndarray
    depth_m: np.ndarray
    depth_true_m: np.ndarray
    mask: np.ndarray
    object_points: np.ndarray
    camera: CameraIntrinsics
    pose: np.ndarray
    name: str = "object"
    meta: dict = field(default_factory=dict)


def _object_points(depth_true: np.ndarray, mask: np.ndarray, cam: CameraIntrinsics, pose):
    h, w = depth_true.shape
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    z = depth_true.astype(np.float64)
    pts = np.stack([(u - cam.cx) / cam.fx * z, (v - cam.cy) / cam.fy * z, z], -1)
    inv = np.linalg.inv(pose)
    obj = pts @ inv[:3, :3].T + inv[:3, 3]
    obj[~(mask & np.isfinite(z))] = np.nan
    return obj


def render_object_view(
    name: str,
    rng: np.random.Generator,
    camera: CameraIntrinsics | None = None,
    height: tuple[float, float] = (0.45, 0.65),
    tilt_deg: tuple[float, float] = (10.0, 35.0),
    spread_m: float = 0.08,
    camera_pose_world: np.ndarray | None = None,
    noise: bool = True,
    world_kwargs: dict | None = None,
    randomise: bool = True,
    yaw: float | None = None,
    centre_xy: tuple[float, float] = (0.0, 0.0),
) -> SimView:
    """Render catalog object ``name`` resting on a fresh work surface (random height, texture,
    colour and lighting) at a random yaw and position, from a random camera ``height`` metres
    above it tilted ``tilt_deg`` from vertical (or from ``camera_pose_world``)."""
    from grasp_pipeline.sim.camera import SimCamera
    from grasp_pipeline.sim.scene import TEXTURES, random_camera, random_lighting, table_texture
    from grasp_pipeline.sim.world import SERVICE_AREA_HEIGHTS_M, SimWorld

    cam = camera or preset("d435")
    kind = TEXTURES[int(rng.integers(len(TEXTURES)))]
    base = rng.uniform(0.15, 0.9, 3)
    kw = {
        "surface_height": float(SERVICE_AREA_HEIGHTS_M[int(rng.integers(1, 4))]),
        "table_texture": table_texture(rng, kind, base, size=256),
        "table_color": (1.0, 1.0, 1.0),
    }
    if not randomise:
        kw, kind = {"surface_height": 0.10}, "default"
    kw.update(world_kwargs or {})
    world = SimWorld(**kw)
    try:
        if randomise:
            world.lighting = random_lighting(rng, shadow_prob=0.0)
        spec = world.catalog[name]
        yaw = rng.uniform(-np.pi, np.pi) if yaw is None else yaw
        T = np.eye(4)
        T[:3, :3] = np.array(
            [[math.cos(yaw), -math.sin(yaw), 0], [math.sin(yaw), math.cos(yaw), 0], [0, 0, 1]]
        )
        T[:2, 3] = np.asarray(centre_xy) + rng.uniform(-spread_m, spread_m, 2)
        T[2, 3] = world.surface_z + 0.5 * spec.size[2] + 1e-4
        body = world.spawn_object(name, T)
        if camera_pose_world is None:
            simcam = random_camera(rng, cam, T[:3, 3], height, tilt_deg, noise=noise)
        else:
            simcam = SimCamera(cam, camera_pose_world, noise=noise, seed=int(rng.integers(2**31)))
        frame = world.render(simcam, rng)
        pose = np.linalg.inv(simcam.pose_world) @ world.object_pose(body)
        mask = frame.body_ids == body
    finally:
        world.close()
    depth_m = frame.depth.astype(np.float64) * cam.depth_scale
    depth_m[frame.depth == 0] = np.nan
    return SimView(
        frame.rgb,
        frame.depth,
        depth_m.astype(np.float32),
        frame.depth_true_m,
        mask,
        _object_points(frame.depth_true_m, mask, cam, pose),
        cam,
        pose,
        name,
        {"texture": kind, "surface_height": kw["surface_height"]},
    )


def pick_cell_camera_pose(surface_z: float = 0.10, robot: str = "franka") -> np.ndarray:
    """The simulated pick cell's camera (optical -> world), as :class:`sim.grasp_execution.PickCell`
    places it: 0.25 m across the surface from the scene centre, 0.55 m above it."""
    from grasp_pipeline.geometry.extrinsics import look_at
    from grasp_pipeline.sim.grasp_execution import SCENE_CENTRE

    (cx, cy), _ = SCENE_CENTRE[robot]
    return look_at(np.array([cx + 0.25, cy, surface_z + 0.55]), np.array([cx, cy, surface_z]))


def enrollment_frame(name: str, seed: int = 0, yaw: float = 0.3):
    """The frame a user would enrol ``name`` from: the object alone at the pick cell's scene
    centre, seen by the cell's camera (default surface and light). Returns the full frame as a
    :class:`~grasp_pipeline.data.pairs.PairSource` (measured depth, mask) and the object's true
    pose (object -> camera)."""
    from grasp_pipeline.data.pairs import PairSource

    v = render_object_view(
        name,
        np.random.default_rng(seed),
        spread_m=0.0,
        camera_pose_world=pick_cell_camera_pose(),
        randomise=False,
        yaw=yaw,
    )
    from grasp_pipeline.perception.descriptors.refine import support_normal

    normal = support_normal(v.depth_m, v.camera, v.mask)
    return PairSource(v.rgb, v.mask, v.depth_m, v.camera, name, normal), v.pose


def crop_view(
    view: SimView,
    centre_uv: tuple[float, float],
    scale: float,
    size: tuple[int, int],
    angle: float = 0.0,
) -> SimView:
    """The ``size`` (width, height) window of ``view`` resized by ``scale`` (crop pixels per
    view pixel), centred on ``centre_uv`` (view pixels) and turned by ``angle``
    (:mod:`~grasp_pipeline.geometry.windows`); intrinsics and the object's pose follow."""
    w, h = size
    M = window_affine(centre_uv, scale, size, angle)

    def warp(a, flags=cv2.INTER_NEAREST, border=0.0):
        return cv2.warpAffine(
            a, M, (w, h), flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=border
        )

    rgb = window_rgb(view.rgb, M, size)
    mask = warp(view.mask.astype(np.uint8)) > 0
    nan = float("nan")
    depth_m = warp(view.depth_m.astype(np.float32), border=nan)
    depth_true = warp(view.depth_true_m.astype(np.float32), border=nan)
    depth = warp(view.depth)
    pts = np.stack(
        [warp(view.object_points[..., i].astype(np.float32), border=nan) for i in range(3)], -1
    ).astype(np.float64)
    pts[~mask] = np.nan
    cam = window_camera(view.camera, centre_uv, scale, size, angle)
    pose = view.pose.copy()
    pose[:3] = window_turn(angle) @ pose[:3]
    meta = {
        **view.meta,
        "crop_centre": [float(centre_uv[0]), float(centre_uv[1])],
        "crop_scale": float(scale),
        "crop_angle": float(angle),
    }
    return SimView(rgb, depth, depth_m, depth_true, mask, pts, cam, pose, view.name, meta)


def mask_centre(mask: np.ndarray) -> tuple[float, float]:
    """Centre (u, v) of the bounding box of a boolean mask."""
    return window_frame(mask, canonical=False)[0]


def true_correspondences(
    a: SimView,
    b: SimView,
    count: int,
    rng: np.random.Generator,
    visibility_tol_m: float = 0.004,
) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``count`` true matches (uv_a, uv_b), (M, 2) pixels: object pixels of A projected
    through the true poses into B, kept when inside B, on B's object mask and not occluded (B's
    true depth within ``visibility_tol_m`` of the projected point's depth)."""
    vs, us = np.nonzero(a.mask & np.isfinite(a.object_points[..., 0]))
    if len(us) == 0:
        return np.zeros((0, 2)), np.zeros((0, 2))
    X = a.object_points[vs, us]  # (M, 3) object frame
    Xb = X @ b.pose[:3, :3].T + b.pose[:3, 3]
    z = Xb[:, 2]
    cam = b.camera
    with np.errstate(divide="ignore", invalid="ignore"):
        ub = cam.fx * Xb[:, 0] / z + cam.cx
        vb = cam.fy * Xb[:, 1] / z + cam.cy
    ui, vi = np.round(ub).astype(int), np.round(vb).astype(int)
    inside = (z > 0) & (ui >= 0) & (ui < cam.width) & (vi >= 0) & (vi < cam.height)
    ok = np.zeros(len(us), bool)
    idx = np.flatnonzero(inside)
    zb = b.depth_true_m[vi[idx], ui[idx]].astype(np.float64)
    ok[idx] = b.mask[vi[idx], ui[idx]] & (np.abs(zb - z[idx]) <= visibility_tol_m)
    sel = np.flatnonzero(ok)
    if len(sel) > count:
        sel = rng.choice(sel, count, replace=False)
    uv_a = np.stack([us[sel], vs[sel]], 1).astype(np.float64)
    uv_b = np.stack([ub[sel], vb[sel]], 1)
    return uv_a, uv_b


def chance_predictions(
    kind: str, n: int, mask_b: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """(n, 2) predictions of a random matcher: ``random_pixel`` (uniform over image B) or
    ``random_on_object`` (uniform over B's object mask)."""
    h, w = mask_b.shape
    if kind == "random_pixel":
        return np.stack([rng.integers(0, w, n), rng.integers(0, h, n)], 1).astype(np.float64)
    if kind == "random_on_object":
        vs, us = np.nonzero(mask_b)
        i = rng.integers(0, len(us), n)
        return np.stack([us[i], vs[i]], 1).astype(np.float64)
    raise ValueError(f"unknown chance kind {kind!r}; known {CHANCE_KINDS}")


def pck_summary(curve: np.ndarray) -> dict:
    """PCK@3, PCK@10 and AUC (k = 1..100) of a PCK curve over ``K_RANGE``."""
    return {
        "pck3": float(curve[2]),
        "pck10": float(curve[9]),
        "auc": auc(curve),
    }


@dataclass
class PairSet:
    """Held-out view pairs with their true correspondences."""

    views_a: list[SimView]
    views_b: list[SimView]
    uv_a: list[np.ndarray]
    uv_b: list[np.ndarray]


def held_out_pairs(
    name: str,
    pairs: int,
    seed: int,
    scale: float,
    size: tuple[int, int],
    correspondences: int = 256,
    min_correspondences: int = 16,
    reference: SimView | None = None,
    canonical: bool = False,
    **render_kwargs,
) -> PairSet:
    """``pairs`` held-out view pairs of ``name`` (seeded), cropped at ``scale`` to ``size``.

    With ``reference`` (the enrolment view, already cropped) every pair is (reference, new
    view): the matching the detector does. Otherwise both views of a pair are new. With
    ``canonical`` each new view's window is cut at its mask's own centre and direction
    (``geometry.windows.window_frame``), as the detector cuts windows of parts enrolled with
    canonical pairs."""
    rng = np.random.default_rng(seed)
    out = PairSet([], [], [], [])
    tries = 0
    while len(out.uv_a) < pairs:
        tries += 1
        if tries > 4 * pairs + 10:
            raise RuntimeError(f"{name}: could not render {pairs} usable held-out pairs")
        views = []
        for _ in range(1 if reference is not None else 2):
            v = render_object_view(name, rng, **render_kwargs)
            if v.mask.sum() < 30:
                break
            jitter = rng.uniform(-0.1, 0.1, 2) * np.asarray(size) / scale
            (cu, cv), angle = window_frame(v.mask, canonical)
            views.append(crop_view(v, (cu + jitter[0], cv + jitter[1]), scale, size, angle))
        else:
            a, b = (reference, views[0]) if reference is not None else views
            uv_a, uv_b = true_correspondences(a, b, correspondences, rng)
            if len(uv_a) < min_correspondences:
                continue
            out.views_a.append(a)
            out.views_b.append(b)
            out.uv_a.append(uv_a)
            out.uv_b.append(uv_b)
    return out


@torch.no_grad()
def descriptor_matches(model: DescriptorNet, a: SimView, b: SimView, uv_a: np.ndarray):
    """Nearest-descriptor matches in B of the pixels ``uv_a`` of A (PCK's matcher)."""
    out = model(torch.cat([to_input(a.rgb), to_input(b.rgb)]), keypoints=False)
    return best_matches(out.descriptors[0], out.descriptors[1], uv_a)


def evaluate_pairs(model: DescriptorNet | None, pairs: PairSet, seed: int = 0) -> dict:
    """PCK@3/@10/AUC of ``model`` (skipped when None), of the two random matchers and of the
    same-window-pixel matcher (``SAME_PIXEL``), pooled over all correspondences of ``pairs``;
    curves over k = 1..100."""
    rng = np.random.default_rng(seed)
    trues = np.concatenate(pairs.uv_b)
    preds: dict[str, list[np.ndarray]] = {k: [] for k in (*CHANCE_KINDS, SAME_PIXEL)}
    if model is not None:
        model.eval()
        preds["model"] = []
    for a, b, ua, _ in zip(pairs.views_a, pairs.views_b, pairs.uv_a, pairs.uv_b, strict=True):
        if model is not None:
            preds["model"].append(descriptor_matches(model, a, b, ua))
        for kind in CHANCE_KINDS:
            preds[kind].append(chance_predictions(kind, len(ua), b.mask, rng))
        preds[SAME_PIXEL].append(np.asarray(ua, np.float64))
    result: dict = {"pairs": len(pairs.uv_a), "correspondences": len(trues)}
    for kind, p in preds.items():
        curve = pck_curve(np.concatenate(p), trues, K_RANGE)
        result[kind] = {**pck_summary(curve), "curve": curve.tolist()}
    return result


# ----------------------------------------------------------------------------- pose errors
def _rot(axis: str, angle: float) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    return Rotation.from_euler(axis, angle).as_matrix()


def symmetries(spec) -> list[np.ndarray]:
    """Proper rotations (object frame) that map the catalog shape onto itself, for symmetric
    pose errors (BOP convention). Continuous symmetries are sampled every degree."""
    shape = spec.shape
    if shape == "box":
        return [np.eye(3), _rot("x", np.pi), _rot("y", np.pi), _rot("z", np.pi)]
    if shape in ("cylinder", "ring"):
        d = spec.dims.get("diameter", spec.dims.get("outer_diameter", 0.0))
        axis = "x" if spec.dims["length"] >= d else "z"
        flip = "z" if axis == "x" else "x"
        turns = [_rot(axis, a) for a in np.radians(np.arange(360))]
        return turns + [t @ _rot(flip, np.pi) for t in turns]
    if shape == "hex_nut":
        turns = [_rot("z", a) for a in np.radians(np.arange(0, 360, 60))]
        return turns + [t @ _rot("x", np.pi) for t in turns]
    if shape == "screw":
        return [_rot("x", a) for a in np.radians(np.arange(0, 360, 60))]
    return [np.eye(3)]


def rotation_error_deg(R_true: np.ndarray, R_est: np.ndarray, syms=None) -> float:
    """Smallest angle (degrees) between ``R_est`` and ``R_true`` S over the symmetries S."""
    best = 180.0
    for S in syms if syms is not None else [np.eye(3)]:
        c = (np.trace((R_true @ S).T @ R_est) - 1) / 2
        best = min(best, float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0)))))
    return best


def translation_error_m(T_true: np.ndarray, T_est: np.ndarray) -> float:
    """Distance (metres) between the object origins (bounding-box centres)."""
    return float(np.linalg.norm(T_true[:3, 3] - T_est[:3, 3]))


# ----------------------------------------------------------------------------- enrolled objects
def evaluate_enrolled(
    detector,
    name: str,
    views: int = 20,
    seed: int = 1000,
    pck_pairs: int = 10,
    pose_methods: tuple[str, ...] = ("keypoints", "descriptors"),
    progress: bool = False,
) -> dict:
    """Pose and PCK of enrolled object ``name`` on ``views`` held-out simulator frames.

    ``detector``: a :class:`~grasp_pipeline.perception.descriptors.detector.DescriptorDetector`
    whose entry for ``name`` was enrolled with ``grasp-pipeline enroll`` (own model, scale,
    reference view). Per pose method two figures from the same detections: the network's pose
    (method) and the pose after the detector's depth refinement (``method+depth``; with
    ``detector.refine``). Each frame is a fresh surface (height, texture, colour), light, object
    position and yaw and camera (0.45-0.65 m above the object, tilted 10-35 deg); the pose comes
    from ``Detector.detect`` on the whole 640x480 frame, once per pose method. Rotation errors
    are taken modulo the catalog shape's symmetries. PCK pairs: (enrolment view, held-out view)
    crops at the enrolment scale, with the chance levels."""
    from tqdm import tqdm

    from grasp_pipeline.objects import load_catalog

    entry = detector.database[name]
    model = detector._model_for(name)
    syms = symmetries(load_catalog()[name])
    rng = np.random.default_rng(seed)
    # each method's network pose, and the same detection after the depth refinement ("+depth")
    per: dict[str, list[dict]] = {}
    for m in pose_methods:
        per[m] = []
        if detector.refine:
            per[f"{m}+depth"] = []
    method0 = detector.pose_method
    try:
        for i in tqdm(range(views), desc=f"pose {name}", disable=not progress):
            v = render_object_view(name, rng)
            for m in pose_methods:
                detector.pose_method = m
                dets = detector.detect(v.rgb, v.depth, v.camera, [name])
                poses = {}
                if dets:
                    poses[m] = dets[0].extras.get("pose_network", dets[0].pose)
                    if "refinement" in dets[0].extras:
                        poses[f"{m}+depth"] = dets[0].pose
                for key in (k for k in (m, f"{m}+depth") if k in per):
                    if key not in poses:
                        per[key].append({"view": i, "detected": False})
                        continue
                    T = poses[key]
                    row = {
                        "view": i,
                        "detected": True,
                        "rotation_error_deg": rotation_error_deg(v.pose[:3, :3], T[:3, :3], syms),
                        "translation_error_mm": 1000 * translation_error_m(v.pose, T),
                        "inliers": dets[0].extras.get("inliers"),
                    }
                    if key.endswith("+depth"):
                        row["refinement"] = dets[0].extras["refinement"]
                    per[key].append(row)
    finally:
        detector.pose_method = method0
    out: dict = {"views": views, "seed": seed, "pose": {}}
    for m, rows in per.items():
        ok = [r for r in rows if r["detected"]]
        rot = [r["rotation_error_deg"] for r in ok]
        tr = [r["translation_error_mm"] for r in ok]
        # an undetected view counts as a miss at infinite error in the medians
        rot_all = rot + [np.inf] * (len(rows) - len(ok))
        tr_all = tr + [np.inf] * (len(rows) - len(ok))
        out["pose"][m] = {
            "detected": len(ok),
            "rotation_error_deg_median": float(np.median(rot_all)) if rows else None,
            "translation_error_mm_median": float(np.median(tr_all)) if rows else None,
            "within_5deg_5mm": float(
                np.mean([(r <= 5) and (t <= 5) for r, t in zip(rot_all, tr_all, strict=True)])
            ),
            "views": rows,
        }
    ref = entry.reference
    if ref is not None and pck_pairs > 0:
        scale = float(entry.meta.get("scale", 1.0))
        size = tuple(entry.meta.get("crop_size", (ref.camera.width, ref.camera.height)))
        ref_view = _reference_view(ref, entry)
        canonical = bool(entry.meta.get("canonical", False))
        pairs = held_out_pairs(
            name, pck_pairs, seed + 1, scale, size, reference=ref_view, canonical=canonical
        )
        res = evaluate_pairs(model, pairs, seed)
        out["pck"] = {k: v for k, v in res.items()}
    return out


def _reference_view(ref, entry) -> SimView:
    """The enrolment crop as a SimView (its object points from its depth and the stored pose)."""
    pose = np.asarray(entry.meta["pose_camera"]) if "pose_camera" in entry.meta else None
    if pose is None or entry.meta.get("frame") != "given pose":
        raise ValueError(f"{entry.name}: PCK needs the enrolment view's pose (meta.pose_camera)")
    depth = np.where(ref.mask, ref.depth_m, np.nan).astype(np.float32)
    pts = _object_points(depth, ref.mask, ref.camera, pose)
    d16 = np.nan_to_num(depth / ref.camera.depth_scale).astype(np.uint16)
    return SimView(ref.rgb, d16, depth, depth, ref.mask, pts, ref.camera, pose, entry.name)
