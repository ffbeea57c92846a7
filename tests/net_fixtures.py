"""Small networks as they are after training, for tests of inference paths."""

from __future__ import annotations

import torch


def trained_like(net: torch.nn.Module) -> torch.nn.Module:
    """``net`` in eval mode with batch-norm statistics and scales of its own (as after
    training, so folding or exporting them is exercised), drawn from torch's current seed."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    return net.eval()
