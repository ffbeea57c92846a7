"""One home for how a detector shares the CPU between the native thread pools of its process.

numpy's OpenBLAS keeps its own worker threads, which busy-wait for a while after each BLAS call;
torch's OpenMP threads then run the network beside them on the same cores. On a 2-core machine
this cost the parts detector a quarter of its time: 96.3 ms a frame with OpenBLAS's pool, 74.0 ms
without (classifier stage 75.6 and 43.4 ms, geometry 24.4 and 20.1 ms;
``benchmarks/results/detector_latency_parts_9c73d58.json`` and ``detector_latency_parts.json``).
A detector therefore keeps numpy's BLAS on the calling thread (the decorator
:func:`blas_on_calling_thread` on every detector's ``detect``); the network keeps torch's
threads. The BLAS work of a frame (plane fits, small matrix products) is too small to gain from
more threads. The setting is made once for the whole process at the first ``detect`` and left
so: switching it per call would change it under other threads of a composed process (the
simulator and the planner beside the detector) in the middle of their own BLAS calls, and
their numpy work shares the same two cores with torch anyway.

``threadpoolctl`` (setup.py install_requires) switches the pool; without it (an install that
lacks it) the detectors run as before, only slower where the pools meet.

torch's own OpenMP threads (GNU libgomp in the project's torch build) spin for a while at every
barrier before they sleep (300,000 turns by default). On a robot the detector shares its cores
with the camera, the planner and the simulator: with one of the 2 cores busy in another process
the parts detector took 630 ms a frame instead of 37, because each of the network's parallel
steps waited for a thread whose core was taken. A short spin (``OPENMP_SPINCOUNT``) keeps the
idle speed and gives way quickly when the core is needed elsewhere (``grasp-pipeline benchmark
detector-latency --busy 1``; ``benchmarks/results/detector_latency_parts*.json``). libgomp reads
the setting once, when torch loads it, so :func:`short_openmp_spin` runs on ``import
grasp_pipeline``; a value the user set is kept.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import lru_cache, wraps
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

# turns an idle OpenMP thread spins before it sleeps; measured on 2 cores (Intel Xeon), ms a frame
# idle / with one core busy: 300,000 (libgomp's default) 37 / 630, 100,000 35 / 268, 10,000
# 36 / 77, 1,000 46 / 53; OMP_WAIT_POLICY=PASSIVE 47 / 51
OPENMP_SPINCOUNT = 10_000


def short_openmp_spin() -> bool:
    """Sets ``GOMP_SPINCOUNT`` to OPENMP_SPINCOUNT unless the environment names a spin count or a
    wait policy already; True when set. Takes effect only before torch is first imported."""
    if "GOMP_SPINCOUNT" in os.environ or "OMP_WAIT_POLICY" in os.environ:
        return False
    os.environ["GOMP_SPINCOUNT"] = str(OPENMP_SPINCOUNT)
    return True


@lru_cache(maxsize=1)
def _controller() -> Any | None:
    """threadpoolctl's view of the BLAS libraries loaded now (made once, after numpy and torch
    are imported), or None without threadpoolctl."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    return ThreadpoolController()


@lru_cache(maxsize=1)
def one_blas_thread_for_process() -> bool:
    """Limits every BLAS library loaded now to the calling thread, once per process (later
    calls do nothing); False without threadpoolctl."""
    controller = _controller()
    if controller is None:
        return False
    for lib in controller.select(user_api="blas").lib_controllers:
        lib.set_num_threads(1)
    return True


def blas_on_calling_thread(fn: F) -> F:
    """Decorator: before ``fn`` (a detector's ``detect``) runs, numpy's BLAS is limited to the
    calling thread for the process (:func:`one_blas_thread_for_process`)."""

    @wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        one_blas_thread_for_process()
        return fn(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def blas_threads() -> list[int]:
    """Threads of each loaded BLAS library now ([] without threadpoolctl)."""
    controller = _controller()
    if controller is None:
        return []
    return [int(d["num_threads"]) for d in controller.select(user_api="blas").info()]
