"""The ``radarkit`` command (click).

Commands import their heavy modules lazily, so ``radarkit cube`` never imports torch or matplotlib.
Errors radarkit raises on purpose (:class:`radarkit.errors.RadarkitError`, file-system errors) are
printed as one line ``Error: <file>: <what is wrong>`` and exit with status 1; Ctrl-C prints
``radarkit: interrupted`` and exits with 130. Outputs are written atomically, so neither leaves a
partial file behind. Warnings (a skipped partial frame, lost packets) print as one line each.
"""

from __future__ import annotations

import importlib
import warnings
from pathlib import Path

import click

from radarkit._version import __version__
from radarkit.cli.common import Progress, load_config_option
from radarkit.errors import RadarkitError, RecordingWarning

__all__ = ["main", "cli"]


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    click.echo(f"radarkit: warning: {message}", err=True)


class RadarkitGroup(click.Group):
    """click group that turns radarkit and OS errors into one-line messages."""

    def invoke(self, ctx: click.Context):
        with warnings.catch_warnings():  # restored afterwards (the CLI may run inside Python)
            warnings.showwarning = _one_line_warning
            warnings.simplefilter("always", RecordingWarning)
            return self._invoke(ctx)

    def _invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except RadarkitError as err:
            raise click.ClickException(str(err)) from None
        except click.UsageError as err:
            name = err.ctx.command_path if err.ctx else "radarkit"
            raise click.ClickException(f"{err.format_message()} (see '{name} --help')") from None
        except (OSError, MemoryError) as err:
            if isinstance(err, OSError) and err.filename:
                raise click.ClickException(f"{err.filename}: {err.strerror}") from None
            raise click.ClickException(f"{type(err).__name__}: {err}") from None
        except KeyboardInterrupt:
            click.echo("radarkit: interrupted", err=True)
            ctx.exit(130)


@click.group(cls=RadarkitGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="radarkit")
def cli() -> None:
    """radarkit: TI mmWave (IWR/AWR1843 + DCA1000) raw ADC to radar cubes, detections and poses."""


def _cube_folders(root: Path, out: Path, params, config, preset, iq_order, chunk, workers, storage,
                  force, quiet) -> None:
    """``radarkit cube FOLDER``: one cube file per radar of each sequence (see ``cube --help``)."""
    from radarkit.dsp.cubes import write_cube
    from radarkit.dsp.sequences import plan_sequence_cubes
    from radarkit.io.recording import Recording

    cfg = load_config_option(config, preset) if (config or preset) else None
    if out.exists() and not out.is_dir():
        raise click.UsageError(f"with a folder of recordings, --out must be a folder ({out} is a file)")
    jobs = plan_sequence_cubes(root, out, cfg)
    for parts, radar_cfg, target in jobs:
        target.parent.mkdir(parents=True, exist_ok=True)
        with Recording(parts, radar_cfg, iq_order=iq_order) as rec:
            label = str(target.relative_to(out))
            if quiet:
                write_cube(rec, target, params, None, chunk, force, workers=workers, storage=storage)
            else:
                with Progress(rec.n_frames, label) as bar:
                    write_cube(rec, target, params, None, chunk, force, progress=bar, workers=workers,
                               storage=storage)
        click.echo(f"wrote {target} ({rec.n_frames} frames, kind {params.kind})")


def _parse_bins(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        start, stop = (int(v) for v in text.split(":"))
    except ValueError:
        raise click.UsageError(f"--range-bins must be START:STOP (two integers), got {text!r}") from None
    return start, stop


@cli.command()
@click.argument("raw", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--config", "config", type=click.Path(path_type=Path),
              help="Radar configuration: SDK .cfg, Studio LogFile.txt/.lua, radarkit TOML/JSON.")
@click.option("--preset", help="Built-in configuration instead of --config (e.g. iwr1843-3tx).")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path),
              help="Output HDF5 file.")
@click.option("--kind", type=click.Choice(["rd", "range", "ra", "rad", "rae", "vrdae", "rd-video",
                                           "ra-video"]), default="rd", show_default=True,
              help="rd (frame, doppler, range); range (frame, loop, virtual, range); ra (frame, azimuth, "
                   "range); rad (frame, doppler, azimuth, range); rae (frame, elevation, azimuth, "
                   "range); vrdae (frame, doppler, elevation, azimuth, range); rd-video / ra-video "
                   "(dB maps over time).")
@click.option("--mode", type=click.Choice(["full", "hupr"]), default="full", show_default=True,
              help="vrdae: full 4-D FFT, or hupr = the official HuPR preprocessing exactly "
                   "(needs the TDM order of --preset hupr).")
@click.option("--frames", "frames", default=None, metavar="START:STOP",
              help="Frame range (Python slice, e.g. 10:20, -5:).")
@click.option("--window", default=None,
              type=click.Choice(["hann", "hamming", "blackman", "none"]),
              help="Range window [default: hann; none in hupr mode].")
@click.option("--doppler-window", default=None,
              type=click.Choice(["hann", "hamming", "blackman", "none"]),
              help="Doppler window [default: hann; none in hupr mode].")
@click.option("--angle-window", default="none", show_default=True,
              type=click.Choice(["hann", "hamming", "blackman", "none"]),
              help="Window over the virtual array (azimuth and elevation).")
@click.option("--n-azimuth", type=click.IntRange(min=2), default=64, show_default=True,
              help="Azimuth bins.")
@click.option("--n-elevation", type=click.IntRange(min=2), default=8, show_default=True,
              help="Elevation bins (rae, vrdae).")
@click.option("--doppler-bins", type=click.IntRange(min=1), default=None,
              help="vrdae: Doppler bins kept around zero velocity [default: 8].")
@click.option("--range-bins", default=None, metavar="START:STOP",
              help="Keep only these range bins (e.g. 31:95).")
@click.option("--iq-order", type=click.Choice(["auto", "iq", "qi"]), default=None,
              help="IQ word order [default: from the configuration].")
@click.option("--output", "output", type=click.Choice(["db", "power", "complex"]), default=None,
              help="Cube values [default: db for rd, complex for range].")
@click.option("--per-antenna", is_flag=True, help="rd: keep one map per virtual antenna.")
@click.option("--clutter-removal/--no-clutter-removal", default=None,
              help="Static clutter removal [default: on for rd, off for range].")
@click.option("--n-range", type=click.IntRange(min=2), default=None, help="Range FFT length.")
@click.option("--n-doppler", type=click.IntRange(min=2), default=None, help="Doppler FFT length.")
@click.option("--chunk", type=click.IntRange(min=1), default=16, show_default=True,
              help="Frames processed at a time (bounds memory).")
@click.option("--backend", type=click.Choice(["numpy", "scipy", "fftw", "torch"]), default="scipy",
              show_default=True, help="FFT back end (fftw needs radarkit[fftw]; torch uses CUDA "
                                      "when available).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Threads processing chunks in parallel (single-threaded kernels each).")
@click.option("--compression", type=click.Choice(["gzip", "lzf"]), default=None,
              help="HDF5 compression of the cube (off by default).")
@click.option("--storage", type=click.Choice(["native", "float16"]), default="native", show_default=True,
              help="float16: complex cubes as frame-normalised float16 re/im pairs (half the size).")
@click.option("--force", is_flag=True, help="Replace an existing output file.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def cube(raw, config, preset, out, kind, mode, frames, window, doppler_window, angle_window, n_azimuth,
         n_elevation, doppler_bins, range_bins, iq_order, output, per_antenna, clutter_removal,
         n_range, n_doppler, chunk, backend, workers, compression, storage, force, quiet) -> None:
    """Turn a DCA1000 recording RAW... into a radar cube in HDF5.

    RAW is adc_data.bin, the parts *_Raw_0.bin *_Raw_1.bin ... (or just *_Raw_0.bin), or a
    packet-header capture. RAW may also be a sequence folder (hori/ and vert/ radar sub-folders,
    each with its recording and configuration file) or a folder of sequences: OUT is then a folder
    receiving OUT/[<sequence>/]<radar>.h5 -- e.g. HuPR's dataset with
    --kind vrdae --mode hupr --storage float16.
    """
    from radarkit.atomic import check_output_path
    from radarkit.dsp.cubes import CubeParams, write_cube
    from radarkit.io.recording import Recording, parse_frame_range

    try:
        params = CubeParams(kind=kind, mode=mode, range_window=window, doppler_window=doppler_window,
                            angle_window=angle_window, n_range=n_range, n_doppler=n_doppler,
                            n_azimuth=n_azimuth, n_elevation=n_elevation, doppler_bins=doppler_bins,
                            range_bins=_parse_bins(range_bins), clutter_removal=clutter_removal,
                            output=output, per_antenna=per_antenna, backend=backend)
    except ValueError as err:
        raise click.UsageError(str(err)) from None
    if len(raw) == 1 and raw[0].is_dir():
        _cube_folders(raw[0], out, params, config, preset, iq_order, chunk, workers, storage, force,
                      quiet)
        return
    cfg = load_config_option(config, preset)
    check_output_path(out, force, inputs=[*raw, *([config] if config else [])])
    with Recording(raw, cfg, iq_order=iq_order) as rec:
        start, stop = parse_frame_range(frames, rec.n_frames)
        if iq_order == "auto":
            click.echo(f"radarkit: IQ order {rec.report.iq_note}", err=True)
        if quiet:
            write_cube(rec, out, params, (start, stop), chunk, force, compression, workers=workers,
                       storage=storage)
        else:
            with Progress(stop - start, f"cube {kind}") as bar:
                write_cube(rec, out, params, (start, stop), chunk, force, compression, bar,
                           workers=workers, storage=storage)
    click.echo(f"wrote {out} ({stop - start} frames, kind {kind})")


@cli.command()
@click.argument("raw", nargs=-1, type=click.Path(path_type=Path))
@click.option("--config", "config", type=click.Path(path_type=Path), help="Radar configuration.")
@click.option("--preset", help="Built-in configuration instead of --config.")
@click.option("--iq-order", type=click.Choice(["auto", "iq", "qi"]), default=None,
              help="IQ word order [default: from the configuration].")
def info(raw, config, preset, iq_order) -> None:
    """Print the configuration, derived quantities and, with RAW, the recording's frame count."""
    cfg = load_config_option(config, preset)
    width = max(len(k) for k in cfg.summary())
    for key, value in cfg.summary().items():
        click.echo(f"{key:<{width}}  {value}")
    if raw:
        from radarkit.io.recording import Recording

        with Recording(raw, cfg, iq_order=iq_order) as rec:
            rep = rec.report
            rows = {
                "files": ", ".join(rep.files),
                "payload bytes": f"{rep.total_bytes:,}",
                "whole frames": str(rep.n_frames),
                "duration": f"{rep.n_frames * cfg.frame_period_s:g} s",
                "partial frame": f"{rep.partial_frame_bytes:,} bytes (skipped)",
                "extra bytes": f"{rep.extra_bytes:,}",
                "lost packets": f"{rep.lost_packets} ({rep.zero_filled_bytes:,} bytes zero-filled)",
                "IQ order": rep.iq_note,
            }
            for key, value in rows.items():
                click.echo(f"{key:<{width}}  {value}")


@cli.command()
@click.option("--out", "out", type=click.Path(path_type=Path), default=Path("radarkit_demo"),
              show_default=True, help="Output folder (created).")
@click.option("--frames", "n_frames", type=click.IntRange(min=8), default=20, show_default=True,
              help="Frames of the demo recording (10 frames/s).")
@click.option("--force", is_flag=True, help="Replace existing output files.")
def demo(out, n_frames, force) -> None:
    """Run the whole chain on simulated data: raw ADC -> cubes -> points -> poses -> descriptors.

    Simulates two radars, trains small HuPR and mmJoints models on the spot, runs the built-in
    pointcloud and hupr pipelines, and writes pointcloud.h5, hupr.h5, the checkpoints and PNGs
    (RD map, RA map, point cloud, predicted vs true skeleton, descriptors) plus sequence.gif into
    OUT. About two minutes on two cores; needs no external data.
    """
    from radarkit.pipelines.demo import run_demo

    out.mkdir(parents=True, exist_ok=True)
    report = run_demo(out, n_frames=n_frames, force=force, echo=click.echo)
    if not report["ok"]:
        raise click.ClickException("demo outputs do not have the documented shapes")


@cli.group()
def train() -> None:
    """Train a pose estimator or descriptor model (one sub-command per model)."""


@cli.group(name="eval")
def evaluate() -> None:
    """Evaluate a trained model (one sub-command per model)."""


#: Modules under ``radarkit.cli`` that add commands: each defines ``register(cli)`` and imports its
#: heavy dependencies inside the command bodies, so start-up stays light.
COMMAND_MODULES: tuple[str, ...] = ("simulate", "detect", "plot", "bench", "train_hupr", "mmjoints",
                                     "train_maepose", "train_awc", "train_millimamba", "run")


def _register_commands() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(f"radarkit.cli.{name}").register(cli)


_register_commands()


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="radarkit")


if __name__ == "__main__":  # pragma: no cover
    main()
