"""The bookkeeping of an epoch-based trainer, one home for the parts classifier's, the pickup
network's and the boundary network's: the loop over epochs (:func:`train_epochs`: the
optimiser and its schedule, each epoch's batches with a progress bar, a guarded optimiser step with
non-finite losses skipped and too many in a row an error, validation, the best epoch's export,
the resumable training state of weights, optimiser, schedule, epoch, history, best and torch's
RNG written atomically, the per-epoch CSV history) and the export of a network added to a
classifier. A trainer brings only what is its own: its batches' loss, its validation and what
it exports.
"""

from __future__ import annotations

import csv
import json
import time
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
) -> list[float]:
    """One epoch: ``order`` (the training indices, shuffled) in batches of ``batch``, each
    batch's loss ``batch_loss(indices, rng)`` (a scalar tensor) taken by :func:`guarded_step`;
    a progress bar shows the mean of the last 50 losses. ``epoch`` counts from 0 of
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
        bar.set_postfix({"loss": f"{np.mean(losses[-50:]):.3f}"})
    return losses


def train_epochs(
    work: Path,
    config: dict[str, Any],
    model,
    settings,
    steps_per_epoch: int,
    *,
    order: Callable[[np.random.Generator], np.ndarray],
    batch_loss: Callable[[np.ndarray, np.random.Generator], Any],
    validate: Callable[[], tuple[dict[str, float], Any]],
    watch: tuple[str, str, bool],
    export: Callable[[int, Any], None],
    describe: Callable[[dict[str, Any]], str],
    data: dict[str, Any],
    progress: bool = True,
    epoch_limit: int | None = None,
) -> dict[str, Any]:
    """Train ``model`` (or resume from ``work/checkpoint.pt``, written with ``config``) for
    ``settings.epochs`` of ``steps_per_epoch`` steps (``settings``: a trainer's config with
    ``epochs``, ``seed``, ``batch``, ``lr`` and ``weight_decay``) with AdamW and a one-cycle
    schedule to ``lr`` (15 % of the steps warming up). Returns the summary also written to
    ``work/summary.json``: ``data`` (what the trainer trained on, e.g. its crop counts), the
    history (one row per epoch, also appended to ``work/train.csv``), the best and ``config``.

    Each epoch draws its generator from (``settings.seed``, epoch), takes ``order(rng)`` (the
    epoch's training indices) in batches of ``settings.batch`` through ``batch_loss``
    (:func:`run_epoch`), then ``validate()`` gives the row's validation fields and the figures
    handed to ``export``. ``watch`` = (row field, name in the best, higher is better): an epoch
    that improves it is exported with ``export(epoch, figures)`` (epochs counted from 1).
    ``describe(row)`` is the progress line after "epoch N: ". ``epoch_limit``: stop after this
    many epochs in this call (a later call resumes)."""
    import torch

    field, name, higher = watch
    epochs = settings.epochs
    opt = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=settings.lr, total_steps=epochs * steps_per_epoch, pct_start=0.15
    )
    ckpt = work / "checkpoint.pt"
    first = {"epoch": -1, name: -1.0 if higher else float("inf")}
    epoch0, history, best = resume(ckpt, config, model, opt, sched) or (0, [], first)
    last = epochs if epoch_limit is None else min(epochs, epoch0 + epoch_limit)
    for epoch in range(epoch0, last):
        rng = np.random.default_rng((settings.seed, epoch))
        indices = order(rng)
        model.train()
        t0 = time.perf_counter()
        losses = run_epoch(
            indices, settings.batch, batch_loss, rng, opt, sched, epoch, epochs, progress
        )
        fields, figures = validate()
        row = {
            "epoch": epoch + 1,
            "loss": float(np.mean(losses)) if losses else float("nan"),
            **fields,
            "seconds": time.perf_counter() - t0,
        }
        history.append(row)
        value = row[field]
        if value > best[name] if higher else value < best[name]:
            best = {"epoch": epoch + 1, name: value}
            export(epoch + 1, figures)
        step = (epoch + 1) * steps_per_epoch
        save_state(ckpt, config, model, opt, sched, step, epoch + 1, history, best)
        append_row(work / "train.csv", row)
        if progress:
            print(f"epoch {epoch + 1}: {describe(row)}", flush=True)
    summary = {**data, "history": history, "best": best, "config": config}
    (work / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


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


def export_best(work: Path, state: dict[str, Any], figures: dict[str, Any]) -> None:
    """Write a trainer's best epoch: the checkpoint ``state`` as ``work/classifier.pt`` and its
    validation ``figures`` as ``work/best_val.json``."""
    save_checkpoint(work / "classifier.pt", state)
    (work / "best_val.json").write_text(json.dumps(figures, indent=1))


def export_network(base: dict[str, Any], key: str, net, work: Path) -> Callable[[int, Any], None]:
    """The ``export`` of :func:`train_epochs` for a network that ships inside a classifier
    (:func:`export_best`): the classifier checkpoint ``base`` with ``net`` added as its ``key``
    entry (:func:`~grasp_pipeline.perception.instances.layers.network_entry`, with the epoch and
    its validation figures)."""
    from grasp_pipeline.perception.instances.layers import network_entry

    def export(epoch: int, figures: dict[str, Any]) -> None:
        exported = {k: v for k, v in base.items() if k != "meta"}
        exported[key] = network_entry(net, {"epoch": epoch, **figures})
        export_best(work, exported, figures)

    return export
