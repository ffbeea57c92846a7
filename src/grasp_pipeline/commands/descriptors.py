"""CLI: ``benchmark descriptors``, ``descriptors view``, ``descriptors pose-demo`` and
``train descriptors`` (a new object from one RGB + mask + depth view)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from grasp_pipeline.commands import Command


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(x) for x in text.lower().split("x"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"size must look like 160x120, got {text!r}") from exc
    if w < 16 or h < 16:
        raise argparse.ArgumentTypeError(f"size must be at least 16x16, got {text!r}")
    return w, h


def _pixels(text: str) -> list[tuple[int, int]]:
    try:
        return [tuple(int(x) for x in p.split(",")) for p in text.split()]  # type: ignore[misc]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"pixels must look like '10,20 30,40', got {text!r}"
        ) from exc


# -- benchmark descriptors ----------------------------------------------------------------------
def _bench_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config", required=True, help="benchmark YAML (config/benchmarks/descriptors_cpu.yaml)"
    )
    p.add_argument("--out", required=True, help="output directory (results.json, results.md, PNGs)")


def _bench_run(args: argparse.Namespace) -> int:
    from grasp_pipeline.training.descriptor_benchmark import run_benchmark

    summary = run_benchmark(args.config, args.out)
    print((Path(args.out) / "results.md").read_text())
    print(f"wall time {summary['wall_seconds'] / 60:.1f} min")
    return 0


# -- descriptors view ---------------------------------------------------------------------------
def _view_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", required=True, help="descriptor model checkpoint (.pt)")
    p.add_argument(
        "--image-a", help="RGB image A (PNG/JPG); omitted: a synthetic pair of a textured box"
    )
    p.add_argument("--image-b", help="RGB image B")
    p.add_argument("--size", type=_size, help="resize both images to WxH before the network")
    p.add_argument(
        "--temperature",
        type=float,
        default=-1.0,
        help="kernel width exp(t) of paper Eq. 8 (default -1)",
    )
    p.add_argument("--port", type=int, default=8765, help="port of the local web page (127.0.0.1)")
    p.add_argument("--out", help="non-interactive: write heatmap PNGs here instead of serving")
    p.add_argument(
        "--pixels",
        type=_pixels,
        help="pixels of A for --out, e.g. '40,30 60,50' (default: 5 on a grid)",
    )


def _view_run(args: argparse.Namespace) -> int:
    import cv2
    import numpy as np
    import torch

    from grasp_pipeline.perception.descriptors.checkpoint import load_descriptor_model
    from grasp_pipeline.perception.descriptors.model import to_input
    from grasp_pipeline.perception.descriptors.viewer import (
        DescriptorPairView,
        load_image,
        serve,
        write_heatmaps,
    )

    model = load_descriptor_model(args.checkpoint)
    if args.image_a and args.image_b:
        a, b = load_image(args.image_a), load_image(args.image_b)
    elif args.image_a or args.image_b:
        raise ValueError("give both --image-a and --image-b, or neither for a synthetic pair")
    else:
        from grasp_pipeline.data.pairs import PairConfig, make_pair
        from grasp_pipeline.perception.descriptors.sources import procedural_sources

        size = args.size or (128, 96)
        pair = make_pair(procedural_sources(1, 0, size)[0], PairConfig(), np.random.default_rng(0))
        a, b = pair.rgb_a, pair.rgb_b
    if args.size:
        a, b = (cv2.resize(x, args.size, interpolation=cv2.INTER_AREA) for x in (a, b))
    with torch.no_grad():
        da = model(to_input(a), keypoints=False).descriptors[0]
        db = model(to_input(b), keypoints=False).descriptors[0]
    view = DescriptorPairView(a, b, da, db, args.temperature)
    if args.out:
        h, w = a.shape[:2]
        pixels = args.pixels or [
            (int(w * fx), int(h * fy))
            for fx, fy in ((0.5, 0.5), (0.35, 0.35), (0.65, 0.35), (0.35, 0.65), (0.65, 0.65))
        ]
        for p in write_heatmaps(view, pixels, args.out):
            print(p)
        return 0
    serve(view, args.port)
    return 0


# -- descriptors pose-demo ----------------------------------------------------------------------
def _pose_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--out", default="benchmarks/results/descriptor_pose.json", help="JSON with the pose errors"
    )
    p.add_argument("--method", choices=("keypoint", "don_ntxent"), default="keypoint")
    p.add_argument("--steps", type=int, default=500, help="training steps of the fresh model")
    p.add_argument("--checkpoint", help="load this model if it exists, else train and save it here")
    p.add_argument("--trials", type=int, default=8, help="test frames at new poses")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (1: on a shared 2-core machine 2 threads ran 6x slower per step)",
    )


def _pose_run(args: argparse.Namespace) -> int:
    import torch

    from grasp_pipeline.perception.descriptors.pose_demo import run_pose_demo
    from grasp_pipeline.training.checkpoint import atomic_write_bytes

    torch.set_num_threads(args.threads)
    result = run_pose_demo(
        steps=args.steps,
        method=args.method,
        seed=args.seed,
        trials=args.trials,
        checkpoint=args.checkpoint,
    )
    result["command"] = (
        f"grasp-pipeline descriptors pose-demo --method {args.method} --steps {args.steps} "
        f"--trials {args.trials} --seed {args.seed}"
    )
    atomic_write_bytes(args.out, json.dumps(result, indent=2).encode())
    print(
        f"rotation error {result['rotation_error_deg']} deg, translation error {result['translation_error_m']} m "
        f"(median over {result['detected']}/{args.trials} detected) -> {args.out}"
    )
    return 0


# -- train descriptors --------------------------------------------------------------------------
def _train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--object-image", required=True, help="RGB image of the object (PNG/JPG)")
    p.add_argument("--mask", required=True, help="mask image, non-zero on the object")
    p.add_argument(
        "--depth", required=True, help="depth: 16-bit PNG in driver units (mm) or .npy in metres"
    )
    p.add_argument("--name", required=True, help="object name in the database")
    p.add_argument(
        "--camera",
        default="d435",
        help="camera preset for the intrinsics (scaled to the image size)",
    )
    p.add_argument(
        "--intrinsics", help="JSON file with width, height, fx, fy, cx, cy (overrides --camera)"
    )
    p.add_argument(
        "--pose", help="JSON 4x4 object -> camera pose of the view (default: principal axes frame)"
    )
    p.add_argument(
        "--database",
        default="models/descriptors/database",
        help="database path (writes .npz + .json)",
    )
    p.add_argument(
        "--checkpoint", default="models/descriptors/model.pt", help="model checkpoint to write"
    )
    p.add_argument(
        "--size", type=_size, default=(160, 120), help="training/detection image size WxH"
    )
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--dim", type=int, default=16, help="descriptor size D")
    p.add_argument("--keypoints", type=int, default=64, help="number of keypoints N")
    p.add_argument(
        "--base-width", type=int, default=16, help="ResNet-34 stem width (64 = standard)"
    )
    p.add_argument("--device", default="cpu")


def load_view(rgb_path: str, mask_path: str, depth_path: str, camera, size: tuple[int, int] | None):
    """PairSource from files; intrinsics scaled with the resize."""
    import cv2
    import numpy as np

    from grasp_pipeline.data.pairs import PairSource
    from grasp_pipeline.perception.descriptors.viewer import load_image

    rgb = load_image(rgb_path)
    for p in (mask_path, depth_path):
        if not Path(p).is_file():
            raise FileNotFoundError(f"file not found: {p}")
    mask = cv2.imread(mask_path, cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise ValueError(f"cannot decode mask {mask_path}")
    if depth_path.endswith(".npy"):
        depth = np.load(depth_path).astype(np.float32)
    else:
        raw = cv2.imread(depth_path, cv2.IMREAD_UNCHANGED)
        if raw is None or raw.ndim != 2:
            raise ValueError(f"depth {depth_path} must be a single-channel 16-bit PNG")
        depth = raw.astype(np.float32) * camera.depth_scale
    h, w = rgb.shape[:2]
    if mask.shape != (h, w) or depth.shape != (h, w):
        raise ValueError(f"mask {mask.shape} and depth {depth.shape} must match the image {(h, w)}")
    if (camera.width, camera.height) != (w, h):
        camera = camera.scaled(w, h)
    depth[~(depth > 0)] = np.nan
    if size and size != (w, h):
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        mask = cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST)
        depth = cv2.resize(depth, size, interpolation=cv2.INTER_NEAREST)
        camera = camera.scaled(*size)
    from grasp_pipeline.perception.descriptors.refine import support_normal

    normal = support_normal(depth, camera, mask > 0)
    return PairSource(
        rgb, mask > 0, np.where(mask > 0, depth, np.nan), camera, Path(rgb_path).stem, normal
    )


def _train_run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from grasp_pipeline.geometry.camera import CameraIntrinsics, preset
    from grasp_pipeline.perception.descriptors.config import DescriptorNetConfig
    from grasp_pipeline.perception.descriptors.database import DescriptorDatabase
    from grasp_pipeline.perception.descriptors.enroll import enroll_object
    from grasp_pipeline.training.descriptor_trainer import (
        DescriptorTrainConfig,
        load_descriptor_model,
    )

    torch.set_num_threads(2)
    if args.intrinsics:
        camera = CameraIntrinsics.from_dict(json.loads(Path(args.intrinsics).read_text()))
    else:
        camera = preset(args.camera)
    source = load_view(args.object_image, args.mask, args.depth, camera, args.size)
    pose = np.asarray(json.loads(Path(args.pose).read_text()), dtype=float) if args.pose else None
    if pose is not None and pose.shape != (4, 4):
        raise ValueError(f"--pose {args.pose} must hold a 4x4 matrix, got shape {pose.shape}")
    db_json = Path(args.database).with_suffix(".json")
    db = DescriptorDatabase.load(args.database) if db_json.exists() else DescriptorDatabase()
    init = None
    net = DescriptorNetConfig(
        descriptor_dim=args.dim, num_keypoints=args.keypoints, base_width=args.base_width
    )
    if len(db) and db.model and Path(db.model).is_file():
        init = load_descriptor_model(db.model)
        net = init.config
    cfg = DescriptorTrainConfig(method="keypoint", net=net, steps=args.steps, device=args.device)
    res = enroll_object(
        source, args.name, cfg, pose_camera=pose, checkpoint=args.checkpoint, database=db, init=init
    )
    db.save(args.database)
    print(
        f"registered {args.name!r} ({len(res.entry.descriptors)} reference descriptors, t = {res.entry.temperature:.2f}) "
        f"in {args.database}.npz/.json; model {args.checkpoint}; {res.seconds_per_step:.3f} s/step; objects: {db.names}"
    )
    return 0


# -- enroll --------------------------------------------------------------------------------------
def _enroll_args(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--rgb", help="RGB frame showing the object (PNG/JPG); needs --depth, --mask")
    src.add_argument(
        "--sim-object",
        help="catalog object: render the enrolment frame in the simulated pick cell (known pose)",
    )
    p.add_argument("--depth", help="depth: 16-bit PNG in driver units (mm) or .npy in metres")
    p.add_argument("--mask", help="mask image, non-zero on the object")
    p.add_argument("--name", help="object name (default: --sim-object)")
    p.add_argument("--camera", default="d435", help="camera preset (scaled to the image size)")
    p.add_argument("--intrinsics", help="JSON file with width, height, fx, fy, cx, cy")
    p.add_argument("--pose", help="JSON 4x4 object -> camera pose (default: principal axes)")
    p.add_argument(
        "--out",
        default="models/descriptors/enrolled",
        help="folder for the per-object model NAME.pt and the database",
    )
    p.add_argument(
        "--database", help="database path (.npz + .json; default OUT/database)", default=None
    )
    p.add_argument("--recipe", default="config/descriptors/enroll.yaml", help="training recipe")
    p.add_argument("--steps", type=int, default=None, help="override the recipe's steps")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (1: on a shared 2-core machine 2 threads ran 6x slower per step)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the simulated frame and training")
    p.add_argument("--save-view", help="also write the enrolment frame (rgb/depth/mask) here")


def _enroll_run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from grasp_pipeline.geometry.camera import CameraIntrinsics, preset
    from grasp_pipeline.perception.descriptors.enroll import enroll_view, load_recipe

    torch.set_num_threads(args.threads)
    recipe = load_recipe(args.recipe)
    if args.steps is not None:
        recipe.train.steps = args.steps
    recipe.train.seed = args.seed
    pose = None
    if args.sim_object:
        from grasp_pipeline.training.descriptor_eval import enrollment_frame

        view, pose = enrollment_frame(args.sim_object, seed=args.seed)
        name = args.name or args.sim_object
    else:
        if not (args.depth and args.mask):
            raise ValueError("--rgb needs --depth and --mask")
        camera = (
            CameraIntrinsics.from_dict(json.loads(Path(args.intrinsics).read_text()))
            if args.intrinsics
            else preset(args.camera)
        )
        view = load_view(args.rgb, args.mask, args.depth, camera, None)
        name = args.name or view.name
    if args.pose:
        pose = np.asarray(json.loads(Path(args.pose).read_text()), dtype=float)
        if pose.shape != (4, 4):
            raise ValueError(f"--pose {args.pose} must hold a 4x4 matrix, got {pose.shape}")
    if args.save_view:
        import cv2

        d = Path(args.save_view)
        d.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(d / f"{name}_rgb.png"), view.rgb[:, :, ::-1])
        cv2.imwrite(str(d / f"{name}_mask.png"), view.mask.astype(np.uint8) * 255)
        np.save(d / f"{name}_depth.npy", view.depth_m.astype(np.float32))
    print(
        f"enrolling {name!r}: {recipe.train.steps} steps at {recipe.size[0]}x{recipe.size[1]}, "
        f"{torch.get_num_threads()} threads"
    )
    res = enroll_view(view, name, recipe.train, args.out, recipe.size, pose, database=args.database)
    db = args.database or str(Path(args.out) / "database")
    print(
        f"registered {name!r} in {db}.npz/.json in {res.seconds / 60:.1f} min "
        f"({res.seconds_per_step:.3f} s/step); model {res.checkpoint}; scale {res.entry.meta['scale']:.3f}"
    )
    return 0


COMMANDS = [
    Command(
        ("enroll",),
        "show the robot a new part once: one RGB-D frame + mask -> trained model + database entry",
        _enroll_args,
        _enroll_run,
    ),
    Command(
        ("benchmark", "descriptors"),
        "keypoint-trained descriptors vs DON NT-Xent: AUC of PCK@k and memory",
        _bench_args,
        _bench_run,
    ),
    Command(
        ("descriptors", "view"),
        "click a pixel in image A, see its descriptor's heatmap in image B",
        _view_args,
        _view_run,
    ),
    Command(
        ("descriptors", "pose-demo"),
        "6-D pose of a rendered object from one frame by a freshly trained model",
        _pose_args,
        _pose_run,
    ),
    Command(
        ("train", "descriptors"),
        "train on one view of a new object and register it in the descriptor database",
        _train_args,
        _train_run,
    ),
]
