"""``radarkit train awc``: multi-modal 3-D pose training with AWC (or the plain baseline).

Trains :class:`radarkit.models.awc.AWCPoseModel` on the simulated multi-modal set of a
``radarkit simulate`` dataset (:mod:`radarkit.data.multimodal`: radar point clouds, noisy camera
keypoints, LiDAR-like body-surface clouds; 14 ``hupr14`` joints) with
:func:`radarkit.train.awc.train_awc`. Writes into ``--out RUN``: ``RUN/metrics.csv`` and
``RUN/metrics.json`` (one row per epoch: training MPJPE, AWC term, Shapley value per modality,
superior set, held-out MPJPE / root-aligned MPJPE / PA-MPJPE in mm and Shapley shares),
``RUN/shapley.png`` (per-modality Shapley curves over training), ``RUN/summary.json`` (final
held-out metrics, history, settings, Shapley overhead) and ``RUN/model.ckpt``.

References
----------
M. Qi et al., "Towards Balanced Multi-Modal Learning in 3D Human Pose Estimation"
(``awc-balanced-multimodal.txt``), Algorithm 1, Sec. 4.1.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

__all__ = ["register"]

_NAME = "awc"


@click.command(name="awc")
@click.option("--data", type=click.Path(path_type=Path, exists=True, file_okay=False), required=True,
              help="Dataset folder written by 'radarkit simulate' (with the hori radar).")
@click.option("--modalities", default="mmwave,rgb,lidar", show_default=True,
              help="Comma-separated subset of mmwave, rgb (camera 2-D keypoints), lidar.")
@click.option("--epochs", type=click.IntRange(min=1), default=50, show_default=True,
              help="Training epochs (paper: 50).")
@click.option("--window-epochs", type=click.IntRange(min=0), default=None,
              help="K, epochs with the AWC constraint [default: 40 % of --epochs; paper 20 of 50].")
@click.option("--awc/--no-awc", "awc", default=True, show_default=True,
              help="--no-awc: the plain concatenation baseline with the same budget.")
@click.option("--fusion", type=click.Choice(["concat", "mlp", "attention"]), default="concat",
              show_default=True, help="Fusion of the modality features (paper eq. 2: concat).")
@click.option("--batch-size", type=click.IntRange(min=2), default=32, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=1e-3, show_default=True)
@click.option("--alpha-superior", type=click.FloatRange(min=0), default=2e4, show_default=True,
              help="alpha_S, AWC weight of superior modalities.")
@click.option("--alpha-inferior", type=click.FloatRange(min=0), default=1e4, show_default=True,
              help="alpha_I, AWC weight of inferior modalities.")
@click.option("--fisher-batches", type=click.IntRange(min=1), default=4, show_default=True,
              help="Training batches of the per-epoch Fisher estimate.")
@click.option("--feature-dim", type=click.IntRange(min=4), default=64, show_default=True,
              help="Feature width of each modality encoder.")
@click.option("--val-subjects", default=None,
              help="Comma-separated held-out subject ids [default: the highest id].")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the data noise, initial weights and batch order.")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="torch CPU threads [default: torch's]; 1 is fastest for this small model on busy cores.")
@click.option("--out", "out", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="Run folder (created).")
@click.option("--force", is_flag=True, help="Replace the outputs of an earlier run in --out.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def train_awc_command(data, modalities, epochs, window_epochs, awc, fusion, batch_size, lr, alpha_superior,
                      alpha_inferior, fisher_batches, feature_dim, val_subjects, seed, device, threads, out,
                      force, quiet) -> None:
    """Train the multi-modal AWC pose model on simulated mmWave / camera / LiDAR data."""
    import json
    from dataclasses import asdict, replace

    import numpy as np
    import torch

    from radarkit.atomic import atomic_output, check_output_path
    from radarkit.data.multimodal import MultiModalParams, load_multimodal, parse_modalities
    from radarkit.errors import ConfigError
    from radarkit.pipelines.awc_sim import AWCSimSettings, epoch_row, fit_awc, split_subjects
    from radarkit.train.checkpoint import save_checkpoint
    from radarkit.train.loop import MetricLog
    from radarkit.viz.awc import plot_shapley_curves

    try:
        mods = parse_modalities(modalities)
        val_ids = [int(v) for v in val_subjects.split(",") if v.strip()] if val_subjects else None
    except ValueError as err:
        raise click.UsageError(f"--modalities/--val-subjects: {err}") from None
    if window_epochs is not None and window_epochs > epochs:
        raise click.UsageError(f"--window-epochs ({window_epochs}) must not exceed --epochs ({epochs})")
    if out.exists():
        for name in ("metrics.csv", "metrics.json", "summary.json", "shapley.png", "model.ckpt"):
            check_output_path(out / name, force)
    settings = replace(AWCSimSettings(), modalities=mods, epochs=epochs, window_epochs=window_epochs,
                       batch_size=batch_size, lr=lr, alpha_superior=alpha_superior,
                       alpha_inferior=alpha_inferior, fisher_max_batches=fisher_batches,
                       feature_dim=feature_dim, fusion=fusion, seed=seed, device=device)
    try:
        config = settings.awc_config(awc)
    except ConfigError as err:
        raise click.UsageError(str(err)) from None
    if threads is not None:
        torch.set_num_threads(threads)
    dataset = load_multimodal(data, mods, MultiModalParams(seed=seed))
    try:
        train_ids, held_out = split_subjects(dataset.subject, val_ids)
    except ValueError as err:
        raise click.UsageError(f"--val-subjects: {err}") from None
    train_set, val_set = dataset.subset(train_ids), dataset.subset(held_out)
    click.echo(f"{'AWC' if awc else 'baseline'}: {len(train_set)} training frames (subjects "
               f"{list(train_ids)}), {len(val_set)} held out (subjects {list(held_out)}), "
               f"modalities {','.join(mods)}", err=True)
    out.mkdir(parents=True, exist_ok=True)
    log = MetricLog(out)
    bar = None if quiet else click.progressbar(length=epochs, label="train awc", file=sys.stderr,
                                               show_pos=True, item_show_func=lambda s: s)

    def on_epoch(epoch: int, history, val: dict) -> None:
        row = epoch_row(epoch, history, val)
        log.append(row)
        if bar is not None:
            bar.update(1, current_item=f"val MPJPE {row.get('val_mpjpe_mm', float('nan')):.0f} mm")

    if bar is not None:
        bar.__enter__()
    try:
        model, history, metrics = fit_awc(train_set, val_set, settings, awc, on_epoch)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    run_label = "AWC" if awc else "baseline"
    fig = plot_shapley_curves({run_label: np.asarray(history.shapley)}, mods,
                              config.window_epochs if awc else None,
                              title=f"Shapley contributions per epoch ({','.join(mods)})")
    with atomic_output(out / "shapley.png", force=True) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    summary = {"data": str(data), "awc": awc, "settings": asdict(settings), "awc_config": asdict(config),
               "train_subjects": list(train_ids), "val_subjects": list(held_out),
               "skeleton": dataset.skeleton, "val": metrics,
               "shapley_overhead_percent": history.shapley_overhead_percent, "history": history.as_dict()}
    with atomic_output(out / "summary.json", force=True) as tmp:
        tmp.write_text(json.dumps(summary, indent=2, default=float), encoding="utf-8")
    save_checkpoint(out / "model.ckpt", model, name=_NAME, epoch=epochs,
                    config={"settings": asdict(settings), "n_joints": int(dataset.poses.shape[1]),
                            "image_size": list(dataset.image_size), "skeleton": dataset.skeleton},
                    metrics={k: v for k, v in metrics.items() if isinstance(v, float)})
    if metrics:
        click.echo(f"held-out MPJPE {metrics['mpjpe_mm']:.1f} mm, root-aligned "
                   f"{metrics['root_aligned_mpjpe_mm']:.1f} mm, PA-MPJPE {metrics['pa_mpjpe_mm']:.1f} mm; "
                   f"Shapley shares " + ", ".join(f"{m} {s:.2f}" for m, s in
                                                  zip(mods, metrics.get('shapley_share', []), strict=False)))
    click.echo(f"wrote {out / 'metrics.csv'}, {out / 'summary.json'}, {out / 'shapley.png'}, "
               f"{out / 'model.ckpt'}")


def register(cli: click.Group) -> None:
    """Add ``awc`` under ``radarkit train``."""
    cli.commands["train"].add_command(train_awc_command)
