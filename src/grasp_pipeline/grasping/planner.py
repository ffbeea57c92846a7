"""Detections (camera frame) -> a checked pick plan (robot base frame) -> execution.

This is what the ROS grasp planner node calls (after :mod:`grasp_pipeline.grasping.intake` has
screened the message's stamp, frame and labels). Order of checks, each refusing with its reason and
moving nothing: detection age (stale or from the future), a label the catalog knows, geometry of
the detection, the object's width against the gripper, for the 5-DOF youBot the arm-plane
projection of the approach, then per candidate (ranked) IK and collision checks of the whole pick
through the motion backend, within an optional time budget. Execution succeeds only when the
backend reports the fingers holding something (see
:func:`grasp_pipeline.grasping.motion.base.judge_hold`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from grasp_pipeline.grasping.depth_clearance import (
    MIN_BLOCKING_POINTS,
    ObservedCloud,
    centre_on_observed,
    finger_clearance,
)
from grasp_pipeline.grasping.gripper import GripperSpec
from grasp_pipeline.grasping.motion.base import ExecResult, MotionBackend, Trajectory
from grasp_pipeline.grasping.robots import SELF_MARGIN_M, on_base
from grasp_pipeline.grasping.singulation import push_candidates
from grasp_pipeline.grasping.synthesis import (
    GraspCandidate,
    grasps_from_point_axis,
    grasps_from_pose,
)
from grasp_pipeline.grasping.waypoints import pick_waypoints, push_waypoints
from grasp_pipeline.perception.detector import Detection

ROBOTS = ("franka", "youbot")
# Pre-grasp distance and lift height (m): the youBot's 5-DOF arm loses top-down reach quickly
# above its shoulder, so it moves less.
MOTION_DISTANCES = {"franka": (0.10, 0.12), "youbot": (0.07, 0.08)}
# A detection this much younger than "now" (s, negative age) is clock skew, not a fresh one.
FUTURE_TOLERANCE_S = 0.5
# Observed points farther than this from the detected point (m) cannot meet a finger of a grasp
# there: the depth check of each candidate looks only at the points within it.
CLEARANCE_RADIUS_M = 0.15
# When every candidate is refused, those a finger was refused on are tried again with the hand
# opened only this much (m) wider than the part seen between the fingers on each side, instead of
# the gripper's clearance_m (8 mm for the Panda hand): parts in clutter lie 0-10 mm apart, and the
# depth has placed the fingers on the part (centred) so that less room is needed.
TIGHT_CLEARANCE_M = 0.004
# Pushes planned through the motion backend before a push is refused (ranked, see
# grasping.singulation).
MAX_PUSH_CANDIDATES = 12
# A planning budget counts the planning thread's CPU time: with the simulator and the detector on
# the same two cores, a plan's wall time measured several times its work. The wall clock still
# ends planning at WALL_BUDGET_FACTOR times the budget, so that a pick answers in bounded time.
WALL_BUDGET_FACTOR = 3.0


@dataclass
class PlanResult:
    """``grasp_pose_base``: chosen TCP pose (4x4, base frame); ``waypoints``: the TCP poses of the
    pick (pre-grasp, approach, close, lift, retreat); ``width_m``: object width across the
    fingers; ``planning_ms``: wall time of :meth:`GraspPlanner.plan`."""

    ok: bool
    reason: str
    grasp_pose_base: np.ndarray | None = None
    waypoints: list[np.ndarray] = field(default_factory=list)
    width_m: float = float("nan")
    planning_ms: float = 0.0
    label: str = ""
    candidate: GraspCandidate | None = None
    trajectory: Trajectory | None = None
    rejected: list[str] = field(default_factory=list)
    action: str = "pick"  # or "push" (see GraspPlanner.plan_push)
    crowded: bool = False  # refused with a finger on a neighbour in the observed depth
    # planning ended (budget spent, interrupted) before every candidate and detection was tried:
    # the scene may still hold a grasp, and a new plan (a new frame) may find it
    halted: bool = False


class GraspPlanner:
    """Plans picks for ``robot`` ("franka" | "youbot") through ``backend``.

    ``camera_pose_base``: camera optical frame -> robot base (4x4). ``surface_z_base``: height of
    the work surface in the base frame (m; None = unknown). ``catalog``: object sizes (default: the
    shipped catalog). ``max_age_s``: detections older than this are refused.
    """

    def __init__(
        self,
        robot: str,
        backend: MotionBackend,
        camera_pose_base: np.ndarray,
        surface_z_base: float | None = None,
        catalog=None,
        max_age_s: float = 2.0,
        max_candidates: int = 160,
        stall_memory_s: float = 20.0,
    ) -> None:
        if robot not in ROBOTS:
            raise ValueError(f"robot must be one of {ROBOTS}, got {robot!r}")
        T = np.asarray(camera_pose_base, dtype=float)
        if T.shape != (4, 4) or not np.all(np.isfinite(T)):
            raise ValueError(f"camera_pose_base must be a finite 4x4 matrix, got shape {T.shape}")
        if catalog is None:
            from grasp_pipeline.objects import load_catalog

            catalog = load_catalog()
        self.robot = robot
        self.backend = backend
        self.model = backend.model
        self.camera_pose_base = T
        self.surface_z_base = surface_z_base
        self.catalog = catalog
        self.max_age_s = max_age_s
        self.max_candidates = max_candidates
        self.stall_memory_s = stall_memory_s
        self._stalls: list[tuple[float, str, GraspCandidate]] = []  # (monotonic s, label, grasp)

    def candidates(self, det: Detection) -> tuple[list[GraspCandidate], str]:
        """Ranked grasp candidates for ``det`` in the base frame (before IK / collision checks)."""
        R, t = self.camera_pose_base[:3, :3], self.camera_pose_base[:3, 3]
        spec = self.catalog[det.label] if det.label in self.catalog else None  # noqa: SIM401
        gripper = self.model.gripper
        if det.pose_is_full_6d:
            if spec is None:
                return [], f"no catalog size for {det.label!r}: cannot grasp from its 6D pose"
            pose = self.camera_pose_base @ np.asarray(det.pose, dtype=float)
            cands, why = grasps_from_pose(
                pose,
                spec.size,
                gripper,
                self.surface_z_base,
                spec.graspable_width,
                symmetry_axis=spec.symmetry_axis,
                round_top=spec.round_from_above,
            )
        else:
            if det.grasp_axis is None:
                return [], "detection has no grasp axis and no full 6D pose"
            point = R @ np.asarray(det.point, dtype=float) + t
            axis = R @ np.asarray(det.grasp_axis, dtype=float)
            width = spec.graspable_width if spec is not None else None
            height = spec.size[2] if spec is not None else None
            cands, why = grasps_from_point_axis(
                point,
                axis,
                gripper,
                width,
                height,
                self.surface_z_base,
                length_m=spec.size[0] if spec is not None else None,
                round_top=spec is not None and spec.round_from_above,
            )
        if self.robot == "youbot" and cands:
            cands, why = self._youbot_adjust(cands)
        return sorted(cands, key=lambda c: c.prior), why

    def on_robot(self, det: Detection) -> bool:
        """Whether ``det``'s point (camera frame) lies on the robot's own base link
        (:func:`~grasp_pipeline.grasping.robots.on_base`): the camera sees the robot, and a
        look-alike label on it is no part."""
        point = np.asarray(det.point, dtype=float)
        if point.shape != (3,):
            return False  # plan() refuses it with its own reason
        T = self.camera_pose_base
        return on_base(self.model, T[:3, :3] @ point + T[:3, 3])

    def _youbot_adjust(self, cands: list[GraspCandidate]) -> tuple[list[GraspCandidate], str]:
        """Rotate each approach into the youBot's arm plane (at most 30 deg), else drop it."""
        out, reasons = [], []
        for c in cands:
            try:
                T = self.model.project_to_arm_plane(c.pose)
            except ValueError as e:
                reasons.append(str(e))
                continue
            tilt = np.degrees(np.arccos(np.clip(T[:3, 2] @ c.pose[:3, 2], -1.0, 1.0)))
            if tilt > 30.0:
                reasons.append(f"approach {tilt:.0f} deg out of the youBot arm plane (> 30 deg)")
                continue
            c.pose = T
            c.prior += 0.01 * tilt
            out.append(c)
        return out, "ok" if out else "; ".join(dict.fromkeys(reasons))

    def plan(
        self,
        detection: Detection,
        age_s: float | None = None,
        avoid: Sequence[GraspCandidate] | None = None,
        stop: Callable[[], str] | None = None,
        observed: ObservedCloud | None = None,
    ) -> PlanResult:
        """A checked pick plan for ``detection`` (camera frame). ``age_s``: detection age (s); when
        None, ``detection.extras['stamp']`` (seconds, ``time.time()`` clock) is used if present.
        Candidates like one in ``avoid`` are passed over; by default those are the grasps of this
        label the arm was stopped on in the last ``stall_memory_s`` (see :meth:`execute`).
        ``stop()`` is asked before each candidate's motion check; a non-empty answer (why) ends the
        planning there, refused with that reason (bounds the time one plan may take).
        ``observed``: the depth frame the detection came from; candidates whose fingers would land
        on observed surfaces, or that close on nothing seen, are refused before any motion check
        (:func:`~grasp_pipeline.grasping.depth_clearance.finger_clearance`), whatever the labels
        of the neighbours."""
        t0 = time.perf_counter()

        def done(res: PlanResult) -> PlanResult:
            res.planning_ms = (time.perf_counter() - t0) * 1e3
            res.label = detection.label
            return res

        if age_s is None and "stamp" in detection.extras:
            age_s = time.time() - float(detection.extras["stamp"])
        if age_s is not None and age_s > self.max_age_s:
            return done(
                PlanResult(False, f"stale detection: {age_s:.2f} s old (limit {self.max_age_s} s)")
            )
        if age_s is not None and age_s < -FUTURE_TOLERANCE_S:
            return done(
                PlanResult(False, f"detection stamped {-age_s:.2f} s in the future (clock skew?)")
            )
        if detection.label not in self.catalog:
            return done(
                PlanResult(False, f"unknown label {detection.label!r}: not in the object catalog")
            )
        point = np.asarray(detection.point, dtype=float)
        if point.shape != (3,) or not np.all(np.isfinite(point)):
            return done(PlanResult(False, f"detection point is not a finite 3-vector: {point}"))
        cands, why = self.candidates(detection)
        if not cands:
            return done(PlanResult(False, f"no grasp: {why}"))
        if avoid is None:
            avoid = self.recent_stalls(detection.label)
        base_to_cam = None
        if observed is not None:
            observed = observed.near(point, CLEARANCE_RADIUS_M)
            base_to_cam = np.linalg.inv(self.camera_pose_base)
        with self.backend.standing_still():  # the arm's state is read once for every candidate
            return done(self._first_feasible(cands, avoid, observed, base_to_cam, stop))

    def _first_feasible(
        self,
        cands: list[GraspCandidate],
        avoid: Sequence[GraspCandidate],
        observed: ObservedCloud | None,
        base_to_cam: np.ndarray | None,
        stop: Callable[[], str] | None,
    ) -> PlanResult:
        """The first candidate (in rank order) clear in the observed depth and with a motion the
        backend can plan, else the refusal (see :meth:`plan`). When none is, the candidates a
        finger was refused on are tried again with the hand opened only TIGHT_CLEARANCE_M wider
        than the part seen between the fingers on each side (neighbours closer than the usual
        clearance, the part's position known from the depth)."""
        rejected: list[str] = []
        crowded = False
        tried = 0
        queue = [c for c in cands[: self.max_candidates] if not any(alike(c, a) for a in avoid)]
        narrower: list[GraspCandidate] = []
        for tight in (False, True):
            for c in narrower if tight else queue:
                if observed is not None:
                    width = None
                    if not tight:
                        c, width = centred(c, observed, base_to_cam, self.model.gripper)
                    seen = finger_clearance(
                        observed,
                        base_to_cam @ c.pose,
                        c.opening_m,
                        self.model.gripper,
                        approach_m=MOTION_DISTANCES[self.robot][0],
                        skim_m=c.skim_m,
                    )
                    if not seen.ok:
                        rejected.append(f"{c.description}: {seen.reason}")
                        finger_blocked = max(seen.blocking) >= MIN_BLOCKING_POINTS
                        crowded = crowded or finger_blocked
                        if width is not None and finger_blocked:
                            narrower.append(opened_tightly(c, width, self.model.gripper))
                        continue
                halt = stop() if stop is not None else ""
                if halt:
                    first = f"; first refusal: {rejected[0]}" if rejected else ""
                    return PlanResult(
                        False,
                        f"{halt} after {tried} grasp candidates{first}",
                        rejected=rejected,
                        halted=True,
                    )
                tried += 1
                wps = pick_waypoints(c, *MOTION_DISTANCES[self.robot])
                traj = self.backend.plan(wps, target_point=c.pose[:3, 3])
                if traj.ok:
                    return PlanResult(
                        True,
                        "ok",
                        c.pose.copy(),
                        [w.pose for w in wps],
                        c.width_m,
                        candidate=c,
                        trajectory=traj,
                        rejected=rejected,
                    )
                rejected.append(f"{c.description}: {traj.reason}")
        if not rejected:
            return PlanResult(
                False, "every grasp is like one the arm was just stopped on (stalled)"
            )
        return PlanResult(
            False,
            f"every grasp refused; first: {rejected[0]}",
            rejected=rejected,
            crowded=crowded,
        )

    def plan_best(
        self,
        detections: list[Detection],
        label: str | None = None,
        age_s: float | None = None,
        max_detections: int | None = None,
        budget_s: float | None = None,
        interrupt: Callable[[], bool] | None = None,
        observed: ObservedCloud | None = None,
    ) -> PlanResult:
        """Plan for the best-scoring detection of ``label`` (None = any) that yields a checked
        pick; the others are tried in score order when one is refused (e.g. the same part twice,
        one of them buried in clutter). Returns the first ok plan, else the best one's refusal.

        Bounds on the work, whatever arrives: only the ``max_detections`` best are tried, planning
        ends once ``budget_s`` seconds of this thread's CPU time are spent, or
        ``WALL_BUDGET_FACTOR`` times that of wall time, or as soon as ``interrupt()`` is true (e.g.
        a pick request waits for the planner); None = no bound. ``observed``: the depth
        frame of the detections, for the finger clearance check (see :meth:`plan`)."""
        labelled = [d for d in detections if label is None or d.label == label]
        if not labelled:
            return PlanResult(
                False, f"{label or 'no object'} not among the detections", label=label or ""
            )
        mine, others = [], []
        for d in labelled:
            (mine if self.on_robot(d) else others).append(d)
        wanted = sorted(others, key=lambda d: -d.score)[:max_detections]
        if not wanted:
            return PlanResult(
                False,
                f"{label or 'every object'} detected only on the robot's own base "
                f"({len(mine)} detection(s) within {SELF_MARGIN_M * 1e3:.0f} mm of it: a part of "
                "the robot in view, not a part to pick)",
                label=label or mine[0].label,
            )
        cpu0, wall0 = time.thread_time(), time.monotonic()

        def stop() -> str:
            if interrupt is not None and interrupt():
                return "planning interrupted"
            if budget_s is not None and time.thread_time() - cpu0 > budget_s:
                return f"planning budget of {budget_s:.2f} s spent"
            if budget_s is not None and time.monotonic() - wall0 > WALL_BUDGET_FACTOR * budget_s:
                return (
                    f"planning ran {WALL_BUDGET_FACTOR * budget_s:.1f} s of wall time, "
                    f"{time.thread_time() - cpu0:.2f} s of it on the CPU (budget "
                    f"{budget_s:.2f} s of CPU; the machine is loaded)"
                )
            return ""

        first = None
        total_ms = 0.0
        with self.backend.standing_still():
            for det in wanted:
                if first is not None and stop():
                    first.halted = True  # detections left untried
                    break
                res = self.plan(det, age_s=age_s, stop=stop, observed=observed)
                total_ms += res.planning_ms
                if res.ok:
                    res.planning_ms = total_ms
                    return res
                first = first or res
        first.planning_ms = total_ms
        return first

    def plan_push(
        self,
        detections: list[Detection],
        label: str,
        observed: ObservedCloud,
    ) -> PlanResult:
        """A push that frees the best-scoring detection of ``label`` (not on the robot) from the
        neighbours touching it, for when every grasp of it was refused: the closed fingers come
        down behind it where the depth ``observed`` shows nothing standing and push it into the
        freest direction (:mod:`~grasp_pipeline.grasping.singulation`), then the arm goes back
        to where it is now. The caller looks again and plans the pick from the new frame."""
        t0 = time.perf_counter()

        def done(res: PlanResult) -> PlanResult:
            res.planning_ms = (time.perf_counter() - t0) * 1e3
            res.label = label
            res.action = "push"
            return res

        spec = self.catalog[label] if label in self.catalog else None  # noqa: SIM401
        wanted = [d for d in detections if d.label == label and not self.on_robot(d)]
        if spec is None or not wanted:
            return done(PlanResult(False, f"no push: no detection of {label!r} to push"))
        det = max(wanted, key=lambda d: d.score)
        R, t = self.camera_pose_base[:3, :3], self.camera_pose_base[:3, 3]
        point = np.asarray(det.point, dtype=float)
        if point.shape != (3,) or not np.all(np.isfinite(point)):
            return done(PlanResult(False, "no push: the detection's point is not finite"))
        if det.pose_is_full_6d:
            dominant = R @ np.asarray(det.pose, dtype=float)[:3, 0]
        elif det.grasp_axis is not None:
            dominant = np.cross([0.0, 0.0, 1.0], R @ np.asarray(det.grasp_axis, dtype=float))
        else:
            return done(PlanResult(False, "no push: the detection has no axis"))
        point_base = R @ point + t
        points = observed.near(point, CLEARANCE_RADIUS_M).points @ R.T + t
        if len(points) == 0:
            return done(PlanResult(False, "no push: no observed depth around the part"))
        surface = (
            self.surface_z_base
            if self.surface_z_base is not None
            else float(np.percentile(points[:, 2], 3.0))
        )
        length, width, height = spec.size
        if spec.round_from_above:
            length = width = max(length, width)
        cands, why = push_candidates(
            points,
            point_base,
            dominant,
            (length, width, height),
            surface,
            self.model.gripper,
        )
        if not cands:
            return done(PlanResult(False, f"no push: {why}"))
        rejected: list[str] = []
        with self.backend.standing_still():
            q_home = self.backend.current_joints()
            home = self.model.fk(q_home)
            for c in cands[:MAX_PUSH_CANDIDATES]:
                wps = push_waypoints(
                    c.start, c.direction, c.distance_m, home, q_home, *MOTION_DISTANCES[self.robot]
                )
                traj = self.backend.plan(wps, target_point=point_base)
                if traj.ok:
                    traj.holds = False
                    return done(
                        PlanResult(
                            True,
                            c.description,
                            c.start.copy(),
                            [w.pose for w in wps],
                            width_m=spec.graspable_width,
                            trajectory=traj,
                            rejected=rejected,
                        )
                    )
                rejected.append(f"{c.description}: {traj.reason}")
        return done(
            PlanResult(
                False, f"no push: every push refused; first: {rejected[0]}", rejected=rejected
            )
        )

    def push_free(
        self, detections: list[Detection], label: str, observed: ObservedCloud
    ) -> tuple[PlanResult, ExecResult | None]:
        """Push the best-scoring detection of ``label`` free of its neighbours
        (:meth:`plan_push`) and carry the push out: (the push plan, its execution, None when no
        push was planned). The caller looks again when the arm is back out of the way (the
        execution ok or backed off) and plans the pick from the new frame."""
        push = self.plan_push(detections, label, observed)
        return push, (self.execute(push) if push.ok else None)

    def execute(self, plan: PlanResult) -> ExecResult:
        """Run a plan from :meth:`plan`; a plan that is not ok is refused and nothing moves.

        When the arm is stopped before the fingers close (a finger caught on an edge the plan
        grazed, a part pushed into the way) and the backend backed off along its path, or the
        fingers lifted nothing and the arm went back where it started (``returned``), the grasp
        is remembered: plans for the same label in the next ``stall_memory_s`` pass over grasps
        like it (:meth:`forget_stalls` when the task moves on). Re-planning is the caller's, from
        fresh detections: the stall or the slip may have moved or tipped the object (measured: a
        standing profile knocked flat)."""
        if not plan.ok or plan.trajectory is None:
            return ExecResult(False, f"refused: {plan.reason}")
        res = self.backend.execute(plan.trajectory)
        if res.ok:
            self._stalls.clear()
        elif res.may_retry and plan.candidate is not None:
            self._stalls.append((time.monotonic(), plan.label, plan.candidate))
        return res

    def recent_stalls(self, label: str | None = None) -> list[GraspCandidate]:
        """Grasps (of ``label``; None = any) the arm was stopped on in the last
        ``stall_memory_s``."""
        now = time.monotonic()
        self._stalls = [s for s in self._stalls if now - s[0] <= self.stall_memory_s]
        return [c for _, lab, c in self._stalls if label is None or lab == label]

    def forget_stalls(self) -> None:
        """Drop the remembered stalls (a new scene or task)."""
        self._stalls.clear()


def centred(
    c: GraspCandidate, observed: ObservedCloud, base_to_cam: np.ndarray, gripper: GripperSpec
) -> tuple[GraspCandidate, float | None]:
    """``c`` moved along its closing axis onto the observed object between its fingers, with the
    opening that object needs, and the object's observed width across the fingers (m); ``c``
    and None when the observed points do not fit the gripper or are not as wide as the part
    (see :func:`~grasp_pipeline.grasping.depth_clearance.centre_on_observed`)."""
    fit = centre_on_observed(
        observed,
        base_to_cam @ c.pose,
        c.opening_m,
        gripper,
        skim_m=c.skim_m,
        expected_width_m=c.width_m,
    )
    if fit is None:
        return c, None
    shift, width = fit
    pose = c.pose.copy()
    pose[:3, 3] += shift * pose[:3, 1]  # y = closing axis
    moved = replace(
        c,
        pose=pose,
        opening_m=gripper.pre_grasp_opening(width),
        description=f"{c.description}, centred {shift * 1e3:+.0f} mm on the observed part",
    )
    return moved, width


def opened_tightly(c: GraspCandidate, width_m: float, gripper: GripperSpec) -> GraspCandidate:
    """``c`` with the hand opened only ``TIGHT_CLEARANCE_M`` wider than the observed
    ``width_m`` on each side."""
    opening = gripper.pre_grasp_opening(width_m, TIGHT_CLEARANCE_M)
    return replace(
        c,
        opening_m=opening,
        description=f"{c.description}, opened to {opening * 1e3:.0f} mm",
    )


def alike(
    a: GraspCandidate, b: GraspCandidate, pos_m: float = 0.005, angle_deg: float = 10.0
) -> bool:
    """The same grasp for a stall's purposes: TCPs closer than ``pos_m`` and closing directions
    within ``angle_deg`` (either sign: the two fingers are alike). The candidates' own variants
    (1 cm shifts, 20 deg tilts) are not alike."""
    if float(np.linalg.norm(a.pose[:3, 3] - b.pose[:3, 3])) >= pos_m:
        return False
    cos = abs(float(a.pose[:3, 1] @ b.pose[:3, 1]))
    return cos > float(np.cos(np.radians(angle_deg)))
