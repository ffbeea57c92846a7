"""Parameter files under a namespace: the shipped config/*.yaml key each node as ``/**/<node>`` (the
ROS 2 wildcard), so a node started in a namespace (``namespace:=x`` in the launch files, which
launch_ros passes as ``-r __ns:=/x``) still gets the file's values. A bare ``grasp_planner_node:``
key only matches ``/grasp_planner_node`` and is silently ignored under ``/x``: the second test
shows that, so the first one would fail if the keys went back to bare names."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from grasp_pipeline.ros.config_file import node_key_name, read_params_file
from grasp_pipeline.ros.environment import apply_ros_env, claim_domain_id
from grasp_pipeline.ros.node_process import NodeProcess, Probe

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "config").glob("*.yaml"))
NODE_CONFIGS = ("franka", "youbot", "sim_franka", "sim_youbot")
DOMAIN = claim_domain_id()


@pytest.mark.parametrize("name", NODE_CONFIGS)
def test_shipped_configs_key_nodes_by_wildcard(name: str) -> None:
    data = yaml.safe_load((ROOT / "config" / f"{name}.yaml").read_text())
    frames_from = "/**/sim_node" if name.startswith("sim_") else "/**/camera_node"
    assert sorted(data) == sorted([frames_from, "/**/detector_node", "/**/grasp_planner_node"]), (
        f"config/{name}.yaml: keys {sorted(data)}"
    )


def test_no_config_uses_bare_node_keys() -> None:
    """Any file of config/ that configures nodes uses the namespace-proof form."""
    for path in CONFIGS:
        data = yaml.safe_load(path.read_text())
        if not isinstance(data, dict):
            continue
        for key, body in data.items():
            if isinstance(body, dict) and "ros__parameters" in body:
                assert str(key).startswith("/"), f"{path.name}: bare node key {key!r}"


def test_reader_accepts_every_key_form(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "/**": {"ros__parameters": {"use_sim_time": True, "camera_name": "cam"}},
                "/**/camera_node": {"ros__parameters": {"fps": 5.0}},
                "detector_node": {"ros__parameters": {"min_score": 0.4}},
                "/**/detector_node": {"ros__parameters": {"device": "cpu"}},
                "/robot1/grasp_planner_node": {"ros__parameters": {"robot": "youbot"}},
            },
            sort_keys=False,
        )
    )
    nodes = read_params_file(path)
    assert nodes == {
        "camera_node": {"use_sim_time": True, "camera_name": "cam", "fps": 5.0},
        # bare and wildcard sections of one node both apply
        "detector_node": {
            "use_sim_time": True,
            "camera_name": "cam",
            "min_score": 0.4,
            "device": "cpu",
        },
        "grasp_planner_node": {"use_sim_time": True, "camera_name": "cam", "robot": "youbot"},
    }
    assert node_key_name("/**/camera_node") == "camera_node"
    assert node_key_name("/*") == "*"
    with pytest.raises(ValueError, match="names no node"):
        node_key_name("/")
    bad = tmp_path / "bad.yaml"
    bad.write_text("/:\n  ros__parameters: {fps: 3.0}\n")
    with pytest.raises(ValueError, match=r"bad.yaml: parameter file key '/' names no node"):
        read_params_file(bad)


def _planner_params(probe: Probe, ns: str, names: list[str], node: NodeProcess) -> dict:
    from rcl_interfaces.srv import GetParameters
    from rclpy.parameter import parameter_value_to_python

    client = probe.node.create_client(GetParameters, f"{ns}/grasp_planner_node/get_parameters")
    assert probe.spin_until(lambda: client.service_is_ready(), 60.0, watch=node), node.log
    response = probe.call(client, GetParameters.Request(names=names), timeout=20.0)
    assert response is not None, node.log
    return {n: parameter_value_to_python(v) for n, v in zip(names, response.values, strict=True)}


@pytest.mark.ros
@pytest.mark.timeout(120)
def test_namespaced_node_gets_the_shipped_file_values(tmp_path: Path) -> None:
    """youbot.yaml to a planner in /x (the `-r __ns:=/x` launch_ros passes for namespace:=x): its
    parameters are the file's (defaults: base_frame 'base_link', robot 'franka', surface 0.0);
    the same file with bare keys leaves the namespaced node without them."""
    apply_ros_env(DOMAIN)
    config = ROOT / "config" / "youbot.yaml"
    bare = tmp_path / "bare.yaml"
    bare.write_text(config.read_text().replace("/**/", ""))
    names = ["robot", "base_frame", "surface_z_base", "max_age_s", "execution"]
    with Probe(DOMAIN, "probe_ns") as probe:
        kw = {"domain_id": DOMAIN, "params": {"execution": "kinematic"}}
        with NodeProcess("grasp_planner_node", namespace="/x", params_file=str(config), **kw) as n:
            got = _planner_params(probe, "/x", names, n)
        assert got == {
            "robot": "youbot",
            "base_frame": "arm_link_0",
            "surface_z_base": -0.08,
            "max_age_s": 1.0,
            "execution": "kinematic",  # -p on the command line wins over the file
        }, n.log
        # bare keys: none of the file reaches /y/grasp_planner_node, which keeps its defaults
        # (the bug the wildcard keys fix: a youBot planner planning for a Panda)
        with NodeProcess("grasp_planner_node", namespace="/y", params_file=str(bare), **kw) as n:
            got = _planner_params(probe, "/y", ["robot", "base_frame"], n)
        assert got == {"robot": "franka", "base_frame": "base_link"}, n.log
