"""Camera models and rigid-body geometry (numpy only, no ROS)."""
