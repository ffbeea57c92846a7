"""Real Franka Emika Panda cell: cell.launch.py with config/franka.yaml.

    ros2 launch grasp_pipeline franka.launch.py
    ros2 launch grasp_pipeline franka.launch.py use_realsense_driver:=true target_object:=M20

Arguments not given here (namespace, target_object, use_realsense_driver) pass through to the
included cell.launch.py, which declares and describes them.
"""

from launch import LaunchDescription
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare


def generate_launch_description() -> LaunchDescription:
    cell = PathJoinSubstitution([FindPackageShare("grasp_pipeline"), "launch", "cell.launch.py"])
    return LaunchDescription(
        [
            IncludeLaunchDescription(
                PythonLaunchDescriptionSource(cell),
                launch_arguments={"config": "franka.yaml"}.items(),
            )
        ]
    )
