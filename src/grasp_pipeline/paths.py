"""Where the package's data lives, in a source checkout, a pip venv and a colcon install."""

from __future__ import annotations

import os
import sys
from pathlib import Path

PACKAGE = "grasp_pipeline"
_SRC_ROOT = Path(__file__).resolve().parents[2]  # repo root in a source checkout / editable install


def share_dir() -> Path:
    """The directory holding ``config/`` and ``launch/``.

    Order: ``$GRASP_PIPELINE_SHARE``; the source checkout; ``<prefix>/share/grasp_pipeline``
    (pip and colcon installs); the ament index when a ROS install provides it.
    """
    candidates: list[Path] = []
    if os.environ.get("GRASP_PIPELINE_SHARE"):
        candidates.append(Path(os.environ["GRASP_PIPELINE_SHARE"]))
    candidates.append(_SRC_ROOT)
    candidates.append(Path(sys.prefix) / "share" / PACKAGE)
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        if prefix:
            candidates.append(Path(prefix) / "share" / PACKAGE)
    for c in candidates:
        if (c / "config").is_dir():
            return c
    raise FileNotFoundError(
        f"cannot find the grasp_pipeline share directory (looked in {[str(c) for c in candidates]}); "
        "set GRASP_PIPELINE_SHARE to the directory holding config/"
    )


def config_path(name: str) -> Path:
    """Path of a file in ``config/``; raises FileNotFoundError naming the file if it is missing."""
    path = share_dir() / "config" / name
    if not path.exists():
        raise FileNotFoundError(f"config file not found: {path}")
    return path


def repo_root() -> Path:
    """The source checkout's root (where benchmarks/ and models/ live)."""
    return _SRC_ROOT
