"""ROS 2 glue: thin nodes that convert messages and call the core. Only this package imports rclpy."""
