"""Pair colour, depth and camera_info messages by header stamp, keeping only the newest frame set.

No rclpy here (plain message objects in, plain objects out), so the policy is tested without DDS.
Policy: a frame set is complete when colour and depth share a stamp (within ``tolerance_ns``);
its camera_info is the one with the same stamp, else the latest received (intrinsics rarely
change and some drivers publish info on its own clock). Before the first camera_info arrives a
complete pair waits for it (topics are independent, so the first info may land after its images);
a waiting pair replaced by a newer one is counted in ``no_info``. Completing a frame set replaces
any unprocessed older one (counted in ``dropped``): a slow detector always works on the newest
frame and never builds a backlog.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any


def stamp_ns(msg: Any) -> int:
    return int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)


@dataclass
class SyncedFrame:
    """Messages of one instant; ``info`` None when no camera_info has been seen at all."""

    stamp_ns: int
    color: Any
    depth: Any
    info: Any | None
    received_ns: int = 0


class FrameSync:
    """Thread-safe stamp matcher with a one-slot output (see the module docstring)."""

    def __init__(self, tolerance_ns: int = 0, keep: int = 8) -> None:
        if tolerance_ns < 0 or keep < 1:
            raise ValueError(f"tolerance_ns must be >= 0 and keep >= 1, got {tolerance_ns}, {keep}")
        self.tolerance_ns, self.keep = int(tolerance_ns), int(keep)
        self._pending: dict[str, dict[int, Any]] = {"color": {}, "depth": {}, "info": {}}
        self._latest_info: Any | None = None
        self._ready: SyncedFrame | None = None
        self._waiting: SyncedFrame | None = None  # complete pair, no camera_info seen yet
        self._last_out = -1
        self._cv = threading.Condition()
        self.completed = 0
        self.dropped = 0  # complete frame sets replaced before anyone took them
        self.no_info = 0  # complete pairs dropped because no camera_info ever came

    def add(self, kind: str, msg: Any, now_ns: int = 0) -> None:
        """Add a ``"color"``, ``"depth"`` or ``"info"`` message."""
        if kind not in self._pending:
            raise ValueError(f"kind must be color, depth or info, got {kind!r}")
        s = stamp_ns(msg)
        with self._cv:
            if kind == "info":
                self._latest_info = msg
                if self._waiting is not None:
                    w, self._waiting = self._waiting, None
                    w.info = msg
                    self._publish(w)
            pend = self._pending[kind]
            pend[s] = msg
            if len(pend) > self.keep:
                del pend[min(pend)]
            if kind != "info":
                self._try_complete(s, kind, now_ns)

    def _match(self, pend: dict[int, Any], s: int) -> int | None:
        if s in pend:
            return s
        if self.tolerance_ns == 0 or not pend:
            return None
        best = min(pend, key=lambda k: abs(k - s))
        return best if abs(best - s) <= self.tolerance_ns else None

    def _try_complete(self, s: int, kind: str, now_ns: int) -> None:
        other = "depth" if kind == "color" else "color"
        m = self._match(self._pending[other], s)
        if m is None:
            return
        color_s = s if kind == "color" else m
        if color_s <= self._last_out:
            return  # older than what was already handed out
        color = self._pending["color"].pop(color_s)
        depth = self._pending["depth"].pop(m if kind == "color" else s)
        info_s = self._match(self._pending["info"], color_s)
        info = self._pending["info"][info_s] if info_s is not None else self._latest_info
        for pend in self._pending.values():  # nothing older can complete after this one
            for k in [k for k in pend if k < color_s - self.tolerance_ns]:
                del pend[k]
        self._last_out = color_s
        frame = SyncedFrame(color_s, color, depth, info, now_ns)
        if info is None:
            if self._waiting is not None:
                self.no_info += 1
            self._waiting = frame
            return
        self._publish(frame)

    def _publish(self, frame: SyncedFrame) -> None:
        if self._ready is not None:
            self.dropped += 1
        self._ready = frame
        self.completed += 1
        self._cv.notify_all()

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
