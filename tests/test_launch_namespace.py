"""cell.launch.py namespace:=x with the real launch system: the colcon-installed package is launched
as ``ros2 launch`` does, and the namespaced nodes hold the parameter file's values (asked over DDS
like ``ros2 param get``). Runs where the launch system is importable (a ROS install, or launch /
launch_ros from source on PYTHONPATH); the venv has no launch, and tests/test_config_namespace.py
checks the same over DDS with the node processes started as launch_ros starts them."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from grasp_pipeline.ros.environment import claim_domain_id

HAS_LAUNCH = importlib.util.find_spec("launch_ros") is not None
pytestmark = [
    pytest.mark.slow,
    pytest.mark.ros,
    pytest.mark.timeout(180),
    pytest.mark.skipif(not HAS_LAUNCH, reason="the ROS 2 launch system is not installed here"),
]

DOMAIN = claim_domain_id()
RUN_LAUNCH = """
import sys, launch
from launch.launch_description_sources import PythonLaunchDescriptionSource
from ament_index_python.packages import get_package_share_directory
path = get_package_share_directory("grasp_pipeline") + "/launch/" + sys.argv[1]
args = [tuple(a.split(":=", 1)) for a in sys.argv[2:]]
ls = launch.LaunchService()
ls.include_launch_description(launch.LaunchDescription([launch.actions.IncludeLaunchDescription(
    PythonLaunchDescriptionSource(path), launch_arguments=args)]))
sys.exit(ls.run())
"""


def _module_dirs(*names: str) -> list[str]:
    """Where the launch system (and what it imports) comes from in this process."""
    out = []
    for name in names:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin:
            out.append(str(Path(spec.origin).parents[1]))
    return out


def _params(probe, node: str, names: list[str], launch_proc) -> dict:
    from rcl_interfaces.srv import GetParameters
    from rclpy.parameter import parameter_value_to_python

    client = probe.node.create_client(GetParameters, f"{node}/get_parameters")
    ok = probe.spin_until(lambda: client.service_is_ready() or launch_proc.poll() is not None, 90)
    assert ok and launch_proc.poll() is None, f"{node}: no parameter service"
    response = probe.call(client, GetParameters.Request(names=names), timeout=20.0)
    assert response is not None, node
    return {n: parameter_value_to_python(v) for n, v in zip(names, response.values, strict=True)}


def test_cell_launch_in_a_namespace_applies_the_parameter_file(tmp_path: Path) -> None:
    from test_colcon_install import _colcon_build, _sourced_env

    from grasp_pipeline.ros.environment import apply_ros_env
    from grasp_pipeline.ros.node_process import Probe

    apply_ros_env(DOMAIN)
    ws = tmp_path / "ws"
    _colcon_build(ws, symlink=False)
    env = _sourced_env(ws)
    env["ROS_DOMAIN_ID"] = str(DOMAIN)
    extra = _module_dirs("launch", "launch_ros", "osrf_pycommon", "composition_interfaces")
    env["PYTHONPATH"] = os.pathsep.join([env.get("PYTHONPATH", ""), *extra])
    cmd = [sys.executable, "-c", RUN_LAUNCH, "cell.launch.py", "config:=youbot.yaml"]
    cmd += ["namespace:=x", "execution:=kinematic", "target_object:=M20"]
    log = tmp_path / "launch.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT)
    try:
        with Probe(DOMAIN, "probe_launch_ns") as probe:
            planner = _params(
                probe, "/x/grasp_planner_node", ["robot", "base_frame", "execution"], proc
            )
            camera = _params(probe, "/x/camera_node", ["preset"], proc)
            detector = _params(probe, "/x/detector_node", ["target_object", "min_score"], proc)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    text = log.read_text()
    # youbot.yaml's values (the nodes' defaults are franka / base_link / d435)
    assert planner == {"robot": "youbot", "base_frame": "arm_link_0", "execution": "kinematic"}
    assert camera == {"preset": "sr300"}, text[-3000:]
    assert detector == {"target_object": "M20", "min_score": 0.5}, text[-3000:]
    assert "[x.grasp_planner_node]: youbot planner ready (execution=kinematic)" in text, text[
        -3000:
    ]
