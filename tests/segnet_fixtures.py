"""Small in-memory RGB-D samples with the item layout of SegmentationDataset, for segnet tests."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset


class BoxesDataset(Dataset):
    """Each frame: a flat floor at ``z`` metres with one or two class-coloured boxes on it.

    Class ``c`` (channel) is a ``size``-pixel square whose colour encodes the class, so a small
    network can learn it. Items match SegmentationDataset: image (4, H, W), masks (C, H, W),
    pickup (C, 2), present (C,), depth_m (H, W), intrinsics (4,), frame_id; with ``offsets`` also
    offset (2, H, W) (box pixel -> box centre, NaN elsewhere) and instances (C, 1, 2).
    """

    def __init__(
        self,
        n: int,
        w: int = 32,
        h: int = 24,
        classes: int = 3,
        seed: int = 0,
        max_objects: int = 1,
        size: int = 6,
        offsets: bool = False,
    ) -> None:
        rng = np.random.default_rng(seed)
        self.items = []
        colors = np.linspace(0.2, 1.0, classes)
        for i in range(n):
            img = np.zeros((4, h, w), np.float32)
            img[:3] = 0.1
            depth = np.full((h, w), 0.5, np.float32)
            masks = np.zeros((classes, h, w), np.float32)
            pickup = np.full((classes, 2), np.nan, np.float32)
            present = np.zeros(classes, bool)
            for c in rng.choice(classes, size=rng.integers(1, max_objects + 1), replace=False):
                u0, v0 = rng.integers(0, w - size), rng.integers(0, h - size)
                masks[c, v0 : v0 + size, u0 : u0 + size] = 1
                img[0, v0 : v0 + size, u0 : u0 + size] = colors[c]
                img[1, v0 : v0 + size, u0 : u0 + size] = 1 - colors[c]
                depth[v0 : v0 + size, u0 : u0 + size] = 0.45
                pickup[c] = (u0 + (size - 1) / 2, v0 + (size - 1) / 2)
                present[c] = True
            img[3] = depth / 1.0
            extra = {}
            if offsets:
                us, vs = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
                off = np.full((2, h, w), np.nan, np.float32)
                for c in np.flatnonzero(present):
                    on = masks[c] > 0
                    off[0][on], off[1][on] = pickup[c, 0] - us[on], pickup[c, 1] - vs[on]
                extra = {
                    "offset": torch.from_numpy(off),
                    "instances": torch.from_numpy(pickup[:, None].copy()),
                }
            self.items.append(
                {
                    **extra,
                    "image": torch.from_numpy(img),
                    "masks": torch.from_numpy(masks),
                    "pickup": torch.from_numpy(pickup),
                    "present": torch.from_numpy(present),
                    "depth_m": torch.from_numpy(depth),
                    "intrinsics": torch.tensor([40.0, 40.0, (w - 1) / 2, (h - 1) / 2]),
                    "frame_id": f"{i:06d}",
                }
            )

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return self.items[i]


def evaluate_segnet_cli(model, data, out) -> dict:
    """``grasp-pipeline evaluate segnet`` on one thread; asserts it succeeds, returns its JSON."""
    import json

    from grasp_pipeline.cli import main

    args = ["evaluate", "segnet", "--model", str(model), "--data", str(data), "--json", str(out)]
    assert main([*args, "--threads", "1"]) == 0
    return json.loads(out.read_text())
