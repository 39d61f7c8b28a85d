"""``radarkit train hupr`` and ``radarkit eval hupr``: train and score the HuPR pose estimator.

Both read a radarkit dataset folder (``radarkit simulate`` layout: ``splits.json``,
``single_<n>/{hori,vert}/`` recordings, ``single_<n>/annot/hrnet_annot.json``) through HuPR
VRDAEMap cube files, which are written on first use (``--cubes``, default ``DATA/cubes_vrdae``).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from radarkit.data.heatmaps import SUBPIXEL_METHODS  # numpy only: keeps the CLI's start light

__all__ = ["register"]


def _echo_metrics(metrics: dict[str, float], joints: tuple[str, ...]) -> None:
    click.echo(f"AP {100 * metrics['AP']:.1f}  AP50 {100 * metrics['AP50']:.1f}  "
               f"AP75 {100 * metrics['AP75']:.1f}  AR {100 * metrics['AR']:.1f}")
    click.echo("per joint: " + "  ".join(f"{j} {100 * metrics[f'AP_{j}']:.1f}" for j in joints))


def _build_cubes(data: Path, cubes: Path | None, split: str, quiet: bool, doppler_bins: int = 8) -> Path:
    """Write missing cube files of the split's sequences (with a progress bar)."""
    from radarkit.cli.common import Progress
    from radarkit.data.hupr import default_cube_dir, ensure_cubes, split_sequences
    from radarkit.dsp.sequences import plan_sequence_cubes

    cubes = cubes if cubes is not None else default_cube_dir(data, doppler_bins)
    names = set(split_sequences(data, split))
    todo = plan_sequence_cubes(data, cubes, sequences=names, only_missing=True)
    if not todo:
        return cubes
    total = 0
    for parts, cfg, _ in todo:
        total += sum(p.stat().st_size for p in parts) // cfg.bytes_per_frame
    if quiet:
        return ensure_cubes(data, cubes, sorted(names), doppler_bins=doppler_bins)
    with Progress(total, "cubes") as bar:
        return ensure_cubes(data, cubes, sorted(names), progress=bar, doppler_bins=doppler_bins)


@click.command(name="hupr")
@click.option("--data", "data", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Dataset folder (radarkit simulate layout).")
@click.option("--cubes", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="VRDAEMap cube folder [default: DATA/cubes_vrdae, or DATA/cubes_vrdae_k<K> for "
                   "other --doppler-bins]; missing cubes are written.")
@click.option("--preset", type=click.Choice(["small", "paper"]), default="small", show_default=True,
              help="Model size: small (CPU) or paper (35.5 M parameters).")
@click.option("--doppler-bins", type=click.IntRange(min=2, max=64), default=8, show_default=True,
              help="Doppler bins K around zero velocity the model reads (even; the paper: 8, "
                   "+-0.52 m/s with its chirp; its stored frames keep 16).")
@click.option("--filters", type=click.IntRange(min=1), default=None,
              help="Base width D of the encoders, overriding the preset's (paper 32, small 4; the "
                   "decoder keeps the preset's width: paper D, small 8).")
@click.option("--epochs", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--out", "out", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Run folder: last.ckpt, best.ckpt, metrics.csv, metrics.json.")
@click.option("--split", default="train", show_default=True,
              help="Training split of splits.json (train, val, test, all; join with +).")
@click.option("--val-split", default="val", show_default=True,
              help="Split scored after every epoch (AP); 'none' or an empty split skips it.")
@click.option("--batch-size", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=1e-4, show_default=True,
              help="Adam learning rate.")
@click.option("--weight-decay", type=click.FloatRange(min=0), default=1e-4, show_default=True)
@click.option("--lr-step", type=click.IntRange(min=1), default=2000, show_default=True,
              help="Iterations between learning-rate decays (x0.999).")
@click.option("--lr-decay-from", type=click.IntRange(min=0), default=None,
              help="Instead of the step decay: hold --lr for this many epochs, then decay it "
                   "linearly to zero at the end of --epochs (not in the paper; makes the most of "
                   "a fixed budget).")
@click.option("--step", type=click.IntRange(min=1), default=1, show_default=True,
              help="Every STEP-th frame is a training window centre.")
@click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True,
              help="DataLoader worker processes.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="torch CPU threads [default: torch's]; 1 is much faster on a busy machine.")
@click.option("--prior-init", is_flag=True,
              help="Start the output heatmaps at the mean training heatmap: the model's output "
                   "biases set to its logit (not in the paper; helps short runs).")
@click.option("--precision", type=click.Choice(["fp32", "bf16"]), default="fp32", show_default=True,
              help="Training forward pass in float32 or under bfloat16 autocast (not in the paper; "
                   "weights, optimiser and loss stay float32).")
@click.option("--resume", is_flag=True, help="Continue from OUT/last.ckpt.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="auto", show_default=True,
              help="auto (CUDA when available), cpu, cuda, cuda:N.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def train_hupr(data, cubes, preset, doppler_bins, filters, epochs, out, split, val_split, batch_size, lr,
               weight_decay, lr_step, lr_decay_from, step, workers, threads, prior_init, precision, resume,
               seed, device, quiet) -> None:
    """Train HuPR on DATA's two-radar VRDAEMap windows (paper optimiser settings by default).

    Writes OUT/last.ckpt after every epoch (atomically), OUT/best.ckpt at the best validation AP,
    and OUT/metrics.csv / metrics.json (loss, learning rate, time, validation AP per epoch).
    """
    import torch

    from radarkit.data.hupr import hupr_cube_dataset, read_splits
    from radarkit.models.hupr import get_config
    from radarkit.train.hupr import HuPRTrainConfig, train_hupr
    from radarkit.train.loop import select_device

    try:
        dev = select_device(device)
    except (ValueError, RuntimeError) as err:
        raise click.UsageError(str(err)) from None
    if lr_decay_from is not None and lr_decay_from >= epochs:
        raise click.UsageError(f"--lr-decay-from ({lr_decay_from}) must be below --epochs ({epochs})")
    if doppler_bins % 2:
        raise click.UsageError(f"--doppler-bins must be even, got {doppler_bins}")
    if threads is not None:
        torch.set_num_threads(threads)
    cubes = _build_cubes(data, cubes, split, quiet, doppler_bins)
    # elevation averaged when loading (the model's first step; 8x less data per window), every
    # up to 16,000 frames cached as float16 (128 KiB per frame and radar: at most 4 GiB)
    train_set = hupr_cube_dataset(data, split, cubes, build=False, step=step, mean_elevation=True,
                                  n_doppler=doppler_bins, cache_frames=16_000, cache_dtype="float16")
    val_set = None
    if val_split.lower() != "none" and read_splits(data).get(val_split):
        _build_cubes(data, cubes, val_split, quiet, doppler_bins)
        val_set = hupr_cube_dataset(data, val_split, cubes, build=False, step=step, mean_elevation=True,
                                    n_doppler=doppler_bins, cache_frames=16_000, cache_dtype="float16")
    overrides = {"n_doppler": doppler_bins, **({"n_filters": filters} if filters else {})}
    cfg = get_config(preset, **overrides)
    tcfg = HuPRTrainConfig(lr=lr, weight_decay=weight_decay, batch_size=batch_size, lr_step=lr_step,
                           step=step, eval_step=step, num_workers=workers, prior_init=prior_init,
                           precision=precision)
    if lr_decay_from is not None and len(train_set):
        tcfg = tcfg.with_linear_decay(len(train_set), lr_decay_from, epochs)
    click.echo(f"HuPR {preset}: {len(train_set)} training windows"
               + (f", {len(val_set)} validation windows" if val_set is not None else "")
               + f", device {dev}", err=True)
    info = {"data": str(data), "cubes": str(cubes), "split": split, "val_split": val_split,
            "preset": preset}
    _, rows = train_hupr(train_set, out, cfg, tcfg, epochs=epochs, val_set=val_set, resume=resume,
                         seed=seed, device=dev, data_info=info, progress=not quiet,
                         echo=lambda s: click.echo(s, err=True))
    last = rows[-1] if rows else {}
    click.echo(f"wrote {out / 'last.ckpt'} (epoch {last.get('epoch', 0)}, train loss "
               f"{last.get('train_loss', float('nan')):.4f})")


@click.command(name="hupr")
@click.option("--checkpoint", "checkpoint", required=True,
              type=click.Path(path_type=Path, dir_okay=False, exists=True), help="Checkpoint file.")
@click.option("--data", "data", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Dataset folder (radarkit simulate layout).")
@click.option("--cubes", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="VRDAEMap cube folder [default: DATA/cubes_vrdae, or DATA/cubes_vrdae_k<K> for "
                   "a model reading K != 8 Doppler bins]; missing cubes are written.")
@click.option("--split", default="test", show_default=True, help="Split of splits.json to score.")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="Predictions as a COCO keypoint results JSON file.")
@click.option("--metrics", "metrics_out", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Also write the metrics as JSON.")
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--step", type=click.IntRange(min=1), default=1, show_default=True,
              help="Score every STEP-th frame.")
@click.option("--heatmaps", type=click.Choice(["refined", "initial"]), default="refined",
              show_default=True,
              help="Score PRGCN's refined heatmaps (the paper) or the 2-D decoder's initial ones.")
@click.option("--subpixel", type=click.Choice(SUBPIXEL_METHODS), default="none",
              show_default=True,
              help="Keypoint decoding: the arg-max cell (the paper), or shifted a quarter heatmap "
                   "pixel towards the higher neighbour (Simple Baselines / HRNet).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N.")
@click.option("--force", is_flag=True, help="Replace existing output files.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def eval_hupr(checkpoint, data, cubes, split, out, metrics_out, batch_size, step, heatmaps, subpixel,
              device, force, quiet) -> None:
    """Score a HuPR checkpoint on a split: AP, AP50, AP75 and per-joint AP (HuPR's OKS sigmas).

    Predictions (arg-max of the refined heatmaps, or of the initial ones with ``--heatmaps
    initial``; 256-pixel coordinates; person score = mean joint maximum) are written to OUT as COCO
    keypoint results (pycocotools loadRes format).
    """
    import sys

    from radarkit.atomic import atomic_output, check_output_path
    from radarkit.data.hupr import hupr_cube_dataset
    from radarkit.metrics.keypoints import write_coco_results
    from radarkit.skeleton import HUPR14
    from radarkit.train.hupr import evaluate_hupr, load_hupr
    from radarkit.train.loop import select_device

    try:
        dev = select_device(device)
    except (ValueError, RuntimeError) as err:
        raise click.UsageError(str(err)) from None
    check_output_path(out, force, inputs=[checkpoint])
    if metrics_out is not None:
        check_output_path(metrics_out, force, inputs=[checkpoint])
    model, ckpt = load_hupr(checkpoint, dev)
    cfg = model.config
    cubes = _build_cubes(data, cubes, split, quiet, cfg.n_doppler)
    dataset = hupr_cube_dataset(data, split, cubes, build=False, n_frames=cfg.n_frames,
                                n_doppler=cfg.n_doppler, heatmap_size=cfg.n_range, step=step,
                                cache_frames=16, mean_elevation=True)
    if quiet:
        metrics, preds = evaluate_hupr(model, dataset, dev, batch_size, heatmaps=heatmaps,
                                       subpixel=subpixel)
    else:
        with click.progressbar(length=len(dataset), label="eval hupr", file=sys.stderr,
                               show_pos=True) as bar:
            state = {"done": 0}

            def tick(done: int) -> None:
                bar.update(done - state["done"])
                state["done"] = done

            metrics, preds = evaluate_hupr(model, dataset, dev, batch_size, progress=tick,
                                           heatmaps=heatmaps, subpixel=subpixel)
    write_coco_results(out, preds["keypoints"], preds["scores"], preds["image_ids"], force=force)
    click.echo(f"{checkpoint} (epoch {ckpt.epoch}) on {split}: {len(dataset)} frames, {heatmaps} "
               f"heatmaps, sub-pixel decoding {subpixel}")
    _echo_metrics(metrics, HUPR14.joints)
    if metrics_out is not None:
        doc = {"checkpoint": str(checkpoint), "epoch": ckpt.epoch, "split": split,
               "n_frames": len(dataset), "heatmaps": heatmaps, "subpixel": subpixel,
               "metrics": metrics}
        with atomic_output(metrics_out, force=force) as tmp:
            tmp.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    click.echo(f"wrote {out}")


def register(cli: click.Group) -> None:
    """Add ``hupr`` to the ``train`` and ``eval`` command groups of ``radarkit``."""
    cli.commands["train"].add_command(train_hupr)
    cli.commands["eval"].add_command(eval_hupr)
