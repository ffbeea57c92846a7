"""grasp_planner_node in its own process: detections published here, `pick` called over real DDS.

Kinematic execution with the Panda model (pinocchio IK, no simulator) and a camera 0.6 m above
the base origin + 0.5 m x, looking straight down (optical x = base x, optical z = -base z).
"""

from __future__ import annotations

import os
import time
import uuid

import numpy as np
import pytest

from grasp_pipeline.perception.detector import Detection
from grasp_pipeline.ros.environment import apply_ros_env
from grasp_pipeline.ros.node_process import NodeProcess, Probe

pytestmark = [pytest.mark.ros, pytest.mark.timeout(150)]

DOMAIN = 160 + os.getpid() % 30
CAMERA_POSE_BASE = [0.5, 0.0, 0.6, 1.0, 0.0, 0.0, 0.0]  # rotation of 180 deg about x


def _det(label: str, point_cam, yaw_deg: float = 0.0) -> Detection:
    c, s = np.cos(np.radians(yaw_deg)), np.sin(np.radians(yaw_deg))
    T = np.eye(4)
    T[:3, :3] = [[c, -s, 0], [s, c, 0], [0, 0, 1]]
    T[:3, 3] = point_cam
    return Detection(
        label, 0.9, (0.0, 0.0), np.asarray(point_cam, float), T, T[:3, 1].copy(), False
    )


@pytest.fixture()
def planner():
    apply_ros_env(DOMAIN)
    ns = f"/t{uuid.uuid4().hex[:8]}"
    params = {
        "execution": "kinematic",
        "robot": "franka",
        "camera_pose_base": CAMERA_POSE_BASE,
        "target_object": "M20",
        "max_age_s": 3.0,
        "base_frame": "panda_link0",
    }
    with Probe(DOMAIN) as probe, NodeProcess("grasp_planner_node", params, DOMAIN, ns) as node:
        yield probe, node, ns


def _publish_and_pick(
    probe: Probe, node: NodeProcess, ns: str, dets: list[Detection], age_s: float = 0.0
):
    import vision_msgs.msg as vm
    from geometry_msgs.msg import PoseStamped
    from std_srvs.srv import Trigger

    from grasp_pipeline.ros import conversions as cv
    from grasp_pipeline.ros.qos import LATCHED, RESULTS

    poses: list = []
    probe.node.create_subscription(PoseStamped, f"{ns}/grasp_pose", poses.append, LATCHED)
    pub = probe.node.create_publisher(vm.Detection3DArray, f"{ns}/detections", RESULTS)
    assert probe.spin_until(lambda: pub.get_subscription_count() > 0, 40, watch=node), node.log
    msg = cv.detections_to_msg(
        dets, time.time_ns() - int(age_s * 1e9), "camera_color_optical_frame"
    )
    pub.publish(msg)
    probe.spin_until(lambda: False, 0.5)  # let the planner see it before asking for the pick
    client = probe.node.create_client(Trigger, f"{ns}/pick")
    response = probe.call(client, Trigger.Request(), timeout=40)
    assert response is not None, f"no answer from pick\n{node.log}"
    if response.success:
        probe.spin_until(lambda: bool(poses), 5)
    return response, poses


def test_pick_answers_with_a_grasp_at_the_detected_object(planner) -> None:
    from grasp_pipeline.ros import conversions as cv

    probe, node, ns = planner
    # M20 nut 0.584 m below the camera -> 16 mm above the base plane; a Motor further away too
    dets = [_det("Motor", [-0.1, 0.05, 0.55], 0.0), _det("M20", [0.03, -0.04, 0.584], 30.0)]
    response, poses = _publish_and_pick(probe, node, ns, dets)
    assert response.success, response.message
    assert response.message.startswith("picked M20")
    assert poses and poses[-1].header.frame_id == "panda_link0"
    T = cv.pose_to_matrix(poses[-1].pose)
    # base = camera_pose_base @ point: (0.5 + 0.03, 0 + 0.04, 0.6 - 0.584)
    expected = np.array([0.53, 0.04, 0.016])
    assert np.linalg.norm(T[:2, 3] - expected[:2]) < 0.005
    assert abs(T[2, 3] - expected[2]) < 0.02
    # top-down grasp: the approach (TCP z) points down; the fingers close along the detected axis
    assert T[:3, 2] @ np.array([0.0, 0.0, -1.0]) > 0.99
    axis_base = np.diag([1.0, -1.0, -1.0]) @ dets[1].grasp_axis
    assert abs(T[:3, 1] @ axis_base) > 0.99


def test_stale_detections_are_refused(planner) -> None:
    probe, node, ns = planner
    response, _ = _publish_and_pick(probe, node, ns, [_det("M20", [0.0, 0.0, 0.584])], age_s=30.0)
    assert not response.success
    assert "stale" in response.message and "max_age_s" in response.message


def test_a_pick_waits_for_fresh_detections_when_the_newest_are_stale(planner) -> None:
    """A detector slowed down by a loaded CPU (a Franka clutter pick was refused so, 2.09 s old
    for max_age_s 2.0): the pick waits up to detections_timeout_s for a fresh array."""
    import vision_msgs.msg as vm
    from std_srvs.srv import Trigger

    from grasp_pipeline.ros import conversions as cv
    from grasp_pipeline.ros.qos import RESULTS

    probe, node, ns = planner
    pub = probe.node.create_publisher(vm.Detection3DArray, f"{ns}/detections", RESULTS)
    assert probe.spin_until(lambda: pub.get_subscription_count() > 0, 40, watch=node), node.log
    dets = [_det("M20", [0.03, -0.04, 0.584])]
    pub.publish(
        cv.detections_to_msg(dets, time.time_ns() - 30 * 10**9, "camera_color_optical_frame")
    )
    probe.spin_until(lambda: False, 0.5)
    client = probe.node.create_client(Trigger, f"{ns}/pick")
    assert probe.spin_until(client.service_is_ready, 20, watch=node)
    future = client.call_async(Trigger.Request())
    probe.spin_until(future.done, 0.7)
    assert not future.done(), future.result()  # still waiting for a fresh array
    pub.publish(cv.detections_to_msg(dets, time.time_ns(), "camera_color_optical_frame"))
    assert probe.spin_until(future.done, 40, watch=node), node.log
    assert future.result().success, future.result().message


def test_missing_target_is_refused_with_what_was_seen(planner) -> None:
    probe, node, ns = planner
    response, _ = _publish_and_pick(probe, node, ns, [_det("Motor", [0.0, 0.0, 0.55])])
    assert not response.success
    assert "M20 not among the newest detections" in response.message and "Motor" in response.message


def test_unreachable_object_is_refused_with_the_reason(planner) -> None:
    probe, node, ns = planner
    # 2 m to the side of the robot: beyond the Panda's reach
    response, _ = _publish_and_pick(probe, node, ns, [_det("M20", [2.0, 0.0, 0.584])])
    assert not response.success
    assert "no pick" in response.message and len(response.message) > 20
