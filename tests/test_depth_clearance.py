"""Finger clearance in the observed depth: synthetic top-down depth images with hand-placed boxes."""

from __future__ import annotations

import numpy as np
import pytest

from grasp_pipeline.geometry.camera import preset
from grasp_pipeline.grasping.depth_clearance import ObservedCloud, finger_clearance
from grasp_pipeline.grasping.gripper import PANDA_HAND
from grasp_pipeline.grasping.synthesis import tcp_pose

CAM = preset("d435")
TABLE_M = 0.60  # camera 0.6 m above the table, looking straight down


def _scene(*boxes: tuple[float, float, float, float, float]) -> np.ndarray:
    """Depth (metres) of a table with boxes (x0, x1, y0, y1 in metres on the table, height)."""
    v, u = np.mgrid[0 : CAM.height, 0 : CAM.width].astype(np.float64)
    depth = np.full((CAM.height, CAM.width), TABLE_M)
    for x0, x1, y0, y1, h in boxes:
        z = TABLE_M - h
        x, y = (u - CAM.cx) / CAM.fx * z, (v - CAM.cy) / CAM.fy * z
        inside = (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)
        depth[inside] = np.minimum(depth[inside], z)
    return depth.astype(np.float32)


OBJECT = (-0.015, 0.015, -0.030, 0.030, 0.020)  # 30 mm across x, 60 mm along y, 20 mm high
NEIGHBOUR = (0.016, 0.046, -0.030, 0.030, 0.020)  # touching it on the +x side


def _grasp(closing_cam, width_m: float):
    # tips 3 mm above the table: the planner raises candidates that far (synthesis.py)
    tcp_z = TABLE_M - 0.003 - PANDA_HAND.tip_below_tcp_m
    pose = tcp_pose(np.array([0.0, 0.0, tcp_z]), np.array([0.0, 0.0, 1.0]), closing_cam)
    return pose, PANDA_HAND.pre_grasp_opening(width_m)


def _check(depth, closing, width):
    pose, opening = _grasp(np.asarray(closing, float), width)
    return finger_clearance(ObservedCloud(depth, CAM), pose, opening, PANDA_HAND)


def test_a_free_object_is_clear_across_its_narrow_side():
    c = _check(_scene(OBJECT), [1.0, 0.0, 0.0], 0.030)
    assert c.ok, c.reason
    assert c.blocking == (0, 0) and c.between > 50


def test_a_touching_neighbour_blocks_that_finger_and_the_other_yaw_is_clear():
    depth = _scene(OBJECT, NEIGHBOUR)
    across = _check(depth, [1.0, 0.0, 0.0], 0.030)
    assert not across.ok and "one finger" in across.reason
    assert across.blocking[0] == 0 and across.blocking[1] > 20  # the +x finger only
    # closing along the object's long side: the fingers stay off the neighbour's footprint
    along = _check(depth, [0.0, 1.0, 0.0], 0.060)
    assert along.ok, along.reason


def test_an_empty_table_has_nothing_to_grasp_and_noise_does_not_block():
    depth = _scene()
    rng = np.random.default_rng(0)
    speckle = rng.integers(0, depth.size, 2)  # two isolated bad returns near nothing
    depth.flat[speckle] = 0.30
    c = _check(depth, [1.0, 0.0, 0.0], 0.030)
    assert not c.ok and c.reason == "nothing observed between the fingers"
    assert max(c.blocking) < 4


def test_missing_depth_is_ignored_and_bad_sizes_are_refused():
    depth = _scene(OBJECT)
    depth[:, : CAM.width // 2] = np.nan  # half the image without returns
    cloud = ObservedCloud(depth, CAM)
    assert np.isfinite(cloud.points).all()
    near = cloud.near(np.array([0.0, 0.0, 0.58]), 0.05)
    assert 0 < len(near.points) < len(cloud.points)
    assert np.all(np.linalg.norm(near.points - [0.0, 0.0, 0.58], axis=1) <= 0.05 + 1e-6)
    with pytest.raises(ValueError, match="but the camera is"):
        ObservedCloud(depth[:10], CAM)


def test_centring_moves_the_fingers_onto_an_object_seen_off_the_detected_point():
    from grasp_pipeline.grasping.depth_clearance import centre_on_observed

    off = (-0.015 + 0.009, 0.015 + 0.009, -0.030, 0.030, 0.020)  # the part 9 mm off along x
    depth = _scene(off)
    pose, opening = _grasp(np.array([1.0, 0.0, 0.0]), 0.030)
    cloud = ObservedCloud(depth, CAM)
    assert not finger_clearance(cloud, pose, opening, PANDA_HAND).ok  # a finger on its edge
    shift, width = centre_on_observed(cloud, pose, opening, PANDA_HAND)
    assert shift == pytest.approx(0.009, abs=0.0015)
    assert width == pytest.approx(0.030, abs=0.003)
    opening2 = PANDA_HAND.pre_grasp_opening(width)
    moved = pose.copy()
    moved[:3, 3] += shift * moved[:3, 1]
    assert finger_clearance(cloud, moved, opening2, PANDA_HAND).ok
    # a touching neighbour makes the observed extent too wide for one grasp: no centring
    assert (
        centre_on_observed(
            ObservedCloud(_scene(OBJECT, NEIGHBOUR, (-0.05, -0.016, -0.03, 0.03, 0.02)), CAM),
            pose,
            0.076,
            PANDA_HAND,
        )
        is None
    )


def test_centring_keeps_off_a_rings_wall_and_off_a_neighbour_inside_the_hand():
    """A ring 30 mm across with a 20 mm hole, detected 8 mm off its centre: the points in the
    hand's reach are its two walls (no points in the hole: the table there lies below the tips),
    30 mm wide, and centring brings the fingers back round it. When half the ring has no depth
    (metal loses returns) the points left are 15 mm wide: centring on them puts the fingers round
    that half, one of them in the hole, to pinch the wall; told the part's width, centring
    leaves the grasp where it was. A touching
    neighbour inside the opened hand makes the points wider than the part: no centring either."""
    from grasp_pipeline.grasping.depth_clearance import centre_on_observed

    v, u = np.mgrid[0 : CAM.height, 0 : CAM.width].astype(np.float64)
    z = TABLE_M - 0.016
    x, y = (u - CAM.cx) / CAM.fx * z, (v - CAM.cy) / CAM.fy * z
    r = np.hypot(x, y)
    ring = (r <= 0.015) & (r >= 0.010)
    depth = np.where(ring, z, TABLE_M).astype(np.float32)
    pose, opening = _grasp(np.array([1.0, 0.0, 0.0]), 0.030)
    pose[:3, 3] += 0.008 * pose[:3, 1]  # the detected point 8 mm off along the closing axis
    cloud = ObservedCloud(depth, CAM)
    shift, width = centre_on_observed(cloud, pose, opening, PANDA_HAND, expected_width_m=0.030)
    assert shift == pytest.approx(-0.008, abs=0.0015)
    assert width == pytest.approx(0.030, abs=0.003)
    one_wall = depth.copy()
    one_wall[ring & (x < 0)] = np.nan
    cloud = ObservedCloud(one_wall, CAM)
    lone = centre_on_observed(cloud, pose, opening, PANDA_HAND)
    assert lone is not None and abs(lone[0] + 0.008 - 0.0075) < 0.002  # onto the half, unchecked
    assert centre_on_observed(cloud, pose, opening, PANDA_HAND, expected_width_m=0.030) is None
    with_neighbour = np.where((x > 0.016) & (x < 0.036) & (np.abs(y) < 0.03), z, depth)
    wide_open = PANDA_HAND.pre_grasp_opening(0.055)
    crowded = ObservedCloud(with_neighbour.astype(np.float32), CAM)
    assert centre_on_observed(crowded, pose, wide_open, PANDA_HAND) is not None
    assert centre_on_observed(crowded, pose, wide_open, PANDA_HAND, expected_width_m=0.030) is None


def test_tips_skimming_the_table_for_a_thin_part_are_not_blocked_by_the_table():
    """A 5 mm spanner handle: the planner takes the tips to 0.5 mm above the table (synthesis.
    tip_clearance); the table under them, with 1 mm of depth noise, is not an obstacle when the
    check is told how much closer than usual the tips go, and the table is not 'between' them."""
    from grasp_pipeline.grasping.synthesis import TABLE_CLEARANCE_M, THIN_PART_CLEARANCE_M

    handle = (-0.0065, 0.0065, -0.08, 0.08, 0.005)
    rng = np.random.default_rng(0)
    depth = _scene(handle) + rng.normal(0.0, 0.001, (CAM.height, CAM.width)).astype(np.float32)
    tcp_z = TABLE_M - THIN_PART_CLEARANCE_M - PANDA_HAND.tip_below_tcp_m
    pose = tcp_pose(np.array([0.0, 0.0, tcp_z]), np.array([0.0, 0.0, 1.0]), np.array([1.0, 0, 0]))
    opening = PANDA_HAND.pre_grasp_opening(0.013)
    cloud = ObservedCloud(depth, CAM)
    plain = finger_clearance(cloud, pose, opening, PANDA_HAND)
    assert not plain.ok and "would land" in plain.reason  # the noisy table counts as obstacle
    skim = TABLE_CLEARANCE_M - THIN_PART_CLEARANCE_M
    c = finger_clearance(cloud, pose, opening, PANDA_HAND, skim_m=skim)
    assert c.ok, c.reason
    # nothing but the table between the fingers: still "nothing observed"
    empty = finger_clearance(ObservedCloud(_scene(), CAM), pose, opening, PANDA_HAND, skim_m=skim)
    assert not empty.ok and "nothing observed" in empty.reason
