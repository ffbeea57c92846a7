"""Keypoint losses, differentiable SE(3) log / Kabsch, and the NT-Xent baseline loss."""

import numpy as np
import pytest
import torch

from grasp_pipeline.geometry.kabsch import kabsch as kabsch_np
from grasp_pipeline.geometry.se3 import se3_exp, se3_log
from grasp_pipeline.perception.descriptors import lie_torch
from grasp_pipeline.perception.descriptors.config import KeypointLossConfig
from grasp_pipeline.perception.descriptors.keypoint_losses import (
    keypoint_losses,
    multiview_loss,
    pose_loss,
    separation_loss,
    silhouette_loss,
    variance_loss,
)
from grasp_pipeline.perception.descriptors.model import DescriptorOutput
from grasp_pipeline.perception.descriptors.ntxent import ntxent_loss
from grasp_pipeline.perception.descriptors.spatial import (
    lift_uvd,
    spatial_expectation,
    spatial_softmax,
)


def test_se3_log_of_identity_is_zero():
    T = torch.eye(4, dtype=torch.float64, requires_grad=True)
    xi = lie_torch.se3_log(T)
    assert (
        torch.equal(xi.detach(), torch.zeros(6, dtype=torch.float64))
        or xi.detach().abs().max() < 1e-9
    )
    xi.norm().backward()  # gradient at the identity stays finite
    assert torch.isfinite(T.grad).all()


@pytest.mark.parametrize("seed", range(6))
def test_se3_log_matches_numpy(seed):
    rng = np.random.default_rng(seed)
    xi = np.concatenate([rng.normal(0, 0.3, 3), rng.normal(0, 1, 3)])
    xi[3:] *= rng.uniform(1e-4, 2.5) / np.linalg.norm(xi[3:])  # angles from tiny to 2.5 rad
    T = se3_exp(xi)
    ours = lie_torch.se3_log(torch.as_tensor(T)).numpy()
    np.testing.assert_allclose(ours, se3_log(T), atol=1e-7)
    np.testing.assert_allclose(ours, xi, atol=1e-7)


def test_kabsch_matches_numpy_and_has_gradients():
    rng = np.random.default_rng(3)
    src = rng.normal(0, 0.05, (20, 3))
    T = se3_exp(np.array([0.1, -0.05, 0.3, 0.4, -0.2, 1.0]))
    dst = src @ T[:3, :3].T + T[:3, 3] + rng.normal(0, 1e-3, (20, 3))
    w = rng.uniform(0.2, 1.0, 20)
    s = torch.tensor(src, requires_grad=True)
    ours = lie_torch.kabsch(s, torch.tensor(dst), torch.tensor(w))
    np.testing.assert_allclose(ours.detach().numpy(), kabsch_np(src, dst, w), atol=1e-9)
    ours[:3, 3].sum().backward()
    assert torch.isfinite(s.grad).all()
    with pytest.raises(ValueError, match="N>=3"):
        lie_torch.kabsch(torch.zeros(2, 3), torch.zeros(2, 3))


def test_silhouette_and_variance_hand_cases():
    prob = torch.zeros(1, 2, 4, 4)
    prob[0, 0, 1, 1] = 1.0  # all mass on the object
    prob[0, 1, 0, 0] = 0.5  # half on, half off
    prob[0, 1, 3, 3] = 0.5
    mask = torch.zeros(1, 4, 4)
    mask[0, 1:, 1:] = 1
    assert silhouette_loss(prob, mask).item() == pytest.approx(
        -(np.log(1.0) + np.log(0.5)) / 2, rel=1e-5
    )
    uv = spatial_expectation(prob)
    # keypoint 0 is a delta (variance 0); keypoint 1: two halves at (0,0) and (3,3), mean
    # (1.5, 1.5), squared distance 4.5 each -> variance 4.5
    assert variance_loss(prob, uv).item() == pytest.approx((0 + 4.5) / 2)


def test_variance_loss_equals_the_direct_sum_on_peaky_maps():
    # The closed form E||x - c||^2 - ||E[x] - c||^2 must match sum p ||x - E[x]||^2 in float32
    # for maps as peaky as trained ones (variance of a pixel or two) at the benchmark's size.
    torch.manual_seed(0)
    logits = torch.randn(2, 16, 96, 128) * 3
    logits[:, :, 40, 70] += 30.0
    prob = spatial_softmax(logits)
    uv = spatial_expectation(prob)
    grid = torch.stack(
        torch.meshgrid(torch.arange(128.0), torch.arange(96.0), indexing="xy"), -1
    ).reshape(-1, 2)
    direct = (prob.reshape(2, 16, -1) * ((grid[None, None] - uv[:, :, None]) ** 2).sum(-1)).sum(-1)
    assert variance_loss(prob, uv).item() == pytest.approx(direct.mean().item(), rel=1e-3, abs=1e-3)


def test_separation_loss():
    uv = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [10.0, 10.0]]])
    # one pair 1 px apart inside a 2 px margin: (4 - 1) / 4, counted twice among 6 ordered pairs
    assert separation_loss(uv, 2.0).item() == pytest.approx(2 * 0.75 / 6)
    assert separation_loss(uv * 10, 2.0).item() == 0.0


def _outputs(uvd_a, uvd_b, h=48, w=64):
    """Keypoint outputs whose maps are deltas at the given pixels, depth as given."""
    outs = []
    for uvd in (uvd_a, uvd_b):
        n = uvd.shape[1]
        logits = torch.full((1, n, h, w), -1e4)
        depth = torch.zeros(1, n, h, w)
        for i, (u, v, d) in enumerate(uvd[0].tolist()):
            logits[0, i, int(v), int(u)] = 0
            depth[0, i, int(v), int(u)] = d
        prob = spatial_softmax(logits)
        outs.append(
            DescriptorOutput(torch.zeros(1, 3, h, w), prob, depth, spatial_expectation(prob, depth))
        )
    return outs


def test_consistent_keypoints_give_zero_multiview_and_pose_loss():
    intr = torch.tensor([[60.0, 60.0, 31.5, 23.5]])
    rng = np.random.default_rng(0)
    T = se3_exp(np.array([0.02, -0.01, 0.03, 0.05, -0.1, 0.6]))
    uv_a = torch.tensor(rng.uniform([8, 8], [56, 40], (10, 2)).round())
    d_a = torch.tensor(rng.uniform(0.4, 0.5, (10, 1)))
    x_a = lift_uvd(torch.cat([uv_a, d_a], 1), intr[0].double())
    x_b = x_a @ torch.tensor(T[:3, :3]).T + torch.tensor(T[:3, 3])
    T_t = torch.tensor(T)[None]
    assert multiview_loss(x_a[None], x_b[None], T_t, 100.0, 1.0).item() < 1e-12
    assert pose_loss(x_a[None], x_b[None], T_t).item() < 1e-6
    # a wrong transform is penalised: 1 cm error -> Huber on centimetres
    T_wrong = T_t.clone()
    T_wrong[0, 0, 3] += 0.01
    assert multiview_loss(x_a[None], x_b[None], T_wrong, 100.0, 1.0).item() == pytest.approx(
        0.5 * 1.0 / 3, rel=1e-6
    )
    assert pose_loss(x_a[None], x_b[None], T_wrong).item() == pytest.approx(0.01, rel=1e-3)


def test_keypoint_losses_named_terms_and_weights():
    a, b = _outputs(
        torch.tensor(
            [[[10, 10, 0.5], [30, 20, 0.5], [20, 30, 0.6], [40, 12, 0.55]]], dtype=torch.float32
        ),
        torch.tensor(
            [[[12, 10, 0.5], [31, 22, 0.5], [20, 33, 0.6], [41, 10, 0.55]]], dtype=torch.float32
        ),
    )
    mask = torch.ones(1, 48, 64)
    cfg = KeypointLossConfig()
    terms = keypoint_losses(
        a, b, mask, mask, torch.eye(4)[None], torch.tensor([[60.0, 60.0, 31.5, 23.5]]), cfg
    )
    assert set(terms) == {"silhouette", "variance", "separation", "multiview", "pose", "total"}
    # the correspondence term is the trainer's (it needs the matches); weight 0 by default
    assert cfg.weights["correspondence"] == 0.0
    expected = sum(cfg.weights[k] * terms[k] for k in cfg.weights if k in terms)
    assert terms["total"].item() == pytest.approx(expected.item())
    assert terms["silhouette"].item() == pytest.approx(0.0, abs=1e-6)
    assert terms["multiview"].item() > 0 and terms["pose"].item() > 0


def test_ntxent_matmul_equals_broadcast_and_prefers_matches():
    torch.manual_seed(0)
    h, w, d = 6, 8, 4
    desc_a = torch.randn(1, d, h, w)
    uv_a = torch.tensor([[[1, 1], [3, 2], [6, 4], [0, 5]]])
    uv_b = torch.tensor([[[2, 1], [4, 2], [7, 4], [1, 5]]])  # B = A shifted one pixel right
    desc_b = torch.roll(desc_a, shifts=1, dims=-1)
    good = ntxent_loss(desc_a, desc_b, uv_a, uv_b, 0.1, "broadcast")["ntxent"]
    assert good.item() == pytest.approx(
        ntxent_loss(desc_a, desc_b, uv_a, uv_b, 0.1, "matmul")["ntxent"].item(), rel=1e-5
    )
    bad = ntxent_loss(desc_a, torch.randn(1, d, h, w), uv_a, uv_b, 0.1, "matmul")["ntxent"]
    assert good.item() < bad.item()
    # hand check with two pixels: logits to B and to A's non-anchor pixel
    da = torch.tensor([[[[1.0, 0.0]], [[0.0, 1.0]]]])  # (1, 2, 1, 2): pixel0 = e0, pixel1 = e1
    db = da.clone()
    loss = ntxent_loss(da, db, torch.tensor([[[0, 0]]]), torch.tensor([[[0, 0]]]), 1.0, "matmul")[
        "ntxent"
    ]
    # logits: B = [cos 1, cos 0] = [1, 0], A without self = [0]; CE = -log(e / (e + 1 + 1))
    assert loss.item() == pytest.approx(-np.log(np.e / (np.e + 2)), rel=1e-6)
    with pytest.raises(ValueError, match="similarity"):
        ntxent_loss(da, db, torch.tensor([[[0, 0]]]), torch.tensor([[[0, 0]]]), 1.0, "dot")


def _so3_exp_torch(w: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula (away from theta = 0), to differentiate log(exp(w)) in tests."""
    theta = w.norm()
    K = lie_torch._skew(w / theta)
    return torch.eye(3, dtype=w.dtype) + torch.sin(theta) * K + (1 - torch.cos(theta)) * (K @ K)


@pytest.mark.parametrize("gap", [0.3, 1e-3, 1e-6, 0.0])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_so3_log_near_pi_is_exact_with_finite_gradient(gap, dtype):
    axis = np.array([0.3, -0.5, 0.8]) / np.linalg.norm([0.3, -0.5, 0.8])
    w_true = axis * (np.pi - gap)
    R = torch.tensor(se3_exp(np.r_[0, 0, 0, w_true])[:3, :3], dtype=dtype, requires_grad=True)
    w = lie_torch.so3_log(R)
    tol = 1e-5 if dtype == torch.float32 else 1e-9
    got = w.detach().double().numpy()
    # At exactly pi, -w is the same rotation.
    assert min(np.abs(got - w_true).max(), np.abs(got + w_true).max() if gap == 0 else 1) < tol
    assert w.norm().item() == pytest.approx(np.pi - gap, abs=tol)
    (g,) = torch.autograd.grad(w.norm(), R)
    assert torch.isfinite(g).all() and g.abs().max() < 10


@pytest.mark.parametrize("angle", [1e-2, 1.0, 2.8, 2.9, np.pi - 1e-3, np.pi - 1e-5])
def test_so3_log_inverts_exp_with_identity_jacobian(angle):
    """d log(exp(w)) / dw = I on both sides of the near-pi branch switch (cos = -0.95)."""
    axis = torch.tensor([0.2, 0.9, -0.4], dtype=torch.float64)
    w0 = axis / axis.norm() * angle
    J = torch.autograd.functional.jacobian(lambda w: lie_torch.so3_log(_so3_exp_torch(w)), w0)
    np.testing.assert_allclose(lie_torch.so3_log(_so3_exp_torch(w0)).numpy(), w0.numpy(), atol=1e-9)
    np.testing.assert_allclose(J.numpy(), np.eye(3), atol=1e-6)


def test_kabsch_gradient_is_finite_and_right_at_repeated_singular_values():
    """A square of keypoints has two equal singular values: torch.linalg.svd's backward gives
    NaN there, the rotation itself is smooth and its gradient must match finite differences."""
    square = torch.tensor([[1.0, 0, 0], [0, 1, 0], [-1, 0, 0], [0, -1, 0]], dtype=torch.float64)
    T = torch.as_tensor(se3_exp(np.array([0.1, -0.02, 0.3, 0.2, -0.4, 0.9])))
    dst = (square * 0.05) @ T[:3, :3].T + T[:3, 3]
    src = (square * 0.05).requires_grad_(True)

    def f(s):
        return lie_torch.kabsch(s, dst)[..., :3, :]

    (g,) = torch.autograd.grad(f(src).sum(), src)
    assert torch.isfinite(g).all()
    assert torch.autograd.gradcheck(f, (src,), eps=1e-7, atol=1e-5)
    # Reflected sets (det < 0 branch) and random sets agree with finite differences as well.
    rng = np.random.default_rng(0)
    for flip in (1.0, -1.0):
        s = torch.tensor(rng.normal(0, 0.05, (6, 3)), requires_grad=True)
        d = s.detach() * torch.tensor([1.0, 1.0, flip], dtype=torch.float64) + 0.1
        assert torch.autograd.gradcheck(lambda x, d=d: lie_torch.kabsch(x, d), (s,), atol=1e-5)


@pytest.mark.parametrize("layout", ["coincident", "collinear"])
def test_pose_loss_leaves_degenerate_pairs_out_with_finite_gradient(layout):
    rng = np.random.default_rng(1)
    good = torch.tensor(rng.normal(0, 0.05, (8, 3)) + np.array([0, 0, 0.4]), dtype=torch.float32)
    if layout == "coincident":
        bad = torch.full((8, 3), 0.3)
    else:
        bad = torch.linspace(0, 0.1, 8)[:, None] * torch.tensor([1.0, 2.0, 0.5]) + 0.3
    T_ab = torch.as_tensor(se3_exp(np.array([0.02, 0.0, 0.01, 0.0, 0.3, 0.1])), dtype=torch.float32)
    x_a = torch.stack([good, bad]).requires_grad_(True)
    x_b = torch.stack([good @ T_ab[:3, :3].T + T_ab[:3, 3], bad + 0.01])
    perturbed = x_b.clone()
    perturbed[0] += torch.tensor(rng.normal(0, 0.01, (8, 3)), dtype=torch.float32)
    loss = pose_loss(x_a, perturbed, T_ab.expand(2, 4, 4))
    alone = pose_loss(x_a[:1], perturbed[:1], T_ab[None])
    assert loss.item() == pytest.approx(alone.item(), rel=1e-5)  # the degenerate pair: left out
    assert loss.item() > 0.01
    loss.backward()
    assert torch.isfinite(x_a.grad).all()
    assert x_a.grad[1].abs().max() == 0 and x_a.grad[0].abs().max() > 0
    # Only degenerate pairs: the term is 0, its gradient finite (zero).
    x = torch.stack([bad, bad]).requires_grad_(True)
    zero = pose_loss(x, x.detach() + 0.01, T_ab.expand(2, 4, 4))
    zero.backward()
    assert zero.item() == 0.0 and torch.isfinite(x.grad).all()
