"""Static transforms on ``/tf_static`` (tf2_msgs/TFMessage, reliable + transient local, as tf2's
StaticTransformBroadcaster publishes them), without tf2_ros: publishing a node's fixed frames and
looking up a chain of static transforms between two frames.

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


def msg_to_matrix(msg) -> np.ndarray:
    """4x4 parent <- child of a TransformStamped; ValueError for a zero quaternion."""
    from geometry_msgs.msg import Point, Pose

    t = msg.transform.translation
    return cv.pose_to_matrix(
        Pose(position=Point(x=t.x, y=t.y, z=t.z), orientation=msg.transform.rotation)
    )


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


def chain(edges: dict[tuple[str, str], np.ndarray], target: str, source: str) -> np.ndarray | None:
    """``target <- source`` (4x4) through the static ``edges`` ({(parent, child): T}), walking
    them in either direction; None when the frames are not connected."""
    if target == source:
        return np.eye(4)
    adj: dict[str, list[tuple[str, np.ndarray]]] = {}
    for (parent, child), T in edges.items():
        adj.setdefault(parent, []).append((child, T))  # parent <- child
        adj.setdefault(child, []).append((parent, np.linalg.inv(T)))  # child <- parent
    # breadth first from target: best[f] = target <- f
    best = {target: np.eye(4)}
    todo = [target]
    while todo:
        f = todo.pop(0)
        for g, T_fg in adj.get(f, []):
            if g not in best:
                best[g] = best[f] @ T_fg
                if g == source:
                    return best[g]
                todo.append(g)
    return None


class StaticListener:
    """Collects ``/tf_static`` on ``node``; :meth:`lookup` chains the transforms received."""

    def __init__(self, node: Node, callback_group=None) -> None:
        self.edges: dict[tuple[str, str], np.ndarray] = {}
        self.node = node
        node.create_subscription(
            _tf2_msgs(), "/tf_static", self._on_msg, TF_STATIC_QOS, callback_group=callback_group
        )

    def _on_msg(self, msg) -> None:
        for t in msg.transforms:
            try:
                self.edges[(t.header.frame_id, t.child_frame_id)] = msg_to_matrix(t)
            except ValueError as exc:
                self.node.get_logger().warning(
                    f"ignoring /tf_static {t.header.frame_id} -> {t.child_frame_id}: {exc}",
                    throttle_duration_sec=10.0,
                )

    def lookup(self, target: str, source: str) -> np.ndarray | None:
        """``target <- source`` (4x4) or None when not (yet) known."""
        return chain(dict(self.edges), target, source)
