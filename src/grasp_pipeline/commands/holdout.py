"""``grasp-pipeline benchmark detector-holdout``: a detector on hold-out scenes, through
``Detector.detect`` only.

Frames come from the package's one scene builder through ``data.generate.make_frame`` (the frames
``grasp-pipeline dataset generate`` would write with the same settings) with seeds no training
run used (:data:`TRAINING_SEEDS`; hold-out seeds start at 9000), D435 and SR300 at 640x480,
sensor noise on, decoys (catalog objects from outside the pool) and non-catalog clutter present.
Each frame asks for one class: a random visible object of the pool. The detector is called the
way the detector node calls it (``detect(rgb, depth, camera)``, then detections below the node's
``min_score`` dropped) and scored by :mod:`grasp_pipeline.training.detector_metrics`.
"""

from __future__ import annotations

import argparse
import ast
import json
import time
from dataclasses import asdict
from pathlib import Path

from grasp_pipeline.commands import Command, command_line

# Seeds of every data set a shipped model or committed figure was trained, tuned or evaluated on
# (models/segnet/README.md, config/experiments/*.yaml): never used for hold-out frames.
TRAINING_SEEDS = (101, 102, 104, 105, 106, 201, 202, 303, 307, 501, 502, 503, 504, 505, 506)
HOLDOUT_SEED_BASE = 9000
CAMERAS = ("d435", "sr300")
POOLS = ("classic2018", "rulebook")


def holdout_seed(pool_index: int, camera_index: int, base: int = HOLDOUT_SEED_BASE) -> int:
    """Seed of the hold-out frames of a (pool, camera): base + 10 (pool + 1) + camera."""
    seed = base + 10 * (pool_index + 1) + camera_index
    if seed in TRAINING_SEEDS:
        raise ValueError(f"hold-out seed {seed} was used for training")
    return seed


def node_min_score() -> float:
    """The detector node's ``min_score`` default, read from ``ros/detector_node.py``'s PARAMS
    without importing rclpy."""
    import grasp_pipeline

    path = Path(grasp_pipeline.__file__).parent / "ros" / "detector_node.py"
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", None) == "Param"
            and len(node.args) >= 2
            and isinstance(node.args[0], ast.Constant)
            and node.args[0].value == "min_score"
        ):
            return float(ast.literal_eval(node.args[1]))
    raise ValueError(f"{path}: no Param('min_score', ...) in the node's parameters")


def holdout_scene(pool: str):
    """The hold-out scenes of ``pool``: 2-6 objects, decoys in half the scenes, clutter."""
    from grasp_pipeline.sim.scene import SceneConfig

    return SceneConfig(
        min_objects=2,
        max_objects=6,
        clutter_fraction=0.3,
        container_prob=0.25,
        distractor_prob=0.5,
        max_distractors=3,
        pool=pool,
        decoy_prob=0.5,
        max_decoys=2,
    )


def run_holdout(
    detector,
    pool: str,
    camera: str,
    frames: int,
    seed: int,
    min_score: float,
    progress: bool = True,
) -> dict:
    """Score ``detector`` on ``frames`` hold-out frames of ``pool`` seen by ``camera``."""
    import numpy as np
    from tqdm import tqdm

    from grasp_pipeline.data.generate import GenerationConfig, make_frame
    from grasp_pipeline.objects import load_catalog
    from grasp_pipeline.training.detector_metrics import (
        MIN_VISIBLE_PX,
        score_frame,
        summarize,
    )

    catalog = load_catalog()
    cfg = GenerationConfig(
        scenes=frames, seed=seed, camera=camera, width=640, height=480, scene=holdout_scene(pool)
    )
    scores, skipped, decoy_frames, t0 = [], 0, 0, time.perf_counter()
    for i in tqdm(range(frames), desc=f"{pool} {camera}", disable=not progress, unit="frame"):
        frame = make_frame(cfg, i)
        pool_objects = set(frame.meta["scene"]["objects"])
        decoy_frames += bool(frame.meta["scene"]["decoys"])
        visible = sorted(
            {
                o.label
                for o in frame.objects
                if o.label in pool_objects and o.visible_pixels >= MIN_VISIBLE_PX
            }
        )
        if not visible:
            skipped += 1
            continue
        asked = visible[int(np.random.default_rng([seed, i, 1]).integers(len(visible)))]
        dets = detector.detect(frame.rgb, frame.depth, frame.camera)
        scores.append(score_frame(dets, frame, [asked], min_score, catalog.names))
    out = summarize(scores)
    known = set(detector.labels)
    asked_labels = [a.label for s in scores for a in s.asked]
    out.update(
        {
            "seed": seed,
            "frames_generated": frames,
            "frames_without_visible_target": skipped,
            "asked_known_to_detector": (
                sum(label in known for label in asked_labels) / len(asked_labels)
                if asked_labels
                else float("nan")
            ),
            "frames_with_decoys": decoy_frames,
            "seconds": time.perf_counter() - t0,
        }
    )
    return out


def _add(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="", help="model file ('' = the detector's shipped model)")
    p.add_argument("--detector", default="segnet", help="detector kind (as the node's parameter)")
    p.add_argument("--frames", type=int, default=100, help="hold-out frames per camera and pool")
    p.add_argument(
        "--pools", nargs="+", default=list(POOLS), help="catalog pools; first = headline"
    )
    p.add_argument("--cameras", nargs="+", default=list(CAMERAS), choices=CAMERAS)
    p.add_argument("--seed-base", type=int, default=HOLDOUT_SEED_BASE, help="hold-out seed base")
    p.add_argument("--out", default="benchmarks/results/detector_holdout.json", help="output JSON")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument(
        "--shape-fit",
        action="store_true",
        help="parts: lay each part's catalog solid over its region to place the pickup "
        "(the detector node's shape_fit parameter; off by default)",
    )
    p.add_argument(
        "--look-alike-overlap",
        type=float,
        default=None,
        help="segnet: demote look-alikes overlapping another class's blob by this fraction "
        "(default off, as the node runs it)",
    )


def _run(args: argparse.Namespace) -> int:
    import torch

    from grasp_pipeline.objects import load_catalog
    from grasp_pipeline.ros.detector_loading import load_detector, model_or_shipped
    from grasp_pipeline.training.checkpoint import atomic_write_bytes

    if args.frames < 1:
        raise ValueError(f"--frames must be >= 1, got {args.frames}")
    catalog = load_catalog()
    for pool in args.pools:
        catalog.pool(pool)  # unknown pools fail before any work
    torch.set_num_threads(args.threads)
    options = (
        {} if args.look_alike_overlap is None else {"look_alike_overlap": args.look_alike_overlap}
    )
    args.model = model_or_shipped(args.detector, args.model)
    detector = load_detector(args.detector, args.model, shape_fit=args.shape_fit, **options)
    min_score = node_min_score()
    pools: dict[str, dict] = {}
    for pi, pool in enumerate(args.pools):
        cams = {}
        for ci, camera in enumerate(args.cameras):
            seed = holdout_seed(pi, ci, args.seed_base)
            cams[camera] = run_holdout(
                detector, pool, camera, args.frames, seed, min_score, not args.quiet
            )
            c = cams[camera]
            print(
                f"{pool:12s} {camera:5s} hit {c['hit_rate']:.3f} (random object "
                f"{c['chance']['hit_rate_random_object']:.3f}) pickup {c['pickup_rate']:.3f} "
                f"false/frame {c['false_objects_per_frame']:.2f} outside "
                f"{c['detections_outside_image']}"
            )
        pools[pool] = {
            "objects": catalog.pool(pool),
            "known_to_detector": [n for n in catalog.pool(pool) if n in set(detector.labels)],
            "cameras": cams,
        }
    head = args.pools[0]
    doc = {
        "detector": args.detector,
        "model": str(args.model),
        "labels": list(detector.labels),
        "called_as": "detector.detect(rgb, depth, camera); detections with score < min_score "
        "dropped (the detector node's call)",
        "min_score": min_score,
        "min_score_source": "grasp_pipeline/ros/detector_node.py PARAMS",
        "shape_fit": args.shape_fit,
        "image": "640x480, sensor noise on",
        "training_seeds_avoided": list(TRAINING_SEEDS),
        "scene": asdict(holdout_scene(head)),
        "pool": head,
        "cameras": pools[head]["cameras"],
        "pools": pools,
        "definitions": {
            "hit_rate": "the asked class's best detection lies on an object of that class (convex "
            "hull of its mask dilated by 2 px: holes count)",
            "false_objects_per_frame": "detections with a catalog label and score >= min_score "
            "on no object of that label",
            "pickup_rate": "paper 000 Eq. 4: mean of 1 / (d_cm^2 + 1), d the image-plane distance "
            "at the object's depth from the best detection to the nearest centre of gravity of "
            "the class; 0 when the class is not detected",
            "per_class": "label -> hit and pickup rate over the frames asking for it",
            "chance": "hit_rate_random_object: a detector labelling a random visible catalog "
            "object of the frame with the asked class; hit_rate_random_pixel: a random pixel",
            "detections_outside_image": "detections whose pixel lies outside the image",
        },
        "command": command_line(("benchmark", "detector-holdout")),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(args.out, json.dumps(doc, indent=1).encode())
    print(f"wrote {args.out}")
    return 0


COMMANDS = [
    Command(
        ("benchmark", "detector-holdout"),
        "a detector through Detector.detect on hold-out scenes (D435 and SR300, decoys, "
        "clutter; seeds no training used): hit rate, false objects, pickup rate, chance levels",
        _add,
        _run,
    )
]
