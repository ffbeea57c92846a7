"""QoS profiles chosen on purpose, in one place.

* Images and camera_info: best effort, keep the last few, volatile (``qos_profile_sensor_data``,
  what realsense2_camera uses). A late frame is worthless: never retransmit, never queue.
  Subscribers with this profile also match reliable publishers.
* Results (detections, poses, markers): reliable, keep last 10 - consumers act on them and a lost
  detection means a missed pick; they are small.
* State that late joiners need (the current grasp pose): reliable + transient local, depth 1.
"""

from __future__ import annotations

from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)

SENSOR = qos_profile_sensor_data
RESULTS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=10,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)
LATCHED = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)
