"""Procedurally rendered textured boxes: exact RGB, depth, mask and surface coordinates.

A small analytic ray caster used where a scene renderer is not needed (tests of the synthetic
pair generator, CPU benchmarks): every pixel ray is intersected with an oriented box (slab
method), so depth and the hit point in the object frame are exact. The texture is a function of
the object-frame surface point, so two renders of the same box at different poses show the same
surface point with the same colour.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from grasp_pipeline.geometry.camera import CameraIntrinsics


@dataclass
class TexturedBox:
    """A box centred at its origin with edge lengths ``size`` (x, y, z) metres and a texture seed."""

    size: tuple[float, float, float]
    seed: int = 0

    def __post_init__(self) -> None:
        if len(self.size) != 3 or min(self.size) <= 0:
            raise ValueError(f"box size must be three positive lengths, got {self.size}")
        rng = np.random.default_rng(self.seed)
        self._face_colours = rng.uniform(40, 230, size=(6, 3))
        self._freqs = rng.uniform(20.0, 60.0, size=(3, 3))  # cycles per metre, per channel/axis
        self._phases = rng.uniform(0, 2 * np.pi, size=(3, 3))

    def texture(self, points: np.ndarray, face: np.ndarray) -> np.ndarray:
        """Colour (..., 3) float in 0..255 of object-frame surface points on face index 0..5."""
        base = self._face_colours[face]
        wave = np.zeros((*points.shape[:-1], 3))
        for c in range(3):
            arg = (points * self._freqs[c]).sum(-1) + self._phases[c].sum()
            wave[..., c] = np.sin(arg) + 0.5 * np.sin(2.3 * arg + self._phases[c, 0])
        return np.clip(base + 45.0 * wave, 0, 255)


@dataclass
class BoxRender:
    rgb: np.ndarray  # (H, W, 3) uint8
    depth: np.ndarray  # (H, W) uint16 in camera.depth_scale units, 0 = no object
    depth_m: np.ndarray  # (H, W) float32 metres, NaN = no object (exact, not quantised)
    mask: np.ndarray  # (H, W) bool
    object_points: np.ndarray  # (H, W, 3) float64 hit point in the object frame, NaN off the box


def render_box(
    box: TexturedBox,
    pose_camera: np.ndarray,
    camera: CameraIntrinsics,
    background: np.ndarray | None = None,
) -> BoxRender:
    """Ray-cast ``box`` at ``pose_camera`` (4x4 object -> camera optical frame).

    ``background`` (H, W, 3) uint8 fills pixels that miss the box (default mid grey).
    """
    T = np.asarray(pose_camera, dtype=np.float64)
    if T.shape != (4, 4):
        raise ValueError(f"pose_camera must be 4x4, got {T.shape}")
    h, w = camera.height, camera.width
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    rays = np.stack([(u - camera.cx) / camera.fx, (v - camera.cy) / camera.fy, np.ones_like(u)], -1)
    R, t = T[:3, :3], T[:3, 3]
    origin = -R.T @ t  # camera centre in the object frame
    dirs = rays @ R  # (H, W, 3) = R^T d per pixel
    half = np.asarray(box.size, dtype=np.float64) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = (-half - origin) / dirs
        t2 = (half - origin) / dirs
    tmin = np.nanmax(np.minimum(t1, t2), axis=-1)
    tmax = np.nanmin(np.maximum(t1, t2), axis=-1)
    hit = (tmax >= tmin) & (tmin > 0)
    s = np.where(hit, tmin, np.nan)  # ray parameter = depth, since rays have z = 1
    pts = origin + dirs * s[..., None]
    # Face: the axis whose slab was entered last, with its sign.
    entry = np.minimum(t1, t2)
    axis = np.argmax(np.nan_to_num(entry, nan=-np.inf), axis=-1)
    sign = np.take_along_axis(pts, axis[..., None], -1)[..., 0] > 0
    face = np.where(hit, axis * 2 + sign, 0)
    colour = box.texture(np.nan_to_num(pts), face)
    if background is None:
        rgb = np.full((h, w, 3), 128.0)
    else:
        if background.shape != (h, w, 3):
            raise ValueError(f"background must be ({h}, {w}, 3), got {background.shape}")
        rgb = background.astype(np.float64)
    rgb = np.where(hit[..., None], colour, rgb)
    depth_m = s.astype(np.float32)
    depth = np.where(hit, np.round(s / camera.depth_scale), 0).astype(np.uint16)
    pts[~hit] = np.nan
    return BoxRender(np.clip(np.round(rgb), 0, 255).astype(np.uint8), depth, depth_m, hit, pts)


def look_pose(
    distance: float,
    roll: float = 0.0,
    pitch: float = 0.0,
    yaw: float = 0.0,
    offset: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
    """Object -> camera pose: object at ``distance`` m on the optical axis (plus ``offset`` x, y),
    rotated by roll/pitch/yaw (radians, applied as Rz(yaw) Ry(pitch) Rx(roll))."""
    cr, sr, cp, sp, cy, sy = (
        np.cos(roll),
        np.sin(roll),
        np.cos(pitch),
        np.sin(pitch),
        np.cos(yaw),
        np.sin(yaw),
    )
    rx = np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
    ry = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
    rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]])
    T = np.eye(4)
    T[:3, :3] = rz @ ry @ rx
    T[:3, 3] = [offset[0], offset[1], distance]
    return T
