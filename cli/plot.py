"""``radarkit plot``: a PNG of one frame of any radarkit output -- a cube file (with an optional CFAR
overlay), a points file (3-D and top view), a poses / keypoints file, a descriptors file or a
``radarkit run`` result -- or, with ``--gif``, an animated GIF of its frames."""

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


def _file_format(path: Path) -> str:
    """The ``format`` attribute of a radarkit HDF5 file ("" when absent or unreadable)."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            value = f.attrs.get("format", "")
    except OSError:
        return ""
    return value.decode() if isinstance(value, bytes) else str(value)


def _check_frame(frame: int, n: int, path: Path) -> int:
    from radarkit.errors import StoreError

    if not -n <= frame < n:
        raise StoreError(f"frame {frame} out of range (the file has {n} frames)", source=path)
    return frame % n


def _pose_arrays(path: Path, fmt: str):
    """(kind, per-frame array, skeleton, descriptors or None) of a poses or descriptors file."""
    from radarkit.data.mmjoints import read_descriptors, read_keypoints, read_poses
    from radarkit.errors import StoreError

    if fmt == "radarkit-joint-descriptors":
        d = read_descriptors(path)
        return "poses", d["poses"], d["skeleton"], (d["xi"], d["kappa"])
    try:
        poses, skeleton, _ = read_poses(path)
        return "poses", poses, skeleton, None
    except StoreError as err:
        if "no 'poses' dataset" not in str(err):
            raise
    kp, skeleton, _ = read_keypoints(path)
    return "keypoints", kp, skeleton, None


def _draw_pose(ax, kind: str, values, skeleton: str, frame: int, desc) -> None:
    from radarkit.viz.pipeline import plot_keypoints_vs_truth, plot_plane_joints

    if kind == "keypoints":
        plot_keypoints_vs_truth(values[frame], None, skeleton, f"keypoints, frame {frame}", ax=ax)
    elif desc is not None:
        import numpy as np

        from radarkit.skeleton import get_skeleton

        xz = values[frame][:, [0, 2]]
        for a, b in get_skeleton(skeleton).bone_index:
            ax.plot(xz[[a, b], 0], xz[[a, b], 1], color="0.6", lw=2)
        sc = ax.scatter(xz[:, 0], xz[:, 1], c=np.asarray(desc[0][frame]), cmap="plasma", vmin=0, vmax=1,
                        s=50, edgecolors="k", zorder=3)
        ax.figure.colorbar(sc, ax=ax, label="xi")
        ax.set_aspect("equal")
        ax.set_xlabel("x (m)")
        ax.set_ylabel("z (m)")
        ax.set_title(f"joints coloured by xi, frame {frame}")
    else:
        plot_plane_joints(values[frame][:, [0, 2]], skeleton, "xz", f"joints (front view), frame {frame}",
                          ax=ax)


def _plot_poses(path: Path, fmt: str, frame: int):
    from radarkit.viz.pipeline import plot_descriptors

    kind, values, skeleton, desc = _pose_arrays(path, fmt)
    frame = _check_frame(frame, len(values), path)
    if desc is not None:
        return plot_descriptors(values[frame], desc[0][frame], desc[1][frame], skeleton,
                                title=f"{path.name}: frame {frame}")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.5, 4.5), layout="constrained")
    _draw_pose(fig.add_subplot(), kind, values, skeleton, frame, None)
    return fig


def _sequence_gif(path: Path, fmt: str, out: Path, max_frames: int, fps: float, dynamic_range: float,
                  force: bool) -> int:
    """Animate the frames of any radarkit output into ``out``; returns the number of frames drawn."""
    import numpy as np

    from radarkit.viz.pipeline import animate, load_result

    if fmt == "radarkit-pipeline":
        res = load_result(path)
        n = res.n_frames

        def draw(fig, f):
            _overview_into(fig, res, f)
    elif fmt in ("radarkit-poses", "radarkit-joint-descriptors"):
        kind, values, skeleton, desc = _pose_arrays(path, fmt)
        n = len(values)

        def draw(fig, f):
            _draw_pose(fig.add_subplot(), kind, values, skeleton, f, desc)
    elif fmt == "radarkit-points":
        from radarkit.detect.pointcloud import load_point_cloud
        from radarkit.viz.pipeline import _points_top

        cloud, _ = load_point_cloud(path)
        n = cloud.n_frames

        def draw(fig, f):
            _points_top(fig.add_subplot(), cloud.frame(f))
    else:
        from radarkit.io.store import open_cube

        with open_cube(path) as cube:
            n = cube.shape[0]

        def draw(fig, f):
            _cube_into(fig, path, f, dynamic_range)
    frames = [int(f) for f in np.unique(np.linspace(0, n - 1, min(max_frames, n)).round())]
    animate(draw, frames, out, figsize=(9, 4), fps=fps, force=force)
    return len(frames)


def _overview_into(fig, res, f: int) -> None:
    """A result frame's map(s), points and pose side by side (the panels of plot_result_overview)."""
    from radarkit.viz import pipeline as vp

    has_pose = "keypoints" in res.pose or "joints_plane" in res.pose
    n = len(res.maps) + int(res.offsets is not None) + int(has_pose)
    k = 1
    for radar in res.maps:
        vp.plot_result_map(res, radar, f, ax=fig.add_subplot(1, n, k))
        k += 1
    if res.offsets is not None:
        vp._points_top(fig.add_subplot(1, n, k), res.points_frame(f))
        k += 1
    if "keypoints" in res.pose:
        vp.plot_keypoints_vs_truth(res.pose["keypoints"][f], None, res.skeleton, f"frame {f}",
                                   ax=fig.add_subplot(1, n, k))
    elif "joints_plane" in res.pose:
        vp.plot_plane_joints(res.pose["joints_plane"][f], res.skeleton, str(res.pose.get("plane", "xz")),
                             f"frame {f}", ax=fig.add_subplot(1, n, k))


def _cube_into(fig, path: Path, f: int, dynamic_range: float) -> None:
    """One cube frame's map drawn as an image into ``fig`` (the cube figure is built, then rasterised)."""
    import io

    import numpy as np
    from matplotlib.image import imread

    buf = io.BytesIO()
    _plot_cube(path, f, None, 1e-4, (2, 2), (8, 4), dynamic_range).savefig(buf, format="png", dpi=80)
    buf.seek(0)
    ax = fig.add_subplot()
    ax.imshow(np.asarray(imread(buf)))
    ax.set_axis_off()


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
@click.option("--gif", "gif", is_flag=True,
              help="Animate the file's frames into OUT (.gif) instead of drawing one frame.")
@click.option("--max-frames", type=click.IntRange(min=1), default=100, show_default=True,
              help="--gif: at most this many frames (evenly spaced).")
@click.option("--fps", type=click.FloatRange(min=0, min_open=True), default=5.0, show_default=True,
              help="--gif: frames per second.")
@click.option("--force", is_flag=True, help="Replace an existing image.")
def plot(file, frame, out, cfar_kind, pfa, guard, train, color, dynamic_range, gif, max_frames, fps,
         force) -> None:
    """Draw one frame of FILE.h5 into a PNG (or, with --gif, all frames into an animated GIF).

    A cube file (radarkit cube) gives its map in dB: Range-Doppler (with --cfar, the detections
    marked), range-azimuth or any other kind (extra axes summed in power). A points file (radarkit
    detect) gives the frame's point cloud in 3-D and from the top. A poses or keypoints file gives
    the skeleton; a descriptors file (radarkit describe) the skeleton coloured by xi and kappa; a
    pipeline result (radarkit run) every stage's panel: maps, points, pose, descriptors.
    """
    from radarkit.atomic import check_output_path
    from radarkit.cli.detect import parse_pair

    check_output_path(out, force, inputs=[file])
    if not file.exists():
        from radarkit.errors import StoreError

        raise StoreError("file not found", source=file)
    fmt = _file_format(file)
    if gif:
        from radarkit.viz.pipeline import gif_available

        if not gif_available():
            raise click.ClickException("--gif needs Pillow (pip install pillow)")
        n = _sequence_gif(file, fmt, out, max_frames, fps, dynamic_range, force)
        click.echo(f"wrote {out} ({n} frames)")
        return
    if fmt == "radarkit-points":
        fig = _plot_points(file, frame, color)
    elif fmt == "radarkit-pipeline":
        from radarkit.viz.pipeline import load_result, plot_result_overview

        res = load_result(file)
        fig = plot_result_overview(res, _check_frame(frame, res.n_frames, file))
    elif fmt in ("radarkit-poses", "radarkit-joint-descriptors"):
        fig = _plot_poses(file, fmt, frame)
    else:
        fig = _plot_cube(file, frame, cfar_kind, pfa, parse_pair(guard, "guard"), parse_pair(train, "train"),
                         dynamic_range)
    _save(fig, out, force)
    click.echo(f"wrote {out}")


def register(cli: click.Group) -> None:
    """Add ``plot`` to the ``radarkit`` command group."""
    cli.add_command(plot)
