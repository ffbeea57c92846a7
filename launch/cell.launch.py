"""A real cell: camera (ours or the official realsense2_camera driver), detector, grasp planner.

The robot is chosen by the parameter file; franka.launch.py and youbot.launch.py include this file
with theirs:

    ros2 launch grasp_pipeline cell.launch.py config:=franka.yaml
    ros2 launch grasp_pipeline franka.launch.py use_realsense_driver:=true target_object:=M20

With ``use_realsense_driver`` the official driver publishes under /camera/camera/...; the detector's
camera topics are remapped there. MoveIt (moveit_py) must be running for ``execution: moveit``.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.conditions import IfCondition, UnlessCondition
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

CAMERA_TOPICS = (
    "camera/color/image_raw",
    "camera/color/camera_info",
    "camera/aligned_depth_to_color/image_raw",
)


def generate_launch_description() -> LaunchDescription:
    config = PathJoinSubstitution(
        [FindPackageShare("grasp_pipeline"), "config", LaunchConfiguration("config")]
    )
    driver = IfCondition(LaunchConfiguration("use_realsense_driver"))
    # the official driver nests its topics one level deeper (/camera/camera/...)
    driver_remaps = [(t, f"/camera/{t}") for t in CAMERA_TOPICS]
    target = {"target_object": LaunchConfiguration("target_object")}
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "config",
                default_value="franka.yaml",
                description="parameter file in the package's config/ (franka.yaml, youbot.yaml)",
            ),
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
            Node(
                package="grasp_pipeline",
                executable="camera_node",
                name="camera_node",
                namespace=LaunchConfiguration("namespace"),
                parameters=[config],
                condition=UnlessCondition(LaunchConfiguration("use_realsense_driver")),
                output="screen",
            ),
            IncludeLaunchDescription(
                PythonLaunchDescriptionSource(
                    PathJoinSubstitution(
                        [FindPackageShare("realsense2_camera"), "launch", "rs_launch.py"]
                    )
                ),
                launch_arguments={
                    "align_depth.enable": "true",
                    "pointcloud.enable": "false",
                }.items(),
                condition=driver,
            ),
            Node(
                package="grasp_pipeline",
                executable="detector_node",
                name="detector_node",
                namespace=LaunchConfiguration("namespace"),
                parameters=[config, target],
                condition=UnlessCondition(LaunchConfiguration("use_realsense_driver")),
                output="screen",
            ),
            Node(
                package="grasp_pipeline",
                executable="detector_node",
                name="detector_node",
                namespace=LaunchConfiguration("namespace"),
                parameters=[config, target],
                remappings=driver_remaps,
                condition=driver,
                output="screen",
            ),
            Node(
                package="grasp_pipeline",
                executable="grasp_planner_node",
                name="grasp_planner_node",
                namespace=LaunchConfiguration("namespace"),
                parameters=[config, target],
                output="screen",
            ),
        ]
    )
