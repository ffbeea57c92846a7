"""Benchmark synthetic dataset generation at 640x480 (one worker, per-phase timing).

Writes benchmarks/results/dataset_generation.json (key ``frames_per_second_per_worker``) and a
PNG of per-frame times next to it. Usage::

    python benchmarks/dataset_generation.py [--frames 20] [--camera d435] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--camera", default="d435", choices=["d435", "sr300"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--out", default=None, help="JSON path (default: benchmarks/results/...)")
    args = parser.parse_args()

    from tqdm import tqdm

    from grasp_pipeline.data.format import Frame, write_frame
    from grasp_pipeline.data.generate import GenerationConfig, _catalog, frame_id
    from grasp_pipeline.geometry.camera import preset
    from grasp_pipeline.paths import repo_root
    from grasp_pipeline.runinfo import machine
    from grasp_pipeline.sim.scene import build_random_scene

    cfg = GenerationConfig(
        scenes=args.frames, seed=args.seed, camera=args.camera, width=args.width, height=args.height
    )
    intrinsics = preset(cfg.camera, cfg.width, cfg.height)
    catalog = _catalog()
    phases: dict[str, list[float]] = {
        "scene_and_settle": [],
        "render_and_ground_truth": [],
        "write": [],
    }
    totals, objects = [], []
    # one untimed frame first: imports, catalog parsing and first-use caches are not per-frame costs
    warm_world, warm_cam, _ = build_random_scene(
        np.random.default_rng([cfg.seed + 1, 0]), cfg.scene, intrinsics, catalog=catalog
    )
    with warm_world:
        warm_world.render(warm_cam)
    with tempfile.TemporaryDirectory() as tmp:
        for i in tqdm(range(args.frames), desc="frames", unit="frame"):
            t0 = time.perf_counter()
            rng = np.random.default_rng([cfg.seed, i])
            world, camera, _ = build_random_scene(
                rng, cfg.scene, intrinsics, noise=True, catalog=catalog
            )
            t1 = time.perf_counter()
            with world:
                render = world.render(camera, rng)
            t2 = time.perf_counter()
            frame = Frame(
                frame_id(i),
                render.rgb,
                render.depth,
                render.instance_mask,
                intrinsics,
                render.camera_pose_world,
                render.objects,
            )
            write_frame(tmp, frame)
            t3 = time.perf_counter()
            phases["scene_and_settle"].append(t1 - t0)
            phases["render_and_ground_truth"].append(t2 - t1)
            phases["write"].append(t3 - t2)
            totals.append(t3 - t0)
            objects.append(len(render.objects))

    total = float(np.sum(totals))
    result = {
        "frames_per_second_per_worker": args.frames / total,
        "frames": args.frames,
        "width": cfg.width,
        "height": cfg.height,
        "camera": cfg.camera,
        "seed": cfg.seed,
        "renderer": "pybullet TinyRenderer (DIRECT, CPU)",
        "seconds_per_frame": {
            "mean": total / args.frames,
            "median": float(np.median(totals)),
            "max": float(np.max(totals)),
        },
        "phase_mean_ms": {k: 1000 * float(np.mean(v)) for k, v in phases.items()},
        "visible_objects_per_frame": float(np.mean(objects)),
        "machine": machine(),
        "note": "single process; the machine is shared, so times include contention from other jobs",
    }
    out = (
        Path(args.out)
        if args.out
        else repo_root() / "benchmarks" / "results" / "dataset_generation.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    bottom = np.zeros(args.frames)
    for name, values in phases.items():
        ms = 1000 * np.asarray(values)
        ax.bar(np.arange(args.frames), ms, bottom=bottom, label=name)
        bottom += ms
    ax.set_xlabel("frame")
    ax.set_ylabel("time [ms]")
    ax.set_title(
        f"dataset generation at {cfg.width}x{cfg.height}: {result['frames_per_second_per_worker']:.2f} frames/s/worker"
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"), dpi=100)
    plt.close(fig)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
