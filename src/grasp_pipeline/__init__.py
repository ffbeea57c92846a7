"""grasp_pipeline: RGB-D perception and grasping for RoboCup@Work cells (ROS 2, Franka Panda, KUKA youBot)."""

__version__ = "0.1.0"

# before anything imports torch: its OpenMP threads give way quickly to other processes
# (perception.threads)
from grasp_pipeline.perception.threads import short_openmp_spin as _short_openmp_spin

_short_openmp_spin()
