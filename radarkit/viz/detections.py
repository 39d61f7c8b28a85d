"""Figures of detections: CFAR mask over a Range-Doppler map, point clouds in 3-D and top view,
and a generic 2-D cube map (range-azimuth and other kinds).

All functions return a pyplot-free :class:`matplotlib.figure.Figure` (no backend or display needed
to save it), as :mod:`radarkit.viz.maps` does.
"""

from __future__ import annotations

import numpy as np

from radarkit.viz.maps import plot_rd

__all__ = ["plot_cfar_mask", "plot_point_cloud", "plot_map"]


def _figure(figsize):
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained")


def plot_cfar_mask(rd_db: np.ndarray, mask: np.ndarray, range_m: np.ndarray, velocity_mps: np.ndarray,
                   title: str = "", dynamic_range_db: float = 60.0, ax=None):
    """Draw a Range-Doppler map in dB with the CFAR detections marked.

    Parameters
    ----------
    rd_db : ndarray, shape (doppler, range)
        Map in dB (``10 log10 |X|^2``).
    mask : ndarray of bool, shape (doppler, range)
        Detected cells (after peak grouping or not).
    range_m : ndarray, shape (range,)
        Range of each bin (m).
    velocity_mps : ndarray, shape (doppler,)
        Radial velocity of each Doppler bin (m/s), fftshifted.
    title : str
        Axes title (the number of detections is appended).
    dynamic_range_db : float
        Colour scale spans ``[max - dynamic_range_db, max]``.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; a new figure otherwise.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        ``mask`` and ``rd_db`` shapes differ.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != np.shape(rd_db):
        raise ValueError(f"mask {mask.shape} and map {np.shape(rd_db)} must have one shape")
    d, r = np.nonzero(mask)
    fig = plot_rd(rd_db, range_m, velocity_mps, title=f"{title} ({len(d)} detections)".strip(),
                  dynamic_range_db=dynamic_range_db, ax=ax)
    ax = fig.axes[0] if ax is None else ax
    ax.scatter(np.asarray(range_m)[r], np.asarray(velocity_mps)[d], s=30, marker="s",
               facecolors="none", edgecolors="red", linewidths=1.0, label="CFAR")
    if len(d):
        ax.legend(loc="upper right")
    return fig


def plot_point_cloud(points: np.ndarray, title: str = "", color: str = "velocity_mps",
                     max_range_m: float | None = None):
    """Draw one frame's point cloud in 3-D and from the top (x-y plane).

    Parameters
    ----------
    points : structured ndarray with fields ``x``, ``y``, ``z`` (m) and ``color``
        One frame of a :class:`radarkit.detect.PointCloud` (``cloud.frame(f)``). Points with
        non-finite positions (no angle) are left out.
    title : str
        Figure title.
    color : str
        Field that colours the points (``"velocity_mps"``, ``"snr_db"``, ``"cluster"``, ...).
    max_range_m : float, optional
        Axis limits (default from the points).

    Returns
    -------
    matplotlib.figure.Figure
        Left: 3-D scatter in the radar frame (x right, y boresight, z up); right: top view with
        the radar at the origin.

    Raises
    ------
    ValueError
        Missing fields.
    """
    for name in ("x", "y", "z", color):
        if points.dtype.names is None or name not in points.dtype.names:
            raise ValueError(f"points need a field {name!r}")
    ok = np.isfinite(points["x"]) & np.isfinite(points["y"]) & np.isfinite(points["z"])
    p = points[ok]
    fig = _figure((11, 5))
    ax3 = fig.add_subplot(1, 2, 1, projection="3d")
    top = fig.add_subplot(1, 2, 2)
    c = p[color].astype(float)
    lim = max_range_m or (float(np.max(np.hypot(p["x"], p["y"]))) * 1.1 if len(p) else 5.0)
    sc = ax3.scatter(p["x"], p["y"], p["z"], c=c, cmap="coolwarm", s=12)
    ax3.set_xlabel("x (m)")
    ax3.set_ylabel("y (m)")
    ax3.set_zlabel("z (m)")
    ax3.set_xlim(-lim, lim)
    ax3.set_ylim(0, lim)
    ax3.set_zlim(-max(1.0, 1.2 * float(np.max(np.abs(p["z"]), initial=0.0))),
                 max(1.0, 1.2 * float(np.max(np.abs(p["z"]), initial=0.0))))
    ax3.set_title("3-D")
    top.scatter(p["x"], p["y"], c=c, cmap="coolwarm", s=12)
    top.scatter([0], [0], marker="^", color="black", s=60, label="radar")
    top.set_xlim(-lim, lim)
    top.set_ylim(0, lim)
    top.set_aspect("equal")
    top.set_xlabel("x (m, right)")
    top.set_ylabel("y (m, boresight)")
    top.set_title(f"top view ({len(p)} points)")
    top.legend(loc="upper right")
    fig.colorbar(sc, ax=top, label=color)
    fig.suptitle(title)
    return fig


def plot_map(values_db: np.ndarray, y_values: np.ndarray, x_values: np.ndarray, y_label: str,
             x_label: str, title: str = "", dynamic_range_db: float = 60.0, ax=None):
    """Draw any 2-D cube map in dB (e.g. range-azimuth ``(azimuth, range)``), axes from its scales.

    Parameters
    ----------
    values_db : ndarray, shape (ny, nx)
        Map in dB.
    y_values, x_values : ndarray, shapes (ny,) and (nx,)
        Coordinates of the rows and columns (e.g. azimuth in rad, range in m); monotone.
    y_label, x_label : str
        Axis labels with units.
    title : str
    dynamic_range_db : float
        Colour scale spans ``[max - dynamic_range_db, max]``.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    if ax is None:
        fig = _figure((7, 4))
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    values_db = np.asarray(values_db, dtype=float)
    top = float(np.max(values_db))
    im = ax.pcolormesh(np.asarray(x_values, float), np.asarray(y_values, float), values_db,
                       shading="nearest", cmap="viridis", vmin=top - dynamic_range_db, vmax=top)
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.set_title(title)
    fig.colorbar(im, ax=ax, label="power (dB)")
    return fig
