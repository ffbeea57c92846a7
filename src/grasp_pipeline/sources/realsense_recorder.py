"""Write RGB-D frames into a RealSense SDK recording (.db3) without a camera.

pyrealsense2's ``software_device`` plays the camera and ``rs.recorder`` writes what it "captures",
so the file is exactly what the SDK writes for a real D435/SR300 and plays back through
:class:`grasp_pipeline.sources.realsense.RealSenseSource`. Used for the committed test recordings
and to turn simulator / dataset frames into camera recordings.

Snags (measured, pyrealsense2 2.59): the recorder writes only ``.db3``; colour and depth need
extrinsics registered by hand (the default all-zero rotation makes aligned depth all zeros); both
frames of a set get the same timestamp and frame number; the sensor must be stopped and closed and
the recorder deleted before the file is complete.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from grasp_pipeline.geometry.camera import CameraIntrinsics

_GAP_S = 0.005  # back-to-back frames (no gap) play back as one frame set


def record_frames(
    path: str | Path,
    frames: Iterable[tuple[np.ndarray, np.ndarray]],
    camera: CameraIntrinsics,
    fps: int = 30,
    start_ms: float = 1000.0,
) -> int:
    """Record (rgb (H, W, 3) uint8, depth (H, W) uint16 in ``camera.depth_scale`` units) pairs.

    Depth is written registered to colour (same intrinsics, identity extrinsics). Frame k gets
    frame number k and timestamp ``start_ms + k * 1000 / fps`` ms (hardware clock domain).
    Returns the number of frame sets written. Raises ValueError for a frame of the wrong shape.
    """
    import pyrealsense2 as rs

    path = Path(path)
    if path.suffix != ".db3":
        raise ValueError(f"the RealSense recorder writes .db3 files only, got {path.name}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    w, h = camera.width, camera.height
    dev = rs.software_device()
    sensor = dev.add_sensor("RGB-D")
    intr = rs.intrinsics()
    intr.width, intr.height = w, h
    intr.fx, intr.fy, intr.ppx, intr.ppy = camera.fx, camera.fy, camera.cx, camera.cy
    intr.model = rs.distortion.none
    intr.coeffs = [0.0] * 5

    def stream(sensor, kind, uid: int, fmt, bpp: int):
        s = rs.video_stream()
        s.type, s.index, s.uid = kind, 0, uid
        s.width, s.height, s.fps, s.bpp, s.fmt, s.intrinsics = w, h, fps, bpp, fmt, intr
        return sensor.add_video_stream(s)

    color_p = stream(sensor, rs.stream.color, 0, rs.format.rgb8, 3)
    depth_p = stream(sensor, rs.stream.depth, 1, rs.format.z16, 2)
    sensor.add_read_only_option(rs.option.depth_units, float(camera.depth_scale))
    dev.create_matcher(rs.matchers.default)
    ex = rs.extrinsics()
    ex.rotation = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    ex.translation = [0.0, 0.0, 0.0]
    color_p.register_extrinsics_to(depth_p, ex)
    depth_p.register_extrinsics_to(color_p, ex)

    recorder = rs.recorder(str(path), dev)
    sink = rs.frame_queue(4096)
    sensor.open([color_p, depth_p])
    sensor.start(sink)
    n = 0
    try:
        for k, (rgb, depth) in enumerate(frames):
            if rgb.shape != (h, w, 3) or rgb.dtype != np.uint8:
                raise ValueError(
                    f"frame {k}: rgb must be ({h}, {w}, 3) uint8, got {rgb.shape} {rgb.dtype}"
                )
            if depth.shape != (h, w) or depth.dtype != np.uint16:
                raise ValueError(
                    f"frame {k}: depth must be ({h}, {w}) uint16, got {depth.shape} {depth.dtype}"
                )
            for arr, prof, bpp in ((rgb, color_p, 3), (depth, depth_p, 2)):
                f = rs.software_video_frame()
                f.pixels = np.ascontiguousarray(arr).tobytes()
                f.bpp, f.stride = bpp, w * bpp
                f.timestamp = start_ms + k * 1000.0 / fps
                f.domain = rs.timestamp_domain.hardware_clock
                f.frame_number = k
                f.profile = prof.as_video_stream_profile()
                sensor.on_video_frame(f)
            n += 1
            time.sleep(_GAP_S)
    finally:
        sensor.stop()
        sensor.close()
        del recorder, sensor, dev
        gc.collect()  # the recorder flushes and closes the file in its destructor
    return n
