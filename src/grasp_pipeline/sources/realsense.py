"""Intel RealSense D435 / SR300 through pyrealsense2: a live device or an SDK recording (.db3/.bag).

Depth is registered to the colour image by the SDK (``rs.align``). A file whose depth stream was
recorded already registered (same intrinsics as colour, identity extrinsics - what
:mod:`grasp_pipeline.sources.realsense_recorder` writes) skips the re-projection in ``align="auto"``:
it is the identity there, and the SDK's per-pixel footprint rounding would otherwise move a few
percent of the depth values at depth edges.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import numpy as np

from grasp_pipeline.geometry.camera import PRESETS, CameraIntrinsics
from grasp_pipeline.sources.base import CameraSource, DeviceLostError, FrameSet

ALIGN_MODES = ("auto", "always", "never")


def _rs():
    try:
        import pyrealsense2 as rs
    except ImportError as exc:  # pragma: no cover - depends on the machine
        raise ImportError(
            "pyrealsense2 is not importable: `pip install pyrealsense2` and the Debian package "
            "libusb-1.0-0 (the set-up installs both)"
        ) from exc
    return rs


def _intrinsics(profile, depth_scale: float, model: str) -> CameraIntrinsics:
    i = profile.as_video_stream_profile().get_intrinsics()
    return CameraIntrinsics(i.width, i.height, i.fx, i.fy, i.ppx, i.ppy, depth_scale, model)


class RealSenseSource(CameraSource):
    """RealSense colour (rgb8) + depth (z16) registered to colour.

    Live: ``serial`` (None = first device), ``preset`` ("d435" | "sr300", names the model in the
    intrinsics and checks the serial's product line), ``width`` x ``height`` at ``fps``.
    Playback: ``file`` (a .db3 or .bag written by the SDK); ``loop`` restarts at the end,
    otherwise ``read`` returns None there. Playback is not paced (every recorded frame is
    returned, as fast as it is read); the caller paces it.
    ``timeout_s``: how long ``read`` waits for a live frame set before raising DeviceLostError.
    """

    kind = "realsense"

    def __init__(
        self,
        serial: str | None = None,
        preset: str = "d435",
        width: int = 640,
        height: int = 480,
        fps: int = 30,
        file: str | Path | None = None,
        loop: bool = False,
        align: str = "auto",
        timeout_s: float = 2.0,
    ) -> None:
        super().__init__()
        if preset.lower() not in PRESETS:
            raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {preset!r}")
        if align not in ALIGN_MODES:
            raise ValueError(f"align must be one of {ALIGN_MODES}, got {align!r}")
        if width <= 0 or height <= 0 or fps <= 0:
            raise ValueError(f"width/height/fps must be positive, got {width}x{height}@{fps}")
        if file is not None:
            file = Path(file)
            if not file.is_file():
                raise FileNotFoundError(f"RealSense recording not found: {file}")
            if file.suffix not in (".db3", ".bag"):
                raise ValueError(f"RealSense recording must be .db3 or .bag, got {file.name}")
        self.serial, self.preset = serial, preset.lower()
        self.width, self.height, self.fps = width, height, fps
        self.file, self.loop, self.align_mode, self.timeout_s = file, loop, align, timeout_s
        self._pipe = None
        self._align = None
        self._camera: CameraIntrinsics | None = None
        self._last = (-1, -1)

    @property
    def finite(self) -> bool:
        return self.file is not None and not self.loop

    @property
    def camera(self) -> CameraIntrinsics:
        if self._camera is None:
            raise RuntimeError("open the source first")
        return self._camera

    def _open(self) -> None:
        rs = _rs()
        cfg = rs.config()
        if self.file is not None:
            cfg.enable_device_from_file(str(self.file), repeat_playback=self.loop)
        else:
            if self.serial:
                cfg.enable_device(self.serial)
            cfg.enable_stream(rs.stream.color, self.width, self.height, rs.format.rgb8, self.fps)
            cfg.enable_stream(rs.stream.depth, self.width, self.height, rs.format.z16, self.fps)
            self._check_connected(rs)
        pipe = rs.pipeline()
        try:
            profile = pipe.start(cfg)
        except RuntimeError as exc:
            what = f"file {self.file}" if self.file else f"device serial={self.serial or 'any'}"
            raise DeviceLostError(f"cannot start RealSense {what}: {exc}") from exc
        device = profile.get_device()
        self._playback = None
        if self.file is not None:
            # not real time: every recorded frame comes out, however slow the reader is
            self._playback = device.as_playback()
            self._playback.set_real_time(False)
        depth_sensor = device.first_depth_sensor()
        # the SDK stores the scale as float32: 0.001 reads back as 0.0010000000475
        scale = float(f"{depth_sensor.get_depth_scale():.6g}") if depth_sensor else 0.001
        color = profile.get_stream(rs.stream.color)
        depth = profile.get_stream(rs.stream.depth)
        self._camera = _intrinsics(color, scale, self.preset)
        registered = self._registered(color, depth)
        need = {"always": True, "never": False, "auto": not registered}[self.align_mode]
        self._align = rs.align(rs.stream.color) if need else None
        if self._align is None and not registered:
            raise ValueError(
                "align='never' but depth is not registered to colour in this stream; use 'auto'"
            )
        self._pipe = pipe
        self._last = (-1, -1)

    def _check_connected(self, rs) -> None:
        # pipeline.start waits ~15 s for a device that is not there; the device list answers at once
        serials = [d.get_info(rs.camera_info.serial_number) for d in rs.context().query_devices()]
        if (self.serial and self.serial not in serials) or not serials:
            raise DeviceLostError(
                f"no RealSense device serial={self.serial or 'any'} connected (found {serials})"
            )

    @staticmethod
    def _registered(color, depth) -> bool:
        ci = color.as_video_stream_profile().get_intrinsics()
        di = depth.as_video_stream_profile().get_intrinsics()
        same = (ci.width, ci.height, ci.fx, ci.fy, ci.ppx, ci.ppy) == (
            di.width,
            di.height,
            di.fx,
            di.fy,
            di.ppx,
            di.ppy,
        )
        ex = depth.get_extrinsics_to(color)
        identity = np.allclose(
            np.reshape(ex.rotation, (3, 3)), np.eye(3), atol=1e-9
        ) and np.allclose(ex.translation, 0.0, atol=1e-9)
        return same and identity

    def _read(self) -> FrameSet | None:
        t_wait = int(self.timeout_s * 1000) if self.file is None else 500
        deadline = time.monotonic() + self.timeout_s
        while True:
            ok, frames = self._pipe.try_wait_for_frames(t_wait)
            if not ok:
                if self.file is not None:
                    # a file still playing is slow (a loaded machine), not at its end: wait on,
                    # up to timeout_s (a wait of 0.5 s alone lost a recording's last frame)
                    if self._still_playing() and time.monotonic() < deadline:
                        continue
                    return None  # end of the recording (looping files never get here)
                raise DeviceLostError(
                    f"RealSense {self.serial or ''} delivered no frame set in {self.timeout_s} s"
                )
            color, depth = frames.get_color_frame(), frames.get_depth_frame()
            if not color or not depth:
                continue
            # the SDK's matcher also emits framesets where only one stream advanced (new colour
            # with the previous depth); a frame set is new only when both streams moved on
            key = (color.get_frame_number(), depth.get_frame_number())
            if key[0] == self._last[0] or key[1] == self._last[1]:
                continue
            self._last = key
            if self._align is not None:
                frames = self._align.process(frames)
                depth = frames.get_depth_frame()
            rgb = np.asanyarray(color.get_data()).copy()
            d = np.asanyarray(depth.get_data()).copy()
            stamp_ns = round(color.get_timestamp() * 1e6)  # SDK timestamps are milliseconds
            return FrameSet(rgb, d, self.camera, stamp_ns, 0, {"frame_number": key[0]})

    def _still_playing(self) -> bool:
        """Whether the file's playback has frames left to deliver."""
        import pyrealsense2 as rs

        try:
            return self._playback.current_status() == rs.playback_status.playing
        except RuntimeError:  # the playback is gone
            return False

    def _close(self) -> None:
        if self._pipe is not None:
            if self.file is not None:
                # Pause a file's playback first: stopping the pipeline while a repeating
                # playback rewinds to its start aborted the process (librealsense 2.59).
                with contextlib.suppress(RuntimeError):
                    self._pipe.get_active_profile().get_device().as_playback().pause()
            # a lost device can't be stopped cleanly; the pipeline is dropped anyway
            with contextlib.suppress(RuntimeError):
                self._pipe.stop()
        self._pipe = None
