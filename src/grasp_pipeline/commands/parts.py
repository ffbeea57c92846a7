"""``grasp-pipeline train parts``: the parts detector's crop classifier from generated datasets;
``grasp-pipeline train pickup``: its pickup network, added to a trained classifier;
``grasp-pipeline train boundaries``: its boundary network (splits touching parts), likewise."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from grasp_pipeline.commands import Command


def _add_common(p: argparse.ArgumentParser, epochs: int, width_help: str, export: str) -> None:
    """The options both trainers take."""
    p.add_argument(
        "--data", nargs="+", required=True, help="dataset directories (dataset generate)"
    )
    p.add_argument(
        "--work", required=True, help="work directory (checkpoint.pt; resumed if present)"
    )
    p.add_argument("--epochs", type=int, default=epochs)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--width", type=int, default=32, help=width_help)
    p.add_argument("--val-every", type=int, default=10, help="every n-th frame validates")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--export", default="", help=f"{export} (e.g. models/parts/classifier.pt)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _settings(args: argparse.Namespace) -> dict:
    """The training settings of the common options."""
    keys = ("epochs", "batch", "lr", "val_every", "width", "seed")
    return {k: getattr(args, k) for k in keys}


def _export(args: argparse.Namespace) -> None:
    """Copy the work directory's classifier.pt to ``--export`` when given."""
    if args.export:
        Path(args.export).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(args.work) / "classifier.pt", args.export)
        print(f"exported -> {args.export}")


def _add_train(p: argparse.ArgumentParser) -> None:
    _add_common(p, 30, "channels of the first stage", "copy the best classifier here")
    p.add_argument("--crop-size", type=int, default=64, help="crop side in pixels")


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
    config = PartsTrainConfig(**_settings(args))
    summary = train_parts(crops, args.work, config, crop, geometry, progress=not args.quiet)
    best = summary["best"]
    print(f"best epoch {best['epoch']}: validation accuracy {best['accuracy']:.3f}")
    _export(args)
    return 0


def _add_pickup(p: argparse.ArgumentParser) -> None:
    _add_common(
        p, 24, "channels at half resolution", "copy the classifier with its pickup network here"
    )
    p.add_argument(
        "--classifier",
        required=True,
        help="the trained classifier (its crops, geometry and labels; exported with the network)",
    )
    p.add_argument(
        "--loss",
        default=None,
        help="pickup (the default): 1 - paper 000's pickup probability, plus a small distance "
        "term; distance: the distance in cm",
    )
    p.add_argument(
        "--by-class",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="tell the network each region's class (its label; the classifier's name for it in "
        "the detector); default: the training config's",
    )


def _run_pickup(args: argparse.Namespace) -> int:
    from grasp_pipeline.perception.instances.checkpoint import load_classifier
    from grasp_pipeline.training.parts_data import CropSet, extract_crops
    from grasp_pipeline.training.pickup_trainer import PickupTrainConfig, train_pickup

    _, crop, geometry, labels, _ = load_classifier(args.classifier)
    sets = [extract_crops(d, labels, crop, geometry, progress=not args.quiet) for d in args.data]
    crops = CropSet.concat(sets)
    options = {k: v for k, v in (("loss", args.loss), ("by_class", args.by_class)) if v is not None}
    config = PickupTrainConfig(**_settings(args), **options)  # the config's defaults otherwise
    summary = train_pickup(crops, args.classifier, args.work, config, progress=not args.quiet)
    best = summary["best"]
    print(f"best epoch {best['epoch']}: validation pickup rate {best['pickup_rate']:.3f}")
    _export(args)
    return 0


def _add_boundaries(p: argparse.ArgumentParser) -> None:
    from grasp_pipeline.training.boundary_trainer import BoundaryTrainConfig

    defaults = BoundaryTrainConfig()
    _add_common(
        p,
        defaults.epochs,
        "channels of the first stage (twice that in the second)",
        "copy the classifier with its boundary network here",
    )
    p.set_defaults(width=defaults.width, lr=defaults.lr)
    p.add_argument(
        "--stride",
        type=int,
        default=defaults.stride,
        choices=(1, 2),
        help="2: the network works at half the crop's resolution (a quarter of the cost)",
    )
    p.add_argument(
        "--classifier",
        required=True,
        help="the trained classifier (its crops and geometry; exported with the network)",
    )


def _run_boundaries(args: argparse.Namespace) -> int:
    from grasp_pipeline.perception.instances.checkpoint import load_classifier
    from grasp_pipeline.training.boundary_data import BoundarySet, extract_boundary_crops
    from grasp_pipeline.training.boundary_trainer import BoundaryTrainConfig, train_boundaries

    _, crop, geometry, _, _ = load_classifier(args.classifier)
    data = BoundarySet.concat(
        [extract_boundary_crops(d, crop, geometry, progress=not args.quiet) for d in args.data]
    )
    print(f"{len(data)} regions, {int((data.parts >= 2).sum())} of two or more parts", flush=True)
    config = BoundaryTrainConfig(**_settings(args), stride=args.stride)
    summary = train_boundaries(data, args.classifier, args.work, config, progress=not args.quiet)
    print(f"best epoch {summary['best']['epoch']}: validation loss {summary['best']['loss']:.3f}")
    _export(args)
    return 0


COMMANDS = [
    Command(
        ("train", "parts"),
        "train the parts detector's classifier on RGB-D crops of generated scenes",
        _add_train,
        _run_train,
    ),
    Command(
        ("train", "pickup"),
        "train the parts detector's pickup network (centre of gravity in a region's crop)",
        _add_pickup,
        _run_pickup,
    ),
    Command(
        ("train", "boundaries"),
        "train the parts detector's boundary network (where touching parts meet in a crop)",
        _add_boundaries,
        _run_boundaries,
    ),
]
