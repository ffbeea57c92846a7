"""Synthetic RGB-D dataset generation in the simulated cell (resumable, parallel, reproducible).

Frame ``i`` of a dataset with seed ``S`` is generated from ``numpy.random.default_rng([S, i])`` in
a fresh PyBullet world, so its files depend on nothing else: a resumed run, any number of workers
and any order give byte-identical frames. Frames are written atomically (see data.format); on
start the generator deletes unfinished ``.``-prefixed frame directories and skips complete ones.
Only one generator may write to a directory at a time.

Scenes come from the package's one scene builder (:func:`grasp_pipeline.sim.scene.build_scene`).
Datasets draw from the ``classic2018`` pool unless told otherwise (``SceneConfig.pool``): the
shipped model and paper 000's experiments train on those 13 classes, and their masks keep the 13
channels; ``pool="rulebook"`` gives the current rulebook set (22 channels, the catalog order).
"""

from __future__ import annotations

import functools
import json
import shutil
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from grasp_pipeline import __version__
from grasp_pipeline.data.format import (
    Frame,
    frame_dir,
    is_complete_frame,
    read_manifest,
    write_frame,
    write_manifest,
)
from grasp_pipeline.sim.scene import SceneConfig

GENERATOR = "grasp_pipeline.sim"
GENERATOR_VERSION = 2  # bump when the same seed would give different frames
# v2: one scene builder (pools, decoys, more clutter kinds), slotted profiles.
DATASET_POOL = "classic2018"


def _dataset_scene() -> SceneConfig:
    return SceneConfig(pool=DATASET_POOL)


@dataclass
class GenerationConfig:
    """A synthetic dataset: ``scenes`` frames from ``seed`` with camera preset ``camera``."""

    scenes: int
    seed: int = 0
    camera: str = "d435"
    width: int = 640
    height: int = 480
    noise: bool = True
    scene: SceneConfig = field(default_factory=_dataset_scene)

    def __post_init__(self) -> None:
        if self.scenes < 0:
            raise ValueError(f"scenes must be >= 0, got {self.scenes}")
        if self.camera not in ("d435", "sr300"):
            raise ValueError(f"camera must be 'd435' or 'sr300', got {self.camera!r}")
        if self.width < 16 or self.height < 16:
            raise ValueError(f"image size must be at least 16x16, got {self.width}x{self.height}")

    def identity(self) -> dict:
        """Settings that fix the content of every frame (all but the frame count)."""
        d = asdict(self)
        d.pop("scenes")
        d["generator_version"] = GENERATOR_VERSION
        return json.loads(json.dumps(d))  # tuples -> lists, as they come back from JSON


def frame_id(index: int) -> str:
    return f"{index:06d}"


@functools.lru_cache(maxsize=1)
def _catalog():
    from grasp_pipeline.objects import load_catalog

    return load_catalog()


def make_frame(cfg: GenerationConfig, index: int) -> Frame:
    """Generate frame ``index`` of the dataset described by ``cfg`` (pure function of both)."""
    from grasp_pipeline.geometry.camera import preset
    from grasp_pipeline.sim.scene import build_random_scene

    rng = np.random.default_rng([cfg.seed, index])
    intrinsics = preset(cfg.camera, cfg.width, cfg.height)
    world, camera, info = build_random_scene(
        rng, cfg.scene, intrinsics, noise=cfg.noise, catalog=_catalog()
    )
    try:
        render = world.render(camera, rng)
    finally:
        world.close()
    meta = {
        "source": "simulation",
        "generator": GENERATOR,
        "generator_version": GENERATOR_VERSION,
        "seed": [cfg.seed, index],
        "noise": cfg.noise,
        "scene": asdict(info),
        "camera_model": cfg.camera,
    }
    return Frame(
        frame_id=frame_id(index),
        rgb=render.rgb,
        depth=render.depth,
        instance_mask=render.instance_mask,
        camera=intrinsics,
        camera_pose_world=render.camera_pose_world,
        objects=render.objects,
        meta=meta,
    )


def _generate_one(job: tuple[dict, str, int]) -> int:
    cfg_dict, out, index = job
    cfg = config_from_dict(cfg_dict)
    write_frame(out, make_frame(cfg, index))
    return index


def config_from_dict(d: dict) -> GenerationConfig:
    """Inverse of :meth:`GenerationConfig.identity` (``scenes`` defaults to 0)."""
    d = dict(d)
    d.pop("generator_version", None)
    d.setdefault("scenes", 0)
    scene = d.pop("scene", {}) or {}
    for key in ("surface_heights", "camera_height", "camera_tilt_deg", "object_names"):
        if scene.get(key) is not None:
            scene[key] = tuple(scene[key])
    return GenerationConfig(scene=SceneConfig(**scene), **d)


def _check_or_start_manifest(out: Path, cfg: GenerationConfig) -> None:
    manifest_path = out / "manifest.json"
    if manifest_path.exists():
        existing = read_manifest(out)
        before = existing.get("config", {})
        now = cfg.identity()
        diff = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
        if diff:
            raise ValueError(
                f"{manifest_path} was written with other settings ({', '.join(diff)}); "
                "use another --out directory or the same settings to resume"
            )
    elif out.exists() and any(out.iterdir()):
        raise ValueError(
            f"{out} exists, is not empty and has no manifest.json; refusing to write there"
        )
    write_manifest(out, _manifest(cfg, complete=False, counts=None))


def _manifest(cfg: GenerationConfig, complete: bool, counts: dict | None) -> dict:
    return {
        "generator": GENERATOR,
        "generator_version": GENERATOR_VERSION,
        "package_version": __version__,
        "seed": cfg.seed,
        "scenes": cfg.scenes,
        "camera": cfg.camera,
        "width": cfg.width,
        "height": cfg.height,
        "classes": cfg.scene.classes(_catalog()),
        "config": cfg.identity(),
        "complete": complete,
        "counts": counts,
    }


def count_objects(out: Path, n: int, classes: list[str] | None = None) -> dict:
    """Frames and object instances per class in frames 0..n-1 (from the annotation files);
    ``classes``: the names to report (default: every catalog object)."""
    per_class: Counter[str] = Counter()
    frames = objects = 0
    for i in range(n):
        path = frame_dir(out, frame_id(i)) / "annotation.json"
        ann = json.loads(path.read_text())
        frames += 1
        for o in ann["objects"]:
            per_class[o["label"]] += 1
            objects += 1
    return {
        "frames": frames,
        "objects": objects,
        "per_class": {k: per_class[k] for k in (classes or _catalog().names)},
    }


def generate_dataset(
    out: str | Path, cfg: GenerationConfig, workers: int = 1, progress: bool = True
) -> dict:
    """Write ``cfg.scenes`` frames to ``out`` (resuming an earlier run); returns the manifest.

    Raises ValueError when ``out`` holds a dataset made with different settings.
    """
    from tqdm import tqdm

    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    out = Path(out)
    _check_or_start_manifest(out, cfg)
    frames = out / "frames"
    frames.mkdir(parents=True, exist_ok=True)
    for stale in frames.glob(".*"):  # left behind by a killed run
        shutil.rmtree(stale, ignore_errors=True)
    todo = [i for i in range(cfg.scenes) if not is_complete_frame(frame_dir(out, frame_id(i)))]
    cfg_dict = cfg.identity()
    jobs = [(cfg_dict, str(out), i) for i in todo]
    bar = tqdm(total=len(jobs), desc=f"generating {out.name}", unit="frame", disable=not progress)
    try:
        if workers == 1 or len(jobs) <= 1:
            for job in jobs:
                _generate_one(job)
                bar.update()
        else:
            import multiprocessing as mp

            # spawn: every worker starts clean and opens its own PyBullet client.
            with mp.get_context("spawn").Pool(min(workers, len(jobs))) as pool:
                for _ in pool.imap_unordered(_generate_one, jobs, chunksize=1):
                    bar.update()
    finally:
        bar.close()
    counts = count_objects(out, cfg.scenes, cfg.scene.classes(_catalog()))
    manifest = _manifest(cfg, complete=True, counts=counts)
    write_manifest(out, manifest)
    return read_manifest(out)
