"""Pushing a part free of touching neighbours (grasping.singulation): where the closed fingers may
come down, which way the part goes, and, in PyBullet, a nut that no grasp can reach until a push
frees it."""

from __future__ import annotations

import numpy as np
import pytest

from grasp_pipeline.grasping.gripper import PANDA_HAND
from grasp_pipeline.grasping.singulation import (
    DIRECTIONS,
    START_GAP_M,
    push_candidates,
    push_height,
)
from grasp_pipeline.grasping.waypoints import push_waypoints

SURFACE = 0.0
STEP = 0.002  # the observed points every 2 mm, as the planner's cloud at 0.6 m


def _cloud(*boxes: tuple[float, float, float, float, float]) -> np.ndarray:
    """Points (base frame) of a surface 0.3 m square at SURFACE with boxes (x0, x1, y0, y1,
    height) standing on it: the top surface of each."""
    g = np.arange(-0.15, 0.15, STEP)
    x, y = np.meshgrid(g, g)
    z = np.full_like(x, SURFACE)
    for x0, x1, y0, y1, h in boxes:
        inside = (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)
        z[inside] = np.maximum(z[inside], SURFACE + h)
    return np.stack([x.ravel(), y.ravel(), z.ravel()], axis=1)


PART = (-0.015, 0.015, -0.015, 0.015, 0.016)  # a 30 mm nut-sized part at the origin
SIZE = (0.030, 0.030, 0.016)


def _push(points):
    return push_candidates(
        points, np.array([0.0, 0.0, 0.016]), np.array([1.0, 0.0, 0.0]), SIZE, SURFACE, PANDA_HAND
    )


def test_between_two_neighbours_the_part_is_pushed_out_sideways():
    # touching profiles on both x sides: the fingers come down on the free y sides
    cands, why = _push(
        _cloud(PART, (0.016, 0.056, -0.06, 0.06, 0.04), (-0.056, -0.016, -0.06, 0.06, 0.04))
    )
    assert cands, why
    best = cands[0]
    assert abs(best.direction[1]) > 0.9 and best.blocked_cm2 == 0.0
    # nothing that comes down on a neighbour: no push along x is offered at all
    assert all(abs(c.direction[0]) < 0.99 for c in cands)
    # the fingers land behind the part, on the side opposite to the push, at the push height
    tip = best.start[:3, 3] + PANDA_HAND.tip_below_tcp_m * best.start[:3, 2]
    assert tip[2] == pytest.approx(SURFACE + push_height(SIZE[2]))
    behind = -(tip[:2] @ best.direction[:2])
    assert behind >= 0.015 + START_GAP_M
    assert best.start[:3, 2] @ [0.0, 0.0, -1.0] == pytest.approx(1.0)  # straight down


def test_the_free_direction_wins_and_a_walled_in_part_gets_no_push():
    # a neighbour on +x only: the fingers cannot come down on it to push the part to -x, so
    # the part slides along it (to +-y), and a push into it comes last
    cands, _ = _push(_cloud(PART, (0.016, 0.056, -0.06, 0.06, 0.04)))
    assert abs(cands[0].direction[1]) > 0.9 and cands[0].blocked_cm2 == 0.0
    assert all(c.direction[0] > -0.9 for c in cands)
    free = [k for k, c in enumerate(cands) if c.blocked_cm2 == 0.0]
    into = [k for k, c in enumerate(cands) if c.direction[0] > 0.9]
    assert into and min(cands[k].blocked_cm2 for k in into) > 5.0 and min(into) > max(free)
    walls = [
        (0.016, 0.056, -0.07, 0.07, 0.04),
        (-0.056, -0.016, -0.07, 0.07, 0.04),
        (-0.07, 0.07, 0.016, 0.056, 0.04),
        (-0.07, 0.07, -0.056, -0.016, 0.04),
    ]
    cands, why = _push(_cloud(PART, *walls))
    assert cands == [] and "would land on observed surface" in why
    assert f"{2 * DIRECTIONS}" in why


def test_bad_input_is_refused_with_a_reason():
    pts = _cloud(PART)
    cands, why = push_candidates(
        pts, np.array([0.0, 0.0, 0.0]), np.array([0.0, 0.0, 1.0]), SIZE, SURFACE, PANDA_HAND
    )
    assert cands == [] and "dominant axis" in why
    cands, why = push_candidates(
        _cloud(), np.array([0.0, 0.0, 0.0]), np.array([1.0, 0.0, 0.0]), SIZE, 0.05, PANDA_HAND
    )
    assert cands == [] and "nothing observed standing" in why


def test_push_waypoints_close_descend_push_lift_and_go_home():
    start = np.eye(4)
    start[:3, :3] = np.diag([1.0, -1.0, -1.0])  # approach down
    start[:3, 3] = [0.4, 0.0, 0.02]
    home = np.eye(4)
    home[:3, 3] = [0.3, 0.0, 0.5]
    wps = push_waypoints(start, np.array([0.0, 1.0, 0.0]), 0.05, home, np.zeros(7))
    assert [w.name for w in wps] == ["pre_push", "descend", "push", "push_retreat", "home"]
    assert wps[0].gripper == 0.0 and wps[0].mode == "joint"  # fingers closed before going down
    assert not wps[1].contact_ok  # the way down touches nothing
    np.testing.assert_allclose(wps[2].pose[:3, 3] - wps[1].pose[:3, 3], [0.0, 0.05, 0.0])
    assert wps[3].pose[2, 3] > wps[2].pose[2, 3] + 0.1
    np.testing.assert_allclose(wps[4].pose, home)
    assert wps[4].joints is not None and wps[4].mode == "joint"  # back to where the arm was


@pytest.fixture(scope="module")
def panda_cell():
    from grasp_pipeline.sim.grasp_execution import PickCell

    cell = PickCell("franka")
    yield cell
    cell.world.close()


def _spawn(cell, name: str, xy, yaw: float) -> int:
    w = cell.world
    T = np.eye(4)
    c, s = np.cos(yaw), np.sin(yaw)
    T[:3, :3] = [[c, -s, 0], [s, c, 0], [0, 0, 1]]
    T[:3, 3] = [xy[0], xy[1], w.surface_z + w.catalog[name].size[2] / 2 + 0.001]
    return w.spawn_object(name, T)


@pytest.mark.timeout(300)
def test_a_nut_no_grasp_can_reach_is_pushed_free_and_then_picked(panda_cell):
    """An M20 nut with a 100 mm profile touching it on one side and a spacer on the next:
    every grasp puts a finger on one of them in the observed depth. The push that frees it
    shoves the profile along (a push into the spacer would leave the nut between the two),
    and the pick from the next look lifts it."""
    from grasp_pipeline.geometry.camera import depth_to_metres, preset
    from grasp_pipeline.grasping.depth_clearance import ObservedCloud
    from grasp_pipeline.sim.camera import SimCamera

    cell = panda_cell
    cell.home()
    cell.world.clear_objects()
    cx, cy = 0.0, 0.0
    nut = _spawn(cell, "M20", (cx, cy), 0.0)
    # a 100 x 40 x 40 mm profile along y at +x, a 30 mm spacer at +y, both 1 mm off the nut
    _spawn(cell, "S40_40_G", (cx + 0.0155 + 0.020 + 0.001, cy), np.pi / 2)
    _spawn(cell, "Spacer", (cx, cy + 0.0155 + 0.015 + 0.001), 0.0)
    cell.world.settle()
    camera = SimCamera(preset("d435"), cell.camera_pose_world, noise=True, seed=3)

    def look():
        frame = cell.world.render(camera)
        det = cell.truth_detection(nut, False)
        observed = ObservedCloud(depth_to_metres(frame.depth, frame.camera), frame.camera)
        return [det], observed

    dets, observed = look()
    refused = cell.planner.plan_best(dets, "M20", age_s=0.0, observed=observed)
    assert not refused.ok and refused.crowded, refused.reason
    joints = cell.arm.joints()
    none, nothing = cell.planner.push_free(dets, "Spacer", observed)  # not detected: no push
    assert not none.ok and nothing is None and "no detection" in none.reason
    np.testing.assert_allclose(cell.arm.joints(), joints)  # nothing moved
    z0 = float(cell.world.object_pose(nut)[2, 3])
    xy0 = cell.world.object_pose(nut)[:2, 3].copy()
    push, res = cell.planner.push_free(dets, "M20", observed)  # planned and carried out
    assert push.ok and push.action == "push", push.reason
    assert "a grasp opens" in push.reason
    direction = push.waypoints[2][:3, 3] - push.waypoints[1][:3, 3]
    assert direction[0] > 0.9 * np.linalg.norm(direction)  # into the profile: +x
    assert res is not None and res.ok, res
    cell.arm.hold(0.5)
    moved = float(np.linalg.norm(cell.world.object_pose(nut)[:2, 3] - xy0))
    assert 0.015 < moved < 0.06
    np.testing.assert_allclose(cell.arm.joints(), cell.arm.model.home, atol=0.05)  # out of view
    dets, observed = look()
    plan = cell.planner.plan_best(dets, "M20", age_s=0.0, observed=observed)
    assert plan.ok, plan.reason
    assert cell.planner.execute(plan).ok
    cell.arm.hold(1.0)
    held, why, _ = cell.lift_check(nut, z0)
    assert held, why
