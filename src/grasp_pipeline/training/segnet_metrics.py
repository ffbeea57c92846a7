"""Validation metrics of the segmentation network over a whole data set."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from grasp_pipeline.perception.segnet.losses import (
    centroid_distance_cm,
    centroid_distance_px,
    pickup_depth,
    soft_iou_error,
)


@torch.no_grad()
def evaluate_segnet(
    model: torch.nn.Module, batches: Iterable[dict[str, torch.Tensor]], device: str = "cpu"
) -> dict[str, float]:
    """Mean metrics over every (sample, present class) pair of the data set.

    Returns ``iou_error``, ``distance_px``, ``distance_cm``, ``pickup_error``, ``pickup_rate``
    (cm-based; pairs without depth are left out of the cm figures), ``class_accuracy`` (the
    classification vector's argmax is a present class), ``single_object_class_accuracy`` (the same
    on frames holding exactly one class), ``pairs`` and ``frames``; plus ``per_class`` (channel ->
    pairs, pickup rate, distance in cm, share of its frames whose predicted class was present).
    """
    was_training = model.training
    model.eval()
    iou, dpx, dcm, correct, single_correct, single_n, frames = [], [], [], 0, 0, 0, 0
    labelled = 0
    per_class_hits: dict[int, int] = {}
    per_class: dict[int, list[float]] = {}
    for batch in batches:
        x = batch["image"].to(device)
        logits, class_logits = model(x)
        p_all = torch.sigmoid(logits.float()).cpu()  # (B, C, H, W)
        pred = class_logits.float().argmax(dim=1).cpu()  # (B,)
        present = batch["present"].bool()
        for b in range(x.shape[0]):
            frames += 1
            cls = torch.nonzero(present[b]).flatten()
            if cls.numel() == 0:
                continue
            labelled += 1
            ok = bool(present[b, pred[b]])
            correct += ok
            if cls.numel() == 1:
                single_n += 1
                single_correct += ok
            p = p_all[b, cls]  # (k, H, W)
            masks = batch["masks"][b, cls].float()
            uv = batch["pickup"][b, cls].float()  # (k, 2)
            depth = batch["depth_m"][b].float().expand(len(cls), -1, -1)
            z = pickup_depth(depth, uv, masks)
            intr = batch["intrinsics"][b].float().expand(len(cls), -1)
            iou.extend(soft_iou_error(p, masks).tolist())
            dpx.extend(centroid_distance_px(p, uv).tolist())
            d = centroid_distance_cm(p, uv, z, intr).tolist()
            dcm.extend(d)
            for c, dc in zip(cls.tolist(), d, strict=True):
                per_class.setdefault(c, []).append(dc)
                per_class_hits[c] = per_class_hits.get(c, 0) + int(ok)
    if was_training:
        model.train()
    dcm_a = np.asarray(dcm, dtype=float)
    dcm_a = dcm_a[np.isfinite(dcm_a)]
    n_pairs = len(iou)
    if n_pairs == 0:
        raise ValueError("evaluation data set holds no frame with a present class")

    def rate(v: np.ndarray) -> float:
        return float(np.mean(1.0 / (v**2 + 1.0))) if v.size else float("nan")

    return {
        "iou_error": float(np.mean(iou)),
        "distance_px": float(np.mean(dpx)),
        "distance_cm": float(dcm_a.mean()) if dcm_a.size else float("nan"),
        "pickup_rate": rate(dcm_a),
        "pickup_error": 1.0 - rate(dcm_a),
        "class_accuracy": correct / labelled,
        "single_object_class_accuracy": single_correct / single_n if single_n else float("nan"),
        "pairs": n_pairs,
        "frames": frames,
        "per_class": {
            int(c): {
                "pairs": len(v),
                "pickup_rate": rate(np.asarray([x for x in v if np.isfinite(x)])),
                "distance_cm": float(np.nanmean(v)) if np.isfinite(v).any() else float("nan"),
                "class_accuracy": per_class_hits[c] / len(v),
            }
            for c, v in sorted(per_class.items())
        },
    }


@torch.no_grad()
def evaluate_detections(
    model: torch.nn.Module,
    batches: Iterable[dict[str, torch.Tensor]],
    device: str = "cpu",
    threshold: float = 0.5,
    min_pixels: int = 3,
    oracle: bool = False,
) -> dict[str, float]:
    """The same pairs scored the way the detector is used: the pickup point of a class is the
    centroid of its strongest blob (:func:`find_instances`, as in ``SegnetDetector``), and a frame's
    class is the map with the strongest blob. A present class without any blob scores a pickup
    rate of 0. Returns ``pickup_rate``, ``distance_cm`` (median over found pairs), ``found``
    (share of pairs with a blob), ``single_object_pickup_rate`` (frames holding one object class), ``class_accuracy`` (single-object frames, strongest blob's class),
    ``false_classes_per_frame`` (absent classes with a blob) and ``per_class``.

    ``oracle=True`` scores the ground-truth masks instead of the model's maps: the ceiling of
    any mask-centroid detector under these labels (occlusion, side faces, several instances).
    """
    from grasp_pipeline.perception.segnet.postprocess import find_instances

    was_training = model.training
    model.eval()
    rates: list[float] = []
    single_rates: list[float] = []
    dists: list[float] = []
    per_class: dict[int, list[float]] = {}
    single_n = single_ok = frames = false_pos = 0
    for batch in batches:
        if oracle:
            p_all = batch["masks"].float().numpy()
        else:
            logits, _ = model(batch["image"].to(device))
            p_all = torch.sigmoid(logits.float()).cpu().numpy()  # (B, C, H, W)
        present = batch["present"].bool().numpy()
        for b in range(p_all.shape[0]):
            frames += 1
            best: dict[int, tuple[float, tuple[float, float]]] = {}
            for c in range(p_all.shape[1]):
                inst = find_instances(p_all[b, c], threshold, min_pixels, max_instances=1)
                if inst:
                    best[c] = (inst[0].score, inst[0].pixel)
            false_pos += sum(1 for c in best if not present[b, c])
            cls = np.flatnonzero(present[b])
            if cls.size == 1:
                single_n += 1
                single_ok += bool(best) and max(best, key=lambda c: best[c][0]) == cls[0]
            if cls.size == 0:
                continue
            depth = batch["depth_m"][b].float().expand(len(cls), -1, -1)
            uv = batch["pickup"][b, cls].float()
            z = pickup_depth(depth, uv, batch["masks"][b, cls].float()).numpy()
            fx, fy = (float(v) for v in batch["intrinsics"][b, :2])
            for k, c in enumerate(cls.tolist()):
                if not np.isfinite(z[k]):
                    continue
                if c not in best:
                    r = 0.0
                else:
                    du, dv = np.subtract(best[c][1], uv[k].numpy())
                    d = 100.0 * z[k] * float(np.hypot(du / fx, dv / fy))
                    dists.append(d)
                    r = 1.0 / (d * d + 1.0)
                rates.append(r)
                if cls.size == 1:
                    single_rates.append(r)
                per_class.setdefault(c, []).append(r)
    if was_training:
        model.train()
    if not rates:
        raise ValueError("evaluation data set holds no frame with a present class and depth")
    return {
        "pickup_rate": float(np.mean(rates)),
        "distance_cm": float(np.median(dists)) if dists else float("nan"),
        "found": len(dists) / len(rates),
        "single_object_pickup_rate": float(np.mean(single_rates)) if single_rates else float("nan"),
        "class_accuracy": single_ok / single_n if single_n else float("nan"),
        "single_object_frames": single_n,
        "false_classes_per_frame": false_pos / max(1, frames),
        "pairs": len(rates),
        "frames": frames,
        "per_class": {
            int(c): {"pairs": len(v), "pickup_rate": float(np.mean(v))}
            for c, v in sorted(per_class.items())
        },
    }
