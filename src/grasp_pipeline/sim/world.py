"""The PyBullet RoboCup@Work cell: floor, work surface, containers and catalog objects.

World frame: z up, origin on the floor under the centre of the work surface, metres. The work
surface top is at ``surface_z`` (RoboCup@Work service areas are 0, 5, 10 or 15 cm high).
Object poses are given and returned in the catalog's object frame (bounding-box centre); PyBullet
itself tracks the centre of mass, so :meth:`SimWorld.spawn_object` and :meth:`SimWorld.object_pose`
convert between the two.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from grasp_pipeline.sim.shapes import center_of_mass, create_object_body

if TYPE_CHECKING:
    from grasp_pipeline.objects import Catalog, ObjectSpec
    from grasp_pipeline.sim.camera import SimCamera, SimRender

SERVICE_AREA_HEIGHTS_M = (0.0, 0.05, 0.10, 0.15)
# The containers as config/objects.yaml describes them (CONTAINER_RED / CONTAINER_BLUE); the world
# reads its catalog's containers and falls back on these for a catalog without any.
CONTAINER_OUTER_M = (0.135, 0.160, 0.082)  # RoboCup@Work container, outer x, y, z
CONTAINER_WALL_M = 0.004
CONTAINER_COLORS = {"red": (0.75, 0.08, 0.07), "blue": (0.07, 0.18, 0.70)}
# Non-catalog clutter kinds of add_distractor (none is a catalog object's shape and size).
DISTRACTOR_KINDS = ("box", "cylinder", "sphere", "tube", "bracket")
# What random_scene draws from when no names are given: the 13 objects the catalog held when it
# was written, so seeded scenes of its callers stay the same as the catalog grows. New code uses
# grasp_pipeline.sim.scene (default: the catalog's default pool, the rulebook's set).
LEGACY_SCENE_POOL = "classic2018"


@dataclass
class Lighting:
    """TinyRenderer light: direction (world, towards the light), colour and shading coefficients."""

    direction: tuple[float, float, float] = (0.3, 0.2, 1.0)
    color: tuple[float, float, float] = (1.0, 1.0, 1.0)
    ambient: float = 0.6
    diffuse: float = 0.5
    specular: float = 0.05
    shadow: bool = False

    def render_kwargs(self) -> dict:
        return {
            "lightDirection": list(self.direction),
            "lightColor": list(self.color),
            "lightAmbientCoeff": self.ambient,
            "lightDiffuseCoeff": self.diffuse,
            "lightSpecularCoeff": self.specular,
            "shadow": int(self.shadow),
        }


@dataclass
class SimObject:
    """A catalog object in the world: its body id, spec and centre of mass in the object frame."""

    body: int
    spec: ObjectSpec
    com: np.ndarray = field(repr=False)


def _pose_to_pq(T: np.ndarray) -> tuple[list[float], list[float]]:
    """4x4 pose -> (position, quaternion x, y, z, w) as PyBullet takes them."""
    from scipy.spatial.transform import Rotation

    T = np.asarray(T, dtype=float)
    if T.shape != (4, 4):
        raise ValueError(f"pose must be a 4x4 matrix, got shape {T.shape}")
    R = T[:3, :3]
    if not np.allclose(R @ R.T, np.eye(3), atol=1e-6) or np.linalg.det(R) < 0:
        raise ValueError("pose rotation is not a proper rotation matrix")
    return T[:3, 3].tolist(), Rotation.from_matrix(R).as_quat().tolist()


def _pq_to_pose(client: int, pos: Sequence[float], quat: Sequence[float]) -> np.ndarray:
    import pybullet as p

    T = np.eye(4)
    T[:3, :3] = np.asarray(p.getMatrixFromQuaternion(quat, physicsClientId=client)).reshape(3, 3)
    T[:3, 3] = pos
    return T


class SimWorld:
    """A PyBullet DIRECT-mode cell with a work surface at ``surface_height`` metres above the floor.

    Args:
        surface_height: work-surface height above the floor (metres), e.g. one of
            ``SERVICE_AREA_HEIGHTS_M``.
        table_size: (x, y) extent of the work surface (metres).
        table_color / floor_color: RGB in 0..1.
        table_texture: optional (H, W, 3) uint8 texture image for the surface top.
        catalog: object catalog; the default one from ``config/objects.yaml`` when None.
        time_step: physics step (seconds).
    """

    def __init__(
        self,
        surface_height: float = 0.10,
        table_size: tuple[float, float] = (0.8, 0.6),
        table_color: tuple[float, float, float] = (0.55, 0.45, 0.35),
        floor_color: tuple[float, float, float] = (0.35, 0.35, 0.37),
        table_texture: np.ndarray | None = None,
        catalog: Catalog | None = None,
        time_step: float = 1.0 / 240.0,
    ) -> None:
        import pybullet as p

        if not 0.0 <= surface_height <= 1.5:
            raise ValueError(f"surface_height must be in [0, 1.5] m, got {surface_height}")
        if catalog is None:
            from grasp_pipeline.objects import load_catalog

            catalog = load_catalog()
        self.catalog = catalog
        self.client = p.connect(p.DIRECT)
        self.time_step = time_step
        self.lighting = Lighting()
        self.objects: dict[int, SimObject] = {}
        self.containers: list[int] = []
        self.distractors: list[int] = []
        self.distractor_kinds: dict[int, str] = {}  # body -> kind (DISTRACTOR_KINDS)
        self.extra_surfaces: list[int] = []  # more work surfaces (add_surface), static
        p.setGravity(0, 0, -9.81, physicsClientId=self.client)
        p.setTimeStep(time_step, physicsClientId=self.client)
        self._surface_z = float(surface_height)
        self.table_size = tuple(float(s) for s in table_size)

        floor_col = p.createCollisionShape(p.GEOM_PLANE, physicsClientId=self.client)
        # The floor's visual slab sits just below z = 0 so a 0 cm surface stays visible on it.
        floor_vis = p.createVisualShape(
            p.GEOM_BOX,
            halfExtents=[3, 3, 0.001],
            visualFramePosition=[0, 0, -0.0015],
            rgbaColor=[*floor_color, 1],
            physicsClientId=self.client,
        )
        self.floor = p.createMultiBody(
            0, floor_col, floor_vis, [0, 0, 0], physicsClientId=self.client
        )
        p.resetBasePositionAndOrientation(
            self.floor, [0, 0, 0], [0, 0, 0, 1], physicsClientId=self.client
        )
        # At 0 cm the surface is a thin mat on the floor; otherwise a block reaching the floor.
        thickness = max(self._surface_z, 0.002)
        half = [self.table_size[0] / 2, self.table_size[1] / 2, thickness / 2]
        table_col = p.createCollisionShape(
            p.GEOM_BOX, halfExtents=half, physicsClientId=self.client
        )
        table_vis = p.createVisualShape(
            p.GEOM_BOX, halfExtents=half, rgbaColor=[*table_color, 1], physicsClientId=self.client
        )
        centre_z = self._surface_z - thickness / 2
        self.table = p.createMultiBody(
            0, table_col, table_vis, [0, 0, centre_z], physicsClientId=self.client
        )
        for body in (self.floor, self.table):
            p.changeDynamics(body, -1, lateralFriction=0.8, physicsClientId=self.client)
        if table_texture is not None:
            self._apply_texture(self.table, table_texture)

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Disconnect the PyBullet client (idempotent)."""
        import pybullet as p

        if self.client is not None and self.client >= 0:
            with contextlib.suppress(p.error):
                p.disconnect(physicsClientId=self.client)
            self.client = -1

    def __enter__(self) -> SimWorld:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def surface_z(self) -> float:
        """Height of the work-surface top in the world frame (metres)."""
        return self._surface_z

    # ------------------------------------------------------------------ objects
    def spawn_object(
        self, name: str, pose_world: np.ndarray, color: tuple[float, float, float] | None = None
    ) -> int:
        """Add catalog object ``name`` with its object frame at ``pose_world`` (4x4); returns the body id."""
        import pybullet as p

        spec = self.catalog[name]
        _pose_to_pq(pose_world)  # refuse a bad pose before a body is created
        body = create_object_body(self.client, spec, color=color)
        com = center_of_mass(spec)
        self.objects[body] = SimObject(body, spec, com)
        self.set_object_pose(body, pose_world)
        p.resetBaseVelocity(body, [0, 0, 0], [0, 0, 0], physicsClientId=self.client)
        return body

    def _sim_object(self, body: int) -> SimObject:
        if body not in self.objects:
            raise ValueError(f"body {body} is not a catalog object of this world")
        return self.objects[body]

    def set_object_pose(self, body: int, pose_world: np.ndarray) -> None:
        """Teleport an object so that its object frame is at ``pose_world`` (4x4, world frame)."""
        import pybullet as p

        obj = self._sim_object(body)
        T = np.asarray(pose_world, dtype=float).copy()
        _pose_to_pq(T)
        T_com = T.copy()
        T_com[:3, 3] = T[:3, :3] @ obj.com + T[:3, 3]
        pos, quat = _pose_to_pq(T_com)
        p.resetBasePositionAndOrientation(body, pos, quat, physicsClientId=self.client)

    def object_pose(self, body: int) -> np.ndarray:
        """Pose (4x4) of the object frame (bounding-box centre) in the world frame."""
        import pybullet as p

        obj = self._sim_object(body)
        pos, quat = p.getBasePositionAndOrientation(body, physicsClientId=self.client)
        T = _pq_to_pose(self.client, pos, quat)
        T[:3, 3] = T[:3, 3] - T[:3, :3] @ obj.com
        return T

    def remove_object(self, body: int) -> None:
        """Delete an object (catalog object, container or distractor) from the world."""
        import pybullet as p

        known = body in self.objects or body in self.containers or body in self.distractors
        if not known:
            raise ValueError(f"body {body} is not an object of this world")
        p.removeBody(body, physicsClientId=self.client)
        self.objects.pop(body, None)
        if body in self.containers:
            self.containers.remove(body)
        if body in self.distractors:
            self.distractors.remove(body)
            self.distractor_kinds.pop(body, None)

    def clear_objects(self) -> None:
        """Remove every catalog object, container and distractor (the surface stays)."""
        for body in [*self.objects, *self.containers, *self.distractors]:
            self.remove_object(body)

    def add_surface(
        self,
        x: float,
        y: float,
        height: float,
        size: tuple[float, float] | None = None,
        color: tuple[float, float, float] = (0.72, 0.58, 0.40),
    ) -> int:
        """A further static work surface (a service area): a block from the floor up to
        ``height`` m (a 2 mm mat at 0 m), ``size`` (x, y) m (default: the main surface's),
        centred at world (``x``, ``y``). Returns its body id (kept in ``extra_surfaces``)."""
        import pybullet as p

        if not 0.0 <= height <= 1.5:
            raise ValueError(f"surface height must be in [0, 1.5] m, got {height}")
        sx, sy = self.table_size if size is None else size
        thickness = max(height, 0.002)
        half = [sx / 2, sy / 2, thickness / 2]
        c = self.client
        col = p.createCollisionShape(p.GEOM_BOX, halfExtents=half, physicsClientId=c)
        vis = p.createVisualShape(
            p.GEOM_BOX, halfExtents=half, rgbaColor=[*color, 1], physicsClientId=c
        )
        body = p.createMultiBody(0, col, vis, [x, y, height - thickness / 2], physicsClientId=c)
        p.changeDynamics(body, -1, lateralFriction=0.8, physicsClientId=c)
        self.extra_surfaces.append(body)
        return body

    def remove_surfaces(self) -> None:
        """Remove every surface :meth:`add_surface` added (the main surface stays)."""
        import pybullet as p

        for body in self.extra_surfaces:
            p.removeBody(body, physicsClientId=self.client)
        self.extra_surfaces = []

    def add_container(self, color: str, x: float, y: float, yaw: float) -> int:
        """A static open container (the catalog's CONTAINER_RED / CONTAINER_BLUE: 135 x 160 x
        82 mm outer) standing on the surface at (x, y), yaw in radians; ``color`` "red"/"blue"
        or the container's catalog name."""
        import pybullet as p

        spec = next((c for c in self.catalog.containers if color in (c.color_name, c.name)), None)
        if spec is None and color not in CONTAINER_COLORS:
            known = sorted({c.color_name for c in self.catalog.containers} | set(CONTAINER_COLORS))
            raise ValueError(f"container colour must be one of {known}, got {color!r}")
        if spec is not None:
            (lx, ly, lz), t, rgb = spec.outer, spec.wall, spec.color
        else:
            (lx, ly, lz), t, rgb = CONTAINER_OUTER_M, CONTAINER_WALL_M, CONTAINER_COLORS[color]
        halves = [
            [lx / 2, ly / 2, t / 2],
            [t / 2, ly / 2, lz / 2],
            [t / 2, ly / 2, lz / 2],
            [lx / 2, t / 2, lz / 2],
            [lx / 2, t / 2, lz / 2],
        ]
        positions = [
            [0, 0, -lz / 2 + t / 2],
            [-lx / 2 + t / 2, 0, 0],
            [lx / 2 - t / 2, 0, 0],
            [0, -ly / 2 + t / 2, 0],
            [0, ly / 2 - t / 2, 0],
        ]
        kw = {"shapeTypes": [p.GEOM_BOX] * 5, "halfExtents": halves, "physicsClientId": self.client}
        col = p.createCollisionShapeArray(**kw, collisionFramePositions=positions)
        vis = p.createVisualShapeArray(**kw, visualFramePositions=positions)
        quat = p.getQuaternionFromEuler([0, 0, yaw])
        body = p.createMultiBody(
            0, col, vis, [x, y, self._surface_z + lz / 2], quat, physicsClientId=self.client
        )
        p.changeVisualShape(body, -1, rgbaColor=[*rgb, 1], physicsClientId=self.client)
        self.containers.append(body)
        return body

    def add_distractor(
        self, rng: np.random.Generator, x: float, y: float, kind: str | None = None
    ) -> int:
        """A random non-catalog clutter item dropped at (x, y) (world, metres); returns its body.

        ``kind`` one of ``DISTRACTOR_KINDS`` (random when None): a box, cylinder or sphere of
        1-4 cm, a thin-walled tube (2-5 cm, hollow), or an L-shaped bracket (3-7 cm legs). Random
        colour. Distractors are in ``self.distractors``, never in the masks or annotations.
        """
        import pybullet as p

        if kind is None:
            kind = str(rng.choice(DISTRACTOR_KINDS))
        if kind not in DISTRACTOR_KINDS:
            raise ValueError(f"distractor kind must be one of {DISTRACTOR_KINDS}, got {kind!r}")
        c = self.client
        if kind in ("box", "cylinder", "sphere"):
            size = rng.uniform(0.01, 0.04, size=3)
            if kind == "box":
                types, halves, radii, lengths = [p.GEOM_BOX], [(size / 2).tolist()], [0.0], [0.0]
                positions, quats, z = [[0, 0, 0]], [[0, 0, 0, 1]], size[2] / 2
            elif kind == "cylinder":
                types, halves = [p.GEOM_CYLINDER], [[0, 0, 0]]
                radii, lengths = [size[0] / 2], [size[2]]
                positions, quats, z = [[0, 0, 0]], [[0, 0, 0, 1]], size[2] / 2
            else:
                types, halves, radii, lengths = [p.GEOM_SPHERE], [[0, 0, 0]], [size[0] / 2], [0.0]
                positions, quats, z = [[0, 0, 0]], [[0, 0, 0, 1]], size[0] / 2
        elif kind == "tube":
            od, height = rng.uniform(0.02, 0.05), rng.uniform(0.008, 0.03)
            wall = rng.uniform(0.0015, 0.004)
            n = 10
            types, halves, radii, lengths, positions, quats = [], [], [], [], [], []
            for k in range(n):
                a = 2 * np.pi * k / n
                types.append(p.GEOM_BOX)
                halves.append([wall / 2, od / 2 * np.tan(np.pi / n), height / 2])
                radii.append(0.0)
                lengths.append(0.0)
                r = od / 2 - wall / 2
                positions.append([r * np.cos(a), r * np.sin(a), 0.0])
                quats.append(list(p.getQuaternionFromEuler([0, 0, a])))
            z = height / 2
        else:  # bracket: two plates at right angles, lying on one of them
            a_len, b_len = rng.uniform(0.03, 0.07), rng.uniform(0.03, 0.07)
            width, t = rng.uniform(0.015, 0.03), rng.uniform(0.002, 0.004)
            types, radii, lengths = [p.GEOM_BOX] * 2, [0.0, 0.0], [0.0, 0.0]
            halves = [[a_len / 2, width / 2, t / 2], [t / 2, width / 2, b_len / 2]]
            positions = [[0.0, 0.0, -b_len / 2 + t / 2], [a_len / 2 - t / 2, 0.0, 0.0]]
            quats = [[0, 0, 0, 1]] * 2
            z = b_len / 2
        kw = {"shapeTypes": types, "halfExtents": halves, "radii": radii, "physicsClientId": c}
        col = p.createCollisionShapeArray(
            **kw,
            lengths=lengths,
            collisionFramePositions=positions,
            collisionFrameOrientations=quats,
        )
        vis = p.createVisualShapeArray(
            **kw, lengths=lengths, visualFramePositions=positions, visualFrameOrientations=quats
        )
        quat = p.getQuaternionFromEuler([0, 0, float(rng.uniform(-np.pi, np.pi))])
        body = p.createMultiBody(
            0.02, col, vis, [x, y, self._surface_z + z + 0.002], quat, physicsClientId=c
        )
        rgb = rng.uniform(0.1, 0.9, size=3).tolist()
        p.changeVisualShape(body, -1, rgbaColor=[*rgb, 1], physicsClientId=c)
        p.changeDynamics(body, -1, lateralFriction=0.6, rollingFriction=0.001, physicsClientId=c)
        self.distractors.append(body)
        self.distractor_kinds[body] = kind
        return body

    def random_scene(
        self,
        rng: np.random.Generator,
        n_objects: int,
        clutter: bool = False,
        names: Sequence[str] | None = None,
        centre: tuple[float, float] = (0.0, 0.0),
        radius: float = 0.12,
    ) -> list[int]:
        """Drop ``n_objects`` random catalog objects around ``centre`` and let them settle.

        ``clutter`` packs them so that they touch; otherwise they are spread without overlap.
        ``names``: the objects to draw from; by default the classic 2018 set
        (``LEGACY_SCENE_POOL``: the draws of a seed stay what they were before the catalog grew).
        Whole scenes (surface, pool, decoys, clutter, camera) come from
        :func:`grasp_pipeline.sim.scene.build_scene`. Returns the body ids of the objects still
        on the surface.
        """
        from grasp_pipeline.sim.scene import place_objects

        if names is None and LEGACY_SCENE_POOL in self.catalog.pools:
            names = self.catalog.pool(LEGACY_SCENE_POOL)
        return place_objects(
            self, rng, n_objects, clutter=clutter, names=names, centre=centre, radius=radius
        )

    # ------------------------------------------------------------------ simulation
    def step(self, seconds: float) -> None:
        """Advance the physics by ``seconds`` of simulated time."""
        import pybullet as p

        for _ in range(max(1, round(seconds / self.time_step))):
            p.stepSimulation(physicsClientId=self.client)

    def is_resting(self, tolerance: float = 5e-3, angular_tolerance: float = 0.05) -> bool:
        """True when no object or distractor moves faster than ``tolerance`` m/s or
        ``angular_tolerance`` rad/s (resting contacts keep a ~0.01 rad/s jitter in Bullet)."""
        import pybullet as p

        for body in (*self.objects, *self.distractors):
            v, w = p.getBaseVelocity(body, physicsClientId=self.client)
            if np.linalg.norm(v) >= tolerance or np.linalg.norm(w) >= angular_tolerance:
                return False
        return True

    def settle(
        self, max_seconds: float = 3.0, tolerance: float = 5e-3, angular_tolerance: float = 0.05
    ) -> bool:
        """Step (at least 0.1 s) until :meth:`is_resting`; True when that happened within
        ``max_seconds`` of simulated time."""
        chunk, elapsed = 0.05, 0.0
        while elapsed < max_seconds:
            self.step(chunk)
            elapsed += chunk
            if elapsed >= 0.1 and self.is_resting(tolerance, angular_tolerance):
                return True
        return False

    def render(self, camera: SimCamera, rng: np.random.Generator | None = None) -> SimRender:
        """Render ``camera`` in this world: RGB, driver depth, instance masks and ground truth."""
        return camera.render(self, rng=rng)

    # ------------------------------------------------------------------ helpers
    def _apply_texture(self, body: int, image: np.ndarray) -> None:
        import os
        import tempfile

        import cv2
        import pybullet as p

        img = np.asarray(image)
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ValueError(f"table_texture must be (H, W, 3) uint8, got {img.shape} {img.dtype}")
        fd, path = tempfile.mkstemp(suffix=".png")
        os.close(fd)
        try:
            cv2.imwrite(path, img[:, :, ::-1])
            tex = p.loadTexture(path, physicsClientId=self.client)
        finally:
            os.unlink(path)
        p.changeVisualShape(
            body, -1, textureUniqueId=tex, rgbaColor=[1, 1, 1, 1], physicsClientId=self.client
        )
