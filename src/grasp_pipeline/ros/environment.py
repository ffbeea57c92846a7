"""The environment every process that starts ROS nodes here runs with.

Three variables, each set only when the user has not set it already:

* ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` - Fast DDS otherwise multicasts discovery to the
  network (``ROS_LOCALHOST_ONLY`` is ignored by Kilted).
* ``ROS_DOMAIN_ID`` - isolates one run from other ROS users of the machine.
* ``FASTDDS_DEFAULT_PROFILES_FILE`` - the shipped profile with a 16 MB shared-memory segment; the
  stock 512 KB segment is smaller than one 640x480 RGB frame and best-effort images drop to ~17 Hz.

It must be in place before ``rclpy.init`` (the domain) and before the first participant is created
(the Fast DDS profile is read once per process).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from grasp_pipeline.paths import config_path

DEFAULT_DOMAIN_ID = 42
FASTDDS_PROFILE = "fastdds_shm.xml"


def ros_env(domain_id: int | None = None, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of ``base`` (default ``os.environ``) completed with the variables above.

    ``domain_id`` overrides ``ROS_DOMAIN_ID`` when given. Raises ValueError for a domain outside
    0..232 (the range Fast DDS maps to UDP ports) and FileNotFoundError when the Fast DDS profile
    is missing from ``config/``.
    """
    env = dict(os.environ if base is None else base)
    if domain_id is not None:
        if not 0 <= int(domain_id) <= 232:
            raise ValueError(f"ROS_DOMAIN_ID must be in 0..232, got {domain_id}")
        env["ROS_DOMAIN_ID"] = str(int(domain_id))
    env.setdefault("ROS_DOMAIN_ID", str(DEFAULT_DOMAIN_ID))
    env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    env.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    if not env.get("FASTDDS_DEFAULT_PROFILES_FILE"):
        env["FASTDDS_DEFAULT_PROFILES_FILE"] = str(config_path(FASTDDS_PROFILE))
    return env


def apply_ros_env(domain_id: int | None = None) -> dict[str, str]:
    """Write :func:`ros_env` into ``os.environ`` of this process; returns what was set."""
    env = ros_env(domain_id)
    changed = {k: v for k, v in env.items() if os.environ.get(k) != v}
    os.environ.update(changed)
    return changed
