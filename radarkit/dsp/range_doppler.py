"""Range and Range-Doppler processing of raw FMCW cubes.

Input is the parsed raw cube ``(frame, loop, tx_slot, rx, sample)`` of
:meth:`radarkit.io.Recording.read`. Steps (TI SWRA553, sections 3-4; ``architecture.md``):

1. range FFT over samples (windowed; real-sampled data keeps ``N/2`` bins);
2. static clutter removal: subtract the mean over chirp loops (per virtual antenna and range bin),
   which removes zero-velocity returns;
3. TDM-MIMO demultiplexing: ``(tx_slot, rx)`` -> virtual antenna ``tx_slot * n_rx + rx``;
4. Doppler FFT over loops (windowed), fftshifted so zero velocity is in the middle;
5. output complex, linear power ``|X|^2`` or dB ``10 log10 |X|^2``, per virtual antenna or summed
   non-coherently (power summed over virtual antennas).

FFTs are scipy.fft (single-threaded; complex64 stays complex64). No 1/N scaling is applied: with
the default coherent window normalisation a complex tone of amplitude ``A`` (ADC counts) centred
on a range bin has range-FFT magnitude ``A N``; after the Doppler FFT ``A N L``.
"""

from __future__ import annotations

import numpy as np
import scipy.fft

from radarkit.dsp.windows import get_window

__all__ = [
    "OUTPUTS",
    "range_fft",
    "doppler_fft",
    "remove_static_clutter",
    "virtual_antennas",
    "range_cube",
    "range_doppler",
    "to_output",
]

#: Output forms of :func:`range_doppler`.
OUTPUTS = ("complex", "power", "db")
_DB_FLOOR = 1e-12


def _window_along(x: np.ndarray, window: str | np.ndarray | None, axis: int) -> np.ndarray:
    if window is None:
        return x
    n = x.shape[axis]
    w = get_window(window, n) if isinstance(window, str) else np.asarray(window, np.float32)
    if w.shape != (n,):
        raise ValueError(f"window has shape {w.shape}, expected ({n},)")
    shape = [1] * x.ndim
    shape[axis] = n
    return x * w.reshape(shape)


def range_fft(x: np.ndarray, window: str | np.ndarray | None = "hann", n_fft: int | None = None,
              axis: int = -1) -> np.ndarray:
    """Range FFT along the sample axis.

    Parameters
    ----------
    x : ndarray, complex64 or float32
        ADC samples; real input (``sample_format="real"``) keeps the ``n_fft // 2`` positive-
        frequency bins.
    window : str, ndarray or None
        Window name (:mod:`radarkit.dsp.windows`), an explicit window of shape ``(n_samples,)``, or
        None (already windowed, e.g. fused into :func:`radarkit.io.layout.decode_frames`).
    n_fft : int, optional
        FFT length (zero-padding); default the number of samples.
    axis : int
        Sample axis.

    Returns
    -------
    ndarray of complex64
        Same shape with ``axis`` of length ``n_fft`` (complex) or ``n_fft // 2`` (real).
    """
    x = _window_along(x, window, axis)
    n = x.shape[axis] if n_fft is None else int(n_fft)
    if np.iscomplexobj(x):
        return scipy.fft.fft(x.astype(np.complex64, copy=False), n=n, axis=axis)
    spec = scipy.fft.rfft(x.astype(np.float32, copy=False), n=n, axis=axis)
    return np.take(spec, np.arange(n // 2), axis=axis)


def doppler_fft(x: np.ndarray, axis: int, window: str | np.ndarray | None = "hann",
                n_fft: int | None = None, shift: bool = True) -> np.ndarray:
    """Doppler FFT along the chirp-loop axis.

    Parameters
    ----------
    x : ndarray of complex64
        Range spectra with a chirp-loop axis.
    axis : int
        Chirp-loop axis.
    window : str, ndarray or None
        Doppler window.
    n_fft : int, optional
        FFT length; default the number of loops.
    shift : bool
        fftshift so that zero velocity is bin ``n_fft // 2``.

    Returns
    -------
    ndarray of complex64
        ``axis`` becomes the Doppler axis (length ``n_fft``).
    """
    x = _window_along(x, window, axis)
    out = scipy.fft.fft(x.astype(np.complex64, copy=False), n=n_fft, axis=axis)
    return scipy.fft.fftshift(out, axes=axis) if shift else out


def remove_static_clutter(x: np.ndarray, axis: int) -> np.ndarray:
    """Subtract the mean over ``axis`` (chirp loops): removes zero-Doppler (static) returns.

    Parameters
    ----------
    x : ndarray
        Samples or range spectra with a chirp-loop axis.
    axis : int
        Chirp-loop axis.

    Returns
    -------
    ndarray, same shape and dtype.
    """
    return x - x.mean(axis=axis, keepdims=True, dtype=x.dtype)


def virtual_antennas(x: np.ndarray, tx_axis: int = 2) -> np.ndarray:
    """Merge the ``(tx_slot, rx)`` axes into one virtual-antenna axis ``tx_slot * n_rx + rx``.

    Parameters
    ----------
    x : ndarray, shape (..., n_tx, n_rx, ...)
        Data with TX slot at ``tx_axis`` and RX right after it.
    tx_axis : int
        TX slot axis (2 for the raw layout ``(frame, loop, tx_slot, rx, sample)``).

    Returns
    -------
    ndarray with one axis fewer (a view when ``x`` is C-contiguous).
    """
    tx_axis = tx_axis % x.ndim
    shape = x.shape[:tx_axis] + (x.shape[tx_axis] * x.shape[tx_axis + 1],) + x.shape[tx_axis + 2:]
    return x.reshape(shape)


def to_output(power_or_complex: np.ndarray, output: str) -> np.ndarray:
    """Convert complex spectra to ``output`` form: "complex" (unchanged), "power" or "db".

    dB is ``10 log10 |X|^2`` with a floor of -120 dB (no ``-inf`` for empty bins).
    """
    if output not in OUTPUTS:
        raise ValueError(f"unknown output {output!r} (choose from {', '.join(OUTPUTS)})")
    x = power_or_complex
    if output == "complex":
        return x
    power = (x.real * x.real + x.imag * x.imag) if np.iscomplexobj(x) else x
    power = power.astype(np.float32, copy=False)
    if output == "power":
        return power
    return (10.0 * np.log10(np.maximum(power, _DB_FLOOR))).astype(np.float32)


def range_cube(raw: np.ndarray, range_window: str | np.ndarray | None = "hann",
               n_range: int | None = None, clutter_removal: bool = False) -> np.ndarray:
    """Range spectra per chirp loop and virtual antenna.

    Parameters
    ----------
    raw : ndarray, shape (frame, loop, tx_slot, rx, sample)
        Parsed raw cube, complex64 (float32 for real sampling).
    range_window : str, ndarray or None
        Range window (None if it was fused into the parse).
    n_range : int, optional
        Range FFT length.
    clutter_removal : bool
        Subtract the mean over loops.

    Returns
    -------
    ndarray of complex64, shape (frame, loop, virtual, range)
    """
    if raw.ndim != 5:
        raise ValueError(f"raw cube must be (frame, loop, tx_slot, rx, sample), got {raw.shape}")
    spec = range_fft(raw, range_window, n_range, axis=-1)
    if clutter_removal:
        spec = remove_static_clutter(spec, axis=1)
    return virtual_antennas(spec, tx_axis=2)


def range_doppler(
    raw: np.ndarray,
    range_window: str | np.ndarray | None = "hann",
    doppler_window: str | np.ndarray | None = "hann",
    n_range: int | None = None,
    n_doppler: int | None = None,
    clutter_removal: bool = True,
    output: str = "db",
    combine: str = "sum",
) -> np.ndarray:
    """Range-Doppler maps of raw frames.

    Parameters
    ----------
    raw : ndarray, shape (frame, loop, tx_slot, rx, sample)
        Parsed raw cube, complex64 (float32 for real sampling).
    range_window, doppler_window : str, ndarray or None
        Windows (:mod:`radarkit.dsp.windows`, coherent normalisation); None for none / fused.
    n_range, n_doppler : int, optional
        FFT lengths (zero-padding); default samples and loops.
    clutter_removal : bool
        Static clutter removal (mean over loops) before the Doppler FFT.
    output : {"complex", "power", "db"}
        Complex spectra, ``|X|^2`` (float32) or ``10 log10 |X|^2`` (float32, dB).
    combine : {"sum", "none"}
        ``"sum"`` adds power over virtual antennas (non-coherent; needs power or dB output);
        ``"none"`` keeps one map per virtual antenna.

    Returns
    -------
    ndarray
        ``combine="sum"``: RD ``(frame, doppler, range)`` float32. ``combine="none"``: per-antenna
        RD ``(frame, doppler, virtual, range)``. Doppler is fftshifted (zero velocity at
        ``n_doppler // 2``); axis values from :func:`radarkit.dsp.axes.range_axis` and
        :func:`radarkit.dsp.axes.velocity_axis`.

    Raises
    ------
    ValueError
        Bad shape, unknown output/combine, or complex output with ``combine="sum"``.
    """
    if output not in OUTPUTS:
        raise ValueError(f"unknown output {output!r} (choose from {', '.join(OUTPUTS)})")
    if combine not in ("sum", "none"):
        raise ValueError(f"unknown combine {combine!r} (choose 'sum' or 'none')")
    if combine == "sum" and output == "complex":
        raise ValueError("complex output cannot be summed non-coherently; use combine='none'")
    spec = range_cube(raw, range_window, n_range, clutter_removal)  # (F, L, V, R)
    rd = doppler_fft(spec, axis=1, window=doppler_window, n_fft=n_doppler)  # (F, D, V, R)
    if combine == "none":
        return to_output(rd, output)
    power = to_output(rd, "power").sum(axis=2)
    return power if output == "power" else to_output(power, "db")
