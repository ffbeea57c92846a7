"""The final's video: side by side, the simulator's third-person view of the cell and the cell
camera's colour image with the detections drawn, with a caption; written as an animated GIF.

Frames are composed as they come (small: each view ``half`` pixels) and thinned evenly at
writing time so the file stays short.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

TARGET = (40, 220, 40)  # the object the pick asks for
DECOY = (230, 50, 40)  # decoys: objects no pick asks for
OTHER = (240, 200, 40)  # task objects of later picks


def draw_detections(
    rgb: np.ndarray,
    detections: Iterable,
    size: tuple[int, int],
    target: str = "",
    decoys: Iterable[str] = (),
) -> np.ndarray:
    """``rgb`` (H, W, 3) resized to ``size`` (width, height) with each detection's pixel marked
    (a circle, the label beside it): the target green, decoys red, the rest yellow."""
    import cv2

    w, h = size
    sx, sy = w / rgb.shape[1], h / rgb.shape[0]
    img = cv2.resize(np.ascontiguousarray(rgb), (w, h), interpolation=cv2.INTER_AREA)
    # the simulated sensor noise costs a GIF most of its bytes and shows nothing: smooth it
    img = cv2.bilateralFilter(img, 5, 30, 5)
    decoy_set = set(decoys)
    for d in detections:
        u, v = round(d.pixel[0] * sx), round(d.pixel[1] * sy)
        colour = TARGET if d.label == target else DECOY if d.label in decoy_set else OTHER
        cv2.circle(img, (u, v), 5, colour, 2)
        cv2.putText(img, d.label, (u + 6, v - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.33, (0, 0, 0), 2)
        cv2.putText(img, d.label, (u + 6, v - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.33, colour, 1)
    return img


def side_by_side(overview: np.ndarray, camera: np.ndarray, caption: str = "") -> np.ndarray:
    """(H, W1 + W2, 3) uint8: ``overview`` left, ``camera`` right (same height; the camera image
    is resized to it), ``caption`` in a black band at the bottom."""
    import cv2

    h = overview.shape[0]
    if camera.shape[0] != h:
        w = round(camera.shape[1] * h / camera.shape[0])
        camera = cv2.resize(camera, (w, h), interpolation=cv2.INTER_AREA)
    frame = np.concatenate([overview, camera], axis=1).astype(np.uint8)
    if caption:
        cv2.rectangle(frame, (0, h - 16), (frame.shape[1], h), (0, 0, 0), -1)
        cv2.putText(
            frame, caption[:110], (4, h - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (255, 255, 255), 1
        )
    return frame


def thin(frames: Sequence, max_frames: int) -> list:
    """At most ``max_frames`` of ``frames``, evenly spaced, the first and last kept."""
    if len(frames) <= max_frames:
        return list(frames)
    idx = np.unique(np.round(np.linspace(0, len(frames) - 1, max_frames)).astype(int))
    return [frames[i] for i in idx]


def write_gif(
    frames: Sequence[np.ndarray],
    path: Path,
    frame_ms: int = 150,
    max_frames: int = 200,
    max_bytes: int = 4_800_000,
) -> int:
    """Write ``frames`` ((H, W, 3) uint8, all one size) as a looping GIF of one 96-colour palette,
    thinned to ``max_frames`` and further (halving) until it fits in ``max_bytes``; each frame is
    shown ``frame_ms`` ms stretched by the thinning factor so the video keeps its pace (up to
    400 ms). Returns the file size in bytes. ValueError without frames."""
    import io

    from PIL import Image

    if not frames:
        raise ValueError("no video frames to write")
    step = max(1, len(frames) // 12)
    sample = np.concatenate(list(frames[::step]), axis=0)
    palette = Image.fromarray(sample).quantize(
        colors=96, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
    )
    n = max_frames
    while True:
        kept = thin(frames, n)
        ms = min(400, round(frame_ms * len(frames) / len(kept)))
        images = [
            Image.fromarray(f).quantize(palette=palette, dither=Image.Dither.NONE) for f in kept
        ]
        buf = io.BytesIO()
        images[0].save(
            buf,
            format="GIF",
            save_all=True,
            append_images=images[1:],
            duration=ms,
            loop=0,
            optimize=True,
        )
        if buf.tell() <= max_bytes or n <= 8:
            break
        n //= 2
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    return path.stat().st_size
