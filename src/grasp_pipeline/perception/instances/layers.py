"""Building blocks shared by the parts detector's small crop networks (pickup, boundaries)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn


def conv_bn_relu(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    """3x3 convolution (padding keeps the size at stride 1), batch norm, ReLU."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


def fold_batch_norms(net: nn.Module) -> nn.Module:
    """``net`` in eval mode with the batch norm of each :func:`conv_bn_relu` block folded into its
    convolution (in place; the same outputs up to rounding, faster on a CPU). Not for training."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    net.eval()
    for block in net.modules():
        if (
            isinstance(block, nn.Sequential)
            and len(block) == 3
            and isinstance(block[0], nn.Conv2d)
            and isinstance(block[1], nn.BatchNorm2d)
        ):
            block[0] = fuse_conv_bn_eval(block[0], block[1])
            block[1] = nn.Identity()
    return net


def network_entry(net: nn.Module, validation: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint entry of a network that ships inside the classifier's checkpoint
    (``model``: state dict, ``config``: its config's dict, ``validation``: its figures), as
    :func:`network_from_entry` reads it."""
    return {"model": net.state_dict(), "config": net.config.to_dict(), "validation": validation}


def network_from_entry(
    entry: Any, path: object, what: str, build: Callable[[dict[str, Any]], nn.Module]
) -> nn.Module:
    """The network of a checkpoint entry (``config``: ``build``'s argument, ``model``: state
    dict); CheckpointError naming ``path`` and ``what`` network when the entry is malformed or
    its weights do not fit its config."""
    from grasp_pipeline.perception.checkpoint import CheckpointError

    try:
        net = build(entry["config"])
        net.load_state_dict(entry["model"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: its {what} network does not load ({exc})") from exc
    return net
