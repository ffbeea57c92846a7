"""The ROS robot driver's reads of the robot state, over real DDS in one process.

A joint state counts as the robot's state *now* only when it is stamped after the request: on a
loaded machine the subscription's queue still holds states published during the last motion when
the next read comes in (a CI run read one 11 deg short of where the simulated arm had stopped, and
the planner backed off from a move that had succeeded).
"""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

from grasp_pipeline.ros.environment import apply_ros_env
from grasp_pipeline.ros.node_process import Probe

pytestmark = [pytest.mark.ros, pytest.mark.timeout(60)]

DOMAIN = 180 + os.getpid() % 20
ARM = [f"j{i}" for i in range(1, 8)]
FINGERS = ["f1", "f2"]


def _state(stamp_ns: int, q: float, opening: float = 0.08):
    from sensor_msgs.msg import JointState

    from grasp_pipeline.ros.conversions import stamp_from_ns

    msg = JointState()
    msg.header.stamp = stamp_from_ns(stamp_ns)
    msg.name = [*ARM, *FINGERS]
    msg.position = [q] * len(ARM) + [opening / 2] * 2
    return msg


def _rig(probe: Probe, timeout_s: float):
    from sensor_msgs.msg import JointState

    from grasp_pipeline.ros.qos import RESULTS
    from grasp_pipeline.ros.robot_client import RobotClient

    client = RobotClient(probe.node, ARM, FINGERS, "arm/follow", "hand/cmd", timeout_s=timeout_s)
    pub = probe.node.create_publisher(JointState, "joint_states", RESULTS)
    assert probe.spin_until(lambda: pub.get_subscription_count() > 0, 10.0)
    return client, pub


def _read_in_thread(client) -> tuple[threading.Thread, dict]:
    out: dict = {}

    def read() -> None:
        try:
            out["q"] = client.joints()
        except Exception as exc:  # reported to the test
            out["error"] = exc

    t = threading.Thread(target=read, daemon=True)
    t.start()
    time.sleep(0.2)  # the read has begun: what arrives now arrives after the request
    return t, out


def test_a_state_stamped_before_the_request_is_not_the_current_state() -> None:
    apply_ros_env(DOMAIN)
    with Probe(DOMAIN, "robot_client_probe") as probe:
        client, pub = _rig(probe, timeout_s=5.0)
        now = probe.node.get_clock().now().nanoseconds
        pub.publish(_state(now - 10**9, 0.1))  # before any request: seeds the state
        assert probe.spin_until(lambda: client._state_t > 0, 5.0)
        t, out = _read_in_thread(client)
        stale = probe.node.get_clock().now().nanoseconds - 300 * 10**6
        pub.publish(_state(stale, 0.5))  # queued during the last motion, arrives late
        assert probe.spin_until(lambda: client._state.get("j1") == 0.5, 5.0)
        t.join(0.5)  # time for the read to return, were it to take that state
        assert t.is_alive(), f"the read took the stale state: {out}"
        pub.publish(_state(probe.node.get_clock().now().nanoseconds, 0.3))
        probe.spin_until(lambda: not t.is_alive(), 5.0)
        assert "error" not in out, out
        np.testing.assert_allclose(out["q"], 0.3)


def test_only_old_states_name_the_clock_in_the_error() -> None:
    from grasp_pipeline.ros.robot_client import RobotUnavailableError

    apply_ros_env(DOMAIN)
    with Probe(DOMAIN, "robot_client_probe") as probe:
        client, pub = _rig(probe, timeout_s=1.0)
        t, out = _read_in_thread(client)
        old = probe.node.get_clock().now().nanoseconds - 5 * 10**9  # a robot clock 5 s behind
        for _ in range(5):
            pub.publish(_state(old, 0.2))
            probe.spin_until(lambda: False, 0.1)
        probe.spin_until(lambda: not t.is_alive(), 5.0)
        assert isinstance(out.get("error"), RobotUnavailableError), out
        assert "clock" in str(out["error"]) and "stamped" in str(out["error"])
