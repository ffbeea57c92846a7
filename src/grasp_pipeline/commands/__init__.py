"""Sub-commands of the ``grasp-pipeline`` CLI.

Every module in this package may define ``COMMANDS: list[Command]``. The CLI discovers the modules
with :mod:`pkgutil`, so a feature adds its sub-commands by adding a module here and touches no
shared file. Handlers import their heavy dependencies (torch, pybullet, rclpy) inside the function so
that ``grasp-pipeline --help`` stays fast.
"""

from __future__ import annotations

import argparse
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
