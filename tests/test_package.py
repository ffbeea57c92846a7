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
    missing = used - declared - {"moveit", "tf2_ros"}
    assert not missing, f"package.xml lacks exec_depend for {sorted(missing)}"


def test_rclpy_is_imported_only_in_the_ros_glue() -> None:
    """rclpy in the nodes (grasp_pipeline.ros) and the runners above them (grasp_pipeline.apps)
    only; neither the core nor the nodes import the runners."""
    offenders, upward = [], []
    for path in (ROOT / "src" / "grasp_pipeline").rglob("*.py"):
        layer = path.relative_to(ROOT / "src" / "grasp_pipeline").parts[0]
        text = path.read_text()
        # the CLI's sub-commands (commands/) are the apps' entry points
        runner = re.search(r"^\s*(import|from) grasp_pipeline\.apps", text, re.M)
        if runner and layer not in ("apps", "commands"):
            upward.append(str(path.relative_to(ROOT)))
        if layer in ("ros", "apps"):
            continue
        if re.search(r"^\s*(import rclpy|from rclpy)", text, re.M):
            offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, f"rclpy imported outside grasp_pipeline.ros / apps: {offenders}"
    assert not upward, f"core or nodes import the runners (grasp_pipeline.apps): {upward}"


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
    assert "share/grasp_pipeline/models/segnet/model.pt" in data
    assert "share/grasp_pipeline/models/parts/classifier.pt" in data
    assert "share/grasp_pipeline/launch/franka.launch.py" in data
    assert "grasp_pipeline/cli.py" in names
    assert "grasp_pipeline/grasping/robots/urdf/youbot.urdf" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    for script in ("camera_node", "detector_node", "grasp_planner_node", "grasp-pipeline"):
        assert f"{script} = " in text


# -- where relative path parameters point (grasp_pipeline.paths) -----------------------------------


@pytest.fixture
def no_install_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in a source checkout / editable install: no sourced workspace, no override."""
    monkeypatch.delenv("AMENT_PREFIX_PATH", raising=False)
    monkeypatch.delenv("GRASP_PIPELINE_SHARE", raising=False)


def test_relative_paths_resolve_in_the_share_dir_from_any_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_install_env
) -> None:
    from grasp_pipeline.paths import config_path, resolve_path, share_dir

    monkeypatch.chdir(tmp_path)
    assert share_dir() == ROOT
    assert resolve_path("models/segnet/model.pt") == ROOT / "models" / "segnet" / "model.pt"
    assert config_path("objects.yaml") == ROOT / "config" / "objects.yaml"
    # the package's file wins over a same-named file in the working directory ...
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "objects.yaml").write_text("objects: []\n")
    assert config_path("objects.yaml") == ROOT / "config" / "objects.yaml"
    # ... and a user's own file is still found where the command was typed
    (tmp_path / "mine.pt").write_bytes(b"x")
    assert resolve_path("mine.pt") == tmp_path / "mine.pt"
    assert resolve_path(tmp_path / "mine.pt") == tmp_path / "mine.pt"


def test_a_missing_file_is_named_with_every_place_looked_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_install_env
) -> None:
    from grasp_pipeline.paths import resolve_path
    from grasp_pipeline.ros.detector_loading import load_detector

    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError) as err:
        load_detector("segnet", "models/segnet/nope.pt")
    msg = str(err.value)
    assert "'models/segnet/nope.pt'" in msg
    assert str(ROOT / "models" / "segnet" / "nope.pt") in msg
    assert str(tmp_path / "models" / "segnet" / "nope.pt") in msg
    with pytest.raises(FileNotFoundError, match=re.escape(f"catalog not found: {tmp_path}/x.yaml")):
        resolve_path(tmp_path / "x.yaml", "catalog")


def _fake_install(prefix: Path) -> Path:
    """A colcon install prefix holding grasp_pipeline's ament index entry and share dir."""
    index = prefix / "share" / "ament_index" / "resource_index" / "packages"
    index.mkdir(parents=True)
    (index / "grasp_pipeline").write_text("")
    share = prefix / "share" / "grasp_pipeline"
    (share / "config").mkdir(parents=True)
    (share / "config" / "franka.yaml").write_text("{}\n")
    return share


def test_a_sourced_install_is_found_through_the_ament_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_install_env
) -> None:
    from grasp_pipeline.paths import config_path, share_dir

    share = _fake_install(tmp_path / "install")
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(tmp_path / "install"))
    assert share_dir() == share
    assert config_path("franka.yaml") == share / "config" / "franka.yaml"
    # another package on the path (not ours): the checkout is used again
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(tmp_path))
    assert share_dir() == ROOT


def test_share_override_is_used_and_a_bad_one_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_install_env
) -> None:
    from grasp_pipeline.paths import share_dir

    share = _fake_install(tmp_path / "elsewhere")
    monkeypatch.setenv("GRASP_PIPELINE_SHARE", str(share))
    assert share_dir() == share
    monkeypatch.setenv("GRASP_PIPELINE_SHARE", str(tmp_path / "nothing"))
    with pytest.raises(FileNotFoundError, match=r"GRASP_PIPELINE_SHARE=.*has no config/"):
        share_dir()


def _installed_dirs() -> set[str]:
    """Top-level folders setup.py installs under share/grasp_pipeline (``*_tree("...")``)."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    return {
        n.args[0].value
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "_tree"
    }


@pytest.mark.parametrize("config", sorted(p.name for p in (ROOT / "config").glob("*.yaml")))
def test_relative_path_parameters_name_installed_files(config: str) -> None:
    """Every relative ``*_path`` in a parameter file names a file that exists and is installed."""
    import yaml

    doc = yaml.safe_load((ROOT / "config" / config).read_text()) or {}
    values = [
        (node, key, value)
        for node, body in doc.items()
        if isinstance(body, dict) and isinstance(body.get("ros__parameters"), dict)
        for key, value in body["ros__parameters"].items()
        if key.endswith("_path") and isinstance(value, str) and value
    ]
    for node, key, value in values:
        assert not Path(value).is_absolute(), f"{config}: {node}.{key} is absolute: {value}"
        assert (ROOT / value).is_file(), f"{config}: {node}.{key} = {value} does not exist"
        assert Path(value).parts[0] in _installed_dirs(), (
            f"{config}: {node}.{key} = {value} is not under a folder setup.py installs"
        )


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "Dockerfile.gpu"])
def test_docker_images_keep_a_complete_install(dockerfile: str) -> None:
    """A --symlink-install links install/ into build/; removing build/ afterwards leaves the
    image's config/ and models/ dangling. The images build a plain install."""
    text = (ROOT / "docker" / dockerfile).read_text()
    assert "colcon build" in text and "rm -rf build" in text
    assert "--symlink-install" not in text


def test_compose_commands_are_found_in_the_image() -> None:
    """Console scripts are installed in lib/grasp_pipeline (not on PATH): `ros2 run` finds them."""
    import yaml

    services = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())["services"]
    for name, service in services.items():
        assert service["command"][0] == "ros2", f"{name}: {service['command']}"
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", "build", "install", "log"} <= set(ignored)
