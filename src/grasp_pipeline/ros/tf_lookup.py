"""The camera pose in the robot base frame from TF, with the calibrated extrinsics as the last resort.

:class:`CameraPoseSource` answers "where is the camera optical frame in the robot base frame now"
as a 4x4 pose (camera -> base: it maps points in the camera optical frame to the base frame,
metres), the ``camera_pose_base`` the grasp planner works with. Sources, in order:

1. tf2 (``tf2_ros.Buffer`` + ``TransformListener``), where a ROS install provides tf2_ros:
   ``/tf`` and ``/tf_static``, robot joints included;
2. without tf2_ros (a pip venv), a small listener of ``/tf_static`` (``tf2_msgs/TFMessage``,
   reliable + transient local like tf2's static listener, so it gets what was latched before it
   started) that composes the chain base -> ... -> camera optical frame through the static tree;
3. ``static_T``, the extrinsics from the parameter file.

Which source answered is logged once, and again whenever it changes. :class:`StaticTransforms` is
the tree itself (no rclpy): frames joined by transforms, looked up along the path between two
frames in either direction.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

import numpy as np

from grasp_pipeline.geometry.quaternion import matrix_from_quat
from grasp_pipeline.geometry.se3 import inverse

TF_STATIC = "/tf_static"


def _frame(name: str) -> str:
    """tf2 ignores a leading slash (``/panda_link0`` == ``panda_link0``)."""
    return name.strip().lstrip("/")


def transform_to_matrix(translation: Iterable[float], rotation_xyzw: Iterable[float]) -> np.ndarray:
    """4x4 pose from a translation (m) and a quaternion (x, y, z, w); ValueError when not finite
    or the quaternion is zero."""
    t = np.asarray(list(translation), dtype=float)
    q = np.asarray(list(rotation_xyzw), dtype=float)
    if t.shape != (3,) or not np.all(np.isfinite(t)):
        raise ValueError(f"translation must be 3 finite numbers, got {t.tolist()}")
    T = np.eye(4)
    T[:3, :3] = matrix_from_quat(q)
    T[:3, 3] = t
    return T


class StaticTransforms:
    """A tree of frames joined by fixed transforms; :meth:`lookup` composes the path between two.

    ``add(parent, child, T)``: ``T`` (4x4) is the pose of ``child`` in ``parent`` (what a
    ``geometry_msgs/TransformStamped`` with ``header.frame_id=parent``, ``child_frame_id=child``
    holds). A child has one parent: a later transform of the same child replaces the earlier one,
    as in tf2.
    """

    def __init__(self) -> None:
        self._parent: dict[str, tuple[str, np.ndarray]] = {}  # child -> (parent, T_parent_child)

    def add(self, parent: str, child: str, T_parent_child: np.ndarray) -> None:
        parent, child = _frame(parent), _frame(child)
        if not parent or not child or parent == child:
            raise ValueError(
                f"transform needs two different frame ids, got {parent!r} -> {child!r}"
            )
        T = np.asarray(T_parent_child, dtype=float)
        if T.shape != (4, 4) or not np.all(np.isfinite(T)):
            raise ValueError(f"transform {parent} -> {child} must be a finite 4x4 matrix")
        self._parent[child] = (parent, T)

    @property
    def frames(self) -> set[str]:
        return set(self._parent) | {p for p, _ in self._parent.values()}

    def lookup(self, target: str, source: str) -> np.ndarray | None:
        """Pose of ``source`` in ``target`` (4x4: maps points in ``source`` to ``target``), or None
        when the two frames are not connected. Like tf2's ``lookup_transform(target, source)``."""
        target, source = _frame(target), _frame(source)
        if target == source:
            return np.eye(4)
        # undirected breadth-first search; each step is parent->child (T) or child->parent (T^-1)
        neighbours: dict[str, list[tuple[str, np.ndarray]]] = {}
        for child, (parent, T) in self._parent.items():
            neighbours.setdefault(parent, []).append((child, T))
            neighbours.setdefault(child, []).append((parent, inverse(T)))
        # T_target_frame for each frame reached from target
        reached: dict[str, np.ndarray] = {target: np.eye(4)}
        todo = deque([target])
        while todo:
            frame = todo.popleft()
            for nxt, T_frame_nxt in neighbours.get(frame, []):
                if nxt not in reached:
                    reached[nxt] = reached[frame] @ T_frame_nxt
                    if nxt == source:
                        return reached[nxt]
                    todo.append(nxt)
        return None


class StaticTfListener:
    """Keeps every transform published on ``/tf_static`` in a :class:`StaticTransforms` tree."""

    def __init__(self, node, topic: str = TF_STATIC) -> None:
        from tf2_msgs.msg import TFMessage

        from grasp_pipeline.ros.tf_static import TF_STATIC_QOS  # as tf2 listens

        self.node = node
        self.tree = StaticTransforms()
        self.received = 0
        self.refused = 0
        node.create_subscription(TFMessage, topic, self._on_tf, TF_STATIC_QOS)

    def _on_tf(self, msg) -> None:
        for tf in msg.transforms:
            t, r = tf.transform.translation, tf.transform.rotation
            try:
                T = transform_to_matrix((t.x, t.y, t.z), (r.x, r.y, r.z, r.w))
                self.tree.add(tf.header.frame_id, tf.child_frame_id, T)
                self.received += 1
            except ValueError as exc:
                self.refused += 1
                self.node.get_logger().warning(
                    f"ignoring static transform {tf.header.frame_id!r} -> "
                    f"{tf.child_frame_id!r}: {exc}",
                    throttle_duration_sec=5.0,
                )

    def lookup(self, target: str, source: str) -> np.ndarray | None:
        return self.tree.lookup(target, source)


class _Tf2Lookup:
    """tf2_ros Buffer + TransformListener (a ROS install)."""

    def __init__(self, node) -> None:
        import tf2_ros  # ImportError here means: use the static listener

        self._tf2 = tf2_ros
        self.buffer = tf2_ros.Buffer()
        self.listener = tf2_ros.TransformListener(self.buffer, node)

    def lookup(self, target: str, source: str) -> np.ndarray | None:
        from rclpy.time import Time

        try:
            tf = self.buffer.lookup_transform(_frame(target), _frame(source), Time())
        except self._tf2.TransformException:
            return None
        t, r = tf.transform.translation, tf.transform.rotation
        return transform_to_matrix((t.x, t.y, t.z), (r.x, r.y, r.z, r.w))


class CameraPoseSource:
    """The camera optical frame's pose in the robot base frame (see the module docstring).

    ``node``: the rclpy node that owns the subscriptions; ``base_frame`` / ``camera_frame``: frame
    ids (e.g. ``panda_link0`` / ``camera_color_optical_frame``); ``static_T``: the calibrated
    extrinsics (4x4, camera -> base) used when TF has no answer; ``use_tf2``: False forces the
    small ``/tf_static`` listener even where tf2_ros is installed.

    ``get()`` -> 4x4 (camera -> base, metres) or None when no source knows the pose;
    ``source`` names the one that answered last ("tf2", "/tf_static", "static extrinsics", None).
    """

    def __init__(
        self,
        node,
        base_frame: str,
        camera_frame: str,
        static_T: np.ndarray | None = None,
        use_tf2: bool = True,
    ) -> None:
        self.node = node
        self.base_frame, self.camera_frame = _frame(base_frame), _frame(camera_frame)
        if not self.base_frame or not self.camera_frame:
            raise ValueError(
                f"base_frame and camera_frame must be frame ids, got {base_frame!r}, "
                f"{camera_frame!r}"
            )
        if static_T is not None:
            static_T = np.asarray(static_T, dtype=float)
            if static_T.shape != (4, 4) or not np.all(np.isfinite(static_T)):
                raise ValueError("static_T must be a finite 4x4 pose (camera -> base)")
        self.static_T = static_T
        self.source: str | None = None
        self._lookup = None
        self.tf_kind = "/tf_static"
        if use_tf2:
            try:
                self._lookup = _Tf2Lookup(node)
                self.tf_kind = "tf2"
            except ImportError:
                self._lookup = None
        if self._lookup is None:
            self._lookup = StaticTfListener(node)
        node.get_logger().info(
            f"camera pose {self.camera_frame} in {self.base_frame}: from {self.tf_kind}"
            + (", the static extrinsics while TF has none" if static_T is not None else "")
        )

    def get(self) -> np.ndarray | None:
        """4x4 pose of the camera optical frame in the base frame, or None (nothing knows it)."""
        T = self._lookup.lookup(self.base_frame, self.camera_frame)
        source = self.tf_kind
        if T is None:
            T, source = (self.static_T, "static extrinsics")
            if T is None:
                source = None
        if source != self.source:
            log = self.node.get_logger()
            if source is None:
                log.warning(
                    f"no transform {self.base_frame} <- {self.camera_frame} (TF has none yet, "
                    "no static extrinsics given)"
                )
            else:
                log.info(f"camera pose {self.camera_frame} in {self.base_frame}: using {source}")
            self.source = source
        return None if T is None else T.copy()
