"""Dataset folders as a source: frames and ground truth come back as written."""

from __future__ import annotations

import numpy as np
import pytest

from grasp_pipeline.data.format import Frame, ObjectAnnotation, write_frame
from grasp_pipeline.geometry.camera import preset
from grasp_pipeline.sources.folder_source import FolderSource


def _frame(k: int) -> Frame:
    cam = preset("d435", 32, 24)
    rng = np.random.default_rng(k)
    mask = np.zeros((24, 32), np.uint16)
    mask[5:9, 5:9] = 1
    obj = ObjectAnnotation(1, "M20", 6, (7.0, 7.0), np.array([0.0, 0.0, 0.5]), None, None, None, 16)
    return Frame(
        f"f{k:03d}",
        rng.integers(0, 256, (24, 32, 3), dtype=np.uint8),
        rng.integers(1, 2000, (24, 32), dtype=np.uint16),
        mask,
        cam,
        None,
        [obj],
    )


def test_folder_replays_frames_in_order(tmp_path) -> None:
    written = [_frame(k) for k in range(3)]
    for f in written:
        write_frame(tmp_path, f)
    with FolderSource(tmp_path, fps=10) as src:
        got = [src.read() for _ in range(3)]
        assert src.read() is None
    for g, f in zip(got, written, strict=True):
        assert g.extras["frame_id"] == f.frame_id
        np.testing.assert_array_equal(g.rgb, f.rgb)
        np.testing.assert_array_equal(g.depth, f.depth)
        assert g.extras["objects"][0].label == "M20"
    assert [g.stamp_ns for g in got] == [0, 100_000_000, 200_000_000]


def test_folder_errors(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere"):
        FolderSource(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="no frames/ directory"):
        FolderSource(tmp_path).open()
    write_frame(tmp_path, _frame(0))
    with pytest.raises(ValueError, match="f999"):
        FolderSource(tmp_path, frame_ids=["f999"]).open()
