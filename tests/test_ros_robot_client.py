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


def _slow_controller(seconds: float, feedback: bool):
    """A FollowJointTrajectory server in its own context and thread that takes ``seconds`` for
    any goal, reporting its progress every 0.1 s when ``feedback``; returns a stop function."""
    import rclpy
    from builtin_interfaces.msg import Duration
    from control_msgs.action import FollowJointTrajectory
    from rclpy.action import ActionServer
    from rclpy.executors import MultiThreadedExecutor

    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=DOMAIN)
    node = rclpy.create_node("slow_controller", context=ctx)

    def execute(handle):
        t0 = time.monotonic()
        while (t := time.monotonic() - t0) < seconds:
            if feedback:
                fb = FollowJointTrajectory.Feedback()
                fb.actual.time_from_start = Duration(sec=int(t), nanosec=int((t % 1) * 1e9))
                handle.publish_feedback(fb)
            time.sleep(0.1)
        handle.succeed()
        return FollowJointTrajectory.Result()

    server = ActionServer(node, FollowJointTrajectory, "arm/follow", execute)
    executor = MultiThreadedExecutor(context=ctx)
    executor.add_node(node)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()

    def stop() -> None:
        server.destroy()
        executor.shutdown()
        node.destroy_node()
        rclpy.shutdown(context=ctx)

    return stop


def _follow_in_thread(probe, client, budget_s: float) -> dict:
    from control_msgs.action import FollowJointTrajectory

    out: dict = {}

    def run() -> None:
        t0 = time.monotonic()
        try:
            out["result"] = client._run(client._traj, FollowJointTrajectory.Goal(), budget_s)
        except Exception as exc:  # reported to the test
            out["error"] = exc
        out["seconds"] = time.monotonic() - t0

    t = threading.Thread(target=run, daemon=True)
    t.start()
    probe.spin_until(lambda: not t.is_alive(), 20.0)
    assert not t.is_alive(), "the trajectory goal's wait did not end"
    return out


@pytest.mark.parametrize("feedback", [True, False], ids=["progress", "silent"])
def test_a_slow_controller_is_waited_for_only_while_it_reports_progress(feedback: bool) -> None:
    """A controller three times slower than the goal's 0.5 s plus the 1 s timeout (a simulator on a
    loaded CPU; two Franka clutter picks were lost so) finishes the goal while its feedback shows
    the trajectory's clock advancing; a silent one is given up after the timeout."""
    from grasp_pipeline.ros.robot_client import RobotUnavailableError

    apply_ros_env(DOMAIN)
    stop = _slow_controller(4.0, feedback)
    try:
        with Probe(DOMAIN, "robot_client_probe") as probe:
            client, _ = _rig(probe, timeout_s=1.0)
            out = _follow_in_thread(probe, client, budget_s=0.5)
    finally:
        stop()
    if feedback:
        assert "result" in out, out
        assert out["seconds"] >= 3.5
    else:
        assert isinstance(out.get("error"), RobotUnavailableError), out
        assert "no progress" in str(out["error"]) and out["seconds"] < 3.0
