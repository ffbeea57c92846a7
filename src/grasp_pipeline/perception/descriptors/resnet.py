"""ResNet-34 backbone written here (no torchvision, no pretrained weights).

BasicBlock x [3, 4, 6, 3]; the stem's max-pool is removed, so the output stride is 16
(stem conv /2, then layers 2-4 each /2). Global pooling and the classifier are not built.
"""

from __future__ import annotations

import torch
from torch import nn


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with an identity (or 1x1 projection) shortcut."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_ch != out_ch:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm2d(out_ch)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + self.shortcut(x))


class ResNet34Backbone(nn.Module):
    """(B, 3, H, W) -> (B, 8 * base_width, ceil(H/16), ceil(W/16))."""

    def __init__(self, base_width: int = 64, blocks: tuple[int, ...] = (3, 4, 6, 3)):
        super().__init__()
        w = base_width
        self.stem = nn.Sequential(
            nn.Conv2d(3, w, 7, 2, 3, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)
        )
        layers, in_ch = [], w
        for i, n in enumerate(blocks):
            out_ch = w * 2**i
            stride = 1 if i == 0 else 2
            layers.append(
                nn.Sequential(
                    *[
                        BasicBlock(in_ch if j == 0 else out_ch, out_ch, stride if j == 0 else 1)
                        for j in range(n)
                    ]
                )
            )
            in_ch = out_ch
        self.layers = nn.Sequential(*layers)
        self.out_channels = in_ch
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(self.stem(x))

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Outputs of the four stages: strides 2, 4, 8, 16 (channels w, 2w, 4w, 8w)."""
        out, y = [], self.stem(x)
        for layer in self.layers:
            y = layer(y)
            out.append(y)
        return out
