"""The demo's ROS side: camera, detector and planner nodes composed on one executor.

``grasp-pipeline demo --mode ros`` drives picks through this rig: the simulated camera feeds the
camera node, detections flow over real topics, and each pick is a call of the planner's ``pick``
service. Kept here so that rclpy stays inside ``grasp_pipeline.ros``.
"""

from __future__ import annotations

import time

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from std_srvs.srv import Trigger

from grasp_pipeline.ros.camera_node import CameraNode
from grasp_pipeline.ros.conversions import stamp_to_ns
from grasp_pipeline.ros.detector_node import DetectorNode
from grasp_pipeline.ros.environment import apply_ros_env
from grasp_pipeline.ros.grasp_planner_node import GraspPlannerNode
from grasp_pipeline.sources.sim_source import SimSource


class DemoRig:
    """The three nodes composed on one executor, spun from this thread."""

    def __init__(self, cell, camera, detector, domain_id: int | None) -> None:
        apply_ros_env(domain_id)
        rclpy.init()
        source = SimSource(world=cell.world, camera=camera, step_physics=False, fps=2.0)
        self.camera_node = CameraNode(
            source=source, parameter_overrides=[Parameter("fps", value=2.0)]
        )
        self.detector_node = DetectorNode(
            detector=detector, parameter_overrides=[Parameter("debug_image", value=False)]
        )
        self.planner_node = GraspPlannerNode(
            cell=cell, parameter_overrides=[Parameter("plan_on_detections", value=False)]
        )
        self.executor = SingleThreadedExecutor()
        for n in (self.camera_node, self.detector_node, self.planner_node):
            self.executor.add_node(n)
        self.client = self.planner_node.create_client(Trigger, "pick")
        self.max_age_ns = int(self.planner_node.p.max_age_s * 1e9)

    def pick(self, target: str, timeout_s: float = 30.0):
        """Wait for detections of the current scene, then call ``pick``; (ok, message, plan)."""
        self.planner_node.set_parameters([Parameter("target_object", value=target)])
        t_reset = self.planner_node.get_clock().now().nanoseconds
        self.planner_node._latest = None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.05)
            latest = self.planner_node._latest
            if latest is not None:
                stamp = stamp_to_ns(latest[0].header.stamp)
                now = self.planner_node.get_clock().now().nanoseconds
                # A frame of the new scene, and the newest one: detections queue up behind
                # renders on this one executor, so wait until the queue is drained.
                if stamp > t_reset and now - stamp < 0.25 * self.max_age_ns:
                    break
        else:
            return False, "no detections of the new scene arrived in time", None
        self.planner_node.last_plan = None
        fut = self.client.call_async(Trigger.Request())
        self.executor.spin_until_future_complete(fut, timeout_sec=timeout_s)
        if not fut.done():
            return False, "pick service did not answer in time", None
        res = fut.result()
        return bool(res.success), res.message, self.planner_node.last_plan

    def close(self) -> None:
        for n in (self.camera_node, self.detector_node, self.planner_node):
            self.executor.remove_node(n)
            n.destroy_node()
        rclpy.try_shutdown()
