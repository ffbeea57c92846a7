"""The crop classifier: a small CNN over RGB-D crops plus the crop's metric size features."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from grasp_pipeline.perception.instances.crops import CHANNELS, FEATURES


@dataclass(frozen=True)
class ClassifierConfig:
    """``num_classes`` includes the last class, "unknown"; ``width``: channels of the first
    stage (doubled twice); ``size``: crop side the network was built for."""

    num_classes: int
    width: int = 32
    size: int = 64

    def __post_init__(self) -> None:
        if self.num_classes < 2 or self.width < 8 or self.size < 16:
            raise ValueError(f"bad classifier config {self}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ClassifierConfig:
        return cls(**d)


def _stage(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class CropClassifier(nn.Module):
    """(B, CHANNELS, S, S) crops + (B, FEATURES) size features -> (B, num_classes) logits."""

    def __init__(self, config: ClassifierConfig) -> None:
        super().__init__()
        from grasp_pipeline.perception.onednn_guard import guard

        self.config = config
        w = config.width
        self.body = nn.Sequential(
            _stage(CHANNELS, w), _stage(w, 2 * w), _stage(2 * w, 4 * w), _stage(4 * w, 4 * w)
        )
        self.features = nn.Sequential(nn.Linear(FEATURES, 32), nn.ReLU(inplace=True))
        self.head = nn.Sequential(
            nn.Linear(4 * w + 32, 128),
            nn.ReLU(inplace=True),
            nn.Dropout(0.2),
            nn.Linear(128, config.num_classes),
        )
        guard(self)

    def forward(self, x: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        f = self.body(x).mean(dim=(2, 3))
        return self.head(torch.cat([f, self.features(feats)], dim=1))


def for_inference(model: CropClassifier) -> CropClassifier:
    """``model`` in eval mode with each batch norm folded into the convolution before it and
    channels-last weights: the same outputs up to float rounding, and faster on this CPU (the
    classifier stage of ``benchmarks/results/detector_latency_parts.json``); feed it channels-last
    input. Not for training (no batch norm left)."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    model = model.eval()
    for stage in model.body:
        for i in (0, 3):  # conv, bn, relu, conv, bn, relu
            if isinstance(stage[i + 1], nn.BatchNorm2d):
                stage[i] = fuse_conv_bn_eval(stage[i], stage[i + 1])
                stage[i + 1] = nn.Identity()
    return model.to(memory_format=torch.channels_last)
