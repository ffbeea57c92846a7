"""Trainer: learning on small boxes, logs, and bit-identical resume after an interruption."""

import csv
import json

import pytest
import torch
from segnet_fixtures import BoxesDataset

from grasp_pipeline.perception.segnet import SegNetConfig
from grasp_pipeline.training.checkpoint import load_checkpoint
from grasp_pipeline.training.segnet_trainer import SegNetTrainer, TrainConfig

MCFG = SegNetConfig(width=32, height=24, num_classes=3, filters=(6, 12, 16, 24))


def _trainer(out, method="auxnet", steps=20, **kw):
    tcfg = TrainConfig(method=method, steps=steps, lr=2e-3, eval_every=10, batch_size=4, **kw)
    return SegNetTrainer(MCFG, tcfg, BoxesDataset(24, seed=0), BoxesDataset(8, seed=1), out)


@pytest.mark.parametrize("method", ["auxnet", "dwa", "kgc_mean"])
def test_resume_gives_identical_numbers(tmp_path, method):
    torch.set_num_threads(1)
    a = _trainer(tmp_path / "a", method)
    hist_a = a.fit(progress=False)
    b = _trainer(tmp_path / "b", method)
    b.fit(progress=False, stop_after=10)
    del b  # "killed" after its step-10 checkpoint
    b2 = _trainer(tmp_path / "b", method)
    assert b2.step == 10
    hist_b = b2.fit(progress=False)
    assert [h["iou_error"] for h in hist_a] == [h["iou_error"] for h in hist_b]
    assert [h["distance_px"] for h in hist_a] == [h["distance_px"] for h in hist_b]
    for k, v in a.model.state_dict().items():
        assert torch.equal(v, b2.model.state_dict()[k]), k
    rows = list(csv.DictReader((tmp_path / "b" / "eval.csv").open()))
    assert [int(r["step"]) for r in rows] == [0, 10, 20]


def test_learns_boxes_and_writes_logs(tmp_path):
    torch.set_num_threads(1)
    t = _trainer(tmp_path, "sum", steps=120)
    hist = t.fit(progress=False)
    assert hist[-1]["distance_px"] < 0.6 * hist[0]["distance_px"]
    assert hist[-1]["iou_error"] < hist[0]["iou_error"] - 0.1
    doc = json.loads((tmp_path / "metrics.json").read_text())
    assert doc["history"][-1]["step"] == 120 and doc["parameters"] > 0
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    assert state["step"] == 120 and state["config"]["model"] == MCFG.to_dict()
    rows = list(csv.DictReader((tmp_path / "train.csv").open()))
    assert len(rows) == 12 and "mult_iou" in rows[0]


def test_resume_refuses_other_model_config(tmp_path):
    _trainer(tmp_path, steps=2).fit(progress=False)
    other = SegNetConfig(width=32, height=24, num_classes=3, filters=(4, 8, 16, 24))
    with pytest.raises(ValueError, match="another model config"):
        SegNetTrainer(other, TrainConfig(steps=2), BoxesDataset(4), BoxesDataset(2), tmp_path)


def test_augmented_batch_keeps_labels_on_the_objects():
    from grasp_pipeline.perception.segnet.losses import weighted_centroid
    from grasp_pipeline.training.segnet_trainer import augment_batch, collate

    data = BoxesDataset(16, seed=3)
    b = collate([data[i] for i in range(16)])
    torch.manual_seed(0)
    a = augment_batch(b)
    flipped = ~torch.equal(a["masks"], b["masks"])
    assert flipped  # 16 samples: some were flipped
    for i in range(16):
        c = int(torch.nonzero(a["present"][i])[0])
        # the pickup pixel follows the flipped mask: still its centre
        centre = weighted_centroid(a["masks"][i, c][None].float())[0]
        assert torch.allclose(centre, a["pickup"][i, c], atol=1e-4)
        assert float(a["intrinsics"][i, 2]) == pytest.approx((32 - 1) / 2)
    assert a["image"][:, :3].min() >= 0 and a["image"][:, :3].max() <= 1
    assert torch.equal(a["image"][:, 3].sum(), b["image"][:, 3].sum())  # depth is only moved


def test_cosine_schedule_and_presence_target(tmp_path):
    from grasp_pipeline.training.segnet_trainer import dense_bce, presence_cross_entropy

    t = _trainer(tmp_path, steps=100, lr_schedule="cosine", lr_warmup=10)
    assert t.lr_at(0) == pytest.approx(2e-4) and t.lr_at(9) == pytest.approx(2e-3)
    assert t.lr_at(100) == pytest.approx(2e-3 * 0.02)
    assert t.lr_at(10) > t.lr_at(50) > t.lr_at(90)
    logits = torch.tensor([[5.0, 5.0, -20.0], [0.0, 30.0, 0.0]])
    present = torch.tensor([[True, True, False], [False, True, False]])
    # the ideal output for a two-class frame is an even split: log 2 per frame
    assert float(presence_cross_entropy(logits, present)) == pytest.approx(0.5 * 0.6931, abs=1e-3)
    masks = torch.zeros(1, 2, 4, 4)
    masks[0, 0, 1, 1] = 1
    good = torch.where(masks > 0, 20.0, -20.0)
    assert float(dense_bce(good, masks)) < 1e-6 < float(dense_bce(-good, masks))


def test_dense_options_learn_boxes(tmp_path):
    torch.set_num_threads(1)
    t = _trainer(
        tmp_path, "dwa", steps=120, dense_weight=1.0, cls_target="present", batch_augment=True
    )
    hist = t.fit(progress=False)
    assert hist[-1]["distance_px"] < 0.6 * hist[0]["distance_px"]
    rows = list(csv.DictReader((tmp_path / "train.csv").open()))
    assert "dense" in rows[0] and float(rows[-1]["dense"]) < float(rows[0]["dense"])


def test_init_from_a_checkpoint_of_another_input_size(tmp_path):
    from grasp_pipeline.commands.segnet import init_weights

    src = _trainer(tmp_path / "src", steps=2)
    src.fit(progress=False)
    big = SegNetConfig(width=64, height=48, num_classes=3, filters=(6, 12, 16, 24))
    t = SegNetTrainer(big, TrainConfig(steps=2), BoxesDataset(4), BoxesDataset(2), tmp_path / "b")
    init_weights(t, str(tmp_path / "src" / "checkpoint.pt"))
    for k, v in src.model.state_dict().items():
        assert torch.equal(v, t.model.state_dict()[k]), k
    other = SegNetConfig(width=64, height=48, num_classes=3, filters=(4, 12, 16, 24))
    t2 = SegNetTrainer(
        other, TrainConfig(steps=2), BoxesDataset(4), BoxesDataset(2), tmp_path / "c"
    )
    with pytest.raises(ValueError, match="differs"):
        init_weights(t2, str(tmp_path / "src" / "checkpoint.pt"))


@pytest.mark.parametrize(
    "kw", [{"lr_schedule": "step"}, {"cls_target": "all"}, {"dense_weight": -1.0}]
)
def test_bad_train_config_named(kw):
    with pytest.raises(ValueError, match=next(iter(kw))):
        TrainConfig(**kw)


def test_offset_head_learns_to_vote_for_box_centres(tmp_path):
    from grasp_pipeline.training.segnet_trainer import offset_loss

    torch.set_num_threads(1)
    target = BoxesDataset(2, seed=4, offsets=True)[0]["offset"][None]
    assert float(offset_loss(torch.nan_to_num(target), target)) == 0.0
    assert float(offset_loss(torch.nan_to_num(target) + 3.0, target)) == pytest.approx(2 * 2.5)
    mcfg = SegNetConfig(
        width=32, height=24, num_classes=3, filters=(6, 12, 16, 24), offset_head=True
    )
    tcfg = TrainConfig(
        method="dwa", steps=150, lr=3e-3, eval_every=150, batch_size=4, offset_weight=1.0
    )
    t = SegNetTrainer(
        mcfg, tcfg, BoxesDataset(24, seed=0, offsets=True), BoxesDataset(8, seed=1), tmp_path
    )
    t.fit(progress=False)
    rows = list(csv.DictReader((tmp_path / "train.csv").open()))
    first, last = float(rows[0]["offset"]), float(rows[-1]["offset"])
    assert last < 0.5 * first, (first, last)
    with pytest.raises(ValueError, match="offset_head"):
        SegNetTrainer(MCFG, tcfg, BoxesDataset(4), BoxesDataset(2), tmp_path / "x")


def test_init_adds_an_offset_head_to_a_checkpoint_without_one(tmp_path):
    from grasp_pipeline.commands.segnet import init_weights

    src = _trainer(tmp_path / "src", steps=2)
    src.fit(progress=False)
    ckpt = str(tmp_path / "src" / "checkpoint.pt")
    head = SegNetConfig(
        width=32, height=24, num_classes=3, filters=(6, 12, 16, 24), offset_head=True
    )
    t = SegNetTrainer(head, TrainConfig(steps=2), BoxesDataset(4), BoxesDataset(2), tmp_path / "h")
    init_weights(t, ckpt)
    for k, v in src.model.state_dict().items():
        assert torch.equal(v, t.model.state_dict()[k]), k
    # the other way round would drop trained weights: refused
    t.save()
    plain = SegNetTrainer(
        MCFG, TrainConfig(steps=2), BoxesDataset(4), BoxesDataset(2), tmp_path / "p"
    )
    with pytest.raises(ValueError, match="differs"):
        init_weights(plain, str(tmp_path / "h" / "checkpoint.pt"))


def test_augmented_batch_flips_offsets_and_instances():
    from grasp_pipeline.perception.segnet.postprocess import find_instances
    from grasp_pipeline.training.segnet_trainer import augment_batch, collate

    data = BoxesDataset(16, seed=3, offsets=True, size=5)
    b = collate([data[i] for i in range(16)])
    torch.manual_seed(1)
    a = augment_batch(b)
    assert not torch.equal(a["masks"], b["masks"])
    for i in range(16):
        c = int(torch.nonzero(a["present"][i])[0])
        # perfect offsets still vote for the (flipped) labelled centre, which is the instance
        (inst,) = find_instances(a["masks"][i, c].numpy(), offsets=a["offset"][i].numpy())
        assert inst.pixel == pytest.approx(tuple(a["pickup"][i, c].tolist()), abs=1e-4)
        assert torch.equal(a["instances"][i, c, 0], a["pickup"][i, c])
