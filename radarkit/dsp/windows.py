"""FFT windows with a stated normalisation.

Windows are periodic (the DFT-even form of scipy.signal.get_window with ``fftbins=True``), the usual
choice for spectral analysis. Normalisations:

* ``"coherent"`` (default): ``w / mean(w)``. The coherent gain is 1, so a tone centred on a bin has
  the same FFT peak amplitude with every window (``N * A`` for amplitude ``A``) and dB values are
  comparable across windows.
* ``"energy"``: ``w / sqrt(mean(w**2))``. White noise keeps its power.
* ``"none"``: the window as defined (peak 1).

The rectangular window (``"none"`` or ``"rect"``) is all ones under every normalisation.

References
----------
F. J. Harris, "On the use of windows for harmonic analysis with the discrete Fourier transform",
Proc. IEEE 66(1), 1978.
"""

from __future__ import annotations

import numpy as np
import scipy.signal

__all__ = ["WINDOWS", "NORMALISATIONS", "get_window", "apply_window"]

#: Window names accepted everywhere (``"none"`` and ``"rect"`` are rectangular).
WINDOWS = ("hann", "hamming", "blackman", "none", "rect")
NORMALISATIONS = ("coherent", "energy", "none")


def get_window(name: str | None, n: int, norm: str = "coherent",
               dtype: np.dtype | type = np.float32) -> np.ndarray:
    """Return an ``n``-point window.

    Parameters
    ----------
    name : {"hann", "hamming", "blackman", "none", "rect"} or None
        Window; ``None`` means rectangular.
    n : int
        Length (> 0).
    norm : {"coherent", "energy", "none"}
        Normalisation (module docstring).
    dtype : numpy dtype
        Output dtype (float32 by default, to match complex64 data).

    Returns
    -------
    ndarray, shape (n,)

    Raises
    ------
    ValueError
        Unknown window or normalisation, or ``n < 1``.
    """
    if n < 1:
        raise ValueError(f"window length must be >= 1, got {n}")
    name = "none" if name is None else str(name).lower()
    if name not in WINDOWS:
        raise ValueError(f"unknown window {name!r} (choose from {', '.join(WINDOWS)})")
    if norm not in NORMALISATIONS:
        raise ValueError(f"unknown normalisation {norm!r} (choose from {', '.join(NORMALISATIONS)})")
    if name in ("none", "rect"):
        return np.ones(n, dtype=dtype)
    w = scipy.signal.get_window(name, n, fftbins=True).astype(np.float64)
    if norm == "coherent":
        w = w / w.mean()
    elif norm == "energy":
        w = w / np.sqrt(np.mean(w * w))
    return w.astype(dtype)


def apply_window(x: np.ndarray, name: str | None, axis: int = -1,
                 norm: str = "coherent") -> np.ndarray:
    """Multiply ``x`` by a window along ``axis`` (returns a new array; float32 window).

    Parameters
    ----------
    x : ndarray
        Data, any shape.
    name, norm
        As :func:`get_window`.
    axis : int
        Axis the window runs along.
    """
    w = get_window(name, x.shape[axis], norm)
    shape = [1] * x.ndim
    shape[axis] = -1
    return x * w.reshape(shape)
