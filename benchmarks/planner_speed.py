"""CPU time of the grasp planner's ``plan_best`` per pick, measured side by side with another
checkout of the package.

Each robot's PyBullet cell places the same scenes (seeded: single parts and clutter of the
rulebook set), the camera renders them, the oracle detector (true positions and yaws, the
planar detections a detector gives) names them, and ``plan_best`` plans the pick against the
frame's observed depth, as the planner node does (refusals included: the oracle's planar point
of a Drill or an AllenKey is the middle of its bounding box, where a top-down pinch finds no
room, so every candidate is checked). The figure is the planning thread's CPU time
(``time.thread_time``) per plan; its medians over the plans and their ratio. With
``--compare-src DIR`` (the ``src`` folder of another checkout, e.g. a ``git worktree`` of an
older commit) the same scenes are planned by that code in a child process, round by round in
turn with this one (A B A B ...), so a drifting machine moves both alike.

Usage: .venv/bin/python benchmarks/planner_speed.py [--compare-src /tmp/old/src]
    [--rounds 3] [--out benchmarks/results/planner_speed.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

SINGLE = ("Drill", "Wrench", "Axis2", "Screwdriver", "AllenKey", "Housing", "M20_100", "S40_40_G")


def plan_times(robot: str, single: int, clutter: int, seed: int) -> dict:
    """{"cpu_ms": [...], "ok": [...], "targets": [...]} of one pass over the robot's scenes."""
    import numpy as np

    from grasp_pipeline.geometry.camera import depth_to_metres, preset
    from grasp_pipeline.grasping.depth_clearance import ObservedCloud
    from grasp_pipeline.objects import load_catalog
    from grasp_pipeline.sim.camera import SimCamera
    from grasp_pipeline.sim.grasp_execution import OracleDetector, PickCell
    from grasp_pipeline.sim.robot_trials import setup_trial

    cell = PickCell(robot)
    camera = SimCamera(preset("d435", 640, 480), cell.camera_pose_world, noise=True, seed=seed)
    detector = OracleDetector(cell, full_6d=False)
    rng = np.random.default_rng(seed)
    pool = load_catalog().pool("rulebook")
    trials = [("single", n) for n in SINGLE for _ in range(single)]
    trials += [("clutter", None)] * clutter
    out: dict[str, list] = {"cpu_ms": [], "ok": [], "targets": []}
    try:
        for kind, name in trials:
            body, _ = setup_trial(cell, rng, kind, name, names=pool)
            if body is None:
                continue
            target = cell.world.objects[body].spec.name
            detector.snapshot()
            frame = cell.world.render(camera)
            dets = detector.detect(frame.rgb, frame.depth, frame.camera)
            observed = ObservedCloud(depth_to_metres(frame.depth, frame.camera), frame.camera)
            t0 = time.thread_time()
            plan = cell.planner.plan_best(dets, target, age_s=0.0, observed=observed)
            out["cpu_ms"].append(1e3 * (time.thread_time() - t0))
            out["ok"].append(bool(plan.ok))
            out["targets"].append(target)
    finally:
        cell.world.close()
    return out


def _child(src: str, args: argparse.Namespace) -> dict:
    """One pass in a child process running the code under ``src`` (this file, --worker)."""
    env = dict(os.environ, PYTHONPATH=src)
    cmd = [sys.executable, __file__, "--worker", "--robots", *args.robots]
    cmd += ["--single", str(args.single), "--clutter", str(args.clutter), "--seed", str(args.seed)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the pass under {src} failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--robots", nargs="+", default=["franka", "youbot"])
    p.add_argument("--single", type=int, default=2, help="single-part scenes per part")
    p.add_argument("--clutter", type=int, default=8, help="clutter scenes")
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("--rounds", type=int, default=3, help="passes of each side")
    p.add_argument("--compare-src", default="", help="src folder of the checkout to compare")
    p.add_argument("--out", default="benchmarks/results/planner_speed.json")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:  # one pass of every robot with the code on PYTHONPATH, JSON on stdout
        print(
            json.dumps(
                {r: plan_times(r, args.single, args.clutter, args.seed) for r in args.robots}
            )
        )
        return 0
    import numpy as np

    here = str(Path(__file__).resolve().parents[1] / "src")
    sides = {"this": here, **({"compare": args.compare_src} if args.compare_src else {})}
    passes: dict[str, list[dict]] = {k: [] for k in sides}
    for _ in range(args.rounds):
        for side, src in sides.items():
            passes[side].append(_child(src, args))
    doc: dict = {"robots": {}, "rounds": args.rounds, "compare_src": args.compare_src}
    for robot in args.robots:
        entry: dict = {}
        for side in sides:
            medians = [float(np.median(p[robot]["cpu_ms"])) for p in passes[side]]
            last = passes[side][-1][robot]
            entry[side] = {
                "plan_cpu_ms_median": float(np.median(medians)),
                "pass_medians_ms": medians,
                "plans": len(last["cpu_ms"]),
                "plans_ok": int(sum(last["ok"])),
            }
        if "compare" in sides:
            ratios = [
                float(np.median(b[robot]["cpu_ms"]) / np.median(a[robot]["cpu_ms"]))
                for a, b in zip(passes["this"], passes["compare"], strict=True)
            ]
            entry["speedup_per_round"] = ratios  # compare's median / this one's, round by round
            entry["speedup_median"] = float(np.median(ratios))
            same = [
                a[robot]["ok"] == b[robot]["ok"]
                for a, b in zip(passes["this"], passes["compare"], strict=True)
            ]
            entry["same_plans_ok"] = all(same)
        doc["robots"][robot] = entry
    from grasp_pipeline.runinfo import machine

    doc["machine"] = machine()
    doc["command"] = "python benchmarks/planner_speed.py " + " ".join(sys.argv[1:])
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(doc, indent=1))
    print(json.dumps(doc["robots"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
