"""The CLI discovers every command module and builds one argparse tree."""

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

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


# -- errors through the real command line --------------------------------------------------------
ROOT = Path(__file__).resolve().parents[1]


def _cli(*args: str, timeout: float = 50) -> subprocess.CompletedProcess:
    """The installed ``grasp-pipeline`` script (``python -m grasp_pipeline.cli`` where the venv
    has none), importing this checkout."""
    exe = Path(sys.executable).with_name("grasp-pipeline")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "grasp_pipeline.cli"]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    env["OMP_NUM_THREADS"] = "1"
    return subprocess.run(
        [*cmd, *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT
    )


def _one_error_line(res: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert "Traceback" not in res.stderr, res.stderr
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("grasp-pipeline: error: "), lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def data_and_model(tmp_path_factory) -> tuple[Path, Path]:
    """A two-frame dataset (64x48) and an untrained 13-class segnet detector checkpoint."""
    import numpy as np
    import torch

    from grasp_pipeline.data.format import Frame, ObjectAnnotation, write_frame, write_manifest
    from grasp_pipeline.geometry.camera import CameraIntrinsics
    from grasp_pipeline.perception.checkpoint import save_checkpoint
    from grasp_pipeline.perception.segnet import SegNet, SegNetConfig

    root = tmp_path_factory.mktemp("cli_errors")
    cam = CameraIntrinsics(64, 48, 60.0, 60.0, 31.5, 23.5)
    for i in range(2):
        rgb = np.full((48, 64, 3), 90, np.uint8)
        mask = np.zeros((48, 64), np.uint16)
        mask[10:20, 20:40] = 1
        obj = ObjectAnnotation(1, "M30", 7, (29.0, 15.0), None, None, None, None, 200)
        depth = np.full((48, 64), 500, np.uint16)
        write_frame(root / "data", Frame(f"{i:06d}", rgb, depth, mask, cam, None, [obj]))
    write_manifest(root / "data", {"classes": [f"c{i}" for i in range(13)]})
    torch.manual_seed(0)
    net = SegNet(SegNetConfig(width=32, height=24, filters=(4, 8)))
    save_checkpoint(
        root / "model.pt",
        {"model": net.state_dict(), "config": {"model": net.config.to_dict()}, "step": 0},
    )
    return root / "data", root / "model.pt"


def _evaluate(data: Path, model: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    args = ["evaluate", "segnet", "--model", str(model), "--data", str(data)]
    return _cli(*args, "--json", str(out / "eval.json"), "--threads", "1", *extra)


@pytest.mark.timeout(120)
def test_corrupt_dataset_frame_is_one_line_exit_2(data_and_model, tmp_path) -> None:
    data, model = data_and_model
    ok = _evaluate(data, model, tmp_path)
    assert ok.returncode == 0, ok.stderr[-2000:]
    bad = tmp_path / "bad"
    shutil.copytree(data, bad)
    png = bad / "frames" / "000001" / "color.png"
    png.write_bytes(png.read_bytes()[:40])  # truncated mid-header
    res = _evaluate(bad, model, tmp_path)
    assert res.returncode == 2
    line = _one_error_line(res)
    assert "color.png" in line and "corrupt" in line
    debug = _evaluate(bad, model, tmp_path, "--debug")
    assert debug.returncode == 2
    assert "Traceback" in debug.stderr and debug.stderr.rstrip().splitlines()[-1] == line


@pytest.mark.timeout(120)
def test_corrupt_and_nan_model_files_are_one_line_exit_2(data_and_model, tmp_path) -> None:
    import torch

    from grasp_pipeline.perception.checkpoint import save_checkpoint

    data, model = data_and_model
    blob = bytearray(model.read_bytes())
    state = torch.load(model, weights_only=True)
    name, weight = next((k, v) for k, v in state["model"].items() if v.numel() >= 64)
    at = bytes(blob).find(weight.numpy().tobytes()[:64])
    assert at > 0
    blob[at + 5] ^= 0x10  # one flipped bit inside the weights
    flipped = tmp_path / "flipped.pt"
    flipped.write_bytes(bytes(blob))
    line = _one_error_line(res := _evaluate(data, flipped, tmp_path))
    assert res.returncode == 2
    assert f"checkpoint {flipped} is corrupt: content hash mismatch" in line

    state["model"][name] = weight.clone()
    state["model"][name].view(-1)[3] = float("nan")
    nan = tmp_path / "nan.pt"
    save_checkpoint(nan, state)
    line = _one_error_line(res := _evaluate(data, nan, tmp_path))
    assert res.returncode == 2 and "non-finite" in line and repr(name) in line

    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"PK\x03\x04 not really a zip")
    line = _one_error_line(res := _evaluate(data, junk, tmp_path))
    assert res.returncode == 2 and str(junk) in line


def test_internal_errors_are_one_line_exit_1(monkeypatch, capsys) -> None:
    def boom(args: argparse.Namespace) -> int:
        return {}["missing key"]

    cmds = [Command(("boom",), "fails", lambda p: None, boom)]
    monkeypatch.setattr(cli, "discover_commands", lambda: cmds)
    assert cli.main(["boom"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("grasp-pipeline: error: internal error: KeyError: 'missing key'")
    assert "--debug" in err
    assert cli.main(["boom", "--debug"]) == 1  # --debug after the command
    assert "Traceback" in capsys.readouterr().err
    assert cli.main(["--debug", "boom"]) == 1  # and before it
    assert "Traceback" in capsys.readouterr().err


def test_error_line_collapses_and_bounds_long_messages() -> None:
    line = cli.error_line(ValueError("first\n  second\tthird " + "x" * 1000))
    assert line.startswith("first second third x") and len(line) == 400 and "\n" not in line


def test_command_line_records_how_the_run_was_started(monkeypatch):
    from grasp_pipeline.commands import command_line

    monkeypatch.setattr(sys, "argv", ["/usr/bin/grasp-pipeline", "demo", "--trials", "2"])
    assert command_line(("demo",)) == "grasp-pipeline demo --trials 2"
    # a benchmark script records its own command line, never a grasp-pipeline call
    monkeypatch.setattr(sys, "argv", ["benchmarks/descriptor_pose.py", "--objects", "Motor"])
    assert command_line(()) == "benchmarks/descriptor_pose.py --objects Motor"
    assert command_line(("demo",)) == "benchmarks/descriptor_pose.py --objects Motor"


def test_result_files_name_the_cpu_they_were_measured_on():
    """CPU times differ between machines of one size: the model name goes into result files."""
    from pathlib import Path

    from grasp_pipeline.runinfo import machine

    m = machine()
    assert m["cpu_count"] >= 1 and m["python"].count(".") == 2
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [
            line.split(":", 1)[1].strip()
            for line in cpuinfo.read_text().splitlines()
            if line.startswith("model name")
        ]
        if names:  # (ARM kernels name no model there)
            assert m["cpu_model"] == names[0]
    assert isinstance(m["cpu_model"], str) and m["cpu_model"]
