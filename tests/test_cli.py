"""The CLI discovers every command module and builds one argparse tree."""

import argparse

import pytest

from grasp_pipeline import cli
from grasp_pipeline.commands import Command


def _cmd(path: tuple[str, ...], seen: list) -> Command:
    def add(p: argparse.ArgumentParser) -> None:
        p.add_argument("--n", type=int, default=1)

    return Command(
        path=path, help=" ".join(path), add_arguments=add, run=lambda a: seen.append(a.n)
    )


def test_nested_groups_dispatch_to_their_command() -> None:
    seen: list = []
    parser = cli.build_parser([_cmd(("dataset", "generate"), seen), _cmd(("demo",), seen)])
    args = parser.parse_args(["dataset", "generate", "--n", "7"])
    args._run(args)
    args = parser.parse_args(["demo", "--n", "3"])
    args._run(args)
    assert seen == [7, 3]


def test_discovered_commands_are_unique_and_parse() -> None:
    cmds = cli.discover_commands()
    paths = [c.path for c in cmds]
    assert len(paths) == len(set(paths))
    cli.build_parser(cmds)  # raises on conflicting argparse definitions


def test_group_without_subcommand_prints_help_and_fails(capsys: pytest.CaptureFixture) -> None:
    assert cli.main([]) == 2
    assert "COMMAND" in capsys.readouterr().out
