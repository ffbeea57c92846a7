"""``grasp-pipeline checkpoint verify|seal``: check model files, add the content hash to old ones."""

from __future__ import annotations

import argparse

from grasp_pipeline.commands import Command


def _add_paths(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", help="checkpoint files (.pt)")


def _run_verify(args: argparse.Namespace) -> int:
    """Load each file as a detector would (content hash, finite weights); a bad file is an error
    naming it, a file without a hash is reported as unverified."""
    import warnings

    from grasp_pipeline.perception.checkpoint import UnverifiedCheckpointWarning, load_checkpoint

    unverified = 0
    for path in args.paths:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UnverifiedCheckpointWarning)
            state = load_checkpoint(path)
        if any(issubclass(w.category, UnverifiedCheckpointWarning) for w in caught):
            unverified += 1
            print(f"{path}: loads, but has no content hash (run 'checkpoint seal' on it)")
        else:
            print(f"{path}: ok, sha256 {state['meta']['content_sha256']}, step {state['step']}")
    return 1 if unverified else 0


def _run_seal(args: argparse.Namespace) -> int:
    """Add the content hash to checkpoints written before hashes existed, in place; every
    entry (weights, config, step) is kept bit for bit."""
    from grasp_pipeline.perception.checkpoint import seal_checkpoint

    for path in args.paths:
        print(f"{path}: sealed, sha256 {seal_checkpoint(path)}")
    return 0


COMMANDS = [
    Command(
        ("checkpoint", "verify"),
        "check model files: content hash, loadable, finite weights",
        _add_paths,
        _run_verify,
    ),
    Command(
        ("checkpoint", "seal"),
        "add the content hash to checkpoints written before hashes existed (weights unchanged)",
        _add_paths,
        _run_seal,
    ),
]
