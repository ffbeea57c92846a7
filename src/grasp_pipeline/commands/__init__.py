"""Sub-commands of the ``grasp-pipeline`` CLI.

Every module in this package may define ``COMMANDS: list[Command]``. The CLI discovers the modules
with :mod:`pkgutil`, so a feature adds its sub-commands by adding a module here and touches no
shared file. Handlers import their heavy dependencies (torch, pybullet, rclpy) inside the function so
that ``grasp-pipeline --help`` stays fast.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    """One CLI command, e.g. ``path=("dataset", "generate")`` for ``grasp-pipeline dataset generate``."""

    path: tuple[str, ...]
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def command_line(path: tuple[str, ...]) -> str:
    """How this run was started, for result files: ``grasp-pipeline <path> <arguments>`` when the
    CLI runs ``path``, else (and always for an empty ``path``) the process's own command line (a
    benchmark script, a test)."""
    if path and tuple(sys.argv[1 : 1 + len(path)]) == tuple(path):
        return "grasp-pipeline " + " ".join(sys.argv[1:])
    return " ".join(sys.argv)


def cpu_model() -> str:
    """The CPU's model name (Linux ``/proc/cpuinfo``; else ``platform.processor()``): CPU times
    in result files differ between machines of one size (an AMD EPYC and an Intel Xeon of 2
    cores each ran the parts detector at 22 and 29 Hz)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict:
    """What a result file records of the machine it was measured on, and of the process's
    OpenMP spin (``perception.threads``; None where the environment has no GOMP_SPINCOUNT)."""
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "gomp_spincount": os.environ.get("GOMP_SPINCOUNT"),
    }
