"""Build a frame source from plain settings (the camera node's parameters, CLI options)."""

from __future__ import annotations

from collections.abc import Sequence

from grasp_pipeline.sources.base import CameraSource

SOURCE_KINDS = ("realsense", "realsense_file", "sim", "rosbag", "folder")


def make_source(
    kind: str,
    *,
    file: str = "",
    loop: bool = False,
    serial: str = "",
    preset: str = "d435",
    width: int = 640,
    height: int = 480,
    fps: float = 30.0,
    sim_seed: int = 0,
    sim_n_objects: int = 3,
    sim_objects: Sequence[str] = (),
    sim_camera_height: float = 0.5,
    sim_noise: bool = True,
    sim_rerender: bool = True,
) -> CameraSource:
    """A closed source of ``kind`` (one of SOURCE_KINDS); ``file`` is the recording / bag / dataset.

    Raises ValueError for an unknown kind or a file-based kind without ``file``,
    FileNotFoundError when the file does not exist.
    """
    if kind not in SOURCE_KINDS:
        raise ValueError(f"source must be one of {SOURCE_KINDS}, got {kind!r}")
    if kind in ("realsense_file", "rosbag", "folder") and not file:
        raise ValueError(f"source {kind!r} needs a file (recording, bag or dataset directory)")
    if kind == "realsense":
        from grasp_pipeline.sources.realsense import RealSenseSource

        return RealSenseSource(
            serial=serial or None, preset=preset, width=width, height=height, fps=int(fps)
        )
    if kind == "realsense_file":
        from grasp_pipeline.sources.realsense import RealSenseSource

        return RealSenseSource(file=file, loop=loop, preset=preset)
    if kind == "rosbag":
        from grasp_pipeline.sources.rosbag_source import RosbagSource

        return RosbagSource(file, loop=loop)
    if kind == "folder":
        from grasp_pipeline.sources.folder_source import FolderSource

        return FolderSource(file, fps=fps, loop=loop)
    from grasp_pipeline.sources.sim_source import SimSource

    return SimSource(
        preset=preset,
        width=width,
        height=height,
        fps=fps,
        seed=sim_seed,
        n_objects=sim_n_objects,
        objects=list(sim_objects) or None,
        camera_height=sim_camera_height,
        noise=sim_noise,
        rerender=sim_rerender,
    )
