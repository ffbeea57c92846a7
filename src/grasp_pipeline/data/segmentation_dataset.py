"""Torch Dataset for the Converge-Fast segmentation network: 4-channel RGB-D at 256x192.

Item (a dict, one frame of the on-disk format downscaled to ``size`` = (W, H)):
- ``image`` float32 (4, H, W): RGB in [0, 1]; depth / ``depth_max_m`` clipped to [0, 1], 0 where
  depth is missing.
- ``masks`` float32 (C, H, W): per-class binary masks, channel = class_index - 1.
- ``pickup`` float32 (C, 2): pickup pixel (u, v) at the output size of each present class's largest
  instance (most visible pixels), NaN when the class is absent.
- ``instances`` float32 (C, K, 2): the pickup pixels of up to K = ``MAX_INSTANCES`` instances of
  each class, most visible first, NaN-padded (a pick of any of them is a good pick).
- ``offset`` float32 (2, H, W): for each pixel of a catalog object, (du, dv) from the pixel to its
  own instance's pickup pixel; NaN elsewhere (the offset head's target).
- ``present`` bool (C,); ``depth_m`` float32 (H, W) metres, NaN = missing;
  ``intrinsics`` float32 (4,) fx, fy, cx, cy at the output size; ``frame_id`` str.
Pixel coordinates scale with the pixel-centre convention u' = (u + 0.5) * W'/W - 0.5, the same as
``CameraIntrinsics.scaled``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from grasp_pipeline.data.format import list_frames, read_frame, read_manifest
from grasp_pipeline.geometry.camera import depth_to_metres


def _num_classes(root: Path) -> int:
    try:
        classes = read_manifest(root).get("classes")
    except FileNotFoundError:
        classes = None  # real recordings may come without a generator manifest
    if classes:
        return len(classes)
    from grasp_pipeline.objects import load_catalog

    return len(load_catalog())


MAX_INSTANCES = 8


class SegmentationDataset(Dataset):
    """Frames of a dataset directory as network input + per-class targets (see module docstring).

    Args:
        root: dataset directory (manifest.json + frames/).
        size: output (width, height) in pixels.
        augment: random horizontal flip (intrinsics and pickup pixels follow), colour jitter and
            depth noise/dropouts; drawn from torch's RNG so DataLoader seeding applies.
        depth_max_m: depth normalisation (metres -> [0, 1]).
        frame_ids: subset of frames (default: all).
        pickup_label: ``"com"`` (default): the pickup pixel is the object's centre of mass
            projected into the image, the paper's "center of gravity" label; ``"annotated"``: the
            annotation's ``pickup_pixel``, which snaps that projection onto the object's own mask
            (for nuts and tubes seen along their axis it lands on the rim, an arbitrary point of
            it, which no detector can learn). Frames without ``com_camera`` fall back to it.
    """

    def __init__(
        self,
        root: str | Path,
        size: tuple[int, int] = (256, 192),
        augment: bool = False,
        depth_max_m: float = 1.0,
        frame_ids: Sequence[str] | None = None,
        pickup_label: str = "com",
    ) -> None:
        if pickup_label not in ("com", "annotated"):
            raise ValueError(f"pickup_label must be 'com' or 'annotated', got {pickup_label!r}")
        self.pickup_label = pickup_label
        self.root = Path(root)
        self.ids = list(frame_ids) if frame_ids is not None else list_frames(self.root)
        if not self.ids:
            raise ValueError(f"dataset {self.root} has no frames")
        if len(size) != 2 or min(size) < 8:
            raise ValueError(f"size must be (width, height) >= 8 px, got {size}")
        if not depth_max_m > 0:
            raise ValueError(f"depth_max_m must be positive, got {depth_max_m}")
        self.size = (int(size[0]), int(size[1]))
        self.augment = augment
        self.depth_max_m = float(depth_max_m)
        self.num_classes = _num_classes(self.root)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> dict:
        import cv2

        frame = read_frame(self.root, self.ids[index])
        W, H = self.size
        C = self.num_classes
        cam = frame.camera.scaled(W, H)
        rgb = cv2.resize(frame.rgb, (W, H), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
        # Nearest neighbour keeps missing depth missing instead of blending it with valid depth.
        depth = cv2.resize(
            depth_to_metres(frame.depth, frame.camera), (W, H), interpolation=cv2.INTER_NEAREST
        )
        inst = cv2.resize(frame.instance_mask, (W, H), interpolation=cv2.INTER_NEAREST)
        sx, sy = W / frame.camera.width, H / frame.camera.height

        masks = np.zeros((C, H, W), np.float32)
        pickup = np.full((C, 2), np.nan, np.float32)
        instances = np.full((C, MAX_INSTANCES, 2), np.nan, np.float32)
        offset = np.full((2, H, W), np.nan, np.float32)
        us, vs = np.meshgrid(np.arange(W, dtype=np.float32), np.arange(H, dtype=np.float32))
        labelled: dict[int, list[tuple[int, float, float]]] = {}
        for o in frame.objects:
            c = o.class_index - 1
            if not 0 <= c < C:
                raise ValueError(
                    f"{self.root}/frames/{frame.frame_id}: class_index {o.class_index} outside 1..{C}"
                )
            on = inst == o.instance_id
            masks[c][on] = 1.0
            pu, pv = o.pickup_pixel
            if self.pickup_label == "com" and o.com_camera is not None:
                x, y, z = (float(t) for t in o.com_camera)
                pu = frame.camera.fx * x / z + frame.camera.cx
                pv = frame.camera.fy * y / z + frame.camera.cy
            pu, pv = (pu + 0.5) * sx - 0.5, (pv + 0.5) * sy - 0.5
            offset[0][on] = pu - us[on]
            offset[1][on] = pv - vs[on]
            labelled.setdefault(c, []).append((o.visible_pixels, pu, pv))
        for c, objs in labelled.items():
            # Most visible first; among equals the later annotation, as the label always was.
            objs = sorted(reversed(objs), key=lambda t: -t[0])[:MAX_INSTANCES]
            pickup[c] = objs[0][1:]
            instances[c, : len(objs)] = [t[1:] for t in objs]
        present = ~np.isnan(pickup[:, 0])
        intrinsics = np.array([cam.fx, cam.fy, cam.cx, cam.cy], np.float32)

        if self.augment:
            rgb, depth, masks, pickup, instances, offset, intrinsics = self._augment(
                rgb, depth, masks, pickup, instances, offset, intrinsics
            )

        depth_channel = np.where(
            np.isfinite(depth), np.clip(depth / self.depth_max_m, 0.0, 1.0), 0.0
        )
        image = np.concatenate([rgb.transpose(2, 0, 1), depth_channel[None]], axis=0)  # (4, H, W)
        return {
            "image": torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)),
            "masks": torch.from_numpy(np.ascontiguousarray(masks)),
            "pickup": torch.from_numpy(pickup),
            "instances": torch.from_numpy(instances),
            "offset": torch.from_numpy(np.ascontiguousarray(offset)),
            "present": torch.from_numpy(present),
            "depth_m": torch.from_numpy(np.ascontiguousarray(depth, dtype=np.float32)),
            "intrinsics": torch.from_numpy(intrinsics),
            "frame_id": frame.frame_id,
        }

    def _augment(self, rgb, depth, masks, pickup, instances, offset, intrinsics):
        W = self.size[0]
        rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, ()).item()))
        if rng.random() < 0.5:
            rgb, depth, masks = rgb[:, ::-1], depth[:, ::-1], masks[:, :, ::-1]
            pickup, instances = pickup.copy(), instances.copy()
            pickup[:, 0] = (W - 1) - pickup[:, 0]
            instances[..., 0] = (W - 1) - instances[..., 0]
            offset = offset[:, :, ::-1] * np.array([-1.0, 1.0], np.float32)[:, None, None]
            intrinsics = intrinsics.copy()
            intrinsics[2] = (W - 1) - intrinsics[2]
        gain = rng.uniform(0.75, 1.25) * rng.uniform(0.9, 1.1, size=3)
        contrast = rng.uniform(0.8, 1.2)
        mean = rgb.mean()
        rgb = np.clip((rgb * gain - mean) * contrast + mean, 0.0, 1.0).astype(np.float32)
        noise = rng.standard_normal(depth.shape).astype(np.float32) * 0.002
        depth = np.where(rng.random(depth.shape) < 0.01, np.nan, depth + noise).astype(np.float32)
        masks = np.ascontiguousarray(masks)
        return rgb, depth, masks, pickup, instances, np.ascontiguousarray(offset), intrinsics


def collate_segmentation(batch: list[dict]) -> dict:
    """Stack items into a batch: tensors gain a leading (B, ...) axis, ``frame_id`` becomes a list."""
    if not batch:
        raise ValueError("collate_segmentation: empty batch")
    out = {k: torch.stack([b[k] for b in batch]) for k in batch[0] if k != "frame_id"}
    out["frame_id"] = [b["frame_id"] for b in batch]
    return out
