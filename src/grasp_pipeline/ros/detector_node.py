"""detector_node: RGB-D frame sets in, object detections and the target's pickup pose out.

Subscribes (sensor-data QoS) to ``camera/color/image_raw``, ``camera/aligned_depth_to_color/
image_raw`` and ``camera/color/camera_info``, pairs them by stamp and runs the detector on the
newest complete frame set in a worker thread (older unprocessed sets are dropped, never queued).
Publishes (reliable): ``detections`` (vision_msgs/Detection3DArray, camera optical frame),
``pickup_pose`` (PoseStamped, best detection of ``target_object``), ``detections/markers``,
``detector/latency_ms`` (Float64: frame stamp -> detections published) and ``detector/debug_image``.
A bad frame (encoding, size, no valid or implausible depth, missing camera_info) is dropped and
logged per cause, at most once per ``log_every_s``; the node keeps running. Stamps that jump ahead or
back are refused and a changed camera clock is adopted within a second (see ``frame_sync``).
Memory stays flat: bounded buffers, a fixed window of latencies.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Float64

from grasp_pipeline.paths import share_dir
from grasp_pipeline.ros import conversions as cv
from grasp_pipeline.ros.detector_loading import (
    DETECTORS,
    SHIPPED_MODELS,
    load_detector,
    resolve_model_path,
)
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


def _runtime_ok(v: str) -> str | None:
    from grasp_pipeline.perception.network_runtime import RUNTIMES

    return None if v in RUNTIMES else f"must be one of {RUNTIMES}"


PARAMS = (
    Param("detector", "parts", "which detector runs", choices=DETECTORS, read_only=True),
    Param(
        "model_path",
        SHIPPED_MODELS["parts"],
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
        "threads",
        0,
        "torch CPU threads of the network, set for the whole process (0 = torch's default, one "
        "per core); 1 is faster where other processes keep a core busy "
        "(benchmarks/results/detector_latency_parts_busy1*.json)",
        range=(0, 256),
        read_only=True,
    ),
    Param(
        "runtime",
        "auto",
        "what runs the parts detector's networks: auto (ONNX Runtime where installed and on "
        "the CPU, else PyTorch), onnx or torch; the same detections, ONNX Runtime is faster "
        "(benchmarks/results/detector_latency_parts_runtime*.json)",
        check=_runtime_ok,
        read_only=True,
    ),
    Param(
        "shape_fit",
        False,
        "parts detector: lay each part's catalog solid over its region to place the pickup "
        "nearer its centre of gravity (hold-out pickup rate +0.015, a third slower, fewer clutter "
        "picks through the nodes: docs/parts.md step 7)",
        read_only=True,
    ),
    Param(
        "target_object",
        "",
        "catalog object whose pickup_pose is published ('' = best of any)",
        check=_target_ok,
    ),
    Param("min_score", 0.5, "detections scoring lower are not published", range=(0.0, 1.0)),
    Param(
        "targets",
        [],
        "labels to look for ([] = every label the detector knows); a task that names its objects "
        "saves work per frame (the descriptor detector runs one model per label)",
        array_type="string",
    ),
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
        "period of the latency / rate summary in the log, and least time between two warnings "
        "of one kind (s)",
        range=(0.5, 3600.0),
    ),
    Param(
        "max_depth_m",
        10.0,
        "frames whose median valid depth is farther are refused as implausible (metres)",
        range=(0.5, 65.0),
    ),
    Param(
        "min_depth_m",
        0.05,
        "frames whose median valid depth is nearer are refused as implausible (metres)",
        range=(0.0, 1.0),
    ),
    Param(
        "max_stamp_lead_s",
        3.0,
        "a frame stamp further ahead of the newest accepted one than the time since is refused (s)",
        range=(0.1, 3600.0),
    ),
)

LATENCY_WINDOW = 300  # latencies kept for the summary's median / p95 (frames)


class Throttle:
    """Per-key rate limit for log lines: a key's first line at once, then at most one per
    ``period_s`` seconds; :meth:`ready` returns how many were held back since the last one."""

    def __init__(self, period_s: float) -> None:
        self.period_s = float(period_s)
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}
        self._lock = threading.Lock()

    def ready(self, key: str, now_s: float | None = None) -> int | None:
        """None when the line for ``key`` should be held back, else the number held back."""
        now_s = time.monotonic() if now_s is None else now_s
        with self._lock:
            last = self._last.get(key)
            if last is not None and now_s - last < self.period_s:
                self._held[key] = self._held.get(key, 0) + 1
                return None
            self._last[key] = now_s
            return self._held.pop(key, 0)


class DetectorNode(Node):
    """See the module docstring. ``detector`` injects an already loaded detector object."""

    def __init__(self, detector=None, **node_kwargs) -> None:
        super().__init__("detector_node", **node_kwargs)
        self._log_timer = None
        self.p = declare_parameters(self, PARAMS, on_change=self._on_params)
        self.throttle = Throttle(self.p.log_every_s)
        self.detector = detector
        if self.p.threads:
            import torch

            torch.set_num_threads(self.p.threads)
        if self.detector is None:
            self.detector = load_detector(
                self.p.detector,
                self.p.model_path,
                self.p.device,
                self.p.database_path,
                runtime=self.p.runtime,
                shape_fit=self.p.shape_fit,
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
                + (
                    f"; networks run by {self.detector.runtime}"
                    if hasattr(self.detector, "runtime")
                    else ""
                )
            )
        self.labels = list(getattr(self.detector, "labels", []))
        from grasp_pipeline.objects import load_catalog

        # object sizes fill Detection3D.bbox.size (RViz shows boxes of the right extent)
        catalog = load_catalog()
        self.sizes = {n: tuple(catalog[n].size) for n in catalog.names}
        cam = self.p.camera_name
        self.sync = FrameSync(
            tolerance_ns=int(self.p.sync_tolerance_ms * 1e6),
            max_ahead_ns=int(self.p.max_stamp_lead_s * 1e9),
            on_event=self._sync_event,
        )
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
        self.bad_frames: dict[str, int] = {}  # cause -> count; causes are a small fixed set
        self.latencies_ms: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self._stats_lock = threading.Lock()
        self._last_counters = self.sync.counters()
        self._last_processed = 0
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._run, name="detector_worker", daemon=True)
        self._worker.start()
        self._log_timer = self.create_timer(self.p.log_every_s, self._log_summary)
        self.get_logger().info(
            f"{self.p.detector} detector ready ({len(self.labels)} classes) on {self.p.device}; "
            f"target_object={self.p.target_object or 'any'}"
        )

    def _on_params(self, changed: dict) -> None:
        """Apply an accepted parameter set to what was built from the start-up values."""
        if "sync_tolerance_ms" in changed:
            self.sync.tolerance_ns = int(changed["sync_tolerance_ms"] * 1e6)
        if "max_stamp_lead_s" in changed:
            self.sync.max_ahead_ns = int(changed["max_stamp_lead_s"] * 1e9)
        if "log_every_s" in changed:
            self.throttle.period_s = changed["log_every_s"]
            if self._log_timer is not None:
                self._log_timer.timer_period_ns = int(changed["log_every_s"] * 1e9)

    # -- input ---------------------------------------------------------------------------------
    def _add(self, kind: str, msg) -> None:
        self.sync.add(kind, msg, time.monotonic_ns())

    def _warn(self, key: str, text: str) -> None:
        """A warning, at most one per ``log_every_s`` for ``key``."""
        held = self.throttle.ready(key)
        if held is not None:
            more = f" ({held} more since the last report)" if held else ""
            self.get_logger().warning(text + more)

    def _sync_event(self, kind: str, text: str) -> None:
        self._warn(f"stamps {kind}", text)

    def _drop(self, cause: str, detail: str) -> None:
        """Count a dropped frame and log it (throttled per cause)."""
        self.bad_frames[cause] = self.bad_frames.get(cause, 0) + 1
        self._warn(f"drop {cause}", f"dropping frame: {cause}: {detail}")

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
        problem = self._implausible_depth(depth, camera.depth_scale)
        if problem:
            self._drop("depth implausible", problem)
            return None
        return rgb, depth, camera

    def _implausible_depth(self, depth: np.ndarray, depth_scale: float) -> str | None:
        """Why ``depth`` (H, W) in ``depth_scale`` metre units can't be a real scene, or None.

        A RealSense sees 0.1-10 m; a median beyond (e.g. all 65535 = 65.5 m) or below that range
        means wrong depth units or a broken stream, and its 3-D points would be wrong.
        """
        sample = depth[::4, ::4]  # the median of a 1/16 sample is ample and 16x cheaper
        valid = sample[sample > 0]
        if valid.size == 0:
            return None
        median_m = float(np.median(valid)) * depth_scale
        if median_m > self.p.max_depth_m:
            return (
                f"median {median_m:.1f} m of the valid pixels, beyond max_depth_m "
                f"{self.p.max_depth_m} m; wrong depth units?"
            )
        if median_m < self.p.min_depth_m:
            return (
                f"median {median_m:.3f} m of the valid pixels, below min_depth_m "
                f"{self.p.min_depth_m} m; depth in metres sent as 16UC1 (millimetres)?"
            )
        return None

    # -- processing ----------------------------------------------------------------------------
    def _run(self) -> None:
        no_info_seen = 0
        while not self._stop.is_set():
            f = self.sync.take(timeout=0.2)
            while no_info_seen < self.sync.no_info:
                no_info_seen += 1
                last = self.sync.last_info_stamp_ns
                self._drop(
                    "missing camera_info",
                    "colour + depth arrived but no camera_info of their stamp did (last "
                    + ("camera_info: none" if last is None else f"camera_info stamp {last} ns")
                    + "); the camera must stamp camera_info like its images",
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
        dets = self.detector.detect(rgb, depth, camera, list(self.p.targets) or None)
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
        with self._stats_lock:
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
        """Rates and losses since the last summary; a warning when messages arrive but no frame
        set forms (e.g. images too large for the transport never arrive, their camera_info does)."""
        c = self.sync.counters()
        d = {k: v - self._last_counters.get(k, 0) for k, v in c.items()}
        processed = self.processed - self._last_processed
        self._last_counters, self._last_processed = c, self.processed
        lost = {k: d[f"unmatched_{k}"] for k in ("color", "depth", "info") if d[f"unmatched_{k}"]}
        if d["completed"] == 0 and lost:
            if "info" not in lost:
                hint = "no camera_info of their stamp arrives (is camera_info published?)"
            elif len(lost) < 3:
                hint = (
                    "images are lost in transport (frames larger than the Fast DDS shared-memory "
                    "segment do not arrive) or are stamped unlike their camera_info"
                )
            else:
                hint = "the stamps of colour, depth and camera_info do not match"
            self._warn("no frame sets", f"messages arrive but form no frame set {lost}: {hint}")
        with self._stats_lock:
            lat = list(self.latencies_ms)
        if processed == 0 and not any(d.values()):
            return  # nothing arrived: stay quiet
        latency = (
            f"latency median {np.median(lat):.1f} ms, p95 {np.percentile(lat, 95):.1f} ms; "
            if lat
            else ""
        )
        self.get_logger().info(
            f"processed {processed} frame sets (total {self.processed}; stale {d['dropped']}); "
            f"{latency}unmatched messages {lost or 0}; stamp jumps: ahead {d['ahead']}, "
            f"backward {d['backward']}, resyncs {d['resyncs']}; bad frames {self.bad_frames}"
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
