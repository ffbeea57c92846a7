"""Checkpoints: atomic writes, weights_only loads, errors naming the file."""

import os
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

from grasp_pipeline.training.checkpoint import (
    CheckpointError,
    UnverifiedCheckpointWarning,
    content_hash,
    load_checkpoint,
    save_checkpoint,
    seal_checkpoint,
)


def _state(step: int) -> dict:
    return {"model": {"w": torch.arange(4.0) * step}, "config": {"width": 64}, "step": step}


def test_round_trip_and_normal_file_mode(tmp_path: Path) -> None:
    path = tmp_path / "run" / "ckpt.pt"
    save_checkpoint(path, _state(3))
    back = load_checkpoint(path)
    assert back["step"] == 3 and back["config"] == {"width": 64}
    assert torch.equal(back["model"]["w"], torch.tensor([0.0, 3.0, 6.0, 9.0]))
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    assert [p.name for p in path.parent.iterdir()] == ["ckpt.pt"]  # no temp file left behind


def test_failed_write_keeps_the_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, _state(1))

    def disk_gone(fd: int) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(os, "fsync", disk_gone)
    with pytest.raises(OSError, match="disk gone"):
        save_checkpoint(path, _state(2))
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]


def test_missing_truncated_foreign_and_unsafe_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nowhere\.pt"):
        load_checkpoint(tmp_path / "nowhere.pt")
    good = tmp_path / "good.pt"
    save_checkpoint(good, _state(2))
    cut = tmp_path / "cut.pt"
    cut.write_bytes(good.read_bytes()[:100])
    with pytest.raises(ValueError, match=r"cut\.pt"):
        load_checkpoint(cut)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    with pytest.raises(ValueError, match="not a grasp_pipeline checkpoint"):
        load_checkpoint(foreign)
    unsafe = tmp_path / "unsafe.pt"
    unsafe.write_bytes(pickle.dumps({"model": {}, "config": print, "step": 0}))
    with pytest.raises(ValueError, match=r"unsafe\.pt"):
        load_checkpoint(unsafe)
    with pytest.raises(ValueError, match="lacks"):
        save_checkpoint(tmp_path / "x.pt", {"model": {}})


# -- content hash, non-finite weights, old files -------------------------------------------------
ROOT = Path(__file__).resolve().parents[1]


def _big_state() -> dict:
    g = torch.Generator().manual_seed(0)
    weights = {"conv.weight": torch.randn(64, 256, generator=g), "conv.bias": torch.zeros(64)}
    return {"model": weights, "config": {"model": {"width": 64}}, "step": 7}


def _offset_of(path: Path, t: torch.Tensor) -> int:
    at = path.read_bytes().find(t.numpy().tobytes()[:256])
    assert at > 0
    return at


@pytest.mark.parametrize("damage", ["bit", "page"])
def test_flipped_bits_in_the_weights_are_found(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "m.pt"
    state = _big_state()
    save_checkpoint(path, state)
    blob = bytearray(path.read_bytes())
    at = _offset_of(path, state["model"]["conv.weight"]) + 8192
    if damage == "bit":
        blob[at] ^= 0x04
    else:  # a whole 4 KiB page of the weights reads back as zeros
        blob[at : at + 4096] = bytes(4096)
    path.write_bytes(bytes(blob))
    # torch itself loads the damaged file without complaint ...
    assert torch.load(path, weights_only=True)["step"] == 7
    # ... the content hash does not.
    with pytest.raises(
        CheckpointError, match=rf"checkpoint {path} is corrupt: content hash mismatch"
    ):
        load_checkpoint(path)


def test_hash_covers_config_and_step_and_ignores_container_kind(tmp_path: Path) -> None:
    state = _big_state()
    h = content_hash(state)
    assert content_hash({**state, "config": {"model": {"width": 65}}}) != h
    assert content_hash({**state, "step": 8}) != h
    assert content_hash({**state, "meta": {"anything": 1}}) == h  # meta holds the hash itself
    as_tuple = {**state, "config": {"model": {"width": 64}, "filters": (1, 2)}}
    as_list = {**state, "config": {"model": {"width": 64}, "filters": [1, 2]}}
    assert content_hash(as_tuple) == content_hash(as_list)
    path = tmp_path / "m.pt"
    save_checkpoint(path, as_tuple)
    back = load_checkpoint(path)
    assert back["meta"]["content_sha256"] == content_hash(as_tuple)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused_with_the_tensor_name(tmp_path: Path, bad: float) -> None:
    state = _big_state()
    state["model"]["conv.bias"][5] = bad
    path = tmp_path / "m.pt"
    save_checkpoint(path, state)
    with pytest.raises(CheckpointError, match=r"non-finite weights: 'conv.bias' has 1 of 64"):
        load_checkpoint(path)


def test_old_checkpoint_loads_with_a_warning_and_seals_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "old.pt"
    state = _big_state()
    torch.save(state, path)  # as written before content hashes
    with pytest.warns(UnverifiedCheckpointWarning, match=r"old\.pt has no content hash"):
        back = load_checkpoint(path)
    assert torch.equal(back["model"]["conv.weight"], state["model"]["conv.weight"])
    digest = seal_checkpoint(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sealed = load_checkpoint(path)
    assert sealed["meta"]["content_sha256"] == digest
    assert sealed["config"] == state["config"] and sealed["step"] == state["step"]
    for k, v in state["model"].items():
        assert torch.equal(sealed["model"][k], v)


def test_shipped_segnet_model_is_sealed() -> None:
    """models/segnet/model.pt carries its hash (sealed with `grasp-pipeline checkpoint seal`)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        state = load_checkpoint(ROOT / "models" / "segnet" / "model.pt")
    assert state["step"] == 6000 and len(state["config"]["labels"]) == 13


def test_shipped_parts_classifier_is_sealed() -> None:
    """models/parts/classifier.pt carries its hash and names the 22 catalog parts + unknown."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        state = load_checkpoint(ROOT / "models" / "parts" / "classifier.pt")
    labels = state["config"]["labels"]
    assert len(labels) == 23 and labels[-1] == "unknown" and "Drill" in labels
    # with its pickup network, which placed points nearer the centres of gravity than the
    # regions' 3-D means on its validation crops
    figures = state["pickup"]["validation"]
    assert figures["network"]["pickup_rate"] > figures["mean_3d"]["pickup_rate"] + 0.1


def test_serving_a_model_never_imports_training(tmp_path: Path) -> None:
    """The networks load through their own packages: the detector node's loader, the segnet and
    parts detectors and the descriptor loader leave ``grasp_pipeline.training`` unimported."""
    code = f"""
import sys
import torch
from grasp_pipeline.perception.descriptors.config import DescriptorNetConfig
from grasp_pipeline.perception.descriptors.model import DescriptorNet
from grasp_pipeline.perception.descriptors.checkpoint import save_descriptor_model, load_descriptor_model
from grasp_pipeline.ros.detector_loading import load_detector
net = DescriptorNet(DescriptorNetConfig(descriptor_dim=3, num_keypoints=8, base_width=8, blocks=(1, 1, 1, 1)))
save_descriptor_model({str(tmp_path / "d.pt")!r}, net, step=3)
assert load_descriptor_model({str(tmp_path / "d.pt")!r}).config == net.config
det = load_detector("segnet", {str(ROOT / "models/segnet/model.pt")!r})
parts = load_detector("parts", {str(ROOT / "models/parts/classifier.pt")!r})
print(sorted(m for m in sys.modules if m.startswith("grasp_pipeline.training")))
"""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=50, env=env
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip() == "[]"
