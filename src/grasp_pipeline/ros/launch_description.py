"""What the launch files in launch/ build their launch descriptions from: every launch argument
declared once (name, default, description, choices), the argument sets each file declares, the
wrapper that declares an included file's arguments and passes them on, and the exit handler of a
required node.

The specs are plain data, readable without the ROS launch system (tests and tools read them in a
pip venv). ``launch`` and ``launch_ros`` (a ROS install's, not on PyPI) are imported only inside
the functions that build launch actions, which only launch files call; importing this module never
needs them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LaunchArgument:
    """One launch argument: ``name:=value`` on the ``ros2 launch`` command line.

    ``default`` is the value when not given; ``choices``, when set, are the only values accepted
    (the launch system refuses others and lists them in ``--show-args``).
    """

    name: str
    default: str
    description: str
    choices: tuple[str, ...] | None = None

    def declare(self) -> Any:
        """This argument as a ``launch.actions.DeclareLaunchArgument``."""
        from launch.actions import DeclareLaunchArgument

        return DeclareLaunchArgument(
            self.name,
            default_value=self.default,
            description=self.description,
            **({} if self.choices is None else {"choices": list(self.choices)}),
        )


# --- a cell: camera (or simulator node), detector, grasp planner (cell.launch.py) ---------------
CELL_CONFIG = LaunchArgument(
    "config",
    "franka.yaml",
    "parameter file in the package's config/ (franka.yaml, youbot.yaml)",
)
NAMESPACE = LaunchArgument("namespace", "", "namespace of all nodes and topics")
TARGET_OBJECT = LaunchArgument("target_object", "", "catalog object to pick ('' = any)")
USE_REALSENSE_DRIVER = LaunchArgument(
    "use_realsense_driver",
    "false",
    "start realsense2_camera (align_depth on) instead of grasp_pipeline's camera_node",
)
# '' keeps the parameter file's value; the others are the node parameters' choices
DETECTOR = LaunchArgument(
    "detector",
    "",
    "detector_node's detector ('' = the parameter file's, parts)",
    ("", "parts", "segnet", "descriptors"),
)
MODEL_PATH = LaunchArgument(
    "model_path",
    "",
    "detector checkpoint: absolute, or relative to the package share directory like "
    "models/parts/classifier.pt ('' = the parameter file's)",
)
DATABASE_PATH = LaunchArgument(
    "database_path",
    "",
    "descriptor database for detector:=descriptors: absolute, or relative to the package share "
    "directory ('' = the parameter file's)",
)
EXECUTION = LaunchArgument(
    "execution",
    "",
    "grasp planner's motion backend: moveit (needs moveit_py), kinematic (embedded planner, moves "
    "no robot) or sim (embedded planner, PyBullet cell) ('' = the parameter file's, moveit)",
    ("", "moveit", "kinematic", "sim"),
)

# --- franka_moveit.launch.py's own ------------------------------------------------------------
START_MOVE_GROUP = LaunchArgument(
    "start_move_group",
    "true",
    "start move_group and robot_state_publisher for the Panda (false when the robot's bringup "
    "already runs them)",
    ("true", "false"),
)
USE_MOCK_HARDWARE = LaunchArgument(
    "use_mock_hardware",
    "false",
    "no robot: ros2_control with mock hardware runs the Panda's arm and hand controllers, so "
    "MoveIt executes against it",
    ("true", "false"),
)
USE_SIM_TIME = LaunchArgument(
    "use_sim_time",
    "false",
    "every node follows /clock (a simulator publishes it)",
    ("true", "false"),
)

# --- a robot in Gazebo (sim_cell.launch.py) -----------------------------------------------------
SIM_ROBOT = LaunchArgument(
    "robot",
    "franka",
    "robot to spawn: franka (Panda, config/sim_franka.yaml) or youbot (wide gripper, "
    "config/sim_youbot.yaml)",
    ("franka", "youbot"),
)
SURFACE_HEIGHT = LaunchArgument(
    "surface_height", "0.10", "height of the service area surface above the floor (m)"
)

# --- the camera alone (camera.launch.py): one node, so its own wording -------------------------
CAMERA_CONFIG = LaunchArgument("config", "franka.yaml", "parameter file in the package's config/")
CAMERA_NAMESPACE = LaunchArgument("namespace", "", "namespace for the node and its topics")
CAMERA_SOURCE = LaunchArgument(
    "source", "realsense", "realsense | realsense_file | sim | rosbag | folder"
)
CAMERA_FILE = LaunchArgument("file", "", "recording / bag / dataset for the file sources")
CAMERA_SERIAL = LaunchArgument("serial", "", "RealSense serial number (empty = first found)")

# --- what each launch file declares, in --show-args order ---------------------------------------
CELL_ARGUMENTS = (
    CELL_CONFIG,
    NAMESPACE,
    TARGET_OBJECT,
    USE_REALSENSE_DRIVER,
    DETECTOR,
    MODEL_PATH,
    DATABASE_PATH,
    EXECUTION,
)
# franka.launch.py, youbot.launch.py: the cell's, but the parameter file is the wrapper's own
ROBOT_CELL_ARGUMENTS = tuple(a for a in CELL_ARGUMENTS if a is not CELL_CONFIG)
FRANKA_MOVEIT_ARGUMENTS = (
    TARGET_OBJECT,
    USE_REALSENSE_DRIVER,
    DETECTOR,
    MODEL_PATH,
    DATABASE_PATH,
    START_MOVE_GROUP,
    USE_MOCK_HARDWARE,
    USE_SIM_TIME,
)
SIM_CELL_ARGUMENTS = (SIM_ROBOT, TARGET_OBJECT, SURFACE_HEIGHT)
# sim_franka.launch.py, sim_youbot.launch.py: sim_cell's, but the robot is the wrapper's own
SIM_ROBOT_ARGUMENTS = tuple(a for a in SIM_CELL_ARGUMENTS if a is not SIM_ROBOT)
CAMERA_ARGUMENTS = (CAMERA_CONFIG, CAMERA_NAMESPACE, CAMERA_SOURCE, CAMERA_FILE, CAMERA_SERIAL)


def declare(arguments: Iterable[LaunchArgument]) -> list[Any]:
    """``DeclareLaunchArgument`` actions for ``arguments``, in their order."""
    return [a.declare() for a in arguments]


def passed_on(arguments: Iterable[LaunchArgument]) -> dict[str, Any]:
    """``{name: LaunchConfiguration(name)}``: each argument handed on under its own name."""
    from launch.substitutions import LaunchConfiguration

    return {a.name: LaunchConfiguration(a.name) for a in arguments}


def wrapper_description(
    launch_file: str, fixed: Mapping[str, str], arguments: Iterable[LaunchArgument]
) -> Any:
    """The LaunchDescription of a wrapper: declares ``arguments`` (same names, defaults and
    descriptions as the included file, so ``--show-args`` lists them) and includes this package's
    ``launch/<launch_file>`` with ``fixed`` (e.g. ``{"config": "franka.yaml"}``) and every
    declared argument passed on."""
    from launch import LaunchDescription
    from launch.actions import IncludeLaunchDescription
    from launch.launch_description_sources import PythonLaunchDescriptionSource
    from launch.substitutions import PathJoinSubstitution
    from launch_ros.substitutions import FindPackageShare

    arguments = tuple(arguments)
    clash = sorted(set(fixed) & {a.name for a in arguments})
    if clash:
        raise ValueError(f"{launch_file}: {clash} both fixed and declared")
    included = PathJoinSubstitution([FindPackageShare("grasp_pipeline"), "launch", launch_file])
    return LaunchDescription(
        [
            *declare(arguments),
            IncludeLaunchDescription(
                PythonLaunchDescriptionSource(included),
                launch_arguments={**fixed, **passed_on(arguments)}.items(),
            ),
        ]
    )


def end_launch_on_exit(name: str) -> Callable[[Any, Any], list[Any] | None]:
    """``on_exit`` of a required process: ends the launch, logging which one exited and its code
    (nothing when the launch is already ending: Ctrl-C or another required process's exit)."""

    def on_exit(event: Any, context: Any) -> list[Any] | None:
        from launch.actions import LogInfo, Shutdown

        if context.is_shutdown:
            return None
        reason = (
            f"{name} exited with code {event.returncode}; it is required, so the launch ends "
            "(its log above says why)"
        )
        return [LogInfo(msg=reason), Shutdown(reason=reason)]

    return on_exit
