"""Scores of a detector's output on annotated frames: what ``Detector.detect`` returned, nothing
re-implemented.

Used by ``grasp-pipeline evaluate segnet`` (a data set on disk) and the hold-out benchmark
(``grasp-pipeline benchmark detector-holdout``, frames from the scene builder). A detection is
*on* an object when its pixel lies in that object's region: the convex hull of the instance mask,
dilated by ``dilate_px`` (holes of nuts, rings and housings count as part of the object).
Pickup rate (paper 000, Eq. 4): E_pickup = 1 - 1 / (d^2 + 1) with d the distance in cm between
the predicted pickup point and the object's centre of gravity, so a pick succeeds with
probability 1 / (d^2 + 1); d is measured in the image plane at the centre of gravity's depth
(pixel offset / focal length x depth), against the nearest object of the class. A class asked for
and not detected scores 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from grasp_pipeline.data.format import Frame
from grasp_pipeline.perception.detector import Detection

DILATE_PX = 2
MIN_VISIBLE_PX = 100  # an object counts as visible (askable, in chance levels) from this size


@dataclass
class AskedScore:
    """One asked-for class in one frame: did the best detection of that label land on an object
    of the class (``hit``), its distance (cm) to the nearest one's centre of gravity and the
    resulting pickup probability; chance levels of the frame for that class."""

    label: str
    detected: bool
    hit: bool
    distance_cm: float
    pickup: float
    chance_random_object: float
    chance_random_pixel: float
    pickup_labelled: float = 0.0  # against the most visible object of the class only


@dataclass
class FrameScore:
    """Scores of one frame. ``false_objects``: detections at or above ``min_score`` with a
    catalog label whose pixel lies on no object of that label; ``outside``: detections (any score)
    whose pixel lies outside the image; ``top_label``: the strongest detection's label."""

    asked: list[AskedScore] = field(default_factory=list)
    false_objects: int = 0
    outside: int = 0
    detections: int = 0
    top_label: str | None = None


def object_regions(frame: Frame, dilate_px: int = DILATE_PX) -> dict[int, np.ndarray]:
    """instance_id -> (H, W) bool: convex hull of the instance mask, dilated by ``dilate_px``."""
    import cv2

    out = {}
    kernel = np.ones((2 * dilate_px + 1, 2 * dilate_px + 1), np.uint8)
    for o in frame.objects:
        mask = (frame.instance_mask == o.instance_id).astype(np.uint8)
        pts = cv2.findNonZero(mask)
        if pts is None:
            continue
        hull = np.zeros_like(mask)
        cv2.fillConvexPoly(hull, cv2.convexHull(pts), 1)
        out[o.instance_id] = cv2.dilate(hull, kernel) > 0
    return out


def _com_pixel(o, frame: Frame) -> tuple[float, float, float] | None:
    """(u, v, z) of the object's centre of gravity in the image, or None."""
    if o.com_camera is None or not o.com_camera[2] > 0:
        return None
    x, y, z = (float(t) for t in o.com_camera)
    cam = frame.camera
    return cam.fx * x / z + cam.cx, cam.fy * y / z + cam.cy, z


def _target_pixel(o, frame: Frame, pickup_label: str) -> tuple[float, float, float] | None:
    """(u, v, z) the pickup is measured against: the centre of gravity, or the annotation's
    pickup pixel at its pickup point's depth."""
    com = _com_pixel(o, frame)
    if pickup_label == "com" or o.pickup_point is None:
        return com
    z = float(o.pickup_point[2]) if o.pickup_point[2] > 0 else (com[2] if com else float("nan"))
    return (float(o.pickup_pixel[0]), float(o.pickup_pixel[1]), z) if np.isfinite(z) else None


def _inside_image(det: Detection, width: int, height: int) -> bool:
    u, v = det.pixel
    return bool(
        np.isfinite(u) and np.isfinite(v) and -0.5 <= u < width - 0.5 and -0.5 <= v < height - 0.5
    )


def score_frame(
    detections: Sequence[Detection],
    frame: Frame,
    asked: Sequence[str],
    min_score: float,
    catalog_labels: Iterable[str],
    regions: dict[int, np.ndarray] | None = None,
    pickup_label: str = "com",
) -> FrameScore:
    """Score ``detections`` (one ``Detector.detect`` call on ``frame``) for the ``asked`` labels.

    Detections below ``min_score`` are dropped first, as the detector node does; the best
    detection of a label is its highest-scoring one. ``pickup_label``: distances to the centre of
    gravity ("com", paper 000) or to the annotation's mask-snapped ``pickup_pixel``
    ("annotated").
    """
    if pickup_label not in ("com", "annotated"):
        raise ValueError(f"pickup_label must be 'com' or 'annotated', got {pickup_label!r}")
    regions = object_regions(frame) if regions is None else regions
    W, H = frame.camera.width, frame.camera.height
    catalog_labels = set(catalog_labels)
    score = FrameScore(detections=len(detections))
    score.outside = sum(not _inside_image(d, W, H) for d in detections)
    kept = [d for d in detections if d.score >= min_score]
    if kept:
        score.top_label = max(kept, key=lambda d: d.score).label
    on_label: dict[str, np.ndarray] = {}
    for o in frame.objects:
        if o.instance_id in regions:
            prev = on_label.get(o.label)
            r = regions[o.instance_id]
            on_label[o.label] = r if prev is None else prev | r

    def on(det: Detection) -> bool:
        region = on_label.get(det.label)
        if region is None or not _inside_image(det, W, H):
            return False
        u, v = (round(float(c)) for c in det.pixel)
        return bool(region[min(max(v, 0), H - 1), min(max(u, 0), W - 1)])

    score.false_objects = sum(1 for d in kept if d.label in catalog_labels and not on(d))
    visible = [o for o in frame.objects if o.visible_pixels >= MIN_VISIBLE_PX]
    for label in asked:
        mine = [d for d in kept if d.label == label]
        best = max(mine, key=lambda d: d.score) if mine else None
        objs = sorted(
            (o for o in frame.objects if o.label == label), key=lambda o: -o.visible_pixels
        )
        targets = [t for o in objs if (t := _target_pixel(o, frame, pickup_label))]
        dist = dist_labelled = float("nan")
        if best is not None and targets:
            u, v = best.pixel
            d_all = [
                100.0 * z * float(np.hypot((u - tu) / frame.camera.fx, (v - tv) / frame.camera.fy))
                for tu, tv, z in targets
            ]
            dist, dist_labelled = min(d_all), d_all[0]
        region = on_label.get(label)
        score.asked.append(
            AskedScore(
                label=label,
                detected=best is not None,
                hit=best is not None and on(best),
                distance_cm=dist,
                pickup=1.0 / (dist * dist + 1.0) if np.isfinite(dist) else 0.0,
                pickup_labelled=(
                    1.0 / (dist_labelled**2 + 1.0) if np.isfinite(dist_labelled) else 0.0
                ),
                chance_random_object=(
                    sum(o.label == label for o in visible) / len(visible) if visible else 0.0
                ),
                chance_random_pixel=float(region.mean()) if region is not None else 0.0,
            )
        )
    return score


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if len(values) else float("nan")


def summarize(scores: Sequence[FrameScore]) -> dict:
    """Figures over frames: ``hit_rate``, ``pickup_rate`` (means over asked classes),
    ``detected_rate``, ``distance_cm_median`` (over detected ones), ``false_objects_per_frame``,
    ``detections_outside_image``, ``per_class`` (label -> asked, hit_rate, pickup_rate), the
    chance levels and 95 % intervals (frames resampled for the rates)."""
    from grasp_pipeline.training.segnet_metrics import frame_bootstrap_ci

    asked = [(i, a) for i, s in enumerate(scores) for a in s.asked]
    hits = [float(a.hit) for _, a in asked]
    picks = [a.pickup for _, a in asked]
    frame_of = [i for i, _ in asked]
    dists = [a.distance_cm for _, a in asked if np.isfinite(a.distance_cm)]
    per_class: dict[str, dict] = {}
    for label in sorted({a.label for _, a in asked}):
        mine = [a for _, a in asked if a.label == label]
        per_class[label] = {
            "asked": len(mine),
            "hit_rate": _mean([float(a.hit) for a in mine]),
            "pickup_rate": _mean([a.pickup for a in mine]),
        }
    return {
        "frames": len(scores),
        "asked": len(asked),
        "hit_rate": _mean(hits),
        "hit_rate_ci95": frame_bootstrap_ci(hits, frame_of),
        "pickup_rate": _mean(picks),
        "pickup_rate_ci95": frame_bootstrap_ci(picks, frame_of),
        "pickup_rate_labelled_instance": _mean([a.pickup_labelled for _, a in asked]),
        "detected_rate": _mean([float(a.detected) for _, a in asked]),
        "distance_cm_median": float(np.median(dists)) if dists else float("nan"),
        "false_objects_per_frame": _mean([s.false_objects for s in scores]),
        "detections_per_frame": _mean([s.detections for s in scores]),
        "detections_outside_image": int(sum(s.outside for s in scores)),
        "chance": {
            # a detector that labels a random visible catalog object of the frame with the asked
            # class (its pickup at that object's centre of gravity): hits, and picks, exactly when
            # that object is of the class
            "hit_rate_random_object": _mean([a.chance_random_object for _, a in asked]),
            "pickup_rate_random_object": _mean([a.chance_random_object for _, a in asked]),
            # a detector that reports a uniformly random pixel
            "hit_rate_random_pixel": _mean([a.chance_random_pixel for _, a in asked]),
        },
        "per_class": per_class,
    }
