"""Static transforms on ``/tf_static`` (tf2_msgs/TFMessage, reliable + transient local, as tf2's
StaticTransformBroadcaster publishes them), without tf2_ros: publishing a node's fixed frames.
Looking transforms up is :mod:`grasp_pipeline.ros.tf_lookup`'s job.

``T`` matrices are 4x4, parent <- child (a point in the child frame mapped into the parent).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from grasp_pipeline.ros import conversions as cv

TF_STATIC_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=100,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)


def _tf2_msgs():
    try:
        from tf2_msgs.msg import TFMessage
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "tf2_msgs is not importable; in a ROS install `apt install ros-$ROS_DISTRO-tf2-msgs`, "
            "in the venv run `make test` (the set-up builds it from interfaces/)"
        ) from exc
    return TFMessage


def transform_msg(T: np.ndarray, parent: str, child: str, stamp_ns: int):
    """geometry_msgs/TransformStamped of ``T`` (parent <- child, metres)."""
    from geometry_msgs.msg import TransformStamped

    pose = cv.matrix_to_pose(T)
    msg = TransformStamped()
    msg.header = cv.make_header(stamp_ns, parent)
    msg.child_frame_id = child
    msg.transform.translation.x = pose.position.x
    msg.transform.translation.y = pose.position.y
    msg.transform.translation.z = pose.position.z
    msg.transform.rotation = pose.orientation
    return msg


class StaticBroadcaster:
    """Publishes ``node``'s fixed transforms once, latched (late subscribers get them)."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.pub = node.create_publisher(_tf2_msgs(), "/tf_static", TF_STATIC_QOS)

    def send(self, transforms: Iterable[tuple[np.ndarray, str, str]]) -> None:
        """Publish ``(T, parent, child)`` transforms (all of this node's, in one message)."""
        msg = _tf2_msgs()()
        now = self.node.get_clock().now().nanoseconds
        msg.transforms = [transform_msg(T, parent, child, now) for T, parent, child in transforms]
        self.pub.publish(msg)
