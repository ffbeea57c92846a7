"""The demo loop over ROS (``grasp-pipeline demo --mode ros [--separate]``).

Starts the simulator, detector and planner nodes (:class:`grasp_pipeline.apps.stack.NodeStack`,
composed or separate: the same parameters either way) and runs the trials through
:class:`grasp_pipeline.apps.cell_client.CellClient`. Trial ``i`` builds its scene from seed
``seed * 100_003 + i``, so a composed and a separate run with the same ``--seed`` see the same
scenes (what differs is only how the nodes are hosted, and timing).
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

import numpy as np

LIFT_MIN_M = 0.05  # the target (or an object of its label) must end this much higher
START_TIMEOUT_S = 120.0


def trial_seed(seed: int, index: int) -> int:
    """Scene seed of trial ``index`` of a run with ``seed``."""
    return (seed * 100_003 + index) % (2**31 - 1)


# the planner's max_age_s in the demo and the final (s)
DEMO_MAX_AGE_S = 8.0


def node_params(args: argparse.Namespace) -> dict[str, dict]:
    """Parameters of the three nodes for the demo (executable name -> params)."""
    from grasp_pipeline.sim.robot_cell import planner_cell_params

    sim = {
        "robot": args.robot,
        "gripper": args.gripper,
        "width": args.width,
        "height": args.height,
        "fps": 2.0,
        "noise": True,
        "seed": trial_seed(args.seed, 0),
        "scene": "empty",
        "real_time_factor": float(args.real_time_factor),
    }
    planner = {
        "robot": args.robot,
        "gripper": args.gripper,
        "execution": "sim",
        "plan_on_detections": False,
        "push_free": not args.no_push,
        **planner_cell_params(args.robot),
    }
    # The demo and the final pick only from frames taken after the scene was set up or the robot
    # reached the area (CellClient.pick_with_replans), so an older array still shows the scene
    # as it is; on a slow machine the detector beside the simulator takes longer than the
    # planner's 2 s default (descriptors 2.7 s a frame, the parts detector in the final 2.4-3.5 s,
    # on this stop's 2-core machine)
    planner["max_age_s"] = DEMO_MAX_AGE_S
    if args.detector in ("oracle", "oracle-point"):
        detector = (
            "sim_truth_detector",
            {"truth": "pose" if args.detector == "oracle" else "point"},
        )
    else:
        detector = (
            "detector_node",
            {"detector": args.detector, "model_path": str(args.model)},
        )
    detector[1]["debug_image"] = False
    return {"sim_node": sim, detector[0]: detector[1], "grasp_planner_node": planner}


def _planning_ms(message: str) -> float:
    m = re.search(r"planned in (\d+(?:\.\d+)?) ms", message)
    return float(m.group(1)) if m else 0.0


def run_ros_demo(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from grasp_pipeline.apps.cell_client import CellClient
    from grasp_pipeline.apps.stack import NodeStack
    from grasp_pipeline.commands.demo import trial_objects, write_demo_results
    from grasp_pipeline.objects import load_catalog
    from grasp_pipeline.ros.environment import apply_ros_env
    from grasp_pipeline.sim.robot_trials import (
        TrialRecord,
        draw_attempt,
        save_image,
    )

    names = trial_objects(args, load_catalog())
    import os

    apply_ros_env(args.domain_id)
    domain = int(os.environ["ROS_DOMAIN_ID"])
    json_path = args.json or Path(
        f"benchmarks/results/demo_{args.robot}{'_separate' if args.separate else ''}.json"
    )
    img_dir = args.images or Path(f"tmp/demo_{args.robot}")
    plan_ = [("single", n) for n in names for _ in range(args.trials)]
    plan_ += [("clutter", None)] * args.clutter_trials + [("pile", None)] * args.pile_trials
    records: list[TrialRecord] = []
    failures, samples = [], []
    t_all = time.perf_counter()
    hold_s = 1.0 / args.real_time_factor if args.real_time_factor > 0 else 0.3
    import signal

    def _terminate(_sig, _frame):  # SIGTERM: stop like Ctrl-C, so the node processes stop too
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    with NodeStack(node_params(args), args.separate, domain) as stack:
        client = CellClient(domain)
        try:
            client.wait_ready(START_TIMEOUT_S)
            for i, (kind, name) in enumerate(tqdm(plan_, desc=f"demo {args.robot}", unit="pick")):
                if (dead := stack.dead()) is not None:
                    raise RuntimeError(dead)
                t0 = time.perf_counter()
                # clutter and piles draw from the same objects as the single trials
                info = client.reset(kind, [name] if name else names, trial_seed(args.seed, i))
                t_reset = client.now_ns()
                if info["target"] is None:
                    records.append(
                        TrialRecord(i, kind, name or "?", 0, False, "scene fell apart", 0, 0, 0)
                    )
                    continue
                target = info["target"]["name"]
                if args.detector == "descriptors":
                    # one model per enrolled object: look only for the task's object
                    client.set_params("detector", {"targets": [target]})
                    t_reset = client.now_ns()
                seen: dict = {}

                def look(seen: dict = seen) -> None:  # what each attempt starts from
                    seen["rgb"], seen["dets"] = client.frame()
                    seen["z0"] = client.heights()

                answer = client.pick_with_replans(target, args.replans, t_reset, hold_s / 2, look)
                ok, why, stalls = answer.ok, answer.message, answer.stalls
                plan_ms = sum(_planning_ms(w) for w in answer.answers)
                # no fresh frame came: the attempt image is blank, with the reason drawn on it
                rgb = seen.get("rgb", np.zeros((args.height, args.width, 3), np.uint8))
                dets, z0 = seen.get("dets", []), seen.get("z0", {})
                lift = 0.0
                if ok:
                    # the planner says held; the ground truth must show it lifted (the target or
                    # an identical object of the same label)
                    time.sleep(hold_s)
                    client.wait_fresh(client.now_ns())
                    z1 = client.heights()
                    same = [k for k in z0 if k.split("#")[0] == target and k in z1]
                    rises = [z1[k] - z0[k] for k in same]
                    lift = max(rises, default=0.0)
                    if lift < LIFT_MIN_M:
                        ok = False
                        why = (
                            f"object rose only {lift * 1e3:.0f} mm (dropped or not grasped); "
                            f"planner said: {why}"
                        )
                if stalls:
                    why = f"{why} (re-planned from a new frame after: {'; '.join(stalls)})"
                rec = TrialRecord(
                    i,
                    kind,
                    target,
                    len(info["objects"]),
                    bool(ok),
                    why,
                    plan_ms,
                    lift,
                    time.perf_counter() - t0,
                )
                records.append(rec)
                img = draw_attempt(rgb, dets, target, rec.ok, why)
                save_image(
                    img, img_dir / f"attempt_{i:04d}_{kind}_{target}_{'ok' if ok else 'fail'}.png"
                )
                (samples if ok else failures).append(img)
        finally:
            client.close()
    hosting = "separate processes" if args.separate else "composed in one process"
    return write_demo_results(
        args,
        records,
        {
            "mode": f"ros (sim, detector and planner nodes, {hosting})",
            "separate": bool(args.separate),
            "real_time_factor": args.real_time_factor,
        },
        t_all,
        failures + samples,
        json_path,
        img_dir,
    )
