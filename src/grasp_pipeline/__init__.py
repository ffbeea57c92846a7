"""grasp_pipeline: RGB-D perception and grasping for RoboCup@Work cells (ROS 2, Franka Panda, KUKA youBot)."""

__version__ = "0.1.0"
