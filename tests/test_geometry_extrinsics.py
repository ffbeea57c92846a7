"""Camera extrinsics: pose dictionaries and YAML files, look-at poses, the ROS optical frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy.spatial.transform import Rotation

from grasp_pipeline.geometry.camera import preset, project
from grasp_pipeline.geometry.extrinsics import (
    R_LINK_OPTICAL,
    load_extrinsics,
    look_at,
    optical_from_link,
    pose_from_dict,
    pose_to_dict,
    solve_hand_eye,
)
from grasp_pipeline.geometry.se3 import (
    inverse,
    is_pose,
    matrix_from_rpy,
    pose_error,
    transform_points,
)


def test_quaternion_and_rpy_forms_agree_with_scipy() -> None:
    q = Rotation.from_euler("xyz", [0.1, -0.4, 1.2]).as_quat()
    T_q = pose_from_dict({"translation": [0.05, 0.0, 0.1], "rotation_xyzw": q.tolist()})
    T_rpy = pose_from_dict({"xyz": [0.05, 0.0, 0.1], "rpy": [0.1, -0.4, 1.2]})
    np.testing.assert_allclose(T_q, T_rpy, atol=1e-12)
    np.testing.assert_allclose(T_q[:3, :3], Rotation.from_quat(q).as_matrix(), atol=1e-12)
    np.testing.assert_allclose(T_q[:3, 3], [0.05, 0.0, 0.1])
    # Round trip through the dictionary form.
    np.testing.assert_allclose(pose_from_dict(pose_to_dict(T_q)), T_q, atol=1e-12)


def test_realsense_optical_joint() -> None:
    # realsense2_description's optical joint: rpy (-pi/2, 0, -pi/2).
    np.testing.assert_allclose(
        matrix_from_rpy(-np.pi / 2, 0, -np.pi / 2), R_LINK_OPTICAL, atol=1e-15
    )
    T_link = pose_from_dict({"xyz": [0.3, 0.0, 0.5], "rpy": [0, 0, 0]})
    T_opt = optical_from_link(T_link)
    # The optical z axis is the body's forward (x) axis; optical y points down (-z).
    np.testing.assert_allclose(T_opt[:3, 2], [1, 0, 0], atol=1e-15)
    np.testing.assert_allclose(T_opt[:3, 1], [0, 0, -1], atol=1e-15)


def test_load_extrinsics_yaml(tmp_path: Path) -> None:
    path = tmp_path / "cams.yaml"
    data = {
        "cameras": {
            "wrist": {
                "parent": "panda_hand",
                "child": "camera_color_optical_frame",
                "translation": [0.05, -0.02, 0.04],
                "rotation_xyzw": [0.0, 0.0, 0.7071067811865476, 0.7071067811865476],
            }
        }
    }
    path.write_text(yaml.safe_dump(data))
    T = load_extrinsics(path, "cameras.wrist")
    np.testing.assert_allclose(T[:3, :3], [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-12)
    np.testing.assert_allclose(T[:3, 3], [0.05, -0.02, 0.04])
    with pytest.raises(ValueError, match=r"no key 'cameras\.head' \(missing 'head'\)"):
        load_extrinsics(path, "cameras.head")
    with pytest.raises(FileNotFoundError, match=r"missing\.yaml"):
        load_extrinsics(tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    ("d", "pattern"),
    [
        ({"translation": [0, 0, 0]}, "missing field 'rotation_xyzw'"),
        (
            {"translation": [0, 0], "rotation_xyzw": [0, 0, 0, 1]},
            "'translation' must be a list of 3",
        ),
        ({"translation": [0, 0, 0], "rotation_xyzw": [0, 0, 0, 0]}, "zero quaternion"),
        ({"xyz": [0, 0, 0], "rotation_xyzw": [0, 0, 0, 1]}, "not both"),
        ({"xyz": [0, 0, "a"], "rpy": [0, 0, 0]}, "'xyz' must be a list of 3"),
        ({"position": [0, 0, 0]}, "expected fields"),
    ],
)
def test_bad_pose_dicts(d: dict, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        pose_from_dict(d, where="cams.yaml:wrist")


def test_look_at_projects_target_to_principal_point() -> None:
    eye, target = np.array([0.4, -0.3, 0.6]), np.array([0.05, 0.1, 0.0])
    T = look_at(eye, target)
    assert is_pose(T)
    np.testing.assert_allclose(T[:3, 3], eye)
    cam = preset("d435")
    T_cam_world = inverse(T)
    uv = project(transform_points(T_cam_world, target), cam)
    np.testing.assert_allclose(uv, [cam.cx, cam.cy], atol=1e-9)
    # World up appears toward the top of the image (smaller v) and the image x axis is level.
    above = project(transform_points(T_cam_world, target + np.array([0.0, 0.0, 0.05])), cam)
    assert above[1] < cam.cy
    assert abs(T[2, 0]) < 1e-12


def test_look_at_hand_case_and_errors() -> None:
    # Looking along world +x with z up: image right = world -y, image down = world -z.
    T = look_at([0, 0, 0], [2, 0, 0])
    np.testing.assert_allclose(T[:3, :3], R_LINK_OPTICAL, atol=1e-15)
    # Straight down needs another up vector; with up = world +x the image top faces +x.
    T = look_at([0, 0, 1], [0, 0, 0], up=[1, 0, 0])
    np.testing.assert_allclose(T[:3, :3], [[0, -1, 0], [-1, 0, 0], [0, 0, -1]], atol=1e-15)
    with pytest.raises(ValueError, match="parallel to the up vector"):
        look_at([0, 0, 1], [0, 0, 0])
    with pytest.raises(ValueError, match="coincide"):
        look_at([1, 1, 1], [1, 1, 1])
    with pytest.raises(ValueError, match="eye must be a finite 3-vector"):
        look_at([0, 0], [1, 1, 1])


def _hand_eye_data(rng: np.random.Generator, n: int, noise_m: float, noise_rad: float):
    """Synthetic eye-in-hand captures: a board fixed in the base seen from n gripper poses."""
    X = pose_from_dict({"xyz": [0.05, -0.03, 0.06], "rpy": [0.02, -0.05, 1.57]})  # T_ee_cam
    T_base_board = pose_from_dict({"xyz": [0.5, 0.1, 0.0], "rpy": [0.0, 0.0, 0.3]})
    E, C = [], []
    for _ in range(n):
        rpy = rng.uniform(-0.4, 0.4, 3) + np.array(
            [np.pi, 0.0, 0.0]
        )  # gripper pointing down, varied
        T_be = pose_from_dict(
            {"xyz": np.array([0.45, 0.1, 0.4]) + rng.uniform(-0.1, 0.1, 3), "rpy": rpy}
        )
        T_cb = inverse(T_be @ X) @ T_base_board
        dR = Rotation.from_rotvec(rng.normal(scale=noise_rad, size=3)).as_matrix()
        T_cb[:3, :3] = dR @ T_cb[:3, :3]
        T_cb[:3, 3] += rng.normal(scale=noise_m, size=3)
        E.append(T_be)
        C.append(T_cb)
    return X, E, C


def test_hand_eye_exact_and_noisy() -> None:
    rng = np.random.default_rng(7)
    X, E, C = _hand_eye_data(rng, 12, 0.0, 0.0)
    np.testing.assert_allclose(solve_hand_eye(E, C), X, atol=1e-9)
    # 0.5 mm / 0.1 deg board-detection noise over 15 captures: within 3 mm and 0.2 deg.
    X, E, C = _hand_eye_data(rng, 15, 0.0005, np.radians(0.1))
    dt, dang = pose_error(solve_hand_eye(E, C), X)
    assert dt < 0.003
    assert np.degrees(dang) < 0.2
    # Noise-free input but the wrong mode gives a wrong answer (the mode matters).
    X, E, C = _hand_eye_data(rng, 8, 0.0, 0.0)
    assert pose_error(solve_hand_eye(E, C, eye_in_hand=False), X)[0] > 0.01


def test_hand_eye_eye_to_hand_and_errors() -> None:
    rng = np.random.default_rng(8)
    # Eye-to-hand: camera fixed in the base, board on the gripper.
    T_base_cam = look_at([1.0, 0.0, 0.8], [0.4, 0.0, 0.1])
    T_ee_board = pose_from_dict({"xyz": [0.0, 0.0, 0.1], "rpy": [0.0, 0.0, 0.0]})
    E, C = [], []
    for _ in range(8):
        rpy = rng.uniform(-0.5, 0.5, 3) + np.array([np.pi, 0.0, 0.0])
        T_be = pose_from_dict(
            {"xyz": np.array([0.4, 0.0, 0.3]) + rng.uniform(-0.1, 0.1, 3), "rpy": rpy}
        )
        E.append(T_be)
        C.append(inverse(T_base_cam) @ T_be @ T_ee_board)
    np.testing.assert_allclose(solve_hand_eye(E, C, eye_in_hand=False), T_base_cam, atol=1e-9)
    # Rotations about one axis only leave the calibration undetermined.
    E1 = [pose_from_dict({"xyz": [0.1 * k, 0, 0.3], "rpy": [0, 0, 0.3 * k]}) for k in range(4)]
    with pytest.raises(ValueError, match="single axis"):
        solve_hand_eye(E1, [inverse(T) for T in E1])
    with pytest.raises(ValueError, match="at least 3 poses"):
        solve_hand_eye(E[:2], C[:2])
    with pytest.raises(ValueError, match="8 gripper poses but 7 target poses"):
        solve_hand_eye(E, C[:7])
