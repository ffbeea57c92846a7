"""The simulator's lock: a loop that re-takes it at once does not starve the other threads."""

from __future__ import annotations

import threading
import time

from grasp_pipeline.sim.turn_lock import TurnLock


def _busy(seconds: float) -> None:
    """Python work that holds the GIL, as a physics step does."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def _worst_wait(lock: TurnLock, loop_turn) -> float:
    """The longest a thread waits for ``lock`` (20 times) while a loop takes 5 ms turns."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            with loop_turn():
                _busy(0.005)

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    waits = []
    try:
        for _ in range(20):
            t0 = time.perf_counter()
            with lock:
                waits.append(time.perf_counter() - t0)
            time.sleep(0.01)
    finally:
        stop.set()
        t.join(5)
    return max(waits)


def test_waiting_threads_get_the_lock_between_the_loops_turns() -> None:
    lock = TurnLock()
    # a turn is 5 ms: a waiter gets the lock after the turn in progress (plus scheduling slack)
    assert _worst_wait(lock, lock.loop_turn) < 0.1


def test_the_counter_returns_to_zero_and_the_lock_excludes() -> None:
    lock = TurnLock()
    inside = []

    def worker() -> None:
        for _ in range(200):
            with lock:
                inside.append(1)
                assert len(inside) == 1
                inside.pop()

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    with lock.loop_turn():
        _busy(0.01)
    for t in threads:
        t.join(10)
    assert lock.waiting == 0 and not inside
