"""One home for how a detector shares the CPU between the native thread pools of its process.

numpy's OpenBLAS keeps its own worker threads, which busy-wait for a while after each BLAS call;
torch's OpenMP threads then run the network beside them on the same cores. On a 2-core machine
this cost the parts detector a quarter of its time: 96.3 ms a frame with OpenBLAS's pool, 74.0 ms
without (classifier stage 75.6 and 43.4 ms, geometry 24.4 and 20.1 ms;
``benchmarks/results/detector_latency_parts_9c73d58.json`` and ``detector_latency_parts.json``).
A detector therefore runs its numpy work on the calling thread (:func:`one_blas_thread`, as the
decorator :func:`blas_on_calling_thread` on every detector's ``detect``); the network keeps
torch's threads. The BLAS work of a frame (plane fits, small matrix products) is too small to
gain from more threads.

``threadpoolctl`` (setup.py install_requires) switches the pool; without it (an install that
lacks it) the detectors run as before, only slower where the pools meet.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from functools import lru_cache, wraps
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


@lru_cache(maxsize=1)
def _controller() -> Any | None:
    """threadpoolctl's view of the BLAS libraries loaded now (made once, after numpy and torch
    are imported), or None without threadpoolctl."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    return ThreadpoolController()


def one_blas_thread() -> AbstractContextManager:
    """A context in which numpy's BLAS uses only the calling thread (restored on exit)."""
    controller = _controller()
    if controller is None:
        return nullcontext()
    return controller.limit(limits=1, user_api="blas")


def blas_on_calling_thread(fn: F) -> F:
    """Decorator: ``fn`` (a detector's ``detect``) runs inside :func:`one_blas_thread`."""

    @wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        with one_blas_thread():
            return fn(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def blas_threads() -> list[int]:
    """Threads of each loaded BLAS library now ([] without threadpoolctl)."""
    controller = _controller()
    if controller is None:
        return []
    return [int(d["num_threads"]) for d in controller.select(user_api="blas").info()]
