"""Runners above the nodes: composition of the node stack (one process or several), the demo's
ROS client of the cell. The core and the nodes never import this package."""
