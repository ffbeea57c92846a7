"""The real-robot path needs no simulator: with PyBullet made unimportable (a ``sys.meta_path``
finder that raises ImportError for pybullet / pybullet_data, as on ROS 2 Jazzy's Python 3.12 where
PyBullet has no wheel), a process imports and builds what a real cell runs: the node modules, a
RealSense file source reading frames, the shipped segnet detector detecting on them, the Panda and
youBot kinematic models, the embedded planner planning a pick, and the MoveIt backend's config
handling; then the three node processes themselves come up the same way. Also: the Panda URDF
copy the kinematic model reads is pybullet_data's file, byte for byte."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from grasp_pipeline.ros.environment import claim_domain_id
from grasp_pipeline.ros.node_process import NodeProcess

ROOT = Path(__file__).resolve().parents[1]
DOMAIN = claim_domain_id()
SIMULATOR = ("pybullet", "pybullet_data", "pybullet_envs", "pybullet_utils")

# Installed first in every child process: any import of the simulator fails, and is recorded.
BLOCKER = textwrap.dedent(
    f"""
    import importlib.abc, sys
    BLOCKED = []
    class NoSimulator(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {SIMULATOR!r}:
                BLOCKED.append(name)
                raise ImportError(f"{{name}} is blocked: the real-robot path must not need it")
            return None
    sys.meta_path.insert(0, NoSimulator())
    """
)

REAL_ROBOT_PATH = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from grasp_pipeline.geometry.camera import CameraIntrinsics
    import grasp_pipeline.ros.camera_node, grasp_pipeline.ros.detector_node
    import grasp_pipeline.ros.grasp_planner_node
    from grasp_pipeline.grasping.motion.embedded import EmbeddedBackend
    from grasp_pipeline.grasping.motion import moveit_backend
    from grasp_pipeline.grasping.planner import GraspPlanner
    from grasp_pipeline.grasping.robots.panda import PandaModel
    from grasp_pipeline.grasping.robots.youbot import YouBotModel
    from grasp_pipeline.perception.detector import Detection
    from grasp_pipeline.ros.detector_loading import load_detector
    from grasp_pipeline.sources.factory import make_source
    from grasp_pipeline.sources.realsense_recorder import record_frames

    out = {}
    cam = CameraIntrinsics(160, 120, 150.0, 151.0, 79.0, 60.5, 0.001, "d435")
    rng = np.random.default_rng(0)
    frames = [(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8),
               np.full((120, 160), 500, np.uint16)) for _ in range(3)]
    record_frames(sys.argv[1], frames, cam, fps=30)
    with make_source("realsense_file", file=sys.argv[1]) as source:
        fs = source.read()
    out["frame"] = list(fs.rgb.shape)
    detector = load_detector("segnet", "models/segnet/model.pt")
    out["detections"] = len(detector.detect(fs.rgb, fs.depth, fs.camera, None))

    T = np.eye(4); T[:3, :3] = np.diag([1.0, -1.0, -1.0]); T[:3, 3] = [0.5, 0.0, 0.55]
    planner = GraspPlanner("franka", EmbeddedBackend(PandaModel()), T, surface_z_base=0.0)
    pose = np.eye(4); pose[:3, 3] = [0.0, 0.0, 0.53]
    det = Detection("M20", 0.9, (80.0, 60.0), pose[:3, 3].copy(), pose, pose[:3, 1].copy(), False)
    plan = planner.plan_best([det], "M20", age_s=0.1)
    out["plan"] = [bool(plan.ok), plan.reason]
    GraspPlanner("youbot", EmbeddedBackend(YouBotModel()), T)
    try:
        moveit_backend.moveit_py_config({})
    except moveit_backend.MoveItConfigError as exc:
        out["moveit_config"] = str(exc)[:60]
    out["blocked"] = BLOCKED
    out["simulator_modules"] = sorted(m for m in sys.modules if m.split(".")[0] in SIMULATOR)
    out["heavy"] = sorted({m.split(".")[0] for m in sys.modules} & {"torch", "pinocchio",
        "pyrealsense2", "cv2", "matplotlib", "rosbags", "onnxruntime", "tqdm"})
    print("RESULT " + json.dumps(out))
    """
)


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    return env


@pytest.mark.timeout(120)
def test_real_robot_path_runs_without_the_simulator(tmp_path: Path) -> None:
    code = BLOCKER + f"SIMULATOR = {SIMULATOR!r}\n" + REAL_ROBOT_PATH
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "take.db3")],
        capture_output=True,
        text=True,
        timeout=110,
        cwd=tmp_path,  # models/ is found through the package share directory, not the cwd
        env=_child_env(),
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    import json

    (line,) = (ln for ln in out.stdout.splitlines() if ln.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    assert result["frame"] == [120, 160, 3]
    assert result["detections"] >= 0
    assert result["plan"][0], result["plan"]  # a pick planned on the Panda model
    assert result["moveit_config"].startswith("MoveIt configuration is missing")
    assert result["simulator_modules"] == [] and result["blocked"] == [], result
    # what the real-robot path does use (requirements / package.xml name these)
    assert {"torch", "pinocchio", "pyrealsense2"} <= set(result["heavy"]), result["heavy"]
    assert "matplotlib" not in result["heavy"], result["heavy"]


def test_blocker_does_block() -> None:
    """The blocker itself must work, or the test above proves nothing."""
    out = subprocess.run(
        [sys.executable, "-c", BLOCKER + "import pybullet_data"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode != 0 and "pybullet_data is blocked" in out.stderr


@pytest.mark.ros
@pytest.mark.timeout(150)
def test_node_processes_come_up_without_the_simulator(tmp_path: Path) -> None:
    """camera_node (RealSense recording), detector_node and grasp_planner_node (kinematic) with
    config/franka.yaml, each in a process where PyBullet cannot be imported."""
    from grasp_pipeline.geometry.camera import CameraIntrinsics
    from grasp_pipeline.sources.realsense_recorder import record_frames

    cam = CameraIntrinsics(160, 120, 150.0, 151.0, 79.0, 60.5, 0.001, "d435")
    take = tmp_path / "take.db3"
    rng = np.random.default_rng(1)
    record_frames(
        take,
        [(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8), np.full((120, 160), 500, np.uint16))]
        * 3,
        cam,
    )
    config = str(ROOT / "config" / "franka.yaml")
    params = {
        "camera_node": {"source": "realsense_file", "file": str(take), "loop": True, "fps": 5.0},
        "detector_node": {},
        "grasp_planner_node": {"execution": "kinematic"},
    }
    ready = {
        "camera_node": "package data (catalog)",
        "detector_node": "detector ready",
        "grasp_planner_node": "planner ready (execution=kinematic)",
    }
    nodes = {}
    try:
        for name, p in params.items():
            node = NodeProcess(name, p, DOMAIN, "/nosim", params_file=config)
            run = (
                BLOCKER
                + f"import runpy; runpy.run_module('grasp_pipeline.ros.{name}', run_name='__main__')"
            )
            node.cmd = [sys.executable, "-c", run, *node.cmd[3:]]
            node.env["PYTHONPATH"] = _child_env()["PYTHONPATH"]
            nodes[name] = node.start()
        for name, node in nodes.items():
            assert node.wait_for_log(ready[name], 90), f"{name}:\n{node.log}"
            assert "blocked" not in node.log, f"{name}:\n{node.log}"
        for name, node in nodes.items():
            assert node.alive(), f"{name} died:\n{node.log}"
    finally:
        for node in nodes.values():
            node.stop()


def test_panda_urdf_copy_is_pybullet_datas_file() -> None:
    pybullet_data = pytest.importorskip("pybullet_data")
    from grasp_pipeline.grasping.robots.panda import KINEMATICS_URDF

    original = Path(pybullet_data.getDataPath()) / "franka_panda" / "panda.urdf"
    assert KINEMATICS_URDF.read_bytes() == original.read_bytes()


# import name -> distribution in setup.py
DISTRIBUTIONS = {
    "torch": "torch",
    "pinocchio": "pin",
    "cv2": "opencv-python-headless",
    "tqdm": "tqdm",
    "pyrealsense2": "pyrealsense2",
}


def _setup_requirements() -> tuple[list[str], dict[str, list[str]]]:
    import ast

    tree = ast.parse((ROOT / "setup.py").read_text())
    extras = next(
        ast.literal_eval(n.value)
        for n in tree.body
        if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "EXTRAS"
    )
    (call,) = (
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "setup"
    )
    install = next(ast.literal_eval(k.value) for k in call.keywords if k.arg == "install_requires")
    return install, extras


def test_setup_requires_what_the_real_robot_path_imports_and_no_simulator() -> None:
    install, extras = _setup_requirements()
    assert not {"pybullet", "matplotlib", "pyrealsense2"} & set(install), install
    for name in ("sim", "train", "bench", "realsense", "dev"):
        assert extras[name], name
    assert "pybullet" in extras["sim"] and extras["realsense"] == ["pyrealsense2"]
    # what test_real_robot_path_runs_without_the_simulator sees imported, besides numpy/scipy/yaml
    for module in ("torch", "pinocchio", "cv2", "tqdm"):
        assert DISTRIBUTIONS[module] in install, module
    assert DISTRIBUTIONS["pyrealsense2"] in extras["realsense"]


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "Dockerfile.gpu"])
def test_docker_images_install_pybullet_only_on_request(dockerfile: str) -> None:
    """Jazzy's Python 3.12 has no PyBullet wheel: the robot images must not need one."""
    text = (ROOT / "docker" / dockerfile).read_text()
    for line in text.splitlines():
        if "pip3 install" in line and "pybullet" in line:
            assert 'if [ "${WITH_PYBULLET}" = 1 ]' in line, line
    assert "ARG WITH_PYBULLET=0" in text
