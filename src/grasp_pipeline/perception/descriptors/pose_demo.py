"""6-D pose of a simulated (ray-cast) textured box recovered from one frame by a freshly trained
model: enrol the box from a reference view, render it at a new pose on a new background, run
the DescriptorDetector and compare with the true pose."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from grasp_pipeline.data.backgrounds import procedural_background
from grasp_pipeline.data.pairs import PairConfig, PairSource
from grasp_pipeline.geometry.camera import preset
from grasp_pipeline.perception.descriptors.config import DescriptorNetConfig
from grasp_pipeline.perception.descriptors.database import DescriptorDatabase, register_object
from grasp_pipeline.perception.descriptors.detector import DescriptorDetector
from grasp_pipeline.perception.descriptors.enroll import enroll_object, register_view
from grasp_pipeline.perception.descriptors.procedural import TexturedBox, look_pose, render_box
from grasp_pipeline.training.descriptor_trainer import DescriptorTrainConfig, load_descriptor_model


def rotation_error_deg(R_a: np.ndarray, R_b: np.ndarray) -> float:
    """Angle (degrees) of the rotation between two rotation matrices."""
    c = (np.trace(R_a.T @ R_b) - 1) / 2
    return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))


def _run_trials(rng, box, ref_pose, cam, trials: int, detect) -> list[dict]:
    """Render the box at ``trials`` new poses drawn from ``rng`` and score ``detect(frame)``."""
    out = []
    for i in range(trials):
        # A new pose inside the trained range: in-plane turn, small tilt, shift and depth change.
        turn = look_pose(0.0, *rng.uniform(-0.12, 0.12, 2), rng.uniform(-np.pi, np.pi))
        T = ref_pose.copy()
        T[:3, :3] = turn[:3, :3] @ ref_pose[:3, :3]
        T[:3, 3] = ref_pose[:3, 3] + [
            rng.uniform(-0.03, 0.03),
            rng.uniform(-0.02, 0.02),
            rng.uniform(-0.02, 0.03),
        ]
        frame = render_box(
            box, T, cam, background=procedural_background(rng, cam.height, cam.width)
        )
        dets = detect(frame)
        if not dets:
            out.append({"trial": i, "detected": False})
            continue
        est = dets[0].pose
        out.append(
            {
                "trial": i,
                "detected": True,
                "rotation_error_deg": rotation_error_deg(T[:3, :3], est[:3, :3]),
                "translation_error_m": float(np.linalg.norm(T[:3, 3] - est[:3, 3])),
                "inliers": dets[0].extras["inliers"],
                "score": dets[0].score,
                "true_pose": T.tolist(),
                "estimated_pose": est.tolist(),
            }
        )
    return out


def _scene(seed: int, size: tuple[int, int]):
    """The demo's random stream, camera, textured box, reference pose and reference render."""
    rng = np.random.default_rng(seed + 1000)
    cam = preset("d435", *size)
    box = TexturedBox((0.09, 0.06, 0.04), seed=seed + 3)
    ref_pose = look_pose(0.22, 0.35, -0.25, 0.3)
    return rng, cam, box, ref_pose, render_box(box, ref_pose, cam)


def run_oracle_pose_demo(
    size: tuple[int, int] = (160, 120), seed: int = 0, trials: int = 5
) -> dict:
    """The same frames with perfect descriptors (each pixel's object-frame coordinates, cm):
    what the query + Kabsch pose path reaches when the descriptors are right."""
    import torch

    def coords(render) -> torch.Tensor:
        d = np.nan_to_num(render.object_points * 100.0, nan=1e3)
        return torch.as_tensor(d.transpose(2, 0, 1), dtype=torch.float32)

    rng, cam, box, ref_pose, ref = _scene(seed, size)
    db = DescriptorDatabase()
    db.add(
        register_object(
            coords(ref).numpy(),
            ref.mask,
            ref.depth_m,
            cam,
            "box",
            64,
            ref_pose,
            temperature=float(np.log(0.3)),
        )
    )
    detector = DescriptorDetector(None, db)
    out = _run_trials(
        rng,
        box,
        ref_pose,
        cam,
        trials,
        lambda f: detector.detect_in_descriptors(coords(f), f.depth_m, cam, ["box"]),
    )
    ok = [t for t in out if t["detected"]]
    return {
        "rotation_error_deg": float(np.median([t["rotation_error_deg"] for t in ok])),
        "translation_error_m": float(np.median([t["translation_error_m"] for t in ok])),
        "max_rotation_error_deg": float(max(t["rotation_error_deg"] for t in ok)),
        "max_translation_error_m": float(max(t["translation_error_m"] for t in ok)),
        "detected": len(ok),
        "trials": [
            {k: t[k] for k in ("trial", "rotation_error_deg", "translation_error_m")} for t in ok
        ],
    }


def run_pose_demo(
    steps: int = 600,
    size: tuple[int, int] = (160, 120),
    descriptor_dim: int = 16,
    base_width: int = 16,
    method: str = "keypoint",
    seed: int = 0,
    trials: int = 5,
    progress: bool = True,
    checkpoint: str | Path | None = None,
) -> dict:
    """Train on one reference view (or load ``checkpoint`` when it exists; a fresh model is
    saved there), then estimate the box's pose in ``trials`` new frames."""
    rng, cam, box, ref_pose, ref = _scene(seed, size)
    source = PairSource(ref.rgb, ref.mask, ref.depth_m, cam, "box")
    db = DescriptorDatabase()
    if checkpoint is not None and Path(checkpoint).is_file():
        from grasp_pipeline.training.checkpoint import load_checkpoint

        model = load_descriptor_model(checkpoint)
        db.add(register_view(model, source, "box", 64, ref_pose))
        seconds_per_step = None
        steps = int(load_checkpoint(checkpoint)["step"])
    else:
        cfg = DescriptorTrainConfig(
            method=method,
            steps=steps,
            seed=seed,
            lr=1e-3 if method == "keypoint" else 3e-4,
            weight_decay=0.0 if method == "keypoint" else 1e-4,
            net=DescriptorNetConfig(
                descriptor_dim=descriptor_dim, num_keypoints=64, base_width=base_width
            ),
            pairs=PairConfig(
                rotation_deg=180, tilt_deg=12, shift_frac=0.2, scale_range=(0.85, 1.2)
            ),
        )
        enrolled = enroll_object(
            source, "box", cfg, 64, ref_pose, progress=progress, checkpoint=checkpoint, database=db
        )
        model, seconds_per_step = enrolled.model, enrolled.seconds_per_step
    detector = DescriptorDetector(model, db)
    trials_out = _run_trials(
        rng, box, ref_pose, cam, trials, lambda f: detector.detect(f.rgb, f.depth, cam, ["box"])
    )
    ok = [t for t in trials_out if t["detected"]]
    return {
        "object": "procedural textured box 0.09 x 0.06 x 0.04 m at ~0.22 m (ray-cast render, "
        f"D435 intrinsics scaled to {size[0]}x{size[1]})",
        "model": {
            "method": "keypoint" if model.config.keypoint_heads else "don_ntxent",
            "descriptor_dim": model.config.descriptor_dim,
            "base_width": model.config.base_width,
            "steps": steps,
            "checkpoint": str(checkpoint) if checkpoint is not None else None,
            "seconds_per_step": seconds_per_step,
            "temperature": db["box"].temperature,
        },
        "rotation_error_deg": float(np.median([t["rotation_error_deg"] for t in ok]))
        if ok
        else None,
        "translation_error_m": float(np.median([t["translation_error_m"] for t in ok]))
        if ok
        else None,
        "detected": len(ok),
        "trials": trials_out,
    }
