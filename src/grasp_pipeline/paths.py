"""Where the package's data (``config/``, ``launch/``, ``models/``) lives, and the one function that
turns a relative path parameter into a file: colcon installs (plain and ``--symlink-install``),
pip installs (wheel and editable) and a source checkout all go through :func:`resolve_path`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

PACKAGE = "grasp_pipeline"
SHARE_ENV = "GRASP_PIPELINE_SHARE"
# repo root in a source checkout, an editable pip install and a colcon --symlink-install (the
# package directory there is a symlink into the source tree)
_SRC_ROOT = Path(__file__).resolve().parents[2]


def _is_share(path: Path) -> bool:
    return (path / "config").is_dir()


def _ament_share() -> Path | None:
    """The share directory the ament index names (a sourced colcon / ROS install), or None."""
    try:
        from ament_index_python.packages import get_package_share_directory
    except ImportError:
        return None
    try:
        return Path(get_package_share_directory(PACKAGE, print_warning=False))
    except (LookupError, OSError, ValueError):  # not on AMENT_PREFIX_PATH / the variable unset
        return None


def _installed_share() -> Path | None:
    """``<prefix>/share/grasp_pipeline`` of the prefix this module is installed in.

    The module sits in ``<prefix>/lib/pythonX.Y/site-packages/grasp_pipeline/`` (pip, a plain
    colcon install, Debian's ``lib/python3/dist-packages``): started without sourcing the
    workspace, the ament index does not know the package, but its data is beside its code.
    """
    for prefix in Path(__file__).parent.parents[:4]:
        share = prefix / "share" / PACKAGE
        if (share / "package.xml").is_file():
            return share
    return None


def share_candidates() -> list[tuple[str, Path]]:
    """Where :func:`share_dir` looks, in order, as ``(how it was found, directory)``."""
    found: list[tuple[str, Path | None]] = [
        (f"${SHARE_ENV}", Path(os.environ[SHARE_ENV]) if os.environ.get(SHARE_ENV) else None),
        ("ament index", _ament_share()),
        ("install prefix", _installed_share()),
        ("source checkout", _SRC_ROOT if (_SRC_ROOT / "package.xml").is_file() else None),
        ("sys.prefix", Path(sys.prefix) / "share" / PACKAGE),
    ]
    return [(how, path) for how, path in found if path is not None]


def share_dir() -> Path:
    """The package share directory: the one holding ``config/``, ``launch/`` and ``models/``.

    Order: ``$GRASP_PIPELINE_SHARE``; the ament index (``ament_index_python``, when importable and
    the package is on ``AMENT_PREFIX_PATH``: a sourced colcon workspace or ROS install); the
    ``share/grasp_pipeline`` of the prefix this module is installed in (pip, or a colcon install
    started without sourcing it); the source checkout (editable pip install, ``PYTHONPATH=src``);
    ``sys.prefix/share/grasp_pipeline``. Raises FileNotFoundError listing every place looked in.
    """
    candidates = share_candidates()
    if os.environ.get(SHARE_ENV) and not _is_share(candidates[0][1]):
        raise FileNotFoundError(
            f"${SHARE_ENV}={os.environ[SHARE_ENV]} has no config/ directory; unset it or point it "
            "at the grasp_pipeline share directory"
        )
    for _, path in candidates:
        if _is_share(path):
            return path
    looked = ", ".join(f"{p} ({how})" for how, p in candidates)
    raise FileNotFoundError(
        f"cannot find the grasp_pipeline share directory (looked in {looked}); "
        f"source the workspace's install/setup.bash or set {SHARE_ENV} to the directory holding "
        "config/"
    )


def resolve_path(path: str | os.PathLike[str], what: str = "file") -> Path:
    """The absolute path of the data file ``path`` names (a parameter, a config entry).

    ``~`` is expanded and an absolute path is taken as it is. A relative path is looked up in
    :func:`share_dir` first, so ``models/segnet/model.pt`` or ``config/objects.yaml`` mean the
    files installed with the package whatever the working directory, then in the working
    directory (a user's own file). Raises FileNotFoundError naming ``what``, the path as given
    and each place looked in.
    """
    p = Path(path).expanduser()
    if p.is_absolute():
        if not p.exists():
            raise FileNotFoundError(f"{what} not found: {p}")
        return p
    if not str(path).strip():
        raise FileNotFoundError(f"{what}: empty path")
    tried = [share_dir() / p, Path.cwd() / p]
    for c in tried:
        if c.exists():
            return c.absolute()
    raise FileNotFoundError(
        f"{what} not found: {str(path)!r} (relative paths are looked up in the package share "
        f"directory, then the working directory: tried {', '.join(map(str, tried))})"
    )


def config_path(name: str) -> Path:
    """Path of a file in the package's ``config/``; FileNotFoundError naming the file if missing."""
    return resolve_path(Path("config") / name, "config file")


def repo_root() -> Path:
    """The source checkout's root (where benchmarks/ and the training logs live)."""
    return _SRC_ROOT
