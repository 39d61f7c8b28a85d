"""``radarkit plot``: a PNG of one frame of a cube file (with an optional CFAR overlay) or of a
points file (3-D and top view)."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["register"]


def _save(fig, out: Path, force: bool) -> None:
    from radarkit.atomic import atomic_output

    fmt = out.suffix.lstrip(".").lower() or "png"
    with atomic_output(out, force) as tmp:
        fig.savefig(tmp, format=fmt, dpi=120)


def _plot_points(path: Path, frame: int, color: str):
    from radarkit.detect.pointcloud import load_point_cloud
    from radarkit.errors import StoreError
    from radarkit.viz.detections import plot_point_cloud

    cloud, _ = load_point_cloud(path)
    if not -cloud.n_frames <= frame < cloud.n_frames:
        raise StoreError(f"frame {frame} out of range (the file has {cloud.n_frames} frames)", source=path)
    pts = cloud.frame(frame)
    if color not in pts.dtype.names:
        raise click.UsageError(f"--color must be a column of the points: {', '.join(pts.dtype.names)}")
    number = cloud.frame_start + frame % cloud.n_frames
    return plot_point_cloud(pts, title=f"{path.name}: frame {number}", color=color)


def _plot_cube(path: Path, frame: int, cfar_kind: str | None, pfa: float, guard, train, dynamic_range: float):
    import numpy as np

    from radarkit.errors import StoreError
    from radarkit.io.store import open_cube
    from radarkit.viz.detections import plot_cfar_mask, plot_map

    with open_cube(path) as cube:
        if not -cube.shape[0] <= frame < cube.shape[0]:
            raise StoreError(f"frame {frame} out of range (the cube has {cube.shape[0]} frames)",
                             source=path)
        block = cube.cube[frame % cube.shape[0]]
        dims = cube.dims[1:]
        units = str(cube.cube.attrs.get("units", ""))
        axes = {a.dim: a for a in cube.axes}
    if len(dims) < 2:
        raise StoreError(f"cannot draw a cube with axes {cube.dims}", source=path)
    if np.iscomplexobj(block):
        power = block.real.astype(np.float64) ** 2 + block.imag.astype(np.float64) ** 2
    elif units == "dB":
        power = 10.0 ** (block.astype(np.float64) / 10.0)
    else:
        power = block.astype(np.float64)
    # non-coherent sum over every axis but the last two (virtual antennas, Doppler of RAD, ...)
    power = power.reshape(-1, *power.shape[-2:]).sum(axis=0)
    ydim, xdim = dims[-2], dims[-1]
    db = 10.0 * np.log10(np.maximum(power, 1e-12))
    title = f"{path.name}: frame {frame % cube.shape[0]}"
    if (ydim, xdim) == ("doppler", "range"):
        from radarkit.detect.cfar import CfarParams
        from radarkit.detect.pointcloud import PointCloudParams, detect_rd
        from radarkit.viz.maps import plot_rd

        if cfar_kind is None:
            return plot_rd(db, axes["range"].values, axes["doppler"].values, title=title,
                           dynamic_range_db=dynamic_range)
        try:
            params = PointCloudParams(cfar=CfarParams(kind=cfar_kind, guard=guard, train=train, pfa=pfa))
            mask, _ = detect_rd(power[None].astype(np.float32), params)
        except ValueError as err:
            raise click.UsageError(str(err)) from None
        return plot_cfar_mask(db, mask[0], axes["range"].values, axes["doppler"].values,
                              title=f"{title}, {cfar_kind.upper()}-CFAR Pfa {pfa:g}",
                              dynamic_range_db=dynamic_range)
    if cfar_kind is not None:
        raise click.UsageError("--cfar overlays need a Range-Doppler cube")
    ya, xa = axes[ydim], axes[xdim]
    return plot_map(db, ya.values, xa.values, f"{ydim} ({ya.units})", f"{xdim} ({xa.units})", title=title,
                    dynamic_range_db=dynamic_range)


@click.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--frame", type=int, default=0, show_default=True,
              help="Frame to draw (negative from the end).")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path), help="Output image (.png).")
@click.option("--cfar", "cfar_kind", type=click.Choice(["ca", "go", "so", "os"]), default=None,
              help="RD cubes: overlay the detections of this CFAR (with peak grouping).")
@click.option("--pfa", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=1e-4,
              show_default=True, help="CFAR probability of false alarm.")
@click.option("--guard", default="2,2", show_default=True, metavar="DOPPLER,RANGE", help="CFAR guard cells.")
@click.option("--train", default="8,4", show_default=True, metavar="DOPPLER,RANGE",
              help="CFAR training cells.")
@click.option("--color", default="velocity_mps", show_default=True, help="Points: column that colours them.")
@click.option("--dynamic-range", type=click.FloatRange(min=1), default=60.0, show_default=True,
              help="Cube maps: colour range below the maximum (dB).")
@click.option("--force", is_flag=True, help="Replace an existing image.")
def plot(file, frame, out, cfar_kind, pfa, guard, train, color, dynamic_range, force) -> None:
    """Draw one frame of FILE.h5 into a PNG.

    A cube file (radarkit cube) gives its map in dB: Range-Doppler (with --cfar, the detections
    marked), range-azimuth or any other kind (extra axes summed in power). A points file (radarkit
    detect) gives the frame's point cloud in 3-D and from the top.
    """
    from radarkit.atomic import check_output_path
    from radarkit.cli.detect import parse_pair
    from radarkit.io.points import is_points_file

    check_output_path(out, force, inputs=[file])
    if file.exists() and is_points_file(file):
        fig = _plot_points(file, frame, color)
    else:
        fig = _plot_cube(file, frame, cfar_kind, pfa, parse_pair(guard, "guard"), parse_pair(train, "train"),
                         dynamic_range)
    _save(fig, out, force)
    click.echo(f"wrote {out}")


def register(cli: click.Group) -> None:
    """Add ``plot`` to the ``radarkit`` command group."""
    cli.add_command(plot)
