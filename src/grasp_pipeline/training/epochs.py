"""The bookkeeping of an epoch-based trainer, one home for the parts classifier's, the pickup
network's and the boundary network's: the pass over an epoch's batches with a progress bar, a
guarded optimiser step (non-finite losses skipped, too many in a row an error), the resumable
training state (weights, optimiser, schedule, epoch, history, best, torch's RNG, written
atomically), the per-epoch CSV history and the export of a network added to a classifier.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from grasp_pipeline.training.checkpoint import load_checkpoint, save_checkpoint

MAX_NONFINITE_IN_A_ROW = 10


def guarded_step(loss, opt, sched, bad_in_a_row: int, where: str) -> int:
    """One optimiser and schedule step on ``loss`` (a scalar tensor); none when it is not
    finite. Returns the number of non-finite losses in a row (0 after a step); raises
    FloatingPointError naming ``where`` when it reaches ``MAX_NONFINITE_IN_A_ROW``."""
    import torch

    opt.zero_grad(set_to_none=True)
    if not torch.isfinite(loss):
        bad_in_a_row += 1
        if bad_in_a_row >= MAX_NONFINITE_IN_A_ROW:
            raise FloatingPointError(f"{where}: {bad_in_a_row} non-finite losses in a row")
        return bad_in_a_row
    loss.backward()
    opt.step()
    sched.step()
    return 0


def run_epoch(
    order: np.ndarray,
    batch: int,
    batch_loss: Callable[[np.ndarray, np.random.Generator], Any],
    rng: np.random.Generator,
    opt,
    sched,
    epoch: int,
    epochs: int,
    progress: bool,
    unit: str = "loss",
) -> list[float]:
    """One epoch: ``order`` (the training indices, shuffled) in batches of ``batch``, each
    batch's loss ``batch_loss(indices, rng)`` (a scalar tensor) taken by :func:`guarded_step`;
    a progress bar shows the mean of the last 50 losses as ``unit``. ``epoch`` counts from 0 of
    ``epochs``. Returns the finite losses."""
    from tqdm import tqdm

    losses: list[float] = []
    bad_in_a_row = 0
    steps = int(np.ceil(len(order) / batch))
    bar = tqdm(range(steps), desc=f"epoch {epoch + 1}/{epochs}", disable=not progress)
    for s in bar:
        loss = batch_loss(order[s * batch : (s + 1) * batch], rng)
        bad_in_a_row = guarded_step(loss, opt, sched, bad_in_a_row, f"epoch {epoch + 1}, step {s}")
        if bad_in_a_row:
            continue
        losses.append(float(loss.detach()))
        bar.set_postfix({unit: f"{np.mean(losses[-50:]):.3f}"})
    return losses


def resume(
    path: Path, config: dict[str, Any], model, opt, sched
) -> tuple[int, list[dict], dict] | None:
    """(epoch, history, best) of the training state at ``path``, loaded into ``model``, ``opt``,
    ``sched`` and torch's RNG; None when there is none. ValueError naming the differing
    settings when it was written with another ``config``."""
    import torch

    if not path.exists():
        return None
    state = load_checkpoint(path)
    if state["config"] != config:
        differ = sorted(
            k for k in set(config) | set(state["config"]) if config.get(k) != state["config"].get(k)
        )
        raise ValueError(
            f"{path} was written with other settings ({', '.join(differ)} differ); "
            "use another work dir"
        )
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    return int(state["epoch"]), list(state["history"]), dict(state["best"])


def save_state(
    path: Path,
    config: dict[str, Any],
    model,
    opt,
    sched,
    step: int,
    epoch: int,
    history: list[dict],
    best: dict,
) -> None:
    """Write the training state that :func:`resume` reads (atomically)."""
    import torch

    save_checkpoint(
        path,
        {
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(),
            "config": config,
            "step": step,
            "epoch": epoch,
            "history": history,
            "best": best,
            "torch_rng": torch.get_rng_state(),
        },
    )


def append_row(path: Path, row: dict[str, Any]) -> None:
    """Append ``row`` to the CSV at ``path`` (a header first when the file is new)."""
    with open(path, "a", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(row))
        if fh.tell() == 0:
            w.writeheader()
        w.writerow(row)


def export_entry(
    base: dict[str, Any], key: str, entry: dict[str, Any], work: Path, figures: dict[str, Any]
) -> None:
    """Write ``work/classifier.pt``: the classifier checkpoint ``base`` with ``entry`` added as
    its ``key`` (a network that ships inside it), and the entry's validation ``figures`` as
    ``work/best_val.json``."""
    exported = {k: v for k, v in base.items() if k != "meta"}
    exported[key] = entry
    save_checkpoint(work / "classifier.pt", exported)
    (work / "best_val.json").write_text(json.dumps(figures, indent=1))
