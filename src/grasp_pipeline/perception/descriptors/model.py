"""Dense descriptor network: ResNet-34 features -> 1x1 conv to D ("identity layer") ->
bilinear upsampling (align_corners=True) to the input size; optional keypoint heads (spatial
probability and depth for N keypoints, paper Eqs. 2-4)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from grasp_pipeline.perception.descriptors.config import DescriptorNetConfig
from grasp_pipeline.perception.descriptors.resnet import ResNet34Backbone
from grasp_pipeline.perception.descriptors.spatial import (
    spatial_expectation,
    spatial_softmax,
    upsample_bilinear,
)
from grasp_pipeline.perception.onednn_guard import dense_input, guard


@dataclass
class DescriptorOutput:
    descriptors: torch.Tensor  # (B, D, H, W) dense descriptors at input resolution
    prob: torch.Tensor | None = None  # (B, N, H, W) keypoint spatial probabilities
    depth: torch.Tensor | None = None  # (B, N, H, W) keypoint depth maps, metres
    uvd: torch.Tensor | None = None  # (B, N, 3) expected (u px, v px, depth m)


class DescriptorNet(nn.Module):
    """Input (B, 3, H, W) RGB in [0, 1] (RGB/255)."""

    def __init__(self, config: DescriptorNetConfig):
        super().__init__()
        self.config = config
        self.backbone = ResNet34Backbone(config.base_width, config.blocks)
        self.identity = nn.Conv2d(self.backbone.out_channels, config.descriptor_dim, 1)
        if config.decoder == "skip":
            self.lateral = nn.Conv2d(2 * config.base_width, config.descriptor_dim, 1)
        if config.keypoint_heads:
            self.spatial_head = nn.Conv2d(config.descriptor_dim, config.num_keypoints, 1)
            self.depth_head = nn.Conv2d(config.descriptor_dim, config.num_keypoints, 1)
        guard(self)

    def forward(self, rgb: torch.Tensor, keypoints: bool | None = None) -> DescriptorOutput:
        if rgb.dim() != 4 or rgb.shape[1] != 3:
            raise ValueError(f"expected (B, 3, H, W) images, got {tuple(rgb.shape)}")
        h, w = rgb.shape[-2:]
        if self.config.decoder == "skip":
            stages = self.backbone.features(rgb)
            coarse = self.identity(stages[3])  # (B, D, H/16, W/16)
            fine = self.lateral(stages[1])  # (B, D, H/4, W/4)
            up4 = upsample_bilinear(coarse, fine.shape[-2:])
            feats = up4 + fine  # (B, D, H/4, W/4)
        else:
            feats = self.identity(self.backbone(rgb))  # (B, D, h, w)
        up = upsample_bilinear(feats, (h, w))  # (B, D, H, W)
        if self.config.normalize:
            up = F.normalize(up, dim=1)
        want = (
            self.config.keypoint_heads
            if keypoints is None
            else keypoints and self.config.keypoint_heads
        )
        if not want:
            return DescriptorOutput(up)
        logits = upsample_bilinear(self.spatial_head(feats), (h, w))
        depth = F.softplus(upsample_bilinear(self.depth_head(feats), (h, w)))
        prob = spatial_softmax(logits)  # (B, N, H, W)
        return DescriptorOutput(up, prob, depth, spatial_expectation(prob, depth))


def to_input(rgb_uint8, device: torch.device | str = "cpu") -> torch.Tensor:
    """(H, W, 3) or (B, H, W, 3) uint8 numpy RGB -> (B, 3, H, W) float in [0, 1]."""
    t = torch.as_tensor(rgb_uint8)
    if t.dim() == 3:
        t = t[None]
    if t.dim() != 4 or t.shape[-1] != 3:
        raise ValueError(f"expected (H, W, 3) or (B, H, W, 3) RGB images, got {tuple(t.shape)}")
    return dense_input(t.permute(0, 3, 1, 2).float().div(255.0).to(device))
