"""Pinhole camera model with Intel RealSense D435 / SR300 presets.

Frames: points are in the camera *optical* frame (x right, y down, z forward), metres.
Pixels are (u, v) = (column, row) with the centre of the top-left pixel at (0, 0).
Depth images are stored as the RealSense driver delivers them: uint16 in units of
``depth_scale`` metres (1 mm for both presets); 0 means "no depth".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np


@dataclass(frozen=True)
class CameraIntrinsics:
    """Pinhole intrinsics of a (distortion-free, rectified) colour stream with depth aligned to it."""

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    depth_scale: float = 0.001  # metres per depth unit
    model: str = "pinhole"

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"camera size must be positive, got {self.width}x{self.height}")
        if not (self.fx > 0 and self.fy > 0):
            raise ValueError(f"focal lengths must be positive, got fx={self.fx}, fy={self.fy}")
        if not self.depth_scale > 0:
            raise ValueError(f"depth_scale must be positive, got {self.depth_scale}")

    @property
    def K(self) -> np.ndarray:  # noqa: N802 - the usual name of the matrix
        """3x3 camera matrix."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def scaled(self, width: int, height: int) -> CameraIntrinsics:
        """Intrinsics of the same camera resized to ``width`` x ``height`` pixels.

        Uses the pixel-centre convention: u' = (u + 0.5) * s - 0.5.
        """
        sx, sy = width / self.width, height / self.height
        return replace(
            self,
            width=width,
            height=height,
            fx=self.fx * sx,
            fy=self.fy * sy,
            cx=(self.cx + 0.5) * sx - 0.5,
            cy=(self.cy + 0.5) * sy - 0.5,
        )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> CameraIntrinsics:
        missing = {"width", "height", "fx", "fy", "cx", "cy"} - set(data)
        if missing:
            raise ValueError(f"camera intrinsics lack field(s) {sorted(missing)}")
        return cls(
            width=int(data["width"]),
            height=int(data["height"]),
            fx=float(data["fx"]),
            fy=float(data["fy"]),
            cx=float(data["cx"]),
            cy=float(data["cy"]),
            depth_scale=float(data.get("depth_scale", 0.001)),
            model=str(data.get("model", "pinhole")),
        )


# Factory calibrations vary per unit; these are typical values of the colour stream at 640x480
# (D435: 69.4 x 42.5 deg colour FOV -> fx ~ 615; SR300: ~ 619). Depth unit 1 mm on both.
PRESETS: dict[str, CameraIntrinsics] = {
    "d435": CameraIntrinsics(640, 480, 615.0, 615.0, 319.5, 239.5, 0.001, "d435"),
    "sr300": CameraIntrinsics(640, 480, 619.0, 619.0, 319.5, 239.5, 0.001, "sr300"),
}
# Working depth ranges (metres) used for validity checks and the simulator's noise model.
DEPTH_RANGE_M: dict[str, tuple[float, float]] = {"d435": (0.105, 10.0), "sr300": (0.2, 1.5)}


def preset(name: str, width: int = 640, height: int = 480) -> CameraIntrinsics:
    """Intrinsics of a RealSense model (``"d435"`` or ``"sr300"``) at the requested resolution.

    Modes with the preset's 4:3 aspect (320x240, a 256x192 network input) are the 640x480 image
    resized. Other aspects (848x480, 1280x720, 424x240) are how the driver delivers them: the
    colour sensor is 16:9 and 640x480 is its centre crop, so pixels stay square; focal lengths
    scale with the height and the principal point stays centred.
    """
    key = name.lower()
    if key not in PRESETS:
        raise ValueError(f"unknown camera preset {name!r}; known: {sorted(PRESETS)}")
    base = PRESETS[key]
    if (width, height) == (base.width, base.height):
        return base
    if width * base.height == height * base.width:
        return base.scaled(width, height)
    if width <= 0 or height <= 0:
        raise ValueError(f"camera size must be positive, got {width}x{height}")
    s = height / base.height
    return replace(
        base,
        width=width,
        height=height,
        fx=base.fx * s,
        fy=base.fy * s,
        cx=(base.cx + 0.5) * s - 0.5 + 0.5 * (width - base.width * s),
        cy=(base.cy + 0.5) * s - 0.5,
    )


def project(points: np.ndarray, cam: CameraIntrinsics) -> np.ndarray:
    """Project (..., 3) points in the optical frame (metres) to (..., 2) pixels (u, v).

    Raises ValueError for points at or behind the camera (z <= 0).
    """
    p = np.asarray(points, dtype=np.float64)
    if p.shape[-1] != 3:
        raise ValueError(f"points must have shape (..., 3), got {p.shape}")
    z = p[..., 2]
    if np.any(~(z > 0)):
        raise ValueError("cannot project points with z <= 0 (at or behind the camera) or NaN")
    u = cam.fx * p[..., 0] / z + cam.cx
    v = cam.fy * p[..., 1] / z + cam.cy
    return np.stack([u, v], axis=-1)


def deproject(pixels: np.ndarray, depth_m: np.ndarray | float, cam: CameraIntrinsics) -> np.ndarray:
    """Lift (..., 2) pixels with depth in metres (z along the optical axis) to (..., 3) points.

    Raises ValueError where depth is zero, negative or not finite ("no depth").
    """
    uv = np.asarray(pixels, dtype=np.float64)
    if uv.shape[-1] != 2:
        raise ValueError(f"pixels must have shape (..., 2), got {uv.shape}")
    z = np.broadcast_to(np.asarray(depth_m, dtype=np.float64), uv.shape[:-1])
    if np.any(~(z > 0)) or np.any(~np.isfinite(z)):
        raise ValueError(
            "cannot deproject pixels without valid depth (zero, negative or NaN depth)"
        )
    x = (uv[..., 0] - cam.cx) / cam.fx * z
    y = (uv[..., 1] - cam.cy) / cam.fy * z
    return np.stack([x, y, z], axis=-1)


def depth_to_metres(depth: np.ndarray, cam: CameraIntrinsics) -> np.ndarray:
    """uint16 depth in driver units -> float32 metres; 0 (no return) becomes NaN."""
    d = np.asarray(depth)
    if d.ndim != 2:
        raise ValueError(f"depth image must be 2-D (H, W), got shape {d.shape}")
    out = d.astype(np.float32) * np.float32(cam.depth_scale)
    out[d == 0] = np.nan
    return out


def depth_image_to_points(depth: np.ndarray, cam: CameraIntrinsics) -> np.ndarray:
    """Organised point cloud (H, W, 3) in metres from a driver depth image; NaN where depth is 0."""
    z = depth_to_metres(depth, cam)
    if z.shape != (cam.height, cam.width):
        raise ValueError(
            f"depth image is {z.shape[1]}x{z.shape[0]} but the camera is {cam.width}x{cam.height}"
        )
    v, u = np.mgrid[0 : cam.height, 0 : cam.width].astype(np.float32)
    x = (u - np.float32(cam.cx)) / np.float32(cam.fx) * z
    y = (v - np.float32(cam.cy)) / np.float32(cam.fy) * z
    return np.stack([x, y, z], axis=-1)
