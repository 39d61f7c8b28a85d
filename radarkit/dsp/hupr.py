"""HuPR's VRDAEMap, reproduced exactly as the official preprocessing computes it (``mode="hupr"``).

The official ``process_iwr1843.py`` of HuPR (``shared/specs/raw-format.md``, last section) does, per
frame and radar:

1. read I-first samples, 256 samples x 4 RX x 192 chirps (64 loops x 3 TX); TDM demux: chirp
   ``% 3 == 0`` -> virtual antennas 0..3, ``== 2`` -> 4..7 (together the azimuth row), ``== 1`` ->
   the elevated row of 4;
2. subtract the mean over the 64 loops (per antenna and sample);
3. 2-D FFT over (loop, sample): 64-point Doppler x 256-point range, no window;
4. zero-pad the azimuth row to 64 at indices 0..7, place the elevated 4 at azimuth 2..5, stack the
   rows on an elevation axis zero-padded to 8;
5. 8-point elevation FFT *only on azimuth columns 2..5* (columns 0, 1, 6, 7 keep their raw values
   in row 0: a quirk), then a 64-point azimuth FFT on every row;
6. keep range bins 94 down to 31 (descending; output index 0 is bin 94);
7. fftshift over Doppler and keep 16 bins (shifted indices 24..39, relative -8..+7);
8. per Doppler slice, fftshift over (azimuth, elevation), then flip both axes;
9. save complex128 ``(16 doppler, 64 range, 64 azimuth, 8 elevation)``; training uses the central 8
   Doppler bins (relative -4..+3).

:func:`hupr_vrdae` gives the same numbers in radarkit's canonical VRDAE order
``(frame, doppler, elevation, azimuth, range)`` and complex64, computing only what is kept: the
demultiplexing of step 1, the grid of step 4, the two angle FFTs of step 5 and the shift and
flip of step 8 are all linear in the 12 virtual antennas and are folded into one ``(512, 12)``
matrix (:func:`_hupr_angle_matrix`) applied per (frame, Doppler bin); the Doppler FFT is
evaluated only at the kept bins. Steps 1-9 literally, one FFT call per step, are in
``tests/test_hupr_vrdae.py`` and the two agree to 1e-5 relative.

Axes. The forward DFTs of step 5 put a target at positive azimuth (towards +x) at negative spatial
frequency; step 8's shift and flip then move it *above* the centre, one bin lower than radarkit's own
angle FFT: azimuth bin ``k`` of 64 is at ``sin(theta) = 2 (k - 32 + 1) / 64`` and elevation bin ``k``
of 8 at ``sin(phi) = 2 (k - 4 + 1) / 8`` (:func:`hupr_angle_axis`). Doppler is the usual fftshifted
axis; range index ``i`` is range bin ``94 - i``.

References
----------
.. [1] S.-P. Lee, N. P. Kini, W.-H. Peng, C.-W. Ma, J.-N. Hwang, "HuPR: A Benchmark for Human Pose
   Estimation Using Millimeter Wave Radar", WACV 2023, section 3 (VRDAEMap), and the official
   repository robert80203/HuPR-A-Benchmark-for-Human-Pose-Estimation-Using-Millimeter-Wave-Radar
   (``preprocessing/process_iwr1843.py``).
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from radarkit.config.radar import RadarConfig
from radarkit.dsp.backends import Backend, get_backend
from radarkit.errors import ConfigError

__all__ = ["HUPR_RANGE_BINS", "HUPR_N_AZIMUTH", "HUPR_N_ELEVATION", "check_hupr_config",
           "hupr_vrdae", "hupr_range_bins", "hupr_angle_axis"]

#: Range bins HuPR keeps, in its (descending) output order: 94, 93, ..., 31.
HUPR_RANGE_BINS = np.arange(94, 30, -1)
#: Azimuth and elevation FFT lengths of the official preprocessing.
HUPR_N_AZIMUTH = 64
HUPR_N_ELEVATION = 8
#: Virtual-array layout the official TDM demux assumes, ``(azimuth, elevation)`` in lambda/2 units
#: of virtual antennas ``slot * 4 + rx``: slot 0 -> azimuth 0..3, slot 1 -> the elevated row at
#: azimuth 2..5, slot 2 -> azimuth 4..7.
_HUPR_LAYOUT = np.array([[a, 0] for a in range(4)] + [[a, 1] for a in range(2, 6)]
                        + [[a, 0] for a in range(4, 8)], dtype=np.float64)


@numba.njit(cache=True, nogil=True)
def _assemble(spectra, weights, e_first, out):  # pragma: no cover - compiled
    # out[f, d, e] = inner + weights[e] * elevated (+ outer where e == e_first), one pass
    n_f, n_d, _, n_a, n_r = spectra.shape
    for f in range(n_f):
        for d in range(n_d):
            for e in range(weights.shape[0]):
                w = weights[e]
                for a in range(n_a):
                    for r in range(n_r):
                        v = spectra[f, d, 1, a, r] + w * spectra[f, d, 2, a, r]
                        if e == e_first:
                            v += spectra[f, d, 0, a, r]
                        out[f, d, e, a, r] = v


def hupr_range_bins(n_range: int = 256) -> np.ndarray:
    """Range-bin indices HuPR keeps (descending 94..31), int64 ``(64,)``.

    Raises
    ------
    ValueError
        ``n_range`` below 95 (the range FFT must contain bin 94).
    """
    if n_range < 95:
        raise ValueError(f"HuPR keeps range bins 94..31: the range FFT needs >= 95 bins, got {n_range}")
    return HUPR_RANGE_BINS.copy()


def hupr_angle_axis(n_fft: int, space: str = "rad") -> np.ndarray:
    """Angles of HuPR's azimuth (``n_fft=64``) or elevation (``n_fft=8``) bins after its shift and flip.

    Bin ``k`` is at ``sin = 2 (k - n_fft // 2 + 1) / n_fft`` (one bin below radarkit's
    :func:`radarkit.dsp.angle.angle_axis`; the last bin is at +90 degrees).

    Parameters
    ----------
    n_fft : int
    space : {"rad", "sin"}

    Returns
    -------
    ndarray of float64, shape (n_fft,)

    Raises
    ------
    ValueError
        ``n_fft < 2`` or unknown ``space``.
    """
    if n_fft < 2 or space not in ("rad", "sin"):
        raise ValueError(f"need n_fft >= 2 and space 'rad' or 'sin', got {n_fft}, {space!r}")
    s = 2.0 * (np.arange(n_fft) - n_fft // 2 + 1) / n_fft
    return s if space == "sin" else np.arcsin(s)


def check_hupr_config(config: RadarConfig) -> None:
    """Check that ``config`` is a layout the official HuPR demux interprets correctly.

    Raises
    ------
    ConfigError
        Not complex 3 TX x 4 RX with the TDM order of the ``hupr`` preset (TX slot 1 the elevated
        TX1 of an IWR1843BOOST), or fewer than 95 range bins. The message says what to change.
    """
    if not config.is_complex or config.n_tx != 3 or config.n_rx != 4:
        raise ConfigError(f"HuPR mode needs complex samples from 3 TX x 4 RX, got {config.n_tx} TX x "
                          f"{config.n_rx} RX ({config.sample_format})", field="tx_order")
    if not np.array_equal(config.virtual_positions - config.virtual_positions.min(axis=0),
                          _HUPR_LAYOUT):
        raise ConfigError(
            f"HuPR mode assumes TDM slot 1 is the elevated TX (order TX0, TX1, TX2 on an "
            f"IWR1843BOOST), but tx_order {config.tx_order} on {config.board} places the virtual "
            "antennas differently; use the 'hupr' preset's tx_order (0, 1, 2) or --mode full",
            field="tx_order")
    hupr_range_bins(config.n_samples)


def _flip_shift_index(n: int) -> np.ndarray:
    """Source index of each output index after ``fftshift`` then ``flip`` of an ``n``-axis."""
    return (n - 1 - np.arange(n) + n // 2) % n


def _hupr_angle_matrix() -> np.ndarray:
    """Steps 4, 5 and 8 for one (Doppler, range) cell as one matrix, complex128 ``(8 * 64, 12)``.

    Columns are the elements in the order ``[slot 0 rx 0..3, slot 2 rx 0..3, slot 1 rx 0..3]``:
    azimuth 0..7 of row 0, then the elevated row at azimuth 2..5. Row ``e * 64 + a`` is output
    elevation ``e``, azimuth ``a`` after step 8's shift and flip: with ``pe``/``pa`` the source
    index of each output index (:func:`_flip_shift_index`) and ``D[a, j] =
    exp(-2j pi pa[a] j / 64)``, row-0 columns 2..5 contribute ``D[a, j]`` to every elevation (their
    elevation FFT sees the element at elevation 0), the elevated row ``exp(-2j pi pe[e] / 8)
    D[a, j]``, and columns 0, 1, 6, 7 -- which skip the elevation FFT -- ``D[a, j]`` only where
    ``pe[e] == 0``.
    """
    pa = _flip_shift_index(HUPR_N_AZIMUTH)
    pe = _flip_shift_index(HUPR_N_ELEVATION)
    dft = np.exp(-2j * np.pi * np.outer(pa, np.arange(8)) / HUPR_N_AZIMUTH)  # (64, 8)
    w = np.exp(-2j * np.pi * pe / HUPR_N_ELEVATION)  # (8,)
    m = np.zeros((HUPR_N_ELEVATION, HUPR_N_AZIMUTH, 12), dtype=np.complex128)
    for j in range(8):
        if 2 <= j <= 5:
            m[:, :, j] = dft[None, :, j]
        else:
            m[pe == 0, :, j] = dft[:, j]
    for k in range(4):
        m[:, :, 8 + k] = w[:, None] * dft[None, :, 2 + k]
    return m.reshape(HUPR_N_ELEVATION * HUPR_N_AZIMUTH, 12)


def hupr_vrdae(raw: Any, config: RadarConfig, doppler_bins: int = 8,
               backend: Backend | str | None = None, clutter_removed: bool = False) -> Any:
    """HuPR's VRDAEMap of raw frames, exactly as the official preprocessing computes it.

    Parameters
    ----------
    raw : array, shape (frame, 64 loop, 3 tx_slot, 4 rx, 256 sample), complex64
        Raw frames in the ``hupr`` preset's TDM order (:func:`check_hupr_config`).
    config : RadarConfig
    doppler_bins : int
        Doppler bins kept around zero (relative ``-K//2 .. K - K//2 - 1``): 8 is what HuPR's
        training reads, 16 what its script stores.
    backend : Backend or str, optional
        numpy / scipy / fftw / torch (:mod:`radarkit.dsp.backends`).
    clutter_removed : bool
        ``raw`` already has the mean over loops removed (step 2 done while decoding, as
        :class:`radarkit.dsp.cubes.CubeTransform` does).

    Returns
    -------
    array of complex64, shape (frame, doppler_bins, 8 elevation, 64 azimuth, 64 range)
        Canonical VRDAE order; the official array ``(doppler, range, azimuth, elevation)`` is
        ``out[f].transpose(0, 3, 2, 1)``. Range index 0 is range bin 94 (descending).

    Raises
    ------
    ConfigError
        ``config`` is not a HuPR layout.
    ValueError
        ``raw`` does not match ``config`` or ``doppler_bins`` is out of range.
    """
    check_hupr_config(config)
    b = get_backend(backend)
    x = b.asarray(raw)
    if tuple(x.shape[1:]) != config.raw_shape:
        raise ValueError(f"raw frames of shape {tuple(x.shape[1:])} do not match {config.raw_shape}")
    n_loops = config.n_loops
    if not 1 <= doppler_bins <= n_loops:
        raise ValueError(f"doppler_bins must be in 1..{n_loops}, got {doppler_bins}")
    f = x.shape[0]
    # step 2: static clutter removal (skipped when the decoder already removed it)
    if not clutter_removed:
        x = x - x.mean(axis=1, keepdims=True)
    # steps 3 (range part) and 6: 256-point range FFT, keep bins 94..31
    spec = b.fft(x, axis=-1, n=config.n_samples)[..., b.const(HUPR_RANGE_BINS, x)]  # (F, L, T, R, 64)
    # steps 3 (Doppler part) and 7: the kept bins of the fftshifted 64-point Doppler FFT, as a DFT
    rel = np.arange(doppler_bins) - doppler_bins // 2
    dft_d = np.exp(-2j * np.pi * np.outer(rel % n_loops, np.arange(n_loops)) / n_loops)
    dop = b.matmul_axis(b.const(dft_d.astype(np.complex64), spec), spec, 1)  # (F, D, T, R, 64)
    # steps 1 (element order), 4, 5 and 8: one matrix over the 12 elements per (frame, Doppler)
    n_r = spec.shape[-1]
    elements = dop[:, :, [0, 2, 1]].reshape(f, doppler_bins, 12, n_r)
    # the (512, 12) matrix has rank-3 structure: three 64-bin azimuth spectra (outer row-0
    # columns, inner row-0 columns, elevated row) combine with per-elevation weights
    full = _hupr_angle_matrix().reshape(HUPR_N_ELEVATION, HUPR_N_AZIMUTH, 12)
    e_first = int(np.flatnonzero(_flip_shift_index(HUPR_N_ELEVATION) == 0)[0])
    e_other = (e_first + 1) % HUPR_N_ELEVATION
    outer_cols, inner_cols, elev_cols = [0, 1, 6, 7], [2, 3, 4, 5], [8, 9, 10, 11]
    m3 = np.zeros((3, HUPR_N_AZIMUTH, 12), dtype=np.complex128)
    m3[0][:, outer_cols] = full[e_first][:, outer_cols]
    m3[1][:, inner_cols] = full[e_other][:, inner_cols]
    m3[2][:, elev_cols] = full[0][:, elev_cols] / np.exp(-2j * np.pi * _flip_shift_index(8)[0] / 8)
    weights = np.exp(-2j * np.pi * _flip_shift_index(HUPR_N_ELEVATION) / HUPR_N_ELEVATION)
    spectra = b.matmul_axis(b.const(m3.reshape(-1, 12).astype(np.complex64), dop), elements, 2)
    spectra = spectra.reshape(f, doppler_bins, 3, HUPR_N_AZIMUTH, n_r)
    if b.name == "torch":
        w = b.const(weights.astype(np.complex64)[None, None, :, None, None], dop)
        out = spectra[:, :, 1:2] + w * spectra[:, :, 2:3]
        out[:, :, e_first] += spectra[:, :, 0]
    else:
        out = np.empty((f, doppler_bins, HUPR_N_ELEVATION, HUPR_N_AZIMUTH, n_r), dtype=np.complex64)
        _assemble(np.ascontiguousarray(spectra), weights.astype(np.complex64), e_first, out)
    return out  # (F, D, 8, 64, R)
