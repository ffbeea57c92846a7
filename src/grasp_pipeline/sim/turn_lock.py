"""A lock that a busy loop shares without starving the threads that wait for it.

A thread that re-takes a ``threading.Lock`` right after releasing it usually gets it again: the
waiter is woken but has to win the GIL first, and the loop is already back in ``acquire``. The
simulator's physics loop does exactly that (a few steps under the lock, again and again), and with
a plain lock a trajectory goal's feedback, a camera render or a joint-state query could wait for
the whole motion (seen as one feedback report in 19 s on a loaded 2-core machine).

:class:`TurnLock` counts the threads waiting in ``with lock:``; the loop takes its turns with
:meth:`TurnLock.loop_turn`, which first lets every waiting thread have the lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

YIELD_S = 0.0002  # the loop's pause while another thread waits for the lock


class TurnLock:
    """``with lock:`` for every thread but the loop; ``with lock.loop_turn():`` for the loop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = threading.Lock()
        self._waiting = 0

    def __enter__(self) -> TurnLock:
        with self._count:
            self._waiting += 1
        try:
            self._lock.acquire()
        finally:
            with self._count:
                self._waiting -= 1
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()

    @property
    def waiting(self) -> int:
        """How many threads are waiting in ``with lock:`` now."""
        return self._waiting

    @contextmanager
    def loop_turn(self, max_wait_s: float = 1.0) -> Iterator[None]:
        """Hold the lock for one turn of the loop, after the threads waiting for it (at most
        ``max_wait_s`` of yielding, so a thread that holds the lock for long cannot stall the
        loop's clock forever)."""
        deadline = time.monotonic() + max_wait_s
        while self._waiting and time.monotonic() < deadline:
            time.sleep(YIELD_S)
        with self._lock:
            yield
