"""``grasp-pipeline benchmark ros-pipeline`` as a user runs it: the camera and detector nodes as
two processes over DDS, the node's default detector (the parts detector) with its shipped model.
Before the ``--detector`` option the benchmark gave the node segnet's model while the node ran
its default, the parts detector, and the node refused the file at start-up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from grasp_pipeline.ros.environment import claim_domain_id

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(300)
def test_ros_pipeline_benchmark_runs_the_default_detector(tmp_path: Path) -> None:
    out = tmp_path / "ros_pipeline.json"
    env = {
        **os.environ,
        "ROS_DOMAIN_ID": str(claim_domain_id()),
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
        "MPLBACKEND": "Agg",
    }
    cli = [sys.executable, "-m", "grasp_pipeline.cli"]
    run = subprocess.run(
        [*cli, "benchmark", "ros-pipeline", "--seconds", "3", "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["detector"] == "parts"
    assert result["model"] == "shipped models/parts/classifier.pt"
    assert result["frames_processed"] > 0 and result["detector_hz"] > 0
