"""CLI: ``experiment weighting``, ``train segnet``, ``evaluate segnet``, ``benchmark segnet-latency``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from grasp_pipeline.commands import Command


def _add_experiment(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="experiment YAML (config/experiments/*.yaml)")
    p.add_argument("--out", required=True, help="directory for results.json and the figures")
    p.add_argument("--workers", type=int, default=None, help="parallel runs (default: config)")
    p.add_argument("--analyse-only", action="store_true", help="only re-analyse finished runs")


def _run_experiment(args: argparse.Namespace) -> int:
    from grasp_pipeline.training.experiment import ExperimentConfig, analyse, run_experiment

    cfg = ExperimentConfig.load(args.config)
    res = (
        analyse(cfg, args.out) if args.analyse_only else run_experiment(cfg, args.out, args.workers)
    )
    for name, m in res["methods"].items():
        print(
            f"{name:18s} runs {len(m['seeds']):2d}  median convergence step "
            f"{m['median_convergence_steps']:8.0f}  median error {m['median_errors']:.4f}  "
            f"pickup rate {m['mean_pickup_rate']:.3f}"
        )
    print(f"results: {Path(args.out) / 'results.json'}")
    return 0


def _add_train(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, nargs="+", help="training data set directories")
    p.add_argument("--val", required=True, help="validation data set directory")
    p.add_argument("--out", required=True, help="run directory (resumed if it holds a checkpoint)")
    p.add_argument("--method", default="auxnet", help="loss weighting method")
    p.add_argument("--steps", type=int, default=100_000)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-5, help="Adam learning rate (paper: 1e-5)")
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--height", type=int, default=192)
    p.add_argument("--filters", type=int, nargs="+", default=None, help="encoder filters")
    p.add_argument("--depth-max", type=float, default=1.0, help="depth scaling, metres")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--augment", action="store_true", help="flip/colour/depth-noise augmentation")
    p.add_argument("--cache", action="store_true", help="hold the data set in memory (no augment)")
    p.add_argument("--model-out", default=None, help="also write the final model here")
    p.add_argument(
        "--init",
        default=None,
        help="start from this checkpoint's weights (same filters and classes; the input size may "
        "differ, the network is fully convolutional)",
    )
    g = p.add_argument_group("beyond the paper (defaults reproduce its setup)")
    g.add_argument("--batch-norm", action="store_true", help="batch norm after each convolution")
    g.add_argument("--dense-weight", type=float, default=0.0, help="weight of per-pixel BCE")
    g.add_argument("--lr-schedule", choices=("constant", "cosine"), default="constant")
    g.add_argument("--warmup", type=int, default=0, help="linear learning-rate warm-up steps")
    g.add_argument("--batch-augment", action="store_true", help="flip/colour each drawn batch")
    g.add_argument("--cls-target", choices=("queried", "present"), default="queried")
    g.add_argument("--cls-weight", type=float, default=0.1, help="classification-vector weight")
    g.add_argument(
        "--offset-head",
        action="store_true",
        help="add the head voting for each object's centre of mass (see SegNetConfig)",
    )
    g.add_argument("--offset-weight", type=float, default=1.0, help="weight of the offset loss")
    _add_pickup_label(p)


def _add_pickup_label(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--pickup-label",
        choices=("com", "annotated"),
        default="com",
        help="pickup pixel: projected centre of mass (paper) or the mask-snapped annotation",
    )


def _run_train(args: argparse.Namespace) -> int:
    import torch

    from grasp_pipeline.perception.segnet.config import SegNetConfig
    from grasp_pipeline.training.experiment import CachedData
    from grasp_pipeline.training.segnet_trainer import SegNetTrainer, TrainConfig, collate

    torch.set_num_threads(args.threads)
    kw = {} if args.filters is None else {"filters": tuple(args.filters)}
    train, val = _datasets(args)
    # The network gets one channel per class the data's masks hold (13 for classic2018 data,
    # 22 for the rulebook pool).
    parts = getattr(train, "datasets", [train])
    kw["num_classes"] = parts[0].num_classes
    if any(d.num_classes != kw["num_classes"] for d in [*parts, val]):
        raise ValueError("--data and --val hold different class lists (manifest 'classes')")
    mcfg = SegNetConfig(
        width=args.width,
        height=args.height,
        batch_norm=args.batch_norm,
        offset_head=args.offset_head,
        **kw,
    )
    tcfg = TrainConfig(
        method=args.method,
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        eval_every=args.eval_every,
        seed=args.seed,
        device=args.device,
        dense_weight=args.dense_weight,
        lr_schedule=args.lr_schedule,
        lr_warmup=args.warmup,
        batch_augment=args.batch_augment,
        cls_target=args.cls_target,
        cls_weight=args.cls_weight,
        offset_weight=args.offset_weight if args.offset_head else 0.0,
    )
    if args.cache:
        if args.augment:
            raise ValueError("--cache and --augment exclude each other (cached items are fixed)")
        train = CachedData(_tensors(train, collate))
    val = CachedData(_tensors(val, collate))
    trainer = SegNetTrainer(mcfg, tcfg, train, val, args.out)
    if args.init and trainer.step == 0:
        init_weights(trainer, args.init)
    hist = trainer.fit()
    last = hist[-1]
    print(json.dumps({k: v for k, v in last.items() if not isinstance(v, dict)}, indent=1))
    if args.model_out:
        export_model(trainer, args.model_out, args.depth_max)
    return 0


def init_weights(trainer, path: str) -> None:
    """Load a checkpoint's network weights into a fresh trainer's model; its config must match
    the trainer's in everything but the input size, and it may lack the offset head this run
    adds (the head then starts from its initialisation)."""
    from grasp_pipeline.perception.segnet.config import SegNetConfig
    from grasp_pipeline.training.checkpoint import load_checkpoint

    state = load_checkpoint(path)
    cfg = SegNetConfig.from_dict(state["config"]["model"])
    mine = trainer.mcfg.to_dict()
    theirs = cfg.to_dict()
    for k in ("width", "height"):
        mine.pop(k), theirs.pop(k)
    mine_head, their_head = mine.pop("offset_head"), theirs.pop("offset_head")
    adds_head = mine_head and not their_head
    if mine != theirs or (their_head and not mine_head):
        raise ValueError(
            f"--init {path}: network {theirs} (offset head: {their_head}) differs from this "
            f"run's {mine} (offset head: {mine_head})"
        )
    missing, unexpected = trainer.model.load_state_dict(state["model"], strict=not adds_head)
    if unexpected or any(not k.startswith("offset.") for k in missing):
        raise ValueError(
            f"--init {path}: weights do not fit: missing {missing}, extra {unexpected}"
        )


def _datasets(args: argparse.Namespace) -> tuple:
    """(train, val) SegmentationDatasets of ``train segnet``'s arguments (several training
    directories are concatenated)."""
    from grasp_pipeline.data.segmentation_dataset import SegmentationDataset

    def dataset(root: str, augment: bool = False) -> SegmentationDataset:
        return SegmentationDataset(
            root,
            size=(args.width, args.height),
            augment=augment,
            depth_max_m=args.depth_max,
            pickup_label=args.pickup_label,
        )

    return _concat([dataset(d, args.augment) for d in args.data]), dataset(args.val)


def _concat(parts: list):
    from torch.utils.data import ConcatDataset

    return parts[0] if len(parts) == 1 else ConcatDataset(parts)


def _tensors(ds, collate) -> dict:
    """The whole data set as preallocated tensors (large ones as ``COMPACT_DTYPES`` says),
    filled item by item so the peak memory is the cache itself."""
    import torch
    from tqdm import tqdm

    from grasp_pipeline.training.experiment import COMPACT_DTYPES

    first = collate([ds[0]])
    first.pop("frame_id")
    dtypes = {k: getattr(torch, v) for k, v in COMPACT_DTYPES.items()}
    out = {
        k: v.new_empty((len(ds), *v.shape[1:]), dtype=dtypes.get(k, v.dtype))
        for k, v in first.items()
    }
    for i in tqdm(range(len(ds)), desc="caching", leave=False, mininterval=5):
        item = ds[i]
        for k in out:
            out[k][i] = item[k]
    return out


def export_model(trainer, path: str, depth_max_m: float) -> None:
    """Write the network alone (no optimiser state) as a detector checkpoint with its labels."""
    from grasp_pipeline.objects import load_catalog
    from grasp_pipeline.training.checkpoint import save_checkpoint

    save_checkpoint(
        path,
        {
            "model": trainer.model.state_dict(),
            "config": {
                "model": trainer.mcfg.to_dict(),
                "train": trainer.tcfg.to_dict(),
                # channel c is class_index c + 1: the catalog's first num_classes names
                "labels": list(load_catalog().names)[: trainer.mcfg.num_classes],
                "depth_max_m": depth_max_m,
            },
            "step": trainer.step,
        },
    )


def _add_evaluate(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="model checkpoint (models/segnet/model.pt)")
    p.add_argument("--data", required=True, help="data set directory (dataset format)")
    p.add_argument("--json", required=True, help="output JSON")
    p.add_argument("--threads", type=int, default=2)
    _add_pickup_label(p)


def segnet_detector(path: str):
    """``SegnetDetector`` of a checkpoint; one without a stored label list (a trainer's
    ``checkpoint.pt``) gets the catalog's first ``num_classes`` names, since channel c holds
    class_index c + 1 (the catalog has grown past the classic 13 since such files were written)."""
    from grasp_pipeline.objects import load_catalog
    from grasp_pipeline.perception.checkpoint import load_checkpoint
    from grasp_pipeline.perception.segnet.config import SegNetConfig
    from grasp_pipeline.perception.segnet.detector import SegnetDetector

    config = load_checkpoint(path)["config"]
    labels = config.get("labels") if isinstance(config, dict) else None
    if not labels and isinstance(config, dict) and isinstance(config.get("model"), dict):
        n = SegNetConfig.from_dict(config["model"]).num_classes
        names = load_catalog().names
        if n > len(names):
            raise ValueError(f"{path}: model has {n} classes, the catalog only {len(names)}")
        labels = names[:n]
    return SegnetDetector(path, labels=labels or None)


def _run_evaluate(args: argparse.Namespace) -> int:
    """Score the model as the detector node uses it: ``SegnetDetector.detect`` on every frame at
    its own resolution, detections below the node's ``min_score`` dropped, each present class
    asked for (training.detector_metrics). The paper's whole-map figures come alongside."""
    import torch

    from grasp_pipeline.commands.holdout import node_min_score
    from grasp_pipeline.data.format import list_frames, read_frame, read_manifest
    from grasp_pipeline.data.segmentation_dataset import SegmentationDataset
    from grasp_pipeline.objects import load_catalog
    from grasp_pipeline.training.checkpoint import atomic_write_bytes
    from grasp_pipeline.training.detector_metrics import score_frame, summarize
    from grasp_pipeline.training.segnet_metrics import evaluate_segnet, wilson_ci
    from grasp_pipeline.training.segnet_trainer import iterate_batches

    torch.set_num_threads(args.threads)
    det = segnet_detector(args.model)
    min_score = node_min_score()
    names = set(load_catalog().names) | set(det.labels)
    scores = []
    single_ok = single_n = 0
    for fid in list_frames(args.data):
        frame = read_frame(args.data, fid)
        present = sorted({o.label for o in frame.objects})
        dets = det.detect(frame.rgb, frame.depth, frame.camera)
        s = score_frame(dets, frame, present, min_score, names, pickup_label=args.pickup_label)
        scores.append(s)
        if len(present) == 1:
            single_n += 1
            single_ok += s.top_label == present[0]
    if not any(s.asked for s in scores):
        raise ValueError(f"{args.data}: no frame holds a catalog object to score")
    dm = summarize(scores)
    # The paper's figures: weighted centroid over the whole map, classification-vector argmax
    # (the raw network output, no detector post-processing).
    ds = SegmentationDataset(
        args.data, size=det.config.size, depth_max_m=det.depth_max_m, pickup_label=args.pickup_label
    )
    m = evaluate_segnet(det.model, iterate_batches(ds, 8))
    try:
        seed = read_manifest(args.data).get("config", {}).get("seed")
    except FileNotFoundError:
        seed = None
    per_class = {
        label: {
            "pairs": v["asked"],
            "pickup_rate": v["pickup_rate"],
            "detector_pickup_rate": v["pickup_rate"],
            "hit_rate": v["hit_rate"],
            "known_to_model": label in det.labels,
        }
        for label, v in dm["per_class"].items()
    }
    class_accuracy = single_ok / single_n if single_n else float("nan")
    doc = {
        "model": str(args.model),
        "data": str(args.data),
        "seed": seed,
        "frames": dm["frames"],
        "pickup_label": args.pickup_label,
        # Every figure but paper_metric is Detector.detect's output, as the node publishes it:
        # detections below min_score dropped; a class's pickup is its best detection, scored
        # against the nearest object of the class (a robot asked for a class may pick any).
        "scored_as": "detector",
        "called_as": "SegnetDetector.detect(rgb, depth, camera) at the frame's resolution",
        "min_score": min_score,
        "offset_head": det.config.offset_head,
        "vote_weight": det.vote_weight,
        "vote_mode": det.vote_mode,
        "mean_pickup_rate": dm["pickup_rate"],
        "mean_pickup_rate_ci95": dm["pickup_rate_ci95"],
        "mean_pickup_rate_labelled_instance": dm["pickup_rate_labelled_instance"],
        "hit_rate": dm["hit_rate"],
        "false_objects_per_frame": dm["false_objects_per_frame"],
        "detections_outside_image": dm["detections_outside_image"],
        # single-object frames: the strongest detection's label is the object's
        "class_accuracy": class_accuracy,
        "class_accuracy_ci95": wilson_ci(single_ok, single_n),
        "class_rule": "strongest_detection",
        "single_object_frames": single_n,
        "detector": {
            **{k: v for k, v in dm.items() if k != "per_class"},
            "pickup_rate_any_instance": dm["pickup_rate"],
            "found": dm["detected_rate"],
        },
        "paper_metric": {
            "mean_pickup_rate": m["pickup_rate"],
            "class_accuracy": m["single_object_class_accuracy"],
            "class_accuracy_all_frames": m["class_accuracy"],
        },
        "per_class": per_class,
    }
    atomic_write_bytes(args.json, json.dumps(doc, indent=1).encode())
    print(json.dumps({k: doc[k] for k in ("frames", "mean_pickup_rate", "class_accuracy")}))
    print("paper metric:", json.dumps(doc["paper_metric"]))
    return 0


def _add_tune_votes(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="checkpoint of a network with an offset head")
    p.add_argument("--data", required=True, help="validation data set (never the test set)")
    p.add_argument(
        "--weights",
        type=float,
        nargs="+",
        default=[0.0, 0.25, 0.5, 0.75, 1.0],
        help="vote weights to try",
    )
    p.add_argument(
        "--modes",
        nargs="+",
        default=["mean", "mode"],
        choices=["mean", "mode"],
        help="vote modes to try with each weight (mean of the votes, or where they agree most)",
    )
    p.add_argument("--out", default=None, help="write the tuned checkpoint here (default: --model)")
    p.add_argument("--json", default=None, help="also write the figures per mode and weight here")
    p.add_argument("--threads", type=int, default=2)


def _run_tune_votes(args: argparse.Namespace) -> int:
    """Pick the vote weight and mode with the best detector pickup rate (nearest instance) on
    validation data and store them in the checkpoint's config, where SegnetDetector reads them."""
    import torch

    from grasp_pipeline.data.segmentation_dataset import SegmentationDataset
    from grasp_pipeline.training.checkpoint import (
        atomic_write_bytes,
        load_checkpoint,
        save_checkpoint,
    )
    from grasp_pipeline.training.segnet_metrics import detection_maps, score_detections
    from grasp_pipeline.training.segnet_trainer import iterate_batches

    torch.set_num_threads(args.threads)
    det = segnet_detector(args.model)
    if not det.config.offset_head:
        raise ValueError(f"{args.model} has no offset head: there are no votes to weigh")
    if any(not 0.0 <= w <= 1.0 for w in args.weights):
        raise ValueError(f"vote weights must be in [0, 1], got {args.weights}")
    ds = SegmentationDataset(args.data, size=det.config.size, depth_max_m=det.depth_max_m)
    # One forward pass per frame; every (mode, weight) re-scores the same maps and offsets.
    outputs = list(detection_maps(det.model, iterate_batches(ds, 8)))
    figures: dict[str, dict[float, dict]] = {}
    for mode in args.modes:
        for w in args.weights:
            m = score_detections(
                outputs,
                threshold=det.threshold,
                min_pixels=det.min_pixels,
                vote_weight=w,
                vote_mode=mode,
            )
            keys = ("pickup_rate_any_instance", "pickup_rate", "distance_cm")
            figures.setdefault(mode, {})[w] = {k: m[k] for k in keys}
            print(f"votes {mode}, weight {w:.2f}: " + json.dumps(figures[mode][w]))
    mode, w = max(
        ((mo, w) for mo in figures for w in figures[mo]),
        key=lambda k: figures[k[0]][k[1]]["pickup_rate_any_instance"],
    )
    state = load_checkpoint(args.model)
    state["config"]["vote_weight"] = float(w)
    state["config"]["vote_mode"] = mode
    state["config"]["vote_weight_data"] = str(args.data)
    save_checkpoint(args.out or args.model, state)
    doc = {
        "model": str(args.model),
        "data": str(args.data),
        "best": {"mode": mode, "weight": w},
        "results": figures,
    }
    if args.json:
        atomic_write_bytes(args.json, json.dumps(doc, indent=1).encode())
    print(f"votes {mode} at weight {w} written to {args.out or args.model}")
    return 0


def _add_latency(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="models/segnet/model.pt", help="model checkpoint")
    p.add_argument("--out", default="benchmarks/results/segnet_latency.json", help="output JSON")
    p.add_argument("--threads", type=int, default=2, help="torch/ORT CPU threads")
    p.add_argument("--iterations", type=int, default=30, help="timed detections per repeat")
    p.add_argument("--repeats", type=int, default=3, help="repeats (median of their medians)")
    p.add_argument("--backends", nargs="+", default=None, help="subset of back-ends to time")


def _run_latency(args: argparse.Namespace) -> int:
    from grasp_pipeline.perception.segnet.latency import run_latency_benchmark

    doc = run_latency_benchmark(
        args.model,
        args.out,
        threads=args.threads,
        iterations=args.iterations,
        repeats=args.repeats,
        backends=args.backends,
    )
    print(f"fastest: {doc['fastest']} at {doc['fastest_hz']:.1f} Hz -> {args.out}")
    return 0


COMMANDS = [
    Command(
        ("experiment", "weighting"),
        "train every loss-weighting method x seed and compare convergence (paper 000)",
        _add_experiment,
        _run_experiment,
    ),
    Command(
        ("train", "segnet"), "train the Converge-Fast segmentation network", _add_train, _run_train
    ),
    Command(
        ("evaluate", "segnet"),
        "pickup rate and class accuracy of a segnet model on a data set",
        _add_evaluate,
        _run_evaluate,
    ),
    Command(
        ("tune", "segnet-votes"),
        "choose how far pickups follow the offset head's votes, and their mean or mode, on "
        "validation data",
        _add_tune_votes,
        _run_tune_votes,
    ),
    Command(
        ("benchmark", "segnet-latency"),
        "time the segnet detector (640x480 RGB-D in, pickup points out) per inference back-end",
        _add_latency,
        _run_latency,
    ),
]
