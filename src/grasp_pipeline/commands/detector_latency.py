"""``grasp-pipeline benchmark detector-latency``: ``Detector.detect`` time at 640x480 with 10 parts.

Frames come from the one scene builder (10 catalog parts of the ``all`` pool in view, hold-out
seeds); each run times every frame once after a warm-up call, and the figure is the median over
runs of the per-run median (the machine is shared: medians of several runs, as the project's
benchmarks quote CPU times). Stage times are the detector's own ``last_timing_ms``.
``--busy N`` keeps N other processes spinning on the CPU while it times, as the camera, planner
and simulator do on a robot's cores. ``--runtime`` says what runs the parts detector's networks
(:mod:`grasp_pipeline.perception.network_runtime`); ``--baseline-runtime`` times a second parts
detector run by another one in turn with it, pass by pass on the same frames, and writes the
ratio of each pair of passes (a drifting machine moves both alike).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from pathlib import Path

from grasp_pipeline.commands import Command, command_line
from grasp_pipeline.perception.network_runtime import RUNTIMES
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
        "--runtime",
        default="auto",
        choices=RUNTIMES,
        help="what runs the parts detector's networks",
    )
    p.add_argument(
        "--shape-fit",
        action="store_true",
        help="parts: lay each part's catalog solid over its region (the node's shape_fit)",
    )
    p.add_argument(
        "--baseline-runtime",
        default="",
        choices=("", *RUNTIMES),
        help="also time a parts detector run by this, in turn with the first ('' = none)",
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


class _Timing:
    """One detector's figures over the timed passes."""

    def __init__(self) -> None:
        self.run_medians: list[float] = []  # each pass's median, ms
        self.stages: dict[str, list[float]] = {}  # the detector's stage times of every call
        self.counts: list[int] = []  # detections of every call

    def time_pass(self, detector, frames) -> None:
        """Times one pass over ``frames``."""
        import numpy as np

        times = []
        for f in frames:
            t0 = time.perf_counter()
            dets = detector.detect(f.rgb, f.depth, f.camera)
            times.append(1e3 * (time.perf_counter() - t0))
            self.counts.append(len(dets))
            for k, v in getattr(detector, "last_timing_ms", {}).items():
                self.stages.setdefault(k, []).append(v)
        self.run_medians.append(float(np.median(times)))

    def figures(self) -> dict:
        import numpy as np

        ms = float(np.median(self.run_medians))
        return {
            "ms_per_frame_median": ms,
            "hz_median": 1e3 / ms,
            "run_medians_ms": self.run_medians,
            "stage_ms_median": {k: float(np.median(v)) for k, v in self.stages.items()},
            "detections_per_frame_median": float(np.median(self.counts)),
        }


def _run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from grasp_pipeline.data.generate import GenerationConfig, make_frame
    from grasp_pipeline.ros.detector_loading import load_detector, model_or_shipped
    from grasp_pipeline.sim.scene import SceneConfig

    if args.frames < 1 or args.runs < 1 or args.busy < 0:
        raise ValueError("--frames and --runs must be >= 1, --busy >= 0")
    if args.detector != "parts" and args.baseline_runtime:
        raise ValueError("--baseline-runtime is the parts detector's setting")
    torch.set_num_threads(args.threads)
    args.model = model_or_shipped(args.detector, args.model)
    detectors = [
        load_detector(args.detector, args.model, runtime=args.runtime, shape_fit=args.shape_fit)
    ]
    if args.baseline_runtime:
        detectors.append(
            load_detector(
                "parts", args.model, runtime=args.baseline_runtime, shape_fit=args.shape_fit
            )
        )
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
    for detector in detectors:
        detector.detect(frames[0].rgb, frames[0].depth, frames[0].camera)  # warm-up
    timings = [_Timing() for _ in detectors]
    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    busy = [ctx.Process(target=_spin, args=(stop,), daemon=True) for _ in range(args.busy)]
    for b in busy:
        b.start()
    try:
        for _ in range(args.runs):  # with a baseline: A B A B ..., pass by pass
            for detector, timing in zip(detectors, timings, strict=True):
                timing.time_pass(detector, frames)
    finally:
        stop.set()
        for b in busy:
            b.join(timeout=5)
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
        **(
            {"runtime": detectors[0].runtime, "shape_fit": args.shape_fit}
            if args.detector == "parts"
            else {}
        ),
        **timings[0].figures(),
        "machine": machine(),
        "note": "medians over runs of per-run medians; the machine may be shared with other jobs",
        "command": command_line(("benchmark", "detector-latency")),
    }
    if args.baseline_runtime:
        base = timings[1]
        ratios = [b / a for a, b in zip(timings[0].run_medians, base.run_medians, strict=True)]
        doc["baseline"] = {"runtime": detectors[1].runtime, **base.figures()}
        doc["speedup_per_pass"] = ratios  # baseline ms / ms, pass by pass
        doc["speedup_median"] = float(np.median(ratios))
    ms = doc["ms_per_frame_median"]
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
