"""Background randomisation for synthetic descriptor pairs.

Procedural backgrounds (smoothed noise, gradients, stripes, checkerboards, blobs) are generated
on the fly; other rendered scenes can be supplied as a :class:`BackgroundBank`. Nothing is
downloaded. All images are (H, W, 3) uint8 RGB.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

KINDS = ("noise", "gradient", "stripes", "checkerboard", "blobs")


def _colour(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0, 255, size=3)


def _noise(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    # Smooth at a random scale so the texture ranges from fine grain to soft clouds.
    cells = int(rng.integers(2, max(3, min(h, w) // 2)))
    small = rng.uniform(0, 255, size=(max(2, h // cells + 2), max(2, w // cells + 2), 3))
    return cv2.resize(small.astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)


def _gradient(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    angle = rng.uniform(0, 2 * np.pi)
    v, u = np.mgrid[0:h, 0:w].astype(np.float32)
    t = np.cos(angle) * u / w + np.sin(angle) * v / h
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    a, b = _colour(rng), _colour(rng)
    return a[None, None] * (1 - t[..., None]) + b[None, None] * t[..., None]


def _stripes(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    angle = rng.uniform(0, np.pi)
    period = rng.uniform(4, max(6, min(h, w) / 3))
    v, u = np.mgrid[0:h, 0:w].astype(np.float32)
    phase = (np.cos(angle) * u + np.sin(angle) * v) / period
    on = (np.floor(phase) % 2).astype(np.float32)[..., None]
    a, b = _colour(rng), _colour(rng)
    return a * on + b * (1 - on)


def _checkerboard(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    angle = rng.uniform(0, np.pi / 2)
    cell = rng.uniform(4, max(6, min(h, w) / 4))
    v, u = np.mgrid[0:h, 0:w].astype(np.float32)
    x = (np.cos(angle) * u + np.sin(angle) * v) / cell
    y = (-np.sin(angle) * u + np.cos(angle) * v) / cell
    on = ((np.floor(x) + np.floor(y)) % 2).astype(np.float32)[..., None]
    a, b = _colour(rng), _colour(rng)
    return a * on + b * (1 - on)


def _blobs(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    img = np.broadcast_to(_colour(rng), (h, w, 3)).astype(np.float32).copy()
    for _ in range(int(rng.integers(3, 12))):
        centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        axes = (int(rng.integers(2, max(3, w // 3))), int(rng.integers(2, max(3, h // 3))))
        cv2.ellipse(
            img, centre, axes, float(rng.uniform(0, 180)), 0, 360, _colour(rng).tolist(), -1
        )
    return img


_MAKERS = {
    "noise": _noise,
    "gradient": _gradient,
    "stripes": _stripes,
    "checkerboard": _checkerboard,
    "blobs": _blobs,
}


def procedural_background(
    rng: np.random.Generator, height: int, width: int, kind: str | None = None
) -> np.ndarray:
    """A random procedural background (H, W, 3) uint8; ``kind`` in :data:`KINDS` or None (random)."""
    if height <= 0 or width <= 0:
        raise ValueError(f"background size must be positive, got {width}x{height}")
    if kind is None:
        kind = KINDS[int(rng.integers(len(KINDS)))]
    if kind not in _MAKERS:
        raise ValueError(f"unknown background kind {kind!r}; known: {list(KINDS)}")
    img = _MAKERS[kind](rng, height, width)
    img = img + rng.normal(0, rng.uniform(0, 8), size=img.shape)  # sensor-like grain
    return np.clip(img, 0, 255).astype(np.uint8)


class BackgroundBank:
    """Backgrounds drawn from other images (e.g. rendered scenes), randomly cropped and resized.

    With ``procedural_fraction`` > 0 a procedural background is drawn instead with that probability.
    """

    def __init__(self, images: Sequence[np.ndarray] = (), procedural_fraction: float = 1.0):
        for i, img in enumerate(images):
            if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
                raise ValueError(
                    f"background image {i} must be (H, W, 3) uint8, got {img.shape} {img.dtype}"
                )
        if not 0.0 <= procedural_fraction <= 1.0:
            raise ValueError(f"procedural_fraction must be in [0, 1], got {procedural_fraction}")
        if not images and procedural_fraction < 1.0:
            raise ValueError("procedural_fraction < 1 needs at least one background image")
        self.images = list(images)
        self.procedural_fraction = procedural_fraction

    def sample(self, rng: np.random.Generator, height: int, width: int) -> np.ndarray:
        """One (H, W, 3) uint8 background."""
        if not self.images or rng.random() < self.procedural_fraction:
            return procedural_background(rng, height, width)
        img = self.images[int(rng.integers(len(self.images)))]
        ih, iw = img.shape[:2]
        frac = rng.uniform(0.5, 1.0)
        ch, cw = max(2, int(ih * frac)), max(2, int(iw * frac))
        y0, x0 = int(rng.integers(0, ih - ch + 1)), int(rng.integers(0, iw - cw + 1))
        crop = img[y0 : y0 + ch, x0 : x0 + cw]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        return cv2.resize(np.ascontiguousarray(crop), (width, height), interpolation=cv2.INTER_AREA)
