"""Gazebo (gz sim) world and object models generated from the object catalog."""
