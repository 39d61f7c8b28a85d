"""Cube kinds computed from raw frames on any back end: RD, RA, RAD, RAE, VRDAE, RD/RA video.

Every function takes parsed raw frames ``(frame, loop, tx_slot, rx, sample)`` (complex64, as
:class:`~radarkit.io.Recording` returns them; a numpy array, or a torch tensor with the torch
back end) and returns the cube in the axis order of ``architecture.md``:

============  ==============================================  =====================================
kind          axes                                            values
============  ==============================================  =====================================
``rd``        (frame, doppler, range) or per antenna           power / dB (complex per antenna)
              (frame, doppler, virtual_antenna, range)
``rad``       (frame, doppler, azimuth, range)                 complex / power / dB
``ra``        (frame, azimuth, range)                          power / dB, summed over Doppler
``rae``       (frame, elevation, azimuth, range)               power / dB, summed over Doppler
``vrdae``     (frame, doppler, elevation, azimuth, range)      complex; K Doppler bins around zero
``rd-video``  (frame, doppler, range)                          dB (MAEPose's input)
``ra-video``  (frame, azimuth, range)                          dB
============  ==============================================  =====================================

Processing chain (:func:`angle_spectra`): range FFT (window, zero-padding, optional crop to a range
bin interval) -> static clutter removal (mean over chirp loops) -> Doppler FFT (window, fftshift) ->
TDM-MIMO Doppler phase compensation -> board RX phase rotation (AWR1843AOP) -> azimuth and elevation
DFTs over the board's virtual-array grid (:func:`radarkit.dsp.angle.virtual_angle_matrix`:
zero-padded, fftshifted, positive angles above the centre bin). ``rad``/``ra`` use the zero-
elevation cut of the angle spectrum (the grid rows summed coherently, i.e. steered to elevation 0),
so every virtual antenna contributes. Angle bins follow :func:`radarkit.dsp.angle.angle_axis`.

The angle steps are linear in the virtual antennas, so they are folded into one matrix
``(n_elevation * n_azimuth, n_virtual)`` applied as a single large matrix product: exact, faster than
FFTs of mostly-zero padded grids, and identical on numpy and torch.

References
----------
TI SWRA554 "MIMO Radar" (TDM virtual array, Doppler compensation); ``shared/specs/raw-format.md``
(angle-bin formula); S.-P. Lee et al., "HuPR", WACV 2023 (VRDAEMap; the exact official variant is
:mod:`radarkit.dsp.hupr`); Y. Wang et al., "RODNet", WACV 2021 (RA maps).
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from radarkit.config.radar import RadarConfig
from radarkit.dsp.angle import tdm_phase, virtual_angle_matrix, virtual_row_matrices
from radarkit.dsp.backends import Backend, get_backend
from radarkit.dsp.plan import check_complex_out

__all__ = ["ANGLE_KINDS", "range_spectra", "doppler_spectra", "angle_spectra", "power_output",
           "keep_doppler_bins", "doppler_keep_slice", "combine_rows"]

#: Kinds that need angle processing.
ANGLE_KINDS = ("ra", "rad", "rae", "vrdae", "ra-video")

_DB_FLOOR = 1e-12


def _window_const(b: Backend, window: np.ndarray | None, like: Any, axis: int, ndim: int):
    if window is None:
        return None
    shape = [1] * ndim
    shape[axis] = len(window)
    return b.const(np.asarray(window, dtype=np.float32).reshape(shape), like)


def range_spectra(raw: Any, backend: Backend | str | None = None, window: np.ndarray | None = None,
                  n_range: int | None = None, clutter_removal: bool = True,
                  range_bins: tuple[int, int] | None = None) -> Any:
    """Range FFT of raw frames, with optional static clutter removal and range crop.

    Parameters
    ----------
    raw : array, shape (frame, loop, tx_slot, rx, sample), complex64
        Raw frames (numpy, or torch with the torch back end); float32 for real sampling, of which
        the ``n_range // 2`` positive-frequency bins are kept.
    backend : Backend or str, optional
        Back end (:func:`radarkit.dsp.backends.get_backend`); default scipy.
    window : ndarray of float32, shape (sample,), optional
        Range window (already normalised, :func:`radarkit.dsp.windows.get_window`); None for none.
    n_range : int, optional
        Range FFT length (zero-padding); default the sample count.
    clutter_removal : bool
        Subtract the mean over chirp loops (per virtual antenna; done on the samples, which equals
        removing it per range bin since the range FFT is linear, and is more accurate in float32).
    range_bins : (int, int), optional
        Keep range bins ``start:stop`` only.

    Returns
    -------
    array of complex64, shape (frame, loop, virtual_antenna, range)
        Virtual antenna ``tx_slot * n_rx + rx``.

    Raises
    ------
    ValueError
        ``raw`` is not 5-D, or ``range_bins`` is outside the FFT.
    """
    b = get_backend(backend)
    x = b.asarray(raw)
    if x.ndim != 5:
        raise ValueError(f"raw frames must be (frame, loop, tx_slot, rx, sample), got {tuple(x.shape)}")
    f, l_, t, r, s = x.shape
    if clutter_removal:  # before the (linear) FFT: the cancellation then acts on exact samples
        x = x - x.mean(axis=1, keepdims=True)
    w = _window_const(b, window, x, 4, 5)
    n = s if n_range is None else int(n_range)
    spec = b.fft(x * w if w is not None else x, axis=-1, n=n)
    if not b.is_complex(x):  # real sampling: the positive-frequency half
        spec = spec[..., : n // 2]
    if range_bins is not None:
        start, stop = range_bins
        if not 0 <= start < stop <= spec.shape[-1]:
            raise ValueError(f"range_bins {range_bins} outside the {spec.shape[-1]} range bins")
        spec = spec[..., start:stop]
    return spec.reshape(f, l_, t * r, spec.shape[-1])


def doppler_spectra(spec: Any, backend: Backend | str | None = None,
                    window: np.ndarray | None = None, n_doppler: int | None = None) -> Any:
    """fftshifted Doppler FFT over chirp loops (axis 1).

    Parameters
    ----------
    spec : array, shape (frame, loop, virtual_antenna, range), complex64
    backend : Backend or str, optional
    window : ndarray of float32, shape (loop,), optional
        Doppler window (normalised); None for none.
    n_doppler : int, optional
        Doppler FFT length; default the loop count.

    Returns
    -------
    array of complex64, shape (frame, doppler, virtual_antenna, range)
        Zero velocity at index ``n_doppler // 2``.
    """
    b = get_backend(backend)
    w = _window_const(b, window, spec, 1, spec.ndim)
    return b.fftshift(b.fft(spec * w if w is not None else spec, axis=1, n=n_doppler), axis=1)


def doppler_keep_slice(n_doppler: int, keep: int | None) -> slice:
    """Indices of the ``keep`` Doppler bins around zero velocity of an fftshifted axis:
    relative bins ``-keep // 2 .. keep - keep // 2 - 1`` (HuPR keeps -4..+3 of 64 for ``keep=8``).

    Raises
    ------
    ValueError
        ``keep`` not in ``1..n_doppler``.
    """
    if keep is None:
        return slice(0, n_doppler)
    if not 1 <= keep <= n_doppler:
        raise ValueError(f"doppler_bins must be in 1..{n_doppler}, got {keep}")
    start = n_doppler // 2 - keep // 2
    return slice(start, start + keep)


def keep_doppler_bins(rd: Any, keep: int | None) -> Any:
    """``rd[:, doppler_keep_slice(...)]``: the ``keep`` Doppler bins around zero (axis 1)."""
    return rd[:, doppler_keep_slice(rd.shape[1], keep)]


def angle_spectra(rd: Any, config: RadarConfig, backend: Backend | str | None = None,
                  n_azimuth: int = 64, n_elevation: int | None = None,
                  azimuth_window: str | None = None, elevation_window: str | None = None,
                  tdm_compensation: bool = True, doppler_fft_length: int | None = None,
                  out: np.ndarray | None = None) -> Any:
    """Azimuth (and elevation) spectra of per-antenna Doppler spectra.

    Parameters
    ----------
    rd : array, shape (frame, doppler, virtual_antenna, range), complex64
        fftshifted Doppler spectra (:func:`doppler_spectra`), possibly a subset of the Doppler bins
        around zero (:func:`keep_doppler_bins`).
    config : RadarConfig
        Gives the TX slots, RX phase rotation and the virtual-array layout.
    backend : Backend or str, optional
    n_azimuth : int
        Azimuth bins (zero-padded DFT length).
    n_elevation : int, optional
        Elevation bins; None for the zero-elevation cut (returns no elevation axis).
    azimuth_window, elevation_window : str, optional
        Window names over the grid's columns / rows (coherent normalisation).
    tdm_compensation : bool
        Apply the TDM-MIMO Doppler phase compensation (:func:`radarkit.dsp.angle.tdm_phase`).
    doppler_fft_length : int, optional
        Length of the Doppler FFT that produced ``rd`` when only a centred subset of its bins is
        given (needed for the compensation phase); default ``rd.shape[1]``.
    out : ndarray of complex64, optional
        Destination of the 5-D result (numpy back ends, with ``n_elevation``): reusing a buffer
        avoids the page faults of a fresh 16 MB-per-frame array for full 4-D cubes.

    Returns
    -------
    array of complex64
        ``(frame, doppler, azimuth, range)`` without ``n_elevation``, else
        ``(frame, doppler, elevation, azimuth, range)``; angle axes fftshifted, positive azimuth
        (towards +x) and elevation (up) above the centre bin.

    Raises
    ------
    ValueError
        The virtual-antenna axis does not match the configuration, or DFT lengths are too short.
    """
    b = get_backend(backend)
    x = b.asarray(rd)
    n_virtual = config.n_virtual
    if x.ndim != 4 or x.shape[2] != n_virtual:
        raise ValueError(f"per-antenna spectra must be (frame, doppler, {n_virtual} virtual, range), "
                         f"got {tuple(x.shape)}")
    n_dop = x.shape[1]
    if tdm_compensation and config.n_tx > 1:
        full = n_dop if doppler_fft_length is None else int(doppler_fft_length)
        phase = tdm_phase(config.n_tx, config.n_rx, full, shifted=True)[doppler_keep_slice(full, n_dop)]
        x = x * b.const(phase[None, :, :, None], x)
    polarity = np.tile(config.rx_phase, config.n_tx)[None, :]  # board RX polarity (AWR1843AOP)
    f, d, _, r = x.shape
    if n_elevation is None:
        m = virtual_angle_matrix(config, n_azimuth, None, azimuth_window) * polarity
        return b.matmul_axis(b.const(m.astype(np.complex64), x), x, 2)  # (F, D, n_azimuth, R)
    a, e = virtual_row_matrices(config, n_azimuth, n_elevation, azimuth_window, elevation_window)
    rows = b.matmul_axis(b.const((a * polarity).astype(np.complex64), x), x, 2)
    rows = rows.reshape(f, d, e.shape[1], n_azimuth, r)  # azimuth spectra of the occupied rows
    if b.name == "torch":
        return (b.const(e, x)[None, None, :, :, None, None] * rows[:, :, None]).sum(axis=3)
    shape = (f, d, n_elevation, n_azimuth, r)
    if out is None:
        out = np.empty(shape, dtype=np.complex64)
    else:
        check_complex_out(out, shape)
    return combine_rows(np.ascontiguousarray(rows), e, out)


def power_output(x: Any, output: str, backend: Backend | str | None = None,
                 sum_axis: int | None = None) -> Any:
    """Complex spectra to ``output`` form, optionally summing power over ``sum_axis``.

    Parameters
    ----------
    x : array of complex64
    output : {"complex", "power", "db", "db_of_power"}
        ``power`` is ``|x|^2`` (ADC counts squared, float32); ``db`` is ``10 log10`` of it with a
        -120 dB floor; ``db_of_power`` converts an ``x`` that already is power.
    backend : Backend or str, optional
    sum_axis : int, optional
        Axis over which power is summed (non-coherent integration) before the dB conversion.

    Raises
    ------
    ValueError
        Unknown output, or complex output with ``sum_axis``.
    """
    b = get_backend(backend)
    if output == "db_of_power":  # x is already power
        return 10.0 * b.log10(b.maximum(x, _DB_FLOOR))
    if output not in ("complex", "power", "db"):
        raise ValueError(f"unknown output {output!r} (choose complex, power or db)")
    if output == "complex":
        if sum_axis is not None:
            raise ValueError("complex spectra cannot be summed non-coherently")
        return x
    p = b.power(x)
    if sum_axis is not None:
        p = p.sum(axis=sum_axis)
    if output == "power":
        return p
    return 10.0 * b.log10(b.maximum(p, _DB_FLOOR))


@numba.njit(cache=True, nogil=True)
def _combine_rows_f32(rows, er, ei, out):  # pragma: no cover - compiled
    # rows: float32 (F, D, n_rows, 2M), out: float32 (F, D, K, 2M) -- complex values as (re, im)
    # pairs, so that the loops vectorise; er/ei: float32 (K, n_rows), the elevation DFT.
    # out[f, d, k] = sum_i e[k, i] rows[f, d, i], rows 0 and 1 in the same pass (one write of the
    # output, which dominates: 16 MB per frame for a 64 x 64 x 64 x 8 cube).
    n_f, n_d, n_rows, m2 = rows.shape
    n_k = er.shape[0]
    m = m2 // 2
    for f in range(n_f):
        for d in range(n_d):
            s0 = rows[f, d, 0]
            s1 = rows[f, d, min(1, n_rows - 1)]
            for k in range(n_k):
                o = out[f, d, k]
                ar = er[k, 0]
                ai = ei[k, 0]
                br = er[k, 1] if n_rows > 1 else np.float32(0.0)
                bi = ei[k, 1] if n_rows > 1 else np.float32(0.0)
                for j in range(m):
                    x0r = s0[2 * j]
                    x0i = s0[2 * j + 1]
                    x1r = s1[2 * j]
                    x1i = s1[2 * j + 1]
                    o[2 * j] = ar * x0r - ai * x0i + br * x1r - bi * x1i
                    o[2 * j + 1] = ar * x0i + ai * x0r + br * x1i + bi * x1r
                for i in range(2, n_rows):
                    si = rows[f, d, i]
                    cr = er[k, i]
                    ci = ei[k, i]
                    for j in range(m):
                        o[2 * j] += cr * si[2 * j] - ci * si[2 * j + 1]
                        o[2 * j + 1] += cr * si[2 * j + 1] + ci * si[2 * j]


def combine_rows(rows: np.ndarray, e: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Elevation DFT over the occupied virtual-array rows: ``out[..., k, :, :] = sum_i e[k, i]
    rows[..., i, :, :]``.

    Parameters
    ----------
    rows : ndarray of complex64, shape (frame, doppler, n_rows, azimuth, range)
        Azimuth spectra of the occupied grid rows (C-contiguous).
    e : ndarray of complex, shape (n_elevation, n_rows)
        Elevation DFT at the occupied rows (:func:`radarkit.dsp.angle.virtual_row_matrices`).
    out : ndarray of complex64, shape (frame, doppler, n_elevation, azimuth, range)
        C-contiguous destination.

    Returns
    -------
    ndarray of complex64
        ``out``.
    """
    f, d, n_rows, n_a, n_r = rows.shape
    er = np.ascontiguousarray(np.real(e), dtype=np.float32)
    ei = np.ascontiguousarray(np.imag(e), dtype=np.float32)
    _combine_rows_f32(rows.reshape(f, d, n_rows, n_a * n_r).view(np.float32), er, ei,
                      out.reshape(f, d, e.shape[0], n_a * n_r).view(np.float32))
    return out
