"""Read the per-setup YAML files of ``config/`` (ROS 2 ``ros__parameters`` form) without ROS.

The same file is handed to the nodes as ``--params-file`` by the launch files and by
``grasp-pipeline run``; this reader lets the CLI and tests see which nodes it configures and
check the values against each node's declared parameters before anything starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

NODE_NAMES = ("sim_node", "camera_node", "detector_node", "grasp_planner_node")


def node_key_name(key: object) -> str:
    """The node name a top-level key of a parameter file configures: its last ``/`` segment
    (``/**/camera_node`` -> ``camera_node``; ``/**`` -> ``**``, meaning every node)."""
    name = str(key).strip().rstrip("/").split("/")[-1]
    if not name:
        raise ValueError(f"parameter file key {key!r} names no node")
    return name


def read_params_file(path: str | Path) -> dict[str, dict[str, Any]]:
    """``{node_name: {param: value}}`` of a ros__parameters YAML.

    Keys may be plain node names (``camera_node``: only a node outside any namespace),
    ``/ns/name``, the ROS 2 wildcard form ``/**/name`` (the node of that name in any namespace:
    what the shipped config/*.yaml use, so ``namespace:=x`` keeps them applying), or ``/**`` /
    ``/*`` (every node; merged under each node's own values). The namespace is not checked here:
    every key is filed under its last segment. Raises FileNotFoundError / ValueError naming the
    file and the offending key.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"parameter file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: top level must be a mapping of node names")
    shared: dict[str, Any] = {}
    nodes: dict[str, dict[str, Any]] = {}
    for key, body in data.items():
        if not isinstance(body, dict) or not isinstance(body.get("ros__parameters"), dict):
            raise ValueError(f"{path}: entry {key!r} needs a 'ros__parameters' mapping")
        params = body["ros__parameters"]
        try:
            name = node_key_name(key)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from exc
        if name in ("*", "**"):
            shared.update(params)
        else:  # `camera_node` and `/**/camera_node` in one file: both apply, in file order
            nodes.setdefault(name, {}).update(params)
    return {name: {**shared, **params} for name, params in nodes.items()}


def check_params_file(path: str | Path) -> dict[str, dict[str, Any]]:
    """:func:`read_params_file` plus validation against the nodes' declared parameters.

    Raises ValueError listing every unknown node, unknown parameter and bad value (each named).
    """
    from grasp_pipeline.ros.camera_node import PARAMS as CAMERA
    from grasp_pipeline.ros.detector_node import PARAMS as DETECTOR
    from grasp_pipeline.ros.grasp_planner_node import PARAMS as PLANNER
    from grasp_pipeline.ros.params import validate_values
    from grasp_pipeline.ros.sim_node import PARAMS as SIM

    specs = {
        "sim_node": SIM,
        "camera_node": CAMERA,
        "detector_node": DETECTOR,
        "grasp_planner_node": PLANNER,
    }
    nodes = read_params_file(path)
    errors = []
    for name, values in nodes.items():
        if name not in specs:
            errors.append(f"unknown node {name!r} (known: {sorted(specs)})")
            continue
        values = {k: v for k, v in values.items() if k != "use_sim_time"}
        errors += [f"{name}: {e}" for e in validate_values(specs[name], values)]
    if errors:
        raise ValueError(f"{path}: " + "; ".join(errors))
    return nodes
