"""``grasp-pipeline demo``: pick RoboCup@Work objects in the simulated cell, end to end.

``--mode ros`` (default) runs the three nodes, composed in this process (one executor) or with
``--separate`` as three OS processes: the simulator node owns the cell (world, robot, camera), the
detector node detects (``oracle``: a detector node answering from the simulator's ground truth),
the grasp planner node plans and drives the simulated robot over its action interfaces. The demo
drives them only as a task planner would, through ROS (:mod:`grasp_pipeline.apps.cell_client`):
each trial sets the scene up through the simulator's ``~/reset_scene`` (scene and seed by trial),
waits for detections of it, sets the planner's ``target_object`` and calls ``pick``. A trial
succeeds when the planner reports the object held (its finger-gap judgement) and the simulator's
ground truth shows it lifted (>= 5 cm). ``--mode direct`` runs the trials through the core in this
process (no rclpy; the planner drives the simulated arm directly), for quick checks.

``--scenario final`` runs the competition scenario instead of trials, through the same nodes: four
service areas of different heights, ten task objects and eight decoys, the picks in order, scored
per pick with total time and decoys picked, and a side-by-side video
(:mod:`grasp_pipeline.apps.competition_ros`).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from grasp_pipeline.commands import Command, command_line
from grasp_pipeline.ros.detector_loading import SHIPPED_MODELS  # ``auto`` prefers them in order
from grasp_pipeline.runinfo import machine

DETECTORS = ("auto", "parts", "segnet", "descriptors", "oracle", "oracle-point")
# The single-object trials' pool follows the detector: the parts detector was trained for the
# league's current set; segnet knows the classic 2018 set, which the oracle runs' files used too.
DEMO_POOL = "classic2018"
PARTS_POOL = "rulebook"


def trial_objects(args: argparse.Namespace, catalog) -> list[str]:
    """Names of the single-object trials: ``--objects``, else the ``--pool``'s objects."""
    names = list(args.objects) if args.objects else catalog.pool(args.pool or DEMO_POOL)
    unknown = [n for n in names if n not in catalog]
    if unknown:
        raise ValueError(f"--objects: unknown names {unknown}; known: {catalog.names}")
    return names


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--robot", choices=("franka", "youbot"), default="franka")
    p.add_argument("--gripper", choices=("wide", "stock"), default="wide", help="youBot gripper")
    p.add_argument(
        "--detector",
        choices=DETECTORS,
        default="auto",
        help="oracle = the simulator's true 6D poses (measures grasping alone), oracle-point = "
        "true pickup point + closing axis (what the learned detectors report); auto = the shipped "
        "parts detector (models/parts/classifier.pt), else the shipped segnet, else oracle",
    )
    p.add_argument(
        "--model", default="", help="detector checkpoint / database (parts, segnet, descriptors)"
    )
    p.add_argument("--trials", type=int, default=20, help="single-object trials per object")
    p.add_argument(
        "--clutter-trials", type=int, default=40, help="trials with 3-5 touching objects"
    )
    p.add_argument(
        "--pile-trials", type=int, default=0, help="trials with 3-5 objects dropped onto each other"
    )
    p.add_argument(
        "--objects",
        nargs="*",
        default=None,
        help="catalog names of the single-object trials (default: the --pool)",
    )
    p.add_argument(
        "--pool",
        default=None,
        help=f"catalog pool of the single-object trials (default: {PARTS_POOL!r}, today's league "
        f"set, for the parts detector; {DEMO_POOL!r}, the 13 objects segnet knows, for the "
        "others) or of the final's task objects (default: the catalog's default pool, 'rulebook')",
    )
    p.add_argument(
        "--scenario",
        choices=("trials", "final"),
        default="trials",
        help="trials: single-object, clutter and pile trials; final: the competition scenario "
        "(4 service areas, 10 task objects + 8 decoys, picks in order; writes "
        "benchmarks/results/competition_<robot>_<detector>.json and .gif)",
    )
    p.add_argument(
        "--picks",
        type=int,
        default=0,
        help="--scenario final: run only the first N picks of the task list (0 = all)",
    )
    p.add_argument("--no-video", action="store_true", help="--scenario final: no third-person GIF")
    p.add_argument(
        "--video-fps",
        type=float,
        default=4.0,
        help="--scenario final: third-person frames per simulated second while the arm moves",
    )
    p.add_argument("--mode", choices=("ros", "direct"), default="ros")
    p.add_argument(
        "--json", type=Path, default=None, help="default benchmarks/results/demo_<robot>.json"
    )
    p.add_argument(
        "--images", type=Path, default=None, help="attempt images (default tmp/demo_<robot>)"
    )
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--replans",
        type=int,
        default=1,
        help="new looks and plans after the arm was stopped and backed off, lifted nothing and "
        "went back, or pushed the part free of neighbours (0 = one attempt)",
    )
    p.add_argument(
        "--no-push",
        action="store_true",
        help="when touching neighbours leave no grasp, give the pick up instead of pushing the "
        "part free and looking again (measures the grasps alone)",
    )
    p.add_argument("--domain-id", type=int, default=None, help="ROS_DOMAIN_ID (default: env or 42)")
    p.add_argument(
        "--separate",
        action="store_true",
        help="--mode ros: the three nodes as separate OS processes (default: composed in this one)",
    )
    p.add_argument(
        "--real-time-factor",
        type=float,
        default=2.0,
        help="--mode ros: simulated seconds per wall second of the simulator node (0 = unpaced)",
    )


def _attempt(
    cell, dets: list, target: str, frame, push_free: bool = True
) -> tuple[bool, str, float, bool]:
    """One pick of ``target`` in process from ``dets`` of ``frame``: (ok, reason, planning ms,
    whether a new look and plan may follow: a stalled arm backed off, the fingers lifted
    nothing and the arm went back, or the part was pushed free of neighbours that left it no
    grasp, when ``push_free``). The grasps are checked for finger
    clearance in the frame's depth, as the planner node does with the aligned depth."""
    from grasp_pipeline.geometry.camera import depth_to_metres
    from grasp_pipeline.grasping.depth_clearance import ObservedCloud

    observed = ObservedCloud(depth_to_metres(frame.depth, frame.camera), frame.camera)
    plan = cell.planner.plan_best(dets, target, age_s=0.0, observed=observed)
    # neighbours leave no grasp: push the part free, then the caller looks again
    if not plan.ok and plan.crowded and push_free:
        push, res = cell.planner.push_free(dets, target, observed)
        if res is None:
            return False, f"{plan.reason}; {push.reason}", plan.planning_ms, False
        why = f"{plan.reason}; pushed {target}: {push.reason} ({res.reason})"
        return False, why, plan.planning_ms + push.planning_ms, res.ok or res.backed_off
    if not plan.ok:
        return False, plan.reason, plan.planning_ms, False
    res = cell.planner.execute(plan)
    why = f"picked {target}: {res.reason}" if res.ok else res.reason
    return res.ok, why, plan.planning_ms, res.may_retry


def _shipped(detector: str) -> str:
    """Path of the shipped model of ``detector`` (in the package share, also in a colcon
    install), or '' when there is none."""
    from grasp_pipeline.paths import resolve_path

    if detector not in SHIPPED_MODELS:
        return ""
    try:
        return str(resolve_path(SHIPPED_MODELS[detector], f"shipped {detector} model"))
    except FileNotFoundError:
        return ""


def _choose_detector(args) -> None:
    """Resolve ``auto`` and the shipped model into ``args.detector`` / ``args.model``."""
    if args.detector == "auto":
        # a --model of its own with auto: a segnet checkpoint, as before the parts detector
        found = [d for d in SHIPPED_MODELS if _shipped(d)] if not args.model else ["segnet"]
        args.detector = found[0] if found else "oracle"
        if args.detector == "oracle":
            print(
                "note: no shipped detector model - using the oracle detector (true poses from "
                "the simulator); pass --detector parts|segnet --model PATH"
            )
    if not args.model:
        args.model = _shipped(args.detector)
    if args.detector in ("parts", "segnet", "descriptors") and not args.model:
        raise ValueError(
            f"--detector {args.detector} needs --model (a trained checkpoint); "
            "or run --detector oracle to measure the grasping stack on true poses"
        )


def _make_detector(args, cell):
    from grasp_pipeline.sim.grasp_execution import OracleDetector

    if args.detector in ("oracle", "oracle-point"):
        return OracleDetector(cell, full_6d=args.detector == "oracle")
    if args.detector == "descriptors" and args.model:
        # --model names a database written by `grasp-pipeline enroll` (each object's own model)
        from grasp_pipeline.perception.descriptors.detector import DescriptorDetector

        return DescriptorDetector.from_database(args.model)
    from grasp_pipeline.ros.detector_loading import load_detector

    if not args.model:
        raise ValueError(
            f"--detector {args.detector} needs --model (a trained checkpoint); "
            "or run --detector oracle to measure the grasping stack on true poses"
        )
    return load_detector(args.detector, args.model)


def _run(args: argparse.Namespace) -> int:
    args.command_line = command_line(("demo",))  # recorded in the result files
    if min(args.trials, args.clutter_trials, args.pile_trials, args.replans, args.picks) < 0:
        raise ValueError(
            "--trials, --clutter-trials, --pile-trials, --replans and --picks must be >= 0"
        )
    _choose_detector(args)  # once, for every scenario and mode
    if args.scenario == "final":
        return _run_final(args)
    args.pool = args.pool or (PARTS_POOL if args.detector == "parts" else DEMO_POOL)
    if args.mode == "ros":
        from grasp_pipeline.apps.demo_ros import run_ros_demo

        return run_ros_demo(args)
    return _run_direct(args)


def _run_final(args: argparse.Namespace) -> int:
    from grasp_pipeline.apps.competition_ros import run_competition
    from grasp_pipeline.objects import load_catalog

    if args.mode != "ros":
        raise ValueError("--scenario final runs through the ROS nodes: use --mode ros")
    if not 0 < args.video_fps <= 30:
        raise ValueError(f"--video-fps must be in (0, 30], got {args.video_fps}")
    catalog = load_catalog()
    names = list(args.objects) if args.objects else catalog.pool(args.pool)
    unknown = [n for n in names if n not in catalog]
    if unknown:
        raise ValueError(f"--objects: unknown names {unknown}; known: {catalog.names}")
    return run_competition(args, names)


def _run_direct(args: argparse.Namespace) -> int:
    import numpy as np
    from tqdm import tqdm

    from grasp_pipeline.geometry.camera import preset
    from grasp_pipeline.sim.camera import SimCamera
    from grasp_pipeline.sim.grasp_execution import OracleDetector, PickCell
    from grasp_pipeline.sim.robot_trials import (
        TrialRecord,
        draw_attempt,
        save_image,
        setup_trial,
    )

    cell = PickCell(args.robot, gripper=args.gripper)
    names = trial_objects(args, cell.world.catalog)
    camera = SimCamera(
        preset("d435", args.width, args.height), cell.camera_pose_world, noise=True, seed=args.seed
    )
    detector = _make_detector(args, cell)
    json_path = args.json or Path(f"benchmarks/results/demo_{args.robot}.json")
    img_dir = args.images or Path(f"tmp/demo_{args.robot}")
    rng = np.random.default_rng(args.seed)
    plan_ = [("single", n) for n in names for _ in range(args.trials)]
    plan_ += [("clutter", None)] * args.clutter_trials + [("pile", None)] * args.pile_trials
    records: list[TrialRecord] = []
    failures, samples = [], []
    t_all = time.perf_counter()
    try:
        for i, (kind, name) in enumerate(tqdm(plan_, desc=f"demo {args.robot}", unit="pick")):
            t0 = time.perf_counter()
            body, bodies = setup_trial(cell, rng, kind, name, names=names)
            if body is None:
                records.append(
                    TrialRecord(i, kind, name or "?", 0, False, "scene fell apart", 0, 0, 0)
                )
                continue
            target = cell.world.objects[body].spec.name
            plan_ms, stalls = 0.0, []
            cell.planner.forget_stalls()
            for attempt in range(1 + args.replans):
                # heights before this attempt: a stalled one may have knocked a part over
                z0 = {b: float(cell.world.object_pose(b)[2, 3]) for b in bodies}
                if isinstance(detector, OracleDetector):
                    detector.snapshot()
                frame = cell.world.render(camera)
                dets = detector.detect(frame.rgb, frame.depth, frame.camera)
                ok, why, plan_time, backed_off = _attempt(
                    cell, dets, target, frame, not args.no_push
                )
                plan_ms += plan_time
                if ok or not backed_off or attempt == args.replans:
                    break
                stalls.append(why)  # the arm backed off: let the parts settle, look, re-plan
                cell.arm.hold(0.5)
            lift = 0.0
            if ok:
                cell.arm.hold(1.0)
                # Lifted and held: the target, or an identical object of the same label.
                same = [b for b in bodies if cell.world.objects[b].spec.name == target]
                checks = [cell.lift_check(b, z0[b]) for b in same]
                held = [c for c in checks if c[0]]
                ok, why, lift = held[0] if held else (False, checks[0][1], checks[0][2])
            if stalls:
                why = f"{why} (re-planned from a new frame after: {'; '.join(stalls)})"
            rec = TrialRecord(
                i, kind, target, len(bodies), bool(ok), why, plan_ms, lift, time.perf_counter() - t0
            )
            records.append(rec)
            img = draw_attempt(frame.rgb, dets, target, rec.ok, why)
            save_image(
                img, img_dir / f"attempt_{i:04d}_{kind}_{target}_{'ok' if ok else 'fail'}.png"
            )
            (samples if ok else failures).append(img)
    finally:
        cell.world.close()
    return write_demo_results(
        args, records, {"mode": "direct"}, t_all, failures + samples, json_path, img_dir
    )


def write_demo_results(
    args: argparse.Namespace,
    records: list,
    extra_meta: dict,
    t_all: float,
    images: list,
    json_path: Path,
    img_dir: Path,
) -> int:
    """Summary JSON, plot, contact sheet and table of one demo run (both modes)."""
    from grasp_pipeline.sim.robot_trials import (
        contact_sheet,
        plot_summary,
        print_table,
        summarize,
        write_json,
    )

    meta = {
        "robot": args.robot,
        "gripper": args.gripper if args.robot == "youbot" else "panda_hand",
        "detector": args.detector,
        "model": args.model,
        **extra_meta,
        "trials_per_object": args.trials,
        "pool": list(args.objects) if args.objects else args.pool,
        "replans_after_stall": args.replans,
        "push_free": not args.no_push,
        "seed": args.seed,
        "camera": f"d435 {args.width}x{args.height}, noise on",
        "wall_s": time.perf_counter() - t_all,
        "machine": machine(),
        "command": args.command_line,
    }
    summary = summarize(records, meta)
    write_json(summary, json_path)
    plot_summary(summary, json_path.with_suffix(".png"))
    contact_sheet(images[:24], json_path.with_name(json_path.stem + "_attempts.jpg"))
    print(print_table(summary))
    print(f"wrote {json_path}, {json_path.with_suffix('.png')}, attempt images in {img_dir}/")
    return 0


COMMANDS = [
    Command(
        path=("demo",),
        help="pick objects in the simulated cell through the composed ROS nodes; per-object table",
        add_arguments=_add_arguments,
        run=_run,
    )
]
