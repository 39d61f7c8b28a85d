"""Figures of pipeline results and of every radarkit output kind, and animated GIFs of sequences.

* :func:`load_result` opens a ``radarkit run`` result (:mod:`radarkit.pipelines.runner`): small
  per-frame arrays (poses, descriptors, point offsets) are read at once, maps and points per frame
  on demand, so a long result stays cheap to plot;
* one-frame figures: :func:`plot_result_map` (the dB map a cube stage kept), :func:`plot_result_points`,
  :func:`plot_keypoints_vs_truth` (2-D keypoints on the camera image), :func:`plot_plane_joints`
  (MAEPose plane joints), :func:`plot_descriptors` (a 3-D skeleton seen from the front, joints
  coloured by mmJoints' ``xi`` and ``kappa``) and :func:`plot_result_overview` (all panels of a result);
* :func:`animate` turns a per-frame drawing function into an animated GIF with
  :class:`matplotlib.animation.PillowWriter` (Pillow is a matplotlib dependency; :func:`gif_available`
  says whether it is importable), written atomically; :func:`write_sequence_gif` animates a result.

All figures are pyplot-free :class:`matplotlib.figure.Figure` objects (no display needed), as in
:mod:`radarkit.viz.maps`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from radarkit.viz.detections import plot_map, plot_point_cloud
from radarkit.viz.maps import plot_rd

__all__ = ["PipelineResult", "load_result", "plot_result_map", "plot_result_points",
           "plot_keypoints_vs_truth", "plot_plane_joints", "plot_descriptors", "plot_result_overview",
           "gif_available", "animate", "write_sequence_gif"]


def _figure(figsize):
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained")


def _skeleton(name: str):
    from radarkit.skeleton import get_skeleton

    return get_skeleton(name)


@dataclass
class PipelineResult:
    """A ``radarkit run`` result file, with its small per-frame arrays loaded.

    Attributes
    ----------
    path : Path
    attrs : dict
        Root attributes (provenance).
    n_frames : int
    stages : list of str
    maps : dict of str to tuple of str
        Radars whose cube stage kept a map, with the map's two axis names.
    offsets : ndarray of int64, shape (n_frames + 1,) or None
        Point offsets of the detect stage.
    pose : dict
        Pose-stage arrays (``keypoints`` (F, J, 2) px, or ``joints_plane`` (F, J, 2) m) and
        attributes (``model``, ``skeleton``, ...).
    describe : dict
        ``poses`` (F, J, 3) m, ``xi`` and ``kappa`` (F, J); empty without a describe stage.
    skeleton : str
        Skeleton of the poses ("" without a pose stage).
    """

    path: Path
    attrs: dict
    n_frames: int
    stages: list[str]
    maps: dict[str, tuple[str, str]] = field(default_factory=dict)
    offsets: np.ndarray | None = None
    pose: dict[str, Any] = field(default_factory=dict)
    describe: dict[str, Any] = field(default_factory=dict)
    skeleton: str = ""

    def map_frame(self, radar: str, frame: int) -> tuple[np.ndarray, dict[str, tuple[np.ndarray, str]]]:
        """dB map of one frame and its axes ``{dim: (values, units)}``."""
        from radarkit.io.store import open_hdf5

        with open_hdf5(self.path) as f:
            g = f["cube"][radar]
            values = g["map"][frame]
            axes = {}
            for name, ds in g.items():
                if name != "map" and "dim" in ds.attrs:
                    axes[str(ds.attrs["dim"])] = (ds[()], str(ds.attrs.get("units", "")))
        return values, axes

    def points_frame(self, frame: int) -> np.ndarray:
        """Structured array of one frame's points (detect stage)."""
        from radarkit.detect.pointcloud import POINT_DTYPE
        from radarkit.io.store import open_hdf5

        lo, hi = int(self.offsets[frame]), int(self.offsets[frame + 1])
        out = np.zeros(hi - lo, POINT_DTYPE)
        with open_hdf5(self.path) as f:
            for name in POINT_DTYPE.names:
                out[name] = f["detect/points"][name][lo:hi]
        return out


def load_result(path: str | os.PathLike) -> PipelineResult:
    """Open a pipeline result file (format ``radarkit-pipeline``).

    Raises
    ------
    StoreError
        Missing file, not HDF5 or not a pipeline result.
    """
    from radarkit.io.store import open_hdf5

    path = Path(path)
    with open_hdf5(path, "radarkit-pipeline") as f:
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
        res = PipelineResult(path, attrs, int(attrs["n_frames"]), json.loads(attrs["stages"]))
        if "cube" in f:
            for radar, g in f["cube"].items():
                if "map" in g:
                    res.maps[radar] = tuple(json.loads(g["map"].attrs["dims"])[1:])
        if "detect" in f:
            res.offsets = f["detect/frame_offsets"][()]
        if "pose" in f:
            g = f["pose"]
            res.pose = {k: g[k][()] for k in g}
            res.pose.update({k: (v.decode() if isinstance(v, bytes) else v) for k, v in g.attrs.items()})
            res.skeleton = str(g.attrs.get("skeleton", ""))
        if "describe" in f:
            res.describe = {k: f["describe"][k][()] for k in ("poses", "xi", "kappa")}
    return res


def plot_result_map(res: PipelineResult, radar: str, frame: int, dynamic_range_db: float = 60.0, ax=None):
    """The cube stage's dB map of one radar and frame (Range-Doppler or range-azimuth).

    Parameters
    ----------
    res : PipelineResult
    radar : str
        Radar whose map is drawn.
    frame : int
        Frame within the result.
    dynamic_range_db : float
        Colour range below the maximum (dB).
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    values, axes = res.map_frame(radar, frame)
    ydim, xdim = res.maps[radar]
    title = f"{res.path.name}: {radar}, frame {frame}"
    if (ydim, xdim) == ("doppler", "range"):
        return plot_rd(values, axes["range"][0], axes["doppler"][0], title=title,
                       dynamic_range_db=dynamic_range_db, ax=ax)
    (yv, yu), (xv, xu) = axes[ydim], axes[xdim]
    return plot_map(values, yv, xv, f"{ydim} ({yu})", f"{xdim} ({xu})", title=title,
                    dynamic_range_db=dynamic_range_db, ax=ax)


def plot_result_points(res: PipelineResult, frame: int, color: str = "velocity_mps"):
    """The detect stage's point cloud of one frame in 3-D and from the top.

    Returns
    -------
    matplotlib.figure.Figure
    """
    return plot_point_cloud(res.points_frame(frame), title=f"{res.path.name}: points, frame {frame}",
                            color=color)


def _draw_bones(ax, xy: np.ndarray, skeleton: str, style: dict, label: str) -> None:
    sk = _skeleton(skeleton)
    for k, (a, b) in enumerate(sk.bone_index):
        ax.plot(xy[[a, b], 0], xy[[a, b], 1], **style, label=label if k == 0 else None)
    ax.scatter(xy[:, 0], xy[:, 1], s=12, color=style.get("color"))


def plot_keypoints_vs_truth(pred: np.ndarray, truth: np.ndarray | None, skeleton: str, title: str = "",
                            image_size: tuple[int, int] = (256, 256), ax=None):
    """Predicted 2-D keypoints (and the truth) on the camera image plane.

    Parameters
    ----------
    pred : ndarray, shape (J, 2)
        Predicted ``(u, v)`` pixels.
    truth : ndarray, shape (J, 2), optional
        True keypoints, pixels.
    skeleton : str
        Joint naming (bones drawn).
    title : str
    image_size : (int, int)
        ``(width, height)`` pixels of the image (v grows downwards).
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    if ax is None:
        fig = _figure((4.5, 4.5))
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    if truth is not None:
        _draw_bones(ax, np.asarray(truth, float), skeleton, {"color": "tab:green", "lw": 2}, "truth")
    _draw_bones(ax, np.asarray(pred, float), skeleton, {"color": "tab:red", "lw": 2, "ls": "--"}, "predicted")
    ax.set_xlim(0, image_size[0])
    ax.set_ylim(image_size[1], 0)
    ax.set_aspect("equal")
    ax.set_xlabel("u (px)")
    ax.set_ylabel("v (px)")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title)
    return fig


def plot_plane_joints(joints: np.ndarray, skeleton: str, plane: str = "xz", title: str = "", ax=None):
    """MAEPose plane joints (m): horizontal coordinate right, height up.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if ax is None:
        fig = _figure((4.5, 4.5))
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    _draw_bones(ax, np.asarray(joints, float), skeleton, {"color": "tab:red", "lw": 2}, "predicted")
    ax.set_aspect("equal")
    ax.set_xlabel(f"{plane[0]} (m)")
    ax.set_ylabel(f"{plane[1]} (m)")
    ax.set_title(title)
    return fig


def plot_descriptors(pose: np.ndarray, xi: np.ndarray, kappa: np.ndarray, skeleton: str, title: str = ""):
    """A 3-D skeleton seen from the radar (x right, z up), joints coloured by ``xi`` and by ``kappa``.

    Parameters
    ----------
    pose : ndarray, shape (J, 3)
        Joints in m (radar frame).
    xi, kappa : ndarray, shape (J,)
        mmJoints' sensing and reliability scores in (0, 1).
    skeleton : str
    title : str

    Returns
    -------
    matplotlib.figure.Figure

    References
    ----------
    mmJoints sec. 2.2 (``xi``: how well the radar senses the joint; ``kappa``: how reliable the
    estimate is).
    """
    fig = _figure((8, 4.5))
    sk = _skeleton(skeleton)
    xz = np.asarray(pose, float)[:, [0, 2]]
    for k, (name, values) in enumerate((("sensing score xi", xi), ("reliability score kappa", kappa))):
        ax = fig.add_subplot(1, 2, k + 1)
        for a, b in sk.bone_index:
            ax.plot(xz[[a, b], 0], xz[[a, b], 1], color="0.6", lw=2)
        sc = ax.scatter(xz[:, 0], xz[:, 1], c=np.asarray(values, float), cmap="plasma", vmin=0, vmax=1, s=60,
                        edgecolors="k", zorder=3)
        ax.set_aspect("equal")
        ax.set_xlabel("x (m)")
        ax.set_ylabel("z (m)")
        ax.set_title(name)
        fig.colorbar(sc, ax=ax, shrink=0.8)
    if title:
        fig.suptitle(title)
    return fig


def plot_result_overview(res: PipelineResult, frame: int, truth_keypoints: np.ndarray | None = None):
    """All panels of one result frame: each kept map, the points from the top, the pose.

    Returns
    -------
    matplotlib.figure.Figure
    """
    panels: list[Callable] = []
    for radar in res.maps:
        panels.append(lambda ax, r=radar: plot_result_map(res, r, frame, ax=ax))
    if res.offsets is not None:
        panels.append(lambda ax: _points_top(ax, res.points_frame(frame)))
    if "keypoints" in res.pose:
        truth = None if truth_keypoints is None else truth_keypoints[frame]
        panels.append(lambda ax: plot_keypoints_vs_truth(res.pose["keypoints"][frame], truth, res.skeleton,
                                                         "keypoints", ax=ax))
    elif "joints_plane" in res.pose:
        panels.append(lambda ax: plot_plane_joints(res.pose["joints_plane"][frame], res.skeleton,
                                                   str(res.pose.get("plane", "xz")), "joints", ax=ax))
    if res.describe:
        panels.append(lambda ax: _descriptor_panel(ax, res, frame))
    fig = _figure((4.2 * max(len(panels), 1), 4))
    for k, draw in enumerate(panels):
        draw(fig.add_subplot(1, len(panels), k + 1))
    fig.suptitle(f"{res.path.name} ({res.attrs.get('pipeline', '')}): frame {frame}")
    return fig


def _points_top(ax, pts: np.ndarray) -> None:
    ok = np.isfinite(pts["x"]) & np.isfinite(pts["y"])
    sc = ax.scatter(pts["x"][ok], pts["y"][ok], c=pts["velocity_mps"][ok], cmap="coolwarm", s=14)
    ax.figure.colorbar(sc, ax=ax, label="radial velocity (m/s)")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.set_title(f"points ({ok.sum()})")
    ax.set_aspect("equal", adjustable="datalim")


def _descriptor_panel(ax, res: PipelineResult, frame: int) -> None:
    sk = _skeleton(res.skeleton)
    xz = res.describe["poses"][frame][:, [0, 2]]
    for a, b in sk.bone_index:
        ax.plot(xz[[a, b], 0], xz[[a, b], 1], color="0.6", lw=2)
    sc = ax.scatter(xz[:, 0], xz[:, 1], c=res.describe["xi"][frame], cmap="plasma", vmin=0, vmax=1, s=50,
                    edgecolors="k", zorder=3)
    ax.figure.colorbar(sc, ax=ax, label="xi")
    ax.set_aspect("equal")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("z (m)")
    ax.set_title("3-D joints coloured by xi")


def gif_available() -> bool:
    """Whether Pillow (needed by :class:`matplotlib.animation.PillowWriter`) is importable."""
    return importlib.util.find_spec("PIL") is not None


def animate(draw: Callable[[Any, int], None], frames: list[int], path: str | os.PathLike,
            figsize: tuple[float, float] = (8, 4), fps: float = 5.0, dpi: int = 80,
            force: bool = False) -> Path:
    """Write an animated GIF: ``draw(fig, frame)`` redraws the figure for each frame.

    Parameters
    ----------
    draw : callable
        ``draw(fig, frame)`` fills the (cleared) figure.
    frames : list of int
        Frames to draw, in order.
    path : str or os.PathLike
        Output ``.gif`` (written atomically).
    figsize : (float, float)
        Figure size (inches).
    fps : float
        Frames per second of the GIF.
    dpi : int
        Resolution.
    force : bool
        Replace an existing file.

    Returns
    -------
    Path

    Raises
    ------
    ImportError
        Pillow is not installed.
    StoreError
        Output exists (without ``force``) or cannot be written.
    """
    from matplotlib.animation import FuncAnimation, PillowWriter

    from radarkit.atomic import atomic_output

    if not gif_available():
        raise ImportError("Pillow is not installed (pip install pillow) -- no GIF written")
    fig = _figure(figsize)

    def update(f: int):
        fig.clear()
        draw(fig, f)
        return []

    anim = FuncAnimation(fig, update, frames=list(frames), blit=False)
    with atomic_output(path, force) as tmp:
        gif = tmp.with_name(tmp.name + ".gif")  # PillowWriter picks the format from the suffix
        try:
            anim.save(gif, writer=PillowWriter(fps=fps), dpi=dpi)
            os.replace(gif, tmp)
        finally:
            with contextlib.suppress(FileNotFoundError):
                gif.unlink()
    return Path(path)


def write_sequence_gif(res: PipelineResult, path: str | os.PathLike,
                       truth_keypoints: np.ndarray | None = None, max_frames: int = 100,
                       fps: float = 5.0, force: bool = False) -> tuple[bool, str]:
    """Animate a result: the first kept map beside the pose (or the points) of every frame.

    Parameters
    ----------
    res : PipelineResult
    path : str or os.PathLike
        Output ``.gif``.
    truth_keypoints : ndarray, shape (F, J, 2), optional
        True keypoints drawn beside HuPR's.
    max_frames : int
        At most this many frames (evenly spaced).
    fps : float
    force : bool

    Returns
    -------
    (bool, str)
        Whether the GIF was written, and why not.
    """
    if not gif_available():
        return False, "Pillow is not installed (pip install pillow)"
    frames = np.unique(np.linspace(0, res.n_frames - 1, min(max_frames, res.n_frames)).round().astype(int))
    radar = next(iter(res.maps), None)

    def draw(fig, f: int) -> None:
        n = int(radar is not None) + 1
        k = 1
        if radar is not None:
            plot_result_map(res, radar, f, ax=fig.add_subplot(1, n, k))
            k += 1
        ax = fig.add_subplot(1, n, k)
        if "keypoints" in res.pose:
            truth = None if truth_keypoints is None else truth_keypoints[f]
            plot_keypoints_vs_truth(res.pose["keypoints"][f], truth, res.skeleton, f"frame {f}", ax=ax)
        elif "joints_plane" in res.pose:
            plot_plane_joints(res.pose["joints_plane"][f], res.skeleton, str(res.pose.get("plane", "xz")),
                              f"frame {f}", ax=ax)
        elif res.offsets is not None:
            _points_top(ax, res.points_frame(f))

    animate(draw, [int(f) for f in frames], path, figsize=(9, 4), fps=fps, force=force)
    return True, ""
