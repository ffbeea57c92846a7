"""The last few aligned depth frames a node received, found again by the stamp of their frame set.

The detector stamps its detections with the frame set's stamp, so a planner can check its grasps
in the very depth image those detections came from
(:class:`~grasp_pipeline.grasping.depth_clearance.ObservedCloud`).
"""

from __future__ import annotations

from collections import OrderedDict

from grasp_pipeline.geometry.camera import depth_to_metres
from grasp_pipeline.grasping.depth_clearance import ObservedCloud
from grasp_pipeline.ros import conversions as cv

KEEP = 8  # frames kept: detections arrive within a few camera periods of their frame


class DepthFrames:
    """Aligned depth images and their camera_info, by stamp (ns); the oldest leave first."""

    def __init__(self, keep: int = KEEP) -> None:
        self.keep = keep
        self.images: OrderedDict[int, object] = OrderedDict()
        self.infos: OrderedDict[int, object] = OrderedDict()

    def _put(self, store: OrderedDict, msg) -> None:
        store[cv.stamp_to_ns(msg.header.stamp)] = msg
        while len(store) > self.keep:
            store.popitem(last=False)

    def add_image(self, msg) -> None:
        self._put(self.images, msg)

    def add_info(self, msg) -> None:
        self._put(self.infos, msg)

    def cloud(self, stamp_ns: int) -> tuple[ObservedCloud | None, str]:
        """(points of the depth frame stamped ``stamp_ns``, '') or (None, why there is none)."""
        if not self.images:
            return None, "no aligned depth image received"
        image, info = self.images.get(stamp_ns), self.infos.get(stamp_ns)
        if image is None or info is None:
            return None, (
                f"no depth frame with the detections' stamp {stamp_ns} (have "
                f"{min(self.images)}..{max(self.images)})"
            )
        try:
            camera = cv.camera_info_to_intrinsics(info)
            depth = depth_to_metres(cv.to_depth_u16(image, camera.depth_scale), camera)
            return ObservedCloud(depth, camera), ""
        except ValueError as exc:
            return None, f"unusable depth frame: {exc}"
