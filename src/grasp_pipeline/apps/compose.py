"""Run the three nodes without ``ros2 launch``: composed in one process or as three processes.

Both read the same ros__parameters YAML the launch files use (handed to each node as
``--params-file``), plus ``overrides`` (``{node: {param: value}}``, e.g. from ``--set``), and start
the nodes the file configures (``sim_node`` or ``camera_node``, ``detector_node``,
``grasp_planner_node``). Composed or separate, the nodes share nothing but topics, services and
actions: with a sim config the simulator node owns the one world, and the planner picks in it over
the robot's action interfaces in both cases.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from grasp_pipeline.ros.config_file import NODE_NAMES, read_params_file
from grasp_pipeline.ros.node_process import STOP_GRACE_S


def merged_params_file(config: str | Path, overrides: dict[str, dict[str, Any]] | None) -> Path:
    """``config`` itself, or a temporary copy with ``overrides`` applied (deleted by the caller)."""
    if not overrides:
        return Path(config)
    nodes = read_params_file(config)
    for node, params in overrides.items():
        if node not in NODE_NAMES:
            raise ValueError(f"--set names unknown node {node!r}; nodes: {list(NODE_NAMES)}")
        nodes.setdefault(node, {}).update(params)
    fd, name = tempfile.mkstemp(prefix="grasp_pipeline_", suffix=".yaml")
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump({n: {"ros__parameters": p} for n, p in nodes.items()}, f)
    return Path(name)


def node_class(name: str):
    """The node class (or factory) of executable ``name``."""
    if name == "sim_node":
        from grasp_pipeline.ros.sim_node import SimNode

        return SimNode
    if name == "camera_node":
        from grasp_pipeline.ros.camera_node import CameraNode

        return CameraNode
    if name == "detector_node":
        from grasp_pipeline.ros.detector_node import DetectorNode

        return DetectorNode
    if name == "sim_truth_detector":
        from grasp_pipeline.ros.sim_truth_detector import make_node

        return make_node
    if name == "grasp_planner_node":
        from grasp_pipeline.ros.grasp_planner_node import GraspPlannerNode

        return GraspPlannerNode
    raise ValueError(f"unknown node {name!r}")


def run_composed(
    config: str | Path, overrides=None, duration_s: float | None = None, threads: int = 10
) -> dict:
    """Spin the three nodes in one process with a MultiThreadedExecutor until Ctrl-C or ``duration_s``.

    Returns counters of the run (frames published/processed, picks).
    """
    import rclpy
    from rclpy.executors import MultiThreadedExecutor

    path = merged_params_file(config, overrides)
    try:
        params = read_params_file(path)
        args = ["--ros-args", "--params-file", str(path)]
        with rclpy.init(args=[]):
            nodes = []
            try:
                for name in NODE_NAMES:
                    if name in params:
                        nodes.append(node_class(name)(cli_args=args))
                executor = MultiThreadedExecutor(num_threads=threads)
                for n in nodes:
                    executor.add_node(n)
                t_end = None if duration_s is None else time.monotonic() + duration_s
                try:
                    while t_end is None or time.monotonic() < t_end:
                        executor.spin_once(timeout_sec=0.1)
                except KeyboardInterrupt:
                    pass
                return _summary(nodes)
            finally:
                for n in nodes:
                    n.destroy_node()
    finally:
        if path != Path(config):
            path.unlink(missing_ok=True)


def _summary(nodes) -> dict:
    out: dict[str, Any] = {}
    for n in nodes:
        if hasattr(n, "frames_published"):
            out["frames_published"] = n.frames_published
        if hasattr(n, "processed"):
            out["frames_processed"] = n.processed
            out["bad_frames"] = dict(n.bad_frames)
        if hasattr(n, "picks"):
            out["picks"] = list(n.picks)
    return out


def run_separate(config: str | Path, overrides=None, duration_s: float | None = None) -> int:
    """Start each configured node as its own process (``python -m grasp_pipeline.ros.<node>``).

    Stops them all (SIGINT, then SIGKILL after ``STOP_GRACE_S``) at Ctrl-C, after ``duration_s`` or when one
    exits; returns the first non-zero exit code (0 if all ended cleanly).
    """
    path = merged_params_file(config, overrides)
    params = read_params_file(path)
    procs: list[tuple[str, subprocess.Popen]] = []
    try:
        for name in NODE_NAMES:
            if name in params:
                cmd = [
                    sys.executable,
                    "-m",
                    f"grasp_pipeline.ros.{name}",
                    "--ros-args",
                    "--params-file",
                    str(path),
                ]
                procs.append((name, subprocess.Popen(cmd)))
        t_end = None if duration_s is None else time.monotonic() + duration_s
        try:
            while t_end is None or time.monotonic() < t_end:
                if any(p.poll() is not None for _, p in procs):
                    break
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass
    finally:
        import signal

        for _, p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
        for _, p in procs:
            try:
                p.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if path != Path(config):
            path.unlink(missing_ok=True)
    codes = [p.returncode for _, p in procs]
    bad = [c for c in codes if c not in (0, -2, 130)]
    return bad[0] if bad else 0
