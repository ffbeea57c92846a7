"""Checkpoints: atomic writes, safe loads (``weights_only=True``), clear errors on corrupt files.

A checkpoint is a dict with at least ``"model"`` (state dict), ``"config"`` (a plain dict of the
model/training config, so the file alone rebuilds the network) and ``"step"``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see either the old or the complete new file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give it a normal file's mode
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Atomically save ``state`` (tensors, numbers, strings, lists, dicts) with torch.save."""
    import io

    import torch

    missing = {"model", "config", "step"} - set(state)
    if missing:
        raise ValueError(f"checkpoint state lacks {sorted(missing)}")
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: str | os.PathLike, map_location: str = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` with ``weights_only=True``.

    Raises FileNotFoundError if the file is missing and ValueError naming the file if it is
    truncated, corrupt, not a checkpoint, or holds more than tensors and plain containers.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt/unsafe files
        raise ValueError(f"cannot load checkpoint {path}: {type(exc).__name__}: {exc}") from exc
    if not isinstance(state, dict) or not {"model", "config", "step"} <= set(state):
        raise ValueError(f"{path} is not a grasp_pipeline checkpoint (needs model, config, step)")
    return state
