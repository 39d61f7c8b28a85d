"""``radarkit bench``: cube throughput beside numpy, scipy.fft and OpenRadar (see
:mod:`radarkit.pipelines.bench`)."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["register"]


@click.command()
@click.option("--frames", type=click.IntRange(min=1), default=64, show_default=True,
              help="Frames per timed pass.")
@click.option("--repeats", type=click.IntRange(min=1), default=5, show_default=True,
              help="Timed passes per pipeline (median reported).")
@click.option("--only", "only", multiple=True,
              help="Run only pipelines whose name starts with this (repeatable); numpy always runs.")
@click.option("--json", "json_path", type=click.Path(path_type=Path), default=None,
              help="Also write the results as JSON (one record per pipeline plus a machine record).")
@click.option("--force", is_flag=True, help="Replace an existing --json file.")
def bench(frames: int, repeats: int, only: tuple[str, ...], json_path: Path | None, force: bool) -> None:
    """Time radarkit's cube pipelines against plain numpy, scipy.fft and OpenRadar, on the HuPR
    configuration (64 loops x 3 TX x 4 RX x 256 samples), in this process.

    Prints a Markdown table: frames/s, ratio to numpy, share of the FFT compute bound, peak RSS.
    OpenRadar runs when installed (pip install 'radarkit[bench]'); pyFFTW adds the FFTW rows.
    """
    from radarkit.atomic import check_output_path
    from radarkit.pipelines.bench import format_table, run_bench, write_json

    if json_path is not None:
        check_output_path(json_path, force)
    results, machine = run_bench(frames, repeats, only or None,
                                 echo=lambda line: click.echo(line, err=True))
    click.echo(format_table(results))
    click.echo(f"machine: {machine['cpu']}, {machine['cores']} cores; FFT bound by "
               f"{machine['fft_bound_library']}")
    if json_path is not None:
        write_json(json_path, results, machine, force=True)
        click.echo(f"wrote {json_path}")


def register(cli: click.Group) -> None:
    """Add ``bench`` to the ``radarkit`` group."""
    cli.add_command(bench)
