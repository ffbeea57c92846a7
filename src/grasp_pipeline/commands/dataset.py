"""``grasp-pipeline dataset generate|show``: synthetic RGB-D datasets and contact sheets."""

from __future__ import annotations

import argparse
import json

from grasp_pipeline.commands import Command


def _add_generate(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="dataset directory (created; resumed if it exists)")
    p.add_argument("--scenes", type=int, required=True, help="number of frames (one per scene)")
    p.add_argument("--seed", type=int, default=0, help="dataset seed; frame i uses seed (S, i)")
    p.add_argument("--camera", choices=["d435", "sr300"], default="d435", help="RealSense model")
    p.add_argument("--width", type=int, default=640, help="image width in pixels")
    p.add_argument("--height", type=int, default=480, help="image height in pixels")
    p.add_argument("--workers", type=int, default=1, help="parallel worker processes")
    p.add_argument("--min-objects", type=int, default=1, help="fewest catalog objects per scene")
    p.add_argument("--max-objects", type=int, default=6, help="most catalog objects per scene")
    p.add_argument("--clutter-fraction", type=float, default=0.3, help="share of cluttered scenes")
    p.add_argument(
        "--container-prob", type=float, default=0.25, help="chance of a red/blue container"
    )
    p.add_argument(
        "--distractor-prob", type=float, default=0.3, help="chance of non-catalog clutter"
    )
    p.add_argument(
        "--pool",
        default="classic2018",
        help="catalog object pool the scenes draw from (config/objects.yaml 'pools': rulebook, "
        "classic2018, basic, advanced, rockin, all); default classic2018, the shipped model's",
    )
    p.add_argument(
        "--decoy-prob",
        type=float,
        default=0.0,
        help="chance of catalog objects from outside the pool (annotated with their class)",
    )
    p.add_argument("--max-decoys", type=int, default=2, help="most decoys per scene")
    p.add_argument("--no-noise", action="store_true", help="write noise-free depth and colour")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _run_generate(args: argparse.Namespace) -> int:
    from grasp_pipeline.data.generate import GenerationConfig, generate_dataset
    from grasp_pipeline.objects import load_catalog
    from grasp_pipeline.sim.scene import SceneConfig

    # Bad values raise ValueError: the CLI prints it as one line and exits with 2.
    scene = SceneConfig(
        min_objects=args.min_objects,
        max_objects=args.max_objects,
        clutter_fraction=args.clutter_fraction,
        container_prob=args.container_prob,
        distractor_prob=args.distractor_prob,
        pool=args.pool,
        decoy_prob=args.decoy_prob,
        max_decoys=args.max_decoys,
    )
    scene.names(load_catalog())  # an unknown pool fails here, before any file is written
    cfg = GenerationConfig(
        scenes=args.scenes,
        seed=args.seed,
        camera=args.camera,
        width=args.width,
        height=args.height,
        noise=not args.no_noise,
        scene=scene,
    )
    manifest = generate_dataset(args.out, cfg, workers=args.workers, progress=not args.quiet)
    print(json.dumps(manifest["counts"], indent=1))
    return 0


def _add_show(p: argparse.ArgumentParser) -> None:
    p.add_argument("root", help="dataset directory")
    p.add_argument("--out", default=None, help="PNG to write (default: ROOT/contact_sheet.png)")
    p.add_argument("--frames", type=int, default=4, help="number of frames to show")
    p.add_argument("--start", type=int, default=0, help="index of the first frame shown")
    p.add_argument("--ids", default=None, help="comma-separated frame ids to show instead")


def _run_show(args: argparse.Namespace) -> int:
    from pathlib import Path

    from grasp_pipeline.data.contact_sheet import write_contact_sheet
    from grasp_pipeline.data.format import list_frames

    if args.ids:
        ids = [i.strip() for i in args.ids.split(",") if i.strip()]
    else:
        ids = list_frames(args.root)[args.start : args.start + args.frames]
    if not ids:
        raise ValueError(f"no frames to show in {args.root}")
    out = Path(args.out) if args.out else Path(args.root) / "contact_sheet.png"
    write_contact_sheet(args.root, ids, out)
    print(out)
    return 0


COMMANDS = [
    Command(
        path=("dataset", "generate"),
        help="generate a synthetic RGB-D dataset in the simulated cell (resumable, parallel)",
        add_arguments=_add_generate,
        run=_run_generate,
    ),
    Command(
        path=("dataset", "show"),
        help="write a contact sheet PNG (colour, depth, masks, pickup points) of a dataset",
        add_arguments=_add_show,
        run=_run_show,
    ),
]
