"""Generic training-loop pieces shared by the pose models (HuPR, MAEPose, milliMamba, AWC ...).

A model plugs in through one function, ``step_fn(model, batch, device) -> loss`` (a scalar tensor,
or ``(loss, {name: float})`` to log extra per-batch values), and optionally an evaluation function
``eval_fn(model, device) -> {name: float}`` run after each epoch. :func:`fit` then provides:

* seeding (:func:`seed_everything`; re-seeded at the start of every epoch with ``seed + epoch``, so
  a resumed run shuffles and augments exactly as an uninterrupted one);
* device choice (:func:`select_device`: CUDA when available, else CPU, or as asked);
* a progress bar on stderr with the running mean loss (click);
* metrics per epoch in ``RUN/metrics.csv`` and ``RUN/metrics.json`` (:class:`MetricLog`);
* a checkpoint after every epoch, ``RUN/last.ckpt`` (atomic, :mod:`radarkit.train.checkpoint`),
  optionally kept as ``RUN/epoch_NNN.ckpt`` too, and ``RUN/best.ckpt`` for the best monitored
  metric;
* ``resume=True``: continue from ``RUN/last.ckpt`` (model, optimiser, scheduler, epoch, history).
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import random
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import click
import numpy as np
import torch
from torch import nn

from radarkit.atomic import atomic_output
from radarkit.train.checkpoint import load_checkpoint, save_checkpoint

__all__ = [
    "seed_everything",
    "select_device",
    "move_to",
    "MetricLog",
    "running_loss_bar",
    "train_epoch",
    "evaluate_loss",
    "fit",
]

StepFn = Callable[[nn.Module, Any, torch.device], "torch.Tensor | tuple[torch.Tensor, dict]"]


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's (CPU and all CUDA devices) random generators.

    Parameters
    ----------
    seed : int
        Seed (reduced modulo 2**32 for numpy).
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - seeds code that still uses the global RNG
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def select_device(device: str | torch.device | None = "auto") -> torch.device:
    """The torch device to train on.

    Parameters
    ----------
    device : str, torch.device or None
        ``"auto"``/None: ``cuda`` when available, else ``cpu``; otherwise the named device.

    Returns
    -------
    torch.device

    Raises
    ------
    ValueError
        A CUDA device was asked for but CUDA is not available.
    """
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for but CUDA is not available")
    return dev


def move_to(batch: Any, device: torch.device) -> Any:
    """Move the tensors of a batch (tensor, or nested dict/list/tuple of them) to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: move_to(v, device) for k, v in batch.items()}
    if isinstance(batch, list | tuple):
        return type(batch)(move_to(v, device) for v in batch)
    return batch


class MetricLog:
    """Per-epoch metrics written to ``<folder>/<stem>.csv`` and ``<folder>/<stem>.json``.

    Both files are rewritten atomically after each :meth:`append`, so they are complete at any
    moment; the CSV has one column per key seen so far (blank where a row lacks it).

    Parameters
    ----------
    folder : str or os.PathLike
        Run folder (created if needed).
    stem : str
        File name without extension.
    rows : list of dict, optional
        Rows already logged (when resuming).
    """

    def __init__(self, folder: str | os.PathLike, stem: str = "metrics",
                 rows: list[dict] | None = None) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.csv_path = self.folder / f"{stem}.csv"
        self.json_path = self.folder / f"{stem}.json"
        self.rows: list[dict] = list(rows or [])

    @classmethod
    def load(cls, folder: str | os.PathLike, stem: str = "metrics") -> MetricLog:
        """Reopen a log, keeping the rows of ``<stem>.json`` if it exists."""
        path = Path(folder) / f"{stem}.json"
        rows = json.loads(path.read_text()) if path.exists() else []
        return cls(folder, stem, rows)

    def append(self, row: dict[str, Any]) -> None:
        """Add one row (an epoch's metrics) and rewrite both files."""
        self.rows.append({k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()})
        keys: list[str] = []
        for r in self.rows:
            keys.extend(k for k in r if k not in keys)
        with atomic_output(self.csv_path, force=True) as tmp, open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=keys)
            writer.writeheader()
            writer.writerows(self.rows)
        with atomic_output(self.json_path, force=True) as tmp, open(tmp, "w") as fh:
            json.dump(self.rows, fh, indent=1)


@contextlib.contextmanager
def running_loss_bar(length: int | None, label: str,
                     enabled: bool = True) -> Iterator[Callable[[float], None]]:
    """Progress bar on stderr showing the running mean loss; yields ``update(loss)``.

    Parameters
    ----------
    length : int or None
        Number of steps (None: unknown length).
    label : str
        Text before the bar (e.g. ``"epoch 3/10"``).
    enabled : bool
        False gives a no-op ``update`` (quiet runs, tests).
    """
    if not enabled:
        yield lambda loss: None
        return
    state = {"sum": 0.0, "n": 0}

    def show(_item: Any) -> str:
        return f"loss {state['sum'] / state['n']:.4f}" if state["n"] else ""

    with click.progressbar(length=length, label=label, file=sys.stderr, show_pos=True,
                           item_show_func=show) as bar:
        def update(loss: float) -> None:
            state["sum"] += loss
            state["n"] += 1
            bar.update(1, current_item=loss)

        yield update


def _split_step(out: Any) -> tuple[torch.Tensor, dict]:
    if isinstance(out, tuple):
        return out[0], dict(out[1])
    return out, {}


def train_epoch(
    model: nn.Module,
    loader: Iterable,
    step_fn: StepFn,
    optimizer: torch.optim.Optimizer,
    device: torch.device,
    *,
    scheduler: Any | None = None,
    grad_clip: float | None = None,
    progress: bool = True,
    label: str = "train",
    max_steps: int | None = None,
) -> dict[str, float]:
    """One pass over ``loader`` with gradient steps.

    Parameters
    ----------
    model : torch.nn.Module
        Put in training mode.
    loader : iterable of batches
        e.g. a ``torch.utils.data.DataLoader``; batches go to ``step_fn`` unchanged (use
        :func:`move_to` inside it).
    step_fn : callable
        ``step_fn(model, batch, device)`` -> loss tensor, or ``(loss, {name: float})``.
    optimizer : torch.optim.Optimizer
    device : torch.device
    scheduler : object with ``step()``, optional
        Stepped after every optimiser step (HuPR: ``StepLR(step_size=2000, gamma=0.999)``).
    grad_clip : float, optional
        Clip the global gradient norm.
    progress : bool
        Show the progress bar.
    label : str
        Progress-bar label.
    max_steps : int, optional
        Stop after this many batches.

    Returns
    -------
    dict of str to float
        ``loss`` (mean over batches), ``steps``, ``seconds``, ``lr`` (first parameter group, at the
        end) and the mean of every extra value ``step_fn`` returned.

    Raises
    ------
    FloatingPointError
        The loss became NaN or infinite (the message gives the step).
    """
    model.train()
    total, steps, extras = 0.0, 0, {}
    start = time.perf_counter()
    try:
        length = len(loader)  # type: ignore[arg-type]
    except TypeError:
        length = None
    if max_steps is not None and length is not None:
        length = min(length, max_steps)
    with running_loss_bar(length, label, progress) as update:
        for batch in loader:
            if max_steps is not None and steps >= max_steps:
                break
            loss, extra = _split_step(step_fn(model, batch, device))
            if not torch.isfinite(loss):
                raise FloatingPointError(f"{label}: loss is {loss.item()} at step {steps}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if grad_clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            value = float(loss.detach())
            total += value
            steps += 1
            for k, v in extra.items():
                extras[k] = extras.get(k, 0.0) + float(v)
            update(value)
    out = {"loss": total / max(steps, 1), "steps": steps, "seconds": time.perf_counter() - start,
           "lr": optimizer.param_groups[0]["lr"]}
    out.update({k: v / max(steps, 1) for k, v in extras.items()})
    return out


@torch.no_grad()
def evaluate_loss(model: nn.Module, loader: Iterable, step_fn: StepFn,
                  device: torch.device) -> dict[str, float]:
    """Mean loss (and extra values) of ``step_fn`` over ``loader`` in evaluation mode, no gradients.

    Parameters
    ----------
    model, loader, step_fn, device
        As :func:`train_epoch`.

    Returns
    -------
    dict of str to float
        ``loss`` and the mean of each extra value.
    """
    model.eval()
    total, steps, extras = 0.0, 0, {}
    for batch in loader:
        loss, extra = _split_step(step_fn(model, batch, device))
        total += float(loss)
        steps += 1
        for k, v in extra.items():
            extras[k] = extras.get(k, 0.0) + float(v)
    return {"loss": total / max(steps, 1), **{k: v / max(steps, 1) for k, v in extras.items()}}


def fit(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    train_loader: Iterable,
    step_fn: StepFn,
    *,
    epochs: int,
    out_dir: str | os.PathLike,
    name: str,
    config: dict | None = None,
    eval_fn: Callable[[nn.Module, torch.device], dict[str, float]] | None = None,
    scheduler: Any | None = None,
    resume: bool = False,
    seed: int = 0,
    device: str | torch.device | None = "auto",
    monitor: str | None = None,
    monitor_mode: str = "max",
    keep_every: int = 0,
    grad_clip: float | None = None,
    progress: bool = True,
    echo: Callable[[str], None] | None = None,
) -> list[dict]:
    """Train for ``epochs`` epochs with a checkpoint and a metrics row after each.

    Parameters
    ----------
    model : torch.nn.Module
        Moved to the chosen device.
    optimizer : torch.optim.Optimizer
        Built on ``model``'s parameters (moving a model keeps the parameter objects).
    train_loader : iterable of batches
        Re-iterated every epoch.
    step_fn : callable
        ``step_fn(model, batch, device)`` -> loss or ``(loss, extras)``.
    epochs : int
        Total epochs (with ``resume``, including those already done).
    out_dir : str or os.PathLike
        Run folder: ``last.ckpt``, ``best.ckpt``, ``epoch_NNN.ckpt``, ``metrics.csv/json``.
    name : str
        Model name recorded in (and checked against) the checkpoints.
    config : dict, optional
        JSON-serialisable configuration stored in every checkpoint.
    eval_fn : callable, optional
        ``eval_fn(model, device)`` -> metrics after each epoch (e.g. validation AP).
    scheduler : object with ``step()``/``state_dict()``, optional
        Stepped after every optimiser step; saved and restored.
    resume : bool
        Continue from ``out_dir/last.ckpt``; without that file, start afresh.
    seed : int
        Base seed; epoch ``e`` (0-based) starts with ``seed_everything(seed + e)``.
    device : str, torch.device or None
        See :func:`select_device`.
    monitor : str, optional
        Metric deciding ``best.ckpt`` (e.g. ``"val_AP"``); None writes no best checkpoint.
    monitor_mode : {"max", "min"}
        Whether a larger or smaller ``monitor`` is better.
    keep_every : int
        Also keep ``epoch_NNN.ckpt`` every ``keep_every`` epochs (0: only ``last.ckpt``).
    grad_clip : float, optional
        See :func:`train_epoch`.
    progress : bool
        Show progress bars.
    echo : callable, optional
        Receives one summary line per epoch (e.g. ``click.echo``).

    Returns
    -------
    list of dict
        All metric rows (one per epoch, earlier ones included when resuming).

    Raises
    ------
    CheckpointError
        ``resume`` with a damaged ``last.ckpt`` or one of a different model.
    ValueError
        Bad ``monitor_mode`` or ``epochs``, or ``monitor`` missing from an epoch's metrics.
    """
    if monitor_mode not in ("max", "min"):
        raise ValueError(f"monitor_mode must be 'max' or 'min', got {monitor_mode!r}")
    if epochs < 0:
        raise ValueError("epochs must be >= 0")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dev = select_device(device)
    model.to(dev)
    _optimizer_to(optimizer, dev)
    last = out / "last.ckpt"
    start_epoch, log = 0, MetricLog(out)
    if resume and last.exists():
        ckpt = load_checkpoint(last, model, name=name, optimizer=optimizer, scheduler=scheduler,
                               map_location=dev)
        _optimizer_to(optimizer, dev)
        start_epoch = ckpt.epoch
        log = MetricLog.load(out)
        log.rows = [r for r in log.rows if r.get("epoch", 0) <= start_epoch]
        if echo:
            echo(f"resumed from {last} at epoch {start_epoch}")
    elif resume and echo:
        echo(f"no {last} to resume from; starting afresh")
    sign = 1.0 if monitor_mode == "max" else -1.0
    best = max((sign * r[monitor] for r in log.rows if monitor and _finite(r.get(monitor))),
               default=-math.inf)
    for epoch in range(start_epoch, epochs):
        seed_everything(seed + epoch)
        row: dict[str, Any] = {"epoch": epoch + 1}
        stats = train_epoch(model, train_loader, step_fn, optimizer, dev, scheduler=scheduler,
                            grad_clip=grad_clip, progress=progress, label=f"epoch {epoch + 1}/{epochs}")
        row.update({f"train_{k}" if k not in ("lr", "seconds", "steps") else k: v
                    for k, v in stats.items()})
        if eval_fn is not None:
            row.update(eval_fn(model, dev))
        log.append(row)
        metrics = {k: v for k, v in row.items() if isinstance(v, int | float)}
        kwargs = dict(name=name, epoch=epoch + 1, config=config, metrics=metrics,
                      optimizer=optimizer, scheduler=scheduler)
        save_checkpoint(last, model, **kwargs)
        if keep_every and (epoch + 1) % keep_every == 0:
            save_checkpoint(out / f"epoch_{epoch + 1:03d}.ckpt", model, **kwargs)
        if monitor is not None:
            if monitor not in row:
                raise ValueError(f"monitored metric {monitor!r} is not among {sorted(row)}")
            if _finite(row[monitor]) and sign * row[monitor] > best:
                best = sign * row[monitor]
                save_checkpoint(out / "best.ckpt", model, **kwargs)
        if echo:
            echo(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                          for k, v in row.items()))
    return log.rows


def _finite(v: Any) -> bool:
    return isinstance(v, int | float) and math.isfinite(v)


def _optimizer_to(optimizer: torch.optim.Optimizer, device: torch.device) -> None:
    """Move optimiser state tensors (e.g. Adam moments) to ``device``."""
    for state in optimizer.state.values():
        for k, v in state.items():
            if isinstance(v, torch.Tensor) and k != "step":
                state[k] = v.to(device)
