"""Checkpoints: atomic writes, weights_only loads, errors naming the file."""

import os
import pickle
from pathlib import Path

import pytest
import torch

from grasp_pipeline.training.checkpoint import load_checkpoint, save_checkpoint


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
