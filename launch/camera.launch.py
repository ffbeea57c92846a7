"""Camera only: grasp_pipeline's camera_node (RealSense live / recording / simulator / rosbag).

ros2 launch grasp_pipeline camera.launch.py config:=franka.yaml
ros2 launch grasp_pipeline camera.launch.py source:=realsense_file file:=/data/take.db3
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def generate_launch_description() -> LaunchDescription:
    config = PathJoinSubstitution(
        [FindPackageShare("grasp_pipeline"), "config", LaunchConfiguration("config")]
    )
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "config",
                default_value="franka.yaml",
                description="parameter file in the package's config/",
            ),
            DeclareLaunchArgument(
                "namespace", default_value="", description="namespace for the node and its topics"
            ),
            DeclareLaunchArgument(
                "source",
                default_value="realsense",
                description="realsense | realsense_file | sim | rosbag | folder",
            ),
            DeclareLaunchArgument(
                "file",
                default_value="",
                description="recording / bag / dataset for the file sources",
            ),
            DeclareLaunchArgument(
                "serial",
                default_value="",
                description="RealSense serial number (empty = first found)",
            ),
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
