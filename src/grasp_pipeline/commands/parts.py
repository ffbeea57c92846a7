"""``grasp-pipeline train parts``: the parts detector's crop classifier from generated datasets."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from grasp_pipeline.commands import Command


def _add_train(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data", nargs="+", required=True, help="dataset directories (dataset generate)"
    )
    p.add_argument(
        "--work", required=True, help="work directory (checkpoint.pt; resumed if present)"
    )
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--width", type=int, default=32, help="channels of the first stage")
    p.add_argument("--crop-size", type=int, default=64, help="crop side in pixels")
    p.add_argument("--val-every", type=int, default=10, help="every n-th frame validates")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--export",
        default="",
        help="copy the best classifier here (e.g. models/parts/classifier.pt)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _run_train(args: argparse.Namespace) -> int:
    from grasp_pipeline.objects import load_catalog
    from grasp_pipeline.perception.instances.checkpoint import UNKNOWN
    from grasp_pipeline.perception.instances.crops import CropSpec
    from grasp_pipeline.perception.instances.geometry import GeometryConfig
    from grasp_pipeline.training.parts_data import CropSet, extract_crops
    from grasp_pipeline.training.parts_trainer import PartsTrainConfig, train_parts

    labels = [*load_catalog().names, UNKNOWN]
    crop, geometry = CropSpec(size=args.crop_size), GeometryConfig()
    sets = [extract_crops(d, labels, crop, geometry, progress=not args.quiet) for d in args.data]
    crops = CropSet.concat(sets)
    print(f"{len(crops)} crops: {crops.counts()}", flush=True)
    config = PartsTrainConfig(
        epochs=args.epochs,
        batch=args.batch,
        lr=args.lr,
        val_every=args.val_every,
        width=args.width,
        seed=args.seed,
    )
    summary = train_parts(crops, args.work, config, crop, geometry, progress=not args.quiet)
    best = summary["best"]
    print(f"best epoch {best['epoch']}: validation accuracy {best['accuracy']:.3f}")
    if args.export:
        Path(args.export).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(args.work) / "classifier.pt", args.export)
        print(f"exported -> {args.export}")
    return 0


COMMANDS = [
    Command(
        ("train", "parts"),
        "train the parts detector's classifier on RGB-D crops of generated scenes",
        _add_train,
        _run_train,
    ),
]
