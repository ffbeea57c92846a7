"""Validation metrics of the segmentation network over a whole data set."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

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


CLASS_RULES = ("mass", "peak")


def frame_bootstrap_ci(
    values: list[float], frame_of: list[int], n_boot: int = 2000, seed: int = 0
) -> list[float]:
    """95 % percentile interval of the mean of ``values`` when whole frames (``frame_of`` gives
    each value's frame) are resampled with replacement."""
    v, f = np.asarray(values, float), np.asarray(frame_of)
    if v.size == 0:
        return [float("nan"), float("nan")]
    ids, inv = np.unique(f, return_inverse=True)
    sums = np.bincount(inv, weights=v, minlength=ids.size)
    counts = np.bincount(inv, minlength=ids.size).astype(float)
    draw = np.random.default_rng(seed).integers(0, ids.size, size=(n_boot, ids.size))
    means = sums[draw].sum(axis=1) / counts[draw].sum(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return [float(lo), float(hi)]


def wilson_ci(successes: int, n: int, z: float = 1.96) -> list[float]:
    """Wilson score interval of a binomial proportion (95 % for z = 1.96)."""
    if n == 0:
        return [float("nan"), float("nan")]
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [float(centre - half), float(centre + half)]


def _distance_cm(pixel: np.ndarray, target: np.ndarray, z: float, fx: float, fy: float) -> float:
    """Metric distance (cm) at depth ``z`` between two pixels (u, v)."""
    du, dv = np.subtract(pixel, target)
    return 100.0 * z * float(np.hypot(du / fx, dv / fy))


def detection_maps(
    model: torch.nn.Module,
    batches: Iterable[dict[str, torch.Tensor]],
    device: str = "cpu",
    oracle: bool = False,
) -> Iterator[tuple[dict, np.ndarray, np.ndarray | None]]:
    """(batch, sigmoid maps (B, C, H, W), offsets (B, 2, H, W) or None) for each batch: the
    model's outputs, or the batch's ground-truth masks when ``oracle`` (no offsets). Any module
    returning (logits, class_logits) works; SegNet adds its offsets through ``forward_all``."""
    was_training = model.training
    model.eval()
    try:
        for batch in batches:
            if oracle:
                yield batch, batch["masks"].float().numpy(), None
                continue
            x = batch["image"].to(device)
            with torch.no_grad():
                logits, _, off = (
                    model.forward_all(x) if hasattr(model, "forward_all") else (*model(x), None)
                )
            p_all = torch.sigmoid(logits.float()).cpu().numpy()
            yield batch, p_all, None if off is None else off.float().cpu().numpy()
    finally:
        if was_training:
            model.train()


def evaluate_detections(
    model: torch.nn.Module,
    batches: Iterable[dict[str, torch.Tensor]],
    device: str = "cpu",
    threshold: float = 0.5,
    min_pixels: int = 3,
    oracle: bool = False,
    class_rule: str = "mass",
    vote_weight: float = 1.0,
    vote_mode: str = "mean",
) -> dict[str, float]:
    """:func:`score_detections` of the model's maps over ``batches`` (``oracle=True``: of the
    ground-truth masks, the ceiling of any mask-centroid detector under these labels: occlusion,
    side faces, several instances)."""
    return score_detections(
        detection_maps(model, batches, device, oracle),
        threshold=threshold,
        min_pixels=min_pixels,
        class_rule=class_rule,
        vote_weight=vote_weight,
        vote_mode=vote_mode,
    )


def score_detections(
    outputs: Iterable[tuple[dict, np.ndarray, np.ndarray | None]],
    threshold: float = 0.5,
    min_pixels: int = 3,
    class_rule: str = "mass",
    vote_weight: float = 1.0,
    vote_mode: str = "mean",
) -> dict[str, float]:
    """Frame/class pairs of :func:`detection_maps` ``outputs`` scored the way the detector is
    used: the pickup point of a class is its strongest blob (:func:`find_instances`, as in
    ``SegnetDetector``; with the network's offset votes, ``vote_weight`` and ``vote_mode``, when it
    has an offset head), and a frame's class is the class of the blob with the most
    activation mass (``class_rule="mass"``) or the highest peak (``"peak"``). A present class
    without any blob scores a pickup rate of 0.

    Returns ``pickup_rate`` against the labelled (most visible) instance of the class and
    ``pickup_rate_any_instance`` against the nearest instance of the class (when the batches carry
    ``instances``: a robot asked for a class may pick any of its instances), ``distance_cm``
    (median over found pairs), ``found`` (share of pairs with a blob), the same two rates on
    frames holding one object class, ``class_accuracy`` (single-object frames, by ``class_rule``;
    both rules are also reported), ``false_classes_per_frame`` (absent classes with a blob) and
    ``per_class``.
    """
    from grasp_pipeline.perception.segnet.postprocess import find_instances

    if class_rule not in CLASS_RULES:
        raise ValueError(f"class_rule must be one of {CLASS_RULES}, got {class_rule!r}")
    rates: list[float] = []
    rates_any: list[float] = []
    single_rates: list[float] = []
    single_any: list[float] = []
    dists: list[float] = []
    per_class: dict[int, list[float]] = {}
    per_class_any: dict[int, list[float]] = {}
    single_ok = dict.fromkeys(CLASS_RULES, 0)
    single_n = frames = false_pos = 0
    pair_frame: list[int] = []  # the frame of each scored pair, for the confidence interval
    for batch, p_all, offsets in outputs:
        present = batch["present"].bool().numpy()
        instances = batch.get("instances")
        for b in range(p_all.shape[0]):
            frames += 1
            best = {}
            for c in range(p_all.shape[1]):
                inst = find_instances(
                    p_all[b, c],
                    threshold,
                    min_pixels,
                    max_instances=1,
                    offsets=None if offsets is None else offsets[b],
                    vote_weight=vote_weight,
                    vote_mode=vote_mode,
                )
                if inst:
                    best[c] = inst[0]
            false_pos += sum(1 for c in best if not present[b, c])
            cls = np.flatnonzero(present[b])
            if cls.size == 1:
                single_n += 1
                if best:
                    single_ok["peak"] += max(best, key=lambda c: best[c].score) == cls[0]
                    single_ok["mass"] += max(best, key=lambda c: best[c].mass) == cls[0]
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
                    r = r_any = 0.0
                else:
                    p = np.asarray(best[c].pixel)
                    d = _distance_cm(p, uv[k].numpy(), float(z[k]), fx, fy)
                    dists.append(d)
                    r = 1.0 / (d * d + 1.0)
                    if instances is not None:
                        cand = instances[b, c].numpy()
                        cand = cand[np.isfinite(cand).all(axis=1)]
                        d_any = min(
                            (_distance_cm(p, t, float(z[k]), fx, fy) for t in cand), default=d
                        )
                        r_any = 1.0 / (d_any * d_any + 1.0)
                    else:
                        r_any = r
                rates.append(r)
                rates_any.append(r_any)
                pair_frame.append(frames)
                if cls.size == 1:
                    single_rates.append(r)
                    single_any.append(r_any)
                per_class.setdefault(c, []).append(r)
                per_class_any.setdefault(c, []).append(r_any)
    if not rates:
        raise ValueError("evaluation data set holds no frame with a present class and depth")

    def mean(v: list[float]) -> float:
        return float(np.mean(v)) if v else float("nan")

    accuracy = {rule: n / single_n if single_n else float("nan") for rule, n in single_ok.items()}
    return {
        "pickup_rate": mean(rates),
        "pickup_rate_any_instance": mean(rates_any),
        "distance_cm": float(np.median(dists)) if dists else float("nan"),
        "found": len(dists) / len(rates),
        "single_object_pickup_rate": mean(single_rates),
        "single_object_pickup_rate_any_instance": mean(single_any),
        "class_rule": class_rule,
        "class_accuracy": accuracy[class_rule],
        "class_accuracy_by_rule": accuracy,
        # 95 % intervals: frames resampled with their pairs (pairs of a frame are not
        # independent), and Wilson's interval for the single-object class accuracy.
        "pickup_rate_any_instance_ci95": frame_bootstrap_ci(rates_any, pair_frame),
        "class_accuracy_ci95": wilson_ci(single_ok[class_rule], single_n),
        "single_object_frames": single_n,
        "false_classes_per_frame": false_pos / max(1, frames),
        "pairs": len(rates),
        "frames": frames,
        "per_class": {
            int(c): {
                "pairs": len(v),
                "pickup_rate": mean(v),
                "pickup_rate_any_instance": mean(per_class_any[c]),
            }
            for c, v in sorted(per_class.items())
        },
    }
