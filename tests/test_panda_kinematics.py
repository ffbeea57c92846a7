"""Panda: pinocchio FK against PyBullet's URDF, numeric IK accuracy, refusals."""

import numpy as np
import pybullet as p
import pytest

from grasp_pipeline.grasping.robots.panda import TCP_OFFSET_M, PandaModel, panda_urdf_path


@pytest.fixture(scope="module")
def model():
    return PandaModel(seed=1)


def test_fk_matches_pybullet(model):
    c = p.connect(p.DIRECT)
    try:
        body = p.loadURDF(str(panda_urdf_path()), useFixedBase=True, physicsClientId=c)
        rng = np.random.default_rng(0)
        for _ in range(30):
            q = rng.uniform(model.lower, model.upper)
            for j in range(7):
                p.resetJointState(body, j, q[j], physicsClientId=c)
            hand = p.getLinkState(body, 8, computeForwardKinematics=True, physicsClientId=c)
            R = np.array(p.getMatrixFromQuaternion(hand[5])).reshape(3, 3)
            tcp = np.array(hand[4]) + R[:, 2] * TCP_OFFSET_M
            T = model.fk(q)
            np.testing.assert_allclose(T[:3, 3], tcp, atol=1e-6)
            np.testing.assert_allclose(T[:3, :3], R, atol=1e-6)
    finally:
        p.disconnect(c)


def test_ik_reaches_targets_within_1mm(model):
    # Targets from configurations 10 % inside the limits (at the limits themselves the reachable
    # set is a sliver: measured 299/300 for the full range).
    rng = np.random.default_rng(2)
    mid, half = (model.lower + model.upper) / 2, (model.upper - model.lower) / 2
    for _ in range(25):
        q = rng.uniform(mid - 0.9 * half, mid + 0.9 * half)
        T = model.fk(q)
        res = model.ik(T)
        assert res.ok, res.reason
        assert np.all(res.q >= model.lower - 1e-9) and np.all(res.q <= model.upper + 1e-9)
        back = model.fk(res.q)
        assert np.linalg.norm(back[:3, 3] - T[:3, 3]) < 1e-3
        assert np.abs(back[:3, :3] - T[:3, :3]).max() < 5e-3


def test_top_down_grasp_over_table(model):
    T = np.eye(4)
    T[:3, :3] = np.diag([1.0, -1.0, -1.0])
    T[:3, 3] = [0.55, 0.1, 0.02]
    res = model.ik(T)
    assert res.ok and res.position_error_m < 1e-3


def test_unreachable_refused_with_reason(model):
    T = np.eye(4)
    T[:3, 3] = [1.5, 0.0, 0.3]
    res = model.ik(T)
    assert not res.ok and res.q is None and "beyond reach" in res.reason
    # Within the reach sphere (0.83 m from the shoulder) but beyond the joint limits: 0.5 m below
    # the base, hand pointing up.
    T2 = np.eye(4)
    T2[:3, 3] = [0.0, 0.0, -0.5]
    res = model.ik(T2)
    assert not res.ok and "no IK solution" in res.reason


def test_failing_descent_stops_when_it_stalls(model):
    # Hand pointing up 0.5 m below the base: inside the reach sphere, beyond the joint limits. The
    # descent stops improving long before its 300 allowed iterations.
    import pinocchio as pin

    goal = pin.SE3(np.eye(3), np.array([0.0, 0.0, -0.5]))
    for q0 in (model.home, (model.lower + model.upper) / 2):
        _, ok, used = model._dls(q0, goal, 2e-4, 2e-3)
        assert not ok and used < 150, used


def test_local_ik_tries_only_the_seed(model, monkeypatch):
    T2 = np.eye(4)
    T2[:3, 3] = [0.0, 0.0, -0.5]
    calls = []
    real = model._dls

    def counting(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(model, "_dls", counting)
    assert not model.ik(T2, local=True).ok
    assert len(calls) == 1
    calls.clear()
    assert not model.ik(T2, restarts=3).ok
    assert len(calls) == 4
    # a reachable target is still found from the seed alone
    T = model.fk(model.home)
    T[:3, 3] += [0.02, -0.01, 0.01]
    res = model.ik(T, q_seed=model.home, local=True)
    assert res.ok, res.reason
