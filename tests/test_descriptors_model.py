"""Descriptor network: ResNet-34 layout, shapes, keypoint probabilities, spatial expectation."""

import pytest
import torch

from grasp_pipeline.perception.descriptors.config import DescriptorNetConfig, KeypointLossConfig
from grasp_pipeline.perception.descriptors.model import DescriptorNet, to_input
from grasp_pipeline.perception.descriptors.resnet import BasicBlock, ResNet34Backbone
from grasp_pipeline.perception.descriptors.spatial import (
    lift_uvd,
    spatial_expectation,
    spatial_softmax,
    upsample_bilinear,
)


def test_resnet34_layout_and_stride():
    net = ResNet34Backbone(base_width=64)
    blocks = [m for m in net.modules() if isinstance(m, BasicBlock)]
    assert len(blocks) == 3 + 4 + 6 + 3
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in net.modules())
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)]
    assert len(convs) == 32  # 16 blocks x 2 (+ stem 7x7 = 33 weighted conv layers, as ResNet-34)
    # standard ResNet-34 without the classifier holds 21.28 M parameters
    n = sum(p.numel() for p in net.parameters())
    assert 21.2e6 < n < 21.4e6
    small = ResNet34Backbone(base_width=8)
    assert small(torch.zeros(1, 3, 64, 96)).shape == (1, 64, 4, 6)  # output stride 16


@pytest.mark.parametrize("dim,n", [(3, 8), (16, 32)])
def test_output_shapes_and_probabilities(dim, n):
    torch.manual_seed(0)
    net = DescriptorNet(
        DescriptorNetConfig(descriptor_dim=dim, num_keypoints=n, base_width=8)
    ).eval()
    with torch.no_grad():
        out = net(torch.rand(2, 3, 48, 64))
    assert out.descriptors.shape == (2, dim, 48, 64)
    assert out.prob.shape == (2, n, 48, 64) and out.depth.shape == (2, n, 48, 64)
    assert torch.allclose(out.prob.sum((-1, -2)), torch.ones(2, n), atol=1e-5)
    assert (out.depth > 0).all()
    assert out.uvd.shape == (2, n, 3)
    assert (out.uvd[..., 0] >= 0).all() and (out.uvd[..., 0] <= 63).all()
    assert net(torch.rand(1, 3, 32, 32), keypoints=False).prob is None


def test_don_config_has_no_heads():
    net = DescriptorNet(DescriptorNetConfig(descriptor_dim=8, base_width=8, keypoint_heads=False))
    assert not hasattr(net, "spatial_head")
    assert net(torch.rand(1, 3, 32, 48)).descriptors.shape == (1, 8, 32, 48)


def test_spatial_expectation_of_delta_is_that_pixel():
    logits = torch.full((1, 2, 10, 12), -1e4)
    logits[0, 0, 7, 3] = 0.0  # (u, v) = (3, 7)
    logits[0, 1, 2, 11] = 0.0
    prob = spatial_softmax(logits)
    depth = torch.full((1, 2, 10, 12), 0.5)
    depth[0, 0, 7, 3] = 0.42
    uvd = spatial_expectation(prob, depth)
    assert torch.allclose(uvd[0, 0], torch.tensor([3.0, 7.0, 0.42]))
    assert torch.allclose(uvd[0, 1], torch.tensor([11.0, 2.0, 0.5]))
    # two equal peaks: the midpoint
    logits[0, 0, 7, 9] = 0.0
    uv = spatial_expectation(spatial_softmax(logits))
    assert torch.allclose(uv[0, 0], torch.tensor([6.0, 7.0]))


def test_lift_uvd_hand_computed():
    intr = torch.tensor([100.0, 200.0, 50.0, 40.0])
    pts = lift_uvd(torch.tensor([[150.0, 40.0, 2.0], [50.0, 240.0, 0.5]]), intr)
    assert torch.allclose(pts, torch.tensor([[2.0, 0.0, 2.0], [0.0, 0.5, 0.5]]))


def test_config_validation():
    with pytest.raises(ValueError, match="descriptor_dim"):
        DescriptorNetConfig(descriptor_dim=2)
    with pytest.raises(ValueError, match="descriptor_dim"):
        DescriptorNetConfig(descriptor_dim=513)
    with pytest.raises(ValueError, match="num_keypoints"):
        DescriptorNetConfig(num_keypoints=4)
    with pytest.raises(ValueError, match="unknown"):
        KeypointLossConfig(weights={"silhouete": 1.0})
    with pytest.raises(ValueError, match="unknown network config"):
        DescriptorNetConfig.from_dict({"descriptor_dim": 8, "depth": 3})
    cfg = DescriptorNetConfig(descriptor_dim=8, num_keypoints=16, base_width=8)
    assert DescriptorNetConfig.from_dict(cfg.to_dict()) == cfg


def test_to_input_range_and_errors():
    import numpy as np

    x = to_input(np.full((4, 5, 3), 255, np.uint8))
    assert x.shape == (1, 3, 4, 5) and float(x.max()) == 1.0
    with pytest.raises(ValueError, match="RGB"):
        to_input(np.zeros((4, 5), np.uint8))
    with pytest.raises(ValueError, match="B, 3, H, W"):
        DescriptorNet(DescriptorNetConfig(descriptor_dim=3, num_keypoints=8, base_width=8))(
            torch.zeros(1, 1, 32, 32)
        )


def test_don_descriptors_are_unit_length():
    from grasp_pipeline.training.descriptor_trainer import DescriptorTrainConfig

    cfg = DescriptorTrainConfig(
        method="don_ntxent", net=DescriptorNetConfig(descriptor_dim=8, base_width=8)
    )
    assert cfg.net.normalize and not cfg.net.keypoint_heads
    out = DescriptorNet(cfg.net)(torch.rand(1, 3, 32, 48))
    assert torch.allclose(out.descriptors.norm(dim=1), torch.ones(1, 32, 48), atol=1e-5)
    assert not DescriptorTrainConfig(method="keypoint").net.normalize


@pytest.mark.parametrize(
    "shape, size",
    [
        ((2, 5, 24, 32), (96, 128)),
        ((1, 3, 6, 8), (96, 128)),
        ((1, 2, 1, 4), (7, 9)),
        ((1, 2, 5, 5), (5, 5)),
    ],
)
def test_upsample_bilinear_is_interpolate_with_aligned_corners(shape, size):
    import torch.nn.functional as F

    x = torch.randn(*shape, requires_grad=True)
    ref = F.interpolate(x, size=size, mode="bilinear", align_corners=True)
    ours = upsample_bilinear(x, size)
    assert ours.shape == ref.shape
    assert torch.allclose(ours, ref, atol=1e-5)
    g = torch.randn_like(ref)
    (g_ref,) = torch.autograd.grad(ref, x, g)
    (g_ours,) = torch.autograd.grad(ours, x, g)
    assert torch.allclose(g_ours, g_ref, atol=1e-4)
