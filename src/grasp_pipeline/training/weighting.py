"""Loss-weighting methods behind one interface, selectable by name (paper 000 and baselines).

Every method consumes a fixed tuple of named loss terms (``terms``, keys of
:func:`~grasp_pipeline.perception.segnet.losses.queried_loss_terms`) and returns one scalar to
minimise. ``multipliers()`` reports the effective factor d(total)/d(L_i) of each term, which is what
the paper plots as "weights" (inverted, so larger means more influence).

Warm-up (all methods alike): during the first ``warmup_steps`` training calls (default
:data:`WARMUP_STEPS`) every method returns the paper's simple addition of its terms on the
0..1 scale, sum_i s_i L_i with s_i = 1/100 for the raw pixel distance and 1 otherwise, while its
running statistics (EMA mean/variance, DWA's period means) fill. Only after that do the KGC
family, the AuxNet (and its optimiser), the learned uncertainties, DWA and FAMO act. Because a
seed fixes initial weights and batches, every two-term method trains the same network up to the
end of the warm-up. Without it, KGC's first call sees one sample, variance 0, the 1e-8 floor and
weights of 5e7, and that one gradient then dominates Adam's second-moment estimate (beta2 = 0.999)
for thousands of steps.

Methods:
- ``sum``: L_iou + L_dist (distance in px / 100); ``iou``, ``distance``, ``cross_entropy``: one
  term each (the single-error baselines of the paper's Fig. 5; the warm-up changes nothing there).
- ``kgc``: Kendall et al. with an online variance estimate: sum L_i / (2 s_i^2) + log s_i, where
  s_i^2 is a bias-corrected exponential moving variance of L_i (no gradient through it).
- ``kgc_plus``: s_i^2 + 1e-3; ``kgc_mean``: s_i^2 / mu_i (raw pixel distance, as in the paper).
- ``auxnet``: Converge-Fast-AuxNet, 6 inputs (value, EMA mean, EMA std per loss) -> 24 ReLU -> 2
  positive weights w_i, total sum L_i / w_i + log w_i, its own Adam minimising the relative change
  of the total loss (Eq. 3). Plain-backprop reading: the objective reaches the AuxNet only through
  the explicit w_i, whose optimum is w_i = L_i.
- ``auxnet_lookahead``: the same network and objective, with the total loss at t evaluated one
  functional step ahead: the queried output logits z move to z' = z - eta * d / rms(d), with
  d = sum_i (dL_i/dz) / w_i and rms(d) its root-mean-square over all B x H x W logits, so eta is
  the RMS logit change of the step (default :data:`LOOKAHEAD_ETA`), whatever the scale of the
  pixel-averaged gradients; the losses are recomputed at z', so the weights are judged by how much
  the update they cause lowers the total loss. The normalisation makes the step depend only on the
  ratio of the weights; their overall scale is still set by the explicit L_i / w_i + log w_i.
- ``uncertainty``: learned log-variances (Kendall 2018): sum exp(-s_i) L_i + s_i, s_i trained with
  the network's optimiser.
- ``dwa``: Dynamic Weight Average (Liu 2019): lambda_i = K softmax(r_i / T), r_i the ratio of the
  mean loss of the last two periods of ``period`` steps, T = 2.
- ``famo``: Fast Adaptive Multitask Optimization (Liu et al., NeurIPS 2023), see :class:`FAMO`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

RAW_TERMS = ("iou", "distance_px")
SCALED_TERMS = ("iou", "distance")
# Divisor that puts a term on the paper's 0..1 scale (the pixel distance is divided by 100, the
# same operation as the ``distance`` term, so the warm-up is bit-identical across term sets).
TERM_DIVISOR = {"distance_px": 100.0}
WARMUP_STEPS = 50
LOOKAHEAD_ETA = 1.0  # RMS change of the queried logits in the look-ahead step


class RunningStats:
    """Bias-corrected exponential moving mean and variance of a vector of K losses."""

    def __init__(self, k: int, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.m = torch.zeros(k, dtype=torch.float64)
        self.v = torch.zeros(k, dtype=torch.float64)
        self.n = 0

    def update(self, x: torch.Tensor) -> None:
        x = x.detach().to(torch.float64).cpu()
        # Deviation from the previous (corrected) mean; zero at the first sample.
        dev = x - self.mean if self.n else torch.zeros_like(x)
        self.n += 1
        self.m = self.decay * self.m + (1 - self.decay) * x
        self.v = self.decay * self.v + (1 - self.decay) * dev * dev

    @property
    def mean(self) -> torch.Tensor:
        return self.m / (1 - self.decay**self.n) if self.n else self.m.clone()

    @property
    def var(self) -> torch.Tensor:
        return self.v / (1 - self.decay**self.n) if self.n else self.v.clone()

    def state_dict(self) -> dict:
        return {"m": self.m, "v": self.v, "n": torch.tensor(self.n)}

    def load_state_dict(self, state: dict) -> None:
        self.m, self.v, self.n = state["m"].clone(), state["v"].clone(), int(state["n"])


class LossWeighting(nn.Module):
    """Base: ``forward(losses (K,)) -> total``; subclasses define ``observe`` (statistics, called
    on every training call, warm-up included) and ``combine`` (the weighting proper, called after
    the warm-up)."""

    name = "base"
    terms: tuple[str, ...] = SCALED_TERMS
    # True for methods whose ``after_step`` needs the losses of the same batch after the network's
    # optimiser step (FAMO); the trainer then evaluates them once more.
    needs_post_step_losses = False

    def __init__(self, warmup_steps: int = 0) -> None:
        super().__init__()
        if warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps}")
        self.warmup_steps = int(warmup_steps)
        self.calls = 0  # training calls so far
        self.divisor = torch.tensor([TERM_DIVISOR.get(t, 1.0) for t in self.terms])
        self._mult = 1.0 / self.divisor

    def network_parameters(self) -> list[nn.Parameter]:
        """Parameters to be optimised together with the network (none by default)."""
        return []

    def multipliers(self) -> list[float]:
        return [float(x) for x in self._mult]

    @property
    def warming_up(self) -> bool:
        """True while the last training call was inside the warm-up."""
        return self.calls <= self.warmup_steps

    def forward(
        self,
        losses: torch.Tensor,
        outputs: torch.Tensor | None = None,
        reeval: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> torch.Tensor:
        if self.training:
            self.calls += 1
            self.observe(losses)
        if self.warming_up:
            self._mult = 1.0 / self.divisor
            return (losses / self.divisor.to(losses)).sum()
        return self.combine(losses, outputs, reeval)

    def observe(self, losses: torch.Tensor) -> None:
        return None

    def combine(
        self,
        losses: torch.Tensor,
        outputs: torch.Tensor | None,
        reeval: Callable[[torch.Tensor], torch.Tensor] | None,
    ) -> torch.Tensor:
        raise NotImplementedError

    def after_step(self, losses: torch.Tensor) -> None:
        """Losses of the same batch after the network's optimiser step (only used by methods with
        ``needs_post_step_losses``)."""
        return None

    def extra_state(self) -> dict:
        return {"calls": torch.tensor(self.calls)}

    def load_extra_state(self, state: dict) -> None:
        # Checkpoints written before the warm-up existed carry no call count: past any warm-up.
        self.calls = int(state.get("calls", 1 << 30))


class FixedSum(LossWeighting):
    def __init__(self, name: str, terms: tuple[str, ...], warmup_steps: int = 0) -> None:
        self.name, self.terms = name, terms
        super().__init__(warmup_steps)

    def combine(self, losses, outputs=None, reeval=None):
        self._mult = torch.ones(len(self.terms))
        return losses.sum()


class KGC(LossWeighting):
    """Variance-based weights; ``mode`` is "plain", "plus" (+1e-3) or "mean" (divided by mean)."""

    def __init__(self, mode: str = "plain", decay: float = 0.99, warmup_steps: int = 0) -> None:
        self.mode = mode
        self.name = {"plain": "kgc", "plus": "kgc_plus", "mean": "kgc_mean"}[mode]
        self.terms = RAW_TERMS if mode == "mean" else SCALED_TERMS
        super().__init__(warmup_steps)
        self.stats = RunningStats(len(self.terms), decay)

    def variances(self) -> torch.Tensor:
        var = self.stats.var
        if self.mode == "plus":
            var = var + 1e-3
        elif self.mode == "mean":
            var = var / self.stats.mean.clamp_min(1e-8)
        return var.clamp_min(1e-8)  # the floor of the reference code: weights up to 5e7

    def observe(self, losses):
        self.stats.update(losses)

    def combine(self, losses, outputs=None, reeval=None):
        var = self.variances().to(losses)
        self._mult = (1.0 / (2.0 * var)).detach().cpu()
        return (losses / (2.0 * var) + 0.5 * torch.log(var)).sum()

    def extra_state(self) -> dict:
        return {**super().extra_state(), "stats": self.stats.state_dict()}

    def load_extra_state(self, state: dict) -> None:
        super().load_extra_state(state)
        self.stats.load_state_dict(state["stats"])


class AuxNet(LossWeighting):
    """Converge-Fast-AuxNet: per-loss (value, EMA mean, EMA std) -> 24 ReLU -> K weights."""

    terms = RAW_TERMS

    def __init__(
        self,
        lr: float = 1e-5,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        decay: float = 0.99,
        hidden: int = 24,
        lookahead_eta: float | None = None,
        warmup_steps: int = 0,
    ) -> None:
        super().__init__(warmup_steps)
        if lookahead_eta is not None and not lookahead_eta > 0:
            raise ValueError(f"look-ahead eta must be > 0, got {lookahead_eta}")
        self.name = "auxnet" if lookahead_eta is None else "auxnet_lookahead"
        k = len(self.terms)
        self.net = nn.Sequential(nn.Linear(3 * k, hidden), nn.ReLU(), nn.Linear(hidden, k))
        self.stats = RunningStats(k, decay)
        self.eta = lookahead_eta
        self.opt = torch.optim.Adam(self.net.parameters(), lr=lr, betas=betas, eps=eps)
        self.prev_total: float | None = None
        self.last_objective = float("nan")

    def weights(self, losses: torch.Tensor) -> torch.Tensor:
        feats = torch.stack(
            [losses.detach().double().cpu(), self.stats.mean, self.stats.var.sqrt()], dim=1
        )  # (K, 3): value, mean, std per loss
        h = self.net(feats.flatten().to(self.net[0].weight))  # (K,)
        return nn.functional.softplus(h) + 1e-6

    def observe(self, losses):
        self.stats.update(losses)

    def combine(self, losses, outputs=None, reeval=None):
        w = self.weights(losses)  # (K,) differentiable w.r.t. the AuxNet
        wd = w.detach().to(losses)
        self._mult = (1.0 / wd).cpu()
        total = (losses / wd + torch.log(wd)).sum()
        if self.training:
            self._aux_step(losses, w, outputs, reeval)
        return total

    def lookahead_losses(
        self,
        losses: torch.Tensor,
        w: torch.Tensor,
        outputs: torch.Tensor,
        reeval: Callable[[torch.Tensor], torch.Tensor],
    ) -> torch.Tensor:
        """Losses (K,) one normalised functional step ahead, differentiable w.r.t. ``w``.

        z' = z - eta * d / rms(d), d = sum_i (dL_i/dz) / w_i: the queried logits move by eta
        (RMS over all of them) in the direction the weights ``w`` give the network's gradient.
        """
        grads = [
            torch.autograd.grad(losses[i], outputs, retain_graph=True)[0].detach()
            for i in range(len(losses))
        ]  # each like outputs (B, H, W)
        d = sum(g / w[i] for i, g in enumerate(grads))
        rms = torch.sqrt((d * d).mean() + 1e-30)
        with torch.enable_grad():
            return reeval(outputs.detach() - self.eta * d / rms)

    def _aux_step(self, losses, w, outputs, reeval) -> None:
        w = w.to(losses)
        if self.eta is None or outputs is None or reeval is None:
            ahead = losses.detach()
        else:
            ahead = self.lookahead_losses(losses, w, outputs, reeval)
        current = (ahead / w + torch.log(w)).sum()
        if self.prev_total is not None:
            # |previous| keeps the sign of Eq. 3 meaningful once log-terms make the total negative.
            objective = (current - self.prev_total) / (abs(self.prev_total) + 1e-8)
            self.opt.zero_grad(set_to_none=True)
            objective.backward()
            self.opt.step()
            self.last_objective = float(objective.detach())
        self.prev_total = float(current.detach())

    def extra_state(self) -> dict:
        return {
            **super().extra_state(),
            "stats": self.stats.state_dict(),
            "opt": self.opt.state_dict(),
            "prev_total": torch.tensor(
                float("nan") if self.prev_total is None else self.prev_total
            ),
        }

    def load_extra_state(self, state: dict) -> None:
        super().load_extra_state(state)
        self.stats.load_state_dict(state["stats"])
        self.opt.load_state_dict(state["opt"])
        prev = float(state["prev_total"])
        self.prev_total = None if prev != prev else prev


class Uncertainty(LossWeighting):
    """Learned homoscedastic uncertainty, s_i = log sigma_i^2 initialised to 0 (no gradient
    reaches s_i during the warm-up, so it starts learning at 0 after it)."""

    name = "uncertainty"

    def __init__(self, warmup_steps: int = 0) -> None:
        super().__init__(warmup_steps)
        self.log_var = nn.Parameter(torch.zeros(len(self.terms)))

    def network_parameters(self) -> list[nn.Parameter]:
        return [self.log_var]

    def combine(self, losses, outputs=None, reeval=None):
        s = self.log_var.to(losses)
        self._mult = torch.exp(-s).detach().cpu()
        return (torch.exp(-s) * losses + s).sum()


class DWA(LossWeighting):
    """Dynamic Weight Average over periods of ``period`` steps (per-step ratios are too noisy)."""

    name = "dwa"

    def __init__(self, period: int = 50, temperature: float = 2.0, warmup_steps: int = 0) -> None:
        super().__init__(warmup_steps)
        if period < 1:
            raise ValueError(f"DWA period must be >= 1, got {period}")
        self.period, self.temperature = period, temperature
        k = len(self.terms)
        self.acc = torch.zeros(k, dtype=torch.float64)
        self.count = 0
        self.history: list[torch.Tensor] = []  # mean losses of the last two periods
        self._lam = torch.ones(k, dtype=torch.float64)

    def observe(self, losses):
        # The weights of this step come from the periods completed before it.
        k = len(self.terms)
        if len(self.history) == 2:
            r = self.history[1] / self.history[0].clamp_min(1e-12)
            self._lam = k * torch.softmax(r / self.temperature, dim=0)
        else:
            self._lam = torch.ones(k, dtype=torch.float64)
        self.acc += losses.detach().double().cpu()
        self.count += 1
        if self.count == self.period:
            self.history = [*self.history[-1:], self.acc / self.count]
            self.acc.zero_()
            self.count = 0

    def combine(self, losses, outputs=None, reeval=None):
        self._mult = self._lam.float()
        return (self._lam.to(losses) * losses).sum()

    def extra_state(self) -> dict:
        hist = torch.stack(self.history) if self.history else torch.zeros(0, len(self.terms))
        return {
            **super().extra_state(),
            "acc": self.acc,
            "count": torch.tensor(self.count),
            "history": hist,
            "lam": self._lam,
        }

    def load_extra_state(self, state: dict) -> None:
        super().load_extra_state(state)
        self.acc, self.count = state["acc"].clone(), int(state["count"])
        self.history = [h.clone() for h in state["history"]]
        if "lam" in state:
            self._lam = state["lam"].clone()


class FAMO(LossWeighting):
    """Fast Adaptive Multitask Optimization (B. Liu, Y. Feng, P. Stone, Q. Liu, NeurIPS 2023).

    Task weights z = softmax(xi), logits xi in R^K start at 0 (equal weights). At step t, with
    the losses L_t (K,) of the batch (lower bound 0; ``eps`` keeps the logarithm finite):

    - network objective: sum_i z_i log(L_i + eps) / c_t with c_t = sum_i z_i / (L_i + eps) held
      constant, so the network's gradient is the convex combination
      sum_i (z_i / (L_i + eps)) / c_t * grad L_i (its multipliers) and keeps the scale of the
      losses' own gradients;
    - after the network's optimiser step, with the losses L_{t+1} of the same batch at the new
      parameters: delta = log(L_t + eps) - log(L_{t+1} + eps) (each task's decrease of log-loss);
      xi's gradient is J^T delta with J = dz/dxi = diag(z) - z z^T, i.e. g_i = z_i (delta_i -
      z . delta), and xi takes one Adam step (``lr`` 0.025, L2 ``weight_decay`` 1e-3, the
      paper's defaults) on g. Tasks whose log-loss fell more than the weighted average lose
      weight, so all tasks' log-losses fall at about the same rate.

    The trainer supplies L_{t+1} through :meth:`after_step` (one extra forward pass per step,
    with the step's dropout masks). Terms: L_iou and pixel distance / 100.
    """

    name = "famo"
    needs_post_step_losses = True

    def __init__(
        self,
        lr: float = 0.025,
        weight_decay: float = 1e-3,
        eps: float = 1e-8,
        warmup_steps: int = 0,
    ) -> None:
        super().__init__(warmup_steps)
        self.eps = float(eps)
        self.xi = torch.zeros(len(self.terms), dtype=torch.float64, requires_grad=True)
        self.opt = torch.optim.Adam([self.xi], lr=lr, weight_decay=weight_decay)
        self._pending: torch.Tensor | None = None  # L_t waiting for L_{t+1}

    def z(self) -> torch.Tensor:
        """Current task weights softmax(xi) (K,), float64."""
        return torch.softmax(self.xi.detach(), dim=0)

    def combine(self, losses, outputs=None, reeval=None):
        z = self.z().to(losses)
        shifted = losses + self.eps
        c = (z / shifted.detach()).sum()
        self._mult = (z / (c * shifted.detach())).detach().cpu()
        if self.training:
            self._pending = losses.detach().double().cpu()
        return (z * torch.log(shifted)).sum() / c

    def after_step(self, losses: torch.Tensor) -> None:
        if self._pending is None:
            return  # warm-up step (or a step the trainer skipped): nothing to learn from
        new = losses.detach().double().cpu()
        delta = torch.log(self._pending + self.eps) - torch.log(new + self.eps)
        self._pending = None
        with torch.enable_grad():
            z = torch.softmax(self.xi, dim=0)
            (g,) = torch.autograd.grad(z, self.xi, grad_outputs=delta)
        self.opt.zero_grad(set_to_none=True)
        self.xi.grad = g
        self.opt.step()

    def extra_state(self) -> dict:
        return {
            **super().extra_state(),
            "xi": self.xi.detach().clone(),
            "opt": self.opt.state_dict(),
        }

    def load_extra_state(self, state: dict) -> None:
        super().load_extra_state(state)
        with torch.no_grad():
            self.xi.copy_(state["xi"])
        self.opt.load_state_dict(state["opt"])


METHODS = (
    "sum",
    "iou",
    "distance",
    "cross_entropy",
    "kgc",
    "kgc_plus",
    "kgc_mean",
    "auxnet",
    "auxnet_lookahead",
    "uncertainty",
    "dwa",
    "famo",
)


def make_weighting(name: str, **options: float) -> LossWeighting:
    """Build a weighting method by name. ``options``: ``lr``, ``betas``, ``eps`` (AuxNet's Adam),
    ``decay`` (EMA decay of KGC/AuxNet statistics), ``eta`` (look-ahead step, RMS logits),
    ``period`` (DWA), ``famo_lr``, ``famo_weight_decay`` (FAMO's Adam on its logits) and
    ``warmup_steps`` (steps of plain summing before any method acts, default
    :data:`WARMUP_STEPS`)."""
    decay = float(options.get("decay", 0.99))
    warm = int(options.get("warmup_steps", WARMUP_STEPS))
    adam = {
        "lr": float(options.get("lr", 1e-5)),
        "betas": tuple(options.get("betas", (0.9, 0.999))),
        "eps": float(options.get("eps", 1e-8)),
    }
    if name == "sum":
        return FixedSum("sum", SCALED_TERMS, warmup_steps=warm)
    if name in ("iou", "distance", "cross_entropy"):
        return FixedSum(name, (name,), warmup_steps=warm)
    if name in ("kgc", "kgc_plus", "kgc_mean"):
        mode = {"kgc": "plain", "kgc_plus": "plus", "kgc_mean": "mean"}[name]
        return KGC(mode, decay=decay, warmup_steps=warm)
    if name == "auxnet":
        return AuxNet(decay=decay, warmup_steps=warm, **adam)
    if name == "auxnet_lookahead":
        eta = float(options.get("eta", LOOKAHEAD_ETA))
        return AuxNet(decay=decay, lookahead_eta=eta, warmup_steps=warm, **adam)
    if name == "uncertainty":
        return Uncertainty(warmup_steps=warm)
    if name == "dwa":
        return DWA(period=int(options.get("period", 50)), warmup_steps=warm)
    if name == "famo":
        return FAMO(
            lr=float(options.get("famo_lr", 0.025)),
            weight_decay=float(options.get("famo_weight_decay", 1e-3)),
            warmup_steps=warm,
        )
    raise ValueError(f"unknown weighting method {name!r}; choose one of {', '.join(METHODS)}")
