"""ROS sub-commands: ``run`` (the node stack), ``gazebo world`` (SDF from the catalog) and
``benchmark ros-pipeline`` (camera -> detections latency over real DDS)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from grasp_pipeline.commands import Command


def _parse_sets(items: list[str]) -> dict[str, dict]:
    """``node.param=value`` strings -> ``{node: {param: value}}``; values parsed as YAML scalars."""
    import yaml

    out: dict[str, dict] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        node, dot, param = key.partition(".")
        if not sep or not dot or not node or not param:
            raise ValueError(f"--set expects node.param=value, got {item!r}")
        out.setdefault(node, {})[param] = yaml.safe_load(raw) if raw != "" else ""
    return out


def _run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config", required=True, help="ros__parameters YAML, e.g. config/sim_franka.yaml"
    )
    p.add_argument(
        "--separate", action="store_true", help="three processes instead of one composed process"
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NODE.PARAM=VALUE",
        help="override a parameter",
    )
    p.add_argument(
        "--duration",
        type=float,
        default=None,
        help="stop after this many seconds (default: Ctrl-C)",
    )
    p.add_argument(
        "--domain-id", type=int, default=None, help="ROS_DOMAIN_ID (default: $ROS_DOMAIN_ID or 42)"
    )


def _run(args: argparse.Namespace) -> int:
    from grasp_pipeline.paths import share_dir
    from grasp_pipeline.ros.config_file import check_params_file
    from grasp_pipeline.ros.environment import apply_ros_env

    config = Path(args.config)
    if not config.exists() and (share_dir() / args.config).exists():
        config = share_dir() / args.config
    check_params_file(config)  # a bad file: one-line error, exit 2 (grasp_pipeline.cli)
    apply_ros_env(args.domain_id)  # before rclpy creates anything (domain, Fast DDS profile)
    overrides = _parse_sets(args.set)
    if args.separate:
        from grasp_pipeline.apps.compose import run_separate

        return run_separate(config, overrides, args.duration)
    from grasp_pipeline.apps.compose import run_composed

    # A node refusing its parameters raises ValueError: one-line error, exit 2.
    summary = run_composed(config, overrides, args.duration)
    print("run summary: " + json.dumps(summary, default=str), flush=True)
    return 0


def _gazebo_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--out", required=True, help="directory for world.sdf and models/<name>/model.sdf"
    )
    p.add_argument("--surface-height", type=float, default=0.10, help="service area height (m)")


def _gazebo(args: argparse.Namespace) -> int:
    from grasp_pipeline.gazebo.sdf import write_world

    paths = write_world(args.out, surface_height=args.surface_height)
    print(f"wrote {paths['world']} and {len(paths['models'])} object models under {args.out}")
    return 0


def _bench_args(p: argparse.ArgumentParser) -> None:
    from grasp_pipeline.ros.detector_loading import DETECTORS

    p.add_argument("--seconds", type=float, default=20.0, help="how long the camera publishes")
    p.add_argument("--fps", type=float, default=30.0, help="camera rate (Hz)")
    p.add_argument("--detector", default="parts", choices=DETECTORS, help="detector the node runs")
    p.add_argument(
        "--model",
        default=None,
        help="its model (default: the detector's shipped model; segnet without one: a fresh net)",
    )
    p.add_argument(
        "--out", default=None, help="JSON path (default benchmarks/results/ros_pipeline.json)"
    )


def _bench(args: argparse.Namespace) -> int:
    import importlib.util

    from grasp_pipeline.paths import repo_root

    script = repo_root() / "benchmarks" / "ros_pipeline.py"
    spec = importlib.util.spec_from_file_location("ros_pipeline_benchmark", script)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(f"benchmark script not found: {script}")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.main(
        seconds=args.seconds, fps=args.fps, model=args.model, out=args.out, detector=args.detector
    )


COMMANDS = [
    Command(
        path=("run",),
        help="run camera, detector and planner nodes from a config",
        add_arguments=_run_args,
        run=_run,
    ),
    Command(
        path=("gazebo", "world"),
        help="write the RoboCup@Work Gazebo world and object models (SDF) from the catalog",
        add_arguments=_gazebo_args,
        run=_gazebo,
    ),
    Command(
        path=("benchmark", "ros-pipeline"),
        help="camera -> detections latency and detector rate over real DDS (640x480 at 30 Hz)",
        add_arguments=_bench_args,
        run=_bench,
    ),
]
