"""ROS message payloads (image buffers, camera_info fields) <-> numpy, with no ROS import.

Shared by the rclpy message converters (:mod:`grasp_pipeline.ros.conversions`) and the rosbag
reader, whose messages are rosbags' own classes with the same field names.

Encodings: ``rgb8``, ``bgr8``, ``mono8``, ``16UC1`` (depth in millimetres), ``32FC1`` (metres).
"""

from __future__ import annotations

import numpy as np

from grasp_pipeline.geometry.camera import CameraIntrinsics

# encoding -> (numpy dtype, channels)
ENCODINGS: dict[str, tuple[np.dtype, int]] = {
    "rgb8": (np.dtype(np.uint8), 3),
    "bgr8": (np.dtype(np.uint8), 3),
    "mono8": (np.dtype(np.uint8), 1),
    "16UC1": (np.dtype(np.uint16), 1),
    "32FC1": (np.dtype(np.float32), 1),
}
ALIASES = {"8UC1": "mono8", "8UC3": "bgr8", "mono16": "16UC1"}


def canonical_encoding(encoding: str) -> str:
    """The supported name of ``encoding``; ValueError naming it when unsupported."""
    enc = ALIASES.get(encoding, encoding)
    if enc not in ENCODINGS:
        raise ValueError(f"unsupported image encoding {encoding!r}; supported: {sorted(ENCODINGS)}")
    return enc


def decode_image(
    height: int, width: int, encoding: str, step: int, is_bigendian: bool, data
) -> np.ndarray:
    """Array of a raw image buffer: (H, W, 3) colour or (H, W) mono/depth, native byte order.

    ``data`` is anything exposing the buffer protocol (array('B'), bytes, uint8 ndarray).
    Padding after each row (``step`` > width * bytes per pixel) is dropped. Raises ValueError
    naming the inconsistent field (encoding, width/height, step, data size).
    """
    enc = canonical_encoding(encoding)
    dtype, channels = ENCODINGS[enc]
    h, w, step = int(height), int(width), int(step)
    if h <= 0 or w <= 0:
        raise ValueError(f"image width/height must be positive, got {w}x{h}")
    row = w * channels * dtype.itemsize
    if step < row:
        raise ValueError(f"image step {step} is smaller than width*bytes per pixel = {row}")
    if step % dtype.itemsize:
        raise ValueError(f"image step {step} is not a multiple of the {enc} element size")
    buf = np.frombuffer(data, dtype=np.uint8)
    if buf.size != step * h:
        raise ValueError(f"image data size {buf.size} != step*height = {step}*{h} = {step * h}")
    rows = buf.reshape(h, step)[:, :row]
    out = np.ascontiguousarray(rows).view(dtype.newbyteorder(">" if is_bigendian else "<"))
    out = out.astype(dtype, copy=False)  # to native order (no-op when it already is)
    return out.reshape(h, w, channels) if channels > 1 else out.reshape(h, w)


def encode_image(array: np.ndarray, encoding: str) -> tuple[int, int, int, bytes]:
    """(height, width, step, bytes) of an array in ``encoding``, dense rows, native byte order.

    Raises ValueError when the array's shape or dtype does not fit the encoding.
    """
    enc = canonical_encoding(encoding)
    dtype, channels = ENCODINGS[enc]
    a = np.asarray(array)
    want = (channels,) if channels > 1 else ()
    if a.ndim != 2 + len(want) or a.shape[2:] != want:
        raise ValueError(
            f"{enc} needs an array of shape (H, W{', 3' if channels == 3 else ''}), got {a.shape}"
        )
    if a.dtype != dtype:
        raise ValueError(f"{enc} needs dtype {dtype}, got {a.dtype}")
    a = np.ascontiguousarray(a)
    return (
        int(a.shape[0]),
        int(a.shape[1]),
        int(a.shape[1] * channels * dtype.itemsize),
        a.tobytes(),
    )


def to_rgb(array: np.ndarray, encoding: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB from a decoded rgb8 / bgr8 / mono8 array."""
    enc = canonical_encoding(encoding)
    if enc == "bgr8":
        return np.ascontiguousarray(array[..., ::-1])
    if enc == "mono8":
        return np.repeat(array[..., None], 3, axis=2)
    if enc != "rgb8":
        raise ValueError(f"colour image must be rgb8, bgr8 or mono8, got {encoding!r}")
    return array


def to_depth_units(array: np.ndarray, encoding: str, depth_scale: float = 0.001) -> np.ndarray:
    """(H, W) uint16 depth in ``depth_scale`` metre units from decoded 16UC1 (mm) / 32FC1 (m).

    32FC1 NaN / inf / non-positive values become 0 ("no depth").
    """
    enc = canonical_encoding(encoding)
    if enc == "16UC1":
        if abs(depth_scale - 0.001) < 1e-12:
            return array
        metres = array.astype(np.float64) * 0.001
        metres[array == 0] = np.nan
    elif enc == "32FC1":
        metres = array.astype(np.float64)
    else:
        raise ValueError(f"depth image must be 16UC1 or 32FC1, got {encoding!r}")
    units = np.where(np.isfinite(metres) & (metres > 0), metres / depth_scale, 0.0)
    return np.clip(np.rint(units), 0, 65535).astype(np.uint16)


def intrinsics_from_camera_info(
    msg, depth_scale: float = 0.001, model: str = "pinhole"
) -> CameraIntrinsics:
    """CameraIntrinsics from any object with CameraInfo's ``width``, ``height``, ``k``, ``d``.

    The image is assumed rectified. Raises ValueError for an empty/zero K, a non-positive size
    or non-zero distortion, which this pinhole model cannot represent.
    """
    k = np.asarray(msg.k, dtype=np.float64).reshape(-1)
    if k.shape != (9,) or not np.all(np.isfinite(k)) or k[0] <= 0 or k[4] <= 0:
        raise ValueError(f"camera_info K is not a valid camera matrix: {k.tolist()}")
    if msg.width <= 0 or msg.height <= 0:
        raise ValueError(f"camera_info width/height must be positive, got {msg.width}x{msg.height}")
    d = np.asarray(msg.d, dtype=np.float64)
    if d.size and np.any(np.abs(d) > 1e-9):
        raise ValueError(
            f"camera_info has distortion D={d.tolist()}; rectify the image first "
            "(the pipeline expects a distortion-free pinhole model)"
        )
    return CameraIntrinsics(
        width=int(msg.width),
        height=int(msg.height),
        fx=float(k[0]),
        fy=float(k[4]),
        cx=float(k[2]),
        cy=float(k[5]),
        depth_scale=depth_scale,
        model=model,
    )
