"""Shape, parameter count and input validation of the hourglass network."""

import pytest
import torch

from grasp_pipeline.perception.segnet import SegNet, SegNetConfig
from grasp_pipeline.perception.segnet.model import parameter_count


def test_shapes_and_parameter_count():
    cfg = SegNetConfig(width=32, height=16, num_classes=5, filters=(4, 8, 8))
    net = SegNet(cfg)
    logits, cls = net(torch.rand(2, 4, 16, 32))
    assert logits.shape == (2, 5, 16, 32) and cls.shape == (2, 5)
    # encoder 3x3 convs: (4*9+1)*4 + (4*9+1)*8 + (8*9+1)*8; waist (8*9+1)*5; waist skip 1x1
    # (8+1)*5; transposed 4x4: (5*16+1)*8 ... decoder from waist (5 ch) -> 8 -> 4; head 3x3 4->5
    expected = (37 * 4 + 37 * 8 + 73 * 8) + 73 * 5 + 9 * 5 + (5 * 16 * 8 + 8) + (8 * 16 * 4 + 4)
    expected += 4 * 9 * 5 + 5
    assert parameter_count(net) == expected


def test_default_config_is_paper_size():
    cfg = SegNetConfig()
    assert (cfg.width, cfg.height, cfg.in_channels, cfg.num_classes) == (256, 192, 4, 13)
    net = SegNet(cfg).eval()
    assert parameter_count(net) * 4 < 5e6  # a few MB in float32
    with torch.no_grad():
        a = net(torch.rand(1, 4, 192, 256))[0]
        b = net(torch.rand(1, 4, 192, 256))[0]
    assert a.shape == (1, 13, 192, 256) and not torch.equal(a, b)


def test_dropout_only_in_training():
    torch.manual_seed(0)
    net = SegNet(SegNetConfig(width=16, height=8, num_classes=2, filters=(4, 8), dropout=0.5))
    x = torch.rand(1, 4, 8, 16)
    net.eval()
    assert torch.equal(net(x)[0], net(x)[0])
    net.train()
    assert not torch.equal(net(x)[0], net(x)[0])


@pytest.mark.parametrize(
    "kwargs",
    [dict(width=30), dict(filters=(4,)), dict(dropout=1.0), dict(num_classes=0)],
)
def test_bad_config(kwargs):
    with pytest.raises(ValueError):
        SegNetConfig(**kwargs)


def test_bad_input_shape():
    net = SegNet(SegNetConfig(width=16, height=8, num_classes=2, filters=(4, 8)))
    with pytest.raises(ValueError, match="8x16"):
        net(torch.rand(1, 4, 16, 16))
    with pytest.raises(ValueError, match="4"):
        net(torch.rand(1, 3, 8, 16))


def test_config_roundtrip():
    cfg = SegNetConfig(width=64, height=48, filters=(8, 16, 24))
    assert SegNetConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown"):
        SegNetConfig.from_dict({**cfg.to_dict(), "bogus": 1})


def test_batch_norm_variant():
    cfg = SegNetConfig(width=64, height=48, num_classes=5, filters=(8, 16, 24, 32), batch_norm=True)
    net = SegNet(cfg)
    norms = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(norms) == 4 + 3  # encoder + decoder, none at the waist
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.waist.modules())
    logits, cls = net.eval()(torch.rand(2, 4, 48, 64))
    assert logits.shape == (2, 5, 48, 64) and cls.shape == (2, 5)
    # configs written before the option existed load as the paper's plain network
    old = {k: v for k, v in cfg.to_dict().items() if k != "batch_norm"}
    assert SegNetConfig.from_dict(old).batch_norm is False


def test_offset_head_adds_a_two_channel_map_and_leaves_forward_alone():
    plain = SegNet(SegNetConfig(width=32, height=16, num_classes=5, filters=(4, 8, 8)))
    assert plain.forward_all(torch.rand(1, 4, 16, 32))[2] is None
    cfg = SegNetConfig(width=32, height=16, num_classes=5, filters=(4, 8, 8), offset_head=True)
    net = SegNet(cfg).eval()
    x = torch.rand(2, 4, 16, 32)
    logits, cls, offsets = net.forward_all(x)
    assert offsets.shape == (2, 2, 16, 32)
    a, b = net(x)
    assert torch.equal(a, logits) and torch.equal(b, cls)
    assert parameter_count(net) == parameter_count(plain) + 4 * 9 * 2 + 2
    assert SegNetConfig.from_dict(cfg.to_dict()) == cfg
    # configs written before the head existed still load, without it
    old = cfg.to_dict()
    old.pop("offset_head")
    assert SegNetConfig.from_dict(old).offset_head is False
