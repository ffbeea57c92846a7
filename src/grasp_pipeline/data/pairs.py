"""Synthetic image pairs with dense correspondences from one RGB + mask + depth view.

How a pair is made (all geometry in the camera optical frame, metres; pixels (u, v)):

1. The masked source pixels are lifted to 3-D with the intrinsics and the measured depth.
2. Each view (A and B) moves the object rigidly: X' = R (X - c) + c + t, where c is the
   centroid of the object's points and R is an in-plane rotation about the viewing direction
   (up to ``rotation_deg``) combined with a small out-of-plane tilt (``tilt_deg``, this is what
   gives perspective changes). t moves the centroid sideways (``shift_frac`` of the image) and
   along the optical axis so the object's apparent size changes by a factor in ``scale_range``
   (scale s means the centroid depth becomes z / s). Depth therefore transforms exactly like the
   3-D points do: the new depth of a pixel is the z of its moved point.
3. Each view image is rendered by inverse warping: for every target pixel q the source pixel p
   with proj(X'(p)) = q is found by Newton iterations on the per-pixel forward map (started
   from the best affine fit of that map); a z-buffer of the forward-projected points keeps the
   nearest surface. Pixels where this fails are background.
4. Background (procedural or other scenes) replaces everything off the object, and the colour
   of the object is jittered independently in A and B.
5. Correspondences are a grid of source pixels tracked through both forward maps, kept when
   they land inside both images and are visible (on the mask, depth agrees with the z-buffer).
6. The relative transform A -> B (X_B = T_ab X_A) is known exactly (T_b T_a^-1) and is also
   estimated by Kabsch from the correspondences' 3-D points lifted from the two depth images.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy import ndimage

from grasp_pipeline.data.backgrounds import BackgroundBank
from grasp_pipeline.geometry.camera import CameraIntrinsics
from grasp_pipeline.geometry.windows import (
    canonical_frame,
    window_affine,
    window_camera,
    window_rgb,
    window_turn,
)


@dataclass
class PairSource:
    """One object view: rgb (H, W, 3) uint8, mask (H, W) bool, depth_m (H, W) float metres
    (NaN = missing) and the intrinsics of that image. Depth is kept on the mask only;
    ``support_normal`` (camera frame, towards the camera) is the surface the object rests on,
    when whoever had the whole depth image measured it (crops keep it: they do not turn the
    camera)."""

    rgb: np.ndarray
    mask: np.ndarray
    depth_m: np.ndarray
    camera: CameraIntrinsics
    name: str = "object"
    support_normal: np.ndarray | None = None

    def __post_init__(self) -> None:
        h, w = self.camera.height, self.camera.width
        if self.rgb.shape != (h, w, 3) or self.rgb.dtype != np.uint8:
            raise ValueError(
                f"{self.name}: rgb must be ({h}, {w}, 3) uint8, got {self.rgb.shape} {self.rgb.dtype}"
            )
        if self.mask.shape != (h, w):
            raise ValueError(f"{self.name}: mask must be ({h}, {w}), got {self.mask.shape}")
        if self.depth_m.shape != (h, w):
            raise ValueError(f"{self.name}: depth must be ({h}, {w}), got {self.depth_m.shape}")
        self.mask = self.mask.astype(bool)
        depth = self.depth_m.astype(np.float64)
        good = self.mask & np.isfinite(depth) & (depth > 0)
        if good.sum() < 3:
            raise ValueError(f"{self.name}: fewer than 3 mask pixels with valid depth")
        # Holes in the object's depth (sensor dropouts) take the nearest valid value so the
        # whole mask can be warped.
        _, idx = ndimage.distance_transform_edt(~good, return_indices=True)
        filled = depth[idx[0], idx[1]]
        self.depth_m = np.where(self.mask, filled, np.nan)

    @classmethod
    def from_frame(cls, frame, instance_id: int | None = None) -> PairSource:
        """Source from a dataset :class:`~grasp_pipeline.data.format.Frame`; the instance with
        the most visible pixels when ``instance_id`` is None."""
        from grasp_pipeline.geometry.camera import depth_to_metres

        ids = [o.instance_id for o in frame.objects]
        if instance_id is None:
            if not ids:
                raise ValueError(f"frame {frame.frame_id} has no objects")
            instance_id = max(frame.objects, key=lambda o: o.visible_pixels).instance_id
        mask = frame.instance_mask == instance_id
        if not mask.any():
            raise ValueError(f"frame {frame.frame_id}: instance {instance_id} has no mask pixels")
        label = next((o.label for o in frame.objects if o.instance_id == instance_id), "object")
        return cls(frame.rgb, mask, depth_to_metres(frame.depth, frame.camera), frame.camera, label)

    def crop(
        self,
        centre_uv: tuple[float, float],
        scale: float,
        size: tuple[int, int],
        angle: float = 0.0,
    ) -> PairSource:
        """The ``size`` (width, height) window resized by ``scale`` (window pixels per source
        pixel) centred on ``centre_uv`` and turned by ``angle`` (:mod:`~grasp_pipeline.geometry.
        windows`): intrinsics follow, and the support normal turns with the window's frame
        (camera-frame points map into it by ``window_turn(angle)``)."""
        M = window_affine(centre_uv, scale, size, angle)
        dsize = (int(size[0]), int(size[1]))
        rgb = window_rgb(self.rgb, M, size)
        mask = cv2.warpAffine(self.mask.astype(np.uint8), M, dsize, flags=cv2.INTER_NEAREST) > 0
        depth = cv2.warpAffine(
            np.nan_to_num(self.depth_m).astype(np.float32), M, dsize, flags=cv2.INTER_NEAREST
        )
        cam = window_camera(self.camera, centre_uv, scale, size, angle)
        normal = self.support_normal
        if normal is not None:
            normal = window_turn(angle) @ np.asarray(normal, float)
        return PairSource(
            rgb, mask, np.where(mask & (depth > 0), depth, np.nan), cam, self.name, normal
        )

    def crop_around_object(self, width: int, height: int, margin: float = 0.6) -> PairSource:
        """A ``width`` x ``height`` view centred on the object: a window with that aspect ratio
        around the mask's bounding box (grown by ``margin`` of its size), resized. Intrinsics
        follow the crop and the resize."""
        vs, us = np.nonzero(self.mask)
        cu, cv = (us.min() + us.max()) / 2, (vs.min() + vs.max()) / 2
        size = max((us.max() - us.min() + 1) / width, (vs.max() - vs.min() + 1) / height) * (
            1 + margin
        )
        cw, ch = size * width, size * height
        x0, y0 = cu - cw / 2 + 0.5, cv - ch / 2 + 0.5  # crop corner in source pixel-edge coords
        sx, sy = width / cw, height / ch
        # Affine source -> crop, pixel-centre convention: u' = (u + 0.5 - x0) * s - 0.5.
        M = np.array([[sx, 0, (0.5 - x0) * sx - 0.5], [0, sy, (0.5 - y0) * sy - 0.5]])
        flags = cv2.INTER_AREA if sx < 1 else cv2.INTER_LINEAR
        rgb = cv2.warpAffine(
            self.rgb, M, (width, height), flags=flags, borderMode=cv2.BORDER_REFLECT
        )
        mask = (
            cv2.warpAffine(self.mask.astype(np.uint8), M, (width, height), flags=cv2.INTER_NEAREST)
            > 0
        )
        depth = cv2.warpAffine(
            np.nan_to_num(self.depth_m).astype(np.float32),
            M,
            (width, height),
            flags=cv2.INTER_NEAREST,
        )
        cam = CameraIntrinsics(
            width,
            height,
            float(self.camera.fx * sx),
            float(self.camera.fy * sy),
            float((self.camera.cx + 0.5 - x0) * sx - 0.5),
            float((self.camera.cy + 0.5 - y0) * sy - 0.5),
            self.camera.depth_scale,
            self.camera.model,
        )
        depth = np.where(mask & (depth > 0), depth, np.nan)
        return PairSource(rgb, mask, depth, cam, self.name, self.support_normal)


@dataclass
class PairConfig:
    """Augmentation ranges; angles in degrees, shift as a fraction of the image size."""

    rotation_deg: float = 180.0
    tilt_deg: float = 10.0
    shift_frac: float = 0.15
    scale_range: tuple[float, float] = (0.8, 1.25)
    colour_jitter: bool = True
    brightness: float = 0.25
    contrast: float = 0.25
    saturation: float = 0.25
    hue_deg: float = 8.0
    # Added for held-out lighting (not in the paper): a linear brightness ramp across the object
    # of up to +-``shading`` (multiplicative), sensor noise of ``noise_sigma`` grey levels on the
    # whole image and a Gaussian blur (sigma 0.3-1 px) with probability ``blur_prob``.
    shading: float = 0.0
    noise_sigma: float = 0.0
    blur_prob: float = 0.0
    grid_step: int = 2  # source-pixel spacing of the tracked correspondence grid
    min_correspondences: int = 16
    newton_iterations: int = 6
    max_residual_px: float = 0.3
    visibility_tol_m: float = 0.004
    # Added (not in the paper): each view turned in the image plane to its mask's own direction
    # (geometry.windows.canonical_frame), as the detector cuts windows of enrolled parts.
    canonical: bool = False

    def __post_init__(self) -> None:
        lo, hi = self.scale_range
        if not 0 < lo <= hi:
            raise ValueError(f"scale_range must satisfy 0 < lo <= hi, got {self.scale_range}")
        if self.grid_step < 1:
            raise ValueError(f"grid_step must be >= 1, got {self.grid_step}")


@dataclass
class View:
    rgb: np.ndarray  # (H, W, 3) uint8 with background
    depth_m: np.ndarray  # (H, W) float32 metres, NaN off the object
    mask: np.ndarray  # (H, W) bool
    forward: np.ndarray  # (H, W, 2) where each source pixel lands (NaN off the source mask)
    points: np.ndarray  # (H, W, 3) moved 3-D point of each source pixel (camera frame)
    transform: np.ndarray  # (4, 4) source camera frame -> this view (X' = T X)


@dataclass
class SyntheticPair:
    rgb_a: np.ndarray
    rgb_b: np.ndarray
    depth_a: np.ndarray  # (H, W) float32 metres, NaN off the object
    depth_b: np.ndarray
    mask_a: np.ndarray
    mask_b: np.ndarray
    uv_a: np.ndarray  # (M, 2) float32 pixels in A
    uv_b: np.ndarray  # (M, 2) float32 pixels in B; uv_a[i] and uv_b[i] show the same point
    T_ab: np.ndarray  # (4, 4) true A -> B transform: X_B = T_ab X_A (camera frames)
    T_ab_kabsch: np.ndarray  # (4, 4) Kabsch estimate from the correspondences' depth points
    camera: CameraIntrinsics
    extras: dict = field(default_factory=dict)


def _rot(axis: np.ndarray, angle: float) -> np.ndarray:
    return cv2.Rodrigues((np.asarray(axis, float) / np.linalg.norm(axis) * angle).reshape(3, 1))[0]


def sample_view_transform(
    source: PairSource, cfg: PairConfig, rng: np.random.Generator
) -> np.ndarray:
    """A random rigid motion (4x4, source camera frame) following the ranges in ``cfg``."""
    cam = source.camera
    pts = _lift(source)[source.mask]
    c = pts.mean(0)
    roll = np.deg2rad(rng.uniform(-cfg.rotation_deg, cfg.rotation_deg))
    tilt_axis = np.array([np.cos(a := rng.uniform(0, 2 * np.pi)), np.sin(a), 0.0])
    tilt = np.deg2rad(rng.uniform(0, cfg.tilt_deg))
    R = (
        _rot(np.array([0.0, 0.0, 1.0]), roll) @ _rot(tilt_axis, tilt)
        if tilt > 0
        else _rot([0, 0, 1.0], roll)
    )
    lo, hi = cfg.scale_range
    s = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    z_new = c[2] / s
    uc = cam.fx * c[0] / c[2] + cam.cx + rng.uniform(-1, 1) * cfg.shift_frac * cam.width
    vc = cam.fy * c[1] / c[2] + cam.cy + rng.uniform(-1, 1) * cfg.shift_frac * cam.height
    uc, vc = np.clip(uc, 0, cam.width - 1), np.clip(vc, 0, cam.height - 1)
    c_new = np.array([(uc - cam.cx) / cam.fx * z_new, (vc - cam.cy) / cam.fy * z_new, z_new])
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = c_new - R @ c
    return T


def _lift(source: PairSource) -> np.ndarray:
    cam = source.camera
    v, u = np.mgrid[0 : cam.height, 0 : cam.width].astype(np.float64)
    z = source.depth_m
    return np.stack([(u - cam.cx) / cam.fx * z, (v - cam.cy) / cam.fy * z, z], -1)


def _remap(img: np.ndarray, p: np.ndarray, interp: int = cv2.INTER_LINEAR) -> np.ndarray:
    return cv2.remap(
        img,
        p[..., 0].astype(np.float32),
        p[..., 1].astype(np.float32),
        interp,
        borderMode=cv2.BORDER_REPLICATE,
    )


def warp_view(source: PairSource, T: np.ndarray, cfg: PairConfig) -> View:
    """Render the source object moved by ``T`` (without background or colour jitter: the
    object pixels are the source colours, everything else is 0)."""
    cam, m = source.camera, source.mask
    h, w = cam.height, cam.width
    X = _lift(source)
    Xp = X @ T[:3, :3].T + T[:3, 3]
    front = m & (Xp[..., 2] > 1e-6)
    if front.sum() < 3:
        raise ValueError(f"{source.name}: the object moved behind the camera")
    zp = np.where(front, Xp[..., 2], np.nan)
    q = np.stack([cam.fx * Xp[..., 0] / zp + cam.cx, cam.fy * Xp[..., 1] / zp + cam.cy], -1)
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    p_grid = np.stack([u, v], -1)
    # Affine fit q ~ A p + b over the object: initial guess and Newton step for inversion.
    P1 = np.concatenate([p_grid[front], np.ones((front.sum(), 1))], 1)
    coef, *_ = np.linalg.lstsq(P1, q[front], rcond=None)  # (3, 2)
    A, b = coef[:2].T, coef[2]
    A_inv = np.linalg.inv(A)
    ext = p_grid @ A.T + b
    g = np.where(front[..., None], q, ext).astype(np.float32)
    _, idx = ndimage.distance_transform_edt(~front, return_indices=True)
    z_ext = zp[idx[0], idx[1]].astype(np.float32)
    p = (p_grid - b) @ A_inv.T
    for _ in range(cfg.newton_iterations):
        p = p - (_remap(g, p) - p_grid) @ A_inv.T
    residual = np.linalg.norm(_remap(g, p) - p_grid, axis=-1)
    inside = (
        (p[..., 0] >= -0.5) & (p[..., 0] <= w - 0.5) & (p[..., 1] >= -0.5) & (p[..., 1] <= h - 0.5)
    )
    on_obj = _remap(front.astype(np.float32), p) > 0.5
    depth = _remap(z_ext, p)
    # z-buffer of forward-projected points keeps the nearest surface where several map to q.
    zbuf = np.full((h, w), np.inf)
    qi = np.round(q[front]).astype(int)
    ok = (qi[:, 0] >= 0) & (qi[:, 0] < w) & (qi[:, 1] >= 0) & (qi[:, 1] < h)
    np.minimum.at(zbuf, (qi[ok, 1], qi[ok, 0]), zp[front][ok])
    zbuf = ndimage.grey_erosion(zbuf, size=3)  # forward splats leave gaps when magnifying
    visible = depth <= zbuf + cfg.visibility_tol_m + 0.02 * depth
    mask = inside & on_obj & (residual < cfg.max_residual_px) & visible
    rgb = _remap(source.rgb, p)
    rgb[~mask] = 0
    q[~front] = np.nan
    return View(rgb, np.where(mask, depth, np.nan).astype(np.float32), mask, q, Xp, T)


def _view(source: PairSource, T: np.ndarray, cfg: PairConfig) -> View:
    """The source moved by ``T``; with ``cfg.canonical`` then turned about the viewing
    direction through the object's centroid so that its mask points along +u, as a window cut
    at the mask's canonical angle shows it."""
    view = warp_view(source, T, cfg)
    if not cfg.canonical or view.mask.sum() < 3:
        return view
    c = T[:3, :3] @ _lift(source)[source.mask].mean(0) + T[:3, 3]
    turn = np.eye(4)
    turn[:3, :3] = window_turn(canonical_frame(view.mask)[1])
    turn[:3, 3] = c - turn[:3, :3] @ c
    return warp_view(source, turn @ T, cfg)


def _sample_bilinear(img: np.ndarray, uv: np.ndarray) -> np.ndarray:
    return ndimage.map_coordinates(img, [uv[:, 1], uv[:, 0]], order=1, mode="nearest")


def _visible(view: View, src_px: np.ndarray, cfg: PairConfig) -> tuple[np.ndarray, np.ndarray]:
    h, w = view.mask.shape
    uv = view.forward[src_px[:, 1], src_px[:, 0]]
    z = view.points[src_px[:, 1], src_px[:, 0], 2]
    ok = (
        np.isfinite(uv).all(1)
        & (uv[:, 0] >= 0)
        & (uv[:, 0] <= w - 1)
        & (uv[:, 1] >= 0)
        & (uv[:, 1] <= h - 1)
    )
    ri = np.round(np.nan_to_num(uv)).astype(int)
    ri[:, 0], ri[:, 1] = ri[:, 0].clip(0, w - 1), ri[:, 1].clip(0, h - 1)
    ok &= view.mask[ri[:, 1], ri[:, 0]]
    d = view.depth_m[ri[:, 1], ri[:, 0]]
    ok &= np.abs(np.nan_to_num(d, nan=np.inf) - z) < cfg.visibility_tol_m + 0.02 * z
    return uv, ok


def _jitter(
    rgb: np.ndarray, mask: np.ndarray, cfg: PairConfig, rng: np.random.Generator
) -> np.ndarray:
    img = rgb.astype(np.float32)
    img *= 1 + rng.uniform(-cfg.brightness, cfg.brightness)
    mean = img[mask].mean() if mask.any() else img.mean()
    img = (img - mean) * (1 + rng.uniform(-cfg.contrast, cfg.contrast)) + mean
    grey = img.mean(-1, keepdims=True)
    img = grey + (img - grey) * (1 + rng.uniform(-cfg.saturation, cfg.saturation))
    img = np.clip(img, 0, 255).astype(np.uint8)
    if cfg.hue_deg > 0:
        hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)
        shift = round(rng.uniform(-cfg.hue_deg, cfg.hue_deg) / 2)  # OpenCV hue is 0..179
        hsv[..., 0] = ((hsv[..., 0].astype(int) + shift) % 180).astype(np.uint8)
        img = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    if cfg.shading > 0 and mask.any():
        h, w = mask.shape
        v, u = np.mgrid[0:h, 0:w].astype(np.float32)
        a = rng.uniform(0, 2 * np.pi)
        t = (np.cos(a) * u + np.sin(a) * v) / max(h, w)  # about -1..1 across the image
        t = t - t[mask].mean()
        ramp = 1 + rng.uniform(0, cfg.shading) * t / max(float(np.abs(t[mask]).max()), 1e-6)
        img = np.clip(img.astype(np.float32) * ramp[..., None], 0, 255).astype(np.uint8)
    return np.where(mask[..., None], img, rgb)


def _sensor(rgb: np.ndarray, cfg: PairConfig, rng: np.random.Generator) -> np.ndarray:
    """Blur and noise on the whole composed image (object and background alike)."""
    img = rgb
    if cfg.blur_prob > 0 and rng.random() < cfg.blur_prob:
        img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.3, 1.0)))
    if cfg.noise_sigma > 0:
        noisy = img.astype(np.float32) + rng.standard_normal(img.shape).astype(np.float32) * (
            cfg.noise_sigma * rng.uniform(0, 1)
        )
        img = np.clip(np.round(noisy), 0, 255).astype(np.uint8)
    return img


def kabsch_relative_transform(
    pair_uv_a: np.ndarray,
    pair_uv_b: np.ndarray,
    depth_a: np.ndarray,
    depth_b: np.ndarray,
    camera: CameraIntrinsics,
) -> np.ndarray:
    """X_B = T X_A (4x4) by Kabsch on correspondences lifted with the depth images (metres)."""
    from grasp_pipeline.geometry.kabsch import kabsch

    za, zb = _sample_bilinear(depth_a, pair_uv_a), _sample_bilinear(depth_b, pair_uv_b)
    ok = np.isfinite(za) & np.isfinite(zb) & (za > 0) & (zb > 0)
    if ok.sum() < 3:
        raise ValueError("fewer than 3 correspondences with depth in both views")
    K_inv = np.linalg.inv(camera.K)
    ha = np.concatenate([pair_uv_a[ok], np.ones((ok.sum(), 1))], 1) @ K_inv.T * za[ok, None]
    hb = np.concatenate([pair_uv_b[ok], np.ones((ok.sum(), 1))], 1) @ K_inv.T * zb[ok, None]
    return kabsch(ha, hb)


def make_pair(
    source: PairSource,
    cfg: PairConfig,
    rng: np.random.Generator,
    backgrounds: BackgroundBank | None = None,
    max_tries: int = 10,
) -> SyntheticPair:
    """One synthetic pair with correspondences and the relative transform; see the module doc."""
    cam = source.camera
    bank = backgrounds or BackgroundBank()
    vs, us = np.mgrid[0 : cam.height : cfg.grid_step, 0 : cam.width : cfg.grid_step]
    grid = np.stack([us.ravel(), vs.ravel()], 1)
    grid = grid[source.mask[grid[:, 1], grid[:, 0]]]
    for _ in range(max_tries):
        va = _view(source, sample_view_transform(source, cfg, rng), cfg)
        vb = _view(source, sample_view_transform(source, cfg, rng), cfg)
        uv_a, ok_a = _visible(va, grid, cfg)
        uv_b, ok_b = _visible(vb, grid, cfg)
        ok = ok_a & ok_b
        if ok.sum() >= cfg.min_correspondences:
            break
    else:
        raise ValueError(
            f"{source.name}: could not make a pair with >= {cfg.min_correspondences} correspondences"
        )
    uv_a, uv_b = uv_a[ok].astype(np.float32), uv_b[ok].astype(np.float32)
    T_ab = vb.transform @ np.linalg.inv(va.transform)
    T_k = kabsch_relative_transform(uv_a, uv_b, va.depth_m, vb.depth_m, cam)
    rgbs = []
    for view in (va, vb):
        obj = _jitter(view.rgb, view.mask, cfg, rng) if cfg.colour_jitter else view.rgb
        bg = bank.sample(rng, cam.height, cam.width)
        rgbs.append(_sensor(np.where(view.mask[..., None], obj, bg), cfg, rng))
    return SyntheticPair(
        rgbs[0],
        rgbs[1],
        va.depth_m,
        vb.depth_m,
        va.mask,
        vb.mask,
        uv_a,
        uv_b,
        T_ab,
        T_k,
        cam,
        {"source": source.name, "source_px": grid[ok], "T_a": va.transform, "T_b": vb.transform},
    )
