"""Franka in Gazebo (gz sim): the RoboCup@Work world generated from the object catalog, the Panda
spawned from its URDF, the world's RGB-D camera bridged onto the realsense2_camera topic names,
and grasp_pipeline's detector and planner (kinematic execution; pair with MoveIt + gz_ros2_control
for motion in Gazebo).

    ros2 launch grasp_pipeline sim_franka.launch.py target_object:=Motor

Needs ros_gz_sim and ros_gz_bridge (apt install ros-$ROS_DISTRO-ros-gz).
"""

import os
import tempfile

from launch import LaunchDescription
from launch.actions import (
    DeclareLaunchArgument,
    ExecuteProcess,
    OpaqueFunction,
    SetEnvironmentVariable,
)
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

ROBOT = "franka"
CONFIG = "sim_franka.yaml"
BASE_FRAME = "panda_link0"
# Robot base in the world (the table centre is the origin) and the world camera in the base frame:
# the generated camera hangs 0.55 m above the surface centre looking down, image x along world -y.
BASE_XYZ = (-0.55, 0.0, 0.10)
CAMERA_POSE_BASE = [0.55, 0.0, 0.55, 0.7071068, -0.7071068, 0.0, 0.0]


def _world_and_robot(context, *args, **kwargs):
    from grasp_pipeline.gazebo.sdf import write_world

    out = os.path.join(tempfile.gettempdir(), "grasp_pipeline_gazebo")
    surface = float(LaunchConfiguration("surface_height").perform(context))
    paths = write_world(out, surface_height=surface)
    if ROBOT == "franka":
        from grasp_pipeline.grasping.robots.panda import panda_urdf_path

        urdf = str(panda_urdf_path())
    else:
        from grasp_pipeline.grasping.robots.youbot import youbot_urdf_path

        urdf = str(youbot_urdf_path("wide"))
    x, y, z = BASE_XYZ
    return [
        SetEnvironmentVariable("GZ_SIM_RESOURCE_PATH", os.path.join(out, "models")),
        ExecuteProcess(cmd=["gz", "sim", "-r", str(paths["world"])], output="screen"),
        Node(
            package="ros_gz_sim",
            executable="create",
            arguments=["-name", ROBOT, "-file", urdf, "-x", str(x), "-y", str(y), "-z", str(z)],
            output="screen",
        ),
    ]


def generate_launch_description() -> LaunchDescription:
    config = PathJoinSubstitution([FindPackageShare("grasp_pipeline"), "config", CONFIG])
    target = {"target_object": LaunchConfiguration("target_object")}
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "target_object", default_value="", description="catalog object to pick ('' = any)"
            ),
            DeclareLaunchArgument(
                "surface_height", default_value="0.10", description="service area height (m)"
            ),
            OpaqueFunction(function=_world_and_robot),
            Node(
                package="ros_gz_bridge",
                executable="parameter_bridge",
                arguments=[
                    "/camera/image@sensor_msgs/msg/Image[gz.msgs.Image",
                    "/camera/depth_image@sensor_msgs/msg/Image[gz.msgs.Image",
                    "/camera/camera_info@sensor_msgs/msg/CameraInfo[gz.msgs.CameraInfo",
                ],
                remappings=[
                    ("/camera/image", "/camera/color/image_raw"),
                    ("/camera/depth_image", "/camera/aligned_depth_to_color/image_raw"),
                    ("/camera/camera_info", "/camera/color/camera_info"),
                ],
                output="screen",
            ),
            Node(
                package="grasp_pipeline",
                executable="detector_node",
                name="detector_node",
                parameters=[config, target, {"sync_tolerance_ms": 5.0}],
                output="screen",
            ),
            Node(
                package="grasp_pipeline",
                executable="grasp_planner_node",
                name="grasp_planner_node",
                parameters=[
                    config,
                    target,
                    {
                        "execution": "kinematic",
                        "base_frame": BASE_FRAME,
                        "camera_pose_base": CAMERA_POSE_BASE,
                    },
                ],
                output="screen",
            ),
        ]
    )
