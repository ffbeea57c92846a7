"""The repo root is one ament_python package that pip and colcon can both build."""

import ast
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ROS_PACKAGES = {
    "rclpy",
    "sensor_msgs",
    "geometry_msgs",
    "std_msgs",
    "std_srvs",
    "visualization_msgs",
    "vision_msgs",
    "builtin_interfaces",
    "launch",
    "launch_ros",
    "tf2_ros",
    "moveit",
    "ament_index_python",
}


def _package_xml() -> ET.Element:
    return ET.parse(ROOT / "package.xml").getroot()


def test_package_xml_is_format3_ament_python() -> None:
    root = _package_xml()
    assert root.get("format") == "3"
    assert root.findtext("name") == "grasp_pipeline"
    assert root.find("export/build_type").text == "ament_python"
    assert (ROOT / "resource" / "grasp_pipeline").is_file()


def test_every_imported_ros_package_is_an_exec_depend() -> None:
    declared = {e.text for e in _package_xml().iter() if e.tag in ("exec_depend", "depend")}
    used: set[str] = set()
    for path in (ROOT / "src").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            used |= {n.split(".")[0] for n in names} & ROS_PACKAGES
    missing = used - declared - {"moveit", "tf2_ros", "ament_index_python"}
    assert not missing, f"package.xml lacks exec_depend for {sorted(missing)}"


def test_rclpy_is_imported_only_in_the_ros_glue() -> None:
    offenders = []
    for path in (ROOT / "src" / "grasp_pipeline").rglob("*.py"):
        if "ros" in path.relative_to(ROOT / "src" / "grasp_pipeline").parts[:1]:
            continue
        if re.search(r"^\s*(import rclpy|from rclpy)", path.read_text(), re.M):
            offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, f"rclpy imported outside grasp_pipeline.ros: {offenders}"


@pytest.mark.slow
def test_wheel_installs_launch_config_and_ament_index(tmp_path: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    (wheel,) = tmp_path.glob("grasp_pipeline-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    data = [n.split(".data/data/", 1)[1] for n in names if ".data/data/" in n]
    assert "share/ament_index/resource_index/packages/grasp_pipeline" in data
    assert "share/grasp_pipeline/package.xml" in data
    assert "share/grasp_pipeline/config/fastdds_shm.xml" in data
    assert "grasp_pipeline/cli.py" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    for script in ("camera_node", "detector_node", "grasp_planner_node", "grasp-pipeline"):
        assert f"{script} = " in text


@pytest.mark.slow
def test_colcon_build_installs_the_ros_layout(tmp_path: Path) -> None:
    """colcon (from PyPI here, from apt in a ROS install) builds the same layout a workspace does."""
    import shutil

    colcon = Path(sys.executable).with_name("colcon")
    if not colcon.exists():
        pytest.fail("colcon is not installed in the test environment (requirements.txt has it)")
    src = tmp_path / "src" / "grasp_pipeline"
    skip = shutil.ignore_patterns(
        ".venv", ".git", "build", "install", "log", "__pycache__", "*.egg-info"
    )
    shutil.copytree(ROOT, src, ignore=skip)
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "AMENT_PREFIX_PATH": str(Path(sys.executable).parents[1]),
        "HOME": str(tmp_path),
    }
    out = subprocess.run(
        [str(colcon), "build", "--packages-select", "grasp_pipeline"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    prefix = tmp_path / "install" / "grasp_pipeline"
    for script in ("camera_node", "detector_node", "grasp_planner_node", "grasp-pipeline"):
        assert (prefix / "lib" / "grasp_pipeline" / script).is_file(), script
    share = prefix / "share" / "grasp_pipeline"
    assert (share / "package.xml").is_file()
    assert (share / "config" / "fastdds_shm.xml").is_file()
    index = prefix / "share" / "ament_index" / "resource_index" / "packages" / "grasp_pipeline"
    assert index.is_file()
