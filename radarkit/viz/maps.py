"""Figures of 2-D radar maps (Range-Doppler now; range-azimuth with the angle layer)."""

from __future__ import annotations

import numpy as np

__all__ = ["plot_rd"]


def plot_rd(rd_db: np.ndarray, range_m: np.ndarray, velocity_mps: np.ndarray, title: str = "",
            dynamic_range_db: float = 60.0, ax=None, marks=None):
    """Draw one Range-Doppler map in dB.

    Parameters
    ----------
    rd_db : ndarray, shape (doppler, range)
        Map in dB (``10 log10 |X|^2``).
    range_m : ndarray, shape (range,)
        Range of each bin (m).
    velocity_mps : ndarray, shape (doppler,)
        Radial velocity of each Doppler bin (m/s), fftshifted.
    title : str
        Axes title.
    dynamic_range_db : float
        Colour scale spans ``[max - dynamic_range_db, max]``.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; a new figure otherwise.
    marks : sequence of (range_m, velocity_mps), optional
        True target positions, drawn as circles.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if ax is None:  # a pyplot-free Figure: no backend or display needed to save it
        from matplotlib.figure import Figure

        fig = Figure(figsize=(7, 4), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    top = float(np.max(rd_db))
    dr = range_m[1] - range_m[0] if len(range_m) > 1 else 1.0
    dv = velocity_mps[1] - velocity_mps[0] if len(velocity_mps) > 1 else 1.0
    extent = (range_m[0] - dr / 2, range_m[-1] + dr / 2,
              velocity_mps[0] - dv / 2, velocity_mps[-1] + dv / 2)
    im = ax.imshow(rd_db, origin="lower", aspect="auto", extent=extent, cmap="viridis",
                   vmin=top - dynamic_range_db, vmax=top)
    if marks:
        r, v = np.asarray(marks, float).T
        ax.scatter(r, v, s=80, facecolors="none", edgecolors="red", label="truth")
        ax.legend(loc="upper right")
    ax.set_xlabel("range (m)")
    ax.set_ylabel("radial velocity (m/s)")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, label="power (dB)")
    return fig
