"""MAEPose training: pre-training and fine-tuning steps and epochs, evaluation, early stopping.

Stage 1 (:func:`pretrain_loss`, :func:`pretrain_step`, :func:`pretrain_epoch`) trains
:class:`~radarkit.models.maepose.MAEPosePretrain` on unlabelled clips with the masked-patch MSE.
Stage 2 (:func:`finetune_loss`, :func:`finetune_step`, :func:`finetune_epoch`) trains
:class:`~radarkit.models.maepose.MAEPose` on labelled clips with the weighted heatmap MSE to Gaussian
targets, with AdamW over layer-wise lr-decayed parameter groups (:func:`finetune_optimizer`).
:func:`evaluate` decodes heatmaps to joints and reports MPJPE and PCK in the labels' units;
:func:`fit` runs epochs with early stopping on the validation loss and restores the best weights
([1]_ section 4.6: 100 epochs, patience 10, weight decay 0.05).

Batches
-------
* pre-training: a clip tensor ``(B, C, T, H, W)`` float32, or a tuple/list whose first item is one
  (labels, if any, are ignored);
* fine-tuning: ``(clips, joints)`` or ``(clips, joints, weight)``: ``joints`` ``(B, F, J, 2)`` normalised
  image coordinates ``(x, y)`` in [0, 1] of the ``F`` target frames, ``weight`` ``(B, F, J)`` (e.g. 0
  for unlabelled joints).

Integration with :mod:`radarkit.train.loop`: :func:`pretrain_loss` and :func:`finetune_loss` have the
loop's ``step_fn(model, batch, device)`` signature, so ``loop.fit`` (checkpoints, metric logs,
resume) trains MAEPose directly; the epoch functions here are ``loop.train_epoch`` with those step
functions. ``loop.fit`` has no early stopping, so :func:`fit` adds it (patience on the validation
loss, best weights restored) around any epoch callable.

References
----------
.. [1] "MAEPose: Self-Supervised Spatiotemporal Learning for Human Pose Estimation on mmWave Video"
   (``shared/papers/maepose.txt``), sections 3 and 4.6.
.. [2] K. He et al., "Masked Autoencoders Are Scalable Vision Learners", CVPR 2022 (AdamW betas
   (0.9, 0.95) and weight decay 0.05 for pre-training).
.. [3] C. Feichtenhofer et al., "Masked Autoencoders As Spatiotemporal Learners", NeurIPS 2022
   (MAE-ST; warm-up + cosine learning-rate schedule for pre-training and fine-tuning).
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from radarkit.metrics.joints import mpjpe, pck
from radarkit.models.maepose import (
    MAEPose,
    MAEPosePretrain,
    gaussian_heatmaps,
    heatmap_loss,
    heatmaps_to_joints,
    masked_patch_loss,
    param_groups_lrd,
    patchify,
)
from radarkit.train import loop as train_loop

__all__ = [
    "pretrain_optimizer",
    "finetune_optimizer",
    "warmup_cosine",
    "pretrain_loss",
    "finetune_loss",
    "pretrain_step",
    "finetune_step",
    "pretrain_epoch",
    "finetune_epoch",
    "predict",
    "evaluate",
    "denormalise_joints",
    "EarlyStopping",
    "fit",
]


def pretrain_optimizer(model: MAEPosePretrain, lr: float = 1.5e-4, weight_decay: float = 0.05
                       ) -> torch.optim.AdamW:
    """AdamW for pre-training: betas (0.9, 0.95), no decay on biases/norms/1-D parameters ([2]_).

    Parameters
    ----------
    model : MAEPosePretrain
        Stage-1 model.
    lr : float
        Learning rate.
    weight_decay : float
        Decoupled weight decay of matrices and convolution kernels.

    Returns
    -------
    torch.optim.AdamW
    """
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.95))


def finetune_optimizer(model: MAEPose, lr: float = 1e-3, weight_decay: float = 0.05,
                       layer_decay: float = 0.75) -> torch.optim.AdamW:
    """AdamW with layer-wise lr decay for fine-tuning ([1]_ sections 3.2.1 and 4.6).

    Parameters
    ----------
    model : MAEPose
        Stage-2 model.
    lr : float
        Learning rate of the top layer (head); layer ``l`` gets ``lr * layer_decay ** (depth + 1 - l)``.
    weight_decay : float
        Weight decay (0.05 in [1]_).
    layer_decay : float
        Layer-wise decay factor (1 = same lr everywhere, the random-init baseline's natural choice).

    Returns
    -------
    torch.optim.AdamW
        Each group carries ``lr_scale`` and ``layer_id``; its ``lr`` is already scaled.
    """
    groups = param_groups_lrd(model, weight_decay, layer_decay)
    for g in groups:
        g["lr"] = lr * g["lr_scale"]
    return torch.optim.AdamW(groups, lr=lr)


def warmup_cosine(optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int = 0,
                  min_ratio: float = 0.0) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-step learning-rate schedule: linear warm-up, then half-cosine decay ([2]_, [3]_).

    The schedule of MAE / VideoMAE / MAE-ST pre-training and fine-tuning, which [1]_ section 4.6 follows.
    Every parameter group keeps its own base ``lr`` (so layer-wise decay is preserved) and is scaled
    by ``(s + 1) / warmup_steps`` during the warm-up, then by
    ``min_ratio + (1 - min_ratio) (1 + cos(pi (s - warmup) / (total - warmup))) / 2``.

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
        Optimiser whose groups' current ``lr`` are the peak rates.
    total_steps : int
        Optimiser steps of the whole run (epochs x batches per epoch); later steps stay at
        ``min_ratio``.
    warmup_steps : int
        Linear warm-up steps (0: none).
    min_ratio : float
        Final learning rate as a fraction of the peak.

    Returns
    -------
    torch.optim.lr_scheduler.LambdaLR
        Call ``step()`` after every optimiser step (``scheduler`` of :func:`pretrain_epoch` /
        :func:`finetune_epoch`).

    Raises
    ------
    ValueError
        ``total_steps < 1``, a negative warm-up, or ``min_ratio`` outside [0, 1].
    """
    if total_steps < 1 or warmup_steps < 0 or not 0.0 <= min_ratio <= 1.0:
        raise ValueError(f"bad schedule: total_steps={total_steps}, warmup_steps={warmup_steps}, "
                         f"min_ratio={min_ratio}")

    def scale(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        span = max(1, total_steps - warmup_steps)
        frac = min(1.0, (step - warmup_steps) / span)
        return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * frac))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, scale)


def _device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def _clips(batch: torch.Tensor | tuple | list) -> torch.Tensor:
    return batch if isinstance(batch, torch.Tensor) else batch[0]


def pretrain_loss(model: MAEPosePretrain, batch: torch.Tensor | tuple | list, device: torch.device,
                  mask_ratio: float | None = None, generator: torch.Generator | None = None,
                  visible_weight: float = 0.0) -> torch.Tensor:
    """Masked-patch reconstruction loss of a batch ([1]_ section 3.1.4); a ``loop`` step function.

    Parameters
    ----------
    model : MAEPosePretrain
        Stage-1 model.
    batch : torch.Tensor or tuple
        Clips ``(B, C, T, H, W)`` or a tuple starting with them; moved to ``device``.
    device : torch.device
        The model's device.
    mask_ratio : float, optional
        Masking ratio (the model's default, 0.9, when omitted).
    generator : torch.Generator, optional
        Generator (on ``device``) for reproducible masks.
    visible_weight : float
        Add this weight times the reconstruction MSE of the *visible* patches (0, the default, is
        [1]_'s masked-only loss). With sparse inputs a masked-only loss lets every encoder token
        become the same clip summary (nothing asks a visible token to keep its own content); a small
        visible term (e.g. 0.1) keeps the tokens local. MAE [2]_ reports that a loss on all patches
        costs a little accuracy on images.

    Returns
    -------
    torch.Tensor
        Scalar loss (with gradient).
    """
    clips = train_loop.move_to(_clips(batch), device)
    loss, pred, mask = model(clips, mask_ratio=mask_ratio, generator=generator)
    if visible_weight:
        target = patchify(clips, model.encoder.patch_size)
        loss = loss + visible_weight * masked_patch_loss(pred, target, 1.0 - mask, model.norm_pix_loss)
    return loss


def _heatmaps_and_loss(model: MAEPose, batch: tuple | list, device: torch.device,
                       sigma: float) -> tuple[torch.Tensor, torch.Tensor]:
    batch = train_loop.move_to(tuple(batch), device)
    clips, joints = batch[0], batch[1]
    weight = batch[2] if len(batch) > 2 else None
    heatmaps = model(clips)
    target = gaussian_heatmaps(joints.to(heatmaps.dtype), heatmaps.shape[-2:], sigma)
    return heatmaps, heatmap_loss(heatmaps, target, weight)


def finetune_loss(model: MAEPose, batch: tuple | list, device: torch.device, sigma: float = 2.0
                  ) -> torch.Tensor:
    """Weighted heatmap MSE to Gaussian targets ([1]_ section 3.2.2); a ``loop`` step function.

    Parameters
    ----------
    model : MAEPose
        Stage-2 model.
    batch : tuple
        ``(clips, joints[, weight])`` (module docstring); moved to ``device``.
    device : torch.device
        The model's device.
    sigma : float
        Gaussian standard deviation of the targets, in heatmap pixels.

    Returns
    -------
    torch.Tensor
        Scalar loss (with gradient).
    """
    return _heatmaps_and_loss(model, batch, device, sigma)[1]


def _step(loss: torch.Tensor, optimizer: torch.optim.Optimizer, model: torch.nn.Module,
          grad_clip: float | None) -> float:
    if not torch.isfinite(loss):
        raise FloatingPointError(f"non-finite training loss {loss.item()}")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return float(loss.detach())


def pretrain_step(model: MAEPosePretrain, batch: torch.Tensor | tuple | list,
                  optimizer: torch.optim.Optimizer, mask_ratio: float | None = None,
                  generator: torch.Generator | None = None, grad_clip: float | None = None) -> float:
    """One optimisation step of :func:`pretrain_loss` on the model's device (training mode).

    Parameters
    ----------
    model, batch, mask_ratio, generator
        As :func:`pretrain_loss`.
    optimizer : torch.optim.Optimizer
        E.g. :func:`pretrain_optimizer`.
    grad_clip : float, optional
        Clip the global gradient norm to this value.

    Returns
    -------
    float
        The batch loss before the update.

    Raises
    ------
    FloatingPointError
        Non-finite loss.
    """
    model.train()
    loss = pretrain_loss(model, batch, _device(model), mask_ratio, generator)
    return _step(loss, optimizer, model, grad_clip)


def finetune_step(model: MAEPose, batch: tuple | list, optimizer: torch.optim.Optimizer, sigma: float = 2.0,
                  grad_clip: float | None = None) -> float:
    """One optimisation step of :func:`finetune_loss` on the model's device (training mode).

    Parameters
    ----------
    model, batch, sigma
        As :func:`finetune_loss`.
    optimizer : torch.optim.Optimizer
        E.g. :func:`finetune_optimizer`.
    grad_clip : float, optional
        Clip the global gradient norm.

    Returns
    -------
    float
        The batch loss before the update.

    Raises
    ------
    FloatingPointError
        Non-finite loss.
    """
    model.train()
    loss = finetune_loss(model, batch, _device(model), sigma)
    return _step(loss, optimizer, model, grad_clip)


def pretrain_epoch(model: MAEPosePretrain, batches: Iterable, optimizer: torch.optim.Optimizer,
                   mask_ratio: float | None = None, grad_clip: float | None = None,
                   progress: bool = False, scheduler: Any | None = None,
                   visible_weight: float = 0.0) -> dict[str, float]:
    """One pre-training pass over ``batches`` (``radarkit.train.loop.train_epoch`` with
    :func:`pretrain_loss`).

    Parameters
    ----------
    model, optimizer, mask_ratio, grad_clip
        As :func:`pretrain_step`.
    batches : iterable
        Batches (e.g. a ``DataLoader``).
    progress : bool
        Show the loop's progress bar with the running loss.
    scheduler : object with ``step()``, optional
        Stepped after every optimiser step (e.g. :func:`warmup_cosine`).
    visible_weight : float
        Weight of the visible-patch term (:func:`pretrain_loss`; 0 = masked patches only).

    Returns
    -------
    dict of str to float
        ``loss`` (mean over batches), ``steps``, ``seconds``, ``lr``.

    Raises
    ------
    FloatingPointError
        Non-finite loss.
    """
    step = functools.partial(pretrain_loss, mask_ratio=mask_ratio, visible_weight=visible_weight)
    return train_loop.train_epoch(model, batches, step, optimizer, _device(model), grad_clip=grad_clip,
                                  progress=progress, label="pretrain", scheduler=scheduler)


def finetune_epoch(model: MAEPose, batches: Iterable, optimizer: torch.optim.Optimizer, sigma: float = 2.0,
                   grad_clip: float | None = None, progress: bool = False,
                   scheduler: Any | None = None) -> dict[str, float]:
    """One fine-tuning pass over ``batches`` (``loop.train_epoch`` with :func:`finetune_loss`).

    Parameters
    ----------
    model, optimizer, sigma, grad_clip
        As :func:`finetune_step`.
    batches : iterable
        ``(clips, joints[, weight])`` batches.
    progress : bool
        Show the loop's progress bar.
    scheduler : object with ``step()``, optional
        Stepped after every optimiser step (e.g. :func:`warmup_cosine`).

    Returns
    -------
    dict of str to float
        ``loss`` (mean over batches), ``steps``, ``seconds``, ``lr``.

    Raises
    ------
    FloatingPointError
        Non-finite loss.
    """
    step = functools.partial(finetune_loss, sigma=sigma)
    return train_loop.train_epoch(model, batches, step, optimizer, _device(model), grad_clip=grad_clip,
                                  progress=progress, label="finetune", scheduler=scheduler)


@torch.no_grad()
def predict(model: MAEPose, batches: Iterable, sigma: float = 2.0, soft: bool = False
            ) -> dict[str, np.ndarray | float]:
    """Heatmap loss and decoded joints of a model over labelled batches (evaluation mode).

    Parameters
    ----------
    model : MAEPose
        Stage-2 model.
    batches : iterable
        ``(clips, joints[, weight])`` batches.
    sigma : float
        Target Gaussian sigma (heatmap pixels) of the reported loss.
    soft : bool
        Soft-argmax decoding instead of argmax.

    Returns
    -------
    dict
        ``loss`` (float, sample-weighted), ``pred`` and ``target`` float32 ``(S, F, J, 2)`` normalised
        joints, ``weight`` float32 ``(S, F, J)`` (ones when the batches carry none).
    """
    model.eval()
    preds, targets, weights, total, n = [], [], [], 0.0, 0
    dev = _device(model)
    for batch in batches:
        heatmaps, loss = _heatmaps_and_loss(model, batch, dev, sigma)
        b = batch[0].shape[0]
        total, n = total + float(loss) * b, n + b
        preds.append(heatmaps_to_joints(heatmaps, soft=soft).cpu().numpy())
        targets.append(batch[1].cpu().numpy())
        weights.append(batch[2].cpu().numpy() if len(batch) > 2 else np.ones(batch[1].shape[:-1], np.float32))
    if not n:
        raise ValueError("no batches to evaluate")
    return {"loss": total / n, "pred": np.concatenate(preds).astype(np.float32),
            "target": np.concatenate(targets).astype(np.float32),
            "weight": np.concatenate(weights).astype(np.float32)}


def denormalise_joints(joints: np.ndarray, extent: tuple[float, float, float, float]) -> np.ndarray:
    """Normalised image coordinates to the labels' units.

    Parameters
    ----------
    joints : ndarray, shape (..., 2)
        ``(x, y)`` in [0, 1] (as :func:`~radarkit.models.maepose.heatmaps_to_joints` returns).
    extent : (x_min, x_max, y_min, y_max)
        The label-plane rectangle mapped to [0, 1] x [0, 1] (e.g. metres).

    Returns
    -------
    ndarray of float64, shape (..., 2)
        ``(x_min + x (x_max - x_min), y_min + y (y_max - y_min))``.
    """
    x0, x1, y0, y1 = extent
    j = np.asarray(joints, dtype=np.float64)
    return np.stack([x0 + j[..., 0] * (x1 - x0), y0 + j[..., 1] * (y1 - y0)], axis=-1)


def evaluate(model: MAEPose, batches: Iterable,
             extent: tuple[float, float, float, float] = (0.0, 1.0, 0.0, 1.0), threshold: float = 0.05,
             sigma: float = 2.0, soft: bool = False) -> dict[str, float]:
    """Heatmap loss, MPJPE and PCK@threshold in the labels' units ([1]_ section 4.4).

    Parameters
    ----------
    model : MAEPose
        Stage-2 model.
    batches : iterable
        ``(clips, joints[, weight])`` batches; joints with weight 0 are left out of the metrics.
    extent : (x_min, x_max, y_min, y_max)
        Label-plane rectangle of the normalised coordinates (see :func:`denormalise_joints`).
    threshold : float
        PCK distance threshold in the labels' units (0.05 m = PCK@5cm).
    sigma : float
        Target Gaussian sigma of the loss.
    soft : bool
        Soft-argmax decoding.

    Returns
    -------
    dict
        ``loss``, ``mpjpe`` (labels' unit), ``pck`` (fraction in [0, 1]).
    """
    out = predict(model, batches, sigma, soft)
    pred = denormalise_joints(out["pred"], extent)
    target = denormalise_joints(out["target"], extent)
    vis = out["weight"] > 0
    return {"loss": float(out["loss"]), "mpjpe": mpjpe(pred, target, vis),
            "pck": pck(pred, target, threshold, vis)}


@dataclass
class EarlyStopping:
    """Stop when the monitored value has not improved for ``patience`` epochs (lower is better).

    Parameters
    ----------
    patience : int
        Epochs without improvement tolerated (10 in [1]_ section 4.6).
    min_delta : float
        Minimal decrease counted as an improvement.

    Attributes
    ----------
    best : float
        Best value seen.
    best_epoch : int
        Epoch of the best value (-1 before any).
    best_state : dict or None
        Deep copy of the model ``state_dict`` at the best epoch (when a model is passed to ``step``).
    """

    patience: int = 10
    min_delta: float = 0.0
    best: float = math.inf
    best_epoch: int = -1
    bad_epochs: int = 0
    best_state: dict | None = field(default=None, repr=False)

    def step(self, value: float, epoch: int, model: torch.nn.Module | None = None) -> bool:
        """Record an epoch's value; return True when training should stop."""
        if value < self.best - self.min_delta:
            self.best, self.best_epoch, self.bad_epochs = value, epoch, 0
            if model is not None:
                self.best_state = copy.deepcopy(model.state_dict())
        else:
            self.bad_epochs += 1
        return self.bad_epochs >= self.patience


def fit(model: torch.nn.Module, train_epoch: Callable[[], float | dict], validate: Callable[[], float],
        max_epochs: int = 100, patience: int = 10,
        on_epoch: Callable[[int, float, float], None] | None = None) -> list[dict[str, float]]:
    """Run epochs with early stopping on a validation loss; restore the best weights ([1]_ 4.6).

    Parameters
    ----------
    model : torch.nn.Module
        The model being trained (its best ``state_dict`` is kept and restored).
    train_epoch : callable
        Runs one training epoch and returns its mean loss, as a float or a dict with ``"loss"`` (e.g.
        a ``functools.partial`` of :func:`finetune_epoch`).
    validate : callable
        Returns the validation loss monitored for early stopping.
    max_epochs : int
        Epoch limit (100 in [1]_).
    patience : int
        Early-stopping patience (10 in [1]_).
    on_epoch : callable, optional
        Called with ``(epoch, train_loss, val_loss)`` after each epoch (logging, checkpoints).

    Returns
    -------
    list of dict
        Per-epoch ``{"epoch", "train_loss", "val_loss"}``.
    """
    stopper = EarlyStopping(patience)
    history = []
    for epoch in range(max_epochs):
        tr = train_epoch()
        tr = float(tr["loss"]) if isinstance(tr, dict) else float(tr)
        va = float(validate())
        history.append({"epoch": epoch, "train_loss": tr, "val_loss": va})
        if on_epoch is not None:
            on_epoch(epoch, tr, va)
        if stopper.step(va, epoch, model):
            break
    if stopper.best_state is not None:
        model.load_state_dict(stopper.best_state)
    return history
