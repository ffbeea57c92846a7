"""The PyBullet RoboCup@Work cell: world, objects, simulated RealSense cameras, robots."""
