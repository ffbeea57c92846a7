"""rosbag2 replay (sqlite3 and MCAP) through rosbags: frames equal the written ones."""

from __future__ import annotations

import numpy as np
import pytest

from grasp_pipeline.geometry.camera import preset
from grasp_pipeline.sources.rosbag_source import RosbagSource, write_rosbag

CAM = preset("sr300", 40, 30)


def frames(n: int = 5):
    out = []
    for k in range(n):
        rng = np.random.default_rng(k)
        out.append(
            (
                rng.integers(0, 256, (30, 40, 3), dtype=np.uint8),
                rng.integers(0, 3000, (30, 40), dtype=np.uint16),
                2_000_000_000 + k * 33_333_333,
            )
        )
    return out


@pytest.mark.parametrize("mcap", [False, True])
def test_written_bag_replays_exactly(tmp_path, mcap: bool) -> None:
    written = frames()
    assert write_rosbag(tmp_path / "bag", written, CAM, mcap=mcap) == 5
    with RosbagSource(tmp_path / "bag") as src:
        got = []
        while (fs := src.read()) is not None:
            got.append(fs)
    assert len(got) == 5 and src.skipped == 0
    for g, (rgb, depth, stamp) in zip(got, written, strict=True):
        np.testing.assert_array_equal(g.rgb, rgb)
        np.testing.assert_array_equal(g.depth, depth)
        assert g.stamp_ns == stamp
    assert got[0].camera.fx == pytest.approx(CAM.fx) and got[0].camera.cy == pytest.approx(CAM.cy)


def test_loop_and_missing_topic(tmp_path) -> None:
    write_rosbag(tmp_path / "bag", frames(3), CAM)
    with RosbagSource(tmp_path / "bag", loop=True) as src:
        stamps = [src.read().stamp_ns for _ in range(5)]
    assert stamps == [2_000_000_000 + k * 33_333_333 for k in (0, 1, 2, 0, 1)]
    with pytest.raises(ValueError, match="depth topic '/nope'"):
        RosbagSource(tmp_path / "bag", depth_topic="/nope").open()
    with pytest.raises(FileNotFoundError, match="missing_bag"):
        RosbagSource(tmp_path / "missing_bag")


def test_unpaired_messages_are_skipped_or_paired_by_tolerance(tmp_path) -> None:
    """Depth stamped 1 ms after colour never pairs exactly; a 2 ms tolerance pairs it."""
    written = frames(4)
    write_rosbag(tmp_path / "a", written, CAM, depth_stamp_offset_ns=1_000_000)
    with RosbagSource(tmp_path / "a") as src:
        assert src.read() is None
    assert src.skipped == 8  # 4 colour + 4 depth messages without a partner
    with RosbagSource(tmp_path / "a", tolerance_ns=2_000_000) as src:
        got = [src.read() for _ in range(4)]
        assert src.read() is None
    assert [g.stamp_ns for g in got] == [s for _, _, s in written]  # the colour stamp
    np.testing.assert_array_equal(got[2].depth, written[2][1])
