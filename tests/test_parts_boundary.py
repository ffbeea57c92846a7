"""The parts detector's boundary network: targets, pieces along drawn boundaries, training."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from grasp_pipeline.geometry.camera import CameraIntrinsics
from grasp_pipeline.perception.checkpoint import CheckpointError
from grasp_pipeline.perception.instances.boundary import (
    BoundaryConfig,
    BoundaryNet,
    BoundarySplitter,
    crop_pieces,
    region_pieces,
    splitter_from_entry,
)
from grasp_pipeline.perception.instances.crops import (
    CHANNELS,
    CropSpec,
    crop_labels,
    crop_window,
    region_crop,
)
from grasp_pipeline.perception.instances.geometry import segment_instances
from grasp_pipeline.training.boundary_data import BoundarySet, boundary_target

CAM = CameraIntrinsics(width=320, height=240, fx=300.0, fy=300.0, cx=160.0, cy=120.0)


def test_the_target_marks_both_sides_where_two_instances_meet() -> None:
    inst = np.zeros((8, 8), np.int32)
    inst[2:6, 1:4], inst[2:6, 4:7] = 1, 2
    mask = inst > 0
    t = boundary_target(inst, mask)
    assert t[2:6, 3].all() and t[2:6, 4].all()  # both columns where 1 meets 2
    assert t.sum() == 8
    # the region's rim off the instances (a row above them) is counted to the nearest one:
    # the line crosses it, so the pieces do not join around the line's end
    mask[1, 1:7] = True
    t = boundary_target(inst, mask)
    assert t[1:6, 3].all() and t[1:6, 4].all() and t.sum() == 10
    # where the mask ends, instances do not meet: the same ids outside the mask count as none
    assert not boundary_target(inst, inst == 1).any()


def test_pieces_are_cut_along_drawn_boundaries_and_fill_the_region() -> None:
    mask = np.zeros((32, 32), bool)
    mask[4:28, 4:28] = True
    boundary = np.zeros((32, 32), np.float32)
    boundary[:, 15:17] = 0.9
    pieces = crop_pieces(boundary, mask)
    assert pieces is not None and set(np.unique(pieces)) == {0, 1, 2}
    assert ((pieces > 0) == mask).all()  # the boundary pixels joined the nearest piece
    assert (pieces[4:28, 4:15] == pieces[10, 5]).all() and (
        pieces[4:28, 17:28] == pieces[10, 20]
    ).all()
    assert crop_pieces(np.zeros_like(boundary), mask) is None  # nothing drawn: no split
    sliver = np.zeros_like(boundary)
    sliver[:, 26] = 0.9  # cuts off 1 column of 24: below MIN_PIECE_SHARE
    assert crop_pieces(sliver, mask) is None
    assert crop_pieces(boundary, np.zeros_like(mask)) is None


def _side_by_side() -> tuple[np.ndarray, np.ndarray]:
    """Camera 0.5 m above a table looking straight down: two 2 cm tall boxes of one height
    touching along a line (no depth step, no colour edge). Depth (m) and labels (1, 2)."""
    depth = np.full((CAM.height, CAM.width), 0.5, np.float32)
    labels = np.zeros(depth.shape, np.int32)
    depth[100:140, 100:180] = 0.48
    labels[100:140, 100:140], labels[100:140, 140:180] = 1, 2
    return depth + np.random.default_rng(3).normal(0, 5e-4, depth.shape).astype(np.float32), labels


def test_crop_pieces_become_regions_of_the_cells_they_cover() -> None:
    """Two boxes of one height are one region that the heights cannot split; the true
    boundary in the crop makes two regions, each its box."""
    from grasp_pipeline.perception.instances.split import split_region

    depth, labels = _side_by_side()
    seg = segment_instances(depth, CAM)
    assert len(seg.regions) == 1
    region = seg.regions[0]
    assert split_region(seg, region) == []
    spec = CropSpec()
    x, _ = region_crop(np.zeros((*depth.shape, 3), np.uint8), seg.height_m, region, CAM, spec)
    mask = x[CHANNELS - 1] > 0.5
    inst = np.where(mask, crop_labels(labels, region, CAM, spec), 0)
    pieces = crop_pieces(boundary_target(inst, mask).astype(np.float32), mask)
    regions = region_pieces(seg, region, pieces, crop_window(region, CAM, spec), seg_config())
    assert len(regions) == 2
    for piece in regions:
        best = max(
            ((piece.mask & (labels == k)).sum() / (piece.mask | (labels == k)).sum(), k)
            for k in (1, 2)
        )
        assert best[0] > 0.8, best
    assert regions[0].mask.sum() + regions[1].mask.sum() <= region.mask.sum()


def seg_config():
    from grasp_pipeline.perception.instances.geometry import GeometryConfig

    return GeometryConfig()


def _two_greys(n: int, rng: np.random.Generator, size: int = 24) -> BoundarySet:
    """Crops of a square region: half of them one part (one grey), half two parts side by side
    (two greys apart by at least 0.15, meeting at a random column): the boundary is where the
    grey changes inside the mask."""
    x = np.zeros((n, CHANNELS, size, size), np.float32)
    target = np.zeros((n, size, size), bool)
    parts = np.ones(n, np.int64)
    for i in range(n):
        inst = np.zeros((size, size), np.int32)
        inst[3:-3, 3:-3] = 1
        g = rng.uniform(0.2, 0.8)
        x[i, :3] = g
        if i % 2:
            c = int(rng.integers(8, size - 8))
            inst[3:-3, c:-3] = 2
            g2 = g + rng.choice([-1, 1]) * rng.uniform(0.15, 0.3)
            x[i, :3, :, c:] = g2
            parts[i] = 2
        x[i, :3] += rng.normal(0, 0.01, (3, size, size))
        x[i, 3] = 0.2
        x[i, 4] = inst > 0
        target[i] = boundary_target(inst, inst > 0)
    return BoundarySet(x.astype(np.float16), target, np.arange(n) // 2, parts)


def test_the_network_learns_to_split_two_parts_and_not_one(tmp_path) -> None:
    from grasp_pipeline.perception.checkpoint import load_checkpoint, save_checkpoint
    from grasp_pipeline.training.boundary_trainer import BoundaryTrainConfig, train_boundaries

    base = tmp_path / "classifier.pt"
    save_checkpoint(base, {"model": {}, "config": {"labels": ["Drill", "unknown"]}, "step": 0})
    data = _two_greys(384, np.random.default_rng(0), size=32)
    # the shipped layout (half resolution): learnt within 12 epochs on 1 or 2 threads
    cfg = BoundaryTrainConfig(epochs=12, batch=32, width=8, stride=2, val_every=4, lr=1e-2)
    summary = train_boundaries(data, base, tmp_path / "work", cfg, progress=False)
    last = summary["history"][-1]
    assert last["val_split_rate_parts"] > 0.8, last
    assert last["val_split_rate_one"] < 0.2, last
    exported = load_checkpoint(tmp_path / "work" / "classifier.pt")
    assert exported["config"] == {"labels": ["Drill", "unknown"]}  # the classifier, kept
    assert exported["boundary"]["validation"]["epoch"] == summary["best"]["epoch"]
    splitter = splitter_from_entry(exported["boundary"], base)
    prob = splitter.boundaries(data.x[1:2].astype(np.float32))
    assert prob.shape == (1, 32, 32) and np.all((prob >= 0) & (prob <= 1))
    # resuming: a run stopped after 3 epochs and started again ends where the straight one did
    train_boundaries(data, base, tmp_path / "again", cfg, progress=False, epoch_limit=3)
    resumed = train_boundaries(data, base, tmp_path / "again", cfg, progress=False)
    assert [h["loss"] for h in resumed["history"]] == [h["loss"] for h in summary["history"]]
    with pytest.raises(ValueError, match="other settings"):
        train_boundaries(data, base, tmp_path / "again", BoundaryTrainConfig(epochs=2))


def test_non_finite_losses_end_boundary_training(tmp_path) -> None:
    from grasp_pipeline.perception.checkpoint import save_checkpoint
    from grasp_pipeline.training.boundary_trainer import BoundaryTrainConfig, train_boundaries

    base = tmp_path / "classifier.pt"
    save_checkpoint(base, {"model": {}, "config": {}, "step": 0})
    data = _two_greys(64, np.random.default_rng(1))
    data.x[:, :3] = np.nan
    with pytest.raises(FloatingPointError, match="non-finite losses in a row"):
        train_boundaries(
            data, base, tmp_path / "w", BoundaryTrainConfig(epochs=1, batch=4, width=4)
        )


def test_folding_keeps_the_boundaries_and_bad_input_is_refused() -> None:
    torch.manual_seed(0)
    net = BoundaryNet(BoundaryConfig(width=4)).eval()
    for m in net.modules():  # batch norms that do something
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    x = np.random.default_rng(0).random((3, CHANNELS, 16, 16)).astype(np.float32)
    with torch.inference_mode():
        expected = torch.sigmoid(net(torch.from_numpy(x))).numpy()
    splitter = BoundarySplitter(net)
    assert np.allclose(splitter.boundaries(x), expected, atol=1e-5)
    assert splitter.boundaries(np.zeros((0, CHANNELS, 16, 16))).shape == (0, 16, 16)
    with pytest.raises(ValueError, match="boundary input"):
        splitter.boundaries(np.zeros((2, 3, 16, 16)))


def test_a_malformed_entry_is_refused_naming_the_file() -> None:
    with pytest.raises(CheckpointError, match=r"m\.pt: its boundary network does not load"):
        splitter_from_entry({"config": {"width": 8}, "model": {"x": torch.zeros(1)}}, "m.pt")
    with pytest.raises(CheckpointError, match=r"m\.pt"):
        splitter_from_entry({"model": {}}, "m.pt")
