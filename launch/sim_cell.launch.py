"""A robot in Gazebo (gz sim): the RoboCup@Work world generated from the object catalog, the robot
(Franka Panda or youBot with the wide gripper) spawned from its URDF, the world's RGB-D camera bridged onto the realsense2_camera topic names,
and grasp_pipeline's detector and planner (kinematic execution; pair with MoveIt + gz_ros2_control
for motion in Gazebo).

    ros2 launch grasp_pipeline sim_cell.launch.py robot:=youbot target_object:=Motor
    ros2 launch grasp_pipeline sim_franka.launch.py   # = robot:=franka

Time: Gazebo's clock is bridged onto ``/clock`` and every ROS node here runs with
``use_sim_time: true``, so image stamps, detection ages (the planner's ``max_age_s``) and TF all
follow simulation time, whatever the real-time factor.

Needs ros_gz_sim and ros_gz_bridge (apt install ros-$ROS_DISTRO-ros-gz).
"""

import os
import tempfile

from launch import LaunchDescription
from launch.actions import ExecuteProcess, OpaqueFunction, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from grasp_pipeline.ros.launch_description import SIM_CELL_ARGUMENTS, declare, end_launch_on_exit

# Per robot: parameter file, base frame, base in the world (the table centre is the origin) and the
# world camera in the base frame: the generated camera hangs above the surface centre looking down,
# image x along world -y.
ROBOTS = {
    "franka": {
        "config": "sim_franka.yaml",
        "base_frame": "panda_link0",
        "base_xyz": (-0.55, 0.0, 0.10),
        "camera_pose_base": [0.55, 0.0, 0.55, 0.7071068, -0.7071068, 0.0, 0.0],
    },
    "youbot": {
        "config": "sim_youbot.yaml",
        "base_frame": "arm_link_0",
        "base_xyz": (-0.44, 0.0, 0.18),
        "camera_pose_base": [0.44, 0.0, 0.47, 0.7071068, -0.7071068, 0.0, 0.0],
    },
}
# every ROS node of the simulated cell follows Gazebo's clock (bridged onto /clock below)
SIM_TIME = {"use_sim_time": True}
# gz -> ROS: the clock and the world camera (ros_gz_bridge parameter_bridge syntax)
BRIDGED = (
    "/clock@rosgraph_msgs/msg/Clock[gz.msgs.Clock",
    "/camera/image@sensor_msgs/msg/Image[gz.msgs.Image",
    "/camera/depth_image@sensor_msgs/msg/Image[gz.msgs.Image",
    "/camera/camera_info@sensor_msgs/msg/CameraInfo[gz.msgs.CameraInfo",
)


def _cell(context, *args, **kwargs):
    from grasp_pipeline.gazebo.sdf import write_world

    robot = LaunchConfiguration("robot").perform(context)
    if robot not in ROBOTS:
        raise ValueError(f"robot:={robot!r} is not one of {sorted(ROBOTS)}")
    spec = ROBOTS[robot]

    out = os.path.join(tempfile.gettempdir(), "grasp_pipeline_gazebo")
    surface = float(LaunchConfiguration("surface_height").perform(context))
    paths = write_world(out, surface_height=surface)
    if robot == "franka":
        from grasp_pipeline.grasping.robots.panda import panda_urdf_path

        try:  # the Panda with its meshes comes with pybullet_data
            urdf = str(panda_urdf_path())
        except ImportError as exc:
            raise RuntimeError(
                "robot:=franka spawns pybullet_data's Panda URDF (meshes included): pip install "
                "pybullet (setup.py extra [sim]; on Python 3.12 pip builds it from source), or "
                f"use robot:=youbot, whose URDF ships with grasp_pipeline ({exc})"
            ) from exc
    else:
        from grasp_pipeline.grasping.robots.youbot import youbot_urdf_path

        urdf = str(youbot_urdf_path("wide"))
    x, y, z = spec["base_xyz"]
    config = PathJoinSubstitution([FindPackageShare("grasp_pipeline"), "config", spec["config"]])
    target = {"target_object": LaunchConfiguration("target_object")}
    return [
        SetEnvironmentVariable("GZ_SIM_RESOURCE_PATH", os.path.join(out, "models")),
        ExecuteProcess(
            cmd=["gz", "sim", "-r", str(paths["world"])],
            on_exit=end_launch_on_exit("gz sim"),
            output="screen",
        ),
        Node(
            package="ros_gz_sim",
            executable="create",
            arguments=["-name", robot, "-file", urdf, "-x", str(x), "-y", str(y), "-z", str(z)],
            parameters=[SIM_TIME],
            output="screen",
        ),
        Node(
            package="grasp_pipeline",
            executable="detector_node",
            name="detector_node",
            parameters=[config, target, {"sync_tolerance_ms": 5.0}, SIM_TIME],
            on_exit=end_launch_on_exit("detector_node"),
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
                    "base_frame": spec["base_frame"],
                    "camera_pose_base": spec["camera_pose_base"],
                },
                SIM_TIME,
            ],
            on_exit=end_launch_on_exit("grasp_planner_node"),
            output="screen",
        ),
    ]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription(
        [
            *declare(SIM_CELL_ARGUMENTS),
            OpaqueFunction(function=_cell),
            Node(
                package="ros_gz_bridge",
                executable="parameter_bridge",
                arguments=list(BRIDGED),
                parameters=[SIM_TIME],
                remappings=[
                    ("/camera/image", "/camera/color/image_raw"),
                    ("/camera/depth_image", "/camera/aligned_depth_to_color/image_raw"),
                    ("/camera/camera_info", "/camera/color/camera_info"),
                ],
                output="screen",
            ),
        ]
    )
