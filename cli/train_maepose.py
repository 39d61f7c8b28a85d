"""``radarkit train maepose`` and ``radarkit eval maepose``: MAEPose pre-training, fine-tuning, evaluation.

Runs write into ``--out RUN``: ``RUN/last.ckpt`` after every epoch, ``RUN/best.ckpt`` (the restored
best-validation weights, or the last epoch's without validation persons), ``RUN/metrics.csv/json``,
and for pre-training ``RUN/reconstruction.png`` (original, masked and reconstructed frames).
Checkpoints record the stage, the model preset and overrides and the clip specification, so
``eval`` and ``--init`` rebuild the same model and clips.

References
----------
"MAEPose" (``shared/papers/maepose.txt``), sections 3 and 4.4-4.6.
"""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["register"]

_PRETRAIN_NAME = "maepose-pretrain"
_FINETUNE_NAME = "maepose"


def _ints(text: str | None, what: str) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise click.UsageError(f"{what} must be comma-separated integers, got {text!r}") from None


def _pair(text: str | None, sep: str, what: str) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        a, b = (int(v) for v in text.split(sep))
    except ValueError:
        raise click.UsageError(f"{what} must be A{sep}B (two integers), got {text!r}") from None
    return a, b


def _load_clips(data, cubes, spec, subjects, labels):
    from radarkit.data.clips import RadarClips, load_dataset

    seqs = load_dataset(data, spec, cubes, labels=labels, subjects=subjects)
    if not seqs:
        raise click.UsageError(f"no sequence of persons {subjects} under {data}")
    return RadarClips(seqs, spec, labels=labels)


def _figure(model, clips, mask_ratio: float, path: Path, force: bool, title: str) -> None:
    from radarkit.atomic import atomic_output
    from radarkit.pipelines.maepose_lopo import reconstruction_example
    from radarkit.viz.maepose import plot_mae_reconstruction

    original, masked, recon = reconstruction_example(model, clips.clip(len(clips) // 2), mask_ratio)
    fig = plot_mae_reconstruction(original[0], masked[0], recon[0], title=title)
    with atomic_output(path, force) as tmp:
        fig.savefig(tmp, format="png", dpi=110)


@click.command(name="maepose")
@click.option("--stage", type=click.Choice(["pretrain", "finetune"]), required=True,
              help="pretrain: masked reconstruction on unlabelled clips; finetune: heatmap pose head.")
@click.option("--data", type=click.Path(path_type=Path, exists=True), required=True,
              help="Dataset folder of sequences (radarkit simulate layout) or one sequence.")
@click.option("--cubes", type=click.Path(path_type=Path, exists=True), default=None,
              help="Cube root from 'radarkit cube DATA --kind rd-video --out CUBES' [default: maps "
                   "computed from the recordings].")
@click.option("--preset", default="small", show_default=True, help="Model preset: small or paper.")
@click.option("--kind", type=click.Choice(["rd", "ra", "dual"]), default="rd", show_default=True,
              help="Input maps: Range-Doppler, Range-Azimuth, or both as two channels.")
@click.option("--range-bins", default=None, metavar="START:STOP", help="Crop range bins before pooling.")
@click.option("--size", default=None, metavar="HxW", help="Map size after power pooling [default: the "
                                                         "preset's input size].")
@click.option("--heatmap-size", default=None, metavar="HxW", help="Heatmap size [default: the preset's].")
@click.option("--stride", type=click.IntRange(min=1), default=5, show_default=True, help="Clip stride.")
@click.option("--normalise", type=click.Choice(["zscore", "minmax", "none"]), default="zscore",
              show_default=True, help="Per-clip normalisation.")
@click.option("--noise-margin-db", type=float, default=None,
              help="Raise cells below the clip's noise floor (median) + this many dB to it [default: off].")
@click.option("--dynamic-range-db", type=float, default=None,
              help="Raise cells more than this many dB below the clip's peak to that floor [default: off].")
@click.option("--frames", "num_frames", type=click.IntRange(min=1), default=20, show_default=True,
              help="Frames per clip.")
@click.option("--target-frames", type=click.IntRange(min=1), default=5, show_default=True,
              help="Target frames per clip (must divide --frames).")
@click.option("--subjects", default=None,
              help="Training persons, e.g. 2,3 [default: all but --val-subjects].")
@click.option("--val-subjects", default=None, help="Validation persons (early stopping), e.g. 4.")
@click.option("--epochs", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--patience", type=click.IntRange(min=1), default=10, show_default=True,
              help="Early stopping on the validation loss.")
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--lr", type=float, default=1e-3, show_default=True)
@click.option("--layer-decay", type=float, default=0.75, show_default=True,
              help="Fine-tuning layer-wise lr decay (with --init; 1 without).")
@click.option("--mask-ratio", type=click.FloatRange(0, 1, max_open=True), default=0.9, show_default=True)
@click.option("--schedule", type=click.Choice(["cosine", "constant"]), default="cosine", show_default=True,
              help="Learning rate: warm-up + cosine decay over --epochs, or constant.")
@click.option("--norm-pix-loss", is_flag=True, help="Pre-train on per-patch normalised targets.")
@click.option("--head-pos-embed", is_flag=True,
              help="Fine-tuning: add the positional embedding to the encoder tokens before the heatmap "
                   "head (recorded in the checkpoint).")
@click.option("--range-shift", type=click.IntRange(min=0), default=0, show_default=True,
              help="Training augmentation: random range roll of up to N map cells.")
@click.option("--init", "init", type=click.Path(path_type=Path, exists=True), default=None,
              help="Fine-tuning: pre-trained checkpoint whose encoder initialises the model.")
@click.option("--out", "out", type=click.Path(path_type=Path), required=True, help="Run folder (created).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N.")
@click.option("--force", is_flag=True, help="Replace an existing reconstruction figure.")
def train_maepose(stage, data, cubes, preset, kind, range_bins, size, heatmap_size, stride, normalise,
                  noise_margin_db, dynamic_range_db, num_frames, target_frames, subjects,
                  val_subjects, epochs, patience, batch_size, lr, layer_decay, mask_ratio, schedule,
                  norm_pix_loss, head_pos_embed, range_shift, init, out, seed, device, force) -> None:
    """Pre-train (--stage pretrain) or fine-tune (--stage finetune) MAEPose on radar video clips."""
    from dataclasses import asdict

    from radarkit.data.clips import ClipSpec
    from radarkit.errors import CheckpointError
    from radarkit.models.maepose import PRESETS
    from radarkit.pipelines.maepose_lopo import TrainSettings, finetune, model_kwargs, pretrain
    from radarkit.train.checkpoint import load_checkpoint, read_header, save_checkpoint
    from radarkit.train.loop import MetricLog

    if preset not in PRESETS:
        raise click.UsageError(f"unknown preset {preset!r} (known: {', '.join(PRESETS)})")
    if init is not None and stage != "finetune":
        raise click.UsageError("--init applies to --stage finetune")
    if head_pos_embed and stage != "finetune":
        raise click.UsageError("--head-pos-embed applies to --stage finetune")
    map_size = _pair(size, "x", "--size") or tuple(PRESETS[preset]["img_size"])
    hm = _pair(heatmap_size, "x", "--heatmap-size")
    try:
        spec = ClipSpec(kind=kind, num_frames=num_frames, stride=stride, n_target_frames=target_frames,
                        range_bins=_pair(range_bins, ":", "--range-bins"), size=map_size, normalise=normalise,
                        noise_margin_db=noise_margin_db, dynamic_range_db=dynamic_range_db)
    except ValueError as err:
        raise click.UsageError(str(err)) from None
    init_state = None
    if init is not None:
        header = read_header(init)
        if header.get("model") != _PRETRAIN_NAME:
            raise CheckpointError(f"--init needs a {_PRETRAIN_NAME!r} checkpoint, got "
                                  f"{header.get('model')!r}", source=init)
        cfg = header["config"]
        if ClipSpec.from_dict(cfg["clips"]).in_chans != spec.in_chans or cfg["preset"] != preset:
            raise CheckpointError(f"pre-trained with preset {cfg['preset']!r} and {cfg['clips']['kind']!r} "
                                  f"clips; this run uses {preset!r} and {kind!r}", source=init)
        from radarkit.models.maepose import build_pretrain, config_from_json, pretrain_overrides

        mae = build_pretrain(preset, **pretrain_overrides(config_from_json(cfg["model"])))
        load_checkpoint(init, mae, name=_PRETRAIN_NAME)
        init_state = mae.encoder.state_dict()
    val_ids = _ints(val_subjects, "--val-subjects") or ()
    train_ids = _ints(subjects, "--subjects")
    labels = stage == "finetune"
    everything = _load_clips(data, cubes, spec, None, labels)
    persons = sorted(set(everything.subjects.tolist()))
    if train_ids is None:
        train_ids = tuple(p for p in persons if p not in val_ids)
    train_clips = everything.subset(train_ids)
    val_clips = everything.subset(val_ids) if val_ids else None
    if len(train_clips) == 0:
        raise click.UsageError(f"no clips for training persons {train_ids} (persons in the data: {persons})")
    settings = TrainSettings(preset=preset, heatmap_size=hm, batch_size=batch_size, pretrain_epochs=epochs,
                             finetune_epochs=epochs, pretrain_lr=lr, finetune_lr=lr, layer_decay=layer_decay,
                             patience=patience, mask_ratio=mask_ratio, range_shift=range_shift,
                             schedule=schedule, norm_pix_loss=norm_pix_loss, head_pos_embed=head_pos_embed,
                             seed=seed, device=device)
    kw = model_kwargs(preset, spec, train_clips.map_size, hm, head_pos_embed)
    config = {"stage": stage, "preset": preset, "model": kw, "clips": spec.to_dict(),
              "train_subjects": list(train_ids), "val_subjects": list(val_ids),
              "init": str(init) if init else None, "settings": asdict(settings)}
    out.mkdir(parents=True, exist_ok=True)
    log = MetricLog(out)
    name = _PRETRAIN_NAME if stage == "pretrain" else _FINETUNE_NAME

    def on_epoch(epoch: int, tr: float, va: float, model) -> None:
        row = {"epoch": epoch + 1, "train_loss": tr, "val_loss": va}
        log.append(row)
        save_checkpoint(out / "last.ckpt", model, name=name, epoch=epoch + 1, config=config, metrics=row)

    click.echo(f"{stage}: {len(train_clips)} training clips of {train_clips.map_size} (persons {train_ids}), "
               f"{len(val_clips) if val_clips else 0} validation clips")
    if stage == "pretrain":
        model, hist = pretrain(train_clips, val_clips, spec, settings, click.echo, on_epoch)
    else:
        model, hist = finetune(train_clips, val_clips, spec, settings, init_state, click.echo, on_epoch)
    best = min(hist, key=lambda r: r["val_loss"])
    save_checkpoint(out / "best.ckpt", model, name=name, epoch=best["epoch"] + 1, config=config,
                    metrics={"train_loss": best["train_loss"], "val_loss": best["val_loss"]})
    click.echo(f"wrote {out / 'best.ckpt'} (epoch {best['epoch'] + 1}, val loss {best['val_loss']:.5g})")
    if stage == "pretrain":
        fig_path = out / "reconstruction.png"
        _figure(model, val_clips if val_clips else train_clips, mask_ratio, fig_path, True,
                f"MAEPose reconstruction ({preset}, {kind})")
        click.echo(f"wrote {fig_path}")


@click.command(name="maepose")
@click.option("--checkpoint", type=click.Path(path_type=Path), required=True,
              help="best.ckpt of 'radarkit train maepose' (pre-training or fine-tuning).")
@click.option("--data", type=click.Path(path_type=Path, exists=True), required=True,
              help="Dataset folder or one sequence.")
@click.option("--cubes", type=click.Path(path_type=Path, exists=True), default=None, help="Cube root.")
@click.option("--subjects", default=None, help="Persons evaluated, e.g. 1 [default: all].")
@click.option("--soft-argmax", is_flag=True, help="Decode joints by soft-argmax.")
@click.option("--json", "json_out", type=click.Path(path_type=Path), default=None,
              help="Also write the metrics as JSON.")
@click.option("--figure", type=click.Path(path_type=Path), default=None,
              help="Pre-training checkpoints: write the mask-reconstruction PNG here.")
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--device", default="auto", show_default=True)
@click.option("--force", is_flag=True, help="Replace existing --json/--figure files.")
def eval_maepose(checkpoint, data, cubes, subjects, soft_argmax, json_out, figure, batch_size, device,
                 force) -> None:
    """Evaluate a MAEPose checkpoint: MPJPE (m), PCK@5cm and per-joint errors; or masked-patch loss."""
    import json

    from radarkit.atomic import atomic_output, check_output_path
    from radarkit.data.clips import ClipSpec
    from radarkit.models.maepose import build_finetune, build_pretrain, config_from_json, pretrain_overrides
    from radarkit.pipelines.maepose_lopo import evaluate_clips, masked_loss
    from radarkit.train.checkpoint import load_checkpoint, read_header
    from radarkit.train.loop import select_device

    for path in (json_out, figure):
        if path is not None:
            check_output_path(path, force)
    header = read_header(checkpoint)
    name = header.get("model")
    if name not in (_PRETRAIN_NAME, _FINETUNE_NAME):
        from radarkit.errors import CheckpointError

        raise CheckpointError(f"not a MAEPose checkpoint (model {name!r})", source=checkpoint)
    cfg = header["config"]
    spec = ClipSpec.from_dict(cfg["clips"])
    kw = config_from_json(cfg["model"])
    pre = name == _PRETRAIN_NAME
    if figure is not None and not pre:
        raise click.UsageError("--figure needs a pre-training checkpoint")
    model = (build_pretrain(cfg["preset"], **pretrain_overrides(kw))
             if pre else build_finetune(cfg["preset"], **kw))
    load_checkpoint(checkpoint, model, name=name)
    model.to(select_device(device))
    clips = _load_clips(data, cubes, spec, _ints(subjects, "--subjects"), labels=not pre)
    if pre:
        result = masked_loss(model, clips, cfg.get("settings", {}).get("mask_ratio", 0.9), batch_size)
        click.echo(f"masked-patch MSE {result['loss']:.4f} (predicting zeros: {result['mean_loss']:.4f}) "
                   f"over {len(clips)} clips")
        if figure is not None:
            _figure(model, clips, cfg.get("settings", {}).get("mask_ratio", 0.9), figure, force,
                    f"MAEPose reconstruction ({cfg['preset']}, {spec.kind})")
            click.echo(f"wrote {figure}")
    else:
        result = evaluate_clips(model, clips, spec, batch_size, soft=soft_argmax)
        click.echo(f"MPJPE {result['mpjpe_m']:.4f} m, PCK@5cm {100 * result['pck']:.1f} % over "
                   f"{result['n_clips']} clips")
        width = max(len(j) for j in result["joints"])
        for joint, e, p in zip(result["joints"], result["per_joint_mpjpe_m"], result["per_joint_pck"],
                               strict=True):
            click.echo(f"  {joint:<{width}}  {e:.4f} m  {100 * p:5.1f} %")
    if json_out is not None:
        with atomic_output(json_out, force) as tmp:
            tmp.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
        click.echo(f"wrote {json_out}")


def register(cli: click.Group) -> None:
    """Add ``maepose`` under ``radarkit train`` and ``radarkit eval``."""
    cli.commands["train"].add_command(train_maepose)
    cli.commands["eval"].add_command(eval_maepose)
