"""Safety of the motion layer: refusals come with their reason and nothing moves."""

import time

import numpy as np
import pybullet as p
import pytest

from grasp_pipeline.grasping.motion.embedded import EmbeddedBackend, interpolate_joints
from grasp_pipeline.grasping.planner import GraspPlanner, alike
from grasp_pipeline.grasping.robots.panda import PandaModel
from grasp_pipeline.grasping.synthesis import GraspCandidate
from grasp_pipeline.perception.detector import Detection
from grasp_pipeline.sim.grasp_execution import PickCell


@pytest.fixture(scope="module")
def cell():
    c = PickCell("franka")
    yield c
    c.world.close()


def _scene(cell: PickCell) -> tuple[int, np.ndarray]:
    cell.home()
    cell.world.clear_objects()
    T = np.eye(4)
    T[:3, 3] = [0.0, 0.0, cell.world.surface_z + 0.0125 + 0.002]
    body = cell.world.spawn_object("Bearing_Box", T)
    cell.world.settle()
    return body, cell.world.object_pose(body)


def _state(cell, body):
    return cell.arm.joints(), cell.arm.opening(), cell.world.object_pose(body)


def _assert_unchanged(cell, body, before):
    q, o, T = _state(cell, body)
    np.testing.assert_array_equal(q, before[0])
    assert o == before[1]
    np.testing.assert_allclose(T, before[2], atol=1e-9)


def test_unreachable_target_refused_and_nothing_moves(cell):
    body, _ = _scene(cell)
    det = cell.truth_detection(body, True)
    # Move the detected pose 1.5 m further from the robot.
    shift = np.linalg.inv(cell.camera_pose_world)[:3, :3] @ np.array([1.5, 0.0, 0.0])
    det.pose = det.pose.copy()
    det.pose[:3, 3] += shift
    det.point = det.point + shift
    before = _state(cell, body)
    plan = cell.planner.plan(det, age_s=0.0)
    assert not plan.ok
    assert "IK failed" in plan.reason and "beyond reach" in plan.reason
    res = cell.planner.execute(plan)
    assert not res.ok and res.reason.startswith("refused")
    cell.world.step(0.2)  # even with time passing the arm stays put
    q, _, T = _state(cell, body)
    np.testing.assert_allclose(q, before[0], atol=1e-4)
    np.testing.assert_allclose(T, before[2], atol=1e-3)  # the box only settles (< 1 mm)


def test_colliding_grasp_refused_with_reason(cell):
    body, T_obj = _scene(cell)
    # A static slab 6 cm above the object blocks every approach from above.
    half = [0.15, 0.15, 0.005]
    col = p.createCollisionShape(p.GEOM_BOX, halfExtents=half, physicsClientId=cell.world.client)
    slab = p.createMultiBody(
        0, col, -1, (T_obj[:3, 3] + [0, 0, 0.06]).tolist(), physicsClientId=cell.world.client
    )
    cell.world.containers.append(slab)
    try:
        before = _state(cell, body)
        det = cell.truth_detection(body, True)
        plan = cell.planner.plan(det, age_s=0.0)
        assert not plan.ok
        assert "collision" in plan.reason and "container" in plan.reason
        n_cands = len(cell.planner.candidates(det)[0])
        assert len(plan.rejected) == min(n_cands, cell.planner.max_candidates)  # all refused
        assert not cell.planner.execute(plan).ok
        _assert_unchanged(cell, body, before)
    finally:
        cell.world.remove_object(slab)


def test_stale_detection_refused(cell):
    body, _ = _scene(cell)
    det = cell.truth_detection(body, True)
    det.extras["stamp"] = time.time() - 10.0
    before = _state(cell, body)
    plan = cell.planner.plan(det)
    assert not plan.ok and plan.reason.startswith("stale detection: 10.")
    assert not cell.planner.execute(plan).ok
    _assert_unchanged(cell, body, before)
    det.extras["stamp"] = time.time()
    assert cell.planner.plan(det).ok


def test_plan_refused_after_robot_moved(cell):
    body, _ = _scene(cell)
    plan = cell.planner.plan(cell.truth_detection(body, True), age_s=0.0)
    assert plan.ok
    cell.arm.reset(cell.arm.model.home + 0.05)
    before = _state(cell, body)
    res = cell.planner.execute(plan)
    assert not res.ok and "moved since the plan" in res.reason
    _assert_unchanged(cell, body, before)


def test_detection_without_axis_or_pose_refused(cell):
    det = Detection("M20", 0.9, (10.0, 10.0), np.array([0.0, 0.0, 0.5]), np.eye(4))
    plan = cell.planner.plan(det, age_s=0.0)
    assert not plan.ok and "no grasp axis" in plan.reason


def test_kinematic_only_backend_and_interpolation():
    q0, q1 = np.zeros(3), np.array([0.1, -0.05, 0.0])
    path = interpolate_joints(q0, q1, 0.02)
    assert path.shape == (6, 3)
    assert np.abs(np.diff(path, axis=0)).max() <= 0.02 + 1e-12
    model = PandaModel()
    backend = EmbeddedBackend(model)  # no simulator: IK + limits + continuity only
    assert np.array_equal(backend.current_joints(), model.home)


def test_stalled_approach_backs_off_and_next_plan_avoids_that_grasp(cell):
    """Something the plan did not know about (a slab added after planning) stops the arm on its
    approach: the arm drives back the way it came to where the trajectory began (its home, out
    of the cell camera's view: a re-plan's frame must not show the arm above the parts), the
    result says so, and the next plan from there uses another grasp, which then picks once the
    way is clear."""
    body, T_obj = _scene(cell)
    det = cell.truth_detection(body, True)
    plan = cell.planner.plan(det, age_s=0.0)
    assert plan.ok and plan.trajectory.segments[1].name == "approach"
    half = [0.06, 0.06, 0.005]
    col = p.createCollisionShape(p.GEOM_BOX, halfExtents=half, physicsClientId=cell.world.client)
    slab = p.createMultiBody(
        0, col, -1, (T_obj[:3, 3] + [0, 0, 0.05]).tolist(), physicsClientId=cell.world.client
    )
    try:
        res = cell.planner.execute(plan)
        assert not res.ok and res.backed_off
        assert res.reason.startswith("approach: arm stopped") and "backed off" in res.reason
        approach_start = plan.trajectory.segments[1].q_path[0]
        assert np.abs(plan.trajectory.start_q - approach_start).max() > 0.2  # pre-grasp != home
        assert np.abs(cell.arm.joints() - plan.trajectory.start_q).max() < 0.05
        assert cell.planner.recent_stalls() == [plan.candidate]
        replan = cell.planner.plan(det, age_s=0.0)
        assert replan.ok and not alike(replan.candidate, plan.candidate)
        # an explicit empty avoid list brings the stalled grasp back
        assert alike(cell.planner.plan(det, age_s=0.0, avoid=[]).candidate, plan.candidate)
    finally:
        p.removeBody(slab, physicsClientId=cell.world.client)
    z0 = float(cell.world.object_pose(body)[2, 3])
    res = cell.planner.execute(replan)
    assert res.ok, res.reason
    cell.arm.hold(0.5)
    assert cell.lift_check(body, z0)[0]
    assert cell.planner.recent_stalls() == []  # a pick that went through forgets the stalls


def test_alike_grasps_and_stall_memory_expiry():
    def cand(x: float, yaw_deg: float) -> GraspCandidate:
        T = np.eye(4)
        c, s = np.cos(np.radians(yaw_deg)), np.sin(np.radians(yaw_deg))
        T[:3, :2] = [[c, -s], [s, c], [0, 0]]
        T[0, 3] = x
        return GraspCandidate(T, 0.02, 0.04, 0.0, "test")

    a = cand(0.0, 0.0)
    assert alike(a, cand(0.003, 5.0))
    assert alike(a, cand(0.0, 180.0))  # the two fingers swap: the same grasp
    assert not alike(a, cand(0.01, 0.0))  # the candidates' 1 cm shift
    assert not alike(a, cand(0.0, 20.0))  # and their 20 deg tilt
    planner = GraspPlanner("franka", EmbeddedBackend(PandaModel()), np.eye(4), stall_memory_s=0.0)
    planner._stalls.append((time.monotonic() - 1.0, "M20", a))
    assert planner.recent_stalls() == []
    planner.stall_memory_s = 20.0
    planner._stalls.append((time.monotonic(), "M20", a))
    assert planner.recent_stalls("M20") == [a] and planner.recent_stalls("M30") == []
    planner.forget_stalls()
    assert planner.recent_stalls() == []
