"""The final over ROS (``grasp-pipeline demo --scenario final``): the competition scenario run
through the simulator, detector and planner nodes, scored per pick, with a video.

The simulator node builds the final (``reset_scene`` with scene ``final``: four service areas
of the rulebook's heights, ten task objects and eight decoys, the ordered task list; see
:func:`grasp_pipeline.sim.scene.populate_final_scene`). For each task in order the runner, as a
task planner would, sends the robot to the task's area (``~/go_to_area``: the robot and the camera
it carries stand at that area), waits for detections of the new view, sets the planner's
``target_object`` and calls ``pick``; the simulator's ground truth before and after judges the
pick (:func:`grasp_pipeline.sim.competition.judge_pick`: a lifted object that is not the asked
one is a wrong pick, a decoy pick when it is a decoy), then ``~/put_aside`` takes away what the
hand holds and the arm goes home. With a video, the simulator renders a third-person view while
the arm moves (``overview_fps`` frames per simulated second); each is put beside the newest camera
image with the detections drawn.
"""

from __future__ import annotations

import argparse
import os
import signal
import time
from pathlib import Path

from grasp_pipeline.runinfo import machine

START_TIMEOUT_S = 120.0


def _area_label(area: dict) -> str:
    return f"{area['name']} ({area['height'] * 100:.0f} cm)"


def run_competition(args: argparse.Namespace, names: list[str]) -> int:
    """Run the final for ``args.robot`` / ``args.detector``, task objects drawn from ``names``;
    write ``competition_<robot>_<detector>.json`` (and ``.gif``). Returns 0."""
    from tqdm import tqdm

    from grasp_pipeline.apps.cell_client import CellClient
    from grasp_pipeline.apps.competition_video import (
        draw_detections,
        side_by_side,
        write_gif,
    )
    from grasp_pipeline.apps.demo_ros import _planning_ms, node_params, trial_seed
    from grasp_pipeline.apps.stack import NodeStack
    from grasp_pipeline.ros import conversions as cv
    from grasp_pipeline.ros.environment import apply_ros_env
    from grasp_pipeline.sim.competition import PickRecord, judge_pick, summarize_competition
    from grasp_pipeline.sim.robot_trials import write_json

    apply_ros_env(args.domain_id)
    domain = int(os.environ["ROS_DOMAIN_ID"])
    json_path = args.json or Path(
        f"benchmarks/results/competition_{args.robot}_{args.detector}.json"
    )
    gif_path = json_path.with_suffix(".gif")
    params = node_params(args)
    params["sim_node"]["overview_fps"] = 0.0 if args.no_video else float(args.video_fps)
    # a simulator rendering the third-person view on a loaded CPU can run slower than paced
    params["grasp_planner_node"]["robot_timeout_s"] = 30.0
    hold_s = 1.0 / args.real_time_factor if args.real_time_factor > 0 else 0.3
    frames: list = []
    state = {"caption": "", "target": "", "decoys": set()}

    def on_overview(msg) -> None:
        overview = cv.to_rgb(msg)
        h, w = overview.shape[:2]
        if client.rgb is None:
            camera = overview * 0
        else:
            cam = cv.camera_info_to_intrinsics(client.info) if client.info is not None else None
            dets = cv.msg_to_detections(client.dets, cam) if client.dets is not None else []
            camera = draw_detections(
                cv.to_rgb(client.rgb), dets, (w, h), state["target"], state["decoys"]
            )
        frames.append(side_by_side(overview, camera, state["caption"]))

    def _terminate(_sig, _frame):  # SIGTERM: stop like Ctrl-C, so the node processes stop too
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminate)
    records: list[PickRecord] = []
    t_all = time.perf_counter()
    with NodeStack(params, args.separate, domain) as stack:
        client = CellClient(domain)
        try:
            client.wait_ready(START_TIMEOUT_S)
            if not args.no_video:
                client.on_overview = on_overview
            info = client.reset("final", names, trial_seed(args.seed, 0))
            final = info["final"]
            areas = final["areas"]
            decoys = sorted({o["name"] for o in final["objects"] if o["decoy"]})
            state["decoys"] = set(decoys)
            tasks = final["tasks"][: args.picks] if args.picks else final["tasks"]
            area, sim_t = info["area"], info["sim_time_s"]
            for i, task in enumerate(tqdm(tasks, desc=f"final {args.robot}", unit="pick")):
                if (dead := stack.dead()) is not None:
                    raise RuntimeError(dead)
                name, k = task["object"], task["area"]
                t0 = time.perf_counter()
                state["target"] = name
                state["caption"] = f"pick {i + 1}/{len(tasks)}: {name} on {_area_label(areas[k])}"
                if k != area:
                    area = client.go_to_area(k)["area"]
                t_ref = client.now_ns()
                z0, z1 = {}, {}

                def first_heights(z0: dict = z0) -> None:  # before any attempt touched a part
                    if not z0:
                        z0.update(client.heights())

                answer = client.pick_with_replans(
                    name, args.replans, t_ref, hold_s / 2, first_heights
                )
                ok, why, stalls = answer.ok, answer.message, answer.stalls
                if z0:
                    time.sleep(hold_s)  # a grasp that slips shows it now
                    client.wait_fresh(client.now_ns())
                    z1 = client.heights()
                verdict = judge_pick(name, z0, z1, ok, why, decoys)
                state["caption"] = (
                    f"pick {i + 1}/{len(tasks)}: {name} on {_area_label(areas[k])}: "
                    f"{'LIFTED' if verdict.success else 'FAILED'}"
                )
                aside = client.put_aside()
                reason = verdict.reason
                if stalls:
                    reason = f"{reason} (re-planned after: {'; '.join(stalls)})"
                if ok and _planning_ms(why):
                    reason = f"{reason}; {_planning_ms(why):.0f} ms planning"
                records.append(
                    PickRecord(
                        i,
                        name,
                        areas[k]["name"],
                        verdict.success,
                        reason,
                        verdict.lifted,
                        verdict.wrong,
                        verdict.decoy,
                        time.perf_counter() - t0,
                        aside["sim_time_s"] - sim_t,
                    )
                )
                sim_t = aside["sim_time_s"]
        finally:
            client.on_overview = None
            client.close()
    n_all = len(final["tasks"])
    meta = {
        "scenario": "final",
        "robot": args.robot,
        "gripper": args.gripper if args.robot == "youbot" else "panda_hand",
        "detector": args.detector,
        "model": args.model,
        "mode": f"ros (sim, detector and planner nodes, "
        f"{'separate processes' if args.separate else 'composed in one process'})",
        "seed": args.seed,
        "scene_seed": trial_seed(args.seed, 0),
        "real_time_factor": args.real_time_factor,
        "camera": f"d435 {args.width}x{args.height}, noise on, carried by the robot",
        "scope": f"all {n_all} picks of the task list"
        if len(records) == n_all
        else f"the first {len(records)} of the {n_all} picks of the task list",
        "areas": areas,
        "tasks": [
            {"object": t["object"], "surface": areas[t["area"]]["name"]} for t in final["tasks"]
        ],
        "decoys": decoys,
        "objects": final["objects"],
        "wall_s": time.perf_counter() - t_all,
        "machine": machine(),
        "command": args.command_line,
    }
    if not args.no_video and frames:
        last = frames[-1]
        done = sum(r.success for r in records)
        caption = (
            f"final {args.robot}: {done}/{len(records)} picked, "
            f"{sum(r.decoy for r in records)} decoys picked"
        )
        end = side_by_side(last[:, : last.shape[1] // 2], last[:, last.shape[1] // 2 :], caption)
        frames.extend([end] * 8)
        size = write_gif(frames, gif_path, frame_ms=round(1000 / (2 * args.video_fps)))
        meta["video"] = {"path": gif_path.name, "frames_recorded": len(frames), "bytes": size}
    summary = summarize_competition(records, meta)
    write_json(summary, json_path)
    for r in records:
        print(
            f"{r.index + 1:>2} {r.object:<12} {r.surface:<5} {'ok ' if r.success else 'FAIL'} "
            f"{r.seconds:6.1f} s  {r.reason[:80]}"
        )
    print(
        f"final {args.robot} ({args.detector}): {summary['successes']}/{summary['attempted']} "
        f"picks, {summary['decoys_picked']} decoys picked, {summary['wrong_picks']} wrong picks, "
        f"{summary['total_seconds']:.0f} s ({summary['total_sim_seconds']:.0f} s simulated)"
    )
    print(f"wrote {json_path}" + ("" if args.no_video or not frames else f", {gif_path}"))
    return 0
