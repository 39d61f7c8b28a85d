"""AWC figures: per-modality Shapley contributions over training.

References
----------
M. Qi et al., "Towards Balanced Multi-Modal Learning in 3D Human Pose Estimation"
(``awc-balanced-multimodal.txt``), Sec. 3.2 (Shapley contributions, eq. 1, 4, 5) and Fig. 1/5
(modality contributions during training, with and without AWC).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["plot_shapley_curves"]


def plot_shapley_curves(runs: Mapping[str, np.ndarray | Sequence[Sequence[float]]], modalities: Sequence[str],
                        window_epochs: int | None = None, title: str = ""):
    """Shapley value and share of each modality per epoch, one column per run.

    Parameters
    ----------
    runs : mapping of str to array-like, shape (epoch, M)
        Per run label (e.g. ``"baseline"``, ``"AWC"``), the mean Shapley value of each modality
        per epoch (:attr:`radarkit.train.awc.AWCHistory.shapley`; profit units: summed Pearson
        correlations over the ``3 J`` coordinates).
    modalities : sequence of str
        Names of the ``M`` columns.
    window_epochs : int, optional
        ``K``, the AWC learning window; drawn as a shaded band on the runs labelled with "AWC".
    title : str
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        A pyplot-free figure (save with ``fig.savefig``): top row the Shapley values, bottom row
        each modality's share of the summed positive values (%).

    Raises
    ------
    ValueError
        No run, or a run whose array is not ``(epoch, M)``.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    if not runs:
        raise ValueError("no runs to plot")
    arrays = {k: np.asarray(v, dtype=np.float64) for k, v in runs.items()}
    m = len(modalities)
    for k, a in arrays.items():
        if a.ndim != 2 or a.shape[1] != m or a.shape[0] == 0:
            raise ValueError(f"run {k!r}: expected shape (epoch, {m}), got {a.shape}")
    fig = Figure(figsize=(4.2 * len(arrays) + 0.6, 6.0), layout="constrained")
    axes = fig.subplots(2, len(arrays), squeeze=False, sharex="col")
    colours = [f"C{i}" for i in range(m)]
    for c, (label, a) in enumerate(arrays.items()):
        epochs = np.arange(1, a.shape[0] + 1)
        pos = np.clip(a, 0, None)
        total = pos.sum(axis=1, keepdims=True)
        share = np.divide(100.0 * pos, total, out=np.full_like(pos, np.nan), where=total > 0)
        for i, name in enumerate(modalities):
            axes[0, c].plot(epochs, a[:, i], marker="o", ms=3, color=colours[i], label=name)
            axes[1, c].plot(epochs, share[:, i], marker="o", ms=3, color=colours[i], label=name)
        if window_epochs and "awc" in label.lower():
            for ax in axes[:, c]:
                ax.axvspan(0.5, window_epochs + 0.5, color="0.9", zorder=0, label="AWC window")
        axes[0, c].set_title(label)
        axes[0, c].set_ylabel("Shapley value (sum of Pearson r)")
        axes[1, c].set_ylabel("share of positive Shapley (%)")
        axes[1, c].set_xlabel("epoch")
        axes[1, c].set_ylim(0, 100)
        axes[1, c].xaxis.set_major_locator(MaxNLocator(integer=True))
        for ax in axes[:, c]:
            ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig
