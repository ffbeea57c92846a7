"""The one place that keeps our networks away from a oneDNN defect (torch 2.13.0+cpu, oneDNN 3.12).

On x86 CPUs whose best instruction set is AVX2 (the project's AMD EPYC machines; an AVX-512 CPU
shows it with ``ONEDNN_MAX_CPU_ISA=AVX2``), the weight gradient of a 1x1 convolution with stride 2
and fewer than 8 input channels overruns a buffer when its input is channels-last: with two
threads ``backward`` hangs forever, with one the process aborts ("free(): invalid next size") or
dies with a bus error. Dense NCHW input, or 8 and more input channels, do not reach that kernel.
``tests/test_onednn_guard.py`` keeps a standalone reproducer.

Every network calls :func:`guard` on itself in its constructor: the model is refused if it has
such a convolution, and inputs reaching it while gradients are recorded are made dense NCHW.
Inference (``torch.no_grad`` / ``inference_mode``) keeps the caller's layout, so a channels-last
inference backend keeps its speed.
"""

from __future__ import annotations

import torch
from torch import nn

# Below this many input channels a strided 1x1 convolution reaches the defective kernel.
MIN_STRIDED_1X1_IN_CHANNELS = 8


def risky_convolutions(model: nn.Module) -> list[str]:
    """Names of the 1x1 convolutions with stride > 1 and fewer than 8 input channels."""
    return [
        name
        for name, m in model.named_modules()
        if isinstance(m, nn.Conv2d)
        and tuple(m.kernel_size) == (1, 1)
        and max(m.stride) > 1
        and m.in_channels < MIN_STRIDED_1X1_IN_CHANNELS
    ]


def dense_input(x: torch.Tensor) -> torch.Tensor:
    """``x`` as a dense NCHW tensor (a copy only when it is not one already)."""
    return x.contiguous()


def _dense_inputs_while_training(_module: nn.Module, args: tuple) -> tuple | None:
    if not torch.is_grad_enabled():
        return None
    return tuple(dense_input(a) if isinstance(a, torch.Tensor) else a for a in args)


def guard(model: nn.Module) -> None:
    """Refuse a model that reaches the defect; make its inputs dense NCHW while gradients are on.

    Raises ValueError naming the offending layers.
    """
    risky = risky_convolutions(model)
    if risky:
        raise ValueError(
            f"{type(model).__name__}: strided 1x1 convolution(s) {risky} have fewer than "
            f"{MIN_STRIDED_1X1_IN_CHANNELS} input channels; oneDNN's weight gradient for them "
            "hangs or corrupts memory on AVX2 CPUs (use a width of at least "
            f"{MIN_STRIDED_1X1_IN_CHANNELS})"
        )
    model.register_forward_pre_hook(_dense_inputs_while_training)
