"""The pick sequence around one grasp: pre-grasp, approach, close, lift, retreat.

Poses are TCP poses in the robot base frame (z up); distances in metres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from grasp_pipeline.grasping.synthesis import GraspCandidate


@dataclass
class Waypoint:
    """One step of a pick. ``mode`` is how to get there: ``joint`` (free joint-space move) or
    ``cartesian`` (straight TCP line). ``gripper`` is the opening (m) commanded on arrival, 0 =
    close with force, None = keep. ``contact_ok`` allows the fingers near the target object.
    ``joints``: for a ``joint`` move, the arm's joint angles to end at (rad; None = any IK
    solution of ``pose``, which is then the TCP pose they give)."""

    name: str
    pose: np.ndarray  # (4, 4) TCP in the base frame
    mode: str
    gripper: float | None = None
    contact_ok: bool = False
    joints: np.ndarray | None = None


def pick_waypoints(
    grasp: GraspCandidate, pre_grasp_m: float = 0.10, lift_m: float = 0.12
) -> list[Waypoint]:
    """pre-grasp (``pre_grasp_m`` back along the approach, hand opened), approach (straight in),
    close, lift (straight up by ``lift_m``) and retreat (2 cm further up, to leave the hand's
    neighbours behind)."""
    G = grasp.pose
    approach = G[:3, 2]
    pre = G.copy()
    pre[:3, 3] = G[:3, 3] - pre_grasp_m * approach
    lift = G.copy()
    lift[:3, 3] = G[:3, 3] + np.array([0.0, 0.0, lift_m])
    retreat = lift.copy()
    retreat[:3, 3] = lift[:3, 3] + np.array([0.0, 0.0, 0.02])
    return [
        Waypoint("pre_grasp", pre, "joint", gripper=grasp.opening_m),
        Waypoint("approach", G, "cartesian", contact_ok=True),
        Waypoint("close", G, "cartesian", gripper=0.0, contact_ok=True),
        Waypoint("lift", lift, "cartesian", contact_ok=True),
        Waypoint("retreat", retreat, "cartesian", contact_ok=True),
    ]


def push_waypoints(
    start: np.ndarray,
    direction: np.ndarray,
    distance_m: float,
    home: np.ndarray,
    home_joints: np.ndarray,
    above_m: float = 0.10,
    lift_m: float = 0.12,
) -> list[Waypoint]:
    """A push: above the start (``above_m`` over it, fingers closed on arrival), straight down to
    the ``start`` TCP pose, straight along the horizontal ``direction`` by ``distance_m`` (the
    fingers may touch the part), straight up by ``lift_m``, then back to the arm's
    ``home_joints`` (TCP pose ``home``: where it started, out of the camera's view, for the
    next look)."""
    pre = start.copy()
    pre[:3, 3] = start[:3, 3] + np.array([0.0, 0.0, above_m])
    end = start.copy()
    end[:3, 3] = start[:3, 3] + distance_m * np.asarray(direction, dtype=float)
    up = end.copy()
    up[:3, 3] = end[:3, 3] + np.array([0.0, 0.0, lift_m])
    return [
        Waypoint("pre_push", pre, "joint", gripper=0.0),
        Waypoint("descend", start, "cartesian"),
        Waypoint("push", end, "cartesian", contact_ok=True),
        Waypoint("push_retreat", up, "cartesian", contact_ok=True),
        Waypoint(
            "home",
            np.asarray(home, dtype=float),
            "joint",
            contact_ok=True,
            joints=np.asarray(home_joints, dtype=float),
        ),
    ]
