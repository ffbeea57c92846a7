"""The MoveIt backend: where no ROS install provides moveit_py it fails clearly, naming what to
install, and the rest of the package (embedded backend) is unaffected."""

import importlib.util

import pytest

from grasp_pipeline.grasping.motion import moveit_backend
from grasp_pipeline.grasping.robots.panda import PandaModel

HAS_MOVEIT = importlib.util.find_spec("moveit") is not None


@pytest.mark.skipif(HAS_MOVEIT, reason="moveit_py is installed here")
def test_missing_moveit_py_names_what_to_install():
    with pytest.raises(moveit_backend.MoveItUnavailableError, match="moveit-py") as info:
        moveit_backend.MoveItBackend(PandaModel())
    assert "embedded" in str(info.value)
    assert isinstance(info.value, ImportError)


def test_unknown_robot_refused_before_import():
    model = PandaModel()
    model.name = "ur5"
    with pytest.raises(ValueError, match="robot must be one of"):
        moveit_backend.MoveItBackend(model)


def test_group_names_match_models():
    assert moveit_backend.GROUPS["franka"].tcp_offset_m == pytest.approx(0.1034)
    assert moveit_backend.GROUPS["youbot"].tip_link == "arm_link_5"
