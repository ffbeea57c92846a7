"""Where to pick a part: a small network that finds the centre of gravity in a region's crop.

The mean of a region's 3-D points is the centre of what the camera sees, not of the part: a
screwdriver's steel shaft is thin and its handle thick, a drill's weight sits in its body, a
bolt's in its head, and the part's hidden rim, the side under a neighbour and the pixels the
depth loses are missing from the mean. Paper 000 scores a pickup point by its distance d (cm)
to the centre of gravity, 1 / (d^2 + 1), so a few millimetres matter. This network looks at
the classifier's crop of the region (:func:`~grasp_pipeline.perception.instances.crops.
region_crop`: colour, height above the support, the region's mask) and one more channel, a
Gaussian blob where the region's 3-D mean projects (the estimate it improves on), and gives a
heat map over the crop whose expectation (soft-argmax) is the centre of gravity. A network
trained with the classes (``PickupConfig.classes``) is also told what the classifier named the
region: one learned scale and shift per class and channel of its half-resolution features, so
that a part's own offset between what is seen and its centre of gravity (an Axis2's steel body
holds 70 % of its mass at one end) need not be guessed from the crop alone.

Crop coordinates: (0, 0) is the top-left corner of the crop window, (1, 1) its bottom-right
corner, so a pixel centre u lies at (u - u0 + 0.5) / side; a mirrored crop mirrors them
(t -> 1 - t), which the training augmentation relies on.

The network ships inside the parts classifier's checkpoint as its ``"pickup"`` entry
(``model``: state dict, ``config``: :class:`PickupConfig`, ``validation``: its figures); a
classifier without it picks at the 3-D mean.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from grasp_pipeline.perception.instances.crops import CHANNELS
from grasp_pipeline.perception.instances.layers import (
    conv_bn_relu,
    fold_batch_norms,
    network_from_entry,
)
from grasp_pipeline.perception.network_runtime import NetworkRunner

INPUT_CHANNELS = CHANNELS + 1
PRIOR_SIGMA = 2.0  # crop pixels: the blob at the 3-D mean's projection


@dataclass(frozen=True)
class PickupConfig:
    """``width``: channels at the half-resolution stage (the quarter-resolution stage has 1.5x
    as many, each with dilations 1, 2, 4, 8 so that it sees the whole crop); ``classes``: the
    classifier's class count when the network is told each region's class (0: it is not)."""

    width: int = 32
    classes: int = 0

    def __post_init__(self) -> None:
        if self.width < 8 or self.classes < 0:
            raise ValueError(f"bad pickup config {self}")

    def to_dict(self) -> dict:
        return {"width": self.width, "classes": self.classes}


class PickupNet(nn.Module):
    """(B, INPUT_CHANNELS, S, S) [and (B,) class indices] -> (B, 2) centre of gravity in crop
    coordinates: a half- and a quarter-resolution stage, the quarter one upsampled onto the half
    one, a 1-channel heat map at half resolution and its soft-argmax. With classes, the
    half-resolution features are scaled and shifted per class (starting near the identity:
    small random values, so that classes differ from the first step)."""

    def __init__(self, config: PickupConfig = PickupConfig()) -> None:
        super().__init__()
        self.config = config
        w, q = config.width, (3 * config.width) // 2
        self.fine = nn.Sequential(
            conv_bn_relu(INPUT_CHANNELS, (3 * w) // 4, 2), conv_bn_relu((3 * w) // 4, w)
        )
        self.coarse = nn.Sequential(
            conv_bn_relu(w, q, 2),
            conv_bn_relu(q, q, dilation=2),
            conv_bn_relu(q, q, dilation=4),
            conv_bn_relu(q, q, dilation=8),
        )
        self.head = nn.Sequential(conv_bn_relu(w + q, (3 * w) // 4), nn.Conv2d((3 * w) // 4, 1, 1))
        self.film = nn.Embedding(config.classes, 2 * w) if config.classes else None
        if self.film is not None:
            nn.init.normal_(self.film.weight, std=0.1)

    @property
    def by_class(self) -> bool:
        """Whether the network is told each region's class."""
        return self.film is not None

    def heatmap(self, x: torch.Tensor, classes: torch.Tensor | None = None) -> torch.Tensor:
        """(B, S/2, S/2) logits."""
        a = self.fine(x)
        if self.film is not None:
            if classes is None or classes.shape != (len(x),):
                got = None if classes is None else tuple(classes.shape)
                raise ValueError(f"this pickup network needs ({len(x)},) class indices, got {got}")
            if len(classes) and (
                int(classes.min()) < 0 or int(classes.max()) >= len(self.film.weight)
            ):
                raise ValueError(
                    f"class indices must lie in 0..{len(self.film.weight) - 1}, got "
                    f"{int(classes.min())}..{int(classes.max())}"
                )
            scale, shift = self.film(classes).chunk(2, dim=1)
            a = a * (1.0 + scale[:, :, None, None]) + shift[:, :, None, None]
        b = nn.functional.interpolate(
            self.coarse(a), size=a.shape[-2:], mode="bilinear", align_corners=False
        )
        return self.head(torch.cat([a, b], dim=1))[:, 0]

    def forward(self, x: torch.Tensor, classes: torch.Tensor | None = None) -> torch.Tensor:
        h = self.heatmap(x, classes)
        b, m, n = h.shape
        p = torch.softmax(h.reshape(b, m * n), dim=1).reshape(b, m, n)
        gu = (torch.arange(n, dtype=p.dtype, device=p.device) + 0.5) / n
        gv = (torch.arange(m, dtype=p.dtype, device=p.device) + 0.5) / m
        return torch.stack([(p.sum(dim=1) * gu).sum(dim=1), (p.sum(dim=2) * gv).sum(dim=1)], 1)

    def folded(self) -> PickupNet:
        """This network in eval mode with each batch norm folded into its convolution (the same
        outputs up to rounding; faster on a CPU). Not for training."""
        fold_batch_norms(self)
        return self


def pickup_input(crops: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """The network's input (B, INPUT_CHANNELS, S, S) float32: the classifier's crops
    (B, CHANNELS, S, S) and a Gaussian blob (``PRIOR_SIGMA`` crop pixels) at ``prior`` (B, 2),
    the region's 3-D mean in crop coordinates."""
    crops = np.asarray(crops, np.float32)
    prior = np.asarray(prior, np.float32).reshape(-1, 2)
    if crops.ndim != 4 or crops.shape[1] != CHANNELS or len(prior) != len(crops):
        raise ValueError(
            f"pickup input: crops {crops.shape} must be (B, {CHANNELS}, S, S) with one prior "
            f"(B, 2) each, got {prior.shape}"
        )
    s = crops.shape[-1]
    g = np.arange(s, dtype=np.float32) + 0.5
    pu, pv = prior[:, 0:1] * s, prior[:, 1:2] * s
    bu = np.exp(-((g[None] - pu) ** 2) / (2 * PRIOR_SIGMA**2))
    bv = np.exp(-((g[None] - pv) ** 2) / (2 * PRIOR_SIGMA**2))
    out = np.empty((len(crops), INPUT_CHANNELS, s, s), np.float32)
    out[:, :CHANNELS] = crops
    out[:, CHANNELS] = bv[:, :, None] * bu[:, None, :]
    return out


def to_crop(uv: np.ndarray, window: tuple[int, int, int]) -> np.ndarray:
    """Image pixels (..., 2) -> crop coordinates of the window (u0, v0, side)."""
    u0, v0, side = window
    return (np.asarray(uv, float) - (u0, v0) + 0.5) / side


def to_image(t: np.ndarray, window: tuple[int, int, int]) -> np.ndarray:
    """Crop coordinates (..., 2) of the window (u0, v0, side) -> image pixels."""
    u0, v0, side = window
    return np.asarray(t, float) * side + (u0, v0) - 0.5


class PickupLocator:
    """A trained :class:`PickupNet` (batch norms folded, channels-last), run by ``runtime``
    (:mod:`~grasp_pipeline.perception.network_runtime`)."""

    def __init__(self, net: PickupNet, device: str = "cpu", runtime: str = "auto") -> None:
        # channels-last weights and input: 1.7x faster on this CPU for 10 crops
        self.net = net.to(device).folded().to(memory_format=torch.channels_last)
        self.run = NetworkRunner(self.net, runtime, device)

    def prepare(self, size: int) -> None:
        """Makes the runtime's graph for crops of ``size`` x ``size`` now (at load time)."""
        classes = (np.zeros(1, np.int64),) if self.by_class else ()
        self.run.prepare(np.zeros((1, INPUT_CHANNELS, size, size), np.float32), *classes)

    @property
    def by_class(self) -> bool:
        """Whether the network is told each region's class."""
        return self.net.by_class

    def locate(
        self, crops: np.ndarray, prior: np.ndarray, classes: np.ndarray | None = None
    ) -> np.ndarray:
        """(B, 2) centres of gravity in crop coordinates of ``crops`` (B, CHANNELS, S, S) whose
        regions' 3-D means lie at ``prior`` (B, 2, crop coordinates); ``classes`` (B,): the
        classifier's class index of each region (ignored by a network trained without)."""
        if len(crops) == 0:
            return np.zeros((0, 2))
        x = pickup_input(crops, prior)
        if not self.by_class:
            return self.run(x).astype(float)
        if classes is None:
            raise ValueError("this pickup network needs the class index of each region")
        c = np.asarray(classes, np.int64).reshape(-1)
        n = self.net.config.classes
        if len(c) != len(x):
            raise ValueError(f"this pickup network needs {len(x)} class indices, got {len(c)}")
        if c.min() < 0 or c.max() >= n:  # checked here: an exported graph would not check them
            raise ValueError(f"class indices must lie in 0..{n - 1}, got {c.min()}..{c.max()}")
        return self.run(x, c).astype(float)


def locator_from_entry(
    entry: Any, path: str | os.PathLike, device: str = "cpu", runtime: str = "auto"
) -> PickupLocator:
    """The locator of a checkpoint's ``"pickup"`` entry, run by ``runtime``; CheckpointError
    naming ``path`` when the entry is malformed or its weights do not fit its config."""
    net = network_from_entry(
        entry, path, "pickup", lambda config: PickupNet(PickupConfig(**config))
    )
    return PickupLocator(net, device, runtime)
