"""The ``grasp-pipeline`` command line: one entry point, sub-commands discovered in ``commands/``."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import traceback

from grasp_pipeline import __version__, commands
from grasp_pipeline.commands import Command

# Errors that mean bad input rather than a bug: invalid values and data (ValueError, which
# includes corrupt checkpoints and dataset files), files (OSError), optional modules not installed.
USER_ERRORS = (ValueError, OSError, ImportError)
DEBUG_HELP = "on an error, print the full traceback as well as the one-line message"


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
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
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
        # Also accepted after the command; SUPPRESS keeps the top-level value when absent.
        leaf.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP
        )
        leaf.set_defaults(_run=cmd.run)
    return parser


def error_line(exc: BaseException, limit: int = 400) -> str:
    """One line for the user: the message of an expected error (bad input, missing or corrupt
    file, missing optional module), the type and message of anything else; whitespace collapsed,
    at most ``limit`` characters."""
    msg = " ".join(str(exc).split()) or type(exc).__name__
    if not isinstance(exc, USER_ERRORS):
        msg = f"internal error: {type(exc).__name__}: {msg} (run with --debug for the traceback)"
    return msg if len(msg) <= limit else msg[: limit - 3] + "..."


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status: 0 on success, 2 for bad input (an
    invalid argument, a missing or corrupt file), 1 for an internal error, 130 on Ctrl-C. An
    error is one line ``grasp-pipeline: error: ...`` on stderr; ``--debug`` adds the traceback."""
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
    except Exception as exc:
        if getattr(args, "debug", False):
            traceback.print_exc()
        print(f"{parser.prog}: error: {error_line(exc)}", file=sys.stderr)
        return 2 if isinstance(exc, USER_ERRORS) else 1


if __name__ == "__main__":
    sys.exit(main())
