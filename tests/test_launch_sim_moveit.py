"""The Gazebo and MoveIt launch files: sim time everywhere and Gazebo's clock bridged;
franka_moveit.launch.py hands the planner the MoveIt config and says what to install when MoveIt is
missing (the wrappers' arguments are checked in tests/test_launch_files.py). Static checks always;
checks with the real launch system where it is importable (a ROS install, or launch/launch_ros from
source on PYTHONPATH)."""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from grasp_pipeline.ros.environment import claim_domain_id

ROOT = Path(__file__).resolve().parents[1]
LAUNCH = ROOT / "launch"
HAS_LAUNCH = importlib.util.find_spec("launch_ros") is not None
HAS_MOVEIT_CONFIGS = importlib.util.find_spec("moveit_configs_utils") is not None


def _tree(name: str) -> ast.Module:
    return ast.parse((LAUNCH / name).read_text())


def _calls(tree: ast.AST, func: str) -> list[ast.Call]:
    return [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and getattr(n.func, "id", getattr(n.func, "attr", None)) == func
    ]


def _kw(call: ast.Call, name: str):
    return next((k.value for k in call.keywords if k.arg == name), None)


def _consts(tree: ast.Module) -> dict:
    out = {}
    for n in tree.body:
        if isinstance(n, ast.Assign) and isinstance(n.targets[0], ast.Name):
            with contextlib.suppress(ValueError):
                out[n.targets[0].id] = ast.literal_eval(n.value)
    return out


def test_every_gazebo_node_runs_on_sim_time_and_the_clock_is_bridged() -> None:
    tree = _tree("sim_cell.launch.py")
    consts = _consts(tree)
    assert consts["SIM_TIME"] == {"use_sim_time": True}
    assert "/clock@rosgraph_msgs/msg/Clock[gz.msgs.Clock" in consts["BRIDGED"]
    nodes = _calls(tree, "Node")
    assert len(nodes) == 4  # spawner, detector, planner, bridge
    for call in nodes:
        params = _kw(call, "parameters")
        names = {getattr(e, "id", None) for e in getattr(params, "elts", [])}
        assert "SIM_TIME" in names, f"{ast.unparse(_kw(call, 'executable'))}: no use_sim_time"
    (bridge,) = (c for c in nodes if ast.literal_eval(_kw(c, "package")) == "ros_gz_bridge")
    assert ast.unparse(_kw(bridge, "arguments")) == "list(BRIDGED)"
    # Gazebo itself is required: when it exits the launch ends with a reason
    (gz,) = _calls(tree, "ExecuteProcess")
    assert ast.unparse(_kw(gz, "on_exit")) == "end_launch_on_exit('gz sim')"


def test_franka_moveit_passes_the_moveit_config_to_the_planner() -> None:
    tree = _tree("franka_moveit.launch.py")
    # moveit_configs_utils is imported inside the launch function only: the file loads without it
    top = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    assert all("moveit" not in ast.unparse(n) for n in top)
    nodes = {ast.literal_eval(_kw(c, "executable")): c for c in _calls(tree, "Node")}
    assert {"move_group", "grasp_planner_node", "detector_node", "camera_node"} <= set(nodes)
    planner = ast.unparse(_kw(nodes["grasp_planner_node"], "parameters"))
    assert "'execution': 'moveit'" in planner and "moveit_params" in planner
    assert "moveit_params" in ast.unparse(_kw(nodes["move_group"], "parameters"))
    for exe in ("grasp_planner_node", "detector_node", "camera_node", "move_group"):
        assert ast.unparse(_kw(nodes[exe], "on_exit")) == f"end_launch_on_exit('{exe}')"
    for exe, call in nodes.items():
        assert "sim_time" in ast.unparse(_kw(call, "parameters")), f"{exe}: no use_sim_time"
    assert _consts(tree)["MOVEIT_CONFIG_PACKAGE"] == "moveit_resources_panda_moveit_config"


def _load(name: str):
    from launch.launch_description_sources import PythonLaunchDescriptionSource

    return PythonLaunchDescriptionSource(
        str(LAUNCH / name)
    ).try_get_launch_description_without_context()


@pytest.mark.skipif(not HAS_LAUNCH, reason="the ROS 2 launch system is not installed here")
@pytest.mark.parametrize("path", sorted(LAUNCH.glob("*.launch.py")), ids=lambda p: p.name)
def test_real_launch_system_loads_every_file_and_sees_described_arguments(path: Path) -> None:
    ld = _load(path.name)
    args = ld.get_launch_arguments()
    assert args, f"{path.name}: no arguments"
    for a in args:
        assert a.description and a.description != "no description given", (path.name, a.name)


@pytest.mark.skipif(not HAS_LAUNCH, reason="the ROS 2 launch system is not installed here")
@pytest.mark.skipif(HAS_MOVEIT_CONFIGS, reason="MoveIt's launch helpers are installed here")
def test_franka_moveit_without_moveit_stops_saying_what_to_install() -> None:
    code = (
        "import sys, launch\n"
        "from launch.launch_description_sources import PythonLaunchDescriptionSource\n"
        "ls = launch.LaunchService()\n"
        "ls.include_launch_description(launch.LaunchDescription([launch.actions."
        f"IncludeLaunchDescription(PythonLaunchDescriptionSource({str(LAUNCH / 'franka_moveit.launch.py')!r}))]))\n"
        "sys.exit(ls.run())\n"
    )
    env = {**os.environ, "ROS_DOMAIN_ID": str(claim_domain_id())}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env
    )
    log = out.stdout + out.stderr
    assert out.returncode == 1, log
    assert "moveit_configs_utils" in log and "moveit-resources-panda-moveit-config" in log, log
    assert "execution:=kinematic" in log, log
