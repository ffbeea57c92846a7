"""Frame sources behind one camera interface: RealSense live/playback, simulator, rosbag2, folders."""
