"""Real KUKA youBot cell: cell.launch.py with config/youbot.yaml.

    ros2 launch grasp_pipeline youbot.launch.py
    ros2 launch grasp_pipeline youbot.launch.py use_realsense_driver:=true target_object:=M20
    ros2 launch grasp_pipeline youbot.launch.py execution:=kinematic   # no MoveIt installed
    ros2 launch grasp_pipeline youbot.launch.py model_path:=/data/segnet/best.pt

Every argument is passed on to cell.launch.py (same names, same meaning); detector, model_path,
database_path and execution left empty keep config/youbot.yaml's values.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare

CONFIG = "youbot.yaml"


def generate_launch_description() -> LaunchDescription:
    cell = PathJoinSubstitution([FindPackageShare("grasp_pipeline"), "launch", "cell.launch.py"])
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "namespace", default_value="", description="namespace of all nodes and topics"
            ),
            DeclareLaunchArgument(
                "target_object", default_value="", description="catalog object to pick ('' = any)"
            ),
            DeclareLaunchArgument(
                "use_realsense_driver",
                default_value="false",
                description="start realsense2_camera (align_depth on) instead of grasp_pipeline's camera_node",
            ),
            DeclareLaunchArgument(
                "detector",
                default_value="",
                choices=["", "segnet", "descriptors"],
                description="detector_node's detector ('' = the parameter file's, segnet)",
            ),
            DeclareLaunchArgument(
                "model_path",
                default_value="",
                description="detector checkpoint: absolute, or relative to the package share "
                "directory like models/segnet/model.pt ('' = the parameter file's)",
            ),
            DeclareLaunchArgument(
                "database_path",
                default_value="",
                description="descriptor database for detector:=descriptors: absolute, or "
                "relative to the package share directory ('' = the parameter file's)",
            ),
            DeclareLaunchArgument(
                "execution",
                default_value="",
                choices=["", "moveit", "kinematic", "sim"],
                description="grasp planner's motion backend: moveit (needs moveit_py), kinematic "
                "(embedded planner, moves no robot) or sim (embedded planner, PyBullet cell) "
                "('' = the parameter file's, moveit)",
            ),
            IncludeLaunchDescription(
                PythonLaunchDescriptionSource(cell),
                launch_arguments={
                    "config": CONFIG,
                    "namespace": LaunchConfiguration("namespace"),
                    "target_object": LaunchConfiguration("target_object"),
                    "use_realsense_driver": LaunchConfiguration("use_realsense_driver"),
                    "detector": LaunchConfiguration("detector"),
                    "model_path": LaunchConfiguration("model_path"),
                    "database_path": LaunchConfiguration("database_path"),
                    "execution": LaunchConfiguration("execution"),
                }.items(),
            ),
        ]
    )
