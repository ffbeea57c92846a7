"""Loss-weighting methods: hand-computed weights and the behaviour each method is defined by."""

import math

import numpy as np
import pytest
import torch

from grasp_pipeline.perception.segnet.losses import centroid_distance_px, soft_iou_error
from grasp_pipeline.training.weighting import METHODS, RunningStats, make_weighting

TWO_TERM = [m for m in METHODS if m not in ("iou", "distance", "cross_entropy")]


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
        w = make_weighting(name, decay=0.5, warmup_steps=0)
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


def test_kgc_first_step_floor_gives_huge_weights_without_warmup():
    # The reference code's behaviour, kept reachable with warmup_steps=0: one sample, variance 0,
    # floor 1e-8.
    w = make_weighting("kgc", warmup_steps=0)
    w(torch.tensor([0.9, 0.5]))
    assert w.multipliers() == pytest.approx([0.5e8, 0.5e8])


def test_auxnet_shape_and_plain_reading_optimum():
    torch.manual_seed(0)
    aux = make_weighting("auxnet", lr=3e-2, decay=0.9, warmup_steps=0)
    assert sum(p.numel() for p in aux.net.parameters()) == 6 * 24 + 24 + 24 * 2 + 2
    target = torch.tensor([0.6, 25.0])
    for _ in range(1500):
        aux(target + 0.01 * torch.randn(2))
    # Plain backprop of Eq. 3 reaches the AuxNet only through w: optimum w_i = L_i.
    w = 1.0 / torch.tensor(aux.multipliers())
    assert w.tolist() == pytest.approx(target.tolist(), rel=0.1)


def test_auxnet_does_not_touch_network_gradients():
    aux = make_weighting("auxnet", warmup_steps=0)
    x = torch.tensor([0.5, 10.0], requires_grad=True)
    total = aux(x)
    total.backward()
    assert x.grad.tolist() == pytest.approx(aux.multipliers(), rel=1e-5)
    assert aux.network_parameters() == []


def test_auxnet_lookahead_uses_reeval():
    torch.manual_seed(0)
    aux = make_weighting("auxnet_lookahead", lr=1e-2, eta=0.5, warmup_steps=0)
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
    w = make_weighting("uncertainty", warmup_steps=0)
    with torch.no_grad():
        w.log_var.copy_(torch.tensor([0.0, math.log(4.0)]))
    total = w(torch.tensor([1.0, 2.0]))
    assert total.item() == pytest.approx(1.0 + 0.5 + math.log(4.0))
    total.backward()
    # d/ds (exp(-s) L + s) = 1 - exp(-s) L
    assert w.log_var.grad.tolist() == pytest.approx([0.0, 0.5])


def test_dwa_hand_computed():
    w = make_weighting("dwa", period=2, warmup_steps=0)
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
    a = make_weighting("auxnet", lr=1e-2, warmup_steps=1)
    for x in ([0.5, 10.0], [0.4, 9.0], [0.3, 8.0]):
        a(torch.tensor(x))
    b = make_weighting("auxnet", lr=1e-2, warmup_steps=1)
    b.load_state_dict(a.state_dict())
    b.load_extra_state(a.extra_state())
    x = torch.tensor([0.2, 7.0])
    assert a(x).item() == pytest.approx(b(x).item())


def test_unknown_method():
    with pytest.raises(ValueError, match="unknown weighting method 'bogus'"):
        make_weighting("bogus")
    assert {"sum", "kgc", "kgc_plus", "kgc_mean", "auxnet", "uncertainty", "dwa", "famo"} <= set(
        METHODS
    )
    with pytest.raises(ValueError, match="warmup_steps"):
        make_weighting("kgc", warmup_steps=-1)


@pytest.mark.parametrize("name", TWO_TERM)
def test_warmup_is_the_plain_sum_for_every_method(name):
    torch.manual_seed(0)
    w = make_weighting(name, warmup_steps=5, decay=0.9, period=2)
    scale = [1.0, 0.01] if w.terms[1] == "distance_px" else [1.0, 1.0]
    gen = torch.Generator().manual_seed(1)
    for _ in range(5):
        x = torch.tensor([0.9, 0.5 / scale[1]]) + 0.01 * torch.randn(2, generator=gen)
        x.requires_grad_(True)
        total = w(x)
        total.backward()
        # Equal weights on the 0..1 scale: the gradient reaching the losses is the scale.
        assert x.grad.tolist() == pytest.approx(scale) and w.multipliers() == pytest.approx(scale)
        x = x.detach()
        assert total.item() == pytest.approx(float(x[0] + scale[1] * x[1]), rel=1e-6)
        w.after_step(x.detach() * 0.9)
    if hasattr(w, "stats"):
        assert w.stats.n == 5  # statistics filled during the warm-up
    if name == "famo":
        assert w.xi.tolist() == [0.0, 0.0]  # nothing learned from warm-up steps
    if name in ("auxnet", "auxnet_lookahead"):
        assert w.prev_total is None  # the AuxNet's own optimiser has not acted yet
    if name == "uncertainty":
        assert w.log_var.grad is None  # s_i untouched by the warm-up (still 0: weights 1)
        w(torch.tensor([0.9, 0.5])).backward()
        assert w.log_var.grad.tolist() == pytest.approx([0.1, 0.5])  # 1 - exp(-s) L
    elif name != "sum":  # the method acts from call warmup_steps + 1 on
        w(torch.tensor([0.9, 0.5 / scale[1]]))
        assert w.multipliers() != pytest.approx(scale)


def test_kgc_default_warmup_has_no_floor_weights():
    w = make_weighting("kgc")
    assert w.warmup_steps == 50
    gen = torch.Generator().manual_seed(0)
    mults = []
    for _ in range(51):
        w(torch.tensor([0.9, 0.5]) + 0.01 * torch.randn(2, generator=gen))
        mults.append(w.multipliers())
    assert mults[0] == [1.0, 1.0] and mults[49] == [1.0, 1.0]
    # First weighted step: 1 / (2 var) with the variance of 51 samples of std 0.01 (~5e3).
    var = w.stats.var
    assert mults[50] == pytest.approx((1 / (2 * var)).tolist(), rel=1e-5)
    assert min(mults[50]) > 5e2 and max(mults[50]) < 5e4


def test_famo_hand_checked_two_tasks():
    famo = make_weighting("famo", warmup_steps=0)
    losses = torch.tensor([1.0, 1.0], requires_grad=True)
    total = famo(losses)
    # z = (0.5, 0.5), c = sum z / L = 1: total = sum z log L = 0, multipliers z / (c L) = 0.5.
    assert total.item() == pytest.approx(0.0, abs=1e-7)
    total.backward()
    assert losses.grad.tolist() == pytest.approx([0.5, 0.5])
    # Task 1 halves, task 2 stays: delta = (log 2, 0), g = z (delta - z.delta) = (+-0.1733);
    # Adam's first step moves each logit by lr * sign(g) = 0.025 (the decay term is 0 at xi = 0).
    famo.after_step(torch.tensor([0.5, 1.0]))
    assert famo.xi.tolist() == pytest.approx([-0.025, 0.025], rel=1e-6)
    z1 = 1.0 / (1.0 + math.exp(0.05))
    assert famo.z().tolist() == pytest.approx([z1, 1 - z1], rel=1e-6)
    # The next step weights the improving task less: multipliers z_i / (c L_i).
    famo(torch.tensor([0.5, 1.0]))
    c = z1 / 0.5 + (1 - z1) / 1.0
    assert famo.multipliers() == pytest.approx([z1 / (c * 0.5), (1 - z1) / c], rel=1e-5)
    # One update per forward pass: a second after_step without a new forward does nothing.
    famo.after_step(torch.tensor([0.1, 0.1]))
    once = famo.xi.tolist()
    assert once != pytest.approx([-0.025, 0.025])
    famo.after_step(torch.tensor([0.01, 0.01]))
    assert famo.xi.tolist() == once
    b = make_weighting("famo", warmup_steps=0)
    b.load_extra_state(famo.extra_state())
    assert b.z().tolist() == pytest.approx(famo.z().tolist())


def _toy(seed: int = 0, b: int = 4, h: int = 24, w: int = 32):
    """Free logits (B, H, W) against disk masks of radius 3 px and their centres (u, v)."""
    g = torch.Generator().manual_seed(seed)
    vv, uu = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(), indexing="ij")
    c = torch.rand(b, 2, generator=g) * torch.tensor([w - 8.0, h - 8.0]) + 4
    mask = (((uu - c[:, 0, None, None]) ** 2 + (vv - c[:, 1, None, None]) ** 2) <= 9).float()
    z0 = torch.randn(b, h, w, generator=g) * 0.5 - 1.0

    def losses_of(z):
        p = torch.sigmoid(z)
        return torch.stack([soft_iou_error(p, mask).mean(), centroid_distance_px(p, c).mean()])

    return z0, losses_of


def _weight_ratio(name: str, eta: float, steps: int) -> list[float]:
    """Distance-to-IoU multiplier ratio (px / 100 scale) of an AuxNet training free logits."""
    z0, losses_of = _toy()
    z = z0.clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=0.02)
    torch.manual_seed(1)  # the same AuxNet initialisation for both readings
    aux = make_weighting(name, lr=3e-3, eta=eta, warmup_steps=10)
    ratios = []
    for _ in range(steps):
        total = aux(losses_of(z), outputs=z, reeval=losses_of)
        opt.zero_grad()
        total.backward()
        opt.step()
        m = aux.multipliers()
        ratios.append(100 * m[1] / m[0])
    return ratios


def test_lookahead_changes_the_learned_weights():
    # The old step (eta = 10 on raw gradients of pixel-averaged losses) moved the logits by an
    # RMS of ~3e-3 here; a look-ahead of that size learns the plain reading's weights.
    z0, losses_of = _toy()
    z = z0.clone().requires_grad_(True)
    ls = losses_of(z)
    g = [torch.autograd.grad(ls[i], z, retain_graph=True)[0] for i in range(2)]
    d = g[0] / ls[0].detach() + g[1] / ls[1].detach()
    assert 10 * d.pow(2).mean().sqrt().item() < 1e-2
    plain = _weight_ratio("auxnet", 1.0, 150)
    small = _weight_ratio("auxnet_lookahead", 0.003, 150)
    ahead = _weight_ratio("auxnet_lookahead", 1.0, 150)
    assert small[49] == pytest.approx(plain[49], rel=0.02)
    # A step of 1 logit RMS: the weight ratio differs by more than a factor of 1.5.
    assert abs(math.log(ahead[-1] / plain[-1])) > math.log(1.5)
    assert abs(math.log(ahead[49] / plain[49])) > math.log(1.5)
