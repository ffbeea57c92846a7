"""camera_node: publishes RGB-D frame sets from a RealSense, a recording, the simulator or a bag.

Topics (realsense2_camera names, relative to the node namespace; ``camera`` = ``camera_name``):
``camera/color/image_raw`` (rgb8), ``camera/color/camera_info``,
``camera/aligned_depth_to_color/image_raw`` (16UC1, millimetres when depth_scale is 1 mm) and
``camera/aligned_depth_to_color/camera_info``; all four messages of a frame set carry one stamp and
the colour optical frame id (``<camera>_color_optical_frame``); sensor-data QoS (the publishing is
:class:`grasp_pipeline.ros.camera_publisher.CameraPublisher`, shared with ``sim_node``). With
``camera_pose_parent`` set, the optical frame's pose in ``parent_frame`` (the hand-eye extrinsics)
is published on ``/tf_static``. ``source: sim`` renders a small scene of its own with no robot (a
camera test pattern); the simulated robot cell with its camera is ``sim_node``.
A lost device is reported and reopened every ``reopen_delay_s``; the end of a file is reported,
then the node stops publishing (or the source loops, ``loop: true``).
"""

from __future__ import annotations

import sys
import threading

import numpy as np
from rclpy.node import Node

from grasp_pipeline.paths import share_dir
from grasp_pipeline.ros.camera_publisher import CameraPublisher
from grasp_pipeline.ros.params import Param, declare_parameters
from grasp_pipeline.ros.spin import spin_node
from grasp_pipeline.sources.base import CameraSource, DeviceLostError, FrameSet
from grasp_pipeline.sources.factory import SOURCE_KINDS, make_source


def pose7_ok(v: list) -> str | None:
    """Check of a pose parameter: [] or [x, y, z, qx, qy, qz, qw] (m, unit quaternion)."""
    if len(v) == 0:
        return None
    if len(v) != 7:
        return "must be [] or [x, y, z, qx, qy, qz, qw] (metres, unit quaternion)"
    if abs(np.linalg.norm(v[3:]) - 1.0) > 1e-3:
        return f"quaternion {v[3:]} is not unit length"
    return None


def pose7_to_matrix(v: list[float]) -> np.ndarray:
    """4x4 of [x, y, z, qx, qy, qz, qw]."""
    from scipy.spatial.transform import Rotation

    T = np.eye(4)
    T[:3, :3] = Rotation.from_quat(v[3:]).as_matrix()
    T[:3, 3] = v[:3]
    return T


def _name_ok(v: str) -> str | None:
    ok = v and v.replace("_", "").isalnum() and not v[0].isdigit()
    return (
        None
        if ok
        else "must be a ROS name (letters, digits, underscores; not starting with a digit)"
    )


PARAMS = (
    Param("source", "sim", "where frames come from", choices=SOURCE_KINDS, read_only=True),
    Param(
        "file",
        "",
        "recording (.db3/.bag), rosbag2 directory/.mcap or dataset directory",
        read_only=True,
    ),
    Param("loop", False, "restart a file at its end instead of stopping", read_only=True),
    Param("serial", "", "RealSense serial number; empty = first device found", read_only=True),
    Param(
        "preset",
        "d435",
        "camera model (intrinsics preset, depth range)",
        choices=("d435", "sr300"),
        read_only=True,
    ),
    Param("width", 640, "colour/depth width (pixels)", range=(16, 1920), read_only=True),
    Param("height", 480, "colour/depth height (pixels)", range=(16, 1080), read_only=True),
    Param("fps", 30.0, "frame sets per second to publish (Hz)", range=(0.1, 90.0)),
    Param(
        "camera_name",
        "camera",
        "topic prefix and optical frame prefix",
        check=_name_ok,
        read_only=True,
    ),
    Param(
        "stamp_source",
        "now",
        "header stamps: 'now' (node clock) or 'source' (device/file time)",
        choices=("now", "source"),
    ),
    Param(
        "reopen_delay_s",
        1.0,
        "seconds between attempts to reopen a lost device",
        range=(0.05, 60.0),
    ),
    Param(
        "parent_frame",
        "base_link",
        "frame the camera is calibrated in (robot base or world); parent of camera_pose_parent",
        read_only=True,
    ),
    Param(
        "camera_pose_parent",
        [],
        "colour optical frame in parent_frame [x, y, z, qx, qy, qz, qw], published on /tf_static; "
        "[] = not calibrated, nothing published",
        check=pose7_ok,
        array_type="double",
        read_only=True,
    ),
    Param("sim_seed", 0, "simulator scene seed", range=(0, 2**31 - 1), read_only=True),
    Param(
        "sim_n_objects",
        3,
        "simulator: number of catalog objects on the table",
        range=(0, 13),
        read_only=True,
    ),
    Param(
        "sim_objects",
        [],
        "simulator: object names to place (empty = random)",
        array_type="string",
        read_only=True,
    ),
    Param(
        "sim_camera_height",
        0.5,
        "simulator: camera height above the table (metres)",
        range=(0.15, 2.0),
        read_only=True,
    ),
    Param("sim_noise", True, "simulator: RealSense depth noise model on", read_only=True),
    Param(
        "sim_rerender",
        True,
        "simulator: render every frame (false: repeat the first render)",
        read_only=True,
    ),
)


class CameraNode(Node):
    """See the module docstring. ``source`` injects an already built source; otherwise
    parameters choose it."""

    def __init__(self, source: CameraSource | None = None, **node_kwargs) -> None:
        super().__init__("camera_node", **node_kwargs)
        # destroy_node must not close the source mid-read
        self._read_lock = threading.Lock()
        self._timer = None
        self.p = declare_parameters(self, PARAMS, on_change=self._on_params)
        self.get_logger().info(f"package data (catalog): {share_dir()}")
        if source is None:
            source = make_source(
                self.p.source,
                file=self.p.file,
                loop=self.p.loop,
                serial=self.p.serial,
                preset=self.p.preset,
                width=self.p.width,
                height=self.p.height,
                fps=self.p.fps,
                sim_seed=self.p.sim_seed,
                sim_n_objects=self.p.sim_n_objects,
                sim_objects=self.p.sim_objects,
                sim_camera_height=self.p.sim_camera_height,
                sim_noise=self.p.sim_noise,
                sim_rerender=self.p.sim_rerender,
            )
        self.source = source
        self.camera = CameraPublisher(self, self.p.camera_name)
        self.frame_id = self.camera.frame_id
        if self.p.camera_pose_parent:
            from grasp_pipeline.ros.tf_static import StaticBroadcaster

            self._tf = StaticBroadcaster(self)
            self._tf.send(
                [(pose7_to_matrix(self.p.camera_pose_parent), self.p.parent_frame, self.frame_id)]
            )
        self.ended = False
        self._reopen_at = 0.0
        self._open()
        self._timer = self.create_timer(1.0 / self.p.fps, self._tick)

    @property
    def frames_published(self) -> int:
        return self.camera.frames_published

    def _on_params(self, changed: dict) -> None:
        """Apply an accepted (validated as a whole) parameter set; refused sets never get here."""
        if "fps" in changed and self._timer is not None:
            self._timer.timer_period_ns = int(1e9 / changed["fps"])
            self.get_logger().info(f"publishing at {changed['fps']} Hz")

    def _now_s(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _open(self) -> bool:
        try:
            self.source.open()
        except DeviceLostError as exc:
            self.get_logger().error(f"{exc}; retrying in {self.p.reopen_delay_s} s")
            self._reopen_at = self._now_s() + self.p.reopen_delay_s
            return False
        self.get_logger().info(f"{self.source.kind} source open, publishing at {self.p.fps} Hz")
        return True

    def _tick(self) -> None:
        with self._read_lock:
            self._tick_locked()

    def _tick_locked(self) -> None:
        if self.ended:
            return
        if not self.source.is_open:
            if self._now_s() >= self._reopen_at:
                self._open()
            return
        try:
            fs = self.source.read()
        except DeviceLostError as exc:
            self.get_logger().error(f"camera lost: {exc}; reopening in {self.p.reopen_delay_s} s")
            self.source.close()
            self._reopen_at = self._now_s() + self.p.reopen_delay_s
            return
        if fs is None:
            self.ended = True
            self.get_logger().info(
                f"end of {self.source.kind} stream after {self.frames_published} frame sets; "
                "stopping (set loop: true to replay)"
            )
            self._timer.cancel()
            return
        self.publish(fs)

    def publish(self, fs: FrameSet) -> int:
        """Publish one frame set (all four messages with one stamp); returns the stamp in ns."""
        stamp = (
            fs.stamp_ns if self.p.stamp_source == "source" else self.get_clock().now().nanoseconds
        )
        return self.camera.publish(fs, stamp)

    def destroy_node(self) -> None:
        # also called by context shutdown after a failed __init__: attributes may be missing
        if getattr(self, "_timer", None) is not None:
            self._timer.cancel()
        if getattr(self, "source", None) is not None:
            with self._read_lock:
                self.source.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return spin_node(CameraNode, "camera_node", args)


if __name__ == "__main__":
    sys.exit(main())
