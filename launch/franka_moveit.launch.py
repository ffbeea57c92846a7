"""Franka Emika Panda with MoveIt 2: move_group for the Panda from Jazzy's standard MoveIt config
(moveit_resources_panda_moveit_config, loaded with moveit_configs_utils.MoveItConfigsBuilder), the
camera, the detector and the grasp planner with ``execution: moveit``, which gets the same MoveIt
config (URDF, SRDF, kinematics.yaml, joint_limits.yaml, planning pipelines) as parameters and builds
moveit_py from it.

    ros2 launch grasp_pipeline franka_moveit.launch.py use_mock_hardware:=true   # no robot needed
    ros2 launch grasp_pipeline franka_moveit.launch.py start_move_group:=false   # robot bringup runs it

Needs MoveIt (apt install ros-$ROS_DISTRO-moveit ros-$ROS_DISTRO-moveit-py
ros-$ROS_DISTRO-moveit-resources-panda-moveit-config); without it the launch stops at once saying
so. Without MoveIt, plan with ``ros2 launch grasp_pipeline franka.launch.py execution:=kinematic``.
Every node is required: when one exits the launch ends, naming it and its exit code.
"""

from launch import LaunchDescription
from launch.actions import IncludeLaunchDescription, OpaqueFunction
from launch.conditions import IfCondition, UnlessCondition
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from grasp_pipeline.ros.launch_description import (
    FRANKA_MOVEIT_ARGUMENTS,
    declare,
    end_launch_on_exit,
)

CONFIG = "franka.yaml"
MOVEIT_CONFIG_PACKAGE = "moveit_resources_panda_moveit_config"
CAMERA_TOPICS = (
    "camera/color/image_raw",
    "camera/color/camera_info",
    "camera/aligned_depth_to_color/image_raw",
)
MISSING_MOVEIT = (
    "franka_moveit.launch.py needs MoveIt's launch helpers (moveit_configs_utils) and the Panda's "
    "MoveIt config ({pkg}): sudo apt install ros-$ROS_DISTRO-moveit ros-$ROS_DISTRO-moveit-py "
    "ros-$ROS_DISTRO-moveit-resources-panda-moveit-config, then source "
    "/opt/ros/$ROS_DISTRO/setup.bash. Without MoveIt: ros2 launch grasp_pipeline franka.launch.py "
    "execution:=kinematic ({why})"
)


def moveit_configs():
    """The Panda's MoveIt config (MoveItConfigs); RuntimeError naming what to install."""
    try:
        from moveit_configs_utils import MoveItConfigsBuilder
    except ImportError as exc:
        raise RuntimeError(MISSING_MOVEIT.format(pkg=MOVEIT_CONFIG_PACKAGE, why=exc)) from exc
    try:
        return (
            MoveItConfigsBuilder("moveit_resources_panda", package_name=MOVEIT_CONFIG_PACKAGE)
            .robot_description_semantic(file_path="config/panda.srdf")
            .trajectory_execution(file_path="config/gripper_moveit_controllers.yaml")
            .planning_pipelines(pipelines=["ompl", "pilz_industrial_motion_planner"])
            .to_moveit_configs()
        )
    except Exception as exc:  # PackageNotFoundError and friends: say which package is missing
        raise RuntimeError(MISSING_MOVEIT.format(pkg=MOVEIT_CONFIG_PACKAGE, why=exc)) from exc


def _nodes(context):
    moveit = moveit_configs()
    moveit_params = moveit.to_dict()
    sim_time = {"use_sim_time": LaunchConfiguration("use_sim_time")}
    config = PathJoinSubstitution([FindPackageShare("grasp_pipeline"), "config", CONFIG])
    target = {"target_object": LaunchConfiguration("target_object")}
    driver = IfCondition(LaunchConfiguration("use_realsense_driver"))
    # the official driver nests its topics one level deeper (/camera/camera/...)
    driver_remaps = [(t, f"/camera/{t}") for t in CAMERA_TOPICS]
    given = {
        n: v
        for n in ("detector", "model_path", "database_path")
        if (v := context.launch_configurations.get(n, ""))
    }
    mock = IfCondition(LaunchConfiguration("use_mock_hardware"))
    controllers = PathJoinSubstitution(
        [FindPackageShare(MOVEIT_CONFIG_PACKAGE), "config/ros2_controllers.yaml"]
    )
    return [
        Node(
            package="moveit_ros_move_group",
            executable="move_group",
            parameters=[moveit_params, sim_time],
            condition=IfCondition(LaunchConfiguration("start_move_group")),
            on_exit=end_launch_on_exit("move_group"),
            output="screen",
        ),
        # the robot's TF from /joint_states (the real robot's bringup runs its own)
        Node(
            package="robot_state_publisher",
            executable="robot_state_publisher",
            parameters=[moveit.robot_description, sim_time],
            condition=IfCondition(LaunchConfiguration("start_move_group")),
            output="screen",
        ),
        # no robot: ros2_control with mock hardware serves the arm and hand controllers
        Node(
            package="controller_manager",
            executable="ros2_control_node",
            parameters=[moveit.robot_description, controllers, sim_time],
            condition=mock,
            output="screen",
        ),
        *(
            Node(
                package="controller_manager",
                executable="spawner",
                arguments=[c, "--controller-manager", "/controller_manager"],
                parameters=[sim_time],
                condition=mock,
                output="screen",
            )
            for c in ("joint_state_broadcaster", "panda_arm_controller", "panda_hand_controller")
        ),
        Node(
            package="grasp_pipeline",
            executable="camera_node",
            name="camera_node",
            parameters=[config, sim_time],
            condition=UnlessCondition(LaunchConfiguration("use_realsense_driver")),
            on_exit=end_launch_on_exit("camera_node"),
            output="screen",
        ),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(
                PathJoinSubstitution(
                    [FindPackageShare("realsense2_camera"), "launch", "rs_launch.py"]
                )
            ),
            launch_arguments={"align_depth.enable": "true", "pointcloud.enable": "false"}.items(),
            condition=driver,
        ),
        Node(
            package="grasp_pipeline",
            executable="detector_node",
            name="detector_node",
            parameters=[config, {**target, **given}, sim_time],
            remappings=driver_remaps if driver.evaluate(context) else [],
            on_exit=end_launch_on_exit("detector_node"),
            output="screen",
        ),
        # the MoveIt config reaches moveit_py through the planner's parameters (a --params-file)
        Node(
            package="grasp_pipeline",
            executable="grasp_planner_node",
            name="grasp_planner_node",
            parameters=[config, {**target, "execution": "moveit"}, moveit_params, sim_time],
            on_exit=end_launch_on_exit("grasp_planner_node"),
            output="screen",
        ),
    ]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([*declare(FRANKA_MOVEIT_ARGUMENTS), OpaqueFunction(function=_nodes)])
