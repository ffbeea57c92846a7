"""Building sources from plain settings (the camera node's parameters)."""

from __future__ import annotations

import pytest

from grasp_pipeline.sources.factory import make_source
from grasp_pipeline.sources.rosbag_source import RosbagSource
from grasp_pipeline.sources.sim_source import SimSource


def test_kinds_and_errors(tmp_path) -> None:
    assert isinstance(make_source("sim", width=64, height=48, sim_n_objects=0), SimSource)
    with pytest.raises(ValueError, match="source must be one of"):
        make_source("kinect")
    with pytest.raises(ValueError, match="needs a file"):
        make_source("rosbag")
    with pytest.raises(FileNotFoundError, match="nothing"):
        make_source("rosbag", file=str(tmp_path / "nothing"))
    (tmp_path / "bag").mkdir()
    assert isinstance(make_source("rosbag", file=str(tmp_path / "bag")), RosbagSource)


def test_sim_source_without_objects_sees_the_table() -> None:
    with make_source(
        "sim", width=64, height=48, sim_n_objects=0, sim_noise=False, sim_camera_height=0.4
    ) as src:
        fs = src.read()
    assert fs.extras["objects"] == []
    assert abs(float(fs.depth[24, 32]) - 400.0) <= 1  # mm: camera 0.4 m above the surface
