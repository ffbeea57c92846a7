"""KUKA youBot (wide gripper) in Gazebo: sim_cell.launch.py with robot:=youbot (config/sim_youbot.yaml).

    ros2 launch grasp_pipeline sim_youbot.launch.py target_object:=Motor

Declares and passes on every argument of sim_cell.launch.py but ``robot`` (same names, defaults
and descriptions), so ``--show-args`` lists them here. Gazebo's clock is bridged onto /clock and
every node runs with use_sim_time (see sim_cell.launch.py).
Needs ros_gz_sim and ros_gz_bridge (apt install ros-$ROS_DISTRO-ros-gz).
"""

from launch import LaunchDescription

from grasp_pipeline.ros.launch_description import SIM_ROBOT_ARGUMENTS, wrapper_description

ROBOT = "youbot"


def generate_launch_description() -> LaunchDescription:
    return wrapper_description("sim_cell.launch.py", {"robot": ROBOT}, SIM_ROBOT_ARGUMENTS)
