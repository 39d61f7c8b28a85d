"""AWC on simulated multi-modal data: the concatenation baseline against + AWC with the same budget.

Acceptance script of issue 11. On a dataset written by ``radarkit simulate``, the simulated
modalities of :mod:`radarkit.data.multimodal` (radar CFAR point clouds, noisy camera 2-D
keypoints, a LiDAR-like body-surface cloud; 14 ``hupr14`` joints in metres):

1. splits the frames by subject (training subjects / held-out subjects);
2. trains :class:`radarkit.models.awc.AWCPoseModel` with concatenation fusion twice from the same
   initial weights and the same batch order: plain (``AWCConfig(enabled=False)``) and with the
   AWC constraint (Shapley split, Fisher diagonal, paper defaults ``alpha_S = 20k``,
   ``alpha_I = 10k``), same epochs and learning-rate schedule;
3. evaluates both on the held-out subjects: MPJPE, root-aligned MPJPE and PA-MPJPE (mm), the
   Shapley values on the whole held-out set and the mmWave branch's share;
4. writes ``OUT/summary.json``, ``OUT/shapley.png`` (Shapley curves of both runs) and each run's
   ``OUT/<run>/metrics.csv/json``.

Usage::

    radarkit simulate --scene walk_wave --subjects 4 --seconds 20 --radars hori --seed 0 --out SIM
    python -m radarkit.pipelines.awc_sim SIM --out RUN [--epochs 50] [--modalities mmwave,rgb,lidar]

The CPU budget is small (two shared cores): the paper's schedule (50 epochs, ``K`` = 20, learning
rate x0.1 at epoch 30) with a narrow model (``feature_dim`` 64, PointNet encoders without
attention), batch 32 and the Fisher diagonal from a few batches (:class:`AWCSimSettings`), one
torch thread. ``radarkit train awc`` uses the same functions.

References
----------
.. [1] M. Qi, J. Peng, X. Zhang, H. Ma, "Towards Balanced Multi-Modal Learning in 3D Human Pose
   Estimation" (``awc-balanced-multimodal.txt``), Algorithm 1, Sec. 4.1-4.2, Table 2 (MM-Fi
   P1: 53.87 -> 51.16 mm MPJPE with AWC).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["AWCSimSettings", "ROOTS", "split_subjects", "make_loader", "build_model", "fit_awc", "epoch_row",
           "run", "main"]

#: Root joints (the two hips) of the root-aligned MPJPE, per skeleton.
ROOTS: dict[str, tuple[int, ...]] = {"hupr14": (0, 3), "coco13": (7, 8)}


@dataclass(frozen=True)
class AWCSimSettings:
    """Model and training settings of an AWC run on simulated data.

    Parameters
    ----------
    modalities : tuple of str
        Modalities used (subset of ``mmwave``, ``rgb``, ``lidar``).
    epochs : int
        Training epochs (paper: 50).
    window_epochs : int, optional
        ``K``, the AWC learning window (paper: 20 of 50); None: ``round(0.4 * epochs)``.
    batch_size : int
        Batch size (paper: 192 on MM-Fi; 32 here for a few hundred training frames).
    lr, weight_decay : float
        Adam settings (paper: 1e-3, 1e-4).
    lr_step_epochs : int, optional
        Step of the x0.1 schedule (paper: 30 of 50); None: ``round(0.6 * epochs)``.
    alpha_superior, alpha_inferior : float
        AWC weights (paper: 20k and 10k).
    fisher_max_batches : int, optional
        Batches of the Fisher estimate (None: the whole training set, as eq. 8).
    feature_dim : int
        Width of each modality's feature (paper backbones: 256 and more).
    point_attention_layers : int
        Self-attention blocks of the point-set encoders (0: plain PointNet; one block makes a CPU
        training step about six times slower with ~200-point LiDAR clouds).
    fusion : str
        ``concat`` (eq. 2), ``mlp`` or ``attention``.
    dropout : float
        Dropout of encoders and fusion.
    seed : int
        Seed of the initial weights and the batch order (the same for both runs).
    device : str
        ``cpu`` or ``cuda``.

    References
    ----------
    Qi et al., Sec. 4.1 (optimiser, schedule, epochs) and Table 4 (alpha values).
    """

    modalities: tuple[str, ...] = ("mmwave", "rgb", "lidar")
    epochs: int = 50
    window_epochs: int | None = None
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    lr_step_epochs: int | None = None
    alpha_superior: float = 2e4
    alpha_inferior: float = 1e4
    fisher_max_batches: int | None = 4
    feature_dim: int = 64
    point_attention_layers: int = 0
    fusion: str = "concat"
    dropout: float = 0.1
    seed: int = 0
    device: str = "cpu"

    def awc_config(self, enabled: bool):
        """The :class:`radarkit.train.awc.AWCConfig` of these settings (``enabled``: AWC on/off)."""
        from radarkit.train.awc import AWCConfig

        k = self.window_epochs if self.window_epochs is not None else round(0.4 * self.epochs)
        step = self.lr_step_epochs if self.lr_step_epochs is not None else max(1, round(0.6 * self.epochs))
        return AWCConfig(alpha_superior=self.alpha_superior, alpha_inferior=self.alpha_inferior,
                         window_epochs=min(k, self.epochs), epochs=self.epochs, lr=self.lr,
                         weight_decay=self.weight_decay, lr_step_epochs=step, batch_size=self.batch_size,
                         enabled=enabled, fisher_max_batches=self.fisher_max_batches)


def _echo_default(msg: str) -> None:
    print(msg, flush=True)


def split_subjects(subjects: np.ndarray, val_subjects: Sequence[int] | None = None
                   ) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Training and held-out subject ids.

    Parameters
    ----------
    subjects : ndarray of int
        Subject id of every frame.
    val_subjects : sequence of int, optional
        Held-out subjects (default: the highest id).

    Returns
    -------
    (tuple of int, tuple of int)
        Training and held-out ids.

    Raises
    ------
    ValueError
        A held-out id not in the data, or no training subject left.
    """
    ids = sorted({int(s) for s in np.asarray(subjects).ravel()})
    val = tuple(val_subjects) if val_subjects else (ids[-1],)
    missing = [v for v in val if v not in ids]
    train = tuple(i for i in ids if i not in val)
    if missing or not train:
        raise ValueError(f"held-out subjects {list(val)} must be a proper subset of the data's {ids}")
    return train, val


def make_loader(data, modalities: Sequence[str], batch_size: int, shuffle: bool, seed: int = 0):
    """A ``DataLoader`` of ``(inputs, target)`` batches of a :class:`MultiModalSet`.

    Parameters
    ----------
    data : radarkit.data.multimodal.MultiModalSet
        Frames.
    modalities : sequence of str
        Modalities served.
    batch_size : int
        Frames per batch.
    shuffle : bool
        Shuffle each epoch (seeded, so two runs with one seed see the same order).
    seed : int
        Seed of the shuffling.

    Returns
    -------
    torch.utils.data.DataLoader
    """
    import torch

    from radarkit.data.multimodal import MultiModalDataset, collate_multimodal

    limits = {"mmwave": data.params.max_mmwave_points, "lidar": data.params.max_lidar_points}
    gen = torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(MultiModalDataset(data, modalities), batch_size=batch_size,
                                       shuffle=shuffle, generator=gen,
                                       collate_fn=lambda s: collate_multimodal(s, limits))


def build_model(settings: AWCSimSettings, n_joints: int, image_size: tuple[int, int]):
    """The :class:`radarkit.models.awc.AWCPoseModel` of the settings, seeded.

    Parameters
    ----------
    settings : AWCSimSettings
        Modalities, width, fusion, dropout, seed.
    n_joints : int
        Joints predicted.
    image_size : (int, int)
        Camera image ``(width, height)`` of the keypoints (pixels).

    Returns
    -------
    AWCPoseModel
    """
    import torch

    from radarkit.models.awc import AWCPoseModel

    torch.manual_seed(settings.seed)
    # radar point columns x, y, z (m), velocity (m/s), SNR (dB): bring the SNR near unit range
    return AWCPoseModel(settings.modalities, n_joints=n_joints, feature_dim=settings.feature_dim,
                        fusion=settings.fusion, keypoint_image_size=image_size,
                        mmwave_scale=(1.0, 1.0, 1.0, 1.0, 20.0), dropout=settings.dropout,
                        point_attention_layers=settings.point_attention_layers)


def fit_awc(train_set, val_set, settings: AWCSimSettings, enabled: bool,
            on_epoch: Callable[[int, Any, dict], None] | None = None):
    """Train one run (AWC or the plain baseline) and evaluate it on the held-out frames.

    Parameters
    ----------
    train_set, val_set : radarkit.data.multimodal.MultiModalSet
        Training and held-out frames (``val_set`` may be None).
    settings : AWCSimSettings
        Settings (the seed fixes initial weights and batch order).
    enabled : bool
        AWC constraint on (True) or the plain baseline with the same budget (False).
    on_epoch : callable, optional
        ``on_epoch(epoch, history, val_metrics)`` after each epoch.

    Returns
    -------
    model : AWCPoseModel
        The trained model.
    history : radarkit.train.awc.AWCHistory
        Per-epoch losses, Shapley values, splits and timings.
    metrics : dict
        :func:`radarkit.train.awc.evaluate_awc` on ``val_set`` (root: the hips); empty without it.
    """
    from radarkit.train.awc import evaluate_awc, train_awc

    model = build_model(settings, train_set.poses.shape[1], train_set.image_size)
    root = ROOTS.get(train_set.skeleton, 0)
    loader = make_loader(train_set, settings.modalities, settings.batch_size, True, settings.seed)
    has_val = val_set is not None and len(val_set) > 0
    val_loader = make_loader(val_set, settings.modalities, 256, False) if has_val else None

    def evaluate() -> dict:
        return evaluate_awc(model, val_loader, settings.device, root=root) if val_loader is not None else {}

    def epoch_done(epoch: int, history) -> None:
        if on_epoch is not None:
            on_epoch(epoch, history, evaluate())

    history = train_awc(model, loader, settings.awc_config(enabled), device=settings.device,
                        on_epoch=epoch_done)
    return model, history, evaluate()


def epoch_row(epoch: int, history, val: dict) -> dict[str, Any]:
    """One metrics-log row: training loss, AWC term, Shapley values, split, held-out metrics.

    Parameters
    ----------
    epoch : int
        Zero-based epoch.
    history : radarkit.train.awc.AWCHistory
        History so far.
    val : dict
        Held-out metrics of the epoch (may be empty).

    Returns
    -------
    dict
        Flat row (MPJPE in mm, loss in m).
    """
    row: dict[str, Any] = {"epoch": epoch + 1, "train_mpjpe_m": history.loss_m[-1],
                           "awc_loss": history.awc_loss[-1],
                           "superior": "+".join(history.superior[-1])}
    for name, phi in zip(history.modalities, history.shapley[-1], strict=True):
        row[f"shapley_{name}"] = phi
    for key in ("mpjpe_mm", "root_aligned_mpjpe_mm", "pa_mpjpe_mm"):
        if key in val:
            row[f"val_{key}"] = val[key]
    for name, share in zip(history.modalities, val.get("shapley_share", []), strict=False):
        row[f"val_share_{name}"] = share
    return row


def run(dataset_dir: str | os.PathLike, out_dir: str | os.PathLike,
        settings: AWCSimSettings = AWCSimSettings(), val_subjects: Sequence[int] | None = None,
        echo: Callable[[str], None] = _echo_default) -> dict:
    """Baseline vs + AWC on a simulated dataset; write the summary and figure.

    Parameters
    ----------
    dataset_dir : str or os.PathLike
        Folder written by ``radarkit simulate`` (with the ``hori`` radar).
    out_dir : str or os.PathLike
        Output folder (created).
    settings : AWCSimSettings
        Shared by both runs.
    val_subjects : sequence of int, optional
        Held-out subjects (default: the highest id).
    echo : callable
        Progress messages.

    Returns
    -------
    dict
        The summary written to ``OUT/summary.json``: settings, data sizes, per run the held-out
        ``mpjpe_mm``, ``root_aligned_mpjpe_mm``, ``pa_mpjpe_mm``, Shapley values and shares, the
        ``mmwave_share``, the Shapley overhead (% of training-step time) and the wall time.

    References
    ----------
    Qi et al., Table 2 (MPJPE / PA-MPJPE of baseline and AWC), Fig. 5 (contributions).
    """
    from radarkit.atomic import atomic_output
    from radarkit.data.multimodal import load_multimodal
    from radarkit.train.loop import MetricLog
    from radarkit.viz.awc import plot_shapley_curves

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    data = load_multimodal(dataset_dir, settings.modalities)
    train_ids, val_ids = split_subjects(data.subject, val_subjects)
    train_set, val_set = data.subset(train_ids), data.subset(val_ids)
    echo(f"loaded {len(data)} frames in {time.perf_counter() - t0:.1f} s: {len(train_set)} training "
         f"(subjects {list(train_ids)}), {len(val_set)} held out (subjects {list(val_ids)})")
    summary: dict[str, Any] = {
        "dataset": str(dataset_dir), "settings": asdict(settings),
        "awc_config": asdict(settings.awc_config(True)), "skeleton": data.skeleton,
        "n_joints": int(data.poses.shape[1]), "train_subjects": list(train_ids),
        "val_subjects": list(val_ids), "n_train": len(train_set), "n_val": len(val_set),
        "data_params": asdict(data.params), "runs": {}}
    curves = {}
    for label, enabled in (("baseline", False), ("AWC", True)):
        log = MetricLog(out / label.lower())
        t1 = time.perf_counter()

        def on_epoch(epoch: int, history, val: dict, label=label, log=log) -> None:
            row = epoch_row(epoch, history, val)
            log.append(row)
            echo(f"{label} epoch {epoch + 1}/{settings.epochs}: train {1000 * row['train_mpjpe_m']:.1f} mm, "
                 f"val MPJPE {row.get('val_mpjpe_mm', float('nan')):.1f} mm, "
                 f"Shapley {np.round(history.shapley[-1], 2).tolist()}")

        _, history, metrics = fit_awc(train_set, val_set, settings, enabled, on_epoch)
        shares = dict(zip(data.modalities, metrics.get("shapley_share", []), strict=False))
        summary["runs"][label] = {
            **metrics, "mmwave_share": shares.get("mmwave"), "shapley_by_modality": dict(
                zip(data.modalities, metrics.get("shapley", []), strict=False)),
            "shapley_overhead_percent": history.shapley_overhead_percent,
            "train_seconds": time.perf_counter() - t1, "history": history.as_dict()}
        curves[label] = np.asarray(history.shapley)
    base, awc = summary["runs"]["baseline"], summary["runs"]["AWC"]
    summary["delta_mpjpe_mm"] = awc["mpjpe_mm"] - base["mpjpe_mm"]
    summary["delta_pa_mpjpe_mm"] = awc["pa_mpjpe_mm"] - base["pa_mpjpe_mm"]
    summary["wall_seconds"] = time.perf_counter() - t0
    fig = plot_shapley_curves(curves, data.modalities, settings.awc_config(True).window_epochs,
                              title="Shapley contributions per epoch (training batches)")
    with atomic_output(out / "shapley.png", force=True) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    with atomic_output(out / "summary.json", force=True) as tmp:
        tmp.write_text(json.dumps(summary, indent=2, default=float), encoding="utf-8")
    for label in ("baseline", "AWC"):
        r = summary["runs"][label]
        echo(f"{label}: MPJPE {r['mpjpe_mm']:.1f} mm, root-aligned {r['root_aligned_mpjpe_mm']:.1f} mm, "
             f"PA-MPJPE {r['pa_mpjpe_mm']:.1f} mm, mmWave Shapley share {r['mmwave_share']}")
    echo(f"wrote {out / 'summary.json'} and {out / 'shapley.png'} ({summary['wall_seconds']:.0f} s)")
    return summary


def main(argv: list[str] | None = None) -> None:
    """Command-line entry: ``python -m radarkit.pipelines.awc_sim SIM --out RUN``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path, help="folder written by radarkit simulate")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--modalities", default="mmwave,rgb,lidar")
    parser.add_argument("--epochs", type=int, default=AWCSimSettings.epochs)
    parser.add_argument("--window-epochs", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=AWCSimSettings.batch_size)
    parser.add_argument("--feature-dim", type=int, default=AWCSimSettings.feature_dim)
    parser.add_argument("--fisher-batches", type=int, default=AWCSimSettings.fisher_max_batches)
    parser.add_argument("--val-subjects", default=None, help="comma-separated held-out subject ids")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (1: this small model is overhead-bound; more threads on "
                             "busy cores are much slower)")
    args = parser.parse_args(argv)
    import torch

    from radarkit.data.multimodal import parse_modalities

    torch.set_num_threads(args.threads)
    settings = replace(AWCSimSettings(), modalities=parse_modalities(args.modalities), epochs=args.epochs,
                       window_epochs=args.window_epochs, batch_size=args.batch_size,
                       feature_dim=args.feature_dim, fisher_max_batches=args.fisher_batches,
                       seed=args.seed, device=args.device)
    val = [int(v) for v in args.val_subjects.split(",")] if args.val_subjects else None
    run(args.dataset, args.out, settings, val)


if __name__ == "__main__":  # pragma: no cover
    main()
