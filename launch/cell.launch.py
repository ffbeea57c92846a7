"""A cell: camera (ours or the official realsense2_camera driver), detector, grasp planner; for a
simulated cell (a parameter file with a ``sim_node`` section, e.g. sim_franka.yaml) the simulator
node instead of the camera: it serves the camera topics and the robot's action interfaces.

The robot is chosen by the parameter file; franka.launch.py and youbot.launch.py include this file
with theirs:

    ros2 launch grasp_pipeline cell.launch.py config:=franka.yaml
    ros2 launch grasp_pipeline cell.launch.py config:=sim_franka.yaml
    ros2 launch grasp_pipeline franka.launch.py use_realsense_driver:=true target_object:=M20
    ros2 launch grasp_pipeline franka.launch.py execution:=kinematic model_path:=/data/my.pt

With ``use_realsense_driver`` the official driver publishes under /camera/camera/...; the detector's
camera topics are remapped there. MoveIt (moveit_py) must be running for ``execution: moveit``;
without it, ``execution:=kinematic`` plans with the embedded planner.

``detector``, ``model_path``, ``database_path`` and ``execution`` left empty keep the parameter
file's values; relative paths are looked up in the package share directory (where ``models/`` is
installed), whatever the working directory. Each node is required: when one exits, the launch ends
and logs which node and its exit code (the node's own log line above says why).
"""

from launch import LaunchDescription
from launch.actions import IncludeLaunchDescription, OpaqueFunction
from launch.conditions import IfCondition, UnlessCondition
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from grasp_pipeline.ros.launch_description import CELL_ARGUMENTS, declare, end_launch_on_exit

CAMERA_TOPICS = (
    "camera/color/image_raw",
    "camera/color/camera_info",
    "camera/aligned_depth_to_color/image_raw",
)


def _given(context, *names: str) -> dict[str, str]:
    """The launch arguments among ``names`` that were set (empty = keep the parameter file's)."""
    return {n: v for n in names if (v := context.launch_configurations.get(n, ""))}


def _simulated(path: str) -> bool:
    """Whether the parameter file configures the simulator node (a simulated cell)."""
    import yaml

    with open(path) as f:
        data = yaml.safe_load(f) or {}
    return any(str(k).rstrip("/").split("/")[-1] == "sim_node" for k in data)


def _nodes(context):
    config = PathJoinSubstitution(
        [FindPackageShare("grasp_pipeline"), "config", LaunchConfiguration("config")]
    )
    sim = _simulated(config.perform(context))
    namespace = LaunchConfiguration("namespace")
    driver = IfCondition(LaunchConfiguration("use_realsense_driver"))
    # the official driver nests its topics one level deeper (/camera/camera/...)
    driver_remaps = [(t, f"/camera/{t}") for t in CAMERA_TOPICS]
    target = {"target_object": LaunchConfiguration("target_object")}
    detector = {**target, **_given(context, "detector", "model_path", "database_path")}
    planner = {**target, **_given(context, "execution")}
    no_driver = UnlessCondition(LaunchConfiguration("use_realsense_driver"))
    # a simulated cell: the simulator node serves the camera topics (and the robot's actions)
    camera = (
        Node(
            package="grasp_pipeline",
            executable="sim_node",
            name="sim_node",
            namespace=namespace,
            parameters=[config],
            condition=no_driver,
            on_exit=end_launch_on_exit("sim_node"),
            output="screen",
        )
        if sim
        else Node(
            package="grasp_pipeline",
            executable="camera_node",
            name="camera_node",
            namespace=namespace,
            parameters=[config],
            condition=no_driver,
            on_exit=end_launch_on_exit("camera_node"),
            output="screen",
        )
    )
    return [
        camera,
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
            namespace=namespace,
            parameters=[config, detector],
            remappings=driver_remaps if driver.evaluate(context) else [],
            on_exit=end_launch_on_exit("detector_node"),
            output="screen",
        ),
        Node(
            package="grasp_pipeline",
            executable="grasp_planner_node",
            name="grasp_planner_node",
            namespace=namespace,
            parameters=[config, planner],
            on_exit=end_launch_on_exit("grasp_planner_node"),
            output="screen",
        ),
    ]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([*declare(CELL_ARGUMENTS), OpaqueFunction(function=_nodes)])
