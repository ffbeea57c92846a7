"""A node logs its services' answers at info or warning from one place without rclpy refusing
the change of severity (which raised inside the simulator node's reset service after its first
refusal and stopped the node answering)."""

from __future__ import annotations

import os

import pytest

from grasp_pipeline.ros.answer_log import log_answer
from grasp_pipeline.ros.environment import apply_ros_env
from grasp_pipeline.ros.node_process import Probe

pytestmark = [pytest.mark.ros, pytest.mark.timeout(60)]

DOMAIN = 200 + os.getpid() % 20


def _one_line(logger, ok: bool, message: str) -> None:
    (logger.info if ok else logger.warning)(message)  # the pattern the sim node had


def test_answers_log_as_info_then_warning_then_info() -> None:
    apply_ros_env(DOMAIN)
    with Probe(DOMAIN, "answer_log_probe") as probe:
        logger = probe.node.get_logger()
        for ok in (True, False, True, False):
            log_answer(logger, ok, f"reset_scene: {'done' if ok else 'refused: busy'}")
        # rclpy refuses one call site changing severity: why the answer is logged from two lines
        _one_line(logger, True, "reset_scene: done")
        with pytest.raises(ValueError, match="severity cannot be changed"):
            _one_line(logger, False, "reset_scene: refused: busy")
