"""Pair colour, depth and camera_info messages by header stamp, keeping only the newest frame set.

No rclpy here (plain message objects in, plain objects out), so the policy is tested without DDS.

Pairing. Each topic has a small buffer keyed by stamp (``keep`` messages, the oldest received
leaves first). A frame set is complete when colour, depth and camera_info of the same stamp
(within ``tolerance_ns``) are all there, in whatever order they arrive: the camera_info of another
frame is never used, so a change of intrinsics or one bad camera_info affects only its own frame.
Completing a frame set replaces any unprocessed older one (counted in ``dropped``): a slow detector
always works on the newest frame and never builds a backlog. Messages that leave a buffer without
forming a frame set are counted per topic in ``unmatched`` (``no_info`` counts colour + depth
pairs that never got a camera_info of their stamp): images lost in transport show up there.

Stamp jumps. Stamps normally grow with the receive clock. A complete frame set is refused when

* its stamp is not newer than the newest accepted one (``backward``; logged from the second in a
  row, since a lone late frame set is normal), or
* its stamp ran ahead of the newest accepted one by more than the receive time elapsed since then
  plus ``max_ahead_ns`` (``ahead``; e.g. one frame stamped a day in the future).

Refusing must not blind the node when the camera legitimately changed its clock (a restart with
device stamps, another stamp source): ``resync_frames`` refused frame sets in a row with increasing
stamps, or any complete frame set ``resync_gap_ns`` (receive time) after the last accepted one,
adopt the new clock (counted in ``resyncs``). Each refusal and resync is reported through
``on_event(kind, text)`` for the node to log (throttled there).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

KINDS = ("color", "depth", "info")


def stamp_ns(msg: Any) -> int:
    """Header stamp of ``msg`` in integer nanoseconds."""
    return int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)


@dataclass
class SyncedFrame:
    """Messages of one instant: colour, depth and the camera_info of the same stamp.

    ``received_ns``: receive clock (the ``now_ns`` given to :meth:`FrameSync.add`) when the frame
    set completed.
    """

    stamp_ns: int
    color: Any
    depth: Any
    info: Any
    received_ns: int = 0


class FrameSync:
    """Thread-safe stamp matcher with a one-slot output (see the module docstring).

    ``tolerance_ns``: largest stamp difference paired as one instant (ns). ``keep``: messages
    buffered per topic. ``max_ahead_ns``: how far a stamp may run ahead of the receive clock
    (ns). ``resync_frames`` / ``resync_gap_ns``: when a changed camera clock is adopted.
    ``on_event(kind, text)``: called (under the lock, keep it short) with ``kind`` one of
    ``"ahead"``, ``"backward"``, ``"resync"``.
    """

    def __init__(
        self,
        tolerance_ns: int = 0,
        keep: int = 8,
        max_ahead_ns: int = 3_000_000_000,
        resync_frames: int = 5,
        resync_gap_ns: int = 1_000_000_000,
        on_event: Callable[[str, str], None] | None = None,
    ) -> None:
        if tolerance_ns < 0 or keep < 1:
            raise ValueError(f"tolerance_ns must be >= 0 and keep >= 1, got {tolerance_ns}, {keep}")
        if max_ahead_ns <= 0 or resync_frames < 1 or resync_gap_ns <= 0:
            raise ValueError(
                "max_ahead_ns and resync_gap_ns must be > 0 and resync_frames >= 1, got "
                f"{max_ahead_ns}, {resync_gap_ns}, {resync_frames}"
            )
        self.tolerance_ns, self.keep = int(tolerance_ns), int(keep)
        self.max_ahead_ns, self.resync_gap_ns = int(max_ahead_ns), int(resync_gap_ns)
        self.resync_frames = int(resync_frames)
        self.on_event = on_event
        # per topic: stamp -> message, in receive order (the first entry is the oldest received)
        self._pending: dict[str, OrderedDict[int, Any]] = {k: OrderedDict() for k in KINDS}
        self._ready: SyncedFrame | None = None
        self._last_stamp: int | None = None  # newest accepted stamp (ns)
        self._last_recv = 0  # receive clock when it was accepted (ns)
        self._run: list[int] = []  # stamps of the refused frame sets in a row
        self._cv = threading.Condition()
        self.last_info_stamp_ns: int | None = None
        self.completed = 0  # frame sets handed to take()
        self.dropped = 0  # complete frame sets replaced before anyone took them
        self.no_info = 0  # colour + depth pairs dropped because no camera_info of their stamp came
        self.unmatched = dict.fromkeys(KINDS, 0)  # messages that never formed a frame set
        self.backward = 0  # frame sets refused: not newer than the newest accepted one
        self.ahead = 0  # frame sets refused: stamp far ahead of the receive clock
        self.resyncs = 0  # times a new camera clock was adopted

    def add(self, kind: str, msg: Any, now_ns: int = 0) -> None:
        """Add a ``"color"``, ``"depth"`` or ``"info"`` message received at ``now_ns``.

        ``now_ns``: a steady receive clock in nanoseconds (e.g. ``time.monotonic_ns()``).
        """
        if kind not in self._pending:
            raise ValueError(f"kind must be color, depth or info, got {kind!r}")
        s = stamp_ns(msg)
        with self._cv:
            if kind == "info":
                self.last_info_stamp_ns = s
            pend = self._pending[kind]
            pend.pop(s, None)
            pend[s] = msg
            while len(pend) > self.keep:
                old, _ = pend.popitem(last=False)
                self._forget(kind, old)
            self._try_complete(kind, s, now_ns)

    # -- pairing -------------------------------------------------------------------------------
    def _match(self, kind: str, s: int) -> int | None:
        pend = self._pending[kind]
        if s in pend:
            return s
        if self.tolerance_ns == 0 or not pend:
            return None
        best = min(pend, key=lambda k: abs(k - s))
        return best if abs(best - s) <= self.tolerance_ns else None

    def _forget(self, kind: str, s: int) -> None:
        """Account for the message of ``kind`` at ``s`` that left its buffer unused."""
        self.unmatched[kind] += 1
        if kind == "color" and self._match("depth", s) is not None:
            self.no_info += 1  # a colour + depth pair whose camera_info never came

    def _try_complete(self, kind: str, s: int, now_ns: int) -> None:
        color_s = s if kind == "color" else self._match("color", s)
        if color_s is None:
            return
        depth_s = self._match("depth", color_s)
        info_s = self._match("info", color_s)
        if depth_s is None or info_s is None:
            return
        frame = SyncedFrame(
            color_s,
            self._pending["color"].pop(color_s),
            self._pending["depth"].pop(depth_s),
            self._pending["info"].pop(info_s),
            now_ns,
        )
        if self._admit(color_s, now_ns):
            self._accept(frame)

    # -- stamp policy --------------------------------------------------------------------------
    def _admit(self, s: int, now_ns: int) -> bool:
        """Whether the complete frame set at stamp ``s`` is accepted (see the module docstring)."""
        last = self._last_stamp
        if last is None:
            return True
        since = now_ns - self._last_recv
        if s > last:
            lead = (s - last) - max(since, 0)
            if lead <= self.max_ahead_ns:
                self._run.clear()
                return True
            cause = f"{lead / 1e9:.1f} s ahead of the newest accepted frame"
        else:
            cause = f"{(last - s) / 1e9:.3f} s older than the newest accepted frame"
        if since >= self.resync_gap_ns:
            self._resync(f"after {since / 1e9:.1f} s without frames, a stamp {cause}")
            return True
        if self._run and s <= self._run[-1]:
            self._run.clear()  # not one new clock: start counting again
        self._run.append(s)
        if len(self._run) >= self.resync_frames:
            self._resync(f"{len(self._run)} frame sets in a row with stamps {cause}")
            return True
        if s > last:
            self.ahead += 1
            self._event(
                "ahead",
                f"frame stamp {cause}: ignored (a changed camera clock is adopted after "
                f"{self.resync_frames} such frames or {self.resync_gap_ns / 1e9:.1f} s)",
            )
        else:
            self.backward += 1
            if len(self._run) > 1:  # one late frame set is normal; a run of them is a clock jump
                self._event("backward", f"frame stamps went backwards: {cause} (camera restart?)")
        return False

    def _resync(self, why: str) -> None:
        self.resyncs += 1
        self._run.clear()
        self._last_stamp = None  # let _accept prune relative to the new clock only
        self._event("resync", f"camera clock changed ({why}): resynchronised")

    def _accept(self, frame: SyncedFrame) -> None:
        s = frame.stamp_ns
        for kind, pend in self._pending.items():  # nothing older can complete after this one
            for k in [k for k in pend if k < s - self.tolerance_ns]:
                del pend[k]
                self._forget(kind, k)
        self._last_stamp, self._last_recv = s, frame.received_ns
        if self._ready is not None:
            self.dropped += 1
        self._ready = frame
        self.completed += 1
        self._cv.notify_all()

    def _event(self, kind: str, text: str) -> None:
        if self.on_event is not None:
            self.on_event(kind, text)

    # -- output --------------------------------------------------------------------------------
    def take(self, timeout: float | None = None) -> SyncedFrame | None:
        """The newest complete frame set (removing it), waiting up to ``timeout`` seconds."""
        with self._cv:
            if self._ready is None:
                self._cv.wait(timeout)
            out, self._ready = self._ready, None
            return out

    def wake(self) -> None:
        """Release a thread blocked in :meth:`take` (used at shutdown)."""
        with self._cv:
            self._cv.notify_all()

    def counters(self) -> dict[str, int]:
        """A snapshot of the counters (for the node's periodic summary)."""
        with self._cv:
            return {
                "completed": self.completed,
                "dropped": self.dropped,
                "no_info": self.no_info,
                "backward": self.backward,
                "ahead": self.ahead,
                "resyncs": self.resyncs,
                **{f"unmatched_{k}": v for k, v in self.unmatched.items()},
            }
