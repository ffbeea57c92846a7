"""Stamp pairing of colour / depth / camera_info (no DDS): newest frame set only, no backlog,
camera_info of the same stamp only, recovery from stamps that jump ahead or back."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from grasp_pipeline.ros.frame_sync import FrameSync

MS = 1_000_000
S = 1_000_000_000
PERIOD = 33 * MS  # ~30 Hz


def msg(ns: int, tag: str = "") -> SimpleNamespace:
    return SimpleNamespace(
        header=SimpleNamespace(stamp=SimpleNamespace(sec=ns // 10**9, nanosec=ns % 10**9)), tag=tag
    )


def send(s: FrameSync, stamp: int, now: int, info_tag: str = "", order: str = "icd") -> None:
    """All three messages of one frame set, received at ``now`` in ``order``."""
    kinds = {"i": "info", "c": "color", "d": "depth"}
    for k in order:
        s.add(kinds[k], msg(stamp, info_tag or f"i{stamp}"), now)


class Events(list):
    def __call__(self, kind: str, text: str) -> None:
        self.append((kind, text))

    def kinds(self) -> list[str]:
        return [k for k, _ in self]


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


@pytest.mark.parametrize("order", ["icd", "cdi", "dci", "cid"])
def test_info_arriving_with_or_after_its_images_is_the_one_used(order: str) -> None:
    """Intrinsics change between frames; whatever the arrival order, each frame set carries the
    camera_info of its own stamp (before: the previous one, 3-D points 2x off)."""
    s = FrameSync()
    send(s, 1 * S, 1 * S, "K640", order)
    assert s.take(0).info.tag == "K640"
    send(s, 1 * S + PERIOD, 1 * S + PERIOD, "K1280", order)
    f = s.take(0)
    assert f.stamp_ns == 1 * S + PERIOD and f.info.tag == "K1280"


def test_images_wait_for_the_camera_info_of_their_stamp() -> None:
    s = FrameSync()
    s.add("info", msg(1, "i1"))
    s.add("color", msg(2))
    s.add("depth", msg(2))
    assert s.take(0) is None  # info of stamp 1 is not the info of stamp 2
    s.add("info", msg(2, "i2"))
    f = s.take(0)
    assert f.stamp_ns == 2 and f.info.tag == "i2"


def test_a_bad_camera_info_affects_only_its_own_frame() -> None:
    s = FrameSync()
    send(s, 1 * S, 1 * S, "bad")
    assert s.take(0).info.tag == "bad"  # the node drops this one
    # the next frame's info arrives after its images: it must not inherit "bad"
    send(s, 1 * S + PERIOD, 1 * S + PERIOD, "good", order="cdi")
    assert s.take(0).info.tag == "good"


def test_only_the_newest_complete_set_is_kept() -> None:
    s = FrameSync()
    for t in (1, 2, 3):
        send(s, t, 0)
    f = s.take(0)
    assert f.stamp_ns == 3 and s.dropped == 2 and s.completed == 3
    # a late frame set older than what was handed out is ignored, silently (it happens)
    ev = Events()
    s.on_event = ev
    send(s, 2, 0)
    assert s.take(0) is None and s.backward == 1 and ev == []
    send(s, 4, 0)
    assert s.take(0).stamp_ns == 4


def test_tolerance_pairs_close_stamps_with_the_info_of_that_instant() -> None:
    s = FrameSync(tolerance_ns=1000)
    s.add("info", msg(0, "old"))
    s.add("color", msg(10_000))
    s.add("depth", msg(10_400))
    assert s.take(0) is None  # "old" is 10 us away: not this instant's camera_info
    s.add("info", msg(10_200, "i10"))
    f = s.take(0)
    assert f.stamp_ns == 10_000 and f.info.tag == "i10"
    s.add("info", msg(20_000))
    s.add("color", msg(20_000))
    s.add("depth", msg(22_000))  # 2 us apart: no pair
    assert s.take(0) is None


def test_pair_without_camera_info_is_counted_when_it_is_given_up() -> None:
    s = FrameSync()
    s.add("color", msg(1))
    s.add("depth", msg(1))
    assert s.take(0) is None and s.no_info == 0  # still waiting for its info
    send(s, 2, 0, order="cdi")  # frame 2 completes: frame 1 can never be used any more
    assert s.take(0).stamp_ns == 2
    assert s.no_info == 1 and s.unmatched == {"color": 1, "depth": 1, "info": 0}


def test_one_frame_far_in_the_future_does_not_blind_the_sync() -> None:
    ev = Events()
    s = FrameSync(on_event=ev)
    t0 = 1000 * S
    for k in range(10):
        send(s, t0 + k * PERIOD, t0 + k * PERIOD)
    assert s.take(0).stamp_ns == t0 + 9 * PERIOD
    send(s, t0 + 86_400 * S, t0 + 10 * PERIOD)  # stamped 24 h ahead
    assert s.take(0) is None and s.ahead == 1
    assert ev.kinds() == ["ahead"] and "86399.7 s ahead" in ev[0][1]
    for k in range(11, 40):  # valid frames keep coming and keep being accepted
        send(s, t0 + k * PERIOD, t0 + k * PERIOD)
        assert s.take(0).stamp_ns == t0 + k * PERIOD, k
    assert s.resyncs == 0 and s.ahead == 1


def test_slow_but_rising_stamps_are_fine_and_a_small_lead_too() -> None:
    """Simulated time slower than the wall clock, or 2 s of lead: no refusal."""
    s = FrameSync()
    t = 0
    for k in range(20):
        t += PERIOD // 3
        send(s, t, k * PERIOD)
        assert s.take(0) is not None
    send(s, t + 2 * S, 20 * PERIOD)
    assert s.take(0) is not None and s.ahead == 0


def test_camera_restart_with_an_earlier_clock_resyncs_within_a_few_frames() -> None:
    """Device stamps restart near zero while frames keep flowing (no gap)."""
    ev = Events()
    s = FrameSync(resync_frames=5, on_event=ev)
    now = 0
    for k in range(30):  # the previous session ran long: stamps at 3600 s
        now += PERIOD
        send(s, 3600 * S + k * PERIOD, now)
    assert s.take(0) is not None
    got = []
    for k in range(10):
        now += PERIOD
        send(s, 1 * S + k * PERIOD, now)
        f = s.take(0)
        got.append(f.stamp_ns if f else None)
    # 4 refused, the 5th adopts the new clock, every later one flows
    assert got[:4] == [None] * 4 and got[4:] == [1 * S + k * PERIOD for k in range(4, 10)]
    assert s.resyncs == 1 and s.backward == 4
    assert "backward" in ev.kinds() and ev.kinds()[-1] == "resync"
    assert "5 frame sets in a row" in ev[-1][1] and "older than" in ev[-1][1]
    assert (4 * PERIOD) / S < 1.0  # blind well under a second


def test_after_a_gap_the_first_frame_set_adopts_the_new_clock() -> None:
    ev = Events()
    s = FrameSync(resync_gap_ns=1 * S, on_event=ev)
    send(s, 500 * S, 10 * S)
    assert s.take(0) is not None
    send(s, 2 * S, 12 * S)  # camera restarted 2 s later with stamps near zero
    f = s.take(0)
    assert f is not None and f.stamp_ns == 2 * S
    assert ev.kinds() == ["resync"] and "after 2.0 s without frames" in ev[0][1]
    send(s, 2 * S + PERIOD, 12 * S + PERIOD)
    assert s.take(0) is not None


def test_repeated_or_scattered_bad_stamps_never_resync() -> None:
    """A frame set repeated with one future stamp is not a new clock."""
    s = FrameSync(resync_frames=3)
    now = 0
    for k in range(20):
        now += PERIOD
        send(s, 100 * S + k * PERIOD, now)
        s.take(0)
        now += PERIOD // 2
        send(s, 999_999 * S, now)  # the same bogus stamp again and again
        assert s.take(0) is None
    assert s.resyncs == 0 and s.ahead == 20


def test_buffers_stay_bounded_when_images_never_arrive() -> None:
    """camera_info arrives, its images are lost in transport: memory flat, loss counted."""
    s = FrameSync(keep=8)
    for k in range(1000):
        s.add("info", msg(k * PERIOD), k * PERIOD)
        s.add("depth", msg(k * PERIOD), k * PERIOD)
    assert all(len(p) <= 8 for p in s._pending.values())
    assert s.unmatched == {"color": 0, "depth": 992, "info": 992} and s.completed == 0
    assert s.counters()["unmatched_info"] == 992


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="kind"):
        FrameSync().add("ir", msg(1))
    with pytest.raises(ValueError, match="tolerance_ns"):
        FrameSync(tolerance_ns=-1)
    with pytest.raises(ValueError, match="resync_frames"):
        FrameSync(resync_frames=0)
