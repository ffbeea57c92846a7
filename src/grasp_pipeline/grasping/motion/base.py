"""The interface every motion backend implements, and what it returns.

A backend plans a whole pick (all waypoints) before anything moves, so that a grasp whose IK fails
or that collides is refused with its reason and the robot stays where it is.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from grasp_pipeline.grasping.gripper import GripperSpec
from grasp_pipeline.grasping.robots import RobotModel
from grasp_pipeline.grasping.waypoints import Waypoint


@dataclass
class Segment:
    """A piece of trajectory: joint path (N, n) rad, then the gripper opening (m) to command at
    its end (0 = close with force, None = keep)."""

    name: str
    q_path: np.ndarray
    gripper: float | None = None
    native: object = None  # the backend's own trajectory object (e.g. a MoveIt RobotTrajectory)


@dataclass
class Trajectory:
    """``holds``: the motion ends with a part in the closed fingers (a pick: execution judges
    the hold from the fingers' opening); False for motions that hold nothing (a push)."""

    ok: bool
    reason: str
    segments: list[Segment] = field(default_factory=list)
    start_q: np.ndarray | None = None
    holds: bool = True


@dataclass
class ExecResult:
    """``backed_off``: the motion failed before the fingers closed and the arm went back along
    the path it had driven to where that segment began (a known collision-free pose), so another
    grasp may be planned from there. ``returned``: the fingers closed on nothing or lost the part
    on the way up, and the arm opened them and went back to where the motion started (out of
    the camera's view), so another look and grasp may follow. ``opening_closed_m`` /
    ``opening_lifted_m``: finger-to-finger opening (m) the robot reported after closing and at
    the end of the lift (None: not measured, e.g. kinematic execution without a robot)."""

    ok: bool
    reason: str
    backed_off: bool = False
    opening_closed_m: float | None = None
    opening_lifted_m: float | None = None
    returned: bool = False

    @property
    def may_retry(self) -> bool:
        """The arm is out of the way again after a failed grasp: a new look may find another."""
        return not self.ok and (self.backed_off or self.returned)


def judge_hold(
    opening_closed_m: float | None, opening_lifted_m: float | None, gripper: GripperSpec
) -> tuple[bool, str]:
    """(held, reason) from the finger openings (m) a real gripper reports after closing with force
    and after lifting. Fingers that close to less than ``gripper.min_width_m`` (the narrowest object
    the hand holds) have nothing between them; fingers that held after closing but not after the
    lift lost the object on the way up. None = not measured (no robot): not verified, says so."""
    floor = gripper.min_width_m
    if opening_closed_m is None:
        return True, "ok (not verified: no gripper feedback in this execution)"
    closed_mm = opening_closed_m * 1e3
    if opening_closed_m < floor:
        return False, (
            f"gripper closed on nothing: fingers at {closed_mm:.1f} mm after closing "
            f"(an object keeps them >= {floor * 1e3:.1f} mm apart)"
        )
    if opening_lifted_m is not None and opening_lifted_m < floor:
        return False, (
            f"object slipped out during the lift: fingers at {opening_lifted_m * 1e3:.1f} mm "
            f"after lifting ({closed_mm:.1f} mm after closing)"
        )
    lifted = "" if opening_lifted_m is None else f", {opening_lifted_m * 1e3:.1f} mm after lifting"
    return True, f"holding: fingers at {closed_mm:.1f} mm after closing{lifted}"


class MotionBackend(ABC):
    """Plans and executes picks for one robot."""

    name: str = "base"
    model: RobotModel  # kinematics of the robot this backend moves

    @abstractmethod
    def current_joints(self) -> np.ndarray:
        """Current arm joint angles (n,) rad."""

    @contextmanager
    def standing_still(self) -> Iterator[None]:
        """Plans made inside may read the robot's state once for all (the arm stands still while
        a planner tries its grasps); by default nothing is kept."""
        yield

    @abstractmethod
    def plan(self, waypoints: list[Waypoint], target_point: np.ndarray | None = None) -> Trajectory:
        """A trajectory through every waypoint (TCP poses, robot base frame), or a refusal with its
        reason. ``target_point`` (base frame, m) marks the object the fingers may touch."""

    @abstractmethod
    def execute(self, trajectory: Trajectory) -> ExecResult:
        """Run a planned trajectory; refuses (nothing moves) when it is not ok or stale."""

    def return_to_start(self, trajectory: Trajectory) -> bool:
        """After a pick whose fingers hold nothing (the arm lifted, at the end of ``trajectory``):
        open the fingers and take the arm back to where ``trajectory`` started; True when it got
        there. This base moves nothing and says False."""
        return False

    def judge_lift(
        self, trajectory: Trajectory, closed_m: float | None, lifted_m: float | None
    ) -> ExecResult:
        """The result of a pick that closed the fingers at ``closed_m`` and lifted with them at
        ``lifted_m`` (m, as the robot reports them; :func:`judge_hold`): held, or not held and
        the arm sent back (:meth:`return_to_start`), the reason saying whether it got there."""
        held, why = judge_hold(closed_m, lifted_m, self.model.gripper)
        returned = False
        if not held:
            returned = self.return_to_start(trajectory)
            why += (
                "; fingers opened, the arm back where it started"
                if returned
                else "; the arm could not go back where it started"
            )
        return ExecResult(
            held, why, opening_closed_m=closed_m, opening_lifted_m=lifted_m, returned=returned
        )
