"""The embedded motion backend: analytic/numeric IK, collision-checked joint and Cartesian paths,
executed by a robot driver (the ROS action client of a real or simulated arm, or the simulator's
arm in this process); it never simulates anything itself.

Why no sampling planner: every pick starts from a ready pose above the cell and the pre-grasp sits
10 cm above the object, so a straight joint-space move checked densely for collisions either works
or tells exactly what blocks it (mplib, the library that would add RRT, needs numpy < 2 and
conflicts with pinocchio here, FACTS.md). The approach, lift and retreat are Cartesian straight
lines solved point by point with IK seeded from the previous point, checked for joint jumps.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from grasp_pipeline.grasping.collision import CollisionChecker
from grasp_pipeline.grasping.motion.base import (
    ExecResult,
    MotionBackend,
    Segment,
    Trajectory,
    judge_hold,
)
from grasp_pipeline.grasping.robots import RobotModel
from grasp_pipeline.grasping.waypoints import Waypoint

STALL_RAD = 0.05  # a joint this far from its goal after settling: the arm was stopped


def interpolate_joints(q0: np.ndarray, q1: np.ndarray, max_step_rad: float) -> np.ndarray:
    """Straight joint-space path from ``q0`` to ``q1`` (both included), steps <= ``max_step_rad``."""
    n = max(1, int(np.ceil(np.abs(q1 - q0).max() / max_step_rad)))
    s = np.linspace(0.0, 1.0, n + 1)[:, None]
    return q0[None, :] * (1 - s) + q1[None, :] * s  # (n+1, dof)


class EmbeddedBackend(MotionBackend):
    """IK + collision-checked paths for ``model``; ``arm`` (a :class:`~grasp_pipeline.grasping.
    motion.robot.RobotDriver`; None = kinematic bookkeeping, no robot) executes them; ``checker``
    (the planning scene's, or the sim cell's) is None only where no cell model exists (then only
    IK, limits and joint continuity are checked). ``base_pose_world``: the robot base in the
    checker's frame (identity for a planning scene kept in the base frame)."""

    name = "embedded"

    def __init__(
        self,
        model: RobotModel,
        arm=None,
        checker: CollisionChecker | None = None,
        base_pose_world: np.ndarray | None = None,
        joint_step_rad: float = 0.02,
        cartesian_step_m: float = 0.004,
        max_jump_rad: float = 0.25,
    ) -> None:
        self.model = model
        self.arm = arm
        self.checker = checker
        self.base_pose_world = (
            np.eye(4) if base_pose_world is None else np.asarray(base_pose_world, dtype=float)
        )
        self.joint_step_rad = joint_step_rad
        self.cartesian_step_m = cartesian_step_m
        self.max_jump_rad = max_jump_rad
        self._q = model.home.copy()
        self._opening = model.gripper.max_opening_m
        self._still: tuple[np.ndarray, float] | None = None  # state kept by standing_still
        self._still_depth = 0

    def current_joints(self) -> np.ndarray:
        return self.arm.joints() if self.arm is not None else self._q.copy()

    def _opening_now(self) -> float:
        return self.arm.opening() if self.arm is not None else self._opening

    @contextmanager
    def standing_still(self) -> Iterator[None]:
        """Plans inside start from the joints and opening read once on entry: a robot driver
        answers each read with a state newer than the call (over ROS, a wait for the next joint
        state message); read per candidate, those waits cut plans on a loaded machine to a few
        candidates within the planning budget."""
        if self._still_depth == 0:
            self._still = (self.current_joints(), self._opening_now())
        self._still_depth += 1
        try:
            yield
        finally:
            self._still_depth -= 1
            if self._still_depth == 0:
                self._still = None

    def plan(self, waypoints: list[Waypoint], target_point: np.ndarray | None = None) -> Trajectory:
        if not waypoints:
            return Trajectory(False, "no waypoints to plan")
        if self._still is not None:
            q, opening = self._still[0].copy(), self._still[1]
        else:
            q, opening = self.current_joints(), self._opening_now()
        start = q.copy()
        allowed: set[int] = set()
        if self.checker is not None and target_point is not None:
            world_pt = self.base_pose_world[:3, :3] @ target_point + self.base_pose_world[:3, 3]
            target = self.checker.target_body(world_pt)
            allowed = set() if target is None else {target}
        pushable = (self.checker.movable() - allowed) if self.checker is not None else set()
        why = self._quick_reject(waypoints, q, opening, allowed, pushable)
        if why:
            return Trajectory(False, why, start_q=start)
        segments: list[Segment] = []
        for wp in waypoints:
            if wp.mode == "joint" and wp.joints is not None:
                path = interpolate_joints(q, np.asarray(wp.joints, float), self.joint_step_rad)
            elif wp.mode == "joint":
                ik = self.model.ik(wp.pose, q_seed=q)
                if not ik.ok:
                    return Trajectory(False, f"{wp.name}: IK failed: {ik.reason}", start_q=start)
                path = interpolate_joints(q, ik.q, self.joint_step_rad)
            elif wp.mode == "cartesian":
                path, why = self._cartesian(q, wp.pose)
                if path is None:
                    return Trajectory(False, f"{wp.name}: {why}", start_q=start)
            else:
                raise ValueError(f"waypoint {wp.name}: unknown mode {wp.mode!r}")
            check_open = opening if wp.gripper is None else max(opening, wp.gripper)
            if self.checker is not None:
                hit = self.checker.first_collision(
                    path,
                    check_open,
                    allowed if wp.contact_ok else set(),
                    pushable if wp.contact_ok else set(),
                )
                if hit is not None:
                    return Trajectory(False, f"{wp.name}: collision: {hit}", start_q=start)
            segments.append(Segment(wp.name, path, wp.gripper))
            q = path[-1]
            if wp.gripper is not None:
                opening = wp.gripper
        return Trajectory(True, "ok", segments, start_q=start)

    def _quick_reject(self, waypoints, q, opening, allowed, pushable) -> str | None:
        """IK and collision at the first contact waypoint (the grasp itself) only: most refusals
        in clutter happen there, and this costs one IK and one collision query."""
        grasp = next((w for w in waypoints if w.contact_ok), None)
        if grasp is None:
            return None
        for w in waypoints[: waypoints.index(grasp)]:
            opening = w.gripper if w.gripper is not None else opening
        ik = self.model.ik(grasp.pose, q_seed=q)
        if not ik.ok:
            return f"{grasp.name}: IK failed: {ik.reason}"
        if self.checker is not None:
            hit = self.checker.first_collision([ik.q], opening, allowed, pushable)
            if hit is not None:
                return f"{grasp.name}: collision: {hit}"
        return None

    def _cartesian(self, q0: np.ndarray, goal: np.ndarray) -> tuple[np.ndarray | None, str]:
        from scipy.spatial.transform import Rotation, Slerp

        T0 = self.model.fk(q0)
        dist = float(np.linalg.norm(goal[:3, 3] - T0[:3, 3]))
        n = max(1, int(np.ceil(dist / self.cartesian_step_m)))
        slerp = Slerp([0.0, 1.0], Rotation.from_matrix(np.stack([T0[:3, :3], goal[:3, :3]])))
        path = [q0]
        q = q0
        for s in np.linspace(0.0, 1.0, n + 1)[1:]:
            T = np.eye(4)
            T[:3, :3] = slerp([s]).as_matrix()[0]
            T[:3, 3] = (1 - s) * T0[:3, 3] + s * goal[:3, 3]
            ik = self.model.ik(T, q_seed=q, local=True)
            if not ik.ok:
                return None, f"IK failed at {s * 100:.0f}% of the straight line: {ik.reason}"
            jump = float(np.abs(ik.q - q).max())
            if jump > self.max_jump_rad:
                return None, f"joint jump of {np.degrees(jump):.0f} deg on the straight line"
            path.append(ik.q)
            q = ik.q
        return np.array(path), "ok"

    def execute(self, trajectory: Trajectory) -> ExecResult:
        if not trajectory.ok:
            return ExecResult(False, f"refused, plan not ok: {trajectory.reason}")
        q_now = self.current_joints()
        if trajectory.start_q is None or np.abs(q_now - trajectory.start_q).max() > 0.01:
            return ExecResult(False, "refused: the robot moved since the plan was made; replan")
        closed = None  # finger opening (m) measured once the fingers closed with force
        done: list[np.ndarray] = []  # the joint paths driven so far
        for seg in trajectory.segments:
            if self.arm is not None:
                err = self.arm.follow(seg.q_path, steps_per_point=3)
                if err > STALL_RAD and seg.name not in ("close", "lift", "retreat"):
                    why = f"{seg.name}: arm stopped {np.degrees(err):.1f} deg short"
                    if self.back_off(done, seg.q_path):
                        return ExecResult(
                            False, f"{why}; backed off along its path to where it started", True
                        )
                    return ExecResult(False, f"{why}; could not back off")
                done.append(np.asarray(seg.q_path, dtype=float))
                if seg.gripper is not None:
                    opening = self.arm.set_gripper(seg.gripper)
                    if seg.gripper <= 0:
                        closed = opening
            else:
                self._q = seg.q_path[-1].copy()
                if seg.gripper is not None:
                    self._opening = seg.gripper
        if not trajectory.holds:
            return ExecResult(True, "done: every segment driven")
        if self.arm is None:  # kinematic bookkeeping: nothing reports what the fingers hold
            return ExecResult(True, judge_hold(None, None, self.model.gripper)[1])
        # as a real hand reports it: the fingers' opening after closing and with the part lifted
        lifted = self.arm.opening() if closed is not None else None
        return self.judge_lift(trajectory, closed, lifted)

    def return_to_start(self, trajectory: Trajectory) -> bool:
        """After a pick whose fingers hold nothing (the arm lifted, at the end of ``trajectory``):
        open the fingers as for the grasp, move in joint space to the pre-grasp pose (both above
        the part, a few centimetres apart) and drive the trajectory's first segment (the free
        motion that brought the arm there) backwards to where it started. True when the arm got
        there."""
        first = trajectory.segments[0]
        q_pre = np.asarray(first.q_path[-1], dtype=float)
        self.arm.set_gripper(first.gripper if first.gripper else self.model.gripper.max_opening_m)
        to_pre = interpolate_joints(self.arm.joints(), q_pre, self.joint_step_rad)
        way_back = np.concatenate([to_pre, np.asarray(first.q_path, dtype=float)[::-1]])
        return self.arm.follow(way_back, steps_per_point=3) <= STALL_RAD

    def back_off(self, done: list[np.ndarray], q_path: np.ndarray) -> bool:
        """Drive back along ``q_path`` (the segment the arm stopped on) from the point nearest to
        where it stopped, then back along the segments ``done`` before it, to where the
        trajectory started; True when the arm got there. The way back is the way it came, free
        when planned; whatever stopped the arm lies ahead of it. Going all the way back takes
        the arm out of the cell camera's view again (it starts from its home or observation
        pose), so the frame a re-plan is made from shows the parts, not the arm above them."""
        q_path = np.asarray(q_path, dtype=float)
        i = int(np.argmin(np.abs(q_path - self.arm.joints()[None, :]).max(axis=1)))
        way_back = np.concatenate([q_path[i::-1], *(p[::-1] for p in reversed(done))])
        return self.arm.follow(way_back, steps_per_point=3) <= STALL_RAD
