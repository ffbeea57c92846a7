"""Model files: atomic writes, a content hash checked at load, ``weights_only=True`` loads.

A checkpoint is a dict with at least ``"model"`` (state dict), ``"config"`` (a plain dict of the
model/training config, so the file alone rebuilds the network) and ``"step"``.
:func:`save_checkpoint` adds ``"meta"``: ``{"content_sha256": ..., "hash_version": 1}``, a
SHA-256 over every other entry (tensors by name, dtype, shape and bytes; dict keys in a fixed
order), so a flipped bit anywhere in the weights is found at load instead of silently
degrading the detector. Loading refuses non-finite weights, naming the tensor.

This module is the network packages' loader: serving a model never imports ``training``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

HASH_VERSION = 1
META_KEY = "meta"


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used: corrupt, truncated, foreign or non-finite."""


class UnverifiedCheckpointWarning(UserWarning):
    """A checkpoint written before content hashes: it loads, but corruption cannot be found."""


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


def _feed(h: Any, obj: Any, where: str) -> None:
    """Update ``h`` with a canonical, type-tagged encoding of ``obj`` (tensors, containers,
    scalars, strings). Lists and tuples hash alike (pickling may turn one into the other)."""
    import torch

    if isinstance(obj, torch.Tensor):
        if obj.layout != torch.strided or obj.is_quantized:
            raise TypeError(f"{where}: cannot hash a {obj.layout} / quantized tensor")
        t = obj.detach().cpu().contiguous().reshape(-1)
        h.update(f"T{t.dtype}{tuple(obj.shape)}:".encode())
        h.update(t.view(torch.uint8).numpy())
    elif isinstance(obj, dict):
        keys = sorted(obj, key=lambda k: (type(k).__name__, repr(k)))
        h.update(f"D{len(keys)}:".encode())
        for k in keys:
            h.update(f"K{type(k).__name__}:{k!r}:".encode())
            _feed(h, obj[k], f"{where}[{k!r}]")
    elif isinstance(obj, (list, tuple)):
        h.update(f"L{len(obj)}:".encode())
        for i, v in enumerate(obj):
            _feed(h, v, f"{where}[{i}]")
    elif isinstance(obj, str):
        b = obj.encode()
        h.update(f"S{len(b)}:".encode() + b)
    elif obj is None or isinstance(obj, (bool, int, float, complex)):
        h.update(f"N{type(obj).__name__}:{obj!r};".encode())  # repr of a float is exact
    elif isinstance(obj, bytes):
        h.update(f"B{len(obj)}:".encode() + obj)
    else:
        raise TypeError(f"{where}: cannot hash a {type(obj).__name__} in a checkpoint")


def content_hash(state: dict[str, Any]) -> str:
    """Hex SHA-256 of every entry of ``state`` but ``"meta"`` (see the module docstring)."""
    h = hashlib.sha256(f"grasp_pipeline checkpoint v{HASH_VERSION}\n".encode())
    _feed(h, {k: v for k, v in state.items() if k != META_KEY}, "checkpoint")
    return h.hexdigest()


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Atomically save ``state`` (tensors, numbers, strings, lists, dicts) with torch.save,
    adding ``state["meta"]`` with its content hash (an incoming ``"meta"`` is replaced)."""
    import io

    import torch

    missing = {"model", "config", "step"} - set(state)
    if missing:
        raise ValueError(f"checkpoint state lacks {sorted(missing)}")
    body = {k: v for k, v in state.items() if k != META_KEY}
    body[META_KEY] = {"content_sha256": content_hash(body), "hash_version": HASH_VERSION}
    buf = io.BytesIO()
    torch.save(body, buf)
    atomic_write_bytes(path, buf.getvalue())


def check_finite(weights: dict[str, Any], path: str | os.PathLike) -> None:
    """Raise CheckpointError naming the first floating tensor of ``weights`` holding NaN/inf."""
    import torch

    for name, t in weights.items():
        if isinstance(t, torch.Tensor) and (t.is_floating_point() or t.is_complex()):
            bad = ~torch.isfinite(t)
            if bool(bad.any()):
                raise CheckpointError(
                    f"checkpoint {path} holds non-finite weights: {name!r} has "
                    f"{int(bad.sum())} of {t.numel()} values NaN or infinite"
                )


def load_checkpoint(
    path: str | os.PathLike, map_location: str = "cpu", verify: bool = True
) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` with ``weights_only=True``.

    Raises FileNotFoundError if the file is missing and CheckpointError (a ValueError) naming
    the file if it is truncated, corrupt (content hash mismatch), not a checkpoint, holds more
    than tensors and plain containers, or (with ``verify``) non-finite model weights. A file
    without a content hash (written before hashes existed) loads with an
    :class:`UnverifiedCheckpointWarning`.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt/unsafe files
        raise CheckpointError(
            f"cannot load checkpoint {path}: {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(state, dict) or not {"model", "config", "step"} <= set(state):
        raise CheckpointError(
            f"{path} is not a grasp_pipeline checkpoint (needs model, config, step)"
        )
    if not isinstance(state["model"], dict):
        raise CheckpointError(f"{path}: 'model' is not a state dict")
    meta = state.get(META_KEY)
    stored = meta.get("content_sha256") if isinstance(meta, dict) else None
    if stored is None:
        warnings.warn(
            f"checkpoint {path} has no content hash (written by an older version); it cannot "
            "be checked for corruption. Re-save it with `grasp-pipeline checkpoint seal "
            f"{path}`.",
            UnverifiedCheckpointWarning,
            stacklevel=2,
        )
    elif verify:
        try:
            actual = content_hash(state)
        except TypeError as exc:
            raise CheckpointError(f"checkpoint {path} is corrupt: {exc}") from exc
        if actual != stored:
            raise CheckpointError(
                f"checkpoint {path} is corrupt: content hash mismatch (stored "
                f"{str(stored)[:12]}..., contents {actual[:12]}...)"
            )
    if verify:
        check_finite(state["model"], path)
    return state


def seal_checkpoint(path: str | os.PathLike) -> str:
    """Add the content hash to an older checkpoint in place (atomically), keeping every entry
    unchanged; returns the hash. The file is re-read after writing and compared entry by entry
    with the original, so sealing cannot alter the weights."""
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnverifiedCheckpointWarning)
        before = load_checkpoint(path)
    save_checkpoint(path, before)
    after = load_checkpoint(path)
    for name, t in before["model"].items():
        u = after["model"].get(name)
        if not (
            isinstance(u, torch.Tensor) and u.dtype == t.dtype and torch.equal(u, t)
        ):  # pragma: no cover - torch.save round trip is exact
            raise CheckpointError(f"{path}: tensor {name!r} changed while sealing")
    body = {k: v for k, v in before.items() if k != META_KEY}
    if content_hash(body) != after[META_KEY]["content_sha256"]:  # pragma: no cover
        raise CheckpointError(f"{path}: contents changed while sealing")
    return after[META_KEY]["content_sha256"]
