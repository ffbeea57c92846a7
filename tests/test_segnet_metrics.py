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


class TwoBoxes(torch.nn.Module):
    """One frame, class 0 twice: a big labelled box and a small one whose map is the strongest;
    class 1's map holds a wide faint blob and class 0's a small bright one."""

    def forward(self, x):
        logits = torch.full((x.shape[0], 2, 24, 32), -20.0)
        logits[:, 0, 2:6, 2:6] = 5.0  # the small class-0 instance, peak 0.993
        logits[:, 1, 10:22, 10:30] = 0.5  # a faint, wide class-1 blob: more mass, lower peak
        return logits, logits.amax(dim=(2, 3))


def _two_box_batch(single: bool):
    masks = torch.zeros(1, 2, 24, 32)
    masks[0, 0, 10:20, 14:26] = 1  # the labelled (most visible) instance
    masks[0, 0, 2:6, 2:6] = 1
    present = torch.tensor([[True, False]])
    if not single:
        masks[0, 1, 0:2, 28:32] = 1
        present = torch.tensor([[True, True]])
    inst = torch.full((1, 2, 8, 2), float("nan"))
    inst[0, 0, 0] = torch.tensor([19.5, 14.5])
    inst[0, 0, 1] = torch.tensor([3.5, 3.5])
    pickup = inst[:, :, 0].clone()
    if not single:
        pickup[0, 1] = torch.tensor([29.5, 0.5])
    return {
        "image": torch.zeros(1, 4, 24, 32),
        "masks": masks,
        "pickup": pickup,
        "instances": inst,
        "present": present,
        "depth_m": torch.full((1, 24, 32), 0.5),
        "intrinsics": torch.tensor([[40.0, 40.0, 15.5, 11.5]]),
    }


def test_any_instance_scoring_and_class_rules():
    m = evaluate_detections(TwoBoxes(), [_two_box_batch(single=True)], min_pixels=1)
    # the strongest class-0 blob sits on the small instance: 16 px from the labelled centre
    d = 100 * 0.5 * float(torch.hypot(torch.tensor(16.0), torch.tensor(11.0))) / 40
    assert m["pickup_rate"] == pytest.approx(1 / (d * d + 1), rel=1e-4)
    assert m["pickup_rate_any_instance"] == pytest.approx(1.0)  # ... and on the other instance
    # the faint wide class-1 blob outweighs class 0 by mass, not by peak
    assert m["class_accuracy_by_rule"] == {"mass": 0.0, "peak": 1.0}
    assert m["class_rule"] == "mass" and m["class_accuracy"] == 0.0
    assert m["false_classes_per_frame"] == 1.0
    peak = evaluate_detections(
        TwoBoxes(), [_two_box_batch(single=True)], min_pixels=1, class_rule="peak"
    )
    assert peak["class_accuracy"] == 1.0
    with pytest.raises(ValueError, match="class_rule"):
        evaluate_detections(TwoBoxes(), [_two_box_batch(single=True)], class_rule="votes")


def test_confidence_intervals():
    from grasp_pipeline.training.segnet_metrics import frame_bootstrap_ci, wilson_ci

    lo, hi = wilson_ci(84, 94)  # 0.894 of 94 frames
    assert lo == pytest.approx(0.815, abs=0.005) and hi == pytest.approx(0.941, abs=0.005)
    assert wilson_ci(0, 0)[0] != wilson_ci(0, 0)[0]  # NaN without frames
    # frames of identical values: no spread; one frame per value: the mean's usual spread
    assert frame_bootstrap_ci([0.5] * 6, [0, 0, 1, 1, 2, 2]) == pytest.approx([0.5, 0.5])
    rng = torch.Generator().manual_seed(0)
    v = torch.rand(400, generator=rng).tolist()
    lo, hi = frame_bootstrap_ci(v, list(range(400)))
    se = float(torch.tensor(v).std()) / 20
    assert hi - lo == pytest.approx(2 * 1.96 * se, rel=0.15)
    # a frame's pairs move together: the same values clustered in 40 frames give a wider interval
    lo_c, hi_c = frame_bootstrap_ci(sorted(v), [i // 10 for i in range(400)])
    assert hi_c - lo_c > 2 * (hi - lo)
