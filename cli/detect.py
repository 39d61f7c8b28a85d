"""``radarkit detect``: CFAR detections and point clouds of a raw recording or a cube file."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import click

from radarkit.cli.common import Progress, load_config_option

__all__ = ["register", "parse_pair"]


def parse_pair(text: str, name: str) -> tuple[int, int]:
    """``"2,2"`` -> ``(2, 2)``; one value is used for both axes ``(doppler, range)``.

    Raises
    ------
    click.UsageError
        Not one or two non-negative integers.
    """
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) not in (1, 2) or min(values, default=-1) < 0:
        raise click.UsageError(f"--{name} takes DOPPLER,RANGE cell counts such as 2,2, got {text!r}")
    return values if len(values) == 2 else (values[0], values[0])


def _cube_points(path: Path, params, frames: str | None, chunk: int, bar):
    """Point cloud of a cube file, by dims: per-antenna complex RD, summed RD, or RAD."""
    import numpy as np

    from radarkit.detect.cfar import db_to_power
    from radarkit.detect.pointcloud import PointCloud, points_from_power, points_from_rad, points_from_rd
    from radarkit.errors import StoreError
    from radarkit.io.recording import parse_frame_range
    from radarkit.io.store import open_cube

    with open_cube(path) as cube:
        dims = cube.dims
        units = str(cube.cube.attrs.get("units", ""))
        start, stop = parse_frame_range(frames, cube.shape[0])
        ax = {a.dim: a.values for a in cube.axes}
        supported = {("frame", "doppler", "virtual_antenna", "range"), ("frame", "doppler", "range"),
                     ("frame", "doppler", "azimuth", "range")}
        if dims not in supported:
            raise StoreError(f"cannot detect on a cube with axes {dims}; give an RD cube "
                             "(per antenna, complex, for angles) or a RAD cube", source=path)
        if dims[2] == "virtual_antenna" and units != "complex":
            raise StoreError("a per-antenna RD cube must be complex (radarkit cube --per-antenna "
                             "--output complex) to estimate angles", source=path)
        clouds = []
        for first in range(start, stop, chunk):
            block = cube.cube[first:min(first + chunk, stop)]
            if dims[2] == "virtual_antenna":
                pc = points_from_rd(block, cube.config, params, ax["range"], ax["doppler"], first)
            else:
                if np.iscomplexobj(block):
                    power = (block.real ** 2 + block.imag ** 2).astype(np.float32)
                else:
                    power = db_to_power(block) if units == "dB" else block.astype(np.float32)
                if dims[2] == "azimuth":
                    pc = points_from_rad(power, ax["range"], ax["doppler"], ax["azimuth"], params, first)
                else:
                    pc = points_from_power(power, ax["range"], ax["doppler"], params, first)
            clouds.append(pc)
            if bar is not None:
                done = min(first + chunk, stop) - start
                bar(done, done * block[0].nbytes)
        config = cube.config
        source_attrs = {"cube_kind": cube.kind, "cube_dims": list(dims), "cube_units": units,
                        "cube_sources": cube.attrs.get("sources", [])}
    cloud = PointCloud.concat(clouds) if clouds else PointCloud.empty(0, start)
    return cloud, config, start, source_attrs


def _raw_points(rec, params, start: int, stop: int, chunk: int, clutter_removal: bool, bar):
    """Point cloud of an open Recording, chunk by chunk.

    Uses the planned Range-Doppler hot path (:class:`radarkit.dsp.plan.RDPlan`: fused decode,
    window and clutter removal, scipy FFTs) where the layout allows, else decodes (range window
    fused into the conversion) and calls :func:`radarkit.detect.pointcloud.point_cloud`.
    """
    import dataclasses

    from radarkit.detect.pointcloud import PointCloud, point_cloud, points_from_rd
    from radarkit.dsp.plan import RDPlan, rd_plan_supports
    from radarkit.dsp.windows import get_window

    cfg = rec.config
    plan = RDPlan(cfg, "hann", "hann", clutter_removal) if rd_plan_supports(cfg) else None
    window = get_window("hann", cfg.n_samples)
    clouds = []
    for first in range(start, stop, chunk):
        last = min(first + chunk, stop)
        if plan is not None:
            clouds.append(points_from_rd(plan(rec.words(first, last)), cfg, params,
                                         frame_start=first))
        else:
            raw = rec.read(first, last, window=window)
            clouds.append(point_cloud(raw, cfg, params, clutter_removal=clutter_removal,
                                      range_window=None, frame_start=first))
        if bar is not None:
            bar(last - start, (last - start) * cfg.bytes_per_frame)
    cloud = PointCloud.concat(clouds) if clouds else PointCloud.empty(0, start)
    return cloud, cfg, start, {"capture": dataclasses.asdict(rec.report)}


@click.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="INPUT...")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path),
              help="Output points file (.h5).")
@click.option("--config", "config", type=click.Path(path_type=Path),
              help="Radar configuration of a raw recording (SDK .cfg, Studio, TOML/JSON).")
@click.option("--preset", help="Built-in configuration instead of --config (e.g. iwr1843-3tx).")
@click.option("--cfar", "kind", type=click.Choice(["ca", "go", "so", "os"]), default="ca",
              show_default=True, help="CFAR noise estimate: cell averaging, greatest/smallest of, "
              "ordered statistic.")
@click.option("--pfa", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=1e-4,
              show_default=True, help="Requested probability of false alarm.")
@click.option("--threshold-db", type=float, default=None,
              help="Threshold above the noise estimate in dB, instead of --pfa.")
@click.option("--guard", default="2,2", show_default=True, metavar="DOPPLER,RANGE",
              help="Guard cells on each side of the cell under test.")
@click.option("--train", default="8,4", show_default=True, metavar="DOPPLER,RANGE",
              help="Training cells on each side beyond the guard cells.")
@click.option("--os-rank", type=click.FloatRange(0, 1, min_open=True), default=0.75, show_default=True,
              help="OS-CFAR: rank of the order statistic as a fraction of the training cells.")
@click.option("--peak-grouping/--no-peak-grouping", default=True, show_default=True,
              help="Keep only detections that are the maximum of their 3 x 3 neighbourhood.")
@click.option("--angle", "angle_method", type=click.Choice(["fft", "capon"]), default="fft",
              show_default=True, help="Azimuth estimator.")
@click.option("--max-angle-peaks", type=click.IntRange(min=1), default=1, show_default=True,
              help="Points per detected cell (azimuth peaks within 6 dB).")
@click.option("--clutter-removal/--no-clutter-removal", default=False, show_default=True,
              help="Raw input: static clutter removal (drops zero-Doppler returns).")
@click.option("--cluster", is_flag=True, help="Label the points of every frame with DBSCAN.")
@click.option("--eps", type=click.FloatRange(min=0, min_open=True), default=0.5, show_default=True,
              help="DBSCAN radius (m) of the Doppler-weighted distance.")
@click.option("--min-samples", type=click.IntRange(min=1), default=3, show_default=True,
              help="DBSCAN core-point size.")
@click.option("--doppler-weight", type=click.FloatRange(min=0), default=0.5, show_default=True,
              help="DBSCAN metres per m/s of velocity difference.")
@click.option("--frames", "frames", default=None, metavar="START:STOP",
              help="Frame range (Python slice, e.g. 10:20, -5:).")
@click.option("--iq-order", type=click.Choice(["auto", "iq", "qi"]), default=None,
              help="Raw input: IQ word order [default: from the configuration].")
@click.option("--chunk", type=click.IntRange(min=1), default=16, show_default=True,
              help="Frames processed at a time (bounds memory).")
@click.option("--csv", "write_csv", is_flag=True, help="Also write the points as OUT with .csv.")
@click.option("--force", is_flag=True, help="Replace existing output files.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def detect(inputs, out, config, preset, kind, pfa, threshold_db, guard, train, os_rank, peak_grouping,
           angle_method, max_angle_peaks, clutter_removal, cluster, eps, min_samples, doppler_weight,
           frames, iq_order, chunk, write_csv, force, quiet) -> None:
    """Detect targets (CFAR) and write a point cloud (HDF5, optional CSV).

    INPUT is a raw recording (adc_data.bin, *_Raw_0.bin parts or a packet capture) with --config
    or --preset, or one cube file written by 'radarkit cube': a per-antenna complex RD cube
    (points with angles), a summed RD cube in dB or power (range and velocity only), or a RAD
    cube.
    """
    from radarkit.atomic import check_output_path
    from radarkit.detect.cfar import CfarParams
    from radarkit.detect.pointcloud import POINT_UNITS, PointCloudParams
    from radarkit.dsp.cubes import source_records
    from radarkit.io.points import PointsWriter, export_csv
    from radarkit.io.recording import parse_frame_range

    try:
        cfar_params = CfarParams(kind=kind, guard=parse_pair(guard, "guard"),
                                 train=parse_pair(train, "train"), pfa=pfa, threshold_db=threshold_db,
                                 rank=os_rank)
        params = PointCloudParams(cfar=cfar_params, peak_size=(3, 3) if peak_grouping else (1, 1),
                                  angle_method=angle_method, max_angle_peaks=max_angle_peaks)
    except ValueError as err:
        raise click.UsageError(str(err)) from None
    csv_path = out.with_suffix(".csv")
    sources = [*inputs, *([config] if config else [])]
    check_output_path(out, force, inputs=sources)
    if write_csv:
        check_output_path(csv_path, force, inputs=sources)
    is_cube = len(inputs) == 1 and inputs[0].suffix.lower() in (".h5", ".hdf5")
    if is_cube and (config or preset):
        raise click.UsageError("a cube file carries its configuration; drop --config/--preset")
    if is_cube:
        from radarkit.io.store import open_cube

        with open_cube(inputs[0]) as cube:  # StoreError if not a radarkit cube
            n_total = cube.shape[0]
        source = contextlib.nullcontext()
    else:
        from radarkit.io.recording import Recording

        source = Recording(inputs, load_config_option(config, preset), iq_order=iq_order)
    with source as rec:
        if rec is not None:
            n_total = rec.n_frames
            if iq_order == "auto":
                click.echo(f"radarkit: IQ order {rec.report.iq_note}", err=True)
        lo, hi = parse_frame_range(frames, n_total)
        with contextlib.nullcontext() if quiet else Progress(hi - lo, f"detect {kind}") as bar:
            if rec is None:
                cloud, out_cfg, start, extra = _cube_points(inputs[0], params, frames, chunk, bar)
            else:
                cloud, out_cfg, start, extra = _raw_points(rec, params, lo, hi, chunk, clutter_removal,
                                                           bar)
    if cluster:
        from radarkit.detect.cluster import cluster_points

        cloud = cluster_points(cloud, eps, min_samples, doppler_weight)
    processing = {"detect": params.to_dict(), "input": "cube" if is_cube else "raw",
                  "clutter_removal": None if is_cube else clutter_removal,
                  "range_window": None if is_cube else "hann",
                  "doppler_window": None if is_cube else "hann",
                  "cluster": {"eps": eps, "min_samples": min_samples, "doppler_weight": doppler_weight}
                  if cluster else None}
    attrs = {"processing": processing, "sources": source_records([Path(p) for p in sources]),
             "command": " ".join(sys.argv), **extra}
    with PointsWriter(out, cloud.table.dtype, POINT_UNITS, out_cfg, attrs, frame_start=start,
                      force=force) as writer:
        writer.append(cloud.table, cloud.offsets)
    if write_csv:
        export_csv(csv_path, cloud.table, cloud.offsets, frame_start=start, force=force)
    counts = cloud.counts()
    empty = int((counts == 0).sum())
    click.echo(f"wrote {out} ({cloud.n_frames} frames, {len(cloud)} points, "
               f"{counts.mean() if len(counts) else 0:.1f} per frame, {empty} frames empty)"
               + (f" and {csv_path}" if write_csv else ""))


def register(cli: click.Group) -> None:
    """Add ``detect`` to the ``radarkit`` command group."""
    cli.add_command(detect)
