"""SegmentationDataset: hand-checked downscaling, targets, normalisation, augmentation, collate."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from segnet_fixtures import evaluate_segnet_cli

from grasp_pipeline.data.format import Frame, ObjectAnnotation, write_frame, write_manifest
from grasp_pipeline.data.generate import GenerationConfig, generate_dataset
from grasp_pipeline.data.segmentation_dataset import SegmentationDataset, collate_segmentation
from grasp_pipeline.geometry.camera import CameraIntrinsics


def _obj(iid: int, label: str, ci: int, pixel, visible: int) -> ObjectAnnotation:
    return ObjectAnnotation(iid, label, ci, pixel, None, None, None, None, visible)


@pytest.fixture
def handmade(tmp_path):
    """64x48 frame: a 20x10 M30 (class 7) rectangle, a small and a large M20 (class 6)."""
    cam = CameraIntrinsics(64, 48, 60.0, 60.0, 31.5, 23.5)
    rgb = np.zeros((48, 64, 3), np.uint8)
    rgb[..., 0] = 255
    depth = np.full((48, 64), 500, np.uint16)  # 0.5 m
    depth[:, :8] = 0  # missing
    depth[:, 56:] = 1500  # beyond depth_max -> clipped to 1
    mask = np.zeros((48, 64), np.uint16)
    mask[10:20, 20:40] = 1
    mask[30:32, 2:4] = 2
    mask[30:40, 44:56] = 3
    objects = [
        _obj(1, "M30", 7, (29.0, 15.0), 200),
        _obj(2, "M20", 6, (3.0, 31.0), 4),
        _obj(3, "M20", 6, (49.0, 35.0), 120),
    ]
    write_frame(tmp_path, Frame("000000", rgb, depth, mask, cam, None, objects))
    write_manifest(tmp_path, {"classes": [f"c{i}" for i in range(13)]})
    return tmp_path


def test_item_by_hand(handmade):
    ds = SegmentationDataset(handmade, size=(32, 24), depth_max_m=1.0)
    assert len(ds) == 1 and ds.num_classes == 13
    item = ds[0]
    assert item["image"].shape == (4, 24, 32) and item["image"].dtype == torch.float32
    assert item["masks"].shape == (13, 24, 32)
    img = item["image"].numpy()
    np.testing.assert_allclose(img[0], 1.0)  # red
    np.testing.assert_allclose(img[1:3], 0.0)
    assert img[3, 10, 10] == pytest.approx(0.5)  # 500 mm / 1 m
    assert img[3, 10, 0] == 0.0 and np.isnan(item["depth_m"][10, 0].item())  # missing depth
    assert img[3, 10, 30] == 1.0 and item["depth_m"][10, 30] == pytest.approx(
        1.5
    )  # clipped input only
    # the M30 rectangle rows 10..19, cols 20..39 becomes rows 5..9, cols 10..19 at half size
    m30 = item["masks"][6].numpy()
    assert m30.sum() == 50 and m30[5:10, 10:20].all()
    # largest M20 instance gives the class's pickup; u' = (u + 0.5) / 2 - 0.5
    np.testing.assert_allclose(item["pickup"][6].numpy(), [14.25, 7.25])
    np.testing.assert_allclose(item["pickup"][5].numpy(), [24.25, 17.25])
    assert item["present"].nonzero().flatten().tolist() == [5, 6]
    assert torch.isnan(item["pickup"][0]).all()
    np.testing.assert_allclose(item["intrinsics"].numpy(), [30.0, 30.0, 15.5, 11.5])
    assert item["frame_id"] == "000000"


def test_flip_augmentation_keeps_targets_consistent(handmade):
    ds = SegmentationDataset(handmade, size=(32, 24), augment=True)
    plain = SegmentationDataset(handmade, size=(32, 24))[0]
    flips = 0
    for seed in range(12):
        torch.manual_seed(seed)
        item = ds[0]
        # (the principal point 15.5 of a 32-px image is symmetric, so look at the pickup)
        flipped = item["pickup"][6, 0] != plain["pickup"][6, 0]
        if flipped:
            flips += 1
            np.testing.assert_array_equal(item["masks"].numpy(), plain["masks"].numpy()[:, :, ::-1])
            assert item["pickup"][6, 0].item() == pytest.approx(31 - 14.25)
            assert item["intrinsics"][2].item() == pytest.approx(31 - 15.5)
        else:
            np.testing.assert_array_equal(item["masks"].numpy(), plain["masks"].numpy())
        assert item["image"].min() >= 0.0 and item["image"].max() <= 1.0
    assert 0 < flips < 12
    torch.manual_seed(5)
    a = ds[0]
    torch.manual_seed(5)
    b = ds[0]
    assert torch.equal(a["image"], b["image"])  # seeded through torch's RNG


def test_errors_name_the_problem(handmade, tmp_path):
    with pytest.raises(ValueError, match="no frames"):
        SegmentationDataset(handmade, frame_ids=[])
    with pytest.raises(ValueError, match="depth_max_m"):
        SegmentationDataset(handmade, depth_max_m=0)
    ann = handmade / "frames" / "000000" / "annotation.json"
    ann.write_text(ann.read_text().replace('"class_index": 7', '"class_index": 14'))
    with pytest.raises(ValueError, match=r"class_index 14 outside 1..13"):
        SegmentationDataset(handmade)[0]
    (handmade / "frames" / "000000" / "depth.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"000000/depth.png"):
        SegmentationDataset(handmade)[0]


def test_generated_frames_batch_and_pickups_on_masks(tmp_path):
    generate_dataset(
        tmp_path, GenerationConfig(scenes=3, seed=2, width=320, height=240), progress=False
    )
    ds = SegmentationDataset(tmp_path, pickup_label="annotated")
    loader = torch.utils.data.DataLoader(ds, batch_size=3, collate_fn=collate_segmentation)
    batch = next(iter(loader))
    assert batch["image"].shape == (3, 4, 192, 256) and batch["masks"].shape == (3, 13, 192, 256)
    assert batch["pickup"].shape == (3, 13, 2) and batch["frame_id"] == [
        "000000",
        "000001",
        "000002",
    ]
    on_mask = total = 0
    for b in range(3):
        for c in batch["present"][b].nonzero().flatten().tolist():
            u, v = batch["pickup"][b, c].round().long().tolist()
            total += 1
            on_mask += int(batch["masks"][b, c, v, u] > 0)
    assert total >= 3 and on_mask / total >= 0.8
    # projected centres of mass lie on or next to their objects' masks (off it only where the
    # object is hollow or partly hidden)
    com = collate_segmentation([SegmentationDataset(tmp_path)[i] for i in range(3)])
    gaps = []
    for b in range(3):
        for c in com["present"][b].nonzero().flatten().tolist():
            vs, us = np.nonzero(com["masks"][b, c].numpy())
            u, v = com["pickup"][b, c].tolist()
            gaps.append(np.hypot(us - u, vs - v).min())
    assert np.mean(np.asarray(gaps) < 2.0) >= 0.7 and max(gaps) < 30
    with pytest.raises(ValueError, match="empty batch"):
        collate_segmentation([])


def test_pickup_label_com_is_the_projected_centre_of_mass(tmp_path):
    """A nut seen along its axis: its projected centre of mass lies in the hole; the annotation
    snaps it onto the ring. ``com`` (default) trains on the former, ``annotated`` on the latter."""
    cam = CameraIntrinsics(64, 48, 60.0, 60.0, 31.5, 23.5)
    mask = np.zeros((48, 64), np.uint16)
    vv, uu = np.mgrid[:48, :64]
    r = np.hypot(uu - 40.0, vv - 20.0)
    mask[(r >= 3) & (r <= 7)] = 1  # a ring around pixel (40, 20)
    com = np.array([(40.0 - 31.5) / 60.0 * 0.5, (20.0 - 23.5) / 60.0 * 0.5, 0.5])
    nut = ObjectAnnotation(1, "M30", 7, (43.0, 20.0), None, None, None, None, 80, com)
    rgb = np.zeros((48, 64, 3), np.uint8)
    depth = np.full((48, 64), 500, np.uint16)
    write_frame(tmp_path, Frame("000000", rgb, depth, mask, cam, None, [nut]))
    write_manifest(tmp_path, {"classes": [f"c{i}" for i in range(13)]})
    com_item = SegmentationDataset(tmp_path, size=(64, 48))[0]
    np.testing.assert_allclose(com_item["pickup"][6].numpy(), [40.0, 20.0], atol=1e-4)
    assert com_item["masks"][6, 20, 40] == 0  # in the hole
    snapped = SegmentationDataset(tmp_path, size=(64, 48), pickup_label="annotated")[0]
    np.testing.assert_allclose(snapped["pickup"][6].numpy(), [43.0, 20.0])
    with pytest.raises(ValueError, match="pickup_label"):
        SegmentationDataset(tmp_path, size=(64, 48), pickup_label="centroid")


@pytest.mark.parametrize("label", ["com", "annotated"])
def test_train_command_passes_the_pickup_label_to_every_split(handmade, label):
    from grasp_pipeline.cli import build_parser
    from grasp_pipeline.commands.segnet import _datasets

    args = build_parser().parse_args(
        [
            "train",
            "segnet",
            "--data",
            str(handmade),
            str(handmade),
            "--val",
            str(handmade),
            "--out",
            "unused",
            "--pickup-label",
            label,
            "--width",
            "32",
            "--height",
            "24",
        ]
    )
    train, val = _datasets(args)
    assert len(train) == 2 and len(val) == 1
    assert {d.pickup_label for d in train.datasets} == {label} and val.pickup_label == label


def test_instances_and_offsets_point_at_each_objects_own_pickup(handmade):
    from grasp_pipeline.perception.segnet.postprocess import find_instances

    plain = SegmentationDataset(handmade, size=(32, 24), pickup_label="annotated")[0]
    inst = plain["instances"].numpy()
    assert inst.shape == (13, 8, 2)
    # both M20s, most visible first; u' = (u + 0.5) / 2 - 0.5
    np.testing.assert_allclose(inst[5, :2], [[24.25, 17.25], [1.25, 15.25]])
    assert np.isnan(inst[5, 2:]).all() and np.isnan(inst[0]).all()
    off = plain["offset"].numpy()
    assert np.isnan(off[:, 0, 0]).all()  # background: no target
    assert np.isfinite(off[:, 7, 15]).all()  # on the M30
    # every object pixel votes for its own instance's pickup pixel, even the small M20's
    for c, k in ((6, 0), (5, 0), (5, 1)):
        for blob in find_instances(plain["masks"][c].numpy(), min_pixels=1, offsets=off):
            if np.hypot(*np.subtract(blob.pixel, inst[c, k])) < 1e-4:
                break
        else:
            raise AssertionError(f"no blob of class {c} votes for instance {k}")
    ds = SegmentationDataset(handmade, size=(32, 24), augment=True, pickup_label="annotated")
    for seed in range(6):
        torch.manual_seed(seed)
        item = ds[0]
        (m30,) = find_instances(item["masks"][6].numpy(), offsets=item["offset"].numpy())
        assert m30.pixel == pytest.approx(tuple(item["pickup"][6].tolist()), abs=1e-4)
        assert torch.equal(item["instances"][6, 0], item["pickup"][6])


def test_train_with_offset_head_and_evaluate_commands(handmade, tmp_path):
    """The CLI end to end on a one-frame set: cached training with the offset head, then the
    evaluation JSON with its headline keys."""
    import json

    from grasp_pipeline.cli import main

    run = tmp_path / "run"
    common = ["--width", "32", "--height", "24", "--filters", "4", "8", "8", "--threads", "1"]
    args = ["train", "segnet", "--data", str(handmade), "--val", str(handmade), "--out", str(run)]
    args += ["--steps", "3", "--eval-every", "3", "--batch-size", "2", "--lr", "1e-3", "--cache"]
    args += ["--batch-norm", "--batch-augment", "--offset-head", "--model-out", str(run / "m.pt")]
    assert main(args + common) == 0
    assert json.loads((run / "metrics.json").read_text())["history"][-1]["step"] == 3
    tuned = run / "tuned.pt"
    args = ["tune", "segnet-votes", "--model", str(run / "m.pt"), "--data", str(handmade)]
    args += ["--weights", "0", "1", "--out", str(tuned), "--json", str(tmp_path / "votes.json")]
    assert main([*args, "--threads", "1"]) == 0
    votes = json.loads((tmp_path / "votes.json").read_text())
    best, mode = votes["best"]["weight"], votes["best"]["mode"]
    assert best in (0.0, 1.0) and set(votes["results"]) == {"mean", "mode"}
    assert set(votes["results"]["mode"]) == {"0.0", "1.0"}
    rates = [v["pickup_rate_any_instance"] for m in votes["results"].values() for v in m.values()]
    assert votes["results"][mode][str(best)]["pickup_rate_any_instance"] == max(rates)
    from grasp_pipeline.perception.segnet.detector import SegnetDetector

    assert (SegnetDetector(tuned).vote_weight, SegnetDetector(tuned).vote_mode) == (best, mode)
    assert SegnetDetector(run / "m.pt").vote_weight == 1.0
    assert SegnetDetector(run / "m.pt").vote_mode == "mean"
    doc = evaluate_segnet_cli(tuned, handmade, tmp_path / "eval.json")
    assert doc["offset_head"] is True and doc["frames"] == 1
    assert doc["class_rule"] == "strongest_detection" and doc["scored_as"] == "detector"
    assert doc["vote_weight"] == best and doc["vote_mode"] == mode
    lo, hi = doc["mean_pickup_rate_ci95"]
    assert lo <= doc["mean_pickup_rate"] <= hi
    assert doc["mean_pickup_rate"] == doc["detector"]["pickup_rate_any_instance"]
    assert (
        doc["mean_pickup_rate_labelled_instance"]
        == (doc["detector"]["pickup_rate_labelled_instance"])
    )
    from grasp_pipeline.commands.holdout import node_min_score

    min_score = node_min_score()
    assert doc["min_score"] == min_score and doc["detections_outside_image"] == 0
    assert set(doc["per_class"]) == {"M20", "M30"}  # catalog names, classes 6 and 7
    # the figures are SegnetDetector.detect's: re-scoring its output by hand gives them
    from grasp_pipeline.data.format import list_frames, read_frame
    from grasp_pipeline.training.detector_metrics import score_frame, summarize

    det = SegnetDetector(tuned)
    scores = []
    for fid in list_frames(handmade):
        f = read_frame(handmade, fid)
        dets = det.detect(f.rgb, f.depth, f.camera)
        scores.append(
            score_frame(dets, f, sorted({o.label for o in f.objects}), min_score, det.labels)
        )
    assert summarize(scores)["pickup_rate"] == doc["mean_pickup_rate"]
