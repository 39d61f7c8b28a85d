"""milliMamba training and evaluation: optimiser, training step, per-frame prediction, AP/MPJPE/MPJVE.

Training (:func:`train_millimamba`): Adam on :func:`radarkit.models.millimamba.millimamba_loss`
(L1 keypoint loss + ``velocity_weight`` x L1 velocity loss on the central output frames, joints of
repeated end frames masked out), with the epoch loop, atomic per-epoch checkpoints, metric logs and
resuming of :func:`radarkit.train.loop.fit`. The abstract [1]_ gives no optimiser settings; the
defaults here (learning rate 5e-4, weight decay 1e-4, global gradient-norm clip 1.0, batch 8) are
the usual ones for a small attention/Mamba model trained from scratch with coordinate regression
(DETR [3]_ clips at 0.1 with AdamW 1e-4; a larger rate suits the short CPU budgets here).

Evaluation (:func:`evaluate_millimamba`): windows with ``step <= n_out_frames`` cover every frame;
a frame predicted by several windows gets the mean of their predictions. On the per-frame
keypoints (256 x 256 pixels for HuPR):

* COCO keypoint AP, AP50, AP75, AR and per-joint AP with HuPR's OKS sigmas and area = box / 2,
  by the same function as HuPR (:func:`radarkit.train.hupr.score_predictions`); the person score
  is a constant 1 (the model predicts no confidence; one person per frame);
* MPJPE (pixels) and MPJVE (pixels per frame), :func:`radarkit.metrics.joints.mpjve` within each sequence;
* when the dataset has 3-D joints and the camera (``radarkit simulate``), both also in metres:
  each predicted keypoint is back-projected at its true joint's depth
  (:meth:`radarkit.sim.camera.PinholeCamera.unproject`), so the error is the one in the plane
  parallel to the image at that depth (a 2-D model predicts no depth).

References
----------
.. [1] N. P. Kini et al., "milliMamba", WACV 2026, arXiv:2512.20128 (keypoint + velocity loss).
.. [2] D. Pavllo et al., "3D human pose estimation in video with temporal convolutions and
   semi-supervised training", CVPR 2019 (MPJVE: mean per-joint velocity error).
.. [3] N. Carion et al., "End-to-End Object Detection with Transformers", ECCV 2020.
.. [4] S.-P. Lee et al., "HuPR", WACV 2023, section 5.1 (OKS AP protocol).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from radarkit.data.millimamba import MilliMambaWindows
from radarkit.metrics.joints import mpjpe, sequence_mpjve
from radarkit.models.millimamba import PRESETS, MilliMamba, MilliMambaConfig
from radarkit.train.checkpoint import Checkpoint, load_checkpoint, read_header
from radarkit.train.hupr import score_predictions
from radarkit.train.loop import fit, move_to, select_device

__all__ = [
    "MODEL_NAME",
    "MilliMambaTrainConfig",
    "pose_errors",
    "millimamba_step",
    "predict_millimamba",
    "evaluate_millimamba",
    "train_millimamba",
    "load_millimamba",
    "with_overrides",
]

#: Model name recorded in (and checked against) checkpoints.
MODEL_NAME = "millimamba"


@dataclass(frozen=True)
class MilliMambaTrainConfig:
    """Training hyper-parameters (choices documented in the module docstring).

    Attributes
    ----------
    lr : float
        Adam learning rate.
    weight_decay : float
        Adam weight decay.
    batch_size : int
        Windows per batch.
    grad_clip : float or None
        Global gradient-norm clip (None: off).
    step : int
        Distance between the first output frames of training windows (1: every frame).
    num_workers : int
        ``DataLoader`` worker processes.
    """

    lr: float = 5e-4
    weight_decay: float = 1e-4
    batch_size: int = 8
    grad_clip: float | None = 1.0
    step: int = 1
    num_workers: int = 0

    def to_dict(self) -> dict:
        """Plain dictionary (for checkpoints)."""
        return asdict(self)


def pose_errors(dataset: MilliMambaWindows, keypoints: np.ndarray) -> dict[str, float]:
    """MPJPE and MPJVE of per-frame 2-D keypoints, in pixels and (with 3-D labels) metres.

    Parameters
    ----------
    dataset : MilliMambaWindows
        Supplies the per-frame ground truth (every frame of every sequence, in order), and
        ``joints3d``/``camera`` for metres.
    keypoints : array_like, shape (N, J, 2)
        Predictions in image pixels, in :meth:`MilliMambaWindows.ground_truth` order (any model's,
        e.g. HuPR's on the same frames).

    Returns
    -------
    dict of str to float
        ``MPJPE_px``, ``MPJVE_px`` (pixels per frame) and, when ``dataset.has_3d``, ``MPJPE_m``
        and ``MPJVE_m`` (m, m per frame; prediction back-projected at the true joint depth).

    Raises
    ------
    ValueError
        ``keypoints`` not of shape ``(N, J, 2)`` with N the dataset's frame count.
    """
    gt = dataset.ground_truth()["keypoints"][..., :2]
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.shape != gt.shape:
        raise ValueError(f"keypoints must have shape {gt.shape}, got {kp.shape}")
    offsets = dataset.frame_offsets()
    out = {"MPJPE_px": mpjpe(kp, gt), "MPJVE_px": sequence_mpjve(kp, gt, offsets)}
    if dataset.has_3d:
        cam = dataset.camera
        truth = np.concatenate(dataset.joints3d).astype(np.float64)
        depth = np.maximum(truth[..., 1] - cam.position_m[1], 1e-3)
        lifted = cam.unproject(kp, depth).astype(np.float64)
        out["MPJPE_m"] = mpjpe(lifted, truth)
        out["MPJVE_m"] = sequence_mpjve(lifted, truth, offsets)
    return out


def millimamba_step(model: MilliMamba, batch: dict[str, torch.Tensor],
                    device: torch.device) -> tuple[torch.Tensor, dict[str, float]]:
    """Loss of one batch (:meth:`MilliMamba.loss`), for :func:`radarkit.train.loop.fit`.

    Parameters
    ----------
    model : MilliMamba
        Its configuration's ``velocity_weight`` weighs the velocity loss.
    batch : dict
        :class:`MilliMambaWindows` samples collated: ``hori``, ``vert`` ``(B, T, K, A, R)``
        complex64, ``keypoints`` ``(B, n_out, J, 2)``, ``visible`` ``(B, n_out, J)``.
    device : torch.device

    Returns
    -------
    loss : Tensor
        Scalar ``keypoint + velocity_weight * velocity``.
    extras : dict
        ``loss_keypoint`` and ``loss_velocity`` (floats, dimensionless: L1 / image size).
    """
    b = move_to({k: batch[k] for k in ("hori", "vert", "keypoints", "visible")}, device)
    pred = model(b["hori"], b["vert"])
    loss, parts = model.loss(pred, b["keypoints"], b["visible"])
    return loss, {"loss_keypoint": float(parts["keypoint"]), "loss_velocity": float(parts["velocity"])}


@torch.no_grad()
def predict_millimamba(model: MilliMamba, dataset: MilliMambaWindows,
                       device: str | torch.device | None = "auto", batch_size: int = 8,
                       num_workers: int = 0,
                       progress: Callable[[int], None] | None = None) -> dict[str, np.ndarray]:
    """Keypoints of every frame of ``dataset``'s sequences (mean over the windows predicting it).

    Parameters
    ----------
    model : MilliMamba
        Put in evaluation mode and moved to ``device``.
    dataset : MilliMambaWindows
        With ``step <= model.config.n_out_frames`` (so that every frame is predicted).
    device : str or torch.device
        See :func:`radarkit.train.loop.select_device`.
    batch_size, num_workers : int
        ``DataLoader`` settings.
    progress : callable, optional
        Called with the number of windows done after each batch.

    Returns
    -------
    dict
        ``keypoints`` float32 ``(N, J, 2)`` image pixels, ``scores`` float32 ``(N,)`` (all 1),
        ``image_ids`` int64 ``(N,)``, in :meth:`MilliMambaWindows.ground_truth` order.

    Raises
    ------
    ValueError
        Windows that do not fit the model, or frames no window predicts.
    """
    cfg = model.config
    if dataset.n_out_frames != cfg.n_out_frames or dataset.n_doppler < cfg.n_doppler:
        raise ValueError(f"dataset windows ({dataset.n_out_frames} output frames, {dataset.n_doppler} "
                         f"Doppler bins) do not fit the model ({cfg.n_out_frames}, {cfg.n_doppler})")
    dev = select_device(device)
    model.to(dev).eval()
    offsets = dataset.frame_offsets()
    n, j = int(offsets[-1]), cfg.n_joints
    sums, counts = np.zeros((n, j, 2)), np.zeros(n)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    done = 0
    for batch in loader:
        pred = model(batch["hori"].to(dev), batch["vert"].to(dev)).float().cpu().numpy()
        rows = offsets[batch["sequence"].numpy()][:, None] + batch["frames"].numpy()   # (B, n_out)
        keep = batch["visible"].numpy()[:, :, 0] > 0                                  # not repeated
        np.add.at(sums, rows[keep], pred[keep])
        np.add.at(counts, rows[keep], 1.0)
        done += len(pred)
        if progress is not None:
            progress(done)
    if (counts == 0).any():
        raise ValueError(f"{int((counts == 0).sum())} frames are predicted by no window (use step <= "
                         f"{cfg.n_out_frames})")
    ids = np.concatenate([q.image_ids for q in dataset.sequences]).astype(np.int64)
    return {"keypoints": (sums / counts[:, None, None]).astype(np.float32),
            "scores": np.ones(n, dtype=np.float32), "image_ids": ids}


def evaluate_millimamba(model: MilliMamba, dataset: MilliMambaWindows,
                        device: str | torch.device | None = "auto", batch_size: int = 8,
                        num_workers: int = 0, progress: Callable[[int], None] | None = None
                        ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Predict every frame and score it: OKS AP (HuPR protocol), MPJPE and MPJVE.

    Parameters
    ----------
    model, dataset, device, batch_size, num_workers, progress
        As :func:`predict_millimamba`.

    Returns
    -------
    metrics : dict of str to float
        ``AP``, ``AP50``, ``AP75``, ``AR``, ``AP_<joint>`` (in [0, 1]; HuPR sigmas, area = box / 2),
        ``MPJPE_px``, ``MPJVE_px`` and, with 3-D labels, ``MPJPE_m``, ``MPJVE_m``.
    predictions : dict
        :func:`predict_millimamba`'s output.

    References
    ----------
    HuPR section 5.1 (AP); D. Pavllo et al., CVPR 2019 (MPJVE).
    """
    preds = predict_millimamba(model, dataset, device, batch_size, num_workers, progress)
    metrics = score_predictions(dataset, preds["keypoints"], preds["scores"])
    metrics.update(pose_errors(dataset, preds["keypoints"]))
    return metrics, preds


def _eval_windows(dataset: MilliMambaWindows) -> MilliMambaWindows:
    """The same sequences with windows that predict every frame once (``step = n_out_frames``)."""
    if dataset.step == dataset.n_out_frames:
        return dataset
    return MilliMambaWindows(dataset.sequences, dataset.n_frames, dataset.n_out_frames, dataset.n_doppler,
                             dataset.n_out_frames, dataset.joints3d, dataset.camera, dataset.cache_frames)


def train_millimamba(
    train_set: MilliMambaWindows,
    out_dir: str | os.PathLike,
    model_config: MilliMambaConfig | str = "small",
    train_config: MilliMambaTrainConfig | None = None,
    *,
    epochs: int = 10,
    val_set: MilliMambaWindows | None = None,
    resume: bool = False,
    seed: int = 0,
    device: str | torch.device | None = "auto",
    data_info: dict | None = None,
    progress: bool = True,
    echo: Callable[[str], None] | None = None,
) -> tuple[MilliMamba, list[dict]]:
    """Train milliMamba on ``train_set`` with a checkpoint and a metrics row after each epoch.

    Parameters
    ----------
    train_set : MilliMambaWindows
        Training windows (shuffled every epoch, seeded).
    out_dir : str or os.PathLike
        Run folder: ``last.ckpt`` (every epoch, atomic), ``best.ckpt`` (highest validation AP when
        ``val_set`` is given), ``metrics.csv`` and ``metrics.json``.
    model_config : MilliMambaConfig or str
        Architecture (its ``velocity_weight`` weighs the velocity loss; 0 disables it) or preset
        name (``"small"``, ``"default"``).
    train_config : MilliMambaTrainConfig, optional
        Default: :class:`MilliMambaTrainConfig`'s.
    epochs : int
        Total epochs (with ``resume``, including those done).
    val_set : MilliMambaWindows, optional
        Scored after each epoch on every frame (``val_AP``, ``val_AP50``, ``val_MPJPE_px``,
        ``val_MPJVE_px``).
    resume : bool
        Continue from ``out_dir/last.ckpt`` (another model's checkpoint raises CheckpointError).
    seed : int
        Seed of initialisation, shuffling and every epoch.
    device : str or torch.device
        ``"auto"``: CUDA when available, else CPU.
    data_info : dict, optional
        Stored in the checkpoint configuration.
    progress : bool
        Progress bars with the running loss.
    echo : callable, optional
        Receives one line per epoch.

    Returns
    -------
    model : MilliMamba
        The model after the last epoch.
    rows : list of dict
        Metrics per epoch.

    Raises
    ------
    CheckpointError
        ``resume`` from a damaged or different checkpoint.
    ValueError
        Windows of ``train_set`` that do not fit the model.
    """
    from radarkit.train.loop import seed_everything

    cfg = PRESETS[model_config] if isinstance(model_config, str) else model_config
    tcfg = train_config or MilliMambaTrainConfig()
    if train_set.n_out_frames != cfg.n_out_frames or train_set.n_doppler < cfg.n_doppler:
        raise ValueError(f"dataset windows ({train_set.n_out_frames} output frames, "
                         f"{train_set.n_doppler} Doppler bins) do not fit the model "
                         f"({cfg.n_out_frames}, {cfg.n_doppler})")
    seed_everything(seed)
    model = MilliMamba(cfg)
    optimizer = torch.optim.Adam(model.parameters(), lr=tcfg.lr, weight_decay=tcfg.weight_decay)
    loader = DataLoader(train_set, batch_size=tcfg.batch_size, shuffle=True, num_workers=tcfg.num_workers)
    eval_fn = None
    if val_set is not None and len(val_set):
        val_windows = _eval_windows(val_set)

        def eval_fn(m: torch.nn.Module, dev: torch.device) -> dict[str, float]:
            metrics, _ = evaluate_millimamba(m, val_windows, dev, batch_size=tcfg.batch_size,
                                             num_workers=tcfg.num_workers)
            return {f"val_{k}": metrics[k] for k in ("AP", "AP50", "AP75", "MPJPE_px", "MPJVE_px")}

    config = {"model": cfg.to_dict(), "train": tcfg.to_dict(), "seed": seed, "data": dict(data_info or {})}
    rows = fit(model, optimizer, loader, millimamba_step, epochs=epochs, out_dir=out_dir, name=MODEL_NAME,
               config=config, eval_fn=eval_fn, resume=resume, seed=seed, device=device,
               monitor="val_AP" if eval_fn is not None else None, grad_clip=tcfg.grad_clip,
               progress=progress, echo=echo)
    return model, rows


def load_millimamba(path: str | os.PathLike, device: str | torch.device | None = "cpu"
                    ) -> tuple[MilliMamba, Checkpoint]:
    """Rebuild a milliMamba model from a checkpoint written by :func:`train_millimamba`.

    Parameters
    ----------
    path : str or os.PathLike
        Checkpoint file.
    device : str or torch.device
        Where the model goes (``"auto"``: CUDA when available).

    Returns
    -------
    model : MilliMamba
        In evaluation mode, on ``device``.
    checkpoint : Checkpoint
        Header, configuration and metrics.

    Raises
    ------
    CheckpointError
        Damaged file, another model's checkpoint, or weights that do not fit the stored configuration.
    """
    from radarkit.errors import CheckpointError

    header = read_header(path)
    if header.get("model") != MODEL_NAME:
        raise CheckpointError(f"checkpoint is for model {header.get('model')!r}, expected {MODEL_NAME!r}",
                              source=Path(path))
    try:
        cfg = MilliMambaConfig.from_dict(header["config"]["model"])
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"no usable milliMamba configuration in the checkpoint ({err})",
                              source=Path(path)) from None
    model = MilliMamba(cfg)
    dev = select_device(device)
    ckpt = load_checkpoint(path, model, name=MODEL_NAME, map_location="cpu")
    return model.to(dev).eval(), ckpt


def with_overrides(config: MilliMambaConfig | str, **overrides) -> MilliMambaConfig:
    """A preset (or configuration) with fields replaced; None values are left as they are.

    Parameters
    ----------
    config : MilliMambaConfig or str
        Configuration or preset name.
    **overrides
        Field values (None: keep).

    Returns
    -------
    MilliMambaConfig

    Raises
    ------
    ValueError
        Unknown preset or inconsistent values.
    """
    if isinstance(config, str):
        if config not in PRESETS:
            raise ValueError(f"unknown milliMamba preset {config!r}; choose one of {sorted(PRESETS)}")
        config = PRESETS[config]
    return dataclasses.replace(config, **{k: v for k, v in overrides.items() if v is not None})
