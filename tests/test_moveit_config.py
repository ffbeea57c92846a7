"""MoveIt configuration handling of the MoveIt backend, without moveit_py: a robot's MoveIt config
(as MoveItConfigsBuilder(...).to_dict() hands it to a node, nested or flattened to dotted parameter
names) becomes the config_dict MoveItPy reads; a missing or wrong piece is named."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

from grasp_pipeline.grasping.motion import moveit_backend as mb
from grasp_pipeline.grasping.motion.moveit_backend import (
    GROUPS,
    MoveItConfigError,
    config_from_params_files,
    moveit_py_config,
    nest_params,
    params_files_in_args,
)

HAS_MOVEIT = importlib.util.find_spec("moveit") is not None

# The shape of moveit_resources_panda_moveit_config as MoveItConfigsBuilder.to_dict() returns it
# (Jazzy): XML strings for URDF/SRDF, the YAML files' contents, the pipeline list plus each
# pipeline's file under its name.
URDF = '<?xml version="1.0"?><robot name="panda"><link name="panda_link0"/></robot>'
SRDF = (
    '<?xml version="1.0"?><robot name="panda">'
    '<group name="panda_arm"><chain base_link="panda_link0" tip_link="panda_link8"/></group>'
    "<group name='hand'><link name='panda_hand'/></group>"
    '<group_state name="open" group="hand"/></robot>'
)


def panda_config() -> dict:
    return {
        "robot_description": URDF,
        "robot_description_semantic": SRDF,
        "robot_description_kinematics": {
            "panda_arm": {
                "kinematics_solver": "kdl_kinematics_plugin/KDLKinematicsPlugin",
                "kinematics_solver_search_resolution": 0.005,
                "kinematics_solver_timeout": 0.005,
            }
        },
        "robot_description_planning": {
            "joint_limits": {
                "panda_joint1": {"has_acceleration_limits": True, "max_acceleration": 3.75}
            }
        },
        "planning_pipelines": ["ompl", "pilz_industrial_motion_planner"],
        "default_planning_pipeline": "ompl",
        "ompl": {"planning_plugins": ["ompl_interface/OMPLPlanner"], "panda_arm": {}},
        "pilz_industrial_motion_planner": {
            "planning_plugins": ["pilz_industrial_motion_planner/CommandPlanner"]
        },
        "moveit_manage_controllers": True,
    }


def flatten(d: dict, prefix: str = "") -> dict:
    """What launch_ros / a node's parameters make of a nested dict: dotted names."""
    out = {}
    for k, v in d.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(flatten(v, name + "."))
        else:
            out[name] = v
    return out


def test_complete_config_becomes_the_moveit_py_structure() -> None:
    cfg = moveit_py_config(panda_config(), GROUPS["franka"])
    assert cfg["planning_pipelines"] == {
        "pipeline_names": ["ompl", "pilz_industrial_motion_planner"]
    }
    assert cfg["plan_request_params"] == {
        "planning_attempts": 1,
        "planning_time": 5.0,
        "max_velocity_scaling_factor": 1.0,
        "max_acceleration_scaling_factor": 1.0,
        "planning_pipeline": "ompl",
    }
    assert cfg["planning_scene_monitor_options"]["joint_state_topic"] == "/joint_states"
    assert cfg["planning_scene_monitor_options"]["robot_description"] == "robot_description"
    # everything of the MoveIt config is passed on untouched
    for key in ("robot_description", "robot_description_semantic", "ompl"):
        assert cfg[key] == panda_config()[key]
    kin = cfg["robot_description_kinematics"]["panda_arm"]
    assert kin["kinematics_solver"] == "kdl_kinematics_plugin/KDLKinematicsPlugin"
    # MoveItPy writes the dict to a parameter file with yaml: it must be plain data
    assert yaml.safe_load(yaml.safe_dump(cfg)) == cfg


def test_flattened_parameters_give_the_same_structure() -> None:
    flat = flatten(panda_config())
    assert "robot_description_kinematics.panda_arm.kinematics_solver" in flat
    assert moveit_py_config(flat, GROUPS["franka"]) == moveit_py_config(
        panda_config(), GROUPS["franka"]
    )


def test_config_values_win_over_defaults() -> None:
    params = panda_config()
    params["planning_pipelines"] = {"pipeline_names": ["ompl"]}  # a moveit_cpp.yaml's form
    del params["default_planning_pipeline"]
    params["plan_request_params"] = {"planning_attempts": 5, "max_velocity_scaling_factor": 0.2}
    params["planning_scene_monitor_options"] = {"joint_state_topic": "/franka/joint_states"}
    cfg = moveit_py_config(params, GROUPS["franka"])
    req = cfg["plan_request_params"]
    assert req["planning_attempts"] == 5 and req["max_velocity_scaling_factor"] == 0.2
    assert req["planning_pipeline"] == "ompl" and req["planning_time"] == 5.0
    assert cfg["planning_scene_monitor_options"]["joint_state_topic"] == "/franka/joint_states"
    assert cfg["planning_pipelines"] == {"pipeline_names": ["ompl"]}


@pytest.mark.parametrize("missing", sorted(mb.REQUIRED_CONFIG))
def test_each_missing_piece_is_named(missing: str) -> None:
    params = panda_config()
    del params[missing]
    with pytest.raises(MoveItConfigError, match=f"missing '{missing}'") as err:
        moveit_py_config(params, GROUPS["franka"])
    assert "MoveItConfigsBuilder" in str(err.value)  # says how to get a whole config
    assert isinstance(err.value, ValueError)  # the planner node reports it as a bad parameter


def test_all_missing_pieces_are_named_at_once() -> None:
    with pytest.raises(MoveItConfigError) as err:
        moveit_py_config({"robot_description": URDF}, GROUPS["franka"])
    for key in set(mb.REQUIRED_CONFIG) - {"robot_description"}:
        assert repr(key) in str(err.value)
    assert "'robot_description'," not in str(err.value)


def test_empty_piece_counts_as_missing() -> None:
    params = panda_config()
    params["robot_description_semantic"] = ""
    with pytest.raises(MoveItConfigError, match="missing 'robot_description_semantic'"):
        moveit_py_config(params)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c.pop("ompl"), r"pipeline 'ompl' has no configuration: key 'ompl'"),
        (lambda c: c.update(robot_description="panda.urdf"), "'robot_description' must be the XML"),
        (lambda c: c.update(default_planning_pipeline="chomp"), "'chomp' is not one of"),
        (lambda c: c.update(planning_pipelines=[3]), "must list pipeline names"),
        (lambda c: c.update(robot_description_kinematics="kinematics.yaml"), "must be a mapping"),
        (
            lambda c: c.update(robot_description_semantic=SRDF.replace("'hand'", "'gripper'")),
            r"no planning group 'hand' \(it has \['gripper', 'panda_arm'\]\)",
        ),
        (
            lambda c: c.update(robot_description_kinematics={"hand": {}}),
            "no IK solver for group 'panda_arm'",
        ),
    ],
)
def test_a_wrong_piece_is_named(change, message: str) -> None:
    params = panda_config()
    change(params)
    with pytest.raises(MoveItConfigError, match=message):
        moveit_py_config(params, GROUPS["franka"])


def test_not_a_mapping_is_refused() -> None:
    with pytest.raises(MoveItConfigError, match="must be a mapping of parameters, got str"):
        moveit_py_config("moveit_resources_panda")  # type: ignore[arg-type]


def test_nest_params_refuses_a_name_that_is_value_and_namespace() -> None:
    assert nest_params({"a.b": 1, "a": {"c": 2}}) == {"a": {"b": 1, "c": 2}}
    with pytest.raises(MoveItConfigError, match="both a value and a namespace"):
        nest_params({"a": 1, "a.b": 2})


def test_config_is_read_from_the_launch_parameter_files(tmp_path: Path) -> None:
    """The planner node's process gets its config/*.yaml and the MoveIt dict (launch_ros writes a
    dict to a '/**' file with dotted names) as --params-file: the backend collects the latter."""
    own = tmp_path / "franka.yaml"
    own.write_text(
        yaml.safe_dump(
            {
                "/**/grasp_planner_node": {"ros__parameters": {"execution": "moveit"}},
                "/**/detector_node": {"ros__parameters": {"robot_description": "not mine"}},
            }
        )
    )
    # launch_ros writes the dict with yaml.dump: MoveItConfigsBuilder's controller lists are
    # tuples there (!!python/tuple tags; seen in a real franka_moveit.launch.py run)
    moveit = panda_config() | {
        "moveit_simple_controller_manager": {
            "controller_names": ("panda_arm_controller", "panda_hand_controller")
        }
    }
    launch_dict = tmp_path / "launch_params_x"
    launch_dict.write_text(yaml.dump({"/**": {"ros__parameters": flatten(moveit)}}))
    assert "!!python/tuple" in launch_dict.read_text()
    argv = ["grasp_planner_node", "--ros-args", "--params-file", str(own)]
    argv += ["--params-file", str(launch_dict), "-p", "execution:=moveit"]
    assert params_files_in_args(argv) == [own, launch_dict]
    params = config_from_params_files(params_files_in_args(argv))
    assert params["execution"] == "moveit"  # the planner's own section is read ...
    assert params["robot_description"] == URDF  # ... the detector's is not
    cfg = moveit_py_config(params, GROUPS["franka"])
    expected = moveit_py_config(panda_config(), GROUPS["franka"]) | {"execution": "moveit"}
    assert {k: v for k, v in cfg.items() if k != "moveit_simple_controller_manager"} == expected
    assert cfg["moveit_simple_controller_manager"]["controller_names"] == [
        "panda_arm_controller",
        "panda_hand_controller",
    ]


def test_unreadable_parameter_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(MoveItConfigError, match=r"cannot read parameter file .*nowhere\.yaml"):
        config_from_params_files([tmp_path / "nowhere.yaml"])


def test_install_hint_names_the_package_and_every_execution_choice(monkeypatch) -> None:
    monkeypatch.setenv("ROS_DISTRO", "jazzy")
    hint = mb.install_hint()
    assert "ros-jazzy-moveit-py" in hint
    for choice in ("kinematic", "sim", "moveit"):
        assert f"'{choice}'" in hint
    from grasp_pipeline.ros.grasp_planner_node import PARAMS

    (execution,) = (p for p in PARAMS if p.name == "execution")
    assert sorted(execution.choices) == sorted(mb.EXECUTION_CHOICES)
    monkeypatch.delenv("ROS_DISTRO")
    assert "ros-<distro>-moveit-py" in mb.install_hint()


@pytest.mark.skipif(HAS_MOVEIT, reason="moveit_py is installed here")
def test_without_moveit_py_the_install_error_comes_before_the_config() -> None:
    """No moveit_py: what to install is the first thing to fix, whatever the config."""
    from grasp_pipeline.grasping.robots.youbot import YouBotModel

    with pytest.raises(mb.MoveItUnavailableError, match="moveit-py") as err:
        mb.MoveItBackend(YouBotModel(), config={})
    assert "'kinematic'" in str(err.value) and "'sim'" in str(err.value)
