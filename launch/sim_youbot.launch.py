"""KUKA youBot (wide gripper) in Gazebo: sim_cell.launch.py with robot:=youbot (config/sim_youbot.yaml).

    ros2 launch grasp_pipeline sim_youbot.launch.py target_object:=Motor

Declares and passes on every argument of sim_cell.launch.py but ``robot`` (same names, defaults
and descriptions), so ``--show-args`` lists them here. Gazebo's clock is bridged onto /clock and
every node runs with use_sim_time (see sim_cell.launch.py).
Needs ros_gz_sim and ros_gz_bridge (apt install ros-$ROS_DISTRO-ros-gz).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare

ROBOT = "youbot"


def generate_launch_description() -> LaunchDescription:
    cell = PathJoinSubstitution(
        [FindPackageShare("grasp_pipeline"), "launch", "sim_cell.launch.py"]
    )
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "target_object", default_value="", description="catalog object to pick ('' = any)"
            ),
            DeclareLaunchArgument(
                "surface_height",
                default_value="0.10",
                description="height of the service area surface above the floor (m)",
            ),
            IncludeLaunchDescription(
                PythonLaunchDescriptionSource(cell),
                launch_arguments={
                    "robot": ROBOT,
                    "target_object": LaunchConfiguration("target_object"),
                    "surface_height": LaunchConfiguration("surface_height"),
                }.items(),
            ),
        ]
    )
