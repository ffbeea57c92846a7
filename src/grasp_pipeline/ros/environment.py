"""The environment every process that starts ROS nodes here runs with.

Three variables, each set only when the user has not set it already:

* ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` - Fast DDS otherwise multicasts discovery to the
  network (``ROS_LOCALHOST_ONLY`` is ignored by Kilted).
* ``ROS_DOMAIN_ID`` - isolates one run from other ROS users of the machine.
* ``FASTDDS_DEFAULT_PROFILES_FILE`` - the shipped profile with a 16 MB shared-memory segment; the
  stock 512 KB segment is smaller than one 640x480 RGB frame and best-effort images drop to ~17 Hz.

It must be in place before ``rclpy.init`` (the domain) and before the first participant is created
(the Fast DDS profile is read once per process).

Processes that run concurrently on one machine (pytest-xdist workers, test runs in two checkouts,
benchmarks) each claim a domain of their own with :func:`claim_domain_id`.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from grasp_pipeline.paths import config_path

DEFAULT_DOMAIN_ID = 42
MAX_DOMAIN_ID = 232  # the highest domain Fast DDS maps to UDP ports
FASTDDS_PROFILE = "fastdds_shm.xml"
# one lock file per claimed domain, shared by every user of the machine
DOMAIN_LOCKS = Path(tempfile.gettempdir()) / "grasp_pipeline_ros_domains"

_claimed: tuple[int, int] | None = None  # (domain, fd of its held lock) of this process


def ros_env(domain_id: int | None = None, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of ``base`` (default ``os.environ``) completed with the variables above.

    ``domain_id`` overrides ``ROS_DOMAIN_ID`` when given. Raises ValueError for a domain outside
    0..232 (the range Fast DDS maps to UDP ports) and FileNotFoundError when the Fast DDS profile
    is missing from ``config/``.
    """
    env = dict(os.environ if base is None else base)
    if domain_id is not None:
        if not 0 <= int(domain_id) <= MAX_DOMAIN_ID:
            raise ValueError(f"ROS_DOMAIN_ID must be in 0..{MAX_DOMAIN_ID}, got {domain_id}")
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


def claim_domain_id(first: int | None = None, count: int = 10) -> int:
    """A ROS_DOMAIN_ID for this process's nodes that no other process on this machine has claimed:
    the first free one of ``first .. first + count - 1`` (``first`` defaults to the environment's
    ROS_DOMAIN_ID, else DEFAULT_DOMAIN_ID).

    The claim is an exclusive ``flock`` on ``DOMAIN_LOCKS/<id>.lock``, held until the process
    exits (the kernel drops it even when the process is killed), so two xdist workers, or test
    runs in two checkouts started with the same ROS_DOMAIN_ID, get different domains. A process
    claims once: later calls return the same domain. Child processes started with the domain in
    their environment share it without claiming. Raises RuntimeError naming the range when every
    domain in it is held, ValueError for a range outside 0..232.
    """
    global _claimed
    if _claimed is not None:
        return _claimed[0]
    import fcntl

    if first is None:
        first = int(os.environ.get("ROS_DOMAIN_ID", DEFAULT_DOMAIN_ID))
    last = first + count - 1
    if count < 1 or not 0 <= first <= last <= MAX_DOMAIN_ID:
        raise ValueError(f"domains {first}..{last} are not within 0..{MAX_DOMAIN_ID}")
    if not DOMAIN_LOCKS.is_dir():
        DOMAIN_LOCKS.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):  # like /tmp: every user claims here
            DOMAIN_LOCKS.chmod(0o1777)
    for domain in range(first, last + 1):
        try:
            fd = os.open(DOMAIN_LOCKS / f"{domain}.lock", os.O_RDONLY | os.O_CREAT, 0o666)
        except PermissionError:  # another user's directory: not claimable here
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        _claimed = (domain, fd)
        return domain
    raise RuntimeError(
        f"every ROS domain {first}..{last} is held by another process on this machine (locks in "
        f"{DOMAIN_LOCKS}); set ROS_DOMAIN_ID to the start of a free range"
    )
