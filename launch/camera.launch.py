"""Camera only: grasp_pipeline's camera_node (RealSense live / recording / simulator / rosbag).

ros2 launch grasp_pipeline camera.launch.py config:=franka.yaml
ros2 launch grasp_pipeline camera.launch.py source:=realsense_file file:=/data/take.db3
"""

from launch import LaunchDescription
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from grasp_pipeline.ros.launch_description import CAMERA_ARGUMENTS, declare


def generate_launch_description() -> LaunchDescription:
    config = PathJoinSubstitution(
        [FindPackageShare("grasp_pipeline"), "config", LaunchConfiguration("config")]
    )
    return LaunchDescription(
        [
            *declare(CAMERA_ARGUMENTS),
            Node(
                package="grasp_pipeline",
                executable="camera_node",
                name="camera_node",
                namespace=LaunchConfiguration("namespace"),
                parameters=[
                    config,
                    {
                        "source": LaunchConfiguration("source"),
                        "file": LaunchConfiguration("file"),
                        "serial": LaunchConfiguration("serial"),
                    },
                ],
                output="screen",
            ),
        ]
    )
