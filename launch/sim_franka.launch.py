"""Franka Emika Panda in Gazebo: sim_cell.launch.py with robot:=franka (config/sim_franka.yaml).

    ros2 launch grasp_pipeline sim_franka.launch.py target_object:=Motor

target_object and surface_height pass through to sim_cell.launch.py, which declares them.
Needs ros_gz_sim and ros_gz_bridge (apt install ros-$ROS_DISTRO-ros-gz).
"""

from launch import LaunchDescription
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare


def generate_launch_description() -> LaunchDescription:
    cell = PathJoinSubstitution(
        [FindPackageShare("grasp_pipeline"), "launch", "sim_cell.launch.py"]
    )
    return LaunchDescription(
        [
            IncludeLaunchDescription(
                PythonLaunchDescriptionSource(cell),
                launch_arguments={"robot": "franka"}.items(),
            )
        ]
    )
