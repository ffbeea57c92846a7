"""`grasp-pipeline run`: the three nodes from one config (simulator, detector, planner), composed in
one process and as three processes, over real DDS; a `pick` request from outside is answered."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grasp_pipeline.ros.environment import apply_ros_env, ros_env
from grasp_pipeline.ros.node_process import Probe

pytestmark = [pytest.mark.ros, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[1]
DOMAIN = 190 + os.getpid() % 20


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    import torch

    from grasp_pipeline.perception.segnet.config import SegNetConfig
    from grasp_pipeline.perception.segnet.model import SegNet
    from grasp_pipeline.training.checkpoint import save_checkpoint

    torch.manual_seed(0)
    cfg = SegNetConfig(width=32, height=24, filters=(4, 8), dropout=0.0)
    state = SegNet(cfg).state_dict()
    state["head.bias"][:] = -8.0
    state["head.bias"][12] = 8.0  # Motor everywhere: one detection at the image centre
    path = tmp_path_factory.mktemp("m") / "tiny.pt"
    save_checkpoint(
        path, {"model": state, "config": {"model": cfg.to_dict(), "depth_max_m": 1.0}, "step": 0}
    )
    return path


def _cmd(model: Path, *extra: str) -> list[str]:
    sets = [
        "detector_node.detector=segnet",
        f"detector_node.model_path={model}",
        "detector_node.min_score=0.0",
        "sim_node.width=160",
        "sim_node.height=120",
        "sim_node.n_objects=1",
        "sim_node.fps=10.0",
    ]
    cmd = [
        sys.executable,
        "-m",
        "grasp_pipeline.cli",
        "run",
        "--config",
        str(ROOT / "config" / "sim_franka.yaml"),
    ]
    for s in sets:
        cmd += ["--set", s]
    return [*cmd, "--domain-id", str(DOMAIN), *extra]


def test_composed_run_processes_frames_and_answers_pick(tiny_model: Path) -> None:
    from std_srvs.srv import Trigger

    apply_ros_env(DOMAIN)
    proc = subprocess.Popen(
        _cmd(tiny_model, "--duration", "35"),
        env=ros_env(DOMAIN),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        with Probe(DOMAIN) as probe:
            client = probe.node.create_client(Trigger, "pick")
            time.sleep(10)  # cell + detector start, a few frames flow
            # generous: on a loaded 2-core machine the composed executor answers late
            response = probe.call(client, Trigger.Request(), timeout=25)
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, out
    line = next(x for x in out.splitlines() if x.startswith("run summary: "))
    summary = json.loads(line.removeprefix("run summary: "))
    assert summary["frames_published"] > 5 and summary["frames_processed"] > 3, out
    # no frame is malformed; under load a best-effort camera_info can be lost, and its frame set
    # is then dropped (it used to borrow the previous camera_info, issue 13), counted, and rare
    bad = summary["bad_frames"]
    assert set(bad) <= {"missing camera_info"}, bad
    assert sum(bad.values()) <= 0.2 * summary["frames_published"], (bad, summary)
    assert response is not None, out
    # the pick was answered with a verdict and a reason (success depends on the untrained model)
    assert response.message and (
        response.success or "no pick" in response.message or "failed" in response.message
    )
    assert summary["picks"] and summary["picks"][0][1] == response.message


def test_separate_processes_run_and_stop_cleanly(tiny_model: Path) -> None:
    proc = subprocess.run(
        _cmd(tiny_model, "--separate", "--duration", "12"),
        env=ros_env(DOMAIN),
        capture_output=True,
        text=True,
        timeout=120,
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log
    for name in ("sim_node", "detector_node", "grasp_planner_node"):
        assert f"[{name}]" in log, log


def test_bad_config_is_refused_before_anything_starts(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("detector_node:\n  ros__parameters:\n    device: tpu\n")
    proc = subprocess.run(
        [sys.executable, "-m", "grasp_pipeline.cli", "run", "--config", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0 and "'device' = 'tpu'" in proc.stderr
