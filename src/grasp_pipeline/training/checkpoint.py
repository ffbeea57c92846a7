"""Checkpoints for the trainers: the network packages' loader, re-exported.

Model files are written and read by :mod:`grasp_pipeline.perception.checkpoint` (atomic writes,
content hash checked at load, ``weights_only=True``, non-finite weights refused), so that serving
a model never imports ``training``; the trainers use the very same functions through this module.
"""

from __future__ import annotations

from grasp_pipeline.perception.checkpoint import (
    CheckpointError,
    UnverifiedCheckpointWarning,
    atomic_write_bytes,
    content_hash,
    load_checkpoint,
    save_checkpoint,
    seal_checkpoint,
)

__all__ = [
    "CheckpointError",
    "UnverifiedCheckpointWarning",
    "atomic_write_bytes",
    "content_hash",
    "load_checkpoint",
    "save_checkpoint",
    "seal_checkpoint",
]
