"""detector_node: RGB-D frame sets in, object detections and the target's pickup pose out.

Subscribes (sensor-data QoS) to ``camera/color/image_raw``, ``camera/aligned_depth_to_color/
image_raw`` and ``camera/color/camera_info``, pairs them by stamp and runs the detector on the
newest complete frame set in a worker thread (older unprocessed sets are dropped, never queued).
Publishes (reliable): ``detections`` (vision_msgs/Detection3DArray, camera optical frame),
``pickup_pose`` (PoseStamped, best detection of ``target_object``), ``detections/markers``,
``detector/latency_ms`` (Float64: frame stamp -> detections published) and ``detector/debug_image``.
A bad frame (encoding, size, no valid depth, missing camera_info) is logged once per cause and
dropped; the node keeps running.
"""

from __future__ import annotations

import sys
import threading
import time

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Float64

from grasp_pipeline.paths import share_dir
from grasp_pipeline.ros import conversions as cv
from grasp_pipeline.ros.detector_loading import DETECTORS, load_detector, resolve_model_path
from grasp_pipeline.ros.frame_sync import FrameSync, SyncedFrame
from grasp_pipeline.ros.params import Param, declare_parameters
from grasp_pipeline.ros.qos import RESULTS, SENSOR
from grasp_pipeline.ros.spin import spin_node
from grasp_pipeline.ros.visualization import debug_image, detection_markers


def _catalog_names() -> list[str]:
    from grasp_pipeline.objects import load_catalog

    return list(load_catalog().names)


def _target_ok(v: str) -> str | None:
    names = _catalog_names()
    return None if v == "" or v in names else f"not a catalog object; known: {names}"


def _device_ok(v: str) -> str | None:
    return None if v in ("cpu", "cuda") or v.startswith("cuda:") else "must be 'cpu' or 'cuda[:N]'"


PARAMS = (
    Param("detector", "segnet", "which detector runs", choices=DETECTORS, read_only=True),
    Param(
        "model_path",
        "models/segnet/model.pt",
        "checkpoint / descriptor database (absolute or repo-relative)",
        read_only=True,
    ),
    Param(
        "database_path",
        "",
        "descriptor database of the known objects (detector 'descriptors' only)",
        read_only=True,
    ),
    Param("device", "cpu", "torch device: cpu or cuda[:N]", check=_device_ok, read_only=True),
    Param(
        "target_object",
        "",
        "catalog object whose pickup_pose is published ('' = best of any)",
        check=_target_ok,
    ),
    Param("min_score", 0.3, "detections scoring lower are not published", range=(0.0, 1.0)),
    Param(
        "camera_name",
        "camera",
        "topic prefix of the camera (realsense2_camera layout)",
        read_only=True,
    ),
    Param(
        "sync_tolerance_ms",
        0.0,
        "max colour/depth stamp difference paired as one frame set (ms)",
        range=(0.0, 100.0),
    ),
    Param("debug_image", True, "publish detector/debug_image (only while someone subscribes)"),
    Param(
        "debug_every_n",
        3,
        "publish the debug image for every n-th processed frame",
        range=(1, 1000),
    ),
    Param(
        "log_every_s",
        10.0,
        "period of the latency / rate summary in the log (s)",
        range=(0.5, 3600.0),
    ),
)


class DetectorNode(Node):
    """See the module docstring. ``detector`` injects an already loaded detector object."""

    def __init__(self, detector=None, **node_kwargs) -> None:
        super().__init__("detector_node", **node_kwargs)
        self.p = declare_parameters(self, PARAMS)
        self.detector = detector
        if self.detector is None:
            self.detector = load_detector(
                self.p.detector, self.p.model_path, self.p.device, self.p.database_path
            )
            self.get_logger().info(
                f"model_path {self.p.model_path!r} -> {resolve_model_path(self.p.model_path)}"
                + (
                    f"; database_path {self.p.database_path!r} -> "
                    f"{resolve_model_path(self.p.database_path)}"
                    if self.p.database_path
                    else ""
                )
                + f" (package data: {share_dir()})"
            )
        self.labels = list(getattr(self.detector, "labels", []))
        from grasp_pipeline.objects import load_catalog

        # object sizes fill Detection3D.bbox.size (RViz shows boxes of the right extent)
        catalog = load_catalog()
        self.sizes = {n: tuple(catalog[n].size) for n in catalog.names}
        cam = self.p.camera_name
        self.sync = FrameSync(tolerance_ns=int(self.p.sync_tolerance_ms * 1e6))
        self.create_subscription(
            Image, f"{cam}/color/image_raw", lambda m: self._add("color", m), SENSOR
        )
        self.create_subscription(
            Image,
            f"{cam}/aligned_depth_to_color/image_raw",
            lambda m: self._add("depth", m),
            SENSOR,
        )
        self.create_subscription(
            CameraInfo, f"{cam}/color/camera_info", lambda m: self._add("info", m), SENSOR
        )
        from geometry_msgs.msg import PoseStamped
        from vision_msgs.msg import Detection3DArray
        from visualization_msgs.msg import MarkerArray

        self.pub_dets = self.create_publisher(Detection3DArray, "detections", RESULTS)
        self.pub_pickup = self.create_publisher(PoseStamped, "pickup_pose", RESULTS)
        self.pub_markers = self.create_publisher(MarkerArray, "detections/markers", RESULTS)
        self.pub_latency = self.create_publisher(Float64, "detector/latency_ms", RESULTS)
        self.pub_debug = self.create_publisher(Image, "detector/debug_image", SENSOR)
        self.processed = 0
        self.bad_frames: dict[str, int] = {}
        self.latencies_ms: list[float] = []
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._run, name="detector_worker", daemon=True)
        self._worker.start()
        self._log_timer = self.create_timer(self.p.log_every_s, self._log_summary)
        self.get_logger().info(
            f"{self.p.detector} detector ready ({len(self.labels)} classes) on {self.p.device}; "
            f"target_object={self.p.target_object or 'any'}"
        )

    # -- input ---------------------------------------------------------------------------------
    def _add(self, kind: str, msg) -> None:
        self.sync.add(kind, msg, time.time_ns())

    def _drop(self, cause: str, detail: str) -> None:
        """Count a dropped frame; log each cause once (then only in the summary)."""
        n = self.bad_frames.get(cause, 0)
        self.bad_frames[cause] = n + 1
        if n == 0:
            self.get_logger().warning(f"dropping frame: {cause}: {detail} (logged once per cause)")

    def _decode(self, f: SyncedFrame):
        try:
            rgb = cv.to_rgb(f.color)
        except ValueError as exc:
            self._drop("bad colour image", str(exc))
            return None
        try:
            depth = cv.to_depth_u16(f.depth)
        except ValueError as exc:
            self._drop("bad depth image", str(exc))
            return None
        try:
            camera = cv.camera_info_to_intrinsics(f.info)
        except ValueError as exc:
            self._drop("bad camera_info", str(exc))
            return None
        if depth.shape != rgb.shape[:2] or (camera.width, camera.height) != (
            rgb.shape[1],
            rgb.shape[0],
        ):
            self._drop(
                "size mismatch",
                f"colour {rgb.shape[1]}x{rgb.shape[0]}, depth {depth.shape[1]}x{depth.shape[0]}, "
                f"camera_info {camera.width}x{camera.height}",
            )
            return None
        if not np.any(depth):
            self._drop("no valid depth", "depth image is all zero / NaN")
            return None
        return rgb, depth, camera

    # -- processing ----------------------------------------------------------------------------
    def _run(self) -> None:
        no_info_seen = 0
        while not self._stop.is_set():
            f = self.sync.take(timeout=0.2)
            while no_info_seen < self.sync.no_info:
                no_info_seen += 1
                self._drop(
                    "missing camera_info", "colour + depth arrived but no camera_info ever did"
                )
            if f is None:
                continue
            try:
                self.process(f)
            except Exception as exc:
                self._drop(f"detector error ({type(exc).__name__})", str(exc))

    def process(self, f: SyncedFrame) -> list:
        """Detect on one synchronised frame set and publish; returns the published detections."""
        decoded = self._decode(f)
        if decoded is None:
            return []
        rgb, depth, camera = decoded
        dets = self.detector.detect(rgb, depth, camera)
        dets = [d for d in dets if d.score >= self.p.min_score]
        for d in dets:
            if d.label in self.sizes:
                d.extras.setdefault("size", self.sizes[d.label])
        frame_id = f.color.header.frame_id
        self.pub_dets.publish(cv.detections_to_msg(dets, f.stamp_ns, frame_id))
        target = self.p.target_object
        wanted = [d for d in dets if not target or d.label == target]
        if wanted:
            best = max(wanted, key=lambda d: d.score)
            self.pub_pickup.publish(cv.pose_stamped(best.pose, f.stamp_ns, frame_id))
        self.pub_markers.publish(detection_markers(dets, f.stamp_ns, frame_id, self.labels))
        latency = (self.get_clock().now().nanoseconds - f.stamp_ns) / 1e6
        self.latencies_ms.append(latency)
        self.pub_latency.publish(Float64(data=float(latency)))
        self.processed += 1
        if (
            self.p.debug_image
            and self.processed % self.p.debug_every_n == 0
            and self.pub_debug.get_subscription_count() > 0
        ):
            self.pub_debug.publish(
                cv.numpy_to_image(
                    self._debug(rgb, depth, camera, dets), "rgb8", f.stamp_ns, frame_id
                )
            )
        return dets

    def _debug(self, rgb, depth, camera, dets) -> np.ndarray:
        heat = None
        if hasattr(self.detector, "activations"):
            depth_m = depth.astype(np.float32) * np.float32(camera.depth_scale)
            depth_m[depth == 0] = np.nan
            maps, _ = self.detector.activations(rgb, depth_m)
            heat = maps.max(axis=0)
        return debug_image(rgb, dets, self.labels, heat)

    def _log_summary(self) -> None:
        lat = self.latencies_ms[-300:]
        if lat:
            self.get_logger().info(
                f"processed {self.processed} frame sets (dropped as stale {self.sync.dropped}); latency "
                f"median {np.median(lat):.1f} ms, p95 {np.percentile(lat, 95):.1f} ms; bad frames {self.bad_frames}"
            )

    def destroy_node(self) -> None:
        # also called by context shutdown after a failed __init__: attributes may be missing
        if getattr(self, "_worker", None) is not None:
            self._stop.set()
            self.sync.wake()
            self._worker.join(timeout=5.0)
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return spin_node(DetectorNode, "detector_node", args)


if __name__ == "__main__":
    sys.exit(main())
