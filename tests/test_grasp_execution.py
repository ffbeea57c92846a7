"""Picks executed in PyBullet: the Panda and the youBot lift catalog objects from true poses, and
the fingers end up closed across the object's narrow side."""

import numpy as np
import pytest

from grasp_pipeline.sim.grasp_execution import SCENE_CENTRE, PickCell


def _spawn(cell: PickCell, name: str, xy, yaw: float) -> int:
    w = cell.world
    T = np.eye(4)
    c, s = np.cos(yaw), np.sin(yaw)
    T[:3, :3] = [[c, -s, 0], [s, c, 0], [0, 0, 1]]
    T[:3, 3] = [xy[0], xy[1], w.surface_z + w.catalog[name].size[2] / 2 + 0.002]
    body = w.spawn_object(name, T)
    w.settle()
    return body


@pytest.fixture(scope="module")
def panda_cell():
    cell = PickCell("franka")
    yield cell
    cell.world.close()


@pytest.mark.parametrize("yaw", [0.3, 1.9])
def test_panda_lifts_a_flat_spanner(panda_cell, yaw):
    """The 5 mm spanner lying flat: the Panda's finger tips round off over their last 2.9 mm, so
    at the usual 3 mm clearance the pads met only its top edge and slid over it (closed on
    nothing, also with true poses); the tips go lower for thin parts (synthesis.tip_clearance)."""
    cell = panda_cell
    cell.home()
    cell.world.clear_objects()
    body = _spawn(cell, "Wrench", (0.03, 0.02), yaw)
    assert cell.world.object_pose(body)[2, 2] > 0.99  # lies flat
    out = cell.pick(body, cell.truth_detection(body, True))
    assert out.ok, out.reason
    assert out.lift_m > 0.10


@pytest.mark.parametrize("full_6d", [True, False])
def test_panda_lifts_box_closing_across_narrow_side(panda_cell, full_6d):
    cell = panda_cell
    cell.home()
    cell.world.clear_objects()
    body = _spawn(cell, "S40_40_G", (0.05, -0.04), 0.7)
    out = cell.pick(body, cell.truth_detection(body, full_6d))
    assert out.ok, out.reason
    assert out.lift_m > 0.10
    # The hand holds the 100 x 40 x 40 mm profile across its 40 mm side.
    assert cell.arm.opening() == pytest.approx(0.04, abs=0.004)
    # Closing axis perpendicular to the profile's long axis.
    closing_world = cell.base_pose_world[:3, :3] @ out.plan.grasp_pose_base[:3, 1]
    long_axis = cell.world.object_pose(body)[:3, 0]
    assert abs(closing_world @ long_axis) < 0.1
    assert 0.0 < out.planning_ms < 2000


def test_panda_lifts_flat_bearing(panda_cell):
    cell = panda_cell
    cell.home()
    cell.world.clear_objects()
    body = _spawn(cell, "Bearing", (-0.03, 0.06), 0.0)
    out = cell.pick(body, cell.truth_detection(body, True))
    assert out.ok, out.reason
    assert cell.arm.opening() == pytest.approx(0.032, abs=0.004)


def test_youbot_wide_gripper_lifts_axis():
    cell = PickCell("youbot", gripper="wide")
    try:
        body = _spawn(cell, "Axis", (-0.21, 0.03), 1.2)
        out = cell.pick(body, cell.truth_detection(body, False))
        assert out.ok, out.reason
        assert cell.arm.opening() == pytest.approx(0.027, abs=0.004)
    finally:
        cell.world.close()


def test_youbot_stock_gripper_refuses_wide_object():
    cell = PickCell("youbot", gripper="stock")
    try:
        body = _spawn(cell, "Motor", (-0.21, 0.0), 0.0)
        q0 = cell.arm.joints()
        out = cell.pick(body, cell.truth_detection(body, True))
        assert not out.ok
        assert "does not fit youbot_stock" in out.reason
        np.testing.assert_array_equal(cell.arm.joints(), q0)
    finally:
        cell.world.close()


def test_panda_pick_reports_the_finger_opening_on_the_part(panda_cell):
    cell = panda_cell
    cell.home()
    cell.world.clear_objects()
    body = _spawn(cell, "Bearing", (0.02, 0.03), 0.0)
    plan = cell.planner.plan(cell.truth_detection(body, True), age_s=0.0)
    assert plan.ok, plan.reason
    res = cell.planner.execute(plan)
    assert res.ok and res.reason.startswith("holding"), res.reason
    # the 32 mm bearing between the fingers, after closing and with it lifted
    assert res.opening_closed_m == pytest.approx(0.032, abs=0.004)
    assert res.opening_lifted_m == pytest.approx(0.032, abs=0.004)


@pytest.mark.parametrize("robot", ["franka", "youbot"])
def test_closing_on_nothing_fails_the_pick(panda_cell, robot):
    """The part is gone by the time the hand closes: the pick fails, as a real hand reports it,
    and the arm opens its fingers and goes back to where it started (out of the camera's view),
    so that another look and grasp may follow; the planner passes over that grasp next time."""
    cell = panda_cell if robot == "franka" else PickCell("youbot", gripper="wide")
    try:
        cell.home()
        cell.world.clear_objects()
        (cx, cy), _ = SCENE_CENTRE[robot]
        body = _spawn(cell, "M20", (cx + 0.01, cy - 0.01), 0.3)
        det = cell.truth_detection(body, False)
        cell.world.remove_object(body)
        plan = cell.planner.plan(det, age_s=0.0)
        assert plan.ok, plan.reason
        start = cell.arm.joints()
        res = cell.planner.execute(plan)
        assert not res.ok and not res.backed_off
        assert "gripper closed on nothing" in res.reason, res.reason
        assert res.opening_closed_m < cell.arm.model.gripper.min_width_m
        assert res.returned and res.may_retry, res.reason
        assert np.abs(cell.arm.joints() - start).max() < 0.05
        assert cell.arm.opening() > cell.arm.model.gripper.min_width_m
        assert [c.description for c in cell.planner.recent_stalls("M20")] == [
            plan.candidate.description
        ]
    finally:
        if cell is not panda_cell:
            cell.world.close()


def test_a_plan_reads_the_arm_state_once_for_all_its_candidates(panda_cell):
    # A robot driver answers each read with a state newer than the call (over ROS a wait for the
    # next joint state): trying many grasps must not read it per candidate.
    cell = panda_cell
    cell.home()
    cell.world.clear_objects()
    a = _spawn(cell, "S40_40_G", (0.02, 0.0), 0.0)
    _spawn(cell, "S40_40_B", (0.02, 0.043), 0.0)  # touching: the first grasps are refused
    reads = []
    arm = cell.arm
    joints, opening = arm.joints, arm.opening
    arm.joints = lambda: reads.append("q") or joints()
    arm.opening = lambda: reads.append("o") or opening()
    try:
        plan = cell.planner.plan(cell.truth_detection(a, False), age_s=0.0)
    finally:
        del arm.joints, arm.opening
    assert len(plan.rejected) >= 2, plan.reason  # several candidates went to the backend
    assert reads == ["q", "o"]
