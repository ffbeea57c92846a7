"""The parts detector end to end: generated scenes -> crops -> classifier -> Detector.detect."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from grasp_pipeline.cli import main
from grasp_pipeline.data.format import list_frames, read_frame
from grasp_pipeline.objects import load_catalog
from grasp_pipeline.perception.checkpoint import CheckpointError
from grasp_pipeline.perception.instances.checkpoint import UNKNOWN
from grasp_pipeline.perception.instances.crops import CropSpec
from grasp_pipeline.perception.instances.geometry import GeometryConfig
from grasp_pipeline.ros.detector_loading import SHIPPED_MODELS, load_detector
from grasp_pipeline.training.parts_data import CropSet, extract_crops
from grasp_pipeline.training.parts_trainer import PartsTrainConfig, train_parts

REPO = Path(__file__).resolve().parents[1]


ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def scenes(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("parts") / "data"
    args = ["dataset", "generate", "--out", str(out), "--scenes", "8", "--seed", "77"]
    args += ["--width", "320", "--height", "240", "--pool", "rulebook", "--quiet"]
    assert main(args) == 0
    return out


@pytest.fixture(scope="module")
def crops(scenes: Path) -> CropSet:
    labels = [*load_catalog().names, UNKNOWN]
    return extract_crops(scenes, labels, CropSpec(size=32), GeometryConfig(), progress=False)


def test_crops_are_labelled_from_the_annotations_and_cached(scenes: Path, crops: CropSet) -> None:
    assert len(crops) >= 8 and crops.x.shape[1:] == (5, 32, 32)
    counts = crops.counts()
    assert sum(n for k, n in counts.items() if k != UNKNOWN) >= 8  # most parts are found
    assert set(crops.frame) <= set(range(len(list_frames(scenes))))
    cache = list(scenes.glob("parts_crops_*.npz"))
    assert len(cache) == 1
    again = extract_crops(scenes, crops.labels, CropSpec(size=32), GeometryConfig(), progress=False)
    np.testing.assert_array_equal(again.y, crops.y)  # read back from the cache
    assert len(list(scenes.glob("parts_crops_*.npz"))) == 1


def test_train_cli_exports_a_detector_that_detects(scenes: Path, tmp_path: Path) -> None:
    model = tmp_path / "models" / "classifier.pt"
    args = ["train", "parts", "--data", str(scenes), "--work", str(tmp_path / "work")]
    args += ["--epochs", "2", "--crop-size", "32", "--width", "8", "--val-every", "4"]
    assert main([*args, "--quiet", "--export", str(model)]) == 0
    det = load_detector("parts", str(model))
    assert UNKNOWN not in det.labels and "Drill" in det.labels
    frame = read_frame(scenes, list_frames(scenes)[0])
    found = det.detect(frame.rgb, frame.depth, frame.camera)
    for d in found:
        assert d.label in det.labels and 0.0 <= d.score <= 1.0
        assert (
            0 <= d.pixel[0] <= frame.camera.width - 1 and 0 <= d.pixel[1] <= frame.camera.height - 1
        )
        assert np.all(np.isfinite(d.point)) and d.point[2] > 0
        assert np.allclose(np.linalg.norm(d.grasp_axis), 1.0)
    only = det.detect(frame.rgb, frame.depth, frame.camera, targets=["Drill"])
    assert all(d.label == "Drill" for d in only)
    # bad input: clear errors, or nothing where nothing can be seen
    with pytest.raises(ValueError, match="unknown target"):
        det.detect(frame.rgb, frame.depth, frame.camera, targets=["Banana"])
    with pytest.raises(ValueError, match="rgb must be uint8"):
        det.detect(frame.rgb.astype(np.float32), frame.depth, frame.camera)
    with pytest.raises(ValueError, match="depth must be"):
        det.detect(frame.rgb, frame.depth[:10], frame.camera)
    assert det.detect(frame.rgb, np.zeros_like(frame.depth), frame.camera) == []
    nan_depth = np.full(frame.depth.shape, np.nan, np.float32)
    assert det.detect(frame.rgb, nan_depth, frame.camera) == []


def test_pickup_cli_adds_its_network_to_the_classifier(scenes: Path, tmp_path: Path) -> None:
    from grasp_pipeline.perception.checkpoint import load_checkpoint, save_checkpoint

    plain = tmp_path / "plain.pt"
    args = ["train", "parts", "--data", str(scenes), "--work", str(tmp_path / "parts")]
    args += ["--epochs", "1", "--crop-size", "32", "--width", "8", "--val-every", "4"]
    assert main([*args, "--quiet", "--export", str(plain)]) == 0
    model = tmp_path / "with_pickup.pt"
    args = ["train", "pickup", "--data", str(scenes), "--classifier", str(plain)]
    args += ["--work", str(tmp_path / "pickup"), "--epochs", "1", "--width", "8"]
    assert main([*args, "--val-every", "4", "--quiet", "--export", str(model)]) == 0
    frame = read_frame(scenes, list_frames(scenes)[0])
    first = load_detector("parts", str(plain))
    det = load_detector("parts", str(model))
    assert first.fitter is None and det.fitter is None  # the shape fit is off by default
    before = first.detect(frame.rgb, frame.depth, frame.camera)
    after = det.detect(frame.rgb, frame.depth, frame.camera)
    assert det.pickup is not None and len(after) == len(before) > 0
    assert {d.extras["pickup"] for d in before} == {"mean_3d"}
    assert {d.extras["pickup"] for d in after} == {"network"}
    W, H = frame.camera.width, frame.camera.height
    for a, b in zip(after, before, strict=True):  # same detections, picked elsewhere
        assert a.label == b.label and a.score == b.score
        assert 0 <= a.pixel[0] <= W - 1 and 0 <= a.pixel[1] <= H - 1
        assert a.point[2] == pytest.approx(b.point[2])  # at the region's mean depth
        u = frame.camera.fx * a.point[0] / a.point[2] + frame.camera.cx
        assert u == pytest.approx(a.pixel[0])  # the point lies on the pixel's ray
    assert "pickup" in det.last_timing_ms
    # the pickup network reuses the classifier's crops of the frame: the same points as from
    # crops cut again for it
    reusing = det.pickup_pixels
    det.pickup_pixels = lambda rgb, height, regions, labels, camera, cut=None: reusing(
        rgb, height, regions, labels, camera
    )
    again = det.detect(frame.rgb, frame.depth, frame.camera)
    assert [d.pixel for d in again] == [d.pixel for d in after]
    # with the parts' solids laid over their regions, a fitted part's pickup blends the fit's
    # centre of gravity with the network's
    from grasp_pipeline.perception.instances.detector import PartsDetector

    det = PartsDetector(model, shape_fit=True)
    fitter = det.fitter
    assert fitter is not None
    fitted = det.detect(frame.rgb, frame.depth, frame.camera)
    assert {d.extras["pickup"] for d in fitted} <= {"network", "shape_fit"}
    for d in fitted:
        if d.extras["pickup"] == "shape_fit":
            assert d.extras["fit_explained"] >= fitter.cfg.min_explained
    assert "shape_fit" in det.last_timing_ms
    # a pickup entry that does not load is refused naming the file
    state = load_checkpoint(model)
    state["pickup"]["config"] = {"width": 4}
    broken = tmp_path / "broken.pt"
    save_checkpoint(broken, {k: v for k, v in state.items() if k != "meta"})
    with pytest.raises(CheckpointError, match=r"broken\.pt: its pickup network"):
        load_detector("parts", str(broken))
    # ... and so is a network told the classes of another classifier
    from grasp_pipeline.perception.instances.layers import network_entry
    from grasp_pipeline.perception.instances.pickup import PickupConfig, PickupNet

    state["pickup"] = network_entry(PickupNet(PickupConfig(width=8, classes=5)), {})
    save_checkpoint(broken, {k: v for k, v in state.items() if k != "meta"})
    with pytest.raises(CheckpointError, match=r"broken\.pt: its pickup network knows 5 classes"):
        load_detector("parts", str(broken))


def test_boundaries_cli_adds_its_network_and_the_detector_splits_with_it(
    scenes: Path, tmp_path: Path
) -> None:
    from grasp_pipeline.perception.checkpoint import load_checkpoint, save_checkpoint

    plain = tmp_path / "plain.pt"
    args = ["train", "parts", "--data", str(scenes), "--work", str(tmp_path / "parts")]
    args += ["--epochs", "1", "--crop-size", "32", "--width", "8", "--val-every", "4"]
    assert main([*args, "--quiet", "--export", str(plain)]) == 0
    model = tmp_path / "with_boundaries.pt"
    args = ["train", "boundaries", "--data", str(scenes), "--classifier", str(plain)]
    args += ["--work", str(tmp_path / "boundaries"), "--epochs", "1", "--width", "4"]
    assert main([*args, "--val-every", "4", "--quiet", "--export", str(model)]) == 0
    assert list(scenes.glob("boundary_crops_*.npz"))  # the regions' crops, cached
    state = load_checkpoint(model)
    assert set(state["boundary"]["validation"]) >= {"split_rate_parts", "split_rate_one"}
    det = load_detector("parts", str(model))
    assert det.boundary is not None and load_detector("parts", str(plain)).boundary is None
    # every region is tried: the boundary network's pieces are asked for and named
    calls = []
    split = det.boundary.split
    det.boundary.split = lambda *a: calls.append(len(a[1])) or split(*a)
    frame = read_frame(scenes, list_frames(scenes)[0])
    found = det.detect(frame.rgb, frame.depth, frame.camera)
    assert calls and all(0 <= d.pixel[0] <= frame.camera.width - 1 for d in found)
    # a boundary entry that does not load is refused naming the file
    state["boundary"]["config"] = {"width": 8}
    broken = tmp_path / "broken.pt"
    save_checkpoint(broken, {k: v for k, v in state.items() if k != "meta"})
    with pytest.raises(CheckpointError, match=r"broken\.pt: its boundary network"):
        load_detector("parts", str(broken))


def test_training_resumes_exactly_and_refuses_other_settings(crops: CropSet, tmp_path) -> None:
    import torch

    cfg = PartsTrainConfig(epochs=2, batch=16, width=8, val_every=4)
    spec, geo = CropSpec(size=32), GeometryConfig()
    straight = train_parts(crops, tmp_path / "a", cfg, spec, geo, progress=False)
    train_parts(crops, tmp_path / "b", cfg, spec, geo, progress=False, epoch_limit=1)
    resumed = train_parts(crops, tmp_path / "b", cfg, spec, geo, progress=False)
    assert [h["loss"] for h in resumed["history"]] == [h["loss"] for h in straight["history"]]
    a = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    other = PartsTrainConfig(epochs=2, batch=16, width=8, val_every=4, lr=1e-2)
    with pytest.raises(ValueError, match="other settings"):
        train_parts(crops, tmp_path / "b", other, spec, geo, progress=False)


def test_non_finite_losses_end_training_with_the_step(crops: CropSet, tmp_path) -> None:
    bad = CropSet(np.full_like(crops.x, np.nan), crops.feats, crops.y, crops.frame, crops.labels)
    cfg = PartsTrainConfig(epochs=1, batch=4, width=8, val_every=4)
    with pytest.raises(FloatingPointError, match="non-finite losses in a row"):
        train_parts(bad, tmp_path / "w", cfg, CropSpec(size=32), GeometryConfig(), progress=False)


def test_other_checkpoints_are_refused_naming_the_file(tmp_path) -> None:
    segnet = REPO / "models" / "segnet" / "model.pt"
    copy = tmp_path / "segnet.pt"
    shutil.copyfile(segnet, copy)
    with pytest.raises(CheckpointError, match="not a crop classifier"):
        load_detector("parts", str(copy))
    with pytest.raises(FileNotFoundError):
        load_detector("parts", str(tmp_path / "missing.pt"))


def test_inference_network_folds_batch_norms_with_the_same_outputs() -> None:
    import torch
    from net_fixtures import trained_like

    from grasp_pipeline.perception.instances.crops import CHANNELS, FEATURES
    from grasp_pipeline.perception.instances.model import (
        ClassifierConfig,
        CropClassifier,
        for_inference,
    )

    torch.manual_seed(0)
    net = trained_like(CropClassifier(ClassifierConfig(num_classes=5, width=8, size=32)))
    x, f = torch.randn(6, CHANNELS, 32, 32), torch.randn(6, FEATURES)
    with torch.inference_mode():
        want = net(x, f)
        fast = for_inference(net)
        got = fast(x.contiguous(memory_format=torch.channels_last), f)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules())
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)


def _strip(u0: int, u1: int, x0: float, x1: float, v0: int = 200, y0: float = 0.0):
    """A region: image columns u0..u1 of rows v0..v0+5, 3-D points x0..x1 m along x and
    y0..y0+13 mm along y, 0.5 m from the camera (1 px ~ 1 mm)."""
    from grasp_pipeline.perception.instances.geometry import Region

    mask = np.zeros((480, 640), bool)
    mask[v0 : v0 + 6, u0:u1] = True
    bounds = np.array([[x0, y0, 0.5], [x1, y0 + 0.013, 0.505]])
    xs, ys = np.meshgrid(np.linspace(x0, x1, 12), np.linspace(y0, y0 + 0.013, 4))
    sample = np.stack([xs.ravel(), ys.ravel(), np.full(xs.size, 0.5)], axis=1)
    return Region(
        mask,
        int(mask.sum()),
        (u0, v0, u1, v0 + 6),
        0,
        0.005,
        bounds.mean(0),
        x1 - x0,
        1e-4,
        bounds,
        sample,
    )


def test_fragments_join_through_a_small_piece_between_them() -> None:
    """A thin part in three pieces, the small middle one a few pixels from each end piece: one
    detection (joining the largest pieces first left the far end as a second, off-centre one)."""
    det = load_detector("parts", ROOT / SHIPPED_MODELS["parts"])
    a, c, b = (
        _strip(100, 150, 0.0, 0.05),
        _strip(154, 160, 0.054, 0.06),
        _strip(164, 204, 0.064, 0.104),
    )
    groups = det.join_fragments([a, b, c], ["Wrench"] * 3)
    assert len(groups) == 1 and sorted(groups[0]) == [0, 1, 2] and groups[0][0] == 0
    # two spanners end to end make a union longer than one: they stay two
    far = _strip(164, 204, 0.064, 0.30)
    assert len(det.join_fragments([a, far, c], ["Wrench"] * 3)) == 2
    # pieces of different labels never join
    assert len(det.join_fragments([a, b, c], ["Wrench", "Wrench", "Screwdriver"])) == 3


def test_far_pieces_join_when_they_lie_along_one_part_with_nothing_on_top() -> None:
    """A 5 mm spanner whose middle sinks into the depth noise comes back as pieces 30 px apart:
    they join when together they fit one spanner's footprint and nothing higher lies between
    them (fails before: only pieces within JOIN_GAP_PX joined, and each piece was a detection
    off the part's middle)."""
    from grasp_pipeline.perception.instances.geometry import Plane

    det = load_detector("parts", ROOT / SHIPPED_MODELS["parts"])
    table = [Plane(np.array([0.0, 0.0, -1.0]), -0.505, 1000)]
    flat = np.zeros((480, 640), np.float32)
    a, b = _strip(100, 150, 0.0, 0.05), _strip(180, 230, 0.08, 0.13)
    groups = det.join_fragments([a, b], ["Wrench"] * 2, table, flat)
    assert len(groups) == 1 and sorted(groups[0]) == [0, 1]
    # without the frame's heights, or with a part lying across the gap: two
    assert len(det.join_fragments([a, b], ["Wrench"] * 2, table)) == 2
    across = flat.copy()
    across[190:215, 160:170] = 0.03
    assert len(det.join_fragments([a, b], ["Wrench"] * 2, table, across)) == 2
    # two spanners side by side (a footprint 53 mm wide) or end to end (longer than one): two
    beside = _strip(100, 150, 0.0, 0.05, v0=240, y0=0.04)
    assert len(det.join_fragments([a, beside], ["Wrench"] * 2, table, flat)) == 2
    beyond = _strip(180, 330, 0.08, 0.23)
    assert len(det.join_fragments([a, beyond], ["Wrench"] * 2, table, flat)) == 2
    # pieces on different support planes stay two
    b.plane = 1
    two = [*table, Plane(np.array([0.0, 0.0, -1.0]), -0.4, 1000)]
    assert len(det.join_fragments([a, b], ["Wrench"] * 2, two, flat)) == 2


def test_a_part_touching_a_taller_one_of_the_same_colour_is_found() -> None:
    """Hold-out frame 12 of the rulebook D435 set (seed 9020): a black 20 mm profile lies against
    a black 40 mm one and the depth geometry returns one region for both, named S40_40_B with
    0.59. Split at their tops' heights, the classifier is sure of both pieces (0.97, 0.95) and
    the 20 mm profile is detected on itself, the boundary network left out too (fails before:
    no split, no F20_20_B)."""
    from grasp_pipeline.commands.holdout import holdout_scene
    from grasp_pipeline.data.generate import GenerationConfig, make_frame
    from grasp_pipeline.training.detector_metrics import object_regions

    det = load_detector("parts", ROOT / SHIPPED_MODELS["parts"])
    det.boundary = None  # the split at heights alone
    cfg = GenerationConfig(
        scenes=100, seed=9020, camera="d435", width=640, height=480, scene=holdout_scene("rulebook")
    )
    frame = make_frame(cfg, 12)
    found = det.detect(frame.rgb, frame.depth, frame.camera, ["F20_20_B"])
    assert found and found[0].score >= 0.9
    profile = next(o for o in frame.objects if o.label == "F20_20_B")
    u, v = (round(t) for t in found[0].pixel)
    assert object_regions(frame)[profile.instance_id][v, u]


def test_touching_profiles_named_surely_as_one_are_split() -> None:
    """Hold-out frame 80 of the rulebook D435 set (seed 9010): a 20 mm profile touches a 40 mm one
    whose side, seen at an angle, ramps down to it. The geometry returns one region, which the
    classifier names S40_40_G with 0.95; tried in pieces anyway (the taller part's side
    stays with it), both profiles are found on themselves (fails before: regions named above 0.9
    were not split and the F20_20_G was not found)."""
    from grasp_pipeline.commands.holdout import holdout_scene
    from grasp_pipeline.data.generate import GenerationConfig, make_frame
    from grasp_pipeline.training.detector_metrics import object_regions

    det = load_detector("parts", ROOT / SHIPPED_MODELS["parts"])
    cfg = GenerationConfig(
        scenes=100, seed=9010, camera="d435", width=640, height=480, scene=holdout_scene("rulebook")
    )
    frame = make_frame(cfg, 80)
    regions = object_regions(frame)
    labels = ("F20_20_G", "S40_40_G")
    found = det.detect(frame.rgb, frame.depth, frame.camera, labels)  # most probable first
    for label in labels:
        best = next((d for d in found if d.label == label), None)
        assert best is not None and best.score >= 0.8, label
        part = next(o for o in frame.objects if o.label == label)
        u, v = (round(t) for t in best.pixel)
        assert regions[part.instance_id][v, u], label


def test_a_split_is_kept_for_a_sure_piece_of_another_class() -> None:
    from grasp_pipeline.perception.instances.detector import split_accepted

    # classes: 0 drill, 1 profile, 2 screwdriver, 3 unknown
    whole = np.array([0.92, 0.04, 0.02, 0.02])
    every_piece_sure = np.array([[0.95, 0.03, 0.01, 0.01], [0.02, 0.94, 0.02, 0.02]])
    assert split_accepted(whole, every_piece_sure, 3)
    # a profile (0.83, less than the whole's 0.92) beside a sure screwdriver and drill pieces
    sure_other = np.array([[0.10, 0.83, 0.05, 0.02], [0.01, 0.02, 0.96, 0.01], [0.96, 0, 0, 0.04]])
    assert split_accepted(whole, sure_other, 3)
    # sure pieces of the whole's own class, or unknown, beside a doubtful one: kept whole
    own_class = np.array([[0.96, 0.02, 0.01, 0.01], [0.30, 0.50, 0.10, 0.10]])
    assert not split_accepted(whole, own_class, 3)
    unknown = np.array([[0.01, 0.01, 0.01, 0.97], [0.30, 0.50, 0.10, 0.10]])
    assert not split_accepted(whole, unknown, 3)
    # "sure" is at least SPLIT_PIECE_PROBABILITY even where the whole was named with less
    doubtful_whole = np.array([0.40, 0.30, 0.20, 0.10])
    assert not split_accepted(
        doubtful_whole, np.array([[0.1, 0.75, 0.1, 0.05], [0.5] * 2 + [0] * 2]), 3
    )


@pytest.mark.parametrize(
    ("seed", "camera", "index", "label"),
    [(7777, "d435", 133, "Motor2"), (7778, "sr300", 22, "AllenKey")],
)
def test_a_part_merged_with_others_is_found_by_its_sure_neighbours_split(
    seed: int, camera: str, index: int, label: str
) -> None:
    """Tuning frames (not hold-out): a Motor2 merged with a wrench, named unknown with 0.55,
    whose pieces are named Wrench 0.95, Motor2 0.24 and Motor2 0.94; an Allen key merged with a
    40 mm profile, named S40_40_B with 0.97, in pieces AllenKey 0.97 and S40_40_B 0.96. Each part
    is found on itself (fails before: a split was kept only when every piece was named at least
    as surely as the whole)."""
    from grasp_pipeline.commands.holdout import holdout_scene
    from grasp_pipeline.data.generate import GenerationConfig, make_frame
    from grasp_pipeline.training.detector_metrics import object_regions

    det = load_detector("parts", ROOT / SHIPPED_MODELS["parts"])
    cfg = GenerationConfig(
        scenes=150, seed=seed, camera=camera, width=640, height=480, scene=holdout_scene("rulebook")
    )
    frame = make_frame(cfg, index)
    found = det.detect(frame.rgb, frame.depth, frame.camera, [label])
    assert found and found[0].score >= 0.8
    regions = object_regions(frame)
    u, v = (round(t) for t in found[0].pixel)
    assert any(regions[o.instance_id][v, u] for o in frame.objects if o.label == label)


@pytest.mark.parametrize(
    ("index", "label"),
    [(44, "Bearing2"), (67, "Axis2")],
)
def test_a_part_against_another_of_its_height_is_found_along_the_drawn_boundary(
    index: int, label: str
) -> None:
    """Tuning frames (SR300, seed 7778, not hold-out): a Bearing2 lying against a Housing,
    one region named Housing with 0.92, and an Axis2 between an Axis and a wrench, one region
    named unknown with 0.93; the heights give no pieces the classifier accepts. Along the
    boundaries the shipped boundary network draws, each part is a piece of its own, found on
    itself; without the network it is not found at all."""
    from grasp_pipeline.commands.holdout import holdout_scene
    from grasp_pipeline.data.generate import GenerationConfig, make_frame
    from grasp_pipeline.training.detector_metrics import object_regions

    det = load_detector("parts", ROOT / SHIPPED_MODELS["parts"])
    assert det.boundary is not None
    cfg = GenerationConfig(
        scenes=150,
        seed=7778,
        camera="sr300",
        width=640,
        height=480,
        scene=holdout_scene("rulebook"),
    )
    frame = make_frame(cfg, index)
    found = det.detect(frame.rgb, frame.depth, frame.camera, [label])
    assert found and found[0].score >= 0.9
    regions = object_regions(frame)
    u, v = (round(t) for t in found[0].pixel)
    assert any(regions[o.instance_id][v, u] for o in frame.objects if o.label == label)
    det.boundary = None  # heights alone
    assert det.detect(frame.rgb, frame.depth, frame.camera, [label]) == []


def test_doubtful_crops_are_named_from_four_views_of_their_square() -> None:
    """A crop the classifier doubts gets the mean of its square as it is, half turned and
    mirrored both ways: for a crop doubted in every view, half turning or mirroring it leaves
    that answer the same; a sure crop keeps its one-view answer (the network run by PyTorch
    here, by the detector's runtime there)."""
    import torch

    from grasp_pipeline.perception.instances import detector as parts
    from grasp_pipeline.perception.instances.model import CHANNELS, FEATURES

    det = load_detector("parts", ROOT / SHIPPED_MODELS["parts"])
    rng = np.random.default_rng(0)
    size = det.crop.size
    x = rng.random((12, CHANNELS, size, size), dtype=np.float32)
    f = rng.random((12, FEATURES), dtype=np.float32)
    one = det.probabilities(x, f)

    def plain_of(crops: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            xt = torch.from_numpy(crops.copy()).contiguous(memory_format=torch.channels_last)
            return torch.softmax(det.model(xt, torch.from_numpy(f)), 1).numpy()

    plain = plain_of(x)
    views = [plain, *(plain_of(np.flip(x, axis=a)) for a in ((2, 3), 3, 2))]
    doubt = plain.max(1) < parts.VIEWS_BELOW_PROBABILITY
    doubt_in_every_view = np.all([v.max(1) < parts.VIEWS_BELOW_PROBABILITY for v in views], 0)
    assert doubt_in_every_view.any()
    np.testing.assert_allclose(one[doubt], np.mean(views, 0)[doubt], atol=1e-5)
    for axes in ((2, 3), 3):
        turned = det.probabilities(np.flip(x, axis=axes), f)
        np.testing.assert_allclose(turned[doubt_in_every_view], one[doubt_in_every_view], atol=1e-5)
    np.testing.assert_allclose(det.probabilities(x, f, views=False), plain, atol=1e-5)
    np.testing.assert_allclose(one[~doubt], plain[~doubt], atol=1e-5)


def test_numpy_blas_runs_on_the_calling_thread_while_a_frame_is_detected() -> None:
    """OpenBLAS's worker threads busy-wait after numpy's calls and took a quarter of the
    detector's time from torch's threads on 2 cores (perception.threads): from the first
    ``detect`` on, numpy's BLAS has one thread in the process (set once, not switched per call
    under other threads), and the network keeps torch's threads (fails without the limit: the
    BLAS pool keeps its threads)."""
    import torch
    from threadpoolctl import threadpool_limits

    from grasp_pipeline.commands.holdout import holdout_scene
    from grasp_pipeline.data.generate import GenerationConfig, make_frame
    from grasp_pipeline.perception import threads

    det = load_detector("parts", ROOT / SHIPPED_MODELS["parts"])
    cfg = GenerationConfig(
        scenes=1, seed=9010, camera="d435", width=640, height=480, scene=holdout_scene("rulebook")
    )
    frame = make_frame(cfg, 0)
    torch.set_num_threads(2)
    threadpool_limits(limits=2, user_api="blas")  # as a fresh process on this machine starts
    threads.one_blas_thread_for_process.cache_clear()
    assert threads.blas_threads() and max(threads.blas_threads()) >= 2
    seen: list[tuple[list[int], int]] = []
    classifier = det.classifier

    def spy(x, f):
        seen.append((threads.blas_threads(), torch.get_num_threads()))
        return classifier(x, f)

    det.classifier = spy
    assert det.detect(frame.rgb, frame.depth, frame.camera)
    assert seen and all(max(b) == 1 and t == 2 for b, t in seen)
    assert max(threads.blas_threads()) == 1  # left so for the process


def test_only_regions_that_may_hold_two_parts_are_tried_in_pieces() -> None:
    """A region named surely (>= 0.9) and no larger than the named part's diagonal is that one
    part: the split test is skipped for it (half the regions on tuning frames, the same hold-out
    figures); a larger or a doubtful one is still tried."""
    from dataclasses import replace

    from grasp_pipeline.perception.instances.geometry import Region

    det = load_detector("parts", str(REPO / SHIPPED_MODELS["parts"]))
    k = det.class_names.index("M20")
    sure = np.zeros(len(det.class_names))
    sure[k] = 0.95
    nut = Region(
        mask=np.ones((2, 2), bool),
        pixels=4,
        bbox=(0, 0, 2, 2),
        plane=0,
        height_m=0.016,
        centroid=np.array([0.0, 0.0, 0.5]),
        extent_m=0.03,
        area_m2=7e-4,
        bounds=np.zeros((2, 3)),
    )
    assert det.one_part(nut, sure)
    assert not det.one_part(replace(nut, extent_m=1.5 * det.diagonal_m["M20"]), sure)
    doubtful = sure.copy()
    doubtful[k] = 0.6
    assert not det.one_part(nut, doubtful)


def test_torch_openmp_threads_spin_briefly_in_every_process_of_the_package() -> None:
    """torch's OpenMP threads spun 300,000 turns at each barrier: with one of 2 cores busy in
    another process a frame took 630 ms instead of 37 (perception.threads). Importing the
    package, before torch is loaded, sets the short spin; a spin count or wait policy the user
    chose stays (fails without the default: GOMP_SPINCOUNT is unset)."""
    import os
    import subprocess
    import sys

    from grasp_pipeline.perception.threads import OPENMP_SPINCOUNT

    probe = (
        "import os; import grasp_pipeline.perception.instances.detector; "
        "print(os.environ.get('GOMP_SPINCOUNT'))"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    env["PYTHONPATH"] = str(ROOT / "src")

    def run(**extra: str) -> str:
        out = subprocess.run(
            [sys.executable, "-c", probe],
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return out.stdout.split()[-1]

    assert run() == str(OPENMP_SPINCOUNT)
    assert run(GOMP_SPINCOUNT="50") == "50"
    assert run(OMP_WAIT_POLICY="PASSIVE") == "None"
    # the package sets it before torch loads: importing it does not import torch
    first = subprocess.run(
        [sys.executable, "-c", "import sys, grasp_pipeline; print('torch' in sys.modules)"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert first.stdout.strip() == "False"


def test_latency_benchmark_times_beside_busy_processes(tmp_path) -> None:
    """``benchmark detector-latency --busy 1`` times Detector.detect while another process keeps
    a core busy (as the robot's other nodes do), records it and ends (the spinner stops)."""
    import json
    import subprocess
    import sys

    out = tmp_path / "latency.json"
    cmd = [sys.executable, "-m", "grasp_pipeline.cli", "benchmark", "detector-latency"]
    args = ["--frames", "1", "--runs", "2", "--busy", "1", "--out", str(out)]
    args += ["--runtime", "onnx", "--baseline-runtime", "torch"]
    done = subprocess.run(
        cmd + args, capture_output=True, text=True, timeout=300, cwd=ROOT, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    doc = json.loads(out.read_text())
    assert doc["busy_processes"] == 1 and doc["machine"]["gomp_spincount"]
    assert doc["ms_per_frame_median"] > 0 and set(doc["stage_ms_median"]) >= {
        "geometry",
        "classifier",
    }
    assert doc["machine"]["cpu_model"]
    # the baseline timed pass by pass with it: one speed ratio per pass
    assert doc["runtime"] == "onnx" and doc["baseline"]["runtime"] == "torch"
    assert len(doc["speedup_per_pass"]) == 2 and doc["speedup_median"] > 0
    assert doc["baseline"]["detections_per_frame_median"] == doc["detections_per_frame_median"]


def test_onnx_runtime_and_pytorch_detect_the_same_parts() -> None:
    """The shipped detector run by ONNX Runtime (its default where installed) reports what it
    reports run by PyTorch: labels, scores and pickup pixels on hold-out frames."""
    pytest.importorskip("onnxruntime")
    from grasp_pipeline.commands.holdout import holdout_scene
    from grasp_pipeline.data.generate import GenerationConfig, make_frame

    onnx = load_detector("parts", ROOT / SHIPPED_MODELS["parts"])
    eager = load_detector("parts", ROOT / SHIPPED_MODELS["parts"], runtime="torch")
    assert (onnx.runtime, eager.runtime) == ("onnx", "torch")
    cfg = GenerationConfig(
        scenes=3, seed=9010, camera="sr300", width=640, height=480, scene=holdout_scene("rulebook")
    )
    found = 0
    for i in range(3):
        frame = make_frame(cfg, i)
        a = onnx.detect(frame.rgb, frame.depth, frame.camera)
        b = eager.detect(frame.rgb, frame.depth, frame.camera)
        assert [d.label for d in a] == [d.label for d in b]
        np.testing.assert_allclose([d.score for d in a], [d.score for d in b], atol=1e-4)
        np.testing.assert_allclose([d.pixel for d in a], [d.pixel for d in b], atol=0.01)
        found += len(a)
    assert found >= 6
