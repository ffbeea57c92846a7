"""What runs the parts detector's networks: eager PyTorch or ONNX Runtime, the same answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from net_fixtures import trained_like

from grasp_pipeline.perception.instances.boundary import BoundaryConfig, BoundaryNet
from grasp_pipeline.perception.instances.crops import CHANNELS, FEATURES
from grasp_pipeline.perception.instances.layers import fold_batch_norms
from grasp_pipeline.perception.instances.model import (
    ClassifierConfig,
    CropClassifier,
    for_inference,
)
from grasp_pipeline.perception.instances.pickup import (
    INPUT_CHANNELS,
    PickupConfig,
    PickupLocator,
    PickupNet,
)
from grasp_pipeline.perception.network_runtime import NetworkRunner, resolve_runtime

pytest.importorskip("onnxruntime")


def test_onnx_runs_the_three_crop_networks_as_pytorch_does() -> None:
    """The classifier (crops and size features), the boundary network (crops) and the pickup
    network told the class (crops and int class indices) give PyTorch's outputs through ONNX
    Runtime, for batch sizes other than the first call's, an empty batch included."""
    rng = np.random.default_rng(1)
    torch.manual_seed(0)
    classifier = for_inference(
        trained_like(CropClassifier(ClassifierConfig(num_classes=5, width=8, size=32)))
    )
    boundary = fold_batch_norms(trained_like(BoundaryNet(BoundaryConfig(width=8, stride=2))))
    pickup = trained_like(PickupNet(PickupConfig(width=8, classes=5))).folded()
    cases = [
        (classifier, lambda b: (rng.random((b, CHANNELS, 32, 32)), rng.random((b, FEATURES)))),
        (boundary, lambda b: (rng.random((b, CHANNELS, 32, 32)),)),
        (pickup, lambda b: (rng.random((b, INPUT_CHANNELS, 32, 32)), rng.integers(0, 5, b))),
    ]
    for net, inputs in cases:
        eager, onnx = NetworkRunner(net, "torch"), NetworkRunner(net, "onnx")
        assert (eager.runtime, onnx.runtime) == ("torch", "onnx")
        eager.prepare(*inputs(1))
        onnx.prepare(*inputs(1))  # exported at load time, not at the first call
        assert not eager.sessions and len(onnx.sessions) == 1
        for b in (3, 7, 0):
            x = inputs(b)
            want, got = eager(*x), onnx(*x)
            assert got.shape == want.shape and got.dtype == np.float32
            np.testing.assert_allclose(got, want, atol=1e-4)
        assert len(onnx.sessions) == 1  # the one export, whatever the batch


def test_a_pickup_class_out_of_range_is_refused_before_the_network_runs() -> None:
    """An exported graph does not check class indices: the locator does, whatever runs it."""
    net = PickupNet(PickupConfig(width=8, classes=4))
    locator = PickupLocator(net, runtime="onnx")
    crops, prior = np.zeros((2, CHANNELS, 32, 32), np.float32), np.full((2, 2), 0.5)
    assert locator.locate(crops, prior, np.array([0, 3])).shape == (2, 2)
    with pytest.raises(ValueError, match=r"class indices must lie in 0\.\.3"):
        locator.locate(crops, prior, np.array([0, 4]))
    with pytest.raises(ValueError, match="needs 2 class indices"):
        locator.locate(crops, prior, np.array([1]))


def test_runtime_names_are_checked() -> None:
    assert resolve_runtime("auto") == "onnx"  # both packages are installed here
    assert resolve_runtime("auto", "cuda") == "torch"
    with pytest.raises(ValueError, match="runtime must be one of"):
        resolve_runtime("tensorrt")
    with pytest.raises(ValueError, match="CPU only"):
        resolve_runtime("onnx", "cuda:0")
