"""ament_python / pip build of grasp_pipeline (src layout).

``colcon build`` in a ROS 2 workspace and ``pip install .`` in a venv both use this file.
launch/, config/ and models/ (the shipped checkpoints the configs name) are installed under
share/grasp_pipeline/ as ament expects; the nodes resolve relative path parameters against that
directory (grasp_pipeline.paths.resolve_path), so an install works from any working directory.
"""

from glob import glob

from setuptools import find_namespace_packages, setup

PACKAGE = "grasp_pipeline"


def _files(pattern: str) -> list[str]:
    return sorted(p for p in glob(pattern, recursive=True) if not p.endswith("/"))


def _tree(root: str) -> list[tuple[str, list[str]]]:
    """data_files entries that keep the directory structure of ``root`` under share/<pkg>/."""
    import os

    entries: dict[str, list[str]] = {}
    for path in _files(f"{root}/**/*"):
        if os.path.isfile(path):
            entries.setdefault(os.path.dirname(path), []).append(path)
    return [(f"share/{PACKAGE}/{d}", files) for d, files in sorted(entries.items())]


# pip install "grasp_pipeline[realsense,sim]" etc.; requirements.txt pins all of them for the venv.
EXTRAS = {
    # grasp_pipeline's camera_node on a RealSense or an SDK recording (.db3/.bag)
    "realsense": ["pyrealsense2"],
    # camera frames from a rosbag2 / MCAP file without ROS (sources.rosbag_source)
    "rosbag": ["rosbags"],
    # the PyBullet cell: simulated camera and robots, `make demo`, the Gazebo Panda's URDF
    "sim": ["pybullet", "matplotlib"],
    # dataset generation, training, experiments, plots and statistics
    "train": ["pybullet", "matplotlib"],
    # benchmarks (besides the above, the segnet's ONNX back-end uses install_requires' onnx)
    "bench": ["pybullet", "matplotlib"],
    # tests and lint (the suite also uses every extra above)
    "dev": ["pytest", "pytest-timeout", "pytest-xdist", "ruff", "colcon-common-extensions"],
}

setup(
    name=PACKAGE,
    version="0.1.0",
    package_dir={"": "src"},
    # namespace discovery: data-only folders (grasping/robots/urdf) are packages too
    packages=find_namespace_packages("src", include=[f"{PACKAGE}*"]),
    include_package_data=True,
    package_data={
        PACKAGE: ["**/*.urdf", "**/*.LICENSE.txt", "**/*.yaml", "**/*.json", "**/*.pt", "**/*.html"]
    },
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        *_tree("launch"),
        *_tree("config"),
        *_tree("models"),
    ],
    python_requires=">=3.10",
    # What a real cell runs (camera node, detector, grasp planner with MoveIt or the embedded
    # planner): tests/test_real_robot_deps.py builds that path with PyBullet unimportable and checks
    # which modules it loads. torch is required: the detector networks are PyTorch models.
    # pinocchio (pip `pin`, or ros-<distro>-pinocchio) is the robot models' kinematics.
    # Not here: pybullet (simulator only; no wheel for Python 3.12 = ROS 2 Jazzy), matplotlib
    # (plots), pyrealsense2 (extra: realsense2_camera can be the camera instead).
    install_requires=[
        "numpy",
        "scipy",
        "pyyaml",
        "opencv-python-headless",
        "torch",
        "pin",
        "tqdm",
        "threadpoolctl",
        # the parts detector's crop networks run by ONNX Runtime (perception.network_runtime;
        # eager PyTorch without them)
        "onnx",
        "onnxruntime",
    ],
    extras_require=EXTRAS,
    zip_safe=False,
    maintainer="grasp_pipeline developers",
    maintainer_email="grasp-pipeline@example.org",
    description="RGB-D perception and grasping for RoboCup@Work (ROS 2)",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "camera_node = grasp_pipeline.ros.camera_node:main",
            "sim_node = grasp_pipeline.ros.sim_node:main",
            "sim_truth_detector = grasp_pipeline.ros.sim_truth_detector:main",
            "detector_node = grasp_pipeline.ros.detector_node:main",
            "grasp_planner_node = grasp_pipeline.ros.grasp_planner_node:main",
            "grasp-pipeline = grasp_pipeline.cli:main",
        ],
    },
)
