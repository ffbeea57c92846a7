"""Frame sets from a dataset directory in the project's on-disk format (``grasp_pipeline.data.format``).

Frames come in ``list_frames`` order with their ground truth in ``extras`` (``frame_id``,
``objects``: list of ObjectAnnotation, ``camera_pose_world``, ``instance_mask``). Stamps are
``index * 1e9 / fps`` ns: a dataset has no capture times, so a nominal rate stands in.
"""

from __future__ import annotations

from pathlib import Path

from grasp_pipeline.sources.base import CameraSource, FrameSet


class FolderSource(CameraSource):
    """Replays a dataset directory; ``loop`` restarts at the end; ``frame_ids`` picks a subset."""

    kind = "folder"

    def __init__(
        self,
        root: str | Path,
        fps: float = 30.0,
        loop: bool = False,
        frame_ids: list[str] | None = None,
    ) -> None:
        super().__init__()
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"dataset directory not found: {self.root}")
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.fps, self.loop, self._wanted = float(fps), loop, frame_ids
        self._ids: list[str] = []
        self._pos = 0
        self._count = 0

    @property
    def finite(self) -> bool:
        return not self.loop

    def _open(self) -> None:
        from grasp_pipeline.data.format import list_frames

        ids = list_frames(self.root)
        if self._wanted is not None:
            missing = sorted(set(self._wanted) - set(ids))
            if missing:
                raise ValueError(f"dataset {self.root} has no frame(s) {missing}")
            ids = list(self._wanted)
        if not ids:
            raise ValueError(
                f"dataset {self.root} holds no frames (looked in {self.root / 'frames'})"
            )
        self._ids, self._pos, self._count = ids, 0, 0

    def _read(self) -> FrameSet | None:
        from grasp_pipeline.data.format import read_frame

        if self._pos >= len(self._ids):
            if not self.loop:
                return None
            self._pos = 0
        frame = read_frame(self.root, self._ids[self._pos])
        self._pos += 1
        stamp = round(self._count * 1e9 / self.fps)
        self._count += 1
        extras = {
            "frame_id": frame.frame_id,
            "objects": frame.objects,
            "camera_pose_world": frame.camera_pose_world,
            "instance_mask": frame.instance_mask,
        }
        return FrameSet(frame.rgb, frame.depth, frame.camera, stamp, 0, extras)

    def _close(self) -> None:
        self._ids = []
