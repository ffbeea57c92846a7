"""Windows of an image: a crop around a centre, resized and optionally turned, and the camera
that sees it.

A window of ``size`` (width, height) pixels maps an image pixel u to
u' = scale * R(-angle) (u - centre) + ((width - 1) / 2, (height - 1) / 2): the centre lands
in the window's middle and the direction ``angle`` (radians, image axes: u right, v down)
along +u'. Turning the image about a point is what a camera turned about its optical axis
sees, with its principal point moved, so a window has exact intrinsics and a rotation of the
camera frame (:func:`window_turn`): X_window = window_turn(angle) X_camera (exact for square
pixels, fx == fy, as the RealSense presets; otherwise off by |fx - fy| / fx of the distance
from the centre).

``canonical_frame`` gives a mask its own centre and direction (the centroid and major axis of
its pixels, pointing to the side with the longer tail by the third moment): windows cut there
show a part the same way up whatever its yaw on the table (what SIFT does for a patch with its
dominant gradient direction).
"""

from __future__ import annotations

import numpy as np

from grasp_pipeline.geometry.camera import CameraIntrinsics


def canonical_frame(mask: np.ndarray) -> tuple[tuple[float, float], float]:
    """A mask's own frame: the centroid (u, v) of its pixels and the direction (radians, image
    axes) of their major axis, signed so that the third moment of the pixels along it is
    positive (it points to the side with the longer tail). Angle 0 for a round mask; an empty
    mask raises ValueError."""
    vs, us = np.nonzero(mask)
    if len(us) == 0:
        raise ValueError("the mask is empty")
    q = np.stack([us, vs], 1).astype(np.float64)
    centre = q.mean(0)
    q -= centre
    evals, evecs = np.linalg.eigh(q.T @ q / len(q))
    if len(us) < 3 or evals[1] <= 1e-9:
        return (float(centre[0]), float(centre[1])), 0.0
    axis = evecs[:, 1]
    if np.mean((q @ axis) ** 3) < 0:
        axis = -axis
    return (float(centre[0]), float(centre[1])), float(np.arctan2(axis[1], axis[0]))


def window_frame(mask: np.ndarray, canonical: bool) -> tuple[tuple[float, float], float]:
    """Where a window of the part with pixels ``mask`` is cut: with ``canonical`` the mask's own
    frame (:func:`canonical_frame`), else the centre of its bounding box and no turn. An empty
    mask raises ValueError."""
    if canonical:
        return canonical_frame(mask)
    vs, us = np.nonzero(mask)
    if len(us) == 0:
        raise ValueError("the mask is empty")
    return ((us.min() + us.max()) / 2, (vs.min() + vs.max()) / 2), 0.0


def window_affine(
    centre_uv: tuple[float, float], scale: float, size: tuple[int, int], angle: float = 0.0
) -> np.ndarray:
    """(2, 3) affine map image pixels -> window pixels (module doc)."""
    w, h = size
    c, s = np.cos(angle), np.sin(angle)
    A = scale * np.array([[c, s], [-s, c]])  # scale * R(-angle)
    t = np.array([(w - 1) / 2, (h - 1) / 2]) - A @ np.asarray(centre_uv, float)
    return np.concatenate([A, t[:, None]], 1)


def window_rgb(rgb: np.ndarray, M: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The colour window of ``rgb`` under the window map ``M`` (2, 3): area-averaged when it
    shrinks the image, bilinear otherwise, the border mirrored (no black frame to learn)."""
    import cv2

    scale = float(np.sqrt(abs(np.linalg.det(M[:, :2]))))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    dsize = (int(size[0]), int(size[1]))
    return cv2.warpAffine(rgb, M, dsize, flags=interp, borderMode=cv2.BORDER_REFLECT)


def to_image(M: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """(N, 2) window pixels -> image pixels, inverting the window map ``M`` (2, 3)."""
    A, t = M[:, :2], M[:, 2]
    return (np.asarray(uv, float) - t) @ np.linalg.inv(A).T


def window_turn(angle: float) -> np.ndarray:
    """(3, 3) rotation of camera-frame points into the frame of a window cut at ``angle``."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])


def window_camera(
    camera: CameraIntrinsics,
    centre_uv: tuple[float, float],
    scale: float,
    size: tuple[int, int],
    angle: float = 0.0,
) -> CameraIntrinsics:
    """Intrinsics of the window (module doc); its frame is turned by :func:`window_turn`."""
    M = window_affine(centre_uv, scale, size, angle)
    cx, cy = M[:, :2] @ np.array([camera.cx, camera.cy]) + M[:, 2]
    return CameraIntrinsics(
        int(size[0]),
        int(size[1]),
        float(camera.fx * scale),
        float(camera.fy * scale),
        float(cx),
        float(cy),
        camera.depth_scale,
        camera.model,
    )
