"""SegnetDetector end to end on a small trained network, and its handling of bad input."""

import numpy as np
import pytest
import torch
from segnet_fixtures import BoxesDataset

from grasp_pipeline.geometry.camera import CameraIntrinsics
from grasp_pipeline.perception.detector import Detector
from grasp_pipeline.perception.segnet import SegNet, SegNetConfig
from grasp_pipeline.perception.segnet.detector import SegnetDetector, preprocess
from grasp_pipeline.training.checkpoint import load_checkpoint, save_checkpoint
from grasp_pipeline.training.segnet_trainer import SegNetTrainer, TrainConfig

LABELS = ["red", "green", "blue"]
MCFG = SegNetConfig(width=32, height=24, num_classes=3, filters=(8, 16, 16, 24), dropout=0.0)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("segnet")
    t = SegNetTrainer(
        MCFG,
        TrainConfig(method="sum", steps=300, lr=3e-3, eval_every=300, batch_size=8, seed=0),
        BoxesDataset(64, seed=0),
        BoxesDataset(8, seed=1),
        out,
    )
    hist = t.fit(progress=False)
    assert hist[-1]["distance_px"] < 2.5
    state = load_checkpoint(out / "checkpoint.pt")
    state["config"]["labels"] = LABELS
    save_checkpoint(out / "model.pt", state)
    return out / "model.pt"


def _frame(cls=1, scale=4):
    item = BoxesDataset(1, seed=5).items[0]
    cls = int(torch.nonzero(item["present"])[0])
    img = item["image"].numpy()
    rgb = (np.repeat(np.repeat(img[:3].transpose(1, 2, 0), scale, 0), scale, 1) * 255).round()
    depth = np.repeat(np.repeat(item["depth_m"].numpy(), scale, 0), scale, 1)
    u, v = item["pickup"][cls].tolist()
    cam = CameraIntrinsics(32 * scale, 24 * scale, 160.0, 160.0, 63.5, 47.5)
    truth = ((u + 0.5) * scale - 0.5, (v + 0.5) * scale - 0.5)
    return rgb.astype(np.uint8), (depth * 1000).astype(np.uint16), cam, cls, truth


def test_detects_box_at_right_pixel_and_depth(ckpt):
    det = SegnetDetector(ckpt, threshold=0.4)
    assert isinstance(det, Detector) and det.labels == LABELS
    rgb, depth, cam, cls, truth = _frame()
    found = det.detect(rgb, depth, cam, targets=[LABELS[cls]])
    assert found, "no detection"
    d = found[0]
    assert d.label == LABELS[cls]
    assert np.hypot(d.pixel[0] - truth[0], d.pixel[1] - truth[1]) < 6.0  # 1.5 network pixels
    assert d.point[2] == pytest.approx(0.45, abs=0.01)
    expect_x = (d.pixel[0] - cam.cx) * d.point[2] / cam.fx
    assert d.point[0] == pytest.approx(expect_x, rel=1e-6)
    assert np.linalg.norm(d.grasp_axis) == pytest.approx(1.0)
    assert d.pose[:3, 3] == pytest.approx(d.point)
    everything = det.detect(rgb, depth, cam)
    assert LABELS[cls] in {x.label for x in everything}


def test_bad_inputs(ckpt):
    det = SegnetDetector(ckpt, threshold=0.4)
    rgb, depth, cam, _, _ = _frame()
    with pytest.raises(ValueError, match="unknown target"):
        det.detect(rgb, depth, cam, targets=["Motor_X"])
    with pytest.raises(ValueError, match="depth must be"):
        det.detect(rgb, depth[:10], cam)
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        det.detect(rgb[..., 0], depth, cam)
    with pytest.raises(ValueError, match="uint8"):
        det.detect(rgb.astype(np.float32), depth, cam)
    with pytest.raises(ValueError, match="camera is"):
        det.detect(rgb, depth, cam.scaled(64, 48))
    assert det.detect(rgb, np.zeros_like(depth), cam) == []  # no depth: nothing graspable
    bad = depth.astype(np.float32)
    bad[:, : bad.shape[1] // 2] = np.nan
    bad[0, -1] = np.inf
    for d in det.detect(rgb, bad, cam):  # NaN/inf are holes: never a crash, never a NaN point
        assert np.all(np.isfinite(d.point))


def test_bad_checkpoints(ckpt, tmp_path):
    with pytest.raises(ValueError, match="expected"):
        SegnetDetector(ckpt, expect_config=SegNetConfig())
    state = load_checkpoint(ckpt)
    state["config"]["model"] = SegNetConfig(
        width=32, height=24, num_classes=3, filters=(4, 8)
    ).to_dict()
    save_checkpoint(tmp_path / "other.pt", state)
    with pytest.raises(ValueError, match="do not match"):
        SegnetDetector(tmp_path / "other.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"junk\.pt"):
        SegnetDetector(tmp_path / "junk.pt")
    with pytest.raises(FileNotFoundError):
        SegnetDetector(tmp_path / "missing.pt")
    state = load_checkpoint(ckpt)
    state["model"]["head.weight"].view(-1)[0] = float("nan")
    save_checkpoint(tmp_path / "nan.pt", state)
    with pytest.raises(ValueError, match=r"nan\.pt holds non-finite weights: 'head\.weight'"):
        SegnetDetector(tmp_path / "nan.pt")


@pytest.mark.parametrize("backend", ["channels_last", "onnx"])
def test_backends_agree_with_eager(ckpt, backend):
    rgb, depth, cam, _, _ = _frame()
    ref = SegnetDetector(ckpt, threshold=0.4)
    other = SegnetDetector(ckpt, threshold=0.4, backend=backend)
    dm = depth.astype(np.float32) / 1000
    m0, p0 = ref.activations(rgb, dm)
    m1, p1 = other.activations(rgb, dm)
    assert m1.shape == m0.shape == (3, 24, 32)
    np.testing.assert_allclose(m1, m0, atol=1e-4)
    np.testing.assert_allclose(p1, p0, atol=1e-4)
    a, b = ref.detect(rgb, depth, cam), other.detect(rgb, depth, cam)
    assert [d.label for d in a] == [d.label for d in b]


def test_unknown_backend(ckpt):
    with pytest.raises(ValueError, match="unknown inference backend"):
        SegnetDetector(ckpt, backend="tensorrt")


def _save(net: SegNet, path) -> None:
    """An untrained network as a detector checkpoint with the test labels."""
    state = {"model": net.state_dict(), "config": {"model": net.config.to_dict(), "labels": LABELS}}
    save_checkpoint(path, {**state, "step": 0})


@pytest.mark.parametrize("backend", ["channels_last", "onnx"])
def test_batch_norm_model_backends_agree(tmp_path, backend):
    cfg = SegNetConfig(width=32, height=24, num_classes=3, filters=(8, 16, 16, 24), batch_norm=True)
    torch.manual_seed(0)
    net = SegNet(cfg)
    for m in net.modules():  # non-trivial running statistics, as after training
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
    _save(net, tmp_path / "bn.pt")
    rgb, depth, _, _, _ = _frame()
    dm = depth.astype(np.float32) / 1000
    m0, p0 = SegnetDetector(tmp_path / "bn.pt").activations(rgb, dm)
    m1, p1 = SegnetDetector(tmp_path / "bn.pt", backend=backend).activations(rgb, dm)
    np.testing.assert_allclose(m1, m0, atol=1e-4)
    np.testing.assert_allclose(p1, p0, atol=1e-4)


@pytest.mark.parametrize("backend", ["torch", "channels_last", "onnx"])
def test_offset_head_votes_reach_the_detection(tmp_path, backend):
    from grasp_pipeline.perception.segnet.postprocess import find_instances

    cfg = SegNetConfig(
        width=32, height=24, num_classes=3, filters=(8, 16, 16, 24), dropout=0.0, offset_head=True
    )
    torch.manual_seed(0)
    net = SegNet(cfg)
    with torch.no_grad():
        net.head.bias.fill_(3.0)  # every map on: a blob over the whole frame
        net.offset.weight.mul_(20.0)  # large, varied offsets
    _save(net, tmp_path / "off.pt")
    rgb, depth, cam, _, _ = _frame()
    x = torch.from_numpy(np.zeros((1, 4, 24, 32), np.float32))
    ref = SegnetDetector(tmp_path / "off.pt")
    det = SegnetDetector(tmp_path / "off.pt", backend=backend)
    _, _, offsets = det.backend(x.numpy())
    _, _, o0 = ref.backend(x.numpy())
    assert offsets.shape == (2, 24, 32)
    np.testing.assert_allclose(offsets, o0, atol=1e-3)
    with torch.no_grad():
        _, _, o_net = net.eval().forward_all(x)
    np.testing.assert_allclose(o0, o_net[0].numpy(), atol=1e-4)
    dets = det.detect(rgb, depth, cam, targets=["green"])
    assert dets
    dm = depth.astype(np.float32) / 1000
    maps, _ = det.activations(rgb, dm)
    _, _, offs = det.backend(preprocess(rgb, dm, cfg.size, 1.0)[None])
    (inst,) = find_instances(maps[1], det.threshold, det.min_pixels, 1, offs)
    plain = find_instances(maps[1], det.threshold, det.min_pixels, 1)[0]
    assert inst.pixel != pytest.approx(plain.pixel, abs=0.5)  # the votes moved it
    u, v = ((inst.pixel[0] + 0.5) * 4 - 0.5, (inst.pixel[1] + 0.5) * 4 - 0.5)
    assert dets[0].pixel == pytest.approx((u, v), abs=1e-3 if backend != "onnx" else 0.05)
