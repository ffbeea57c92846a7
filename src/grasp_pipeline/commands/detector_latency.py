"""``grasp-pipeline benchmark detector-latency``: ``Detector.detect`` time at 640x480 with 10 parts.

Frames come from the one scene builder (10 catalog parts of the ``all`` pool in view, hold-out
seeds); each run times every frame once after a warm-up call, and the figure is the median over
runs of the per-run median (the machine is shared: medians of several runs, as the project's
benchmarks quote CPU times). Stage times are the detector's own ``last_timing_ms``.
``--busy N`` keeps N other processes spinning on the CPU while it times, as the camera, planner
and simulator do on a robot's cores.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from pathlib import Path

from grasp_pipeline.commands import Command, command_line
from grasp_pipeline.runinfo import machine

LATENCY_SEED = 9500  # hold-out range (commands.holdout.HOLDOUT_SEED_BASE and up)


def _add(p: argparse.ArgumentParser) -> None:
    p.add_argument("--detector", default="parts", help="detector kind (as the node's parameter)")
    p.add_argument("--model", default="", help="model file ('' = the detector's shipped model)")
    p.add_argument("--frames", type=int, default=8, help="frames, each with 10 parts in view")
    p.add_argument("--runs", type=int, default=5, help="timed passes over the frames")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--camera", default="d435", choices=("d435", "sr300"))
    p.add_argument(
        "--busy", type=int, default=0, help="other processes kept busy on the CPU while timing"
    )
    p.add_argument(
        "--out",
        default="",
        help="JSON (default benchmarks/results/detector_latency_<detector>.json)",
    )


def _spin(stop) -> None:
    """A process that keeps one core busy until ``stop`` is set."""
    while not stop.is_set():
        sum(range(10_000))


def _time(detector, frames, runs: int) -> tuple[list[float], dict[str, list[float]], list[int]]:
    """Times ``runs`` passes over ``frames``: each pass's median (ms), the detector's stage times
    and the detection counts of every call."""
    import numpy as np

    run_medians: list[float] = []
    stages: dict[str, list[float]] = {}
    counts: list[int] = []
    for _ in range(runs):
        times = []
        for f in frames:
            t0 = time.perf_counter()
            dets = detector.detect(f.rgb, f.depth, f.camera)
            times.append(1e3 * (time.perf_counter() - t0))
            counts.append(len(dets))
            for k, v in getattr(detector, "last_timing_ms", {}).items():
                stages.setdefault(k, []).append(v)
        run_medians.append(float(np.median(times)))
    return run_medians, stages, counts


def _run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from grasp_pipeline.data.generate import GenerationConfig, make_frame
    from grasp_pipeline.ros.detector_loading import load_detector, model_or_shipped
    from grasp_pipeline.sim.scene import SceneConfig

    if args.frames < 1 or args.runs < 1 or args.busy < 0:
        raise ValueError("--frames and --runs must be >= 1, --busy >= 0")
    torch.set_num_threads(args.threads)
    args.model = model_or_shipped(args.detector, args.model)
    detector = load_detector(args.detector, args.model)
    scene = SceneConfig(min_objects=10, max_objects=10, clutter_fraction=0.0, pool="all")
    cfg = GenerationConfig(
        scenes=args.frames,
        seed=LATENCY_SEED,
        camera=args.camera,
        width=640,
        height=480,
        scene=scene,
    )
    frames = [make_frame(cfg, i) for i in range(args.frames)]
    visible = [sum(o.visible_pixels >= 50 for o in f.objects) for f in frames]
    detector.detect(frames[0].rgb, frames[0].depth, frames[0].camera)  # warm-up
    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    busy = [ctx.Process(target=_spin, args=(stop,), daemon=True) for _ in range(args.busy)]
    for b in busy:
        b.start()
    try:
        run_medians, stages, counts = _time(detector, frames, args.runs)
    finally:
        stop.set()
        for b in busy:
            b.join(timeout=5)
    ms = float(np.median(run_medians))
    doc = {
        "detector": args.detector,
        "model": args.model,
        "image": "640x480",
        "camera": args.camera,
        "parts_in_scene": 10,
        "parts_visible_per_frame": visible,
        "frames": args.frames,
        "runs": args.runs,
        "threads": args.threads,
        "busy_processes": args.busy,
        "ms_per_frame_median": ms,
        "hz_median": 1e3 / ms,
        "run_medians_ms": run_medians,
        "stage_ms_median": {k: float(np.median(v)) for k, v in stages.items()},
        "detections_per_frame_median": float(np.median(counts)),
        "machine": machine(),
        "note": "medians over runs of per-run medians; the machine may be shared with other jobs",
        "command": command_line(("benchmark", "detector-latency")),
    }
    out = Path(args.out or f"benchmarks/results/detector_latency_{args.detector}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1))
    print(
        f"{args.detector}: {ms:.1f} ms per frame ({1e3 / ms:.1f} Hz), stages {doc['stage_ms_median']} -> {out}"
    )
    return 0


COMMANDS = [
    Command(
        ("benchmark", "detector-latency"),
        "Detector.detect time at 640x480 with 10 parts in view (median of several runs)",
        _add,
        _run,
    )
]
