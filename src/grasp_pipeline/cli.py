"""The ``grasp-pipeline`` command line: one entry point, sub-commands discovered in ``commands/``."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from grasp_pipeline import __version__, commands
from grasp_pipeline.commands import Command


def discover_commands() -> list[Command]:
    """All commands declared by the modules of :mod:`grasp_pipeline.commands`, sorted by path."""
    found: list[Command] = []
    for info in pkgutil.iter_modules(commands.__path__):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        found.extend(getattr(module, "COMMANDS", []))
    paths = [c.path for c in found]
    duplicates = {p for p in paths if paths.count(p) > 1}
    if duplicates:
        raise RuntimeError(f"CLI commands declared twice: {sorted(duplicates)}")
    return sorted(found, key=lambda c: c.path)


def build_parser(cmds: list[Command] | None = None) -> argparse.ArgumentParser:
    """The argparse tree; groups (``dataset``, ``benchmark`` ...) are created from command paths."""
    parser = argparse.ArgumentParser(
        prog="grasp-pipeline", description="RGB-D perception and grasping for RoboCup@Work cells."
    )
    parser.add_argument("--version", action="version", version=f"grasp_pipeline {__version__}")
    groups: dict[tuple[str, ...], argparse._SubParsersAction] = {
        (): parser.add_subparsers(dest="command", metavar="COMMAND")
    }
    parsers: dict[tuple[str, ...], argparse.ArgumentParser] = {(): parser}
    for cmd in cmds if cmds is not None else discover_commands():
        for depth in range(1, len(cmd.path)):
            prefix = cmd.path[:depth]
            if prefix not in parsers:
                sub = groups[prefix[:-1]].add_parser(prefix[-1], help=f"{prefix[-1]} commands")
                parsers[prefix] = sub
                groups[prefix] = sub.add_subparsers(dest="_".join(prefix), metavar="COMMAND")
                sub.set_defaults(_group_parser=sub)
        parent = groups[cmd.path[:-1]]
        leaf = parent.add_parser(cmd.path[-1], help=cmd.help, description=cmd.help)
        cmd.add_arguments(leaf)
        leaf.set_defaults(_run=cmd.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    run = getattr(args, "_run", None)
    if run is None:
        getattr(args, "_group_parser", parser).print_help()
        return 2
    try:
        return int(run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
