"""``radarkit train millimamba`` and ``radarkit eval millimamba``: train and score milliMamba.

Both read a radarkit dataset folder (``radarkit simulate`` layout: ``splits.json``,
``single_<n>/{hori,vert}/`` recordings, ``single_<n>/annot/hrnet_annot.json``) through complex RAD
cube files (clutter removed, float16), written on first use (``--cubes``, default ``DATA/cubes_rad``;
:mod:`radarkit.data.millimamba`). Options mirror ``radarkit train hupr`` / ``eval hupr``.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

__all__ = ["register"]


def _echo_metrics(metrics: dict[str, float], joints: tuple[str, ...]) -> None:
    click.echo(f"AP {100 * metrics['AP']:.1f}  AP50 {100 * metrics['AP50']:.1f}  "
               f"AP75 {100 * metrics['AP75']:.1f}  AR {100 * metrics['AR']:.1f}")
    line = f"MPJPE {metrics['MPJPE_px']:.2f} px  MPJVE {metrics['MPJVE_px']:.2f} px/frame"
    if "MPJPE_m" in metrics:
        line += f"  MPJPE {100 * metrics['MPJPE_m']:.1f} cm  MPJVE {100 * metrics['MPJVE_m']:.2f} cm/frame"
    click.echo(line)
    click.echo("per joint: " + "  ".join(f"{j} {100 * metrics[f'AP_{j}']:.1f}" for j in joints))


def _build_cubes(data: Path, cubes: Path | None, split: str, quiet: bool) -> Path:
    """Write missing RAD cube files of the split's sequences (with a progress bar)."""
    from radarkit.cli.common import Progress
    from radarkit.data.hupr import split_sequences
    from radarkit.data.millimamba import default_rad_cube_dir, ensure_rad_cubes
    from radarkit.dsp.sequences import plan_sequence_cubes

    cubes = cubes if cubes is not None else default_rad_cube_dir(data)
    names = set(split_sequences(data, split))
    todo = plan_sequence_cubes(data, cubes, sequences=names, only_missing=True)
    if not todo:
        return cubes
    if quiet:
        return ensure_rad_cubes(data, cubes, sorted(names))
    total = sum(sum(p.stat().st_size for p in parts) // cfg.bytes_per_frame for parts, cfg, _ in todo)
    with Progress(total, "cubes") as bar:
        return ensure_rad_cubes(data, cubes, sorted(names), progress=bar)


_PRESETS = ("small", "default")


@click.command(name="millimamba")
@click.option("--data", "data", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Dataset folder (radarkit simulate layout).")
@click.option("--cubes", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="RAD cube folder [default: DATA/cubes_rad]; missing cubes are written.")
@click.option("--preset", type=click.Choice(_PRESETS), default="small", show_default=True,
              help="Model size: small (16 frames, CPU) or default (32 frames).")
@click.option("--frames", type=click.IntRange(min=1), default=None,
              help="Input frames per window T, overriding the preset's (small 16, default 32).")
@click.option("--out-frames", type=click.IntRange(min=1), default=None,
              help="Central frames predicted per window, overriding the preset's (small 4, default 8).")
@click.option("--doppler", type=click.IntRange(min=1), default=None,
              help="Central Doppler bins kept, overriding the preset's (8).")
@click.option("--width", type=click.IntRange(min=1), default=None,
              help="Token width d_model, overriding the preset's (small 64, default 128).")
@click.option("--velocity-weight", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="Weight of the velocity loss (0 disables it).")
@click.option("--epochs", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--out", "out", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Run folder: last.ckpt, best.ckpt, metrics.csv, metrics.json.")
@click.option("--split", default="train", show_default=True,
              help="Training split of splits.json (train, val, test, all; join with +).")
@click.option("--val-split", default="val", show_default=True,
              help="Split scored after every epoch (AP, MPJPE, MPJVE); 'none' skips it.")
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=5e-4, show_default=True,
              help="Adam learning rate.")
@click.option("--weight-decay", type=click.FloatRange(min=0), default=1e-4, show_default=True)
@click.option("--grad-clip", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="Global gradient-norm clip (0: off).")
@click.option("--step", type=click.IntRange(min=1), default=1, show_default=True,
              help="Every STEP-th frame starts a training window.")
@click.option("--cache-frames", type=click.IntRange(min=0), default=0, show_default=True,
              help="Frames per radar kept in memory (128 KiB each at 8 Doppler bins).")
@click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True,
              help="DataLoader worker processes.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="torch CPU threads [default: torch's]; 1 is much faster on a busy machine.")
@click.option("--resume", is_flag=True, help="Continue from OUT/last.ckpt.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="auto", show_default=True,
              help="auto (CUDA when available), cpu, cuda, cuda:N.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def train_millimamba(data, cubes, preset, frames, out_frames, doppler, width, velocity_weight, epochs, out,
                     split, val_split, batch_size, lr, weight_decay, grad_clip, step, cache_frames,
                     workers, threads, resume, seed, device, quiet) -> None:
    """Train milliMamba on DATA's two-radar RAD windows (keypoint + velocity loss).

    Writes OUT/last.ckpt after every epoch (atomically), OUT/best.ckpt at the best validation AP,
    and OUT/metrics.csv / metrics.json (losses, learning rate, time, validation AP/MPJPE/MPJVE).
    """
    import torch

    from radarkit.data.hupr import read_splits
    from radarkit.data.millimamba import millimamba_cube_dataset
    from radarkit.train.loop import select_device
    from radarkit.train.millimamba import MilliMambaTrainConfig, train_millimamba, with_overrides

    try:
        dev = select_device(device)
        cfg = with_overrides(preset, n_frames=frames, n_out_frames=out_frames, n_doppler=doppler,
                             d_model=width, velocity_weight=velocity_weight)
    except (ValueError, RuntimeError) as err:
        raise click.UsageError(str(err)) from None
    if threads is not None:
        torch.set_num_threads(threads)
    window = dict(n_frames=cfg.n_frames, n_out_frames=cfg.n_out_frames, n_doppler=cfg.n_doppler,
                  cache_frames=cache_frames)
    cubes = _build_cubes(data, cubes, split, quiet)
    train_set = millimamba_cube_dataset(data, split, cubes, build=False, step=step, **window)
    val_set = None
    if val_split.lower() != "none" and read_splits(data).get(val_split):
        _build_cubes(data, cubes, val_split, quiet)
        val_set = millimamba_cube_dataset(data, val_split, cubes, build=False, step=cfg.n_out_frames,
                                          **window)
    tcfg = MilliMambaTrainConfig(lr=lr, weight_decay=weight_decay, batch_size=batch_size,
                                 grad_clip=grad_clip or None, step=step, num_workers=workers)
    click.echo(f"milliMamba {preset}: {len(train_set)} training windows of {cfg.n_frames} frames"
               + (f", {len(val_set)} validation windows" if val_set is not None else "")
               + f", velocity weight {cfg.velocity_weight:g}, device {dev}", err=True)
    info = {"data": str(data), "cubes": str(cubes), "split": split, "val_split": val_split,
            "preset": preset}
    _, rows = train_millimamba(train_set, out, cfg, tcfg, epochs=epochs, val_set=val_set, resume=resume,
                               seed=seed, device=dev, data_info=info, progress=not quiet,
                               echo=lambda s: click.echo(s, err=True))
    last = rows[-1] if rows else {}
    click.echo(f"wrote {out / 'last.ckpt'} (epoch {last.get('epoch', 0)}, train loss "
               f"{last.get('train_loss', float('nan')):.4f})")


@click.command(name="millimamba")
@click.option("--checkpoint", "checkpoint", required=True,
              type=click.Path(path_type=Path, dir_okay=False, exists=True), help="Checkpoint file.")
@click.option("--data", "data", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Dataset folder (radarkit simulate layout).")
@click.option("--cubes", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="RAD cube folder [default: DATA/cubes_rad]; missing cubes are written.")
@click.option("--split", default="test", show_default=True, help="Split of splits.json to score.")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="Predictions (every frame) as a COCO keypoint results JSON file.")
@click.option("--metrics", "metrics_out", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Also write the metrics as JSON.")
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N.")
@click.option("--force", is_flag=True, help="Replace existing output files.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def eval_millimamba(checkpoint, data, cubes, split, out, metrics_out, batch_size, device, force,
                    quiet) -> None:
    """Score a milliMamba checkpoint on every frame of a split: AP, AP50, AP75, per-joint AP (HuPR's
    OKS sigmas), MPJPE and MPJVE in pixels (and metres when the dataset has 3-D joints).

    Predictions (256-pixel coordinates, score 1; a frame's prediction is the mean over the windows
    predicting it) are written to OUT as COCO keypoint results (pycocotools loadRes format).
    """
    import sys

    from radarkit.atomic import atomic_output, check_output_path
    from radarkit.data.millimamba import millimamba_cube_dataset
    from radarkit.metrics.keypoints import write_coco_results
    from radarkit.skeleton import HUPR14
    from radarkit.train.loop import select_device
    from radarkit.train.millimamba import evaluate_millimamba, load_millimamba

    try:
        dev = select_device(device)
    except (ValueError, RuntimeError) as err:
        raise click.UsageError(str(err)) from None
    check_output_path(out, force, inputs=[checkpoint])
    if metrics_out is not None:
        check_output_path(metrics_out, force, inputs=[checkpoint])
    model, ckpt = load_millimamba(checkpoint, dev)
    cubes = _build_cubes(data, cubes, split, quiet)
    cfg = model.config
    dataset = millimamba_cube_dataset(data, split, cubes, build=False, n_frames=cfg.n_frames,
                                      n_out_frames=cfg.n_out_frames, n_doppler=cfg.n_doppler,
                                      step=cfg.n_out_frames, cache_frames=cfg.n_frames)
    if quiet:
        metrics, preds = evaluate_millimamba(model, dataset, dev, batch_size)
    else:
        with click.progressbar(length=len(dataset), label="eval millimamba", file=sys.stderr,
                               show_pos=True) as bar:
            state = {"done": 0}

            def tick(done: int) -> None:
                bar.update(done - state["done"])
                state["done"] = done

            metrics, preds = evaluate_millimamba(model, dataset, dev, batch_size, progress=tick)
    write_coco_results(out, preds["keypoints"], preds["scores"], preds["image_ids"], force=force)
    n = len(preds["image_ids"])
    click.echo(f"{checkpoint} (epoch {ckpt.epoch}) on {split}: {n} frames")
    _echo_metrics(metrics, HUPR14.joints)
    if metrics_out is not None:
        doc = {"checkpoint": str(checkpoint), "epoch": ckpt.epoch, "split": split, "n_frames": n,
               "metrics": metrics}
        with atomic_output(metrics_out, force=force) as tmp:
            tmp.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    click.echo(f"wrote {out}")


def register(cli: click.Group) -> None:
    """Add ``millimamba`` to the ``train`` and ``eval`` command groups of ``radarkit``."""
    cli.commands["train"].add_command(train_millimamba)
    cli.commands["eval"].add_command(eval_millimamba)
