"""``grasp-pipeline demo``: pick RoboCup@Work objects in the simulated cell, end to end.

``--mode ros`` (default) composes the three ROS nodes in this process on one executor: the camera
node publishes the simulated RealSense (sharing the PyBullet world with the robot), the detector
node detects, the grasp planner node plans and executes through its ``pick`` service. Every trial
places objects at random, requests a pick of the target and checks physically that it was lifted
and held. ``--mode direct`` runs the same trials through the core (no rclpy), for quick checks.

Everything that touches PyBullet runs in this thread (the executor is spun here; the detector's
worker thread only sees images), so the physics is never used from two threads.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from grasp_pipeline.commands import Command

DETECTORS = ("auto", "segnet", "descriptors", "oracle", "oracle-point")
SHIPPED_SEGNET_DIR = "models/segnet"


def _add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--robot", choices=("franka", "youbot"), default="franka")
    p.add_argument("--gripper", choices=("wide", "stock"), default="wide", help="youBot gripper")
    p.add_argument(
        "--detector",
        choices=DETECTORS,
        default="auto",
        help="oracle = the simulator's true 6D poses (measures grasping alone), oracle-point = "
        "true pickup point + closing axis (what segnet reports); auto = segnet with "
        f"the shipped model ({SHIPPED_SEGNET_DIR}/*.pt) when there is one, else oracle",
    )
    p.add_argument(
        "--model", default="", help="detector checkpoint / database (segnet, descriptors)"
    )
    p.add_argument("--trials", type=int, default=20, help="single-object trials per object")
    p.add_argument(
        "--clutter-trials", type=int, default=40, help="trials with 3-5 touching objects"
    )
    p.add_argument(
        "--pile-trials", type=int, default=0, help="trials with 3-5 objects dropped onto each other"
    )
    p.add_argument("--objects", nargs="*", default=None, help="catalog names (default: all 13)")
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
        help="new looks and plans after the arm was stopped and backed off (0 = one attempt)",
    )
    p.add_argument("--domain-id", type=int, default=None, help="ROS_DOMAIN_ID (default: env or 42)")


def _attempt(cell, rig, dets: list, target: str) -> tuple[bool, str, float, bool]:
    """One pick of ``target``, through the ROS nodes (``rig``) or in process from ``dets``:
    (ok, reason, planning ms, whether a stalled arm backed off so that a re-plan may follow)."""
    if rig is not None:
        ok, why, plan = rig.pick(target)
        last = rig.planner_node.last_exec
        return (
            ok,
            why,
            plan.planning_ms if plan is not None else 0.0,
            bool(last is not None and last.backed_off),
        )
    plan = cell.planner.plan_best(dets, target, age_s=0.0)
    if not plan.ok:
        return False, plan.reason, plan.planning_ms, False
    res = cell.planner.execute(plan)
    why = f"picked {target}: {res.reason}" if res.ok else res.reason
    return res.ok, why, plan.planning_ms, res.backed_off


def _shipped_segnet() -> str:
    """Path of the shipped segnet checkpoint, or '' when none is in the checkout."""
    from grasp_pipeline.paths import repo_root

    found = sorted((repo_root() / SHIPPED_SEGNET_DIR).glob("*.pt"))
    return str(found[0]) if found else ""


def _make_detector(args, cell):
    from grasp_pipeline.sim.grasp_execution import OracleDetector

    if args.detector == "auto":
        args.model = args.model or _shipped_segnet()
        args.detector = "segnet" if args.model else "oracle"
        if args.detector == "oracle":
            print(
                f"note: no shipped segnet model in {SHIPPED_SEGNET_DIR}/ - using the oracle "
                "detector (true poses from the simulator); pass --detector segnet --model PATH"
            )
    if args.detector in ("oracle", "oracle-point"):
        return OracleDetector(cell, full_6d=args.detector == "oracle")
    if args.detector == "segnet" and not args.model:
        args.model = _shipped_segnet()
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
    import numpy as np
    from tqdm import tqdm

    from grasp_pipeline.geometry.camera import preset
    from grasp_pipeline.sim.camera import SimCamera
    from grasp_pipeline.sim.grasp_execution import OracleDetector, PickCell
    from grasp_pipeline.sim.robot_trials import (
        TrialRecord,
        contact_sheet,
        draw_attempt,
        plot_summary,
        print_table,
        save_image,
        setup_trial,
        summarize,
        write_json,
    )

    if min(args.trials, args.clutter_trials, args.pile_trials, args.replans) < 0:
        raise ValueError("--trials, --clutter-trials, --pile-trials and --replans must be >= 0")
    cell = PickCell(args.robot, gripper=args.gripper)
    names = list(args.objects) if args.objects else list(cell.world.catalog.names)
    unknown = [n for n in names if n not in cell.world.catalog]
    if unknown:
        raise ValueError(f"--objects: unknown names {unknown}; known: {cell.world.catalog.names}")
    camera = SimCamera(
        preset("d435", args.width, args.height), cell.camera_pose_world, noise=True, seed=args.seed
    )
    detector = _make_detector(args, cell)
    rig = None
    if args.mode == "ros":
        from grasp_pipeline.ros.demo_rig import DemoRig

        rig = DemoRig(cell, camera, detector, args.domain_id)
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
            body, bodies = setup_trial(cell, rng, kind, name)
            if body is None:
                records.append(
                    TrialRecord(i, kind, name or "?", 0, False, "scene fell apart", 0, 0, 0)
                )
                continue
            target = cell.world.objects[body].spec.name
            plan_ms, stalls = 0.0, []
            (rig.planner_node.planner if rig is not None else cell.planner).forget_stalls()
            for attempt in range(1 + args.replans):
                # heights before this attempt: a stalled one may have knocked a part over
                z0 = {b: float(cell.world.object_pose(b)[2, 3]) for b in bodies}
                if isinstance(detector, OracleDetector):
                    detector.snapshot()
                frame = cell.world.render(camera)
                dets = detector.detect(frame.rgb, frame.depth, frame.camera)
                ok, why, plan_time, backed_off = _attempt(cell, rig, dets, target)
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
        if rig is not None:
            rig.close()
        cell.world.close()
    meta = {
        "robot": args.robot,
        "gripper": args.gripper if args.robot == "youbot" else "panda_hand",
        "detector": args.detector,
        "model": args.model,
        "mode": "ros (camera, detector and planner nodes composed)" if rig else "direct",
        "trials_per_object": args.trials,
        "replans_after_stall": args.replans,
        "seed": args.seed,
        "camera": f"d435 {args.width}x{args.height}, noise on",
        "wall_s": time.perf_counter() - t_all,
    }
    summary = summarize(records, meta)
    write_json(summary, json_path)
    plot_summary(summary, json_path.with_suffix(".png"))
    contact_sheet((failures + samples)[:24], json_path.with_name(json_path.stem + "_attempts.jpg"))
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
