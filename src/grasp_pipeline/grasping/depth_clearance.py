"""Finger clearance checked in the observed depth, as depth-based grasp planners do.

A candidate grasp is judged against what the camera sees, not against the labels of detected
neighbours: the observed points are moved into the grasp's TCP frame (z = approach, y = closing,
see :mod:`.gripper`), and each finger, descending along the approach with the hand opened to the
candidate's opening, sweeps a box: across the closing axis from the opening's half width to that
plus the finger's thickness, along x the finger's width, and along the approach everything above
the finger tip (from the pre-grasp distance on). Observed points inside a swept box mean the
finger would land on something; points between the fingers mean there is something to grasp.

Units: metres; the depth image is in metres (NaN or 0 = no return), aligned to ``camera``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from grasp_pipeline.geometry.camera import CameraIntrinsics
from grasp_pipeline.grasping.gripper import GripperSpec

# A finger is blocked when at least this many observed points fall into its swept box: single
# speckles of depth noise are not obstacles.
MIN_BLOCKING_POINTS = 4
# Something lies between the fingers when at least this many points do (a 4 mm Allen key seen
# from 0.6 m leaves few).
MIN_GRASPED_POINTS = 3
# Centring on the observed object (centre_on_observed) trusts the points between the fingers only
# when they are as wide as the part: from CENTRE_MIN_SHARE of its width (less is one wall of a
# nut or ring, the rest lost to the hole or to missing depth: centring there pinched the wall,
# and the part slipped out) up to CENTRE_MAX_FACTOR times it plus CENTRE_MAX_EXTRA_M (more is a
# neighbour inside the hand), and moves the grasp by at most CENTRE_MAX_SHIFT_SHARE of the
# width plus CENTRE_SHIFT_EXTRA_M (a detection that far off is not on the part's middle).
CENTRE_MIN_SHARE = 0.6
CENTRE_MAX_FACTOR = 1.2
CENTRE_MAX_EXTRA_M = 0.006
CENTRE_MAX_SHIFT_SHARE = 0.25
CENTRE_SHIFT_EXTRA_M = 0.003
# Points are taken every ``stride`` pixels so that about this many columns remain.
CLOUD_COLUMNS = 320


@dataclass
class Clearance:
    """``blocking``: points in each finger's swept box (y < 0 side, y > 0 side); ``between``:
    points between the fingers within their reach; ``ok``: both fingers clear and something
    between them."""

    ok: bool
    reason: str
    blocking: tuple[int, int]
    between: int


class ObservedCloud:
    """The points of one depth frame in the camera optical frame, subsampled by ``stride``
    (default: every pixel up to 320 columns, every second one at 640)."""

    def __init__(
        self, depth_m: np.ndarray, camera: CameraIntrinsics, stride: int | None = None
    ) -> None:
        d = np.asarray(depth_m, dtype=np.float32)
        if d.shape != (camera.height, camera.width):
            raise ValueError(
                f"depth is {d.shape[1]}x{d.shape[0]} but the camera is "
                f"{camera.width}x{camera.height}"
            )
        if stride is None:
            stride = max(1, camera.width // CLOUD_COLUMNS)
        if stride < 1:
            raise ValueError(f"stride must be >= 1, got {stride}")
        v, u = np.mgrid[0 : camera.height : stride, 0 : camera.width : stride]
        z = d[::stride, ::stride]
        keep = np.isfinite(z) & (z > 0)
        z, u, v = z[keep], u[keep].astype(np.float32), v[keep].astype(np.float32)
        self.points = np.stack(
            [(u - camera.cx) / camera.fx * z, (v - camera.cy) / camera.fy * z, z], axis=1
        )  # (N, 3) metres, camera optical frame

    def near(self, point_cam: np.ndarray, radius_m: float) -> ObservedCloud:
        """The points within ``radius_m`` of ``point_cam`` (camera frame): what a grasp there
        can touch, so each candidate's check stays cheap."""
        out = ObservedCloud.__new__(ObservedCloud)
        d = self.points - np.asarray(point_cam, dtype=np.float32)
        out.points = self.points[np.einsum("ij,ij->i", d, d) <= radius_m * radius_m]
        return out

    def in_frame(self, pose_cam: np.ndarray) -> np.ndarray:
        """The points in the frame whose pose (4x4, frame -> camera) is ``pose_cam``."""
        R, t = pose_cam[:3, :3], pose_cam[:3, 3]
        return (self.points - t) @ R


def finger_clearance(
    cloud: ObservedCloud,
    tcp_pose_cam: np.ndarray,
    opening_m: float,
    gripper: GripperSpec,
    approach_m: float = 0.10,
    margin_m: float = 0.003,
    skim_m: float = 0.0,
) -> Clearance:
    """Are both fingers of a grasp at ``tcp_pose_cam`` (TCP -> camera, 4x4) clear in ``cloud``?

    ``opening_m``: finger-to-finger opening during the descent; ``approach_m``: how far above the
    TCP the descent starts (the pre-grasp distance); ``margin_m``: extra room around each finger;
    ``skim_m``: how much closer than usual to the work surface the grasp takes its finger tips
    (thin parts, see :func:`~grasp_pipeline.grasping.synthesis.tip_clearance`): the surface's
    points that close under the tips are neither obstacles nor part of what is grasped.
    """
    p = cloud.in_frame(np.asarray(tcp_pose_cam, dtype=float))
    tip = gripper.tip_below_tcp_m - skim_m
    # along the approach: from the pre-grasp down to just above the finger tip
    along = (p[:, 2] > -approach_m) & (p[:, 2] < tip - 0.5 * margin_m)
    across_x = np.abs(p[:, 0]) <= 0.5 * gripper.finger_width_m + margin_m
    half = 0.5 * opening_m
    inner, outer = half - margin_m, half + gripper.finger_thickness_m + margin_m
    y = p[:, 1]
    sel = along & across_x
    left = int(np.count_nonzero(sel & (y <= -inner) & (y >= -outer)))
    right = int(np.count_nonzero(sel & (y >= inner) & (y <= outer)))
    reach = (p[:, 2] > -gripper.finger_length_m) & (p[:, 2] < tip)
    between = int(np.count_nonzero(reach & across_x & (np.abs(y) < inner)))
    if left >= MIN_BLOCKING_POINTS or right >= MIN_BLOCKING_POINTS:
        side = "both fingers" if min(left, right) >= MIN_BLOCKING_POINTS else "one finger"
        return Clearance(
            False,
            f"{side} would land on observed surface ({left}/{right} points in the finger paths)",
            (left, right),
            between,
        )
    if between < MIN_GRASPED_POINTS:
        return Clearance(False, "nothing observed between the fingers", (left, right), between)
    return Clearance(True, "clear", (left, right), between)


def centre_on_observed(
    cloud: ObservedCloud,
    tcp_pose_cam: np.ndarray,
    opening_m: float,
    gripper: GripperSpec,
    margin_m: float = 0.003,
    skim_m: float = 0.0,
    expected_width_m: float | None = None,
) -> tuple[float, float] | None:
    """Where the observed object between the fingers really is: (shift along the closing axis
    that centres the fingers on the points within the hand's reach, the width of those points
    across the fingers), or None when those points do not fit the gripper (a neighbour inside
    the region, or nothing there) or, given the part's ``expected_width_m`` across the fingers,
    when they are not as wide as the part or lie too far off (see CENTRE_MIN_SHARE).

    A detected pickup point a few millimetres off, or a width from the catalog, would put one
    finger on the object's own edge; the observed extent across the fingers corrects both.
    ``skim_m``: as in :func:`finger_clearance`.
    """
    p = cloud.in_frame(np.asarray(tcp_pose_cam, dtype=float))
    tip = gripper.tip_below_tcp_m - skim_m
    reach = (p[:, 2] > -gripper.finger_length_m) & (p[:, 2] < tip - margin_m)
    band = np.abs(p[:, 0]) <= 0.5 * gripper.finger_width_m + margin_m
    y = p[reach & band, 1]
    y = y[np.abs(y) < 0.5 * opening_m + gripper.finger_thickness_m]
    if y.size < MIN_GRASPED_POINTS:
        return None
    lo, hi = np.percentile(y, [2.0, 98.0])
    width = float(hi - lo)
    ok, _ = gripper.check_width(width)
    if not ok:
        return None
    shift = 0.5 * float(lo + hi)
    if expected_width_m is not None and not (
        CENTRE_MIN_SHARE * expected_width_m
        <= width
        <= CENTRE_MAX_FACTOR * expected_width_m + CENTRE_MAX_EXTRA_M
        and abs(shift) <= CENTRE_MAX_SHIFT_SHARE * expected_width_m + CENTRE_SHIFT_EXTRA_M
    ):
        return None
    return shift, width
