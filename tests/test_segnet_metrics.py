"""Detector-style scoring of a segmentation model: perfect, shifted and silent maps."""

import pytest
import torch
from segnet_fixtures import BoxesDataset

from grasp_pipeline.training.segnet_metrics import evaluate_detections, evaluate_segnet
from grasp_pipeline.training.segnet_trainer import iterate_batches


class MaskOracle(torch.nn.Module):
    """Returns the data set's own masks as logits, shifted ``shift`` pixels to the right."""

    def __init__(self, data, shift: int = 0, silent: bool = False) -> None:
        super().__init__()
        self.lookup = {it["image"].numpy().tobytes(): it["masks"] for it in data}
        self.shift, self.silent = shift, silent

    def forward(self, x):
        masks = torch.stack([self.lookup[img.numpy().tobytes()] for img in x])
        masks = torch.roll(masks, self.shift, dims=-1)
        logits = torch.where(masks > 0, 20.0, -20.0)
        if self.silent:
            logits = torch.full_like(logits, -20.0)
        return logits, logits.amax(dim=(2, 3))


def _eval(model, data):
    return evaluate_detections(model, iterate_batches(data, 4))


def test_perfect_maps_score_one_and_find_every_class():
    data = BoxesDataset(12, seed=5, max_objects=2)
    m = _eval(MaskOracle(data), data)
    assert m["pickup_rate"] == pytest.approx(1.0, abs=1e-6)
    assert m["found"] == 1.0 and m["false_classes_per_frame"] == 0.0
    assert m["class_accuracy"] == 1.0
    assert m["pairs"] == sum(int(it["present"].sum()) for it in data)


def test_shifted_maps_score_the_pickup_formula():
    data = BoxesDataset(8, seed=6)
    m = _eval(MaskOracle(data, shift=2), data)
    # 2 px at fx = 40 px and z = 0.45 m (box top at the pickup pixel): d = 2.25 cm
    d = 100 * 0.45 * 2 / 40
    assert m["distance_cm"] == pytest.approx(d, rel=1e-4)
    assert m["pickup_rate"] == pytest.approx(1 / (d * d + 1), rel=1e-4)
    paper = evaluate_segnet(MaskOracle(data, shift=2), iterate_batches(data, 4))
    assert paper["pickup_rate"] == pytest.approx(m["pickup_rate"], rel=1e-3)


def test_silent_maps_score_zero():
    data = BoxesDataset(8, seed=7)
    m = _eval(MaskOracle(data, silent=True), data)
    assert m["pickup_rate"] == 0.0 and m["found"] == 0.0 and m["class_accuracy"] == 0.0


def test_oracle_scores_the_ground_truth_masks():
    data = BoxesDataset(8, seed=8, max_objects=2)
    m = evaluate_detections(MaskOracle(data, silent=True), iterate_batches(data, 4), oracle=True)
    assert m["pickup_rate"] == pytest.approx(1.0, abs=1e-6) and m["class_accuracy"] == 1.0
