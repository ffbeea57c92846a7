"""youBot grasp planning: approaches outside the 5-DOF arm plane are rotated into it or refused."""

import numpy as np
import pytest

from grasp_pipeline.grasping.motion.embedded import EmbeddedBackend
from grasp_pipeline.grasping.planner import GraspPlanner
from grasp_pipeline.grasping.robots.youbot import J1_XYZ, YouBotModel, gripper_spec
from grasp_pipeline.perception.detector import Detection


def _planner(gripper="wide"):
    model = YouBotModel(gripper_spec(gripper))
    # Camera 0.4 m above the arm base looking straight down (optical z = -base z).
    cam = np.eye(4)
    cam[:3, :3] = np.diag([1.0, -1.0, -1.0])
    cam[:3, 3] = [0.2, 0.0, 0.4]
    return GraspPlanner("youbot", EmbeddedBackend(model), cam, surface_z_base=-0.08), cam


def _det(cam, T_base_obj, label="Bearing_Box"):
    T_co = np.linalg.inv(cam) @ T_base_obj
    return Detection(label, 0.9, (0.0, 0.0), T_co[:3, 3].copy(), T_co, None, True)


def test_tilted_object_grasp_is_projected_into_the_arm_plane():
    planner, cam = _planner()
    # Bearing box (50 x 45 x 25 mm) 0.2 m in front, tilted 15 deg about the base x axis: its
    # aligned approach leans sideways, out of the arm plane (the x-z plane here).
    a = np.radians(15)
    T = np.eye(4)
    T[:3, :3] = [[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]]
    T[:3, 3] = [J1_XYZ[0] + 0.2, 0.0, -0.08 + 0.02]
    cands, why = planner.candidates(_det(cam, T))
    assert why == "ok" and cands
    for c in cands:  # every approach lies in the arm plane through its own TCP position
        assert abs(c.pose[:3, 2] @ planner.model.arm_plane_normal(c.pose[:3, 3])) < 1e-9
    n = planner.model.arm_plane_normal(T[:3, 3])
    res = planner.plan(_det(cam, T), age_s=0.0)
    assert res.ok, res.reason
    G = res.grasp_pose_base
    assert abs(G[:3, 2] @ planner.model.arm_plane_normal(G[:3, 3])) < 1e-9
    # The object's aligned approach leaned 15 deg sideways; the projection removed that lean.
    assert abs(-T[:3, 2] @ n) == pytest.approx(np.sin(a))
    ik = planner.model.ik(res.grasp_pose_base)
    assert ik.ok and ik.position_error_m < 1e-3


def test_out_of_reach_and_too_wide_refused_with_reasons():
    planner, cam = _planner("stock")
    T = np.eye(4)
    T[:3, 3] = [0.7, 0.0, -0.06]
    res = planner.plan(_det(cam, T, "F20_20_B"), age_s=0.0)
    assert not res.ok and "out of reach" in res.reason
    T[:3, 3] = [0.22, 0.0, -0.06]
    res = planner.plan(_det(cam, T, "Motor"), age_s=0.0)
    assert not res.ok and "does not fit youbot_stock" in res.reason
    assert np.array_equal(planner.backend.current_joints(), planner.model.home)


def test_project_to_arm_plane_refuses_sideways_approach():
    model = YouBotModel()
    T = np.eye(4)
    T[:3, :3] = [[1, 0, 0], [0, 0, 1], [0, -1, 0]]  # approach along +y: the plane normal
    T[:3, 3] = [0.25, 0.0, 0.0]
    with pytest.raises(ValueError, match="normal to the youBot arm plane"):
        model.project_to_arm_plane(T)
