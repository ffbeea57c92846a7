"""Latency of the segnet detector per inference back-end: 640x480 RGB-D in, pickup points out."""

from __future__ import annotations

import json
import os
import platform
import time

import numpy as np


def benchmark_frame(seed: int = 7):
    """A 640x480 frame rendered by the simulator (RGB uint8, depth uint16 mm, intrinsics)."""
    from grasp_pipeline.data.generate import GenerationConfig, make_frame

    f = make_frame(GenerationConfig(scenes=1, seed=seed), 0)
    return f.rgb, f.depth, f.camera


def time_detector(det, rgb, depth, cam, iterations: int, repeats: int, warmup: int = 5) -> dict:
    """Median wall time of ``det.detect`` (ms) and of its stages over ``repeats`` x ``iterations``."""
    for _ in range(warmup):
        det.detect(rgb, depth, cam)
    medians, stages = [], {"pre": [], "net": [], "post": []}
    n_det = 0
    for _ in range(repeats):
        times = []
        for _ in range(iterations):
            t = time.perf_counter()
            found = det.detect(rgb, depth, cam)
            times.append(1e3 * (time.perf_counter() - t))
            for k in stages:
                stages[k].append(det.last_timing_ms[k])
        n_det = len(found)
        medians.append(float(np.median(times)))
    med = float(np.median(medians))
    return {
        "median_ms": med,
        "hz": 1e3 / med,
        "repeat_medians_ms": medians,
        "stage_median_ms": {k: float(np.median(v)) for k, v in stages.items()},
        "detections": n_det,
    }


def run_latency_benchmark(
    model: str | os.PathLike,
    out: str | os.PathLike,
    threads: int = 2,
    iterations: int = 30,
    repeats: int = 3,
    backends: list[str] | None = None,
) -> dict:
    """Time every back-end, keep the fastest, write JSON with ``fastest_hz`` and all variants."""
    import torch

    from grasp_pipeline.perception.checkpoint import atomic_write_bytes
    from grasp_pipeline.perception.segnet.detector import SegnetDetector
    from grasp_pipeline.perception.segnet.runtime import BACKENDS

    torch.set_num_threads(threads)
    load_before = os.getloadavg()[0]
    rgb, depth, cam = benchmark_frame()
    variants: dict[str, dict] = {}
    for name in backends or list(BACKENDS):
        t0 = time.perf_counter()
        try:
            det = SegnetDetector(model, backend=name)
            det.detect(rgb, depth, cam)  # compile / session start is set-up, not latency
            setup = time.perf_counter() - t0
            variants[name] = time_detector(det, rgb, depth, cam, iterations, repeats)
            variants[name]["setup_s"] = setup
        except Exception as exc:  # a back-end that cannot run here is reported, not fatal
            variants[name] = {"error": f"{type(exc).__name__}: {exc}"}
        print(name, {k: v for k, v in variants[name].items() if k != "repeat_medians_ms"})
    ok = {k: v for k, v in variants.items() if "hz" in v}
    if not ok:
        raise RuntimeError(f"no inference back-end ran: {variants}")
    fastest = max(ok, key=lambda k: ok[k]["hz"])
    det = SegnetDetector(model)
    doc = {
        "fastest": fastest,
        "fastest_hz": ok[fastest]["hz"],
        "fastest_median_ms": ok[fastest]["median_ms"],
        "variants": variants,
        "model": str(model),
        "network_input": f"{det.config.width}x{det.config.height}",
        "camera_input": f"{cam.width}x{cam.height}",
        "threads": threads,
        "iterations": iterations,
        "repeats": repeats,
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        # Other jobs share this machine: the 1-minute load average says how busy it was.
        "load_average_1min_before": load_before,
        "load_average_1min_after": os.getloadavg()[0],
        "what": "SegnetDetector.detect on one simulator frame: resize + normalise, network, "
        "sigmoid/softmax, connected components, PCA axis, depth lookup, 3-D point",
    }
    atomic_write_bytes(out, json.dumps(doc, indent=1).encode())
    return doc
