"""youBot arm: URDF vs forward kinematics, analytic IK round trips, refusals with reasons."""

import numpy as np
import pybullet as p
import pytest

from grasp_pipeline.grasping.robots.youbot import (
    J1_XYZ,
    LOWER,
    UPPER,
    YouBotModel,
    youbot_urdf_path,
)
from grasp_pipeline.grasping.robots.youbot_urdf import youbot_urdf


@pytest.fixture(scope="module")
def model():
    return YouBotModel()


def test_committed_urdfs_match_generator():
    for g in ("stock", "wide"):
        assert youbot_urdf_path(g).read_text() == youbot_urdf(g), f"regenerate the {g} URDF"


def test_urdf_in_pybullet_matches_fk(model):
    c = p.connect(p.DIRECT)
    try:
        body = p.loadURDF(str(youbot_urdf_path("wide")), useFixedBase=True, physicsClientId=c)
        names = [
            p.getJointInfo(body, j, physicsClientId=c)[1].decode()
            for j in range(p.getNumJoints(body, physicsClientId=c))
        ]
        tcp = names.index("tcp_joint")
        rng = np.random.default_rng(3)
        for _ in range(50):
            q = rng.uniform(LOWER, UPPER)
            for j in range(5):
                p.resetJointState(body, j, q[j], physicsClientId=c)
            ls = p.getLinkState(body, tcp, computeForwardKinematics=True, physicsClientId=c)
            R = np.array(p.getMatrixFromQuaternion(ls[5])).reshape(3, 3)
            T = model.fk(q)
            np.testing.assert_allclose(ls[4], T[:3, 3], atol=1e-6)
            np.testing.assert_allclose(R, T[:3, :3], atol=1e-6)
        # Finger strokes: 11.5 mm (stock) and 33 mm (wide) per finger.
        for g, stroke in (("stock", 0.0115), ("wide", 0.033)):
            b = p.loadURDF(str(youbot_urdf_path(g)), useFixedBase=True, physicsClientId=c)
            j = [
                p.getJointInfo(b, k, physicsClientId=c)
                for k in range(p.getNumJoints(b, physicsClientId=c))
            ]
            fingers = [info for info in j if b"finger" in info[1]]
            assert [info[9] for info in fingers] == pytest.approx([stroke, stroke])
    finally:
        p.disconnect(c)


def test_fk_hand_computed_candle_and_bent(model):
    # Candle: everything stacked straight up.
    T = model.fk(np.zeros(5))
    expected_z = 0.096 + 0.019 + 0.155 + 0.135 + 0.130 + 0.0875
    np.testing.assert_allclose(T[:3, 3], [0.024 + 0.033 - 0.002, 0.0, expected_z], atol=1e-12)
    # Shoulder pitched 90 deg forward: the rest of the arm points along +x.
    T = model.fk(np.array([0.0, np.pi / 2, 0.0, 0.0, 0.0]))
    np.testing.assert_allclose(
        T[:3, 3], [0.057 + 0.155 + 0.135 + 0.130 + 0.0875, 0.0, 0.115 + 0.002], atol=1e-12
    )
    np.testing.assert_allclose(T[:3, 2], [1.0, 0.0, 0.0], atol=1e-12)


def test_ik_round_trip_within_1mm(model):
    rng = np.random.default_rng(0)
    worst_p, worst_r = 0.0, 0.0
    for _ in range(500):
        q = rng.uniform(LOWER, UPPER)
        T = model.fk(q)
        sols, why = model.all_ik(T)
        assert sols, why
        assert any(np.allclose(s, q, atol=1e-6) for s in sols)
        res = model.ik(T, q_seed=q)
        assert res.ok
        back = model.fk(res.q)
        worst_p = max(worst_p, float(np.linalg.norm(back[:3, 3] - T[:3, 3])))
        worst_r = max(worst_r, float(np.abs(back[:3, :3] - T[:3, :3]).max()))
    assert worst_p < 1e-3
    assert worst_r < 1e-6


def test_ik_refuses_out_of_plane_and_out_of_reach_with_reason(model):
    T = np.eye(4)
    T[:3, :3] = np.diag([-1.0, 1.0, -1.0])  # straight down
    T[:3, 3] = [J1_XYZ[0] + 0.2, 0.0, -0.02]
    assert model.ik(T).ok
    # Tilt the approach 20 deg sideways (about the arm-plane direction x): out of the arm plane.
    a = np.radians(20)
    Rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    Tt = T.copy()
    Tt[:3, :3] = Rx @ T[:3, :3]
    res = model.ik(Tt)
    assert not res.ok and res.q is None
    assert "out of the arm plane" in res.reason and "20.0 deg" in res.reason
    # Projected back into the arm plane it is reachable again.
    assert model.ik(model.project_to_arm_plane(Tt)).ok
    far = T.copy()
    far[:3, 3] = [0.8, 0.0, 0.0]
    res = model.ik(far)
    assert not res.ok and "out of reach" in res.reason


def test_bad_input_raises(model):
    with pytest.raises(ValueError, match="shape"):
        model.fk(np.zeros(4))
    with pytest.raises(ValueError, match="4x4"):
        model.ik(np.eye(3))
