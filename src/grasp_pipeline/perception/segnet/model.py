"""Hourglass fully-convolutional RGB-D network with a classification vector at its waist."""

from __future__ import annotations

import torch
from torch import nn

from grasp_pipeline.perception.onednn_guard import guard
from grasp_pipeline.perception.segnet.config import SegNetConfig


def _conv(cin: int, cout: int, stride: int, dropout: float, norm: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=not norm)]
    if norm:
        layers.append(nn.BatchNorm2d(cout))
    layers.append(nn.ReLU())
    if dropout > 0:
        # Channel dropout keeps spatially correlated feature maps from co-adapting.
        layers.append(nn.Dropout2d(dropout))
    return nn.Sequential(*layers)


# The offset head's raw output is in units of 8 output pixels: targets of tens of pixels then
# need no large weights.
OFFSET_UNIT_PX = 8.0


class SegNet(nn.Module):
    """Encoder of strided 3x3 convolutions, decoder of transposed convolutions with skip additions.

    Input ``(B, 4, H, W)``: RGB in [0, 1] and depth in [0, 1]. ``forward`` returns
    ``(logits (B, C, H, W), class_logits (B, C))``: one activation map per class (apply sigmoid for
    activations in [0, 1]) and the innermost layer's global max, the classification vector.
    """

    def __init__(self, config: SegNetConfig) -> None:
        super().__init__()
        self.config = config
        f = config.filters
        n = len(f)
        enc = []
        for i in range(n):
            cin = config.in_channels if i == 0 else f[i - 1]
            drop = config.dropout if i == n - 1 else 0.0  # encoder layer n is "layer 6"
            enc.append(_conv(cin, f[i], 1 if i == 0 else 2, drop, config.batch_norm))
        self.encoder = nn.ModuleList(enc)
        # Innermost layer ("layer 7"): one channel per class, doubling as classification vector.
        # No normalisation here: it would equalise the per-class maxima the classification
        # vector is read from.
        self.waist = _conv(f[-1], config.num_classes, 1, config.dropout)
        ups = []
        cin = config.num_classes
        for i in range(n - 1, 0, -1):
            norm = config.batch_norm
            up: list[nn.Module] = [
                nn.ConvTranspose2d(cin, f[i - 1], 4, 2, padding=1, bias=not norm)
            ]
            if norm:
                up.append(nn.BatchNorm2d(f[i - 1]))
            ups.append(nn.Sequential(*up, nn.ReLU()))
            cin = f[i - 1]
        self.decoder = nn.ModuleList(ups)
        self.waist_skip = nn.Conv2d(f[-1], config.num_classes, 1)
        self.head = nn.Conv2d(f[0], config.num_classes, 3, padding=1)
        self.offset = nn.Conv2d(f[0], 2, 3, padding=1) if config.offset_head else None
        # Start the output maps mostly "off" so early soft IoU is not dominated by background.
        nn.init.constant_(self.head.bias, -2.0)
        guard(self)

    def _check(self, x: torch.Tensor) -> None:
        cfg = self.config
        if x.ndim != 4 or x.shape[1] != cfg.in_channels:
            raise ValueError(f"expected input (B, {cfg.in_channels}, H, W), got {tuple(x.shape)}")
        if x.shape[-2:] != (cfg.height, cfg.width):
            raise ValueError(
                f"expected input {cfg.height}x{cfg.width} (HxW), got {tuple(x.shape[-2:])}"
            )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, class_logits, _ = self.forward_all(x)
        return logits, class_logits

    def forward_all(
        self, x: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``forward`` plus the centre-of-mass offsets (B, 2, H, W) in output pixels, or None
        when the network has no offset head."""
        if not torch.jit.is_tracing():  # the ONNX export traces with a fixed shape
            self._check(x)
        skips = []
        h = x
        for layer in self.encoder:
            h = layer(h)  # (B, f_i, H / 2^i, W / 2^i)
            skips.append(h)
        pre = self.waist[0](h)  # (B, C, H / 2^(n-1), W / 2^(n-1)), before the ReLU
        # The classification vector is read before the ReLU: a class whose waist units all went
        # negative still gets a gradient (read after it, dead units would freeze the vector).
        class_logits = pre.amax(dim=(2, 3))  # (B, C)
        waist = self.waist[1:](pre)  # ReLU (+ dropout)
        h = waist + self.waist_skip(skips[-1])
        for up, skip in zip(self.decoder, reversed(skips[:-1]), strict=True):
            h = up(h) + skip  # (B, f_i, 2x, 2x)
        offsets = None if self.offset is None else OFFSET_UNIT_PX * self.offset(h)  # (B, 2, H, W)
        return self.head(h), class_logits, offsets  # (B, C, H, W), (B, C)


def parameter_count(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
