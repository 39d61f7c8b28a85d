"""MAEPose figures: original, masked and reconstructed frames of a radar video clip.

References
----------
"MAEPose: Self-Supervised Spatiotemporal Learning for Human Pose Estimation on mmWave Video"
(``shared/papers/maepose.txt``), section 3.1 (masked reconstruction); K. He et al., "Masked
Autoencoders Are Scalable Vision Learners", CVPR 2022 (the original / masked / reconstruction panels).
"""

from __future__ import annotations

import numpy as np

__all__ = ["plot_mae_reconstruction"]


def plot_mae_reconstruction(original: np.ndarray, masked: np.ndarray, reconstructed: np.ndarray,
                            frames: int | tuple[int, ...] = 5, title: str = "",
                            row_labels: tuple[str, str, str] = ("original", "masked (90 %)", "reconstructed"),
                            ):
    """Three rows of map frames: the clip, its visible patches, and the MAE reconstruction.

    Parameters
    ----------
    original, masked, reconstructed : ndarray of float, shape (frame, H, W)
        One channel of a normalised clip (``H`` = Doppler or azimuth bins, ``W`` = range bins);
        ``masked`` is NaN on the masked patches (drawn grey).
    frames : int or tuple of int
        Number of evenly spaced frames shown, or their indices.
    title : str
        Figure title.
    row_labels : (str, str, str)
        Row names.

    Returns
    -------
    matplotlib.figure.Figure
        A pyplot-free figure (save with ``fig.savefig``); one shared colour scale from the original.

    Raises
    ------
    ValueError
        Arrays of different shapes or not 3-D, or a frame index out of range.
    """
    from matplotlib.figure import Figure

    arrays = [np.asarray(a, dtype=np.float64) for a in (original, masked, reconstructed)]
    if arrays[0].ndim != 3 or any(a.shape != arrays[0].shape for a in arrays):
        raise ValueError(f"expected three (frame, H, W) arrays of one shape, got {[a.shape for a in arrays]}")
    n = arrays[0].shape[0]
    idx = (np.linspace(0, n - 1, int(frames)).round().astype(int) if np.isscalar(frames)
           else np.asarray(frames, dtype=int))
    if idx.size == 0 or idx.min() < 0 or idx.max() >= n:
        raise ValueError(f"frame indices {idx.tolist()} outside 0..{n - 1}")
    finite = arrays[0][np.isfinite(arrays[0])]
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    fig = Figure(figsize=(1.9 * len(idx) + 1.2, 5.8), layout="constrained")
    axes = fig.subplots(3, len(idx), squeeze=False)
    im = None
    for r, (arr, label) in enumerate(zip(arrays, row_labels, strict=True)):
        for c, f in enumerate(idx):
            ax = axes[r, c]
            ax.set_facecolor("0.6")
            im = ax.imshow(np.ma.masked_invalid(arr[f]), origin="lower", aspect="auto", cmap="viridis",
                           vmin=vmin, vmax=vmax, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"frame {f}", fontsize=9)
            if c == 0:
                ax.set_ylabel(label, fontsize=9)
    fig.colorbar(im, ax=axes, shrink=0.8, label="normalised power")
    if title:
        fig.suptitle(title)
    fig.text(0.01, 0.005, "x: range bin, y: Doppler/azimuth bin", fontsize=7)
    return fig
