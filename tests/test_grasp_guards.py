"""The grasping core's guards on arrays (no ROS): which detections a planner may act on, how its
work per message is bounded, and how a pick is judged from the finger openings a robot reports."""

import time

import numpy as np
import pytest

from grasp_pipeline.grasping.gripper import PANDA_HAND
from grasp_pipeline.grasping.intake import IntakeRules, check_stamp, screen, to_camera_frame
from grasp_pipeline.grasping.motion.base import judge_hold
from grasp_pipeline.grasping.motion.embedded import EmbeddedBackend
from grasp_pipeline.grasping.planner import GraspPlanner
from grasp_pipeline.grasping.robots.panda import PandaModel
from grasp_pipeline.objects import load_catalog
from grasp_pipeline.perception.detector import Detection

# camera 0.6 m above the base plane at x = 0.5, looking straight down (180 deg about x)
T_BC = np.diag([1.0, -1.0, -1.0, 1.0])
T_BC[:3, 3] = [0.5, 0.0, 0.6]
RULES = IntakeRules("camera_color_optical_frame", "panda_link0", T_BC, max_detections=3)
CATALOG = load_catalog()


def _det(label: str, point, score: float = 0.9, axis=(0.0, 1.0, 0.0)) -> Detection:
    T = np.eye(4)
    T[:3, 3] = point
    return Detection(label, score, (0.0, 0.0), np.asarray(point, float), T, np.asarray(axis), False)


def test_stamp_checks() -> None:
    assert check_stamp(0.3, RULES) == ""
    assert check_stamp(-0.4, RULES) == ""  # within the 0.5 s clock tolerance
    why = check_stamp(-5.0, RULES)
    assert "5.00 s in the future" in why and "0.5 s" in why
    assert "stale" in check_stamp(2.5, RULES) and "max_age_s = 2.0" in check_stamp(2.5, RULES)
    assert check_stamp(float("nan"), RULES) != ""


def test_base_frame_detection_comes_back_in_the_camera_frame() -> None:
    # a point 3 cm / 4 cm off the camera axis on the base plane, closing along base x
    d = _det("M20", [0.53, 0.04, 0.016], axis=(1.0, 0.0, 0.0))
    (c,), why = to_camera_frame([d], "panda_link0", RULES)
    assert why == ""
    # camera = R_x(180) about (0.5, 0, 0.6): (x - 0.5, -(y - 0), -(z - 0.6))
    np.testing.assert_allclose(c.point, [0.03, -0.04, 0.584], atol=1e-12)
    np.testing.assert_allclose(c.pose[:3, 3], c.point, atol=1e-12)
    np.testing.assert_allclose(c.grasp_axis, [1.0, 0.0, 0.0], atol=1e-12)
    same, why = to_camera_frame([d], "camera_color_optical_frame", RULES)
    assert why == "" and same[0] is d


def test_foreign_frame_is_refused_naming_both() -> None:
    dets, why = to_camera_frame([_det("M20", [0, 0, 0.5])], "world", RULES)
    assert dets == []
    assert "'world'" in why and "'camera_color_optical_frame'" in why and "'panda_link0'" in why
    _, why = to_camera_frame([_det("M20", [0, 0, 0.5])], "", RULES)
    assert "no frame_id" in why


def test_screen_ignores_unknown_labels_and_caps_the_work() -> None:
    dets = [_det("Banana", [0, 0, 0.5], 0.99)] + [
        _det("M20", [0.01 * i, 0, 0.5], 0.5 + 0.01 * i) for i in range(10)
    ]
    out = screen(dets, "camera_color_optical_frame", 0.1, "", CATALOG, RULES)
    assert out.unknown == ["Banana"] and out.reason == ""
    assert [d.label for d in out.detections] == ["M20"] * 3  # capped to max_detections, best first
    assert [d.score for d in out.detections] == pytest.approx([0.59, 0.58, 0.57])
    assert out.dropped == 7
    only_unknown = screen(dets[:1], "camera_color_optical_frame", 0.1, "", CATALOG, RULES)
    assert only_unknown.detections == [] and "Banana" in only_unknown.reason
    assert not only_unknown.bad_input
    missing = screen(dets, "camera_color_optical_frame", 0.1, "Motor", CATALOG, RULES)
    assert "Motor not among the newest detections (saw ['M20'])" in missing.reason
    future = screen(dets, "camera_color_optical_frame", -3.0, "", CATALOG, RULES)
    assert future.detections == [] and future.bad_input and "future" in future.reason


def test_judge_hold_from_finger_openings() -> None:
    ok, why = judge_hold(0.0004, 0.0003, PANDA_HAND)
    assert not ok and "closed on nothing" in why and "0.4 mm" in why
    ok, why = judge_hold(0.030, 0.0002, PANDA_HAND)
    assert not ok and "slipped out during the lift" in why
    ok, why = judge_hold(0.030, 0.0298, PANDA_HAND)
    assert ok and "30.0 mm after closing" in why
    ok, why = judge_hold(None, None, PANDA_HAND)
    assert ok and "not verified" in why


def _planner() -> GraspPlanner:
    return GraspPlanner("franka", EmbeddedBackend(PandaModel()), T_BC, surface_z_base=0.0)


def test_planner_refuses_unknown_labels() -> None:
    res = _planner().plan(_det("Banana", [0.03, -0.04, 0.584]), age_s=0.0)
    assert not res.ok and "unknown label 'Banana'" in res.reason


def test_plan_best_is_bounded_and_interruptible() -> None:
    planner = _planner()
    # at the edge of the Panda's reach: every candidate costs a Cartesian IK attempt
    edge = [_det("M20", [0.35 + 0.001 * i, 0.0, 0.584]) for i in range(20)]
    t0 = time.perf_counter()
    res = planner.plan_best(edge, "M20", 0.0, max_detections=20, budget_s=0.2)
    dt = time.perf_counter() - t0
    # CPU-bound planning: the CPU budget ends it, or on a loaded machine the wall-time ceiling
    assert not res.ok, res.reason
    assert "planning budget of 0.20 s spent" in res.reason or "0.6 s of wall time" in res.reason
    assert dt < 1.0  # the ceiling (3x the budget) plus at most one candidate's motion check
    assert res.halted  # the budget, not the scene, ended it: a new plan may find a grasp
    res = planner.plan_best(edge, "M20", 0.0, interrupt=lambda: True)
    assert not res.ok and "planning interrupted" in res.reason and res.halted
    # the cap: only the best detection is tried, so the reachable lower-scored one is not
    good = _det("M20", [0.03, -0.04, 0.584], score=0.5)
    far = _det("M20", [2.0, 0.0, 0.584], score=0.9)
    res = planner.plan_best([far, good], "M20", 0.0, max_detections=1)
    assert not res.ok and not res.halted  # every candidate of the one tried was refused
    assert planner.plan_best([far, good], "M20", 0.0, max_detections=2).ok


def test_detections_on_the_robot_base_are_not_picked() -> None:
    """A look-alike label on the robot's own base link (the youBot's dark arm base, in view of
    the cell camera, was named S40_40_G in every youBot demo frame and planned for first) is
    dropped, as robot self filters drop the robot from point clouds."""
    planner = _planner()
    on_base = _det("M20", [-0.5, 0.0, 0.46], score=0.95)  # base (0, 0, 0.14): top of panda_link0
    beside = _det("M20", [-0.5 + 0.072 + 0.03, 0.0, 0.59], score=0.95)  # 3 cm in front of it
    good = _det("M20", [0.03, -0.04, 0.584], score=0.5)
    assert planner.on_robot(on_base) and not planner.on_robot(beside)
    assert not planner.on_robot(good)
    res = planner.plan_best([on_base, good], "M20", 0.0, max_detections=1)
    assert res.ok, res.reason
    assert np.linalg.norm(res.grasp_pose_base[:2, 3] - [0.53, 0.04]) < 0.01  # the part's
    res = planner.plan_best([on_base], "M20", 0.0)
    assert not res.ok and "robot's own base" in res.reason


def test_a_ring_walled_in_by_neighbours_is_grasped_with_the_hand_opened_tightly() -> None:
    """An M20 nut (30 mm, 20 mm hole, 16 mm high) with parts 20 mm from its edge all round: the
    usual opening (8 mm a side) puts a finger on them from every direction; opened 4 mm a side
    round the nut seen in the depth, the fingers fit, still through the nut's centre."""
    from grasp_pipeline.geometry.camera import preset
    from grasp_pipeline.grasping.depth_clearance import ObservedCloud

    cam = preset("d435")
    v, u = np.mgrid[0 : cam.height, 0 : cam.width].astype(np.float64)
    top = 0.6 - 0.016
    x, y = (u - cam.cx) / cam.fx * top, (v - cam.cy) / cam.fy * top
    r = np.hypot(x, y)
    depth = np.full(r.shape, 0.6)
    depth[(r >= 0.010) & (r <= 0.015)] = top
    depth[(r >= 0.035) & (r <= 0.070)] = 0.6 - 0.030  # the neighbours, 30 mm high
    observed = ObservedCloud(depth.astype(np.float32), cam)
    planner = _planner()
    res = planner.plan(_det("M20", [0.0, 0.0, top]), age_s=0.0, observed=observed)
    assert res.ok, res.reason
    assert "opened to" in res.candidate.description
    assert res.candidate.opening_m < PANDA_HAND.pre_grasp_opening(0.030) - 0.004
    assert any("would land on observed surface" in why for why in res.rejected)
    assert np.linalg.norm(res.grasp_pose_base[:2, 3] - [0.5, 0.0]) < 0.002
