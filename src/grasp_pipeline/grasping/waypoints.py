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
    close with force, None = keep. ``contact_ok`` allows the fingers near the target object."""

    name: str
    pose: np.ndarray  # (4, 4) TCP in the base frame
    mode: str
    gripper: float | None = None
    contact_ok: bool = False


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
