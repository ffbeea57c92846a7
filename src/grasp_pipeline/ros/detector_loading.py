"""Construct the detector a node's ``detector`` parameter names, importing it only then.

Torch and the networks load lazily so that a node that fails on a bad parameter fails fast, and
so that the camera and planner nodes never import torch.
"""

from __future__ import annotations

from pathlib import Path

from grasp_pipeline.perception.detector import Detector

DETECTORS = ("parts", "segnet", "descriptors")
# the models shipped in the package (relative to its share directory), default first
SHIPPED_MODELS = {"parts": "models/parts/classifier.pt", "segnet": "models/segnet/model.pt"}


def model_or_shipped(detector: str, model_path: str) -> str:
    """``model_path``, or the shipped model of ``detector`` when it is ''; ValueError when the
    detector ships none (descriptor databases are enrolled by the user)."""
    if model_path:
        return model_path
    if detector not in SHIPPED_MODELS:
        raise ValueError(f"detector {detector!r} ships no model; give its model file")
    return SHIPPED_MODELS[detector]


def resolve_model_path(path: str) -> Path:
    """The file ``path`` names: absolute, or relative to the package share directory (then the
    working directory): :func:`grasp_pipeline.paths.resolve_path`; FileNotFoundError if none."""
    from grasp_pipeline.paths import resolve_path

    return resolve_path(path, "model file")


def load_detector(
    name: str,
    model_path: str,
    device: str = "cpu",
    database_path: str = "",
    runtime: str = "auto",
    shape_fit: bool = False,
    **options,
) -> Detector:
    """The detector ``name`` ("parts" | "segnet" | "descriptors") loaded from ``model_path`` on ``device``.

    ``runtime``: what runs the parts detector's networks
    (:data:`~grasp_pipeline.perception.network_runtime.RUNTIMES`); the other detectors take
    only ``"auto"``. ``shape_fit``: the parts detector lays each part's catalog solid over its
    region to place the pickup (off by default; see
    :mod:`~grasp_pipeline.perception.instances.shape_fit`); the other detectors refuse it.

    ``descriptors``: ``model_path`` is an enrolment database (``database.json``, each object
    with its own model), or a shared checkpoint with ``database_path`` (the descriptor database
    of the known objects).
    Raises ValueError for an unknown name or device, FileNotFoundError naming a missing file.
    """
    if name not in DETECTORS:
        raise ValueError(f"detector must be one of {DETECTORS}, got {name!r}")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise ValueError(f"device must be 'cpu' or 'cuda[:N]', got {device!r}")
    if not model_path:
        raise ValueError(f"detector {name!r} needs model_path (a checkpoint or database file)")
    if name != "parts" and runtime != "auto":
        raise ValueError(f"runtime {runtime!r} is the parts detector's setting, not {name!r}'s")
    if name != "parts" and shape_fit:
        raise ValueError(f"shape_fit is the parts detector's setting, not {name!r}'s")
    path = resolve_model_path(model_path)
    if not path.exists():
        raise FileNotFoundError(f"model for detector {name!r} not found: {model_path}")
    if name == "parts":
        from grasp_pipeline.perception.instances.detector import PartsDetector

        return PartsDetector(path, device=device, runtime=runtime, shape_fit=shape_fit, **options)
    if name == "segnet":
        from grasp_pipeline.perception.segnet.detector import SegnetDetector

        return SegnetDetector(path, device=device, **options)
    from grasp_pipeline.perception.descriptors.checkpoint import load_descriptor_model
    from grasp_pipeline.perception.descriptors.database import DescriptorDatabase
    from grasp_pipeline.perception.descriptors.detector import DescriptorDetector

    if not database_path:
        if path.suffix in (".json", ".npz"):  # written by `grasp-pipeline enroll`: own models
            return DescriptorDetector.from_database(path, device=device, **options)
        raise ValueError(
            "detector 'descriptors' needs model_path = a database written by 'grasp-pipeline "
            "enroll' (database.json), or a shared model checkpoint and database_path"
        )
    db_path = resolve_model_path(database_path)
    if not db_path.exists():
        raise FileNotFoundError(f"descriptor database not found: {database_path}")
    model = load_descriptor_model(path, device)
    return DescriptorDetector(model, DescriptorDatabase.load(db_path), device=device, **options)
