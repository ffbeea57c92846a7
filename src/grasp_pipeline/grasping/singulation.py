"""Pushes that free a part its neighbours leave no grasp on (singulation).

When every grasp of a part is refused because a finger would land on a touching neighbour (the
observed depth leaves no room on any side), the closed fingers can push the part a few
centimetres into free space, after which the camera looks again and the grasps are planned anew
(linear push policies for grasp access, as bin-picking systems use them). A push is chosen
against what the camera sees, as the grasps are:

* the part's footprint is its catalog box (length along the detected dominant axis, width
  across it) around the detected point; observed points inside it are the part's own;
* for each of ``DIRECTIONS`` horizontal directions, the part is moved in thought: the standing
  points are grouped into connected objects, an object in the corridor the part sweeps is shoved
  along as a whole, the others stay. Pushes after which both finger slots across the part are
  free of them come first (``CLOSED_COST``), then those with the least observed surface in the
  corridor, the direction away from the nearby neighbours breaking ties;
* the closed fingers descend ``START_GAP_M`` behind the part's trailing edge, where the observed
  depth must show nothing standing up (a finger landing on a neighbour would stall or tip it),
  and push at a height of about half the part's (``push_height``), low enough not to ride over
  it and above the surface.

Frames: the robot base (z up, metres); the observed points come in the same frame. A push's hand
pose is a TCP pose (see :mod:`.gripper`: z = approach, y = closing) with the fingers closed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from grasp_pipeline.grasping.depth_clearance import MIN_BLOCKING_POINTS
from grasp_pipeline.grasping.gripper import GripperSpec
from grasp_pipeline.grasping.synthesis import tcp_pose

DIRECTIONS = 16  # push directions tried, evenly round the vertical
PUSH_M = 0.04  # how far the fingers move once behind the part (the part moves about 3 cm)
START_GAP_M = 0.01  # fingers descend this far behind the part's trailing edge
# Observed points this high above the work surface stand up (a part, not the surface's noise).
STANDING_M = 0.004
FOOTPRINT_MARGIN_M = 0.004  # the part's own points: within its catalog box grown by this
# the swept corridor: the part's width less this on each side (a neighbour the part slides along
# is not shoved; touching ones lie 0-2 mm off its side in the depth)
CORRIDOR_INSET_M = 0.002
FINGER_MARGIN_M = 0.005  # room kept around the closed fingers where they descend
NEIGHBOUR_RADIUS_M = 0.08  # neighbours this close to the part set the "away" direction
# Push height: the finger tips at this share of the part's height above the surface, within
# [PUSH_TIP_MIN_M, PUSH_TIP_MAX_M] (a 5 mm spanner is pushed at 3 mm, a housing at 12 mm).
PUSH_TIP_SHARE = 0.5
PUSH_TIP_MIN_M = 0.003
PUSH_TIP_MAX_M = 0.012
# cost of a direction: the square centimetres of observed surface standing in its corridor,
# plus AWAY_WEIGHT x (1 - cos) of its angle to the direction away from the neighbours
POINTS_PER_CM2 = 25.0
AWAY_WEIGHT = 2.0
# added to the cost of a push after which no grasp is seen to open (see _opens_a_grasp): a part
# pushed into one neighbour and along another stays as stuck as it was
CLOSED_COST = 50.0
OBJECT_CELL_M = 0.003  # grid of the connected groups of standing points (objects)


@dataclass
class PushCandidate:
    """One push: ``start`` the TCP pose (4x4, base frame) where the closed fingers touch down,
    ``direction`` the horizontal unit vector they move along by ``distance_m``; ``cost`` lower is
    better; ``blocked_cm2`` observed surface standing in the swept corridor; ``opens_grasp``:
    where the part ends up, both finger slots across it are free of the neighbours that stay."""

    start: np.ndarray
    direction: np.ndarray
    distance_m: float
    cost: float
    blocked_cm2: float
    description: str
    opens_grasp: bool = False


def push_height(height_m: float) -> float:
    """Height (m) of the finger tips above the surface while pushing a part ``height_m`` tall."""
    return float(np.clip(PUSH_TIP_SHARE * height_m, PUSH_TIP_MIN_M, PUSH_TIP_MAX_M))


def push_candidates(
    points: np.ndarray,
    centre: np.ndarray,
    dominant: np.ndarray,
    size_m: tuple[float, float, float],
    surface_z: float,
    gripper: GripperSpec,
    distance_m: float = PUSH_M,
) -> tuple[list[PushCandidate], str]:
    """Ranked pushes of the part at ``centre`` (base frame, m) whose catalog box is ``size_m``
    (length along ``dominant``, width, height) resting on the surface at ``surface_z``, given the
    observed ``points`` (N, 3) around it in the base frame. Returns (candidates, reason) with the
    reason saying why the list is empty."""
    P = np.asarray(points, dtype=float).reshape(-1, 3)
    c = np.asarray(centre, dtype=float)
    a = np.asarray(dominant, dtype=float).copy()
    a[2] = 0.0
    norm = float(np.linalg.norm(a))
    if not np.all(np.isfinite(c)) or not np.isfinite(norm) or norm < 1e-9:
        return [], "no horizontal dominant axis or no finite centre to push from"
    a /= norm
    b = np.array([-a[1], a[0], 0.0])
    length, width, height = (float(s) for s in size_m)
    rel = P[:, :2] - c[:2]
    along, across = rel @ a[:2], rel @ b[:2]
    own = (np.abs(along) <= 0.5 * length + FOOTPRINT_MARGIN_M) & (
        np.abs(across) <= 0.5 * width + FOOTPRINT_MARGIN_M
    )
    tip_z = surface_z + push_height(height)
    standing = P[:, 2] > surface_z + STANDING_M
    others = standing & ~own
    if not np.any(standing):
        return [], "nothing observed standing on the surface around the part"
    objects = _connected(P[:, :2], others)
    near = others & (np.hypot(rel[:, 0], rel[:, 1]) <= NEIGHBOUR_RADIUS_M)
    away = np.zeros(2)
    if np.any(near):
        away = -rel[near].mean(axis=0)
        away /= max(float(np.linalg.norm(away)), 1e-9)
    # the closed fingers' footprint: finger_width along x, two thicknesses along the closing y
    half_x, half_y = 0.5 * gripper.finger_width_m, gripper.finger_thickness_m
    out: list[PushCandidate] = []
    landed = 0  # hand orientations refused: a finger would come down on something
    for k in range(DIRECTIONS):
        theta = 2.0 * np.pi * k / DIRECTIONS
        d = np.array([np.cos(theta), np.sin(theta)])
        e = np.array([-d[1], d[0]])
        ahead_extent = 0.5 * (length * abs(d @ a[:2]) + width * abs(d @ b[:2]))
        side_extent = 0.5 * (length * abs(e @ a[:2]) + width * abs(e @ b[:2]))
        u, w = rel @ d, rel @ e
        corridor = (
            others
            & (u > ahead_extent)
            & (u < ahead_extent + distance_m)
            & (np.abs(w) < side_extent - CORRIDOR_INSET_M)
        )
        blocked_cm2 = float(np.count_nonzero(corridor)) / POINTS_PER_CM2
        # where the part ends up among its neighbours: those in the corridor go along with it
        # (each as a whole), the others stay where they are
        pushed = others & np.isin(objects, np.unique(objects[corridor]))
        shift = (distance_m - START_GAP_M) * d
        opens = _opens_a_grasp(
            np.where(pushed[:, None], rel, rel - shift),
            others,
            d,
            e,
            ahead_extent,
            side_extent,
            gripper,
        )
        # two hand orientations: the fingers side by side across the push (closing axis e) or
        # one behind the other along it (closing axis d)
        for closing, depth, face in ((e, half_x, half_y), (d, half_y, half_x)):
            behind = ahead_extent + START_GAP_M + depth
            f0 = c[:2] - behind * d
            fu, fw = (P[:, :2] - f0) @ d, (P[:, :2] - f0) @ e
            # where the fingers come down and the way to the part's edge: nothing standing there
            landing = (
                (P[:, 2] > tip_z)
                & ~own
                & (fu >= -depth - FINGER_MARGIN_M)
                & (fu <= depth + START_GAP_M)
                & (np.abs(fw) <= face + FINGER_MARGIN_M)
            )
            if np.count_nonzero(landing) >= MIN_BLOCKING_POINTS:
                landed += 1
                continue
            tip = np.array([f0[0], f0[1], tip_z])
            approach = np.array([0.0, 0.0, -1.0])
            pose = tcp_pose(tip - gripper.tip_below_tcp_m * approach, approach, [*closing, 0.0])
            cost = (
                (0.0 if opens else CLOSED_COST)
                + blocked_cm2
                + AWAY_WEIGHT * (1.0 - float(d @ away))
                + (0.1 if closing is d else 0.0)
            )
            out.append(
                PushCandidate(
                    start=pose,
                    direction=np.array([d[0], d[1], 0.0]),
                    distance_m=distance_m,
                    cost=cost,
                    blocked_cm2=blocked_cm2,
                    opens_grasp=opens,
                    description=(
                        f"push {distance_m * 1e2:.0f} cm towards {np.degrees(theta):.0f} deg "
                        f"(fingers {'across' if closing is e else 'along'} the push; "
                        f"{blocked_cm2:.1f} cm^2 standing in the way; "
                        f"{'a grasp opens' if opens else 'no grasp seen to open'})"
                    ),
                )
            )
    if not out:
        return [], (
            f"the closed fingers would land on observed surface behind the part in each of the "
            f"{landed} directions and hand turns"
        )
    return sorted(out, key=lambda p: p.cost), "ok"


def _connected(xy: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """A label per point (N,) of the 2-D connected groups of the points in ``mask`` on a grid
    of OBJECT_CELL_M cells (touching objects may share one); 0 outside ``mask``."""
    from scipy import ndimage

    labels = np.zeros(len(xy), dtype=int)
    if not np.any(mask):
        return labels
    ij = np.floor((xy[mask] - xy[mask].min(axis=0)) / OBJECT_CELL_M).astype(int)
    grid = np.zeros(ij.max(axis=0) + 1, dtype=bool)
    grid[ij[:, 0], ij[:, 1]] = True
    lab, _ = ndimage.label(grid, structure=np.ones((3, 3), dtype=bool))
    labels[mask] = lab[ij[:, 0], ij[:, 1]]
    return labels


def _opens_a_grasp(
    rel: np.ndarray,
    obstacles: np.ndarray,
    d: np.ndarray,
    e: np.ndarray,
    ahead_extent: float,
    side_extent: float,
    gripper: GripperSpec,
) -> bool:
    """Whether, with the observed points at ``rel`` (N, 2) from the part's centre after the
    push, a top-down grasp finds both finger slots free of the ``obstacles`` (a mask of the
    points): closing across the push (``e``) over the part's ``side_extent``, or along it
    (``d``) over its ``ahead_extent``. A slot: the finger's thickness, ``gripper.clearance_m``
    beyond the part's side, its width along the side."""
    for axis, other, extent in ((e, d, side_extent), (d, e, ahead_extent)):
        if 2.0 * extent + 2.0 * gripper.clearance_m > gripper.max_opening_m:
            continue  # the hand does not open that wide
        along, across = rel @ axis, rel @ other
        centre = extent + gripper.clearance_m + 0.5 * gripper.finger_thickness_m
        in_band = obstacles & (np.abs(across) <= 0.5 * gripper.finger_width_m + FINGER_MARGIN_M)
        half = 0.5 * gripper.finger_thickness_m + FINGER_MARGIN_M
        if all(
            np.count_nonzero(in_band & (np.abs(along - sign * centre) <= half))
            < MIN_BLOCKING_POINTS
            for sign in (1.0, -1.0)
        ):
            return True
    return False
