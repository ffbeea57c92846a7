"""Grasp synthesis on hand-computed cases: closing across the narrow side, width checks, depths."""

import numpy as np
import pytest

from grasp_pipeline.grasping.gripper import PANDA_HAND, YOUBOT_STOCK, YOUBOT_WIDE, gripper_by_name
from grasp_pipeline.grasping.synthesis import (
    MIN_PAD_OVERLAP_M,
    TABLE_CLEARANCE_M,
    THIN_PART_CLEARANCE_M,
    grasps_from_point_axis,
    grasps_from_pose,
    tip_clearance,
)
from grasp_pipeline.grasping.waypoints import pick_waypoints


def _yaw_pose(yaw: float, xyz) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    T = np.eye(4)
    T[:3, :3] = [[c, -s, 0], [s, c, 0], [0, 0, 1]]
    T[:3, 3] = xyz
    return T


def test_pose_grasp_closes_across_narrow_side():
    # S40_40-like box 100 x 40 x 40 mm lying on a surface at z = 0, yawed 30 deg.
    yaw = np.radians(30)
    T = _yaw_pose(yaw, [0.5, 0.1, 0.02])
    cands, why = grasps_from_pose(T, (0.10, 0.04, 0.04), PANDA_HAND, surface_z=0.0)
    assert why == "ok"
    best = min(cands, key=lambda c: c.prior)
    G = best.pose
    # Fingers close along the object's y axis (its narrow side), not along its 100 mm x axis.
    assert abs(G[:3, 1] @ np.array([-np.sin(yaw), np.cos(yaw), 0.0])) == pytest.approx(1.0)
    assert abs(G[:3, 1] @ np.array([np.cos(yaw), np.sin(yaw), 0.0])) == pytest.approx(
        0.0, abs=1e-12
    )
    np.testing.assert_allclose(G[:3, 2], [0, 0, -1], atol=1e-12)  # straight down
    assert best.width_m == pytest.approx(0.04)
    assert best.opening_m == pytest.approx(0.04 + 2 * PANDA_HAND.clearance_m)
    # TCP at mid-height (20 mm below the 40 mm top) above the centre.
    np.testing.assert_allclose(G[:3, 3], [0.5, 0.1, 0.02], atol=1e-12)
    assert np.linalg.det(G[:3, :3]) == pytest.approx(1.0)
    # Candidates: both yaw flips, offsets along the dominant (x) axis, hand tilts about it.
    offsets = {round(float((c.pose[:3, 3] - G[:3, 3]) @ T[:3, 0]), 4) for c in cands}
    # Offsets up to 30 % of the 100 mm length; tilts 0, +-20, +-35 deg.
    assert offsets == {0.0, 0.01, -0.01, 0.02, -0.02, 0.03, -0.03}
    tilts = {round(float(np.degrees(np.arccos(-c.pose[2, 2])))) for c in cands}
    assert tilts == {0, 20, 35}
    assert len(cands) == 2 * 7 * 5  # only the 40 mm side fits: flips x offsets x tilts
    assert min(cands, key=lambda c: c.prior) is cands[0]  # untilted, unshifted first
    # Tilted hands close about the same (dominant) axis: closing stays perpendicular to it.
    assert max(abs(c.pose[:3, 1] @ T[:3, 0]) for c in cands) < 1e-12


def test_pose_grasp_flat_object_clamped_above_surface():
    # Distance tube: 32 mm ring, 10 mm high, standing on its face at surface z = 0.1.
    T = _yaw_pose(0.3, [0.4, 0.0, 0.105])
    cands, _ = grasps_from_pose(T, (0.032, 0.032, 0.01), PANDA_HAND, surface_z=0.1)
    G = cands[0].pose
    tips = G[2, 3] - PANDA_HAND.tip_below_tcp_m
    assert tips == pytest.approx(0.1 + TABLE_CLEARANCE_M)


def test_thin_part_takes_the_tips_closer_to_the_surface():
    """A 5 mm spanner lying flat: at the usual clearance the flat of the Panda's pads would
    overlap its side by 1.2 mm less than MIN_PAD_OVERLAP_M; the tips go lower (never below
    THIN_PART_CLEARANCE_M), and every variant says how close it took them."""
    T = _yaw_pose(0.3, [0.4, 0.0, 0.1025])
    cands, _ = grasps_from_pose(T, (0.16, 0.013, 0.005), PANDA_HAND, surface_z=0.1)
    tips = cands[0].pose[2, 3] - PANDA_HAND.tip_below_tcp_m
    assert tips == pytest.approx(0.1 + THIN_PART_CLEARANCE_M)
    assert {c.tip_clearance_m for c in cands} == {THIN_PART_CLEARANCE_M}
    assert tip_clearance(0.005, PANDA_HAND) == THIN_PART_CLEARANCE_M
    # a part tall enough keeps the usual clearance; in between, the pads overlap by the minimum
    assert tip_clearance(0.02, PANDA_HAND) == TABLE_CLEARANCE_M
    mid = tip_clearance(0.007, PANDA_HAND)
    assert 0.007 - mid - PANDA_HAND.pad_above_tip_m == pytest.approx(MIN_PAD_OVERLAP_M)
    assert tip_clearance(None, PANDA_HAND) == TABLE_CLEARANCE_M
    # the same rule for a detected point with the catalog's height
    pts, _ = grasps_from_point_axis(
        np.array([0.4, 0.0, 0.105]), np.array([0.0, 1.0, 0.0]), PANDA_HAND, 0.013, 0.005, 0.1
    )
    assert pts[0].pose[2, 3] - PANDA_HAND.tip_below_tcp_m == pytest.approx(
        0.1 + THIN_PART_CLEARANCE_M
    )


def test_pose_grasp_follows_tilted_object():
    # Box tilted 15 deg about its x axis: the approach follows its -z axis.
    a = np.radians(15)
    T = np.eye(4)
    T[:3, :3] = [[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]]
    T[:3, 3] = [0.5, 0.0, 0.05]
    cands, _ = grasps_from_pose(T, (0.05, 0.045, 0.025), PANDA_HAND, surface_z=None)
    np.testing.assert_allclose(cands[0].pose[:3, 2], -T[:3, 2], atol=1e-12)
    # Narrower side of the two remaining: y (45 mm) < x (50 mm).
    assert abs(cands[0].pose[:3, 1] @ T[:3, 1]) == pytest.approx(1.0)


def test_width_refused_for_stock_youbot_gripper_but_fits_wide():
    T = _yaw_pose(0.0, [0.3, 0.0, 0.02])
    cands, why = grasps_from_pose(T, (0.10, 0.04, 0.04), YOUBOT_STOCK, surface_z=0.0)
    assert cands == []
    assert "does not fit youbot_stock (stroke 23.0 mm)" in why
    cands, why = grasps_from_pose(T, (0.10, 0.04, 0.04), YOUBOT_WIDE, surface_z=0.0)
    assert why == "ok" and cands[0].width_m == pytest.approx(0.04)
    # The screw's preferred (shaft) width replaces its 34.6 mm head extent.
    cands, _ = grasps_from_pose(
        T, (0.1125, 0.0346, 0.03), YOUBOT_STOCK, 0.0, preferred_width_m=0.02
    )
    assert cands and cands[0].width_m == pytest.approx(0.02)


def test_point_axis_grasp():
    # Camera-measured top point, closing axis slightly tilted out of the horizontal.
    axis = np.array([1.0, 1.0, 0.3])
    cands, why = grasps_from_point_axis(
        np.array([0.5, 0.0, 0.14]), axis, PANDA_HAND, width_m=0.02, height_m=0.02, surface_z=0.12
    )
    assert why == "ok"
    G = cands[0].pose
    np.testing.assert_allclose(G[:3, 1], np.array([1.0, 1.0, 0.0]) / np.sqrt(2), atol=1e-12)
    np.testing.assert_allclose(G[:3, 2], [0, 0, -1], atol=1e-12)
    # Mid-height would be 0.13, but the finger tips must stay 3 mm above the surface at 0.12.
    assert G[2, 3] == pytest.approx(0.12 + TABLE_CLEARANCE_M + PANDA_HAND.tip_below_tcp_m)
    _, why = grasps_from_point_axis(
        np.zeros(3), np.array([0.0, 0.0, 1.0]), PANDA_HAND, 0.02, 0.02, None
    )
    assert "vertical" in why
    _, why = grasps_from_point_axis(
        np.zeros(3), np.array([1.0, 0, 0]), PANDA_HAND, 0.09, 0.02, None
    )
    assert "does not fit panda_hand" in why
    with pytest.raises(ValueError, match="pickup point"):
        grasps_from_point_axis(np.array([np.nan, 0, 0]), axis, PANDA_HAND, 0.02, 0.02, None)


def test_waypoints_order_and_geometry():
    cands, _ = grasps_from_pose(_yaw_pose(0.0, [0.5, 0, 0.02]), (0.1, 0.04, 0.04), PANDA_HAND, 0.0)
    wps = pick_waypoints(cands[0], pre_grasp_m=0.1, lift_m=0.12)
    assert [w.name for w in wps] == ["pre_grasp", "approach", "close", "lift", "retreat"]
    G = cands[0].pose
    np.testing.assert_allclose(wps[0].pose[:3, 3], G[:3, 3] + [0, 0, 0.1])
    np.testing.assert_allclose(wps[3].pose[:3, 3], G[:3, 3] + [0, 0, 0.12])
    assert wps[0].gripper == pytest.approx(cands[0].opening_m) and wps[2].gripper == 0.0


def test_gripper_lookup():
    assert gripper_by_name("youbot_wide").max_opening_m == pytest.approx(0.066)
    with pytest.raises(ValueError, match="unknown gripper"):
        gripper_by_name("suction")


def test_lying_cylinder_rolled_is_grasped_from_above_across_its_diameter():
    # Axis-like cylinder (96 x 27 x 27 mm) lying along x, rolled 40 deg about its axis.
    a = np.radians(40)
    T = np.eye(4)
    T[:3, :3] = [[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]]
    T[:3, 3] = [0.5, 0.0, 0.0135]
    cands, _ = grasps_from_pose(T, (0.096, 0.027, 0.027), PANDA_HAND, 0.0, symmetry_axis="x")
    G = cands[0].pose
    np.testing.assert_allclose(G[:3, 2], [0, 0, -1], atol=1e-12)
    np.testing.assert_allclose(np.abs(G[:3, 1]), [0, 1, 0], atol=1e-12)
    assert cands[0].width_m == pytest.approx(0.027)


def test_tilted_approach_keeps_both_finger_tips_above_surface():
    # Bearing box tilted 20 deg about x: the approach tilts, the lower finger must clear the table.
    a = np.radians(20)
    T = np.eye(4)
    T[:3, :3] = [[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]]
    T[:3, 3] = [0.5, 0.0, 0.03]
    for c in grasps_from_pose(T, (0.05, 0.045, 0.025), PANDA_HAND, surface_z=0.0)[0]:
        G, half = c.pose, c.opening_m / 2
        for side in (1.0, -1.0):
            tip = G[:3, 3] + PANDA_HAND.tip_below_tcp_m * G[:3, 2] + side * half * G[:3, 1]
            assert tip[2] >= TABLE_CLEARANCE_M - 1e-9


def test_round_top_adds_closing_directions_and_short_objects_get_small_offsets():
    # M20 nut (34.6 x 30 x 16 mm) lying flat: closing every 30 deg about the vertical approach.
    T = _yaw_pose(0.0, [0.5, 0.0, 0.008])
    size = (0.0346, 0.03, 0.016)
    plain, _ = grasps_from_pose(T, size, PANDA_HAND, 0.0, tilts_deg=(0.0,))
    rounded, _ = grasps_from_pose(T, size, PANDA_HAND, 0.0, tilts_deg=(0.0,), round_top=True)
    yaws = {round(float(np.degrees(np.arctan2(c.pose[1, 1], c.pose[0, 1]))) % 180) for c in rounded}
    assert yaws == set(range(0, 180, 15))
    assert len(rounded) > len(plain)
    # ... each through the nut's centre, upright (no offset chord, no tilted hand)
    untilted, _ = grasps_from_pose(T, size, PANDA_HAND, 0.0, round_top=True)
    assert all(np.allclose(c.pose[:2, 3], [0.5, 0.0]) for c in untilted)
    assert all(c.pose[2, 2] == pytest.approx(-1.0) for c in untilted)
    # 30 % of 34.6 mm (across the y closing) allows offsets of 0 and +-10 mm only.
    offs = {round(float(c.pose[0, 3] - 0.5), 3) for c in plain if abs(c.pose[1, 1]) > 0.99}
    assert offs == {0.0, 0.01, -0.01}


def _closing_yaws_deg(cands) -> set[int]:
    """Closing directions of the untilted candidates, as yaw about the vertical mod 180 deg."""
    out = set()
    for c in cands:
        y = c.pose[:3, 1]
        if abs(y[2]) < 1e-9:
            out.add(round(float(np.degrees(np.arctan2(y[1], y[0])))) % 180)
    return out


def test_point_axis_turns_the_closing_direction_to_clear_neighbours():
    # A 20 mm profile detected with its closing axis along base y (yaw 90 deg).
    point, axis = np.array([0.5, 0.0, 0.02]), np.array([0.0, 1.0, 0.0])
    cands, why = grasps_from_point_axis(point, axis, PANDA_HAND, 0.02, 0.02, 0.0, length_m=0.1)
    assert why == "ok"
    assert _closing_yaws_deg(cands) == {60, 75, 90, 105, 120}
    best = min(cands, key=lambda c: c.prior)
    assert abs(best.pose[:3, 1] @ axis) == pytest.approx(1.0)  # the detected direction first
    turned = [c for c in cands if "turned +30 deg" in c.description]
    assert turned and all(c.width_m == pytest.approx(0.02 / np.cos(np.radians(30))) for c in turned)
    assert min(c.prior for c in turned) > best.prior
    # a part round seen from above is closed on from every side with its own width
    cands, _ = grasps_from_point_axis(
        point, axis, PANDA_HAND, 0.047, 0.014, 0.0, length_m=0.047, round_top=True
    )
    assert _closing_yaws_deg(cands) == set(range(0, 180, 15))
    assert {round(c.width_m, 6) for c in cands} == {0.047}
    # ... through its centre only, upright: a chord 10 mm off a nut's centre or a tilted hand
    # closed on its wall and the nut slipped out
    assert all(np.allclose(c.pose[:2, 3], point[:2]) for c in cands)
    assert all(c.pose[2, 2] == pytest.approx(-1.0) for c in cands)
    assert len(cands) == 2 * 12  # 12 closing directions, each from both sides
    # a turn whose width would not fit the hand is left out (70 mm / cos 30 > 78 mm)
    cands, _ = grasps_from_point_axis(point, axis, PANDA_HAND, 0.070, 0.03, 0.0, length_m=0.1)
    assert _closing_yaws_deg(cands) == {75, 90, 105}
