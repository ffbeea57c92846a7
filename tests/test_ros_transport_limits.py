"""Frame-set size against the Fast DDS shared-memory segment (plain files and numbers)."""

from __future__ import annotations

import pytest

from grasp_pipeline.paths import config_path
from grasp_pipeline.ros.transport_limits import (
    FASTDDS_DEFAULT_SEGMENT,
    frame_set_bytes,
    oversize_warning,
    shm_segment_bytes,
    shm_segment_from_env,
)

SHIPPED = str(config_path("fastdds_shm.xml"))


def test_segment_of_the_shipped_profile() -> None:
    assert shm_segment_bytes(SHIPPED) == 16 * 1024 * 1024
    assert shm_segment_from_env({"FASTDDS_DEFAULT_PROFILES_FILE": SHIPPED}) == (16777216, SHIPPED)


def test_profile_without_shm_and_broken_profiles(tmp_path) -> None:
    udp = tmp_path / "udp.xml"
    udp.write_text(
        '<dds xmlns="http://www.eprosima.com"><profiles><transport_descriptors>'
        "<transport_descriptor><transport_id>u</transport_id><type>UDPv4</type>"
        "</transport_descriptor></transport_descriptors></profiles></dds>"
    )
    assert shm_segment_bytes(udp) is None
    assert shm_segment_from_env({"FASTDDS_DEFAULT_PROFILES_FILE": str(udp)}) is None
    bad = tmp_path / "bad.xml"
    bad.write_text("<dds>")
    with pytest.raises(ValueError, match=r"bad\.xml"):
        shm_segment_bytes(bad)
    assert shm_segment_from_env({"FASTDDS_DEFAULT_PROFILES_FILE": str(bad)}) is None


def test_env_without_profile_or_with_another_middleware() -> None:
    size, source = shm_segment_from_env({})
    assert size == FASTDDS_DEFAULT_SEGMENT == 524288 and "not set" in source
    assert shm_segment_from_env({"RMW_IMPLEMENTATION": "rmw_cyclonedds_cpp"}) is None


def test_oversize_warning_numbers() -> None:
    seg = (16 * 1024 * 1024, "config/fastdds_shm.xml")
    assert frame_set_bytes(640, 480) == 640 * 480 * 5 == 1_536_000
    assert oversize_warning(1920, 1080, seg) is None  # 9.9 MiB: fits (measured: no loss)
    text = oversize_warning(3840, 2160, seg)
    assert text.startswith("frame set 3840x2160 is 39.6 MiB (colour 23.7 MiB)")
    assert "segment (16.0 MiB, config/fastdds_shm.xml)" in text and "lower the resolution" in text
    assert oversize_warning(2560, 1440, seg) is not None  # 17.6 MiB: measured ~10 % loss
    assert oversize_warning(640, 480, (FASTDDS_DEFAULT_SEGMENT, "default")) is not None
    assert oversize_warning(3840, 2160, None) is None  # limit unknown: nothing to say
