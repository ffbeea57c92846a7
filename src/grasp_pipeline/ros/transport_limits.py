"""How large a frame set the local DDS transport carries well (no rclpy: plain files and numbers).

Fast DDS hands local messages over a shared-memory segment (``segment_size`` of the SHM transport
in the profile named by ``FASTDDS_DEFAULT_PROFILES_FILE``; 512 KiB when no profile sets one). A
frame set larger than the segment is cut into fragments that compete for it; best-effort
subscribers then lose frames without any error on either side. Measured here with the shipped
16 MiB segment (two processes, colour + depth frame sets of each size in turn, ~6 Hz and as
fast as they went, 20 s each): 1280x720 and 1920x1080 (9.9 MiB) arrived complete, 2560x1440
(17.6 MiB) lost ~10 % of the colour frames, 3840x2160 (39.6 MiB) ~21-26 %. The camera node warns
with :func:`oversize_warning`.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path

FASTDDS_DEFAULT_SEGMENT = 512 * 1024  # bytes, Fast DDS SHM transport without a profile
_NOT_FASTDDS = ("cyclonedds", "connextdds", "zenoh", "gurumdds")


def shm_segment_bytes(profile: str | Path) -> int | None:
    """``segment_size`` (bytes) of the SHM transport declared in a Fast DDS XML profile.

    None when the profile declares no SHM transport or no segment size. Raises ValueError naming
    the file when it is not readable XML.
    """
    try:
        root = ET.parse(profile).getroot()
    except (OSError, ET.ParseError) as exc:
        raise ValueError(f"Fast DDS profile {profile}: {exc}") from exc
    sizes = []
    for desc in root.iter():
        if not desc.tag.endswith("transport_descriptor"):
            continue
        fields = {c.tag.rsplit("}", 1)[-1]: (c.text or "").strip() for c in desc}
        if fields.get("type", "").upper() == "SHM" and fields.get("segment_size", "").isdigit():
            sizes.append(int(fields["segment_size"]))
    return max(sizes) if sizes else None


def shm_segment_from_env(env: Mapping[str, str] | None = None) -> tuple[int, str] | None:
    """(segment bytes, where it comes from) for this process's Fast DDS set-up.

    None when the middleware is not Fast DDS, or the profile declares no SHM segment (then
    nothing here knows the limit).
    """
    env = os.environ if env is None else env
    rmw = env.get("RMW_IMPLEMENTATION", "")
    if any(name in rmw for name in _NOT_FASTDDS):
        return None
    profile = env.get("FASTDDS_DEFAULT_PROFILES_FILE", "")
    if not profile:
        return FASTDDS_DEFAULT_SEGMENT, "Fast DDS default (FASTDDS_DEFAULT_PROFILES_FILE not set)"
    try:
        size = shm_segment_bytes(profile)
    except ValueError:
        return None
    return (size, profile) if size is not None else None


def frame_set_bytes(width: int, height: int) -> int:
    """Bytes of one frame set on the wire: rgb8 colour + 16UC1 depth of ``width`` x ``height``."""
    return int(width) * int(height) * (3 + 2)


def oversize_warning(width: int, height: int, segment: tuple[int, str] | None) -> str | None:
    """A warning naming the problem when a ``width`` x ``height`` frame set exceeds the segment."""
    if segment is None:
        return None
    size, source = segment
    need = frame_set_bytes(width, height)
    if need <= size:
        return None
    mib = 1024 * 1024
    return (
        f"frame set {width}x{height} is {need / mib:.1f} MiB (colour {width * height * 3 / mib:.1f} "
        f"MiB), larger than the Fast DDS shared-memory segment ({size / mib:.1f} MiB, {source}): "
        "subscribers will silently lose frames; lower the resolution or raise segment_size "
        "in the Fast DDS profile"
    )
