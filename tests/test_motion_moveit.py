"""The MoveIt backend: where no ROS install provides moveit_py it fails clearly, naming what to
install, and the rest of the package (embedded backend) is unaffected."""

import importlib.util
from contextlib import nullcontext
from types import SimpleNamespace

import numpy as np
import pytest

from grasp_pipeline.grasping.motion import moveit_backend
from grasp_pipeline.grasping.motion.base import Segment, Trajectory
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


# -- what execute does after a grasp that lifted nothing, against a stand-in for moveit_py ------
# (moveit_py runs only in a ROS install with MoveIt; the stand-in keeps the calls the backend
# makes - planning components, RobotState, the planning scene monitor, MoveItPy.execute - and
# moves a bookkeeping robot as the controllers would)


class _Robot:
    def __init__(self, q, part_mm: float | None) -> None:
        self.q = np.array(q, float)
        self.fingers = {"panda_finger_joint1": 0.04, "panda_finger_joint2": 0.04}
        self.part_mm = part_mm  # what the closing fingers meet (None: nothing)


class _State:  # moveit.core.robot_state.RobotState
    def __init__(self, robot_model=None, robot: _Robot | None = None) -> None:
        self.robot, self.q = robot, {}

    def set_joint_group_positions(self, group, q) -> None:
        self.q[group] = np.array(q, float)

    def get_joint_group_positions(self, group):
        return self.robot.q.copy() if self.robot is not None else self.q[group]

    @property
    def joint_positions(self) -> dict:
        return dict(self.robot.fingers)

    def update(self) -> None:
        pass


class _Component:  # a planning component of MoveItPy
    def __init__(self, kind: str, robot: _Robot, plans: bool = True) -> None:
        self.kind, self.robot, self.plans, self.goals = kind, robot, plans, []

    def set_start_state_to_current_state(self) -> None:
        pass

    def set_goal_state(self, robot_state=None, configuration_name=None) -> None:
        self.goal = robot_state if robot_state is not None else configuration_name

    def plan(self):
        self.goals.append(self.goal)
        return SimpleNamespace(trajectory=(self.kind, self.goal)) if self.plans else None


class _MoveItPy:
    def __init__(self, robot: _Robot) -> None:
        self.robot = robot

    def execute(self, trajectory, controllers) -> None:
        kind, goal = trajectory
        if kind == "arm":
            self.robot.q = goal.get_joint_group_positions("panda_arm")
        elif goal == "open":
            self.robot.fingers = dict.fromkeys(self.robot.fingers, 0.04)
        else:  # closing: the fingers stop on the part, or meet
            half = 0.0 if self.robot.part_mm is None else self.robot.part_mm / 2e3
            self.robot.fingers = dict.fromkeys(self.robot.fingers, half)


def _backend(robot: _Robot, plans_back: bool = True) -> moveit_backend.MoveItBackend:
    b = moveit_backend.MoveItBackend.__new__(moveit_backend.MoveItBackend)
    b.groups, b.model, b.moveit = moveit_backend.GROUPS["franka"], PandaModel(), _MoveItPy(robot)
    b.robot_model, b._RobotState = None, _State
    b.arm, b.hand = _Component("arm", robot, plans_back), _Component("hand", robot)
    b._psm = SimpleNamespace(
        read_only=lambda: nullcontext(SimpleNamespace(current_state=_State(robot=robot)))
    )
    b.gripper_opening = lambda settle_s=0.0: moveit_backend.MoveItBackend.gripper_opening(b, 0.0)
    return b


def _pick(start: np.ndarray) -> Trajectory:
    """Pre-grasp, descend (open), close, lift: natives as the stand-in executes them."""

    def arm(q):
        s = _State()
        s.set_joint_group_positions("panda_arm", q)
        return ("arm", s)

    pre, down, up = start + 0.3, start + 0.4, start + 0.35
    return Trajectory(
        True,
        "ok",
        [
            Segment("pre_grasp", pre[None], 0.08, native=arm(pre)),
            Segment("descend", down[None], None, native=arm(down)),
            Segment("close", down[None], 0.0, native=arm(down)),
            Segment("lift", up[None], None, native=arm(up)),
        ],
        start_q=start.copy(),
    )


@pytest.mark.timeout(60)
def test_moveit_pick_that_lifted_nothing_opens_and_goes_back_to_its_start():
    start = np.zeros(7)
    robot = _Robot(start, part_mm=None)
    res = _backend(robot).execute(_pick(start))
    assert not res.ok and res.returned and res.may_retry, res
    assert "closed on nothing" in res.reason and "back where it started" in res.reason
    np.testing.assert_allclose(robot.q, start)  # the way back was planned to the start joints
    assert sum(robot.fingers.values()) == pytest.approx(0.08)  # and the hand is open again


@pytest.mark.timeout(60)
def test_moveit_pick_that_holds_stays_up_and_a_blocked_way_back_is_said():
    start = np.zeros(7)
    robot = _Robot(start, part_mm=20.0)
    res = _backend(robot).execute(_pick(start))
    assert res.ok and not res.returned and "holding" in res.reason
    np.testing.assert_allclose(robot.q, start + 0.35)  # still lifted, the part in the hand
    robot = _Robot(start, part_mm=None)
    res = _backend(robot, plans_back=False).execute(_pick(start))
    assert not res.ok and not res.returned and not res.may_retry
    assert "could not go back" in res.reason
