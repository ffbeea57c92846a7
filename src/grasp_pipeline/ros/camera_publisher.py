"""Publishing RGB-D frame sets the way realsense2_camera does, for every node that has a camera
(``camera_node`` for devices and recordings, ``sim_node`` for the simulated cell).

Topics (relative to the node namespace; ``camera`` = the camera name):
``camera/color/image_raw`` (rgb8), ``camera/color/camera_info``,
``camera/aligned_depth_to_color/image_raw`` (16UC1, millimetres) and
``camera/aligned_depth_to_color/camera_info``; all four messages of a frame set carry one stamp and
the colour optical frame id (``<camera>_color_optical_frame``); sensor-data QoS.
"""

from __future__ import annotations

from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image

from grasp_pipeline.ros import conversions as cv
from grasp_pipeline.ros.qos import SENSOR
from grasp_pipeline.ros.transport_limits import oversize_warning, shm_segment_from_env
from grasp_pipeline.sources.base import FrameSet


def optical_frame(camera_name: str) -> str:
    """The colour optical frame id realsense2_camera uses for ``camera_name``."""
    return f"{camera_name}_color_optical_frame"


class CameraPublisher:
    """The four camera publishers of ``node`` under ``camera_name``."""

    def __init__(self, node: Node, camera_name: str) -> None:
        self.node = node
        self.frame_id = optical_frame(camera_name)
        cam = camera_name
        self.pub_color = node.create_publisher(Image, f"{cam}/color/image_raw", SENSOR)
        self.pub_color_info = node.create_publisher(CameraInfo, f"{cam}/color/camera_info", SENSOR)
        self.pub_depth = node.create_publisher(
            Image, f"{cam}/aligned_depth_to_color/image_raw", SENSOR
        )
        self.pub_depth_info = node.create_publisher(
            CameraInfo, f"{cam}/aligned_depth_to_color/camera_info", SENSOR
        )
        self.frames_published = 0
        self._segment = shm_segment_from_env()
        self._sizes_seen: set[tuple[int, int]] = set()  # resolutions checked against the segment

    def publish(self, fs: FrameSet, stamp_ns: int) -> int:
        """Publish one frame set (all four messages stamped ``stamp_ns``); returns the stamp.

        The first frame set of each resolution is checked against the transport's shared-memory
        segment: a frame set larger than it is published but warned about (subscribers lose such
        frames silently).
        """
        size = (int(fs.rgb.shape[1]), int(fs.rgb.shape[0]))
        if size not in self._sizes_seen:
            self._sizes_seen.add(size)
            warning = oversize_warning(*size, self._segment)
            if warning:
                self.node.get_logger().warning(warning)
        info = cv.intrinsics_to_camera_info(fs.camera, stamp_ns, self.frame_id)
        depth = fs.depth
        if abs(fs.camera.depth_scale - 0.001) > 1e-12:  # 16UC1 on the wire is millimetres
            depth = cv.codec.to_depth_units(
                (fs.depth.astype("float32") * fs.camera.depth_scale), "32FC1", 0.001
            )
        # camera_info first: a subscriber pairing by stamp then has it when the images complete
        self.pub_color_info.publish(info)
        self.pub_depth_info.publish(info)
        self.pub_depth.publish(cv.numpy_to_image(depth, "16UC1", stamp_ns, self.frame_id))
        self.pub_color.publish(cv.numpy_to_image(fs.rgb, "rgb8", stamp_ns, self.frame_id))
        self.frames_published += 1
        return stamp_ns
