"""camera_node: publishes RGB-D frame sets from a RealSense, a recording, the simulator or a bag.

Topics (realsense2_camera names, relative to the node namespace; ``camera`` = ``camera_name``):
``camera/color/image_raw`` (rgb8), ``camera/color/camera_info``,
``camera/aligned_depth_to_color/image_raw`` (16UC1, millimetres when depth_scale is 1 mm) and
``camera/aligned_depth_to_color/camera_info``; all four messages of a frame set carry one stamp and
the colour optical frame id (``<camera>_color_optical_frame``); sensor-data QoS.
A lost device is reported and reopened every ``reopen_delay_s``; the end of a file is reported,
then the node stops publishing (or the source loops, ``loop: true``).
"""

from __future__ import annotations

import sys
import threading

from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image

from grasp_pipeline.paths import share_dir
from grasp_pipeline.ros import conversions as cv
from grasp_pipeline.ros.params import Param, declare_parameters
from grasp_pipeline.ros.qos import SENSOR
from grasp_pipeline.ros.spin import spin_node
from grasp_pipeline.ros.transport_limits import oversize_warning, shm_segment_from_env
from grasp_pipeline.sources.base import CameraSource, DeviceLostError, FrameSet
from grasp_pipeline.sources.factory import SOURCE_KINDS, make_source


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
    """See the module docstring. ``source`` injects an already built source (the composed demo
    shares one simulated world between camera and robot, guarded by ``sim_lock``); otherwise
    parameters choose it."""

    def __init__(
        self,
        source: CameraSource | None = None,
        sim_lock: threading.Lock | None = None,
        **node_kwargs,
    ) -> None:
        super().__init__("camera_node", **node_kwargs)
        # destroy_node must not close the source mid-read; in the composed demo the lock is shared
        # with the planner because one PyBullet client is not thread-safe
        self._read_lock = sim_lock or threading.Lock()
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
        cam = self.p.camera_name
        self.frame_id = f"{cam}_color_optical_frame"
        self.pub_color = self.create_publisher(Image, f"{cam}/color/image_raw", SENSOR)
        self.pub_color_info = self.create_publisher(CameraInfo, f"{cam}/color/camera_info", SENSOR)
        self.pub_depth = self.create_publisher(
            Image, f"{cam}/aligned_depth_to_color/image_raw", SENSOR
        )
        self.pub_depth_info = self.create_publisher(
            CameraInfo, f"{cam}/aligned_depth_to_color/camera_info", SENSOR
        )
        self.frames_published = 0
        self._segment = shm_segment_from_env()
        self._sizes_seen: set[tuple[int, int]] = set()  # resolutions checked against the segment
        self.ended = False
        self._reopen_at = 0.0
        self._open()
        self._timer = self.create_timer(1.0 / self.p.fps, self._tick)

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
        """Publish one frame set (all four messages with one stamp); returns the stamp in ns.

        The first frame set of each resolution is checked against the transport's shared-memory
        segment: a frame set larger than it is published but warned about (subscribers lose such
        frames silently).
        """
        size = (int(fs.rgb.shape[1]), int(fs.rgb.shape[0]))
        if size not in self._sizes_seen:
            self._sizes_seen.add(size)
            warning = oversize_warning(*size, self._segment)
            if warning:
                self.get_logger().warning(warning)
        stamp = (
            fs.stamp_ns if self.p.stamp_source == "source" else self.get_clock().now().nanoseconds
        )
        info = cv.intrinsics_to_camera_info(fs.camera, stamp, self.frame_id)
        depth = fs.depth
        if abs(fs.camera.depth_scale - 0.001) > 1e-12:  # 16UC1 on the wire is millimetres
            depth = cv.codec.to_depth_units(
                (fs.depth.astype("float32") * fs.camera.depth_scale), "32FC1", 0.001
            )
        # camera_info first: a subscriber pairing by stamp then has it when the images complete
        self.pub_color_info.publish(info)
        self.pub_depth_info.publish(info)
        self.pub_depth.publish(cv.numpy_to_image(depth, "16UC1", stamp, self.frame_id))
        self.pub_color.publish(cv.numpy_to_image(fs.rgb, "rgb8", stamp, self.frame_id))
        self.frames_published += 1
        return stamp

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
