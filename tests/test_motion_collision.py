"""The collision checker: clearances, the work-surface margin, nudging loose neighbours."""

import numpy as np
import pybullet as p
import pytest

from grasp_pipeline.sim.grasp_execution import PickCell


@pytest.fixture(scope="module")
def cell():
    c = PickCell("franka")
    yield c
    c.world.close()


def _box_at(cell, centre, half=0.01):
    c = cell.world.client
    col = p.createCollisionShape(p.GEOM_BOX, halfExtents=[half] * 3, physicsClientId=c)
    body = p.createMultiBody(0, col, -1, list(centre), physicsClientId=c)
    cell.world.distractors.append(body)  # a loose part: an obstacle the fingers may nudge
    return body


def _finger_box_gap(cell, body):
    pts = p.getClosestPoints(
        cell.arm.body, body, 0.05, cell.arm.finger_idx[0], physicsClientId=cell.world.client
    )
    return min(pt[8] for pt in pts)


def test_clearance_push_and_restore(cell):
    cell.home()
    chk = cell.checker
    q = cell.arm.joints()
    opening = cell.arm.opening()
    lo, hi = (
        np.array(v)
        for v in p.getAABB(cell.arm.body, cell.arm.finger_idx[0], physicsClientId=cell.world.client)
    )
    finger_centre = (lo + hi) / 2
    # A cube buried in the left finger: strict check refuses, push tolerance (4 mm) refuses too.
    deep = _box_at(cell, finger_centre)
    try:
        assert _finger_box_gap(cell, deep) < -0.004
        hit = chk.first_collision([q], opening)
        assert hit is not None and "panda_leftfinger" in hit and "within 5 mm of distractor" in hit
        hit = chk.first_collision([q], opening, pushable={deep})
        assert hit is not None and "pushes" in hit
        assert chk.first_collision([q], opening, allowed={deep}) is None
    finally:
        cell.world.remove_object(deep)
    # A cube ~2.5 mm beside the finger along y (placed at the AABB, then moved by the measured
    # gap: AABBs carry a collision margin).
    y_out = hi[1] + 0.01
    near = _box_at(cell, [finger_centre[0], y_out, finger_centre[2]])
    gap = _finger_box_gap(cell, near)
    cell.world.remove_object(near)
    near = _box_at(cell, [finger_centre[0], y_out + 0.0025 - gap, finger_centre[2]])
    try:
        gap = _finger_box_gap(cell, near)
        assert 0.001 < gap < 0.004
        assert "within 5 mm" in chk.first_collision([q], opening)
        assert chk.first_collision([q], opening, pushable={near}) is None
    finally:
        cell.world.remove_object(near)
    # The check never moves the robot.
    np.testing.assert_array_equal(cell.arm.joints(), q)
    assert cell.arm.opening() == opening


def test_work_surface_margin(cell):
    cell.home()
    chk = cell.checker
    q = cell.arm.joints()
    T = cell.arm.tcp_world(q)
    # Lower the TCP until the finger tips are 3 mm above the surface: allowed (2 mm margin) ...
    tips_low = T[2, 3] - cell.arm.model.gripper.tip_below_tcp_m
    target = np.linalg.inv(cell.base_pose_world) @ T
    target[2, 3] -= tips_low - (cell.world.surface_z + 0.004)
    ik = cell.arm.model.ik(target, q_seed=q)
    assert ik.ok
    assert chk.first_collision([ik.q], cell.arm.opening()) is None
    # ... and 8 mm lower, the fingers are in the surface: refused, naming it.
    target[2, 3] -= 0.008
    ik = cell.arm.model.ik(target, q_seed=q)
    hit = chk.first_collision([ik.q], cell.arm.opening())
    assert hit is not None and "work surface" in hit
