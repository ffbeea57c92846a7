"""One camera interface for every place frames come from (RealSense, simulator, rosbag, folder).

A source is opened, read frame set by frame set, and closed; it is also a context manager::

    with RealSenseSource(file="take.db3") as cam:
        while (fs := cam.read()) is not None:
            ...

``read`` returns ``None`` at the end of a finite stream (file, folder) and raises
:class:`DeviceLostError` when a live device stops delivering; the caller decides whether to reopen.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

from grasp_pipeline.geometry.camera import CameraIntrinsics


class DeviceLostError(RuntimeError):
    """A live camera stopped delivering frames (unplugged, USB reset, driver error)."""


@dataclass
class FrameSet:
    """Colour and depth of one instant, depth registered to the colour image.

    ``rgb`` (H, W, 3) uint8 RGB; ``depth`` (H, W) uint16 in ``camera.depth_scale`` metre units
    (0 = no depth); ``camera`` the colour stream's intrinsics (pixels); ``stamp_ns`` the capture
    time in nanoseconds (device clock for hardware, simulated time for the simulator);
    ``index`` counts frame sets from 0 since ``open``; ``extras`` holds ground truth where the
    source has it (simulator, dataset): e.g. ``objects`` (list of annotations), ``camera_pose_world``.
    """

    rgb: np.ndarray
    depth: np.ndarray
    camera: CameraIntrinsics
    stamp_ns: int
    index: int
    extras: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        h, w = self.camera.height, self.camera.width
        if self.rgb.shape != (h, w, 3) or self.rgb.dtype != np.uint8:
            raise ValueError(
                f"FrameSet rgb must be ({h}, {w}, 3) uint8, got {self.rgb.shape} {self.rgb.dtype}"
            )
        if self.depth.shape != (h, w) or self.depth.dtype != np.uint16:
            raise ValueError(
                f"FrameSet depth must be ({h}, {w}) uint16, got {self.depth.shape} {self.depth.dtype}"
            )


class CameraSource(ABC):
    """Base class of frame sources; subclasses implement ``_open``, ``_read`` and ``_close``."""

    #: a short name used in logs ("realsense", "sim", "rosbag", "folder")
    kind: str = "source"

    def __init__(self) -> None:
        self._is_open = False
        self._index = 0

    @property
    def is_open(self) -> bool:
        return self._is_open

    @property
    def finite(self) -> bool:
        """True when the stream ends (files, folders); live cameras and the simulator don't."""
        return False

    def open(self) -> CameraSource:
        if not self._is_open:
            self._open()
            self._is_open = True
            self._index = 0
        return self

    def read(self) -> FrameSet | None:
        """Next frame set, or None at the end of a finite stream. Raises DeviceLostError, RuntimeError
        when the source is not open."""
        if not self._is_open:
            raise RuntimeError(f"{self.kind} source is not open; call open() first")
        fs = self._read()
        if fs is not None:
            fs.index = self._index
            self._index += 1
        return fs

    def close(self) -> None:
        if self._is_open:
            self._is_open = False
            self._close()

    def __enter__(self) -> CameraSource:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    @abstractmethod
    def _open(self) -> None: ...

    @abstractmethod
    def _read(self) -> FrameSet | None: ...

    @abstractmethod
    def _close(self) -> None: ...
