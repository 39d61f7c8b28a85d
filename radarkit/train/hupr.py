"""HuPR training and evaluation: optimiser, training step, prediction and OKS-AP evaluation.

Training follows HuPR section 5.2 (``learned-models.md``): Adam, learning rate 1e-4, weight decay
1e-4, batch 20, learning rate x0.999 every 2000 iterations, loss ``BCE(initial) + alpha *
BCE(refined)`` against Gaussian heatmaps (:func:`radarkit.models.hupr.hupr_loss`). The epoch loop,
checkpoints, metric logs and resuming are :func:`radarkit.train.loop.fit`'s.

Evaluation follows HuPR section 5.1 and the official ``evaluate``/``evaluateEach``: arg-max of
each refined heatmap times 4 gives 256-pixel keypoints; the person score is the mean of the 14
maxima; COCO keypoint AP with HuPR's OKS sigmas (:data:`radarkit.skeleton.HUPR14`), ground-truth
area half the annotated box, box ``(x0, y0, w, h)`` from the annotation, maxDets 20
(:func:`radarkit.metrics.keypoints.evaluate_keypoints`, equal to pycocotools).

References
----------
.. [1] S.-P. Lee et al., "HuPR: A Benchmark for Human Pose Estimation Using Millimeter Wave Radar",
   WACV 2023, sections 4.3, 5.1, 5.2; official repository (``tools/runner.py``, read for
   understanding).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from radarkit.data.heatmaps import SUBPIXEL_METHODS, decode_heatmaps, gaussian_heatmaps
from radarkit.data.hupr import HuPRWindows
from radarkit.metrics.keypoints import evaluate_keypoints
from radarkit.models.hupr import HuPR, HuPRConfig, get_config, hupr_loss
from radarkit.skeleton import HUPR14
from radarkit.train.checkpoint import Checkpoint, load_checkpoint, read_header
from radarkit.train.loop import fit, move_to, select_device

__all__ = [
    "MODEL_NAME",
    "HuPRTrainConfig",
    "make_optimizer",
    "hupr_step",
    "predict_hupr",
    "score_predictions",
    "evaluate_hupr",
    "mean_target_heatmaps",
    "init_heatmap_prior",
    "has_prior_bias",
    "train_hupr",
    "load_hupr",
]

#: Model name recorded in (and checked against) checkpoints.
MODEL_NAME = "hupr"

#: The heatmaps :meth:`radarkit.models.hupr.HuPR.forward` returns, in order; either can be scored.
HEATMAP_OUTPUTS = ("initial", "refined")
#: Learning-rate schedules of :class:`HuPRTrainConfig`.
LR_SCHEDULES = ("step", "linear")
#: Numeric precisions of the training forward pass (:class:`HuPRTrainConfig` ``precision``).
PRECISIONS = ("fp32", "bf16")


@dataclass(frozen=True)
class HuPRTrainConfig:
    """Training hyper-parameters (defaults: HuPR section 5.2 [1]_).

    Attributes
    ----------
    lr : float
        Adam learning rate (paper: 1e-4).
    weight_decay : float
        Adam weight decay (paper: 1e-4).
    batch_size : int
        Windows per batch (paper: 20).
    lr_step : int
        Iterations between learning-rate decays (paper: 2000; ``lr_schedule="step"``).
    lr_gamma : float
        Decay factor (paper: 0.999; ``lr_schedule="step"``).
    lr_schedule : {"step", "linear"}
        ``"step"``: the paper's step decay (``lr_step``, ``lr_gamma``). ``"linear"`` (not in the
        paper): ``lr * decay_start_factor`` held until iteration ``decay_start``, then decayed
        linearly to zero at iteration ``decay_end`` (the schedule that makes the most of a fixed
        budget [2]_); with ``decay_end`` None the rate stays at ``lr``.
    decay_start, decay_end : int, int or None
        Optimiser iterations (counted over the whole run) where the linear decay starts and ends.
    decay_start_factor : float
        Fraction of ``lr`` held until ``decay_start``, where the linear decay starts (in (0, 1];
        1 unless a decay already under way was shortened, :meth:`shorten_decay`).
    alpha : float
        Weight of the PRGCN term of the loss (paper: 1).
    step : int
        Use every ``step``-th frame as a training window centre (official ``sampling_ratio``).
    eval_step : int
        The same for per-epoch validation.
    num_workers : int
        ``DataLoader`` worker processes (0: load in the training process).
    grad_clip : float or None
        Clip the global gradient norm (None: off, as the paper).
    prior_init : bool
        Start the output heatmaps at the training set's mean heatmap (:func:`init_heatmap_prior`; off in
        the paper). It skips the first phase of training, in which a heatmap model learns only
        where joints are on average, which is most of a short CPU budget.
    precision : {"fp32", "bf16"}
        ``"bf16"`` (not in the paper): the training forward pass runs under bfloat16 autocast
        (``torch.autocast`` on the training device); weights, gradients, optimiser state and the
        loss stay float32 (the logits are cast back before the loss). On the development CPU
        (AVX-512 BF16, no AMX) a ``small`` step on random inputs took about 20 % less time; a full
        30-minute simulated run still fitted the same number of epochs
        (``docs/hupr_simulated_runs.md``). Evaluation always runs in float32.

    Raises
    ------
    ValueError
        An unknown ``lr_schedule`` or ``precision``, ``decay_end <= decay_start`` or a
        ``decay_start_factor`` outside (0, 1].

    References
    ----------
    .. [1] HuPR, WACV 2023, section 5.2.
    .. [2] M. Li, E. Yumer, D. Ramanan, "Budgeted Training: Rethinking Deep Neural Network Training
       Under Resource Constraints", ICLR 2020 (linear decay to zero within the budget).
    """

    lr: float = 1e-4
    weight_decay: float = 1e-4
    batch_size: int = 20
    lr_step: int = 2000
    lr_gamma: float = 0.999
    alpha: float = 1.0
    step: int = 1
    eval_step: int = 1
    num_workers: int = 0
    grad_clip: float | None = None
    prior_init: bool = False
    lr_schedule: str = "step"
    decay_start: int = 0
    decay_end: int | None = None
    decay_start_factor: float = 1.0
    precision: str = "fp32"

    def __post_init__(self) -> None:
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.decay_start < 0 or (self.decay_end is not None and self.decay_end <= self.decay_start):
            raise ValueError(f"need 0 <= decay_start < decay_end, got {self.decay_start} and "
                             f"{self.decay_end}")
        if not 0.0 < self.decay_start_factor <= 1.0:
            raise ValueError(f"decay_start_factor must be in (0, 1], got {self.decay_start_factor}")

    def iterations_per_epoch(self, n_windows: int) -> int:
        """Optimiser iterations of one epoch over ``n_windows`` windows (the last batch may be
        short)."""
        return -(-n_windows // self.batch_size)

    def lr_factor(self, iteration: int) -> float:
        """Learning rate at optimiser ``iteration`` (0-based) as a fraction of ``lr``.

        Parameters
        ----------
        iteration : int
            Optimiser steps taken so far in the run.

        Returns
        -------
        float
            In [0, 1].
        """
        if self.lr_schedule == "step":
            return self.lr_gamma ** (iteration // self.lr_step)
        if self.decay_end is None:
            return 1.0
        if iteration < self.decay_start:
            return self.decay_start_factor
        done = (iteration - self.decay_start) / (self.decay_end - self.decay_start)
        return self.decay_start_factor * max(0.0, 1.0 - done)

    def with_linear_decay(self, n_windows: int, hold_epochs: int, epochs: int) -> HuPRTrainConfig:
        """This configuration with ``lr`` held for ``hold_epochs`` epochs, then decayed to zero.

        Parameters
        ----------
        n_windows : int
            Training windows per epoch (``len(train_set)``); with ``batch_size`` it gives the
            optimiser iterations per epoch (the last batch may be short).
        hold_epochs : int
            Epochs at the full rate (0: decay from the first iteration).
        epochs : int
            Epoch at whose end the rate reaches zero.

        Returns
        -------
        HuPRTrainConfig
            ``lr_schedule="linear"`` with ``decay_start``/``decay_end`` at those epochs' ends.

        Raises
        ------
        ValueError
            ``hold_epochs >= epochs``, or no training windows.
        """
        if n_windows < 1 or not 0 <= hold_epochs < epochs:
            raise ValueError(f"need windows and 0 <= hold_epochs < epochs, got {n_windows} windows, "
                             f"hold {hold_epochs}, epochs {epochs}")
        steps = self.iterations_per_epoch(n_windows)
        return replace(self, lr_schedule="linear", decay_start=hold_epochs * steps,
                       decay_end=epochs * steps, decay_start_factor=1.0)

    def shorten_decay(self, iteration: int, end: int) -> HuPRTrainConfig:
        """This linear schedule from ``iteration`` on, reaching zero earlier, at ``end``.

        For a budgeted run whose later epochs turn out slower than planned: the rate at
        ``iteration`` is kept (no jump), a hold still ahead is kept when the decay fits after it,
        and the rate then falls linearly to zero at ``end``.

        Parameters
        ----------
        iteration : int
            Optimiser iterations done (the next one is the first to follow the new schedule).
        end : int
            Iteration at which the rate reaches zero: ``iteration < end < decay_end``.

        Returns
        -------
        HuPRTrainConfig
            ``lr_factor`` equals this configuration's at ``iteration`` and is 0 from ``end`` on.
            It describes the rest of the run: for iterations before ``iteration`` it need not
            give the rate that was used.

        Raises
        ------
        ValueError
            Not a linear schedule with a planned end, or ``end`` outside ``(iteration,
            decay_end)``.
        """
        if self.lr_schedule != "linear" or self.decay_end is None:
            raise ValueError("shorten_decay needs a linear schedule with a planned decay_end")
        if not iteration < end < self.decay_end:
            raise ValueError(f"need iteration < end < decay_end, got {iteration}, {end} and "
                             f"{self.decay_end}")
        if iteration < self.decay_start < end:  # the hold is still ahead and the decay fits after it
            return replace(self, decay_end=end)
        return replace(self, decay_start=iteration, decay_end=end,
                       decay_start_factor=self.lr_factor(iteration))

    def to_dict(self) -> dict:
        """Plain dictionary (for checkpoints)."""
        return asdict(self)


def make_optimizer(model: torch.nn.Module, config: HuPRTrainConfig | None = None
                   ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """Adam and the per-iteration learning-rate schedule (paper: step decay, HuPR section 5.2).

    Parameters
    ----------
    model : torch.nn.Module
    config : HuPRTrainConfig, optional
        Default: the paper's settings.

    Returns
    -------
    optimizer : torch.optim.Adam
    scheduler : torch.optim.lr_scheduler.LRScheduler
        Stepped after every optimiser step: ``StepLR`` (``step_size=lr_step``, ``gamma=lr_gamma``)
        for the paper's schedule, else a ``LambdaLR`` of :meth:`HuPRTrainConfig.lr_factor`.
    """
    cfg = config or HuPRTrainConfig()
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.lr_schedule == "step":
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=cfg.lr_step,
                                                    gamma=cfg.lr_gamma)
    else:
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, cfg.lr_factor)
    return optimizer, scheduler


def hupr_step(model: HuPR, batch: dict[str, torch.Tensor], device: torch.device,
              alpha: float = 1.0, precision: str = "fp32") -> tuple[torch.Tensor, dict[str, float]]:
    """Loss of one batch (:func:`radarkit.models.hupr.hupr_loss`), for :func:`radarkit.train.loop.fit`.

    Parameters
    ----------
    model : HuPR
    batch : dict
        :class:`radarkit.data.hupr.HuPRWindows` samples collated: ``hori``, ``vert`` ``(B, T, K,
        2, R, A, E)``, ``heatmaps`` ``(B, J, H, W)``, ``weights`` ``(B, J)``.
    device : torch.device
    alpha : float
        Weight of the refined-heatmap term (paper: 1).
    precision : {"fp32", "bf16"}
        ``"bf16"``: the forward pass under bfloat16 autocast, the loss in float32
        (:class:`HuPRTrainConfig` ``precision``).

    Returns
    -------
    loss : Tensor
        Scalar float32 ``BCE(initial) + alpha * BCE(refined)``.
    extras : dict
        ``loss_initial`` and ``loss_refined`` (floats).

    Raises
    ------
    ValueError
        An unknown ``precision``.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    b = move_to({k: batch[k] for k in ("hori", "vert", "heatmaps", "weights")}, device)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        initial, refined = model.forward_logits(b["hori"], b["vert"])
    initial, refined = initial.float(), refined.float()
    l_init = hupr_loss(initial, refined, b["heatmaps"], alpha=0.0, weight=b["weights"])
    l_ref = hupr_loss(refined, refined, b["heatmaps"], alpha=0.0, weight=b["weights"])
    return l_init + alpha * l_ref, {"loss_initial": float(l_init.detach()),
                                    "loss_refined": float(l_ref.detach())}


@torch.no_grad()
def predict_hupr(model: HuPR, dataset: HuPRWindows, device: str | torch.device | None = "auto",
                 batch_size: int = 8, num_workers: int = 0,
                 progress: Callable[[int], None] | None = None, *,
                 heatmaps: str = "refined", subpixel: str = "none") -> dict[str, np.ndarray]:
    """Keypoints of every sample of ``dataset`` from the refined heatmaps (arg-max x stride).

    Parameters
    ----------
    model : HuPR
        Put in evaluation mode and moved to ``device``.
    dataset : HuPRWindows
    device : str or torch.device
        See :func:`radarkit.train.loop.select_device`.
    batch_size, num_workers : int
        ``DataLoader`` settings (samples in dataset order).
    progress : callable, optional
        Called with the number of samples done after each batch.
    heatmaps : {"refined", "initial"}
        Decode PRGCN's refined heatmaps (the paper's output) or the 2-D decoder's initial ones
        (a diagnostic: what the model knows before refinement).
    subpixel : {"none", "quarter"}
        ``"none"``: the arg-max cell, as HuPR; ``"quarter"``: shifted a quarter heatmap pixel
        towards the higher neighbour (:func:`radarkit.data.heatmaps.decode_heatmaps`).

    Returns
    -------
    dict
        ``keypoints`` float32 ``(N, J, 2)`` image pixels; ``joint_scores`` float32 ``(N, J)``
        (heatmap maxima); ``scores`` float32 ``(N,)`` (their mean, HuPR's person score);
        ``image_ids`` int64 ``(N,)``.

    Raises
    ------
    ValueError
        ``heatmaps`` is neither ``"refined"`` nor ``"initial"``, or an unknown ``subpixel``.

    References
    ----------
    HuPR section 5.1 (arg-max x 4 -> 256-pixel coordinates).
    """
    if heatmaps not in HEATMAP_OUTPUTS:
        raise ValueError(f"heatmaps must be one of {HEATMAP_OUTPUTS}, got {heatmaps!r}")
    if subpixel not in SUBPIXEL_METHODS:
        raise ValueError(f"subpixel must be one of {SUBPIXEL_METHODS}, got {subpixel!r}")
    dev = select_device(device)
    model.to(dev).eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    kps, jscores, ids = [], [], []
    done = 0
    for batch in loader:
        outputs = model(batch["hori"].to(dev), batch["vert"].to(dev))
        xy, sc = decode_heatmaps(outputs[HEATMAP_OUTPUTS.index(heatmaps)], stride=dataset.stride,
                                 subpixel=subpixel)
        kps.append(xy)
        jscores.append(sc)
        ids.append(batch["image_id"].numpy())
        done += len(xy)
        if progress is not None:
            progress(done)
    joint_scores = np.concatenate(jscores).astype(np.float32)
    return {"keypoints": np.concatenate(kps).astype(np.float32), "joint_scores": joint_scores,
            "scores": joint_scores.mean(axis=1), "image_ids": np.concatenate(ids).astype(np.int64)}


def score_predictions(dataset: HuPRWindows, keypoints: np.ndarray,
                      scores: np.ndarray | None = None) -> dict[str, float]:
    """HuPR's COCO keypoint AP of one prediction per sample of ``dataset``.

    Parameters
    ----------
    dataset : HuPRWindows
        Supplies the ground truth (:meth:`HuPRWindows.ground_truth`).
    keypoints : array_like, shape (N, J, 2)
        Predicted keypoints (image pixels) in dataset order.
    scores : array_like, shape (N,), optional
        Person scores (default all 1).

    Returns
    -------
    dict of str to float
        ``AP``, ``AP50``, ``AP75``, ``AR`` and ``AP_<joint>`` for the HuPR-14 joints, in [0, 1].

    References
    ----------
    HuPR section 5.1; official ``evaluate``/``evaluateEach`` (area = box area / 2).
    """
    gt = dataset.ground_truth()
    n = len(gt["image_ids"])
    scores = np.ones(n) if scores is None else np.asarray(scores, dtype=np.float64)
    return evaluate_keypoints(gt["keypoints"], gt["image_ids"], np.asarray(keypoints), scores,
                              gt["image_ids"], HUPR14.sigmas, joint_names=HUPR14.joints,
                              gt_areas=gt["areas"], gt_bboxes=gt["bboxes"])


def evaluate_hupr(model: HuPR, dataset: HuPRWindows, device: str | torch.device | None = "auto",
                  batch_size: int = 8, num_workers: int = 0,
                  progress: Callable[[int], None] | None = None, *, heatmaps: str = "refined",
                  subpixel: str = "none") -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Predict every sample and score the predictions (:func:`predict_hupr`,
    :func:`score_predictions`).

    Parameters are :func:`predict_hupr`'s (``heatmaps``: which output is scored; ``subpixel``:
    how it is decoded).

    Returns
    -------
    metrics : dict of str to float
        ``AP``, ``AP50``, ``AP75``, ``AR``, per-joint ``AP_<joint>`` (in [0, 1]).
    predictions : dict
        :func:`predict_hupr`'s output.
    """
    preds = predict_hupr(model, dataset, device, batch_size, num_workers, progress,
                         heatmaps=heatmaps, subpixel=subpixel)
    return score_predictions(dataset, preds["keypoints"], preds["scores"]), preds


def mean_target_heatmaps(dataset: HuPRWindows, chunk: int = 256) -> np.ndarray:
    """Mean Gaussian target heatmap of every joint over the samples of ``dataset``.

    Parameters
    ----------
    dataset : HuPRWindows
        Its keypoints, heatmap size, stride and sigma (no radar data is read).
    chunk : int
        Samples per batch of heatmaps (bounds memory).

    Returns
    -------
    ndarray, float64, shape (J, H, W)
        In [0, 1].
    """
    kps = np.stack([dataset.sequences[s].keypoints[t] for s, t in dataset.index])
    total = None
    for lo in range(0, len(kps), chunk):
        maps, _ = gaussian_heatmaps(kps[lo:lo + chunk], dataset.heatmap_size, dataset.stride,
                                    dataset.sigma)
        part = maps.astype(np.float64).sum(axis=0)
        total = part if total is None else total + part
    return total / len(kps)


@torch.no_grad()
def init_heatmap_prior(model: HuPR, mean_heatmaps: np.ndarray, weight_scale: float = 0.1,
                       eps: float = 1e-4) -> None:
    """Start the model's output heatmaps at a prior: output bias = logit of the prior.

    Every output bias the model has is set (:class:`radarkit.models.hupr.HuPRConfig`):

    * ``heatmap_bias`` (per pixel): the prior's logit.
    * ``joint_bias`` (per joint): the logit of the prior's mean over the map, the best constant
      prediction under the BCE loss (with ``heatmap_bias`` as well, it stays 0).
    * A plain PRGCN (:class:`radarkit.models.hupr.PRGCN`): its last layer
      ``H = A_hat V'' W3 + b3`` works on the heatmap downscaled by 2; ``b3`` is set to the logit of
      the prior downscaled the same way and ``W3`` is multiplied by ``weight_scale``, so the
      refined output starts about the prior.

    A residual PRGCN (``gcn_residual``) starts as the identity, so the refined heatmaps follow
    the initial ones. In all cases the untrained model's output is about the prior and the
    input-dependent part grows from there: the usual output-bias initialisation of detection
    heads (RetinaNet's prior probability).

    Parameters
    ----------
    model : HuPR
        With at least one output bias (:func:`has_prior_bias`); changed in place.
    mean_heatmaps : array_like, shape (J, H, W)
        Prior probabilities in [0, 1] (:func:`mean_target_heatmaps`).
    weight_scale : float
        Factor on a plain PRGCN's ``W3``.
    eps : float
        Probabilities are clipped to ``[eps, 1 - eps]`` before the logit.

    Raises
    ------
    ValueError
        The model has no output bias to carry the prior (:func:`has_prior_bias`), or the prior's
        shape does not match its heatmaps.

    References
    ----------
    T.-Y. Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017, section 4.1
    (initialisation of the classification bias to a prior).
    """
    if not has_prior_bias(model):
        raise ValueError("the model has neither PRGCN nor a heatmap bias to carry the prior "
                         "(a residual PRGCN needs heatmap_bias or joint_bias): no output bias to "
                         "initialise")
    prior = torch.as_tensor(np.asarray(mean_heatmaps), dtype=torch.float32)
    j, (h, w) = model.config.n_joints, model.config.heatmap_size
    if tuple(prior.shape) != (j, h, w):
        raise ValueError(f"prior heatmaps of shape {tuple(prior.shape)}, the model needs {(j, h, w)}")
    if model.heatmap_bias is not None:
        model.heatmap_bias.copy_(torch.logit(prior.clamp(eps, 1 - eps)))
    elif model.joint_bias is not None:
        level = prior.mean(dim=(1, 2)).clamp(eps, 1 - eps)
        model.joint_bias.copy_(torch.logit(level).reshape(j, 1, 1))
    if model.gcn is not None and not model.config.gcn_residual:
        small = torch.nn.functional.interpolate(prior[None], scale_factor=0.5, mode="bilinear",
                                                align_corners=True)[0].clamp(eps, 1 - eps)
        model.gcn.biases[2].copy_(torch.logit(small).reshape(j, -1))
        model.gcn.weights[2].mul_(weight_scale)


def has_prior_bias(model: HuPR) -> bool:
    """Whether :func:`init_heatmap_prior` can start ``model`` at a prior.

    True with a ``heatmap_bias``, a ``joint_bias`` or a plain (non-residual) PRGCN, whose output
    bias then carries the prior.

    Parameters
    ----------
    model : HuPR

    Returns
    -------
    bool
    """
    return (model.heatmap_bias is not None or model.joint_bias is not None
            or (model.gcn is not None and not model.config.gcn_residual))


def train_hupr(
    train_set: HuPRWindows,
    out_dir: str | os.PathLike,
    model_config: HuPRConfig | str = "small",
    train_config: HuPRTrainConfig | None = None,
    *,
    epochs: int = 10,
    val_set: HuPRWindows | None = None,
    resume: bool = False,
    seed: int = 0,
    device: str | torch.device | None = "auto",
    data_info: dict | None = None,
    progress: bool = True,
    echo: Callable[[str], None] | None = None,
) -> tuple[HuPR, list[dict]]:
    """Train HuPR on ``train_set`` with a checkpoint and a metrics row after each epoch.

    Parameters
    ----------
    train_set : HuPRWindows
        Training windows (shuffled every epoch, seeded).
    out_dir : str or os.PathLike
        Run folder: ``last.ckpt`` (every epoch, atomic), ``best.ckpt`` (highest validation AP
        when ``val_set`` is given), ``metrics.csv`` and ``metrics.json``.
    model_config : HuPRConfig or str
        Architecture or preset name (``"small"``, ``"paper"``).
    train_config : HuPRTrainConfig, optional
        Default: the paper's settings.
    epochs : int
        Total epochs (with ``resume``, including those done).
    val_set : HuPRWindows, optional
        Scored after each epoch (``val_AP``, ``val_AP50``, ``val_AP75``).
    resume : bool
        Continue from ``out_dir/last.ckpt`` (a different architecture raises CheckpointError).
    seed : int
        Seed of initialisation, shuffling and every epoch.
    device : str or torch.device
        ``"auto"``: CUDA when available, else CPU.
    data_info : dict, optional
        Stored in the checkpoint configuration (e.g. the dataset folder and splits).
    progress : bool
        Progress bars with the running loss.
    echo : callable, optional
        Receives one line per epoch.

    Returns
    -------
    model : HuPR
        The model after the last epoch.
    rows : list of dict
        Metrics per epoch.

    Raises
    ------
    CheckpointError
        ``resume`` from a damaged or different checkpoint.
    ValueError
        Window or heatmap sizes of ``train_set`` that do not fit the model; ``prior_init`` for a
        model with no output bias to carry the prior (:func:`has_prior_bias`).
    """
    from radarkit.train.loop import seed_everything

    cfg = get_config(model_config) if isinstance(model_config, str) else model_config
    tcfg = train_config or HuPRTrainConfig()
    if train_set.n_frames != cfg.n_frames or train_set.n_doppler != cfg.n_doppler:
        raise ValueError(f"dataset windows ({train_set.n_frames} frames, {train_set.n_doppler} "
                         f"Doppler bins) do not fit the model ({cfg.n_frames}, {cfg.n_doppler})")
    if train_set.heatmap_size != cfg.n_range or cfg.n_range != cfg.n_azimuth:
        raise ValueError(f"heatmaps of {train_set.heatmap_size} px need a square model grid of that "
                         f"size, got {cfg.n_range} x {cfg.n_azimuth}")
    seed_everything(seed)
    model = HuPR(cfg)
    if tcfg.prior_init and not resume:
        init_heatmap_prior(model, mean_target_heatmaps(train_set))
    optimizer, scheduler = make_optimizer(model, tcfg)
    loader = DataLoader(train_set, batch_size=tcfg.batch_size, shuffle=True,
                        num_workers=tcfg.num_workers, drop_last=False)
    eval_fn = None
    if val_set is not None and len(val_set):
        def eval_fn(m: torch.nn.Module, dev: torch.device) -> dict[str, float]:
            metrics, _ = evaluate_hupr(m, val_set, dev, batch_size=tcfg.batch_size,
                                       num_workers=tcfg.num_workers)
            return {f"val_{k}": metrics[k] for k in ("AP", "AP50", "AP75")}

    config = {"model": cfg.to_dict(), "train": tcfg.to_dict(), "seed": seed,
              "data": dict(data_info or {})}
    rows = fit(model, optimizer, loader,
               lambda m, b, d: hupr_step(m, b, d, tcfg.alpha, tcfg.precision),
               epochs=epochs, out_dir=out_dir, name=MODEL_NAME, config=config, eval_fn=eval_fn,
               scheduler=scheduler, resume=resume, seed=seed, device=device,
               monitor="val_AP" if eval_fn is not None else None, grad_clip=tcfg.grad_clip,
               progress=progress, echo=echo)
    return model, rows


def load_hupr(path: str | os.PathLike, device: str | torch.device | None = "cpu"
              ) -> tuple[HuPR, Checkpoint]:
    """Rebuild a HuPR model from a checkpoint written by :func:`train_hupr`.

    Parameters
    ----------
    path : str or os.PathLike
        Checkpoint file (``last.ckpt``, ``best.ckpt``, ...).
    device : str or torch.device
        Where the model goes (``"auto"``: CUDA when available).

    Returns
    -------
    model : HuPR
        In evaluation mode, on ``device``.
    checkpoint : Checkpoint
        Header, configuration and metrics.

    Raises
    ------
    CheckpointError
        Damaged file, another model's checkpoint, or weights that do not fit the stored
        configuration.
    """
    from radarkit.errors import CheckpointError

    header = read_header(path)
    if header.get("model") != MODEL_NAME:
        raise CheckpointError(f"checkpoint is for model {header.get('model')!r}, expected "
                              f"{MODEL_NAME!r}", source=Path(path))
    try:
        cfg = HuPRConfig(**header["config"]["model"])
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"no usable HuPR configuration in the checkpoint ({err})",
                              source=Path(path)) from None
    model = HuPR(cfg)
    dev = select_device(device)
    ckpt = load_checkpoint(path, model, name=MODEL_NAME, map_location="cpu")
    return model.to(dev).eval(), ckpt
