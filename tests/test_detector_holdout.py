"""Detector scoring through ``Detector.detect`` only: hand-checked frame scores, the hold-out runner
on real scenes with the shipped model, and the shipped model's labels in the grown catalog."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from grasp_pipeline.data.format import Frame, ObjectAnnotation
from grasp_pipeline.geometry.camera import preset
from grasp_pipeline.objects import load_catalog
from grasp_pipeline.perception.detector import Detection
from grasp_pipeline.training.detector_metrics import object_regions, score_frame, summarize

SHIPPED = Path(__file__).resolve().parents[1] / "models" / "segnet" / "model.pt"
CAM = preset("d435", 160, 120)


def _det(label: str, u: float, v: float, score: float = 0.9) -> Detection:
    return Detection(label, score, (u, v), np.array([0.0, 0.0, 0.5]), np.eye(4))


def _frame() -> Frame:
    """A ring (M20, hole at its centre) and a bar (F20_20_B), 0.5 m away."""
    mask = np.zeros((120, 160), np.uint16)
    vv, uu = np.mgrid[0:120, 0:160]
    r = np.hypot(uu - 40, vv - 60)
    mask[(r <= 12) & (r >= 6)] = 1  # ring: its hole is background in the mask
    mask[50:70, 100:150] = 2
    z = 0.5
    com1 = np.array([(40 - CAM.cx) * z / CAM.fx, (60 - CAM.cy) * z / CAM.fy, z])
    com2 = np.array([(125 - CAM.cx) * z / CAM.fx, (60 - CAM.cy) * z / CAM.fy, z])
    objs = [
        ObjectAnnotation(
            1, "M20", 6, (46.0, 60.0), None, None, None, None, int((mask == 1).sum()), com1
        ),
        ObjectAnnotation(2, "F20_20_B", 1, (125.0, 60.0), None, None, None, None, 1000, com2),
    ]
    rgb = np.zeros((120, 160, 3), np.uint8)
    depth = np.full((120, 160), 500, np.uint16)
    return Frame("000000", rgb, depth, mask, CAM, None, objs)


def test_hand_checked_frame_scores() -> None:
    frame = _frame()
    regions = object_regions(frame)
    assert regions[1][60, 40]  # the hull covers the ring's hole
    names = load_catalog().names
    # one pixel off the centre of gravity at 0.5 m: d = 100 * 0.5 / fx cm
    d_cm = 100 * 0.5 / CAM.fx
    dets = [
        _det("M20", 41.0, 60.0, 0.8),  # the ring's hole: a hit
        _det("M20", 125.0, 60.0, 0.7),  # weaker M20 on the bar: a false object
        _det("Motor", 120.0, 55.0, 0.95),  # a class not in the frame: a false object
        _det("F20_20_B", 30.0, 10.0, 0.1),  # below min_score: ignored
        _det("F20_20_B", 170.0, 60.0, 0.05),  # outside the image (counted at any score)
    ]
    s = score_frame(dets, frame, ["M20", "F20_20_B"], 0.3, names, regions)
    m20, bar = s.asked
    assert m20.hit and m20.distance_cm == pytest.approx(d_cm)
    assert m20.pickup == pytest.approx(1 / (d_cm**2 + 1))
    assert not bar.detected and not bar.hit and bar.pickup == 0.0
    assert s.false_objects == 2 and s.outside == 1 and s.top_label == "Motor"
    assert m20.chance_random_object == 0.5  # two visible catalog objects, one a ring
    assert 0 < m20.chance_random_pixel < 0.05
    out = summarize([s])
    assert out["hit_rate"] == 0.5 and out["false_objects_per_frame"] == 2
    assert out["per_class"]["M20"]["hit_rate"] == 1.0
    assert out["pickup_rate"] == pytest.approx((1 / (d_cm**2 + 1)) / 2)
    assert out["detections_outside_image"] == 1
    # off the ring (10 cm from its centre at 0.5 m): a miss, and Eq. 4 gives 1 / 101
    far = 40 + 10 * CAM.fx / 50
    s = score_frame([_det("M20", far, 60.0)], frame, ["M20"], 0.3, names, regions)
    assert not s.asked[0].hit and s.asked[0].pickup == pytest.approx(1 / 101)


def test_min_score_is_the_detector_nodes_default() -> None:
    from grasp_pipeline.commands.holdout import TRAINING_SEEDS, holdout_seed, node_min_score
    from grasp_pipeline.ros.detector_node import PARAMS

    (param,) = [p for p in PARAMS if p.name == "min_score"]
    assert node_min_score() == param.default
    seeds = {holdout_seed(p, c) for p in range(2) for c in range(2)}
    assert len(seeds) == 4 and min(seeds) >= 9000 and not seeds & set(TRAINING_SEEDS)


class CallRecorder:
    """A real detector that records how it is called (the benchmark may only call detect)."""

    def __init__(self, inner) -> None:
        self.inner, self.labels, self.calls = inner, inner.labels, []

    def detect(self, rgb, depth, camera, targets=None):
        self.calls.append((rgb.shape, depth.dtype, camera.model, camera.width, targets))
        return self.inner.detect(rgb, depth, camera, targets)

    def __getattr__(self, name):
        raise AttributeError(f"the benchmark used detector.{name}")


@pytest.mark.timeout(120)
def test_holdout_runs_the_shipped_model_through_detect_only() -> None:
    from grasp_pipeline.commands.holdout import run_holdout
    from grasp_pipeline.perception.segnet.detector import SegnetDetector

    det = CallRecorder(SegnetDetector(SHIPPED))
    out = run_holdout(det, "rulebook", "sr300", 3, 9990, 0.3, progress=False)
    assert len(det.calls) == out["frames"] >= 2
    assert all(c == ((480, 640, 3), np.dtype("uint16"), "sr300", 640, None) for c in det.calls)
    for key in ("hit_rate", "pickup_rate", "false_objects_per_frame", "per_class", "chance"):
        assert key in out
    assert 0.0 <= out["chance"]["hit_rate_random_object"] <= 1.0
    assert 0.0 <= out["asked_known_to_detector"] <= 1.0
    json.dumps(out)


def test_shipped_model_keeps_its_names_in_the_grown_catalog() -> None:
    """The checkpoint's label list is the classic 13 in channel order; the catalog still gives
    each of them the class index of its channel, and a detection reports the stored name."""
    from grasp_pipeline.geometry.extrinsics import look_at
    from grasp_pipeline.perception.segnet.detector import SegnetDetector
    from grasp_pipeline.sim.camera import SimCamera
    from grasp_pipeline.sim.world import SimWorld

    catalog = load_catalog()
    det = SegnetDetector(SHIPPED)
    assert det.labels == catalog.pool("classic2018")
    for channel, name in enumerate(det.labels):
        assert catalog[name].class_index == channel + 1
    cam = preset("d435")
    with SimWorld(surface_height=0.05, catalog=catalog) as w:
        T = np.eye(4)
        T[:3, 3] = (0.0, 0.0, 0.05 + catalog["S40_40_G"].size[2] / 2)
        w.spawn_object("S40_40_G", T)
        w.settle(1.0)
        pose = look_at(np.array([0.0, 0.0, 0.5]), np.array([0.0, 0.0, 0.05]), np.array([1.0, 0, 0]))
        r = w.render(SimCamera(cam, pose, noise=False))
    dets = [d for d in det.detect(r.rgb, r.depth, cam) if d.score >= 0.3]
    assert dets and max(dets, key=lambda d: d.score).label == "S40_40_G"
