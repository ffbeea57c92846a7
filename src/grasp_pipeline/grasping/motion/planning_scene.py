"""The planner's own collision model (a planning scene, as MoveIt keeps one): never a simulator.

A PyBullet DIRECT client that is never stepped holds the robot loaded from its URDF (kinematic
only: joints are set, not driven), the static cell geometry the planner is configured with (floor
and work surface box) and the obstacles it is told about: the detected objects, as catalog shapes
at their detected 6D pose, or for a point + closing-axis detection (segmentation style) as a box
of the catalog footprint from the work surface up to the point, its long side across the closing
axis. The robot itself
lives elsewhere (a real arm or the simulator node) and is only read (joint states) and commanded
(trajectories) through :class:`grasp_pipeline.grasping.motion.robot.RobotDriver`.

Frame: the robot base frame (metres), z up.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from grasp_pipeline.grasping.collision import CollisionChecker
from grasp_pipeline.grasping.robots import on_base

# Measured in the cell (see CollisionChecker): fingers may push 10 mm sideways into neighbours.
SIDE_PUSH_DEPTH_M = 0.010


@dataclass(frozen=True)
class CellGeometry:
    """Static cell in the robot base frame: the work surface top at ``surface_z`` (m), a box of
    ``table_size`` (x, y m) centred at ``table_centre`` (x, y m) reaching down to the floor at
    ``floor_z`` (m). ``table_size`` () = no work surface (only the floor)."""

    surface_z: float = 0.0
    floor_z: float = -0.10
    table_centre: tuple[float, ...] = ()
    table_size: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if len(self.table_size) not in (0, 2) or len(self.table_centre) != len(self.table_size):
            raise ValueError("table_centre and table_size must both be [x, y] (m) or both []")
        if self.table_size and min(self.table_size) <= 0:
            raise ValueError(f"table_size must be positive, got {self.table_size}")
        if self.floor_z > self.surface_z:
            raise ValueError(f"floor_z {self.floor_z} m is above surface_z {self.surface_z} m")


def obstacles_besides(detections: Sequence, targets: Sequence, camera_pose_base, catalog) -> list:
    """The ``detections`` that are obstacles besides the ``targets`` themselves: every one except
    the targets and those whose point lies inside a target's footprint (within half its narrowest
    side, horizontally): a second label on the same part (a detector's false positive) would wall
    the target in. Points in the camera frame, ``camera_pose_base`` 4x4."""
    R, t = np.asarray(camera_pose_base)[:3, :3], np.asarray(camera_pose_base)[:3, 3]

    def xy(d) -> np.ndarray:
        return (R @ np.asarray(d.point, dtype=float) + t)[:2]

    zones = [(xy(d), 0.5 * min(catalog[d.label].size[:2])) for d in targets if d.label in catalog]
    return [d for d in detections if all(np.linalg.norm(xy(d) - c) >= r for c, r in zones)]


class PlanningScene:
    """Collision model of ``model`` (a RobotModel) loaded from ``urdf`` with ``finger_joints``,
    in ``cell``; ``catalog`` gives object shapes. Use :attr:`checker` in the embedded backend."""

    def __init__(
        self, model, urdf: str, finger_joints: Sequence[str], cell: CellGeometry, catalog
    ) -> None:
        import pybullet as p

        self.p = p
        self.model = model
        self.cell = cell
        self.catalog = catalog
        self.client = p.connect(p.DIRECT)
        try:
            self.body = p.loadURDF(
                str(urdf), [0, 0, 0], [0, 0, 0, 1], useFixedBase=True, physicsClientId=self.client
            )
            names = {
                p.getJointInfo(self.body, j, physicsClientId=self.client)[1].decode(): j
                for j in range(p.getNumJoints(self.body, physicsClientId=self.client))
            }
            missing = [n for n in (*model.joint_names, *finger_joints) if n not in names]
            if missing:
                raise ValueError(f"{urdf}: joints {missing} not found")
            self.arm_idx = [names[n] for n in model.joint_names]
            self.finger_idx = [names[n] for n in finger_joints]
            self.floor = self._box((0, 0, cell.floor_z - 0.01), (3.0, 3.0, 0.01))
            self.table = None
            if cell.table_size:
                h = max(cell.surface_z - cell.floor_z, 0.002)
                cx, cy = cell.table_centre
                self.table = self._box(
                    (cx, cy, cell.surface_z - h / 2),
                    (cell.table_size[0] / 2, cell.table_size[1] / 2, h / 2),
                )
        except Exception:
            p.disconnect(physicsClientId=self.client)
            raise
        self.objects: dict[int, str] = {}
        surfaces = {self.floor} | ({self.table} if self.table is not None else set())
        self.checker = CollisionChecker(
            self.client,
            self.body,
            self.arm_idx,
            self.finger_idx,
            self._obstacles,
            movable=lambda: set(self.objects),
            surfaces=frozenset(surfaces),
            side_push_depth_m=SIDE_PUSH_DEPTH_M,
        )
        self.set_robot(model.home, model.gripper.max_opening_m)

    def _box(self, centre: Sequence[float], half: Sequence[float]) -> int:
        p = self.p
        col = p.createCollisionShape(
            p.GEOM_BOX, halfExtents=list(half), physicsClientId=self.client
        )
        return p.createMultiBody(0, col, -1, list(centre), physicsClientId=self.client)

    def _obstacles(self) -> dict[int, str]:
        obs = {self.floor: "floor"}
        if self.table is not None:
            obs[self.table] = "work surface"
        obs.update(self.objects)
        return obs

    def set_robot(self, q: np.ndarray, opening_m: float) -> None:
        """Pose the model at arm joints ``q`` (rad) with the fingers ``opening_m`` apart."""
        p = self.p
        for j, v in zip(self.arm_idx, q, strict=True):
            p.resetJointState(self.body, j, float(v), physicsClientId=self.client)
        for f in self.finger_idx:
            p.resetJointState(self.body, f, float(opening_m) / 2, physicsClientId=self.client)

    def set_objects(self, detections: Sequence, camera_pose_base: np.ndarray) -> int:
        """Replace the obstacles with ``detections`` (camera frame; labels the catalog knows, the
        others are skipped) seen by a camera at ``camera_pose_base`` (4x4). Returns how many
        obstacles the scene holds; detections on the robot's own base link are skipped
        (:func:`~grasp_pipeline.grasping.robots.on_base`)."""
        from grasp_pipeline.sim.shapes import center_of_mass, create_object_body

        p = self.p
        for b in self.objects:
            p.removeBody(b, physicsClientId=self.client)
        self.objects = {}
        from scipy.spatial.transform import Rotation

        T_bc = np.asarray(camera_pose_base, dtype=float)
        R, t = T_bc[:3, :3], T_bc[:3, 3]
        for det in detections:
            if det.label not in self.catalog:
                continue
            if on_base(self.model, R @ np.asarray(det.point, dtype=float) + t):
                continue  # the robot's own base in view: an obstacle there collides every move
            spec = self.catalog[det.label]
            if det.pose_is_full_6d:
                T = camera_pose_base @ np.asarray(det.pose, dtype=float)
                if not np.all(np.isfinite(T)):
                    continue
                b = create_object_body(self.client, spec)
                com = T[:3, :3] @ center_of_mass(spec) + T[:3, 3]
            else:
                box = self._point_box(det, spec, np.asarray(camera_pose_base, dtype=float))
                if box is None:
                    continue
                T, half = box
                col = p.createCollisionShape(
                    p.GEOM_BOX, halfExtents=half.tolist(), physicsClientId=self.client
                )
                b = p.createMultiBody(0, col, -1, physicsClientId=self.client)
                com = T[:3, 3]
            p.resetBasePositionAndOrientation(
                b,
                com.tolist(),
                Rotation.from_matrix(T[:3, :3]).as_quat().tolist(),
                physicsClientId=self.client,
            )
            self.objects[b] = spec.name
        return len(self.objects)

    def _point_box(self, det, spec, camera_pose_base: np.ndarray):
        """(pose (4x4, base), half extents (3,)) of the box a point + axis detection stands for:
        the catalog footprint, long side across the closing axis, from the work surface up to
        the seen top point (whatever holds the part up is inside it too); None if degenerate."""
        if det.grasp_axis is None:
            return None
        R, t = camera_pose_base[:3, :3], camera_pose_base[:3, 3]
        top = R @ np.asarray(det.point, dtype=float) + t
        close = R @ np.asarray(det.grasp_axis, dtype=float)
        close[2] = 0.0
        if not (np.all(np.isfinite(top)) and np.linalg.norm(close) > 1e-6):
            return None
        y = close / np.linalg.norm(close)
        z = np.array([0.0, 0.0, 1.0])
        T = np.eye(4)
        T[:3, :3] = np.column_stack([np.cross(y, z), y, z])
        height = max(float(top[2]) - self.cell.surface_z, 0.002)
        T[:3, 3] = [top[0], top[1], self.cell.surface_z + height / 2]
        half = np.array(
            [max(spec.size[0], spec.size[1]) / 2, min(spec.size[0], spec.size[1]) / 2, height / 2]
        )
        return T, half

    def close(self) -> None:
        """Disconnect the client (idempotent)."""
        if self.client >= 0:
            with contextlib.suppress(self.p.error):
                self.p.disconnect(physicsClientId=self.client)
            self.client = -1
