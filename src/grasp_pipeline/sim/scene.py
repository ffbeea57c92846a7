"""Random RoboCup@Work scenes: surface, textures, lighting, object placement and camera pose.

Everything is drawn from one ``numpy.random.Generator`` so a scene is a pure function of its seed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from grasp_pipeline.sim.world import (
    CONTAINER_OUTER_M,
    CONTAINER_WALL_M,
    SERVICE_AREA_HEIGHTS_M,
    Lighting,
    SimWorld,
)

if TYPE_CHECKING:
    from grasp_pipeline.geometry.camera import CameraIntrinsics
    from grasp_pipeline.sim.camera import SimCamera

TEXTURES = ("plain", "wood", "noise", "tiles")
# Work-surface base colours: light wood, dark wood, grey laminate, white, dark grey.
TABLE_COLORS = (
    (0.72, 0.58, 0.40),
    (0.45, 0.32, 0.20),
    (0.60, 0.60, 0.58),
    (0.88, 0.88, 0.85),
    (0.25, 0.25, 0.27),
)


@dataclass
class SceneConfig:
    """What random scenes contain. Lengths in metres, angles in degrees, probabilities in 0..1."""

    min_objects: int = 1
    max_objects: int = 6
    clutter_fraction: float = 0.3
    container_prob: float = 0.25
    distractor_prob: float = 0.3
    max_distractors: int = 2
    surface_heights: tuple[float, ...] = SERVICE_AREA_HEIGHTS_M
    camera_height: tuple[float, float] = (0.3, 0.7)
    camera_tilt_deg: tuple[float, float] = (0.0, 35.0)
    shadow_prob: float = 0.0
    object_in_container_prob: float = 0.5
    object_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.min_objects <= self.max_objects:
            raise ValueError(
                f"need 1 <= min_objects <= max_objects, got {self.min_objects}, {self.max_objects}"
            )
        for name in (
            "clutter_fraction",
            "container_prob",
            "distractor_prob",
            "shadow_prob",
            "object_in_container_prob",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"SceneConfig.{name} must be in [0, 1], got {value}")
        lo, hi = self.camera_height
        if not 0.1 <= lo <= hi:
            raise ValueError(
                f"SceneConfig.camera_height must be 0.1 <= lo <= hi, got {self.camera_height}"
            )
        if not self.surface_heights:
            raise ValueError("SceneConfig.surface_heights is empty")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class SceneInfo:
    """What was drawn for one scene (stored in the frame's ``meta``)."""

    surface_height: float
    texture: str
    clutter: bool
    container: str | None
    n_requested: int
    n_distractors: int
    settled: bool = True
    lighting: dict = field(default_factory=dict)


def table_texture(
    rng: np.random.Generator, kind: str, base: Sequence[float], size: int = 384
) -> np.ndarray:
    """Procedural (size, size, 3) uint8 surface texture of ``kind`` around colour ``base`` (0..1)."""
    import cv2

    if kind not in TEXTURES:
        raise ValueError(f"unknown texture {kind!r}; known: {TEXTURES}")
    base = np.asarray(base, dtype=np.float64)
    yy, xx = np.mgrid[0:size, 0:size] / size
    if kind == "plain":
        shade = np.zeros((size, size))
    elif kind == "wood":
        # grain: stripes along x, bent by low-frequency noise, with fine fibres on top
        warp = cv2.GaussianBlur(rng.standard_normal((size, size)), (0, 0), size / 8)
        warp *= 1.5 / (np.abs(warp).max() + 1e-9)
        fibres = cv2.GaussianBlur(rng.standard_normal((size, size)), (0, 0), sigmaX=8, sigmaY=0.7)
        fibres /= np.abs(fibres).max() + 1e-9
        shade = 0.1 * np.sin(2 * np.pi * (yy * rng.uniform(8, 16) + warp)) + 0.06 * fibres
    elif kind == "noise":
        shade = cv2.GaussianBlur(rng.standard_normal((size, size)), (0, 0), rng.uniform(1, 4))
        shade = 0.15 * shade / (np.abs(shade).max() + 1e-9)
    else:
        n = int(rng.integers(2, 6))
        grout = (np.mod(xx * n, 1) < 0.04) | (np.mod(yy * n, 1) < 0.04)
        shade = np.where(grout, -0.25, 0.0)
    img = np.clip(base[None, None, :] * (1.0 + shade[..., None]), 0, 1)
    return np.round(img * 255).astype(np.uint8)


def random_lighting(rng: np.random.Generator, shadow_prob: float = 0.0) -> Lighting:
    """Light from a random direction in the upper hemisphere with varied strength and tint."""
    azimuth = rng.uniform(-np.pi, np.pi)
    elevation = rng.uniform(np.radians(35), np.radians(90))
    direction = (
        math.cos(elevation) * math.cos(azimuth),
        math.cos(elevation) * math.sin(azimuth),
        math.sin(elevation),
    )
    tint = tuple(float(c) for c in np.clip(1.0 + rng.uniform(-0.08, 0.08, 3), 0, 1))
    return Lighting(
        direction=tuple(float(d) for d in direction),
        color=tint,
        ambient=float(rng.uniform(0.4, 0.8)),
        diffuse=float(rng.uniform(0.3, 0.7)),
        specular=float(rng.uniform(0.0, 0.2)),
        shadow=bool(rng.random() < shadow_prob),
    )


def _resting_pose(
    rng: np.random.Generator, x: float, y: float, z: float, tumble: bool
) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    yaw = rng.uniform(-np.pi, np.pi)
    R = Rotation.from_euler("z", yaw)
    if tumble:  # dropped in a random orientation: physics picks the resting face
        R = R * Rotation.from_euler("xy", rng.uniform(-np.pi, np.pi, 2))
    T = np.eye(4)
    T[:3, :3] = R.as_matrix()
    T[:3, 3] = (x, y, z)
    return T


def place_objects(
    world: SimWorld,
    rng: np.random.Generator,
    n_objects: int,
    clutter: bool = False,
    names: Sequence[str] | None = None,
    centre: tuple[float, float] = (0.0, 0.0),
    radius: float = 0.12,
    tumble_prob: float = 0.1,
) -> list[int]:
    """Drop ``n_objects`` catalog objects (random names unless given) near ``centre`` and settle.

    Spread scenes keep bounding circles apart; ``clutter`` places each object against an earlier
    one (slightly overlapping footprints, spawned higher) so they end up touching or leaning.
    Objects that leave the surface are removed. Returns the remaining body ids.
    """
    if n_objects < 0:
        raise ValueError(f"n_objects must be >= 0, got {n_objects}")
    pool = list(names) if names is not None else list(world.catalog.names)
    if not pool:
        raise ValueError("no object names to place")
    chosen = [pool[int(i)] for i in rng.integers(0, len(pool), n_objects)]
    placed: list[tuple[float, float, float, float]] = []  # x, y, inner and outer footprint radius
    bodies = []
    for k, name in enumerate(chosen):
        spec = world.catalog[name]
        r_in, r_out = 0.5 * min(spec.size[:2]), 0.5 * math.hypot(spec.size[0], spec.size[1])
        if clutter and placed:
            # Next to an earlier object, between "narrow sides touch" and half-way to the outer
            # radii: most land touching, some on top of their neighbour.
            px, py, pin, pout = placed[int(rng.integers(len(placed)))]
            angle = rng.uniform(-np.pi, np.pi)
            dist = rng.uniform(pin + r_in, 0.5 * (pin + r_in + pout + r_out))
            x, y = px + dist * math.cos(angle), py + dist * math.sin(angle)
            lift = 0.005 + 0.03 * k
        else:
            for _ in range(60):
                a, d = rng.uniform(-np.pi, np.pi), radius * math.sqrt(rng.random())
                x, y = centre[0] + d * math.cos(a), centre[1] + d * math.sin(a)
                if all(math.hypot(x - qx, y - qy) > qr + r_out + 0.005 for qx, qy, _, qr in placed):
                    break
            lift = 0.003
        tumble = bool(rng.random() < tumble_prob)
        z = world.surface_z + 0.5 * spec.size[2] + lift + (0.5 * max(spec.size) if tumble else 0.0)
        jitter = np.clip(np.asarray(spec.color) + rng.uniform(-0.04, 0.04, 3), 0, 1)
        bodies.append(
            world.spawn_object(name, _resting_pose(rng, x, y, z, tumble), color=tuple(jitter))
        )
        placed.append((x, y, r_in, r_out))
    world.settle(max_seconds=2.5)
    hx, hy = world.table_size[0] / 2, world.table_size[1] / 2
    kept = []
    for body in bodies:
        t = world.object_pose(body)[:3, 3]
        on_surface = abs(t[0]) <= hx and abs(t[1]) <= hy and t[2] > world.surface_z - 0.005
        if on_surface:
            kept.append(body)
        else:
            world.remove_object(body)
    return kept


def _drop_into_container(
    world: SimWorld,
    rng: np.random.Generator,
    names: Sequence[str] | None,
    box_xy: np.ndarray,
    box_yaw: float,
) -> int | None:
    """Put one random catalog object into the container (long axis along its 160 mm side)."""
    pool = list(names) if names is not None else list(world.catalog.names)
    spec = world.catalog[pool[int(rng.integers(len(pool)))]]
    z = world.surface_z + CONTAINER_WALL_M + 0.5 * spec.size[2] + 0.004
    pose = _resting_pose(rng, 0.0, 0.0, z, tumble=False)
    yaw = box_yaw + np.pi / 2 + rng.uniform(-0.2, 0.2)
    c, s = math.cos(yaw), math.sin(yaw)
    pose[:3, :3] = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    pose[:2, 3] = box_xy + rng.uniform(-0.015, 0.015, 2)
    jitter = np.clip(np.asarray(spec.color) + rng.uniform(-0.04, 0.04, 3), 0, 1)
    body = world.spawn_object(spec.name, pose, color=tuple(jitter))
    world.settle(max_seconds=1.5)
    return body


def random_camera(
    rng: np.random.Generator,
    intrinsics: CameraIntrinsics,
    target: Sequence[float],
    height: tuple[float, float],
    tilt_deg: tuple[float, float],
    noise: bool = True,
) -> SimCamera:
    """Camera ``height`` metres above ``target`` (world), tilted from vertical by ``tilt_deg``."""
    from grasp_pipeline.geometry.extrinsics import look_at
    from grasp_pipeline.sim.camera import SimCamera

    h = rng.uniform(*height)
    tilt = np.radians(rng.uniform(*tilt_deg))
    az = rng.uniform(-np.pi, np.pi)
    target = np.asarray(target, dtype=float)
    eye = target + np.array(
        [h * math.tan(tilt) * math.cos(az), h * math.tan(tilt) * math.sin(az), h]
    )
    # Image top towards the far side for tilted views; near top-down, any roll (wrist camera).
    roll = rng.uniform(-np.pi, np.pi) if tilt < np.radians(10) else rng.uniform(-0.3, 0.3)
    up_angle = az + np.pi + roll
    up = np.array([math.cos(up_angle), math.sin(up_angle), 0.0])
    pose = look_at(eye, target, up)
    return SimCamera(intrinsics, pose, noise=noise, seed=int(rng.integers(2**31)))


def build_random_scene(
    rng: np.random.Generator,
    cfg: SceneConfig,
    intrinsics: CameraIntrinsics,
    noise: bool = True,
    catalog=None,
) -> tuple[SimWorld, SimCamera, SceneInfo]:
    """A new world with a random surface, container, objects and distractors, and a camera on it.

    The caller owns the world (``world.close()``).
    """
    surface = float(cfg.surface_heights[int(rng.integers(len(cfg.surface_heights)))])
    texture = TEXTURES[int(rng.integers(len(TEXTURES)))]
    base = TABLE_COLORS[int(rng.integers(len(TABLE_COLORS)))]
    floor = tuple(float(c) for c in rng.uniform(0.2, 0.5) * np.ones(3))
    world = SimWorld(
        surface_height=surface,
        table_color=(1.0, 1.0, 1.0),
        floor_color=floor,
        table_texture=table_texture(rng, texture, base),
        catalog=catalog,
    )
    try:
        world.lighting = random_lighting(rng, cfg.shadow_prob)
        centre = rng.uniform(-0.1, 0.1, 2)
        container = None
        target_xy = np.array(centre)
        if rng.random() < cfg.container_prob:
            container = "red" if rng.random() < 0.5 else "blue"
            # beside the object area (radius 0.09 m + object half-lengths), never on top of it
            offset = rng.uniform(0.22, 0.27) * np.array(
                [rng.choice([-1.0, 1.0]), rng.uniform(-0.3, 0.3)]
            )
            box_xy, box_yaw = centre + offset, float(rng.uniform(-0.4, 0.4))
            world.add_container(container, float(box_xy[0]), float(box_xy[1]), box_yaw)
            target_xy = centre + 0.45 * offset  # keep both in view
        n = int(rng.integers(cfg.min_objects, cfg.max_objects + 1))
        clutter = bool(rng.random() < cfg.clutter_fraction) and n > 1
        n_distractors = (
            int(rng.integers(1, cfg.max_distractors + 1))
            if rng.random() < cfg.distractor_prob
            else 0
        )
        for _ in range(n_distractors):
            a, d = rng.uniform(-np.pi, np.pi), rng.uniform(0.08, 0.16)
            world.add_distractor(rng, centre[0] + d * math.cos(a), centre[1] + d * math.sin(a))
        place_objects(
            world,
            rng,
            n,
            clutter=clutter,
            names=cfg.object_names,
            centre=tuple(centre),
            radius=0.09,
        )
        if container is not None and rng.random() < cfg.object_in_container_prob:
            _drop_into_container(world, rng, cfg.object_names, box_xy, box_yaw)
        settled = world.is_resting()
        target = (float(target_xy[0]), float(target_xy[1]), world.surface_z)
        camera = random_camera(
            rng, intrinsics, target, cfg.camera_height, cfg.camera_tilt_deg, noise=noise
        )
    except BaseException:
        world.close()
        raise
    info = SceneInfo(
        surface_height=surface,
        texture=texture,
        clutter=clutter,
        container=container,
        n_requested=n,
        n_distractors=n_distractors,
        settled=settled,
        lighting=asdict(world.lighting),
    )
    return world, camera, info


__all__ = ["CONTAINER_OUTER_M", "SceneConfig", "SceneInfo", "build_random_scene", "place_objects"]
