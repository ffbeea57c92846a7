"""Picks in the simulated cell: a robot beside the work surface, grasps planned from detections,
executed in PyBullet and checked physically (object lifted and still held between the fingers).

World frame: the SimWorld's (z up, work surface centred at the origin). The robot base stands at
the surface edge (ROBOT_BASE); ``camera_pose_world`` is the optical frame -> world.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from grasp_pipeline.geometry.camera import project
from grasp_pipeline.geometry.extrinsics import look_at
from grasp_pipeline.grasping.collision import CollisionChecker
from grasp_pipeline.grasping.motion.embedded import EmbeddedBackend
from grasp_pipeline.grasping.planner import GraspPlanner, PlanResult
from grasp_pipeline.perception.detector import Detection

# Robot base (x, y, height above the surface) in the world, and where its reachable objects are
# placed (centre, radius). The youBot arm sits on its platform 8 cm above the service area (a
# 5-DOF arm reaches top-down grasps only below its shoulder: measured reach 0.13-0.28 m there).
ROBOT_BASE = {"franka": (-0.55, 0.0, 0.0), "youbot": (-0.44, 0.0, 0.08)}
SCENE_CENTRE = {"franka": ((0.0, 0.0), 0.12), "youbot": ((-0.205, 0.0), 0.05)}
LIFT_MIN_M = 0.05  # the object must end at least this much higher than it started


@dataclass
class PickOutcome:
    ok: bool
    reason: str
    planning_ms: float
    lift_m: float = 0.0
    plan: PlanResult | None = None


def mount_robot(world, robot: str, gripper: str = "wide") -> tuple:
    """Load ``robot`` ("franka" | "youbot", youBot ``gripper`` "wide" | "stock") into ``world`` at
    its place by the work surface; returns (SimArm, base pose in the world (4x4), the cell
    camera's optical frame in the world (4x4): across the surface from the robot, looking down at
    the workspace, so the arm in its ready pose stays out of view)."""
    if robot not in ROBOT_BASE:
        raise ValueError(f"robot must be one of {sorted(ROBOT_BASE)}, got {robot!r}")
    base = np.eye(4)
    bx, by, bz = ROBOT_BASE[robot]
    base[:3, 3] = (bx, by, world.surface_z + bz)
    if robot == "franka":
        from grasp_pipeline.sim.robot_panda import SimPanda

        arm = SimPanda(world.client, base)
    else:
        from grasp_pipeline.sim.robot_youbot import SimYouBot

        arm = SimYouBot(world.client, base, gripper=gripper)
    (cx, cy), _ = SCENE_CENTRE[robot]
    camera = look_at(
        np.array([cx + 0.25, cy, world.surface_z + 0.55]), np.array([cx, cy, world.surface_z])
    )
    return arm, base, camera


def truth_detection(world, camera_pose_world: np.ndarray, body: int, full_6d: bool) -> Detection:
    """The detection a perfect detector would return for ``body`` of ``world``, in the optical
    frame of a camera at ``camera_pose_world`` (4x4, optical -> world).

    6D: the true object pose. Point + axis (segmentation style): the point on the object's top
    surface above its bounding-box centre (ray-cast, as a depth camera sees it), closing
    axis across the dominant axis.
    """
    T_cw = np.linalg.inv(camera_pose_world)
    T_wo = world.object_pose(body)
    spec = world.objects[body].spec
    T_co = T_cw @ T_wo
    if full_6d:
        return Detection(spec.name, 1.0, (0.0, 0.0), T_co[:3, 3].copy(), T_co, None, True)
    top_w = T_wo[:3, 3].copy()
    top_w[2] = world.surface_z + float(np.sum(np.abs(T_wo[2, :3]) * spec.size))
    # What a depth camera above would measure: the object's surface straight above its centre
    # (a ray down onto the body); the box-height guess stays for hollow centres (rings).
    import pybullet as p

    hit = p.rayTest(
        [top_w[0], top_w[1], top_w[2] + 0.2],
        [top_w[0], top_w[1], world.surface_z - 0.01],
        physicsClientId=world.client,
    )[0]
    if hit[0] == body:
        top_w = np.array(hit[3], dtype=float)
    dom = T_wo[:3, 0].copy()
    dom[2] = 0.0
    if np.linalg.norm(dom) < 1e-3:
        dom = T_wo[:3, 1].copy()
        dom[2] = 0.0
    close_w = np.cross([0.0, 0.0, 1.0], dom / np.linalg.norm(dom))
    point_c = T_cw[:3, :3] @ top_w + T_cw[:3, 3]
    axis_c = T_cw[:3, :3] @ close_w
    pose = np.eye(4)
    pose[:3, 3] = point_c
    return Detection(spec.name, 1.0, (0.0, 0.0), point_c, pose, axis_c, False)


class PickCell:
    """A SimWorld with one robot, its embedded motion backend and grasp planner, all in this
    process: the core's own pick loop (``grasp-pipeline demo --mode direct``, tests of grasping
    without ROS). In ROS the simulator node owns the world and the robot; planners drive it over
    its action interfaces (:mod:`grasp_pipeline.sim.robot_cell`).

    ``robot``: "franka" | "youbot"; ``gripper``: youBot "wide" | "stock".
    """

    def __init__(
        self,
        robot: str = "franka",
        gripper: str = "wide",
        surface_height: float = 0.10,
        world=None,
        camera_pose_world: np.ndarray | None = None,
    ) -> None:
        if robot not in ROBOT_BASE:
            raise ValueError(f"robot must be one of {sorted(ROBOT_BASE)}, got {robot!r}")
        if world is None:
            from grasp_pipeline.sim.world import SimWorld

            world = SimWorld(surface_height=surface_height)
        self.world = world
        self.robot = robot
        self.arm, self.base_pose_world, default_camera = mount_robot(world, robot, gripper)
        bz = ROBOT_BASE[robot][2]
        if camera_pose_world is None:
            camera_pose_world = default_camera
        self.camera_pose_world = np.asarray(camera_pose_world, dtype=float)
        self.checker = CollisionChecker(
            world.client,
            self.arm.body,
            self.arm.arm_idx,
            self.arm.finger_idx,
            self._obstacles,
            movable=lambda: set(self.world.objects) | set(self.world.distractors),
            surfaces=frozenset({world.table, world.floor}),
            side_push_depth_m=0.010,
        )
        self.backend = EmbeddedBackend(self.arm.model, self.arm, self.checker, self.base_pose_world)
        self.planner = GraspPlanner(
            robot,
            self.backend,
            np.linalg.inv(self.base_pose_world) @ self.camera_pose_world,
            surface_z_base=-bz,
            catalog=world.catalog,
        )

    def _obstacles(self) -> dict[int, str]:
        w = self.world
        obs = {w.table: "work surface", w.floor: "floor"}
        obs.update({b: "container" for b in w.containers})
        obs.update({b: "distractor" for b in w.distractors})
        obs.update({b: o.spec.name for b, o in w.objects.items()})
        return obs

    def home(self) -> None:
        """Teleport the arm back to its ready pose with the hand open."""
        self.arm.reset(self.arm.model.home, opening=self.arm.model.gripper.max_opening_m)

    def truth_detection(self, body: int, full_6d: bool) -> Detection:
        """:func:`truth_detection` of ``body`` for this cell's camera."""
        return truth_detection(self.world, self.camera_pose_world, body, full_6d)

    def pick(self, body: int, detection: Detection, hold_s: float = 1.0) -> PickOutcome:
        """Plan and execute a pick of ``body`` from ``detection``; check the lift physically."""
        z0 = float(self.world.object_pose(body)[2, 3])
        plan = self.planner.plan(detection, age_s=0.0)
        if not plan.ok:
            return PickOutcome(False, plan.reason, plan.planning_ms, plan=plan)
        res = self.planner.execute(plan)
        if not res.ok:
            return PickOutcome(False, res.reason, plan.planning_ms, plan=plan)
        self.arm.hold(hold_s)
        ok, why, lift = self.lift_check(body, z0)
        return PickOutcome(ok, why, plan.planning_ms, lift, plan)

    def lift_check(self, body: int, z_before: float) -> tuple[bool, str, float]:
        """(held, reason, rise in m): risen >= LIFT_MIN_M and touching both fingers."""
        z = float(self.world.object_pose(body)[2, 3])
        rise = z - z_before
        left, right = self.arm.finger_contacts(body)
        if rise < LIFT_MIN_M:
            return False, f"object rose only {rise * 1e3:.0f} mm (dropped or not grasped)", rise
        if not (left and right):
            return False, "object is lifted but not held between both fingers", rise
        return True, "lifted and held", rise


class OracleDetector:
    """The simulator's ground truth as a :class:`~grasp_pipeline.perception.detector.Detector`.

    Measures the grasping stack on its own (perfect perception). It never touches PyBullet inside
    :meth:`detect` (a detector node calls it from its worker thread): :meth:`snapshot` records the
    true poses of the settled scene from the thread that owns the world.
    ``full_6d``: return true 6D poses (descriptor-style) or pickup point + closing axis
    (segmentation-style).
    """

    def __init__(self, cell: PickCell, full_6d: bool = True) -> None:
        self.cell = cell
        self.full_6d = full_6d
        self.labels = list(cell.world.catalog.names)
        self._truth: list[Detection] = []

    def snapshot(self) -> list[Detection]:
        """Record the current true poses (camera frame) of every catalog object in the world."""
        dets = []
        for body in self.cell.world.objects:
            d = self.cell.truth_detection(body, self.full_6d)
            d.extras["body"] = body
            dets.append(d)
        self._truth = dets
        return list(dets)

    def detect(self, rgb, depth, camera, targets=None) -> list[Detection]:
        out = []
        for d in self._truth:
            if targets is not None and d.label not in targets:
                continue
            if d.point[2] <= 0:
                continue
            u, v = project(d.point, camera)
            if not (0 <= u < camera.width and 0 <= v < camera.height):
                continue
            out.append(
                Detection(
                    d.label,
                    1.0,
                    (float(u), float(v)),
                    d.point.copy(),
                    d.pose.copy(),
                    None if d.grasp_axis is None else d.grasp_axis.copy(),
                    d.pose_is_full_6d,
                    dict(d.extras),
                )
            )
        return out
