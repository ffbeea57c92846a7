"""Real Franka Emika Panda cell: cell.launch.py with config/franka.yaml.

    ros2 launch grasp_pipeline franka.launch.py
    ros2 launch grasp_pipeline franka.launch.py use_realsense_driver:=true target_object:=M20
    ros2 launch grasp_pipeline franka.launch.py execution:=kinematic   # no MoveIt installed
    ros2 launch grasp_pipeline franka.launch.py model_path:=/data/segnet/best.pt

Every argument is passed on to cell.launch.py (same names, same meaning); detector, model_path,
database_path and execution left empty keep config/franka.yaml's values.
"""

from launch import LaunchDescription

from grasp_pipeline.ros.launch_description import ROBOT_CELL_ARGUMENTS, wrapper_description

CONFIG = "franka.yaml"


def generate_launch_description() -> LaunchDescription:
    return wrapper_description("cell.launch.py", {"config": CONFIG}, ROBOT_CELL_ARGUMENTS)
