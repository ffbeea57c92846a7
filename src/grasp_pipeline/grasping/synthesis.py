"""Grasp synthesis: detections -> ranked parallel-jaw grasp candidates in the robot base frame.

Two sources (paper 000 Fig. 1 and the descriptor detector):

* a pickup point + closing axis (segmentation detector): a top-down pinch grasp whose fingers close
  along the detected axis, i.e. across the object's dominant axis;
* a full 6D object pose + its catalog spec (descriptor detector): an approach along the object axis
  closest to vertical and fingers closing across the narrowest side that fits the gripper.

Grasp poses are TCP poses (see :mod:`.gripper`: z = approach, y = closing) in the robot base frame,
whose z axis points up (against gravity). Distances in metres.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from grasp_pipeline.geometry.se3 import cross
from grasp_pipeline.grasping.gripper import GripperSpec

DOWN = np.array([0.0, 0.0, -1.0])
TABLE_CLEARANCE_M = 0.003  # finger tips this far above the work surface ...
# ... unless the part is too thin for the pads to overlap its side by MIN_PAD_OVERLAP_M from there:
# then the tips go as low as needed, but not below THIN_PART_CLEARANCE_M (a 5 mm spanner under the
# Panda's pads overlapped by 1.2 mm: the fingers slid over its top edge and closed on nothing; by
# 1.6 mm and more they held it)
MIN_PAD_OVERLAP_M = 0.0025
THIN_PART_CLEARANCE_M = 0.0005
MAX_TILT_DEG = 25.0  # object axes closer than this to vertical give an aligned (tilted) approach
# Candidate shifts along the object's dominant axis (at most 30 % of its length, see _variants)
# and hand tilts about it: in clutter they move a finger away from a touching neighbour.
OFFSETS_M = (0.0, 0.01, -0.01, 0.02, -0.02, 0.03, -0.03)
TILTS_DEG = (0.0, 20.0, -20.0, 35.0, -35.0)
MAX_OFFSET_FRACTION = 0.3
# Closing directions turned about the vertical away from the detected one (deg): a neighbour
# touching one side of the part is often clear a little further round. Parts round seen from
# above (nuts, rings) can be closed on from any side (ROUND_YAWS_DEG, every 15 deg) but only
# through their centre, upright: a chord off the centre or a tilted hand closed on a nut's or
# ring's wall, or on two points whose contact normals do not oppose, and the part slipped out
# during the lift (clutter picks of M20, M30 and Spacer in the simulated cell: fingers closed
# at 6.5-8.5 mm on the wall of a 30 mm nut, or across a 10 mm offset chord).
YAWS_DEG = (0.0, 15.0, -15.0, 30.0, -30.0)
ROUND_YAWS_DEG = (0.0, 15.0, -15.0, 30.0, -30.0, 45.0, -45.0, 60.0, -60.0, 75.0, -75.0, 90.0)
ROUND_OFFSETS_M = (0.0,)
ROUND_TILTS_DEG = (0.0,)


@dataclass
class GraspCandidate:
    """One grasp: TCP pose (4x4, base frame), object width across the fingers and opening (m)."""

    pose: np.ndarray
    width_m: float
    opening_m: float
    prior: float  # lower is better (offsets, flips, second-best sides)
    description: str
    dominant_axis: np.ndarray = field(default_factory=lambda: np.zeros(3))  # (3,) base frame
    tip_clearance_m: float = TABLE_CLEARANCE_M  # finger tips above the work surface (when known)

    @property
    def skim_m(self) -> float:
        """How much closer than ``TABLE_CLEARANCE_M`` the tips go to the surface (thin parts):
        what checks in the observed depth leave out under the tips."""
        return TABLE_CLEARANCE_M - self.tip_clearance_m


def _unit(v: np.ndarray, what: str) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    n = math.sqrt(float(v @ v))  # np.linalg.norm's value, a tenth of its time on a 3-vector
    if not np.isfinite(n) or n < 1e-9:
        raise ValueError(f"{what} has zero length or NaN")
    return v / n


def tcp_pose(position: np.ndarray, approach: np.ndarray, closing: np.ndarray) -> np.ndarray:
    """4x4 TCP pose with z = ``approach``, y = ``closing`` (made orthogonal to z), at ``position``."""
    a = _unit(approach, "approach")
    c = np.asarray(closing, dtype=float) - (np.asarray(closing, dtype=float) @ a) * a
    c = _unit(c, "closing axis (parallel to the approach)")
    T = np.eye(4)
    T[:3, 0], T[:3, 1], T[:3, 2] = cross(c, a), c, a
    T[:3, 3] = position
    return T


def tip_clearance(height_m: float | None, gripper: GripperSpec) -> float:
    """How far above the work surface the finger tips stop for a part ``height_m`` tall (None =
    unknown): ``TABLE_CLEARANCE_M``, lowered for thin parts until the flat of the pads overlaps
    the part's side by ``MIN_PAD_OVERLAP_M``, never below ``THIN_PART_CLEARANCE_M``."""
    if height_m is None:
        return TABLE_CLEARANCE_M
    need = height_m - gripper.pad_above_tip_m - MIN_PAD_OVERLAP_M
    return float(np.clip(need, THIN_PART_CLEARANCE_M, TABLE_CLEARANCE_M))


def _depth_into(height_m: float, gripper: GripperSpec) -> float:
    """How far below the object's top the TCP goes: mid-height, limited by the finger length."""
    return float(np.clip(0.5 * height_m, 0.004, gripper.finger_length_m - 0.008))


def _rotate(v: np.ndarray, axis: np.ndarray, angle: float) -> np.ndarray:
    """``v`` rotated by ``angle`` (rad) about the unit ``axis`` (Rodrigues)."""
    c, s = np.cos(angle), np.sin(angle)
    return v * c + cross(axis, v) * s + axis * (axis @ v) * (1.0 - c)


def _variants(
    centre: np.ndarray,
    approach: np.ndarray,
    closing: np.ndarray,
    dominant: np.ndarray,
    width: float,
    gripper: GripperSpec,
    prior0: float,
    tag: str,
    offsets_m: tuple[float, ...],
    tilts_deg: tuple[float, ...],
    surface_z: float | None,
    length_m: float | None = None,
    clearance_m: float = TABLE_CLEARANCE_M,
) -> list[GraspCandidate]:
    """Yaw flips x offsets along the dominant axis x tilts of the hand about the dominant axis
    (which lift one finger away from a neighbour in clutter), each raised so that both opened
    finger tips stay ``clearance_m`` above the surface."""
    out = []
    opening = gripper.pre_grasp_opening(width)
    if length_m is not None:
        offsets_m = tuple(o for o in offsets_m if abs(o) <= MAX_OFFSET_FRACTION * length_m + 1e-9)
    for tilt in tilts_deg:
        a = _rotate(approach, dominant, np.radians(tilt))
        c = _rotate(closing, dominant, np.radians(tilt))
        for flip in (1.0, -1.0):
            for k, off in enumerate(offsets_m):
                pos = centre + off * dominant
                if surface_z is not None and a[2] < -0.1:
                    lowest = pos[2] + gripper.tip_below_tcp_m * a[2] - 0.5 * opening * abs(c[2])
                    pos = pos - max(0.0, surface_z + clearance_m - lowest) / -a[2] * a
                out.append(
                    GraspCandidate(
                        pose=tcp_pose(pos, a, flip * c),
                        width_m=width,
                        opening_m=opening,
                        prior=prior0
                        + (0.0 if flip > 0 else 0.01)
                        + 10.0 * abs(off)
                        + 0.002 * abs(tilt)
                        + 0.001 * k,
                        description=f"{tag}, yaw {'flipped' if flip < 0 else 'as detected'}, "
                        f"offset {off * 1e3:+.0f} mm, tilt {tilt:+.0f} deg",
                        dominant_axis=dominant.copy(),
                        tip_clearance_m=clearance_m,
                    )
                )
    return out


def _search(
    round_top: bool,
    yaws_deg: tuple[float, ...] | None,
    offsets_m: tuple[float, ...] | None,
    tilts_deg: tuple[float, ...] | None,
) -> tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...]]:
    """The (yaws, offsets, tilts) candidates are made of: those given, the rest by default for a
    part round seen from above (``round_top``) or any other."""
    if round_top:
        defaults = (ROUND_YAWS_DEG, ROUND_OFFSETS_M, ROUND_TILTS_DEG)
    else:
        defaults = (YAWS_DEG, OFFSETS_M, TILTS_DEG)
    given = (yaws_deg, offsets_m, tilts_deg)
    return tuple(d if g is None else g for g, d in zip(given, defaults, strict=True))  # type: ignore[return-value]


def grasps_from_point_axis(
    point: np.ndarray,
    closing_axis: np.ndarray,
    gripper: GripperSpec,
    width_m: float | None,
    height_m: float | None,
    surface_z: float | None,
    offsets_m: tuple[float, ...] | None = None,
    tilts_deg: tuple[float, ...] | None = None,
    length_m: float | None = None,
    yaws_deg: tuple[float, ...] | None = None,
    round_top: bool = False,
) -> tuple[list[GraspCandidate], str]:
    """Top-down pinch grasps at a detected pickup point (base frame, metres).

    ``point`` is the 3-D point the detector measured on the object's visible top surface;
    ``closing_axis`` the direction the fingers should close along (perpendicular to the object's
    dominant axis); ``width_m`` / ``height_m`` the object's width across the fingers and height
    (catalog; None = unknown: the hand opens fully and goes 15 mm deep); ``surface_z`` the work
    surface height (None = unknown). ``yaws_deg``: closing directions turned about the vertical
    from the detected one, ranked by the turn (default ``YAWS_DEG``; the width across a turned
    closing grows as 1 / cos and turns that no longer fit the hand are left out);
    ``round_top``: the part is round seen from above (nuts, rings), so the defaults are
    ``ROUND_YAWS_DEG``, ``ROUND_OFFSETS_M`` and ``ROUND_TILTS_DEG`` (through the centre, upright)
    and the width is the same from every side; ``offsets_m`` / ``tilts_deg``: None = the
    defaults (``OFFSETS_M`` / ``TILTS_DEG`` for other parts). Returns (candidates, reason) with
    reason saying why the list is empty.
    """
    p = np.asarray(point, dtype=float)
    if p.shape != (3,) or not np.all(np.isfinite(p)):
        raise ValueError(f"pickup point must be a finite (3,) vector, got {p}")
    c = np.asarray(closing_axis, dtype=float)
    if c.shape != (3,) or not np.all(np.isfinite(c)):
        raise ValueError(f"closing axis must be a finite (3,) vector, got {c}")
    c = c - c[2] * np.array([0.0, 0.0, 1.0])
    if np.linalg.norm(c) < 0.2:
        return [], "closing axis is almost vertical: no top-down pinch grasp along it"
    c = c / np.linalg.norm(c)
    if width_m is None:
        width = gripper.max_opening_m - 0.004
    else:
        ok, why = gripper.check_width(width_m)
        if not ok:
            return [], why
        width = width_m
    depth = 0.015 if height_m is None else _depth_into(height_m, gripper)
    clearance = tip_clearance(height_m, gripper)
    tcp = p + depth * DOWN
    if surface_z is not None:
        tcp[2] = max(tcp[2], surface_z + clearance + gripper.tip_below_tcp_m)
    yaws_deg, offsets_m, tilts_deg = _search(round_top, yaws_deg, offsets_m, tilts_deg)
    cands: list[GraspCandidate] = []
    for yaw in yaws_deg:
        turned = _rotate(c, DOWN, np.radians(yaw))
        across = width
        if width_m is not None and not round_top:
            across = width / max(np.cos(np.radians(yaw)), 0.5)
            if not gripper.check_width(across)[0]:
                continue
        cands += _variants(
            tcp,
            DOWN,
            turned,
            np.cross(turned, DOWN),  # horizontal, perpendicular to the closing axis
            across,
            gripper,
            0.002 * abs(yaw),
            "top-down pinch" + (f", turned {yaw:+.0f} deg" if yaw else ""),
            offsets_m,
            tilts_deg,
            surface_z,
            length_m,
            clearance,
        )
    return cands, "ok"


def grasps_from_pose(
    pose: np.ndarray,
    size: tuple[float, float, float],
    gripper: GripperSpec,
    surface_z: float | None,
    preferred_width_m: float | None = None,
    offsets_m: tuple[float, ...] | None = None,
    tilts_deg: tuple[float, ...] | None = None,
    symmetry_axis: str | None = None,
    round_top: bool = False,
) -> tuple[list[GraspCandidate], str]:
    """Grasps aligned with a full 6D object pose (object -> base, 4x4; object frame at the
    bounding-box centre, x along the dominant axis) and the object's bounding-box ``size``.

    The approach follows the object axis closest to vertical when it is within 25 deg of it (else
    straight down); the fingers close across the narrowest side that fits the gripper, the other
    side as a lower-ranked alternative. ``preferred_width_m`` (catalog ``graspable_width``) replaces
    the box extent for the closing across the object's y axis (e.g. a screw's shaft).
    ``symmetry_axis`` ("x" for lying cylinders and tubes): the roll about that axis carries no
    information, so the frame is re-rolled to put its z axis as close to up as possible first.
    ``round_top``: the outline seen along the object's z axis is (nearly) round (standing rings,
    nuts): when approaching along z, closing directions every 15 deg about the approach
    (``ROUND_YAWS_DEG``) are candidates too, with the larger of the x / y extents as width, and
    all of them through the centre, upright (``ROUND_OFFSETS_M``, ``ROUND_TILTS_DEG``);
    ``offsets_m`` / ``tilts_deg``: None = those defaults or ``OFFSETS_M`` / ``TILTS_DEG``.
    Finger tips (opened, on both sides) are kept :func:`tip_clearance` above ``surface_z``.
    """
    T = np.asarray(pose, dtype=float)
    if T.shape != (4, 4) or not np.all(np.isfinite(T)):
        raise ValueError(f"object pose must be a finite 4x4 matrix, got shape {T.shape}")
    ext = np.asarray(size, dtype=float)
    if ext.shape != (3,) or np.any(ext <= 0):
        raise ValueError(f"object size must be three positive extents, got {size}")
    R, centre = T[:3, :3].copy(), T[:3, 3]
    if symmetry_axis == "x":
        up = -DOWN - (-DOWN @ R[:, 0]) * R[:, 0]
        if np.linalg.norm(up) > 0.42:  # axis within 65 deg of horizontal
            z = up / np.linalg.norm(up)
            R = np.column_stack([R[:, 0], np.cross(z, R[:, 0]), z])
    cosines = R.T @ DOWN  # cos between each object axis and straight down
    k = int(np.argmax(np.abs(cosines)))
    if np.degrees(np.arccos(min(1.0, abs(cosines[k])))) <= MAX_TILT_DEG:
        approach = np.sign(cosines[k]) * R[:, k]
    else:
        approach = DOWN.copy()
    # Extent of the object along the approach direction (its "height" seen by the gripper).
    height = float(np.sum(np.abs(R.T @ approach) * ext))
    top = centre - 0.5 * height * approach
    depth = _depth_into(height, gripper)
    tcp0 = top + depth * approach
    sides = []
    for j in range(3):
        axis = R[:, j] - (R[:, j] @ approach) * approach
        if np.linalg.norm(axis) < 0.5:  # (nearly) the approach axis itself
            continue
        axis /= np.linalg.norm(axis)
        width = float(np.sum(np.abs(R.T @ axis) * ext))
        if j == 1 and preferred_width_m is not None and abs(R[:, j] @ axis) > 0.97:
            width = min(width, preferred_width_m)
        sides.append((width, j, axis))
    sides.sort(key=lambda s: s[0])
    round_seen = (round_top or symmetry_axis == "z") and k == 2 and bool(sides)
    _, offsets_m, tilts_deg = _search(round_seen, None, offsets_m, tilts_deg)
    if round_seen:
        _, j0, a0 = sides[0]
        wmax = float(max(ext[0], ext[1]))
        turns = sorted({round(y) % 180 for y in ROUND_YAWS_DEG} - {0})
        sides += [(wmax, j0, _rotate(a0, approach, np.radians(d))) for d in turns]
    cands: list[GraspCandidate] = []
    reasons = []
    for rank, (width, j, axis) in enumerate(sides):
        ok, why = gripper.check_width(width)
        if not ok:
            reasons.append(f"across object axis {'xyz'[j]}: {why}")
            continue
        dominant = np.cross(axis, approach)
        cands += _variants(
            tcp0,
            approach,
            axis,
            dominant,
            width,
            gripper,
            0.05 * rank,
            f"aligned across object {'xyz'[j]}" + (f" #{rank}" if rank > 1 else ""),
            offsets_m,
            tilts_deg,
            surface_z,
            float(np.sum(np.abs(R.T @ dominant) * ext)),
            tip_clearance(height, gripper),
        )
    return cands, "ok" if cands else "; ".join(reasons)
