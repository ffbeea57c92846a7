"""Inference back-ends for the segmentation network: eager PyTorch (optionally channels-last or
torch.compile) and ONNX Runtime. Each maps a network input (1, 4, h, w) float32 to sigmoid
activations (C, h, w), class probabilities (C,) and, for a network with an offset head, the
centre-of-mass offsets (2, h, w) (else None) as numpy arrays."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

BACKENDS = ("torch", "channels_last", "compile", "onnx")


class _Probabilities(nn.Module):
    """The network with its output squashing, so every back-end computes the same function."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        logits, cls, offsets = self.net.forward_all(x)
        out = (torch.sigmoid(logits[0]), torch.softmax(cls[0], dim=0))  # (C, h, w), (C,)
        return out if offsets is None else (*out, offsets[0])  # (2, h, w)


Outputs = tuple[np.ndarray, np.ndarray, np.ndarray | None]


def _outputs(arrays: list[np.ndarray]) -> Outputs:
    return arrays[0], arrays[1], (arrays[2] if len(arrays) > 2 else None)


class TorchBackend:
    """Eager PyTorch under ``inference_mode``; ``channels_last`` and ``compile`` are options."""

    def __init__(
        self, model: nn.Module, channels_last: bool = False, compile: bool = False
    ) -> None:
        self.module = _Probabilities(model).eval()
        self.channels_last = channels_last
        if channels_last:
            self.module = self.module.to(memory_format=torch.channels_last)
        self.fn = torch.compile(self.module) if compile else self.module
        self.device = next(model.parameters()).device

    def __call__(self, x: np.ndarray) -> Outputs:
        t = torch.from_numpy(x).to(self.device)
        if self.channels_last:
            t = t.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            out = self.fn(t)
        return _outputs([o.float().cpu().numpy() for o in out])


class OnnxBackend:
    """The network exported to ONNX and run by ONNX Runtime's CPU provider
    (:func:`~grasp_pipeline.perception.network_runtime.onnx_session`)."""

    def __init__(self, model: nn.Module, in_shape: tuple[int, int, int, int], threads: int = 0):
        from grasp_pipeline.perception.network_runtime import onnx_session

        outputs = ["maps", "probs", "offsets"][: 3 if model.offset is not None else 2]
        module = _Probabilities(model).eval().cpu()
        self.session = onnx_session(
            module, (torch.zeros(in_shape),), ["x"], outputs, batch_axis=False, threads=threads
        )

    def __call__(self, x: np.ndarray) -> Outputs:
        return _outputs(self.session.run(None, {"x": np.ascontiguousarray(x, dtype=np.float32)}))


def make_backend(name: str, model: nn.Module, in_shape: tuple[int, int, int, int]):
    """Back-end by name: one of :data:`BACKENDS`."""
    if name == "torch":
        return TorchBackend(model)
    if name == "channels_last":
        return TorchBackend(model, channels_last=True)
    if name == "compile":
        return TorchBackend(model, compile=True)
    if name == "onnx":
        return OnnxBackend(model, in_shape, threads=torch.get_num_threads())
    raise ValueError(f"unknown inference backend {name!r}; choose one of {BACKENDS}")
