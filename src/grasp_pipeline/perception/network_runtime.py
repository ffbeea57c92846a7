"""One home for running a trained network for inference on numpy batches: eager PyTorch or the
same network exported to ONNX and run by ONNX Runtime's CPU provider.

ONNX Runtime runs the parts detector's small crop networks 1.3-1.6x faster than eager PyTorch on
2 CPU cores (classifier, boundary and pickup networks, batches of 12 crops;
``benchmarks/results/detector_latency_parts_runtime.json`` for the whole detector). The export
happens when the network is loaded (about a second), from the weights in memory: a checkpoint
has one layout whatever runs it. It needs the ``onnx`` and ``onnxruntime`` packages; ``"auto"``
uses them when both import and the network runs on the CPU, else eager PyTorch.

ONNX Runtime's worker threads spin after each call by default; on a robot the detector shares
its cores with the camera, the planner and the simulator, so they are told not to (as torch's
OpenMP threads are told to spin briefly, :mod:`grasp_pipeline.perception.threads`).
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

RUNTIMES = ("auto", "torch", "onnx")


def onnx_available() -> bool:
    """Whether ONNX export and ONNX Runtime both import."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def resolve_runtime(runtime: str, device: str = "cpu") -> str:
    """``"torch"`` or ``"onnx"`` for ``runtime`` (one of :data:`RUNTIMES`) on ``device``;
    ValueError for an unknown name, for ``"onnx"`` off the CPU or without the packages."""
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {RUNTIMES}, got {runtime!r}")
    if runtime == "auto":
        return "onnx" if device == "cpu" and onnx_available() else "torch"
    if runtime == "onnx" and device != "cpu":
        raise ValueError(f"the onnx runtime runs on the CPU only, not on {device!r}")
    if runtime == "onnx" and not onnx_available():
        raise ValueError("the onnx runtime needs the packages onnx and onnxruntime (pip install)")
    return runtime


def onnx_session(
    module: nn.Module,
    example: Sequence[torch.Tensor],
    input_names: Sequence[str],
    output_names: Sequence[str],
    batch_axis: bool = True,
    threads: int = 0,
) -> Any:
    """An ONNX Runtime session (CPU provider, all graph optimisations) of ``module`` exported
    (opset 17) with ``example`` inputs; ``batch_axis``: the first axis of every input and
    output may change size; ``threads``: intra-op threads (0: ONNX Runtime's choice). Its
    threads sleep when idle (see the module docstring)."""
    import onnxruntime as ort

    module = module.eval()
    dynamic = {name: {0: "batch"} for name in (*input_names, *output_names)} if batch_axis else None
    buf = io.BytesIO()
    with warnings.catch_warnings():
        # the TorchScript exporter is deprecated but needs no onnxscript; the same graph here
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            tuple(example),
            buf,
            input_names=list(input_names),
            output_names=list(output_names),
            dynamic_axes=dynamic,
            opset_version=17,
            dynamo=False,
        )
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads:
        opts.intra_op_num_threads = threads
    return ort.InferenceSession(buf.getvalue(), opts, providers=["CPUExecutionProvider"])


def _as_inputs(arrays: Sequence[np.ndarray]) -> tuple[np.ndarray, ...]:
    """Contiguous float32 arrays, integer ones as int64."""
    return tuple(
        np.ascontiguousarray(
            a, np.int64 if np.issubdtype(np.asarray(a).dtype, np.integer) else np.float32
        )
        for a in arrays
    )


class NetworkRunner:
    """``module`` (ready for inference: eval mode, batch norms folded) called on numpy arrays,
    returning its one output as a numpy array, through eager PyTorch (4-D float inputs in
    channels-last memory, as the callers' folded weights are) or ONNX Runtime (``runtime``: one
    of :data:`RUNTIMES`). Float inputs go in as float32, integer ones as int64. The ONNX graph is
    exported at the first call with inputs of a new shape (the batch size aside) and kept.
    """

    def __init__(self, module: nn.Module, runtime: str = "auto", device: str = "cpu") -> None:
        self.module = module.eval()
        self.device = device
        self.runtime = resolve_runtime(runtime, device)
        self.sessions: dict[tuple, Any] = {}  # input shapes and types but the batch -> session

    def prepare(self, *arrays: np.ndarray) -> None:
        """Exports the graph for inputs shaped like ``arrays`` (the batch size aside) now, not
        at the first call of a detection (about a second for a crop network); nothing for
        PyTorch."""
        if self.runtime == "onnx":
            self._session(_as_inputs(arrays))

    def _session(self, arrays: tuple[np.ndarray, ...]) -> Any:
        key = tuple((a.shape[1:], a.dtype.str) for a in arrays)
        if key not in self.sessions:
            example = [torch.from_numpy(a[:1].copy()) for a in arrays]
            names = [f"input{i}" for i in range(len(arrays))]
            self.sessions[key] = onnx_session(
                self.module, example, names, ["output"], threads=torch.get_num_threads()
            )
        return self.sessions[key]

    def __call__(self, *arrays: np.ndarray) -> np.ndarray:
        arrays = _as_inputs(arrays)
        if self.runtime == "onnx" and len(arrays[0]):
            names = [f"input{i}" for i in range(len(arrays))]
            feed = dict(zip(names, arrays, strict=True))
            return self._session(arrays).run(None, feed)[0]
        tensors = []  # eager PyTorch (an empty batch too: not every exported graph takes one)
        for a in arrays:
            t = torch.from_numpy(a).to(self.device)
            if t.ndim == 4 and t.is_floating_point():
                t = t.contiguous(memory_format=torch.channels_last)
            tensors.append(t)
        with torch.inference_mode():
            return self.module(*tensors).cpu().numpy()
