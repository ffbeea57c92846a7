"""Stamp pairing of colour / depth / camera_info (no DDS): newest frame set only, no backlog."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from grasp_pipeline.ros.frame_sync import FrameSync


def msg(ns: int, tag: str = "") -> SimpleNamespace:
    return SimpleNamespace(
        header=SimpleNamespace(stamp=SimpleNamespace(sec=ns // 10**9, nanosec=ns % 10**9)), tag=tag
    )


def test_pairs_by_exact_stamp_and_attaches_matching_info() -> None:
    s = FrameSync()
    s.add("info", msg(5, "i5"))
    s.add("info", msg(10, "i10"))
    s.add("color", msg(10, "c10"))
    assert s.take(0) is None  # depth still missing
    s.add("depth", msg(10, "d10"))
    f = s.take(0)
    assert (f.stamp_ns, f.color.tag, f.depth.tag, f.info.tag) == (10, "c10", "d10", "i10")
    assert s.take(0) is None  # taken once


def test_only_the_newest_complete_set_is_kept() -> None:
    s = FrameSync()
    s.add("info", msg(1))
    for t in (1, 2, 3):
        s.add("depth", msg(t))
        s.add("color", msg(t))
    f = s.take(0)
    assert f.stamp_ns == 3 and s.dropped == 2 and s.completed == 3
    # a late pair older than what was handed out is ignored
    s.add("color", msg(2))
    s.add("depth", msg(2))
    assert s.take(0) is None


def test_tolerance_pairs_close_stamps_and_falls_back_to_latest_info() -> None:
    s = FrameSync(tolerance_ns=1000)
    s.add("info", msg(0, "old"))
    s.add("color", msg(10_000))
    s.add("depth", msg(10_400))
    f = s.take(0)
    assert f.stamp_ns == 10_000 and f.info.tag == "old"
    s.add("color", msg(20_000))
    s.add("depth", msg(22_000))  # 2 us apart: no pair
    assert s.take(0) is None


def test_pair_waits_for_the_first_camera_info() -> None:
    s = FrameSync()
    s.add("color", msg(1))
    s.add("depth", msg(1))
    assert s.take(0) is None
    s.add("color", msg(2))
    s.add("depth", msg(2))
    assert s.no_info == 1  # frame 1 gave up: no info ever came for it
    s.add("info", msg(2, "i2"))
    f = s.take(0)
    assert f.stamp_ns == 2 and f.info.tag == "i2"


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="kind"):
        FrameSync().add("ir", msg(1))
    with pytest.raises(ValueError, match="tolerance_ns"):
        FrameSync(tolerance_ns=-1)
