"""Object views (PairSource) for descriptor training and benchmarks: procedurally rendered
textured boxes, or object instances from a dataset on disk (grasp_pipeline.data.format)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from grasp_pipeline.data.pairs import PairSource
from grasp_pipeline.geometry.camera import preset
from grasp_pipeline.perception.descriptors.procedural import TexturedBox, look_pose, render_box


def procedural_sources(
    count: int, seed: int, size: tuple[int, int], camera: str = "d435"
) -> list[PairSource]:
    """``count`` textured boxes (edges 3-9 cm) seen by a 640x480 camera at 0.35-0.5 m from a random
    orientation, cropped around the object and resized to ``size`` (width, height)."""
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    rng = np.random.default_rng(seed)
    cam = preset(camera)
    out = []
    for i in range(count):
        box = TexturedBox(
            tuple(float(x) for x in rng.uniform(0.03, 0.09, 3)), seed=int(rng.integers(1 << 31))
        )
        pose = look_pose(float(rng.uniform(0.35, 0.5)), *rng.uniform(-np.pi, np.pi, 3))
        r = render_box(box, pose, cam)
        out.append(PairSource(r.rgb, r.mask, r.depth_m, cam, f"box{i}").crop_around_object(*size))
    return out


def dataset_sources(
    root: str | Path, count: int, seed: int, size: tuple[int, int], min_pixels: int = 400
) -> list[PairSource]:
    """``count`` object instances (largest per frame, at least ``min_pixels`` visible) from random
    frames of a dataset written by grasp_pipeline.data.format, cropped to ``size``."""
    from grasp_pipeline.data.format import list_frames, read_frame

    frames = list_frames(root)
    if not frames:
        raise ValueError(f"dataset {root} has no frames")
    rng = np.random.default_rng(seed)
    out: list[PairSource] = []
    for fid in rng.permutation(frames):
        frame = read_frame(root, str(fid))
        objs = [o for o in frame.objects if o.visible_pixels >= min_pixels]
        if not objs:
            continue
        src = PairSource.from_frame(frame, max(objs, key=lambda o: o.visible_pixels).instance_id)
        out.append(src.crop_around_object(*size))
        if len(out) == count:
            return out
    raise ValueError(
        f"dataset {root}: only {len(out)} objects with >= {min_pixels} visible pixels, need {count}"
    )
