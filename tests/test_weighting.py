"""Loss-weighting methods: hand-computed weights and the behaviour each method is defined by."""

import math

import numpy as np
import pytest
import torch

from grasp_pipeline.training.weighting import METHODS, RunningStats, make_weighting


def test_running_stats_hand_computed():
    s = RunningStats(1, decay=0.5)
    for x in (2.0, 4.0):
        s.update(torch.tensor([x]))
    # m = 0.5*(0.5*2) + 0.5*4 = 2.5, corrected by 1 - 0.25 -> 10/3
    assert s.mean.item() == pytest.approx(2.5 / 0.75)
    # dev at step 2 = 4 - 2 = 2 -> v = 0.5 * 4 = 2, corrected -> 8/3
    assert s.var.item() == pytest.approx(2.0 / 0.75)


def test_kgc_family_weights():
    seq = [torch.tensor([0.9, 0.5]), torch.tensor([0.7, 0.3])]
    for name, expect in [
        ("kgc", lambda v, m: 1 / (2 * v)),
        ("kgc_plus", lambda v, m: 1 / (2 * (v + 1e-3))),
        ("kgc_mean", lambda v, m: 1 / (2 * v / m)),
    ]:
        w = make_weighting(name, decay=0.5)
        for x in seq:
            total = w(x)
        # corrected var after two samples with decay .5: (0.5*dev^2)/0.75, dev = x2 - x1
        var = 0.5 * np.array([0.2, 0.2]) ** 2 / 0.75
        mean = (0.25 * np.array([0.9, 0.5]) + 0.5 * np.array([0.7, 0.3])) / 0.75
        mult = expect(var, mean)
        assert w.multipliers() == pytest.approx(mult.tolist(), rel=1e-5), name
        v_eff = 1 / (2 * mult)
        ref = float(np.sum(np.array([0.7, 0.3]) / (2 * v_eff) + 0.5 * np.log(v_eff)))
        assert total.item() == pytest.approx(ref, rel=1e-5)
    assert make_weighting("kgc_mean").terms == ("iou", "distance_px")
    assert make_weighting("kgc").terms == ("iou", "distance")


def test_kgc_first_step_floor_gives_huge_weights():
    w = make_weighting("kgc")
    w(torch.tensor([0.9, 0.5]))
    assert w.multipliers() == pytest.approx([0.5e8, 0.5e8])


def test_auxnet_shape_and_plain_reading_optimum():
    torch.manual_seed(0)
    aux = make_weighting("auxnet", lr=3e-2, decay=0.9)
    assert sum(p.numel() for p in aux.net.parameters()) == 6 * 24 + 24 + 24 * 2 + 2
    target = torch.tensor([0.6, 25.0])
    for _ in range(1500):
        aux(target + 0.01 * torch.randn(2))
    # Plain backprop of Eq. 3 reaches the AuxNet only through w: optimum w_i = L_i.
    w = 1.0 / torch.tensor(aux.multipliers())
    assert w.tolist() == pytest.approx(target.tolist(), rel=0.1)


def test_auxnet_does_not_touch_network_gradients():
    aux = make_weighting("auxnet")
    x = torch.tensor([0.5, 10.0], requires_grad=True)
    total = aux(x)
    total.backward()
    assert x.grad.tolist() == pytest.approx(aux.multipliers(), rel=1e-5)
    assert aux.network_parameters() == []


def test_auxnet_lookahead_uses_reeval():
    torch.manual_seed(0)
    aux = make_weighting("auxnet_lookahead", lr=1e-2, eta=0.5)
    z = torch.randn(3, requires_grad=True)
    calls = []

    def losses_of(zz):
        calls.append(1)
        return torch.stack([(zz**2).sum(), ((zz - 1) ** 2).sum()])

    before = [p.clone() for p in aux.net.parameters()]
    for _ in range(3):
        aux(losses_of(z), outputs=z, reeval=losses_of)
    assert len(calls) == 6  # one forward and one look-ahead per step
    assert any(not torch.equal(a, b) for a, b in zip(before, aux.net.parameters(), strict=True))


def test_uncertainty_gradient():
    w = make_weighting("uncertainty")
    with torch.no_grad():
        w.log_var.copy_(torch.tensor([0.0, math.log(4.0)]))
    total = w(torch.tensor([1.0, 2.0]))
    assert total.item() == pytest.approx(1.0 + 0.5 + math.log(4.0))
    total.backward()
    # d/ds (exp(-s) L + s) = 1 - exp(-s) L
    assert w.log_var.grad.tolist() == pytest.approx([0.0, 0.5])


def test_dwa_hand_computed():
    w = make_weighting("dwa", period=2)
    for x in ([1.0, 1.0], [1.0, 1.0], [0.5, 1.0], [0.5, 1.0]):
        w(torch.tensor(x))
    assert w.multipliers() == [1.0, 1.0]  # two full periods needed
    total = w(torch.tensor([1.0, 3.0]))
    # r = (0.5, 1.0); lambda = 2 softmax(r / 2)
    e = np.exp(np.array([0.25, 0.5]))
    lam = 2 * e / e.sum()
    assert w.multipliers() == pytest.approx(lam.tolist(), rel=1e-5)
    assert total.item() == pytest.approx(lam[0] + 3 * lam[1], rel=1e-6)


def test_sum_and_single_terms():
    assert make_weighting("sum")(torch.tensor([0.25, 0.5])).item() == 0.75
    assert make_weighting("iou").terms == ("iou",)
    assert make_weighting("distance").terms == ("distance",)


def test_state_roundtrip():
    a = make_weighting("auxnet", lr=1e-2)
    for x in ([0.5, 10.0], [0.4, 9.0], [0.3, 8.0]):
        a(torch.tensor(x))
    b = make_weighting("auxnet", lr=1e-2)
    b.load_state_dict(a.state_dict())
    b.load_extra_state(a.extra_state())
    x = torch.tensor([0.2, 7.0])
    assert a(x).item() == pytest.approx(b(x).item())


def test_unknown_method():
    with pytest.raises(ValueError, match="unknown weighting method 'bogus'"):
        make_weighting("bogus")
    assert {"sum", "kgc", "kgc_plus", "kgc_mean", "auxnet", "uncertainty", "dwa"} <= set(METHODS)
