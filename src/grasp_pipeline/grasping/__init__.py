"""Grasp synthesis, robot models and motion backends (no rclpy)."""
