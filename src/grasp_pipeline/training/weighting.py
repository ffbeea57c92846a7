"""Loss-weighting methods behind one interface, selectable by name (paper 000 and baselines).

Every method consumes a fixed tuple of named loss terms (``terms``, keys of
:func:`~grasp_pipeline.perception.segnet.losses.segnet_loss_terms`) and returns one scalar to
minimise. ``multipliers()`` reports the effective factor d(total)/d(L_i) of each term, which is what
the paper plots as "weights" (inverted, so larger means more influence).

Methods:
- ``sum``: L_iou + L_dist (distance in px / 100); ``iou``, ``distance``, ``cross_entropy``: one term.
- ``kgc``: Kendall et al. with an online variance estimate: sum L_i / (2 s_i^2) + log s_i, where
  s_i^2 is a bias-corrected exponential moving variance of L_i (no gradient through it).
- ``kgc_plus``: s_i^2 + 1e-3; ``kgc_mean``: s_i^2 / mu_i (raw pixel distance, as in the paper).
- ``auxnet``: Converge-Fast-AuxNet, 6 inputs (value, EMA mean, EMA std per loss) -> 24 ReLU -> 2
  positive weights w_i, total sum L_i / w_i + log w_i, its own Adam minimising the relative change
  of the total loss (Eq. 3). Plain-backprop reading: the objective reaches the AuxNet only through
  the explicit w_i, whose optimum is w_i = L_i.
- ``auxnet_lookahead``: the same network and objective, with the total loss at t evaluated one
  functional step ahead: the queried output maps move by -eta * sum_i dL_i/dz / w_i and the losses
  are recomputed there, so the weights are judged by how much the update they cause lowers the
  total loss.
- ``uncertainty``: learned log-variances (Kendall 2018): sum exp(-s_i) L_i + s_i, s_i trained with
  the network's optimiser.
- ``dwa``: Dynamic Weight Average (Liu 2019): lambda_i = K softmax(r_i / T), r_i the ratio of the
  mean loss of the last two periods of ``period`` steps, T = 2.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

RAW_TERMS = ("iou", "distance_px")
SCALED_TERMS = ("iou", "distance")


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
    """Base: ``forward(losses (K,)) -> total``; subclasses define the combination."""

    name = "base"
    terms: tuple[str, ...] = SCALED_TERMS

    def __init__(self) -> None:
        super().__init__()
        self._mult = torch.ones(len(self.terms))

    def network_parameters(self) -> list[nn.Parameter]:
        """Parameters to be optimised together with the network (none by default)."""
        return []

    def multipliers(self) -> list[float]:
        return [float(x) for x in self._mult]

    def forward(
        self,
        losses: torch.Tensor,
        outputs: torch.Tensor | None = None,
        reeval: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> torch.Tensor:
        raise NotImplementedError

    def extra_state(self) -> dict:
        return {}

    def load_extra_state(self, state: dict) -> None:
        return None


class FixedSum(LossWeighting):
    def __init__(self, name: str, terms: tuple[str, ...]) -> None:
        self.name, self.terms = name, terms
        super().__init__()

    def forward(self, losses, outputs=None, reeval=None):
        return losses.sum()


class KGC(LossWeighting):
    """Variance-based weights; ``mode`` is "plain", "plus" (+1e-3) or "mean" (divided by mean)."""

    def __init__(self, mode: str = "plain", decay: float = 0.99) -> None:
        self.mode = mode
        self.name = {"plain": "kgc", "plus": "kgc_plus", "mean": "kgc_mean"}[mode]
        self.terms = RAW_TERMS if mode == "mean" else SCALED_TERMS
        super().__init__()
        self.stats = RunningStats(len(self.terms), decay)

    def variances(self) -> torch.Tensor:
        var = self.stats.var
        if self.mode == "plus":
            var = var + 1e-3
        elif self.mode == "mean":
            var = var / self.stats.mean.clamp_min(1e-8)
        return var.clamp_min(1e-8)  # the floor of the reference code: weights up to 5e7

    def forward(self, losses, outputs=None, reeval=None):
        if self.training:
            self.stats.update(losses)
        var = self.variances().to(losses)
        self._mult = (1.0 / (2.0 * var)).detach().cpu()
        return (losses / (2.0 * var) + 0.5 * torch.log(var)).sum()

    def extra_state(self) -> dict:
        return {"stats": self.stats.state_dict()}

    def load_extra_state(self, state: dict) -> None:
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
    ) -> None:
        super().__init__()
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

    def forward(self, losses, outputs=None, reeval=None):
        if self.training:
            self.stats.update(losses)
        w = self.weights(losses)  # (K,) differentiable w.r.t. the AuxNet
        wd = w.detach().to(losses)
        self._mult = (1.0 / wd).cpu()
        total = (losses / wd + torch.log(wd)).sum()
        if self.training:
            self._aux_step(losses, w, outputs, reeval)
        return total

    def _aux_step(self, losses, w, outputs, reeval) -> None:
        w = w.to(losses)
        if self.eta is None or outputs is None or reeval is None:
            ahead = losses.detach()
        else:
            grads = [
                torch.autograd.grad(losses[i], outputs, retain_graph=True)[0].detach()
                for i in range(len(losses))
            ]  # each like outputs (B, H, W)
            step = sum(g / w[i] for i, g in enumerate(grads))
            with torch.enable_grad():
                ahead = reeval(outputs.detach() - self.eta * step)  # (K,) one step ahead
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
            "stats": self.stats.state_dict(),
            "opt": self.opt.state_dict(),
            "prev_total": torch.tensor(
                float("nan") if self.prev_total is None else self.prev_total
            ),
        }

    def load_extra_state(self, state: dict) -> None:
        self.stats.load_state_dict(state["stats"])
        self.opt.load_state_dict(state["opt"])
        prev = float(state["prev_total"])
        self.prev_total = None if prev != prev else prev


class Uncertainty(LossWeighting):
    """Learned homoscedastic uncertainty, s_i = log sigma_i^2 initialised to 0."""

    name = "uncertainty"

    def __init__(self) -> None:
        super().__init__()
        self.log_var = nn.Parameter(torch.zeros(len(self.terms)))

    def network_parameters(self) -> list[nn.Parameter]:
        return [self.log_var]

    def forward(self, losses, outputs=None, reeval=None):
        s = self.log_var.to(losses)
        self._mult = torch.exp(-s).detach().cpu()
        return (torch.exp(-s) * losses + s).sum()


class DWA(LossWeighting):
    """Dynamic Weight Average over periods of ``period`` steps (per-step ratios are too noisy)."""

    name = "dwa"

    def __init__(self, period: int = 50, temperature: float = 2.0) -> None:
        super().__init__()
        if period < 1:
            raise ValueError(f"DWA period must be >= 1, got {period}")
        self.period, self.temperature = period, temperature
        k = len(self.terms)
        self.acc = torch.zeros(k, dtype=torch.float64)
        self.count = 0
        self.history: list[torch.Tensor] = []  # mean losses of the last two periods

    def forward(self, losses, outputs=None, reeval=None):
        k = len(self.terms)
        if len(self.history) == 2:
            r = self.history[1] / self.history[0].clamp_min(1e-12)
            lam = k * torch.softmax(r / self.temperature, dim=0)
        else:
            lam = torch.ones(k, dtype=torch.float64)
        self._mult = lam.float()
        if self.training:
            self.acc += losses.detach().double().cpu()
            self.count += 1
            if self.count == self.period:
                self.history = [*self.history[-1:], self.acc / self.count]
                self.acc.zero_()
                self.count = 0
        return (lam.to(losses) * losses).sum()

    def extra_state(self) -> dict:
        hist = torch.stack(self.history) if self.history else torch.zeros(0, len(self.terms))
        return {"acc": self.acc, "count": torch.tensor(self.count), "history": hist}

    def load_extra_state(self, state: dict) -> None:
        self.acc, self.count = state["acc"].clone(), int(state["count"])
        self.history = [h.clone() for h in state["history"]]


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
)


def make_weighting(name: str, **options: float) -> LossWeighting:
    """Build a weighting method by name. ``options``: ``lr``, ``betas``, ``eps`` (AuxNet's Adam),
    ``decay`` (EMA decay of KGC/AuxNet statistics), ``eta`` (look-ahead step), ``period`` (DWA)."""
    decay = float(options.get("decay", 0.99))
    adam = {
        "lr": float(options.get("lr", 1e-5)),
        "betas": tuple(options.get("betas", (0.9, 0.999))),
        "eps": float(options.get("eps", 1e-8)),
    }
    if name == "sum":
        return FixedSum("sum", SCALED_TERMS)
    if name in ("iou", "distance", "cross_entropy"):
        return FixedSum(name, (name,))
    if name in ("kgc", "kgc_plus", "kgc_mean"):
        mode = {"kgc": "plain", "kgc_plus": "plus", "kgc_mean": "mean"}[name]
        return KGC(mode, decay=decay)
    if name == "auxnet":
        return AuxNet(decay=decay, **adam)
    if name == "auxnet_lookahead":
        return AuxNet(decay=decay, lookahead_eta=float(options.get("eta", 10.0)), **adam)
    if name == "uncertainty":
        return Uncertainty()
    if name == "dwa":
        return DWA(period=int(options.get("period", 50)))
    raise ValueError(f"unknown weighting method {name!r}; choose one of {', '.join(METHODS)}")
