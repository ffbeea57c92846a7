"""The one builder of random RoboCup@Work scenes: training data, hold-out data and demo scenes.

:func:`build_scene` (alias of :func:`build_random_scene`) makes a new world from a
:class:`SceneConfig`: a service area at a RoboCup height (0/5/10/15 cm) with a procedural surface
texture and random lighting, objects drawn from a catalog pool (default: the catalog's default
pool, the rulebook's set), optional decoys (catalog objects from outside the pool, annotated with
their own class), non-catalog clutter (never annotated), spread scenes or touching piles, a
container, and a RealSense camera (the intrinsics the caller gives: D435 or SR300 at 640x480)
looking at the scene from a random height and tilt.

:func:`populate_final_scene` fills a world with the competition layout instead (the "final"
scenario: four service areas of the four rulebook heights, ten task objects and eight decoys on
them, and the ordered list of picks), see its docstring.

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
    object_names: tuple[str, ...] | None = None  # the objects to draw from; overrides ``pool``
    pool: str | None = None  # catalog pool to draw from; None = the catalog's default pool
    decoy_prob: float = 0.0  # chance that a scene also holds catalog objects from outside it
    max_decoys: int = 2
    decoy_pool: str | None = None  # where decoys come from; None = every object not drawn from

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
            "decoy_prob",
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
        if self.max_decoys < 0 or self.max_distractors < 0:
            raise ValueError("SceneConfig.max_decoys and max_distractors must be >= 0")

    def names(self, catalog) -> list[str]:
        """The object names scenes draw from (``object_names``, else ``pool``'s)."""
        if self.object_names is not None:
            unknown = [n for n in self.object_names if n not in catalog]
            if unknown:
                raise ValueError(f"SceneConfig.object_names: unknown objects {unknown}")
            return list(self.object_names)
        return catalog.pool(self.pool)

    def decoy_names(self, catalog) -> list[str]:
        """The catalog objects decoys are drawn from (never one of :meth:`names`)."""
        drawn = set(self.names(catalog))
        base = catalog.pool(self.decoy_pool) if self.decoy_pool else catalog.names
        return [n for n in base if n not in drawn]

    def classes(self, catalog) -> list[str]:
        """Catalog names whose class indices a scene's masks can hold, in channel order
        (``catalog.names[:C]``, C the highest class index of the objects and decoys)."""
        names = self.names(catalog)
        if self.decoy_prob > 0:
            names = names + self.decoy_names(catalog)
        return catalog.names[: catalog.num_classes(names)]

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
    pool: list[str] = field(default_factory=list)  # the names objects were drawn from
    objects: list[str] = field(default_factory=list)  # placed objects of the pool, by name
    decoys: list[str] = field(default_factory=list)  # placed catalog objects from outside it
    distractor_kinds: list[str] = field(default_factory=list)  # non-catalog clutter


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
    extra: Sequence[str] = (),
) -> list[int]:
    """Drop ``n_objects`` catalog objects drawn from ``names`` (default: every catalog object),
    then the objects named in ``extra``, near ``centre`` (world x, y, metres) and settle.

    Spread scenes keep bounding circles apart; ``clutter`` places each object against an earlier
    one (slightly overlapping footprints, spawned higher) so they end up touching or leaning.
    Objects that leave the surface are removed. Returns the remaining body ids.
    """
    if n_objects < 0:
        raise ValueError(f"n_objects must be >= 0, got {n_objects}")
    pool = list(names) if names is not None else list(world.catalog.names)
    if not pool and n_objects:
        raise ValueError("no object names to place")
    chosen = [pool[int(i)] for i in rng.integers(0, len(pool), n_objects)] if pool else []
    chosen += list(extra)
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
    """Put one random catalog object into the container (long axis along its 160 mm side);
    nothing when no object of ``names`` fits inside."""
    pool = list(names) if names is not None else list(world.catalog.names)
    inner = min(CONTAINER_OUTER_M[:2]) - 2 * CONTAINER_WALL_M - 0.01
    pool = [n for n in pool if world.catalog[n].size[1] < inner]
    if not pool:
        return None
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
    """A new world (surface, container, pool objects, decoys, clutter) and a camera on it.

    The one scene builder of the package: dataset generation, the hold-out benchmark and demo
    scenes call it. ``intrinsics``: the camera (``geometry.camera.preset("d435"|"sr300")``);
    ``noise``: the camera's depth/colour noise. The caller owns the world (``world.close()``).
    """
    if catalog is None:
        from grasp_pipeline.objects import load_catalog

        catalog = load_catalog()
    names = cfg.names(catalog)
    decoy_pool = cfg.decoy_names(catalog) if cfg.decoy_prob > 0 else []
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
            if cfg.max_distractors and rng.random() < cfg.distractor_prob
            else 0
        )
        kinds = []
        for _ in range(n_distractors):
            a, d = rng.uniform(-np.pi, np.pi), rng.uniform(0.08, 0.16)
            body = world.add_distractor(
                rng, centre[0] + d * math.cos(a), centre[1] + d * math.sin(a)
            )
            kinds.append(world.distractor_kinds[body])
        decoys: list[str] = []
        if decoy_pool and cfg.max_decoys and rng.random() < cfg.decoy_prob:
            k = int(rng.integers(1, cfg.max_decoys + 1))
            decoys = [decoy_pool[int(i)] for i in rng.integers(0, len(decoy_pool), k)]
        bodies = place_objects(
            world,
            rng,
            n,
            clutter=clutter,
            names=names,
            centre=tuple(centre),
            radius=0.09,
            extra=decoys,
        )
        if container is not None and rng.random() < cfg.object_in_container_prob:
            extra = _drop_into_container(world, rng, names, box_xy, box_yaw)
            if extra is not None:
                bodies.append(extra)
        settled = world.is_resting()
        target = (float(target_xy[0]), float(target_xy[1]), world.surface_z)
        camera = random_camera(
            rng, intrinsics, target, cfg.camera_height, cfg.camera_tilt_deg, noise=noise
        )
    except BaseException:
        world.close()
        raise
    placed = [world.objects[b].spec.name for b in bodies if b in world.objects]
    pool_set = set(names)
    info = SceneInfo(
        surface_height=surface,
        texture=texture,
        clutter=clutter,
        container=container,
        n_requested=n,
        n_distractors=n_distractors,
        settled=settled,
        lighting=asdict(world.lighting),
        pool=list(names),
        objects=[p for p in placed if p in pool_set],
        decoys=[p for p in placed if p not in pool_set],
        distractor_kinds=kinds,
    )
    return world, camera, info


build_scene = build_random_scene


# ---------------------------------------------------------------------------- the final scenario
FINAL_N_TASKS = 10  # task objects (distinct names: a pick is judged by label)
FINAL_N_DECOYS = 8  # catalog objects no pick asks for
FINAL_AREA_PITCH_M = 1.0  # service areas stand in a row along world y, this far apart
FINAL_GAP_M = 0.01  # at least this much free space between two objects' footprints
# Where a robot standing at a service area (its base where ROBOT_BASE puts it relative to the
# area's centre) places and picks objects, area frame (x towards the far edge, metres):
# the Panda a box in front of it, the youBot an annulus sector around its arm's first joint
# (top-down reach 0.13-0.28 m from it, see grasp_execution.ROBOT_BASE).
FINAL_REGIONS = {
    "franka": {"box": ((-0.15, 0.15), (-0.17, 0.17))},
    "youbot": {"annulus": ((-0.44, 0.0), (0.15, 0.26), 55.0)},
}


@dataclass
class ServiceArea:
    """One work surface of the final: ``name``, ``centre`` (world x, y, m), ``height`` (m)."""

    name: str
    centre: tuple[float, float]
    height: float


@dataclass
class FinalObject:
    """A catalog object of the final: PyBullet ``body``, catalog ``name``, index of its
    ``area``, and whether it is a ``decoy`` (no pick asks for it)."""

    body: int
    name: str
    area: int
    decoy: bool


@dataclass
class FinalScene:
    """What :func:`populate_final_scene` built: the areas, the objects, and ``tasks``, the
    picks in order as (object name, area index)."""

    areas: list[ServiceArea]
    objects: list[FinalObject]
    tasks: list[tuple[str, int]]

    def to_dict(self) -> dict:
        return {
            "areas": [asdict(a) for a in self.areas],
            "objects": [asdict(o) for o in self.objects],
            "tasks": [{"object": n, "area": a} for n, a in self.tasks],
        }


def final_areas(main_height: float) -> list[ServiceArea]:
    """The four service areas: area 0 is the world's main surface (``main_height`` m, at the
    origin), then the other rulebook heights (lowest first) in a row along world y."""
    others = [h for h in SERVICE_AREA_HEIGHTS_M if abs(h - main_height) > 1e-6][:3]
    heights = [float(main_height), *others]
    return [
        ServiceArea(f"WS{k + 1:02d}", (0.0, k * FINAL_AREA_PITCH_M), h)
        for k, h in enumerate(heights)
    ]


def _final_xy(rng: np.random.Generator, robot: str) -> tuple[float, float]:
    """A random object position in ``robot``'s region (area frame, m; FINAL_REGIONS)."""
    region = FINAL_REGIONS[robot]
    if "box" in region:
        (x0, x1), (y0, y1) = region["box"]
        return float(rng.uniform(x0, x1)), float(rng.uniform(y0, y1))
    (ox, oy), (r0, r1), max_deg = region["annulus"]
    r = math.sqrt(rng.uniform(r0**2, r1**2))
    a = math.radians(rng.uniform(-max_deg, max_deg))
    return ox + r * math.cos(a), oy + r * math.sin(a)


def footprint(x: float, y: float, yaw: float, size: Sequence[float]) -> np.ndarray:
    """Corners (4, 2) of an object's bounding box seen from above (lying flat, yaw rad)."""
    c, s = math.cos(yaw), math.sin(yaw)
    hx, hy = 0.5 * size[0], 0.5 * size[1]
    local = np.array([[hx, hy], [-hx, hy], [-hx, -hy], [hx, -hy]])
    return local @ np.array([[c, s], [-s, c]]) + np.array([x, y])


def footprints_overlap(a: np.ndarray, b: np.ndarray, gap: float = 0.0) -> bool:
    """Whether two convex footprints (corners (N, 2), m) come closer than ``gap`` (separating
    axis test on their edge normals)."""
    for poly in (a, b):
        for i in range(len(poly)):
            edge = poly[(i + 1) % len(poly)] - poly[i]
            n = np.array([-edge[1], edge[0]]) / (np.linalg.norm(edge) + 1e-12)
            pa, pb = a @ n, b @ n
            if pa.max() + gap <= pb.min() or pb.max() + gap <= pa.min():
                return False
    return True


def populate_final_scene(
    world: SimWorld,
    rng: np.random.Generator,
    robot: str,
    names: Sequence[str] | None = None,
    n_tasks: int = FINAL_N_TASKS,
    n_decoys: int = FINAL_N_DECOYS,
) -> FinalScene:
    """The final's layout in ``world`` (its objects, containers and extra surfaces cleared):
    four service areas (:func:`final_areas`: the main surface and three more at the other
    rulebook heights), ``n_tasks`` task objects with distinct names drawn from ``names``
    (default: the catalog's default pool, the rulebook's set) and ``n_decoys`` decoys (catalog
    objects whose names no task asks for), dealt over the areas in turn and placed lying flat
    in ``robot``'s region of each area (FINAL_REGIONS) with at least FINAL_GAP_M between
    footprints, then settled. The tasks are the task objects in area order: a robot works one
    area after the other. Deterministic for ``rng``'s state. Raises ValueError when the names
    cannot give distinct tasks or an area has no room left for an object.
    """
    if robot not in FINAL_REGIONS:
        raise ValueError(f"robot must be one of {sorted(FINAL_REGIONS)}, got {robot!r}")
    catalog = world.catalog
    pool = list(dict.fromkeys(names if names is not None else catalog.pool(None)))
    unknown = [n for n in pool if n not in catalog]
    if unknown:
        raise ValueError(f"final scene: unknown objects {unknown}")
    if len(pool) < n_tasks:
        raise ValueError(f"final scene needs {n_tasks} distinct task objects, got {len(pool)}")
    tasks = [pool[int(i)] for i in rng.choice(len(pool), n_tasks, replace=False)]
    others = [n for n in catalog.names if n not in tasks]
    if n_decoys and not others:
        raise ValueError("final scene: no catalog object is left for decoys")
    pick = rng.choice(len(others), n_decoys, replace=len(others) < n_decoys) if n_decoys else []
    decoys = [others[int(i)] for i in pick]
    world.clear_objects()
    world.remove_surfaces()
    areas = final_areas(world.surface_z)
    for k, a in enumerate(areas[1:], start=1):
        base = TABLE_COLORS[k % len(TABLE_COLORS)]
        world.add_surface(a.centre[0], a.centre[1], a.height, color=base)
    items = [(n, False) for n in tasks] + [(n, True) for n in decoys]
    order = rng.permutation(len(items))
    placed: dict[int, list[np.ndarray]] = {k: [] for k in range(len(areas))}
    objects: list[FinalObject] = []
    for j, idx in enumerate(order):
        name, decoy = items[int(idx)]
        spec = catalog[name]
        area_k = j % len(areas)
        for _ in range(400):
            x, y = _final_xy(rng, robot)
            yaw = float(rng.uniform(-np.pi, np.pi))
            fp = footprint(x, y, yaw, spec.size)
            if not any(footprints_overlap(fp, q, FINAL_GAP_M) for q in placed[area_k]):
                break
        else:
            raise ValueError(f"final scene: no room left for {name} on {areas[area_k].name}")
        placed[area_k].append(fp)
        a = areas[area_k]
        T = np.eye(4)
        T[:3, :3] = [
            [math.cos(yaw), -math.sin(yaw), 0],
            [math.sin(yaw), math.cos(yaw), 0],
            [0, 0, 1],
        ]
        T[:3, 3] = (a.centre[0] + x, a.centre[1] + y, a.height + 0.5 * spec.size[2] + 0.002)
        jitter = np.clip(np.asarray(spec.color) + rng.uniform(-0.04, 0.04, 3), 0, 1)
        body = world.spawn_object(name, T, color=tuple(jitter))
        objects.append(FinalObject(body, name, area_k, decoy))
    world.settle(max_seconds=2.5)
    by_area = sorted((o for o in objects if not o.decoy), key=lambda o: o.area)
    return FinalScene(areas, objects, [(o.name, o.area) for o in by_area])


def final_scene_problems(world: SimWorld, scene: FinalScene, tol: float = 0.01) -> list[str]:
    """What is wrong with a built final scene (empty when every object rests on its area, inside
    it, and no two objects' bodies intersect): for tests and the simulator's log."""
    import pybullet as p

    problems = []
    sx, sy = world.table_size
    for o in scene.objects:
        a = scene.areas[o.area]
        T = world.object_pose(o.body)
        dx, dy = T[0, 3] - a.centre[0], T[1, 3] - a.centre[1]
        lo, _ = p.getAABB(o.body, physicsClientId=world.client)
        if abs(dx) > sx / 2 or abs(dy) > sy / 2:
            problems.append(f"{o.name}#{o.body} is off {a.name}")
        elif abs(lo[2] - a.height) > tol:
            problems.append(f"{o.name}#{o.body} bottom at {lo[2]:.3f} m, {a.name} at {a.height} m")
    bodies = [o.body for o in scene.objects]
    for i, b in enumerate(bodies):
        for c in bodies[i + 1 :]:
            pts = p.getClosestPoints(b, c, 0.0, physicsClientId=world.client)
            if any(pt[8] < -0.002 for pt in pts):
                problems.append(f"bodies {b} and {c} intersect")
    return problems


def build_final_scene(
    rng: np.random.Generator,
    robot: str,
    surface_height: float = 0.10,
    names: Sequence[str] | None = None,
    catalog=None,
) -> tuple[SimWorld, FinalScene]:
    """A new world holding the final's layout (no robot: the simulator's cell mounts its own,
    see :class:`grasp_pipeline.sim.robot_cell.CellRuntime`). The caller owns the world."""
    world = SimWorld(surface_height=surface_height, catalog=catalog)
    try:
        scene = populate_final_scene(world, rng, robot, names)
    except BaseException:
        world.close()
        raise
    return world, scene


__all__ = [
    "CONTAINER_OUTER_M",
    "FinalScene",
    "SceneConfig",
    "SceneInfo",
    "ServiceArea",
    "build_final_scene",
    "build_random_scene",
    "build_scene",
    "place_objects",
    "populate_final_scene",
]
