"""``radarkit run``: a declarative pipeline (TOML file or built-in name) on raw recordings."""

from __future__ import annotations

import sys
from pathlib import Path

import click

__all__ = ["register", "parse_checkpoints"]


def parse_checkpoints(values: tuple[str, ...], stages_needing: list[str]) -> dict[str, str]:
    """``--checkpoint`` values -> ``{stage: path}``.

    ``STAGE=FILE`` names the stage (``pose`` or ``describe``); a bare ``FILE`` goes to the first
    stage of ``stages_needing`` not yet given one.

    Raises
    ------
    click.UsageError
        More bare files than stages, or a stage given twice.
    """
    out: dict[str, str] = {}
    bare = []
    for value in values:
        stage, sep, path = value.partition("=")
        if sep and stage in ("pose", "describe"):
            if stage in out:
                raise click.UsageError(f"--checkpoint {stage}=... given twice")
            out[stage] = path
        else:
            bare.append(value)
    free = [s for s in stages_needing if s not in out]
    if len(bare) > len(free):
        raise click.UsageError(f"{len(bare)} bare --checkpoint files for the stages {free}; write "
                               "--checkpoint pose=FILE / describe=FILE")
    out.update(zip(free, bare, strict=False))
    return out


@click.command()
@click.argument("pipeline", metavar="PIPELINE.toml|NAME")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="INPUT...")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path), help="Output HDF5 file.")
@click.option("--checkpoint", "checkpoints", multiple=True, metavar="[STAGE=]FILE",
              help="Model checkpoint of the pose or describe stage (repeatable), e.g. pose=hupr.ckpt.")
@click.option("--config", "config", type=click.Path(path_type=Path),
              help="Radar configuration of recording files given directly (radar folders carry theirs).")
@click.option("--preset", help="Built-in configuration instead of --config.")
@click.option("--frames", "frames", default=None, metavar="START:STOP", help="Frame range (Python slice).")
@click.option("--force", is_flag=True, help="Replace an existing output file.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def run(pipeline, inputs, out, checkpoints, config, preset, frames, force, quiet) -> None:
    """Run PIPELINE (a TOML file, or the built-in hupr, maepose or pointcloud) on INPUT... and
    write one HDF5 file with a group per stage (read, cube, detect, pose, describe) and provenance.

    INPUT is a sequence folder with one sub-folder per radar (hori/, vert/: radarkit simulate's
    and HuPR's layout), one radar folder (recording + configuration) per radar, or recording
    files with --config/--preset.

    \b
    Examples:
      radarkit run pointcloud capture/ --out points.h5
      radarkit run hupr single_1/ --checkpoint pose=hupr.ckpt --checkpoint describe=mm.ckpt --out r.h5
    """
    import contextlib

    from radarkit.cli.common import load_config_option
    from radarkit.pipelines.runner import load_pipeline, run_pipeline

    pipe = load_pipeline(pipeline)
    needing = [s for s in ("pose", "describe") if getattr(pipe, s) is not None]
    given = parse_checkpoints(checkpoints, needing)
    pipe = pipe.with_checkpoints(given)
    missing = [s for s in needing if getattr(pipe, s).checkpoint is None]
    if missing:
        raise click.UsageError(f"pipeline {pipe.name!r} needs a checkpoint for {', '.join(missing)}: "
                               f"--checkpoint {missing[0]}=FILE")
    cfg = load_config_option(config, preset) if (config or preset) else None
    span = None
    if frames is not None:
        try:
            a, _, b = frames.partition(":")
            span = (int(a) if a else 0, int(b) if b else sys.maxsize)
        except ValueError:
            raise click.UsageError(f"--frames must be START:STOP, got {frames!r}") from None
    with contextlib.nullcontext(None) if quiet else _LazyProgress(f"run {pipe.name}") as bar:
        summary = run_pipeline(pipe, inputs, out, config=cfg, frames=span, force=force, progress=bar,
                               on_open=None if bar is None else bar.open, command=" ".join(sys.argv))
    stats = {k: v for s in summary["summaries"].values() for k, v in s.items() if k != "n_frames"}
    extra = ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in stats.items())
    click.echo(f"wrote {out} ({summary['n_frames']} frames, stages {' -> '.join(summary['stages'])}"
               + (f"; {extra}" if extra else "") + f"; {summary['seconds']:.1f} s)")


class _LazyProgress:
    """A progress bar whose length is known once the recordings are open (:meth:`open`)."""

    def __init__(self, label: str) -> None:
        self.label, self.bar = label, None

    def __enter__(self) -> _LazyProgress:
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)

    def open(self, n_frames: int) -> None:
        from radarkit.cli.common import Progress

        self.bar = Progress(n_frames, self.label).__enter__()

    def __call__(self, frames_done: int, bytes_done: int) -> None:
        if self.bar is not None:
            self.bar(frames_done, bytes_done)


def register(cli: click.Group) -> None:
    """Add ``run`` to the ``radarkit`` command group."""
    cli.add_command(run)
