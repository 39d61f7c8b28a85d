"""Angle processing of per-antenna spectra: TDM Doppler compensation, virtual-array grid, angle FFT,
Bartlett and Capon (MVDR) beamforming.

Input is typically the per-antenna Range-Doppler cube ``(frame, doppler, virtual, range)`` of
:func:`radarkit.dsp.range_doppler` with ``output="complex", combine="none"``, or the per-loop range
spectra ``(frame, loop, virtual, range)`` of :func:`radarkit.dsp.range_cube` (snapshots for
beamforming). Virtual antenna ``v`` is ``tx_slot * n_rx + rx`` and sits at
``RadarConfig.virtual_positions[v]`` = ``(a, e)`` in lambda/2 units.

Phase convention (the one of the data, see ``tests/test_dsp.py``): a far-field target at azimuth
``az`` and elevation ``el`` (``architecture.md`` radar frame: azimuth positive towards +x, elevation
positive up) gives virtual element ``(a, e)`` the phase

    phi(a, e) = -pi (a sin(az) cos(el) + e sin(el))

relative to element ``(0, 0)``: elements further towards +x (or up) are closer to a target on that
side, so their round trip is shorter. A plain (forward, ``exp(-j ...)``) DFT over elements would
therefore put positive azimuth at *negative* spatial frequency. :func:`angle_fft` uses the
inverse-sign kernel ``exp(+j 2 pi n k / N)`` (``N * ifft``), which is the same as correlating with
the conjugate steering vector, so that after ``fftshift`` positive azimuth/elevation lands in bins
*above* the centre: bin ``k`` of an ``N``-point angle FFT is ``sin(theta) = 2 (k - N//2) / N``
(``shared/specs/raw-format.md``), see :func:`angle_axis`. :func:`steering_vectors` follow the same
convention, so the Bartlett spectrum of an ``M``-element ULA equals ``mean |angle FFT|^2 / M^2`` at the
FFT's angles.

References
----------
TI SWRA554, "MIMO Radar" (TDM-MIMO virtual array, Doppler-induced phase of TDM slots and its
compensation); ``shared/specs/raw-format.md`` ("TDM order and IWR1843BOOST virtual array", angle-bin
formula); J. Capon, "High-resolution frequency-wavenumber spectrum analysis", Proc. IEEE 57(8),
1969 (MVDR); H. L. Van Trees, "Optimum Array Processing", Wiley 2002, ch. 6-7 (diagonal loading).
"""

from __future__ import annotations

import numpy as np

from radarkit.config.radar import RadarConfig
from radarkit.dsp.backends import Backend, get_backend
from radarkit.dsp.windows import get_window

__all__ = [
    "ANGLE_SPACES",
    "DEFAULT_DIAGONAL_LOADING",
    "tdm_doppler_compensation",
    "virtual_array_grid",
    "angle_fft",
    "angle_dft_matrix",
    "virtual_angle_matrix",
    "virtual_row_matrices",
    "tdm_phase",
    "angle_axis",
    "steering_vectors",
    "sample_covariance",
    "bartlett_spectrum",
    "capon_spectrum",
]

#: Units of :func:`angle_axis`: radians or the sine of the angle.
ANGLE_SPACES = ("rad", "sin")
#: Default diagonal loading of :func:`capon_spectrum`, relative to ``trace(R) / n_virtual``.
DEFAULT_DIAGONAL_LOADING = 1e-3


def _check_axis(x: np.ndarray, axis: int, name: str = "axis") -> int:
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"{name} {axis} is out of range for an array of {x.ndim} dimensions")
    return axis % x.ndim


def tdm_doppler_compensation(x: np.ndarray, n_tx: int, doppler_axis: int, virtual_axis: int,
                             n_rx: int, shifted: bool = True) -> np.ndarray:
    """Remove the Doppler phase a moving target adds between the TX slots of a TDM-MIMO loop.

    TX slot ``t`` of a loop is sent ``t`` chirp times after slot 0, i.e. ``t / T`` of a loop time
    later, so a target in signed Doppler bin ``k`` of an ``L``-point Doppler FFT (phase advance
    ``2 pi k / L`` per loop) has an extra phase ``2 pi t k / (T L)`` on every virtual antenna of slot
    ``t``. This multiplies by ``exp(-j 2 pi t k / (T L))`` with ``t = v // n_rx`` for virtual
    antenna ``v`` (``shared/specs/raw-format.md``), which makes the phases across the virtual
    array those of the geometry alone (as if all TX slots had been sent at slot 0's time).

    Parameters
    ----------
    x : ndarray of complex64
        Doppler spectra with a Doppler axis (length ``L``, the Doppler FFT length) and a virtual-
        antenna axis (length ``n_tx * n_rx``), e.g. ``(frame, doppler, virtual, range)``.
    n_tx : int
        TX slots per loop ``T``.
    doppler_axis : int
        Doppler axis of ``x``.
    virtual_axis : int
        Virtual-antenna axis of ``x`` (index ``tx_slot * n_rx + rx``).
    n_rx : int
        RX channels.
    shifted : bool
        True if the Doppler axis is fftshifted (zero velocity at index ``L // 2``, signed bin
        ``k = index - L // 2``); False for the unshifted FFT order (``k = index`` for
        ``index < L / 2``, ``index - L`` above, as :func:`numpy.fft.fftfreq` ``* L``).

    Returns
    -------
    ndarray of complex64
        Same shape as ``x``.

    Raises
    ------
    ValueError
        ``n_tx`` or ``n_rx`` < 1, the virtual axis is not ``n_tx * n_rx`` long, the two axes are the
        same or out of range.

    Notes
    -----
    The compensation assumes the target's velocity is within the unambiguous interval
    ``+-v_max``; a target aliased in Doppler gets the compensation of its aliased bin, which is
    wrong by ``2 pi t / T`` per wrap (TI SWRA554, velocity disambiguation).

    References
    ----------
    TI SWRA554 "MIMO Radar", section on TDM-MIMO and motion-induced phase errors;
    ``shared/specs/raw-format.md``.
    """
    if n_tx < 1 or n_rx < 1:
        raise ValueError(f"n_tx and n_rx must be >= 1, got {n_tx} and {n_rx}")
    x = np.asarray(x)
    d_ax = _check_axis(x, doppler_axis, "doppler_axis")
    v_ax = _check_axis(x, virtual_axis, "virtual_axis")
    if d_ax == v_ax:
        raise ValueError("doppler_axis and virtual_axis must differ")
    if x.shape[v_ax] != n_tx * n_rx:
        raise ValueError(f"virtual axis has {x.shape[v_ax]} antennas, expected n_tx * n_rx = "
                         f"{n_tx} * {n_rx} = {n_tx * n_rx}")
    phase = tdm_phase(n_tx, n_rx, x.shape[d_ax], shifted)  # (L, V)
    shape = [1] * x.ndim
    shape[d_ax], shape[v_ax] = phase.shape
    if d_ax > v_ax:
        phase = phase.T
    return (x.astype(np.complex64, copy=False) * phase.reshape(shape)).astype(np.complex64, copy=False)


def tdm_phase(n_tx: int, n_rx: int, n_doppler: int, shifted: bool = True) -> np.ndarray:
    """Correction factors of :func:`tdm_doppler_compensation`, complex64 ``(n_doppler, n_tx * n_rx)``.

    Entry ``[d, v]`` is ``exp(-j 2 pi t k / (T L))`` for Doppler index ``d`` (signed bin ``k``, see
    ``shifted``), TX slot ``t = v // n_rx``, ``T = n_tx`` and ``L = n_doppler``.

    Raises
    ------
    ValueError
        A count below 1.

    References
    ----------
    TI SWRA554 "MIMO Radar" (motion-induced phase of TDM slots).
    """
    if n_tx < 1 or n_rx < 1 or n_doppler < 1:
        raise ValueError(f"n_tx, n_rx and n_doppler must be >= 1, got {n_tx}, {n_rx}, {n_doppler}")
    if shifted:
        k = np.arange(n_doppler) - n_doppler // 2
    else:
        k = np.round(np.fft.fftfreq(n_doppler) * n_doppler)
    t = np.arange(n_tx * n_rx) // n_rx
    return np.exp(-2j * np.pi * np.outer(k, t) / (n_tx * n_doppler)).astype(np.complex64)


def virtual_array_grid(x: np.ndarray, config_or_positions: RadarConfig | np.ndarray, virtual_axis: int,
                       backend: Backend | None = None) -> tuple[np.ndarray, tuple[int, int]]:
    """Place the virtual antennas on a dense ``(elevation, azimuth)`` grid of lambda/2 steps.

    Antenna ``v`` at ``(a, e)`` (lambda/2 units) goes to grid cell ``(e - e_min, a - a_min)``;
    cells with no antenna are zero. For the IWR1843BOOST with TX order (0, 2, 1) the grid is
    ``2 x 8``: row 0 holds virtual antennas 0..7 at azimuth 0..7, row 1 (raised by lambda/2)
    holds antennas 8..11 at azimuth 2..5.

    Parameters
    ----------
    x : ndarray
        Data with a virtual-antenna axis of length ``n_virtual`` (complex64 kept).
    config_or_positions : RadarConfig or array_like, shape (n_virtual, 2)
        The configuration (its :attr:`RadarConfig.virtual_positions`) or the ``(azimuth,
        elevation)`` positions in lambda/2 units, one row per virtual antenna.
    virtual_axis : int
        Virtual-antenna axis of ``x``.
    backend : Backend, optional
        Array back end of ``x`` (:mod:`radarkit.dsp.backends`; torch tensors with the torch back
        end); default numpy.

    Returns
    -------
    grid : ndarray, same dtype as ``x``
        ``x`` with ``virtual_axis`` replaced by two axes ``(elevation, azimuth)`` at that place,
        e.g. ``(frame, doppler, virtual, range)`` -> ``(frame, doppler, elevation, azimuth,
        range)``.
    grid_shape : tuple of int
        ``(n_elevation, n_azimuth)``.

    Raises
    ------
    ValueError
        Positions are not integers (in lambda/2 units), not of shape ``(n_virtual, 2)`` matching
        the axis, two antennas share a position, or the axis is out of range.

    References
    ----------
    ``shared/specs/raw-format.md`` ("TDM order and IWR1843BOOST virtual array"); TI SWRA554.
    """
    b = get_backend("numpy") if backend is None else backend
    x = b.asarray(x)
    ax = _check_axis(x, virtual_axis, "virtual_axis")
    if isinstance(config_or_positions, RadarConfig):
        pos = config_or_positions.virtual_positions
    else:
        pos = np.asarray(config_or_positions, dtype=np.float64)
    if pos.ndim != 2 or pos.shape != (x.shape[ax], 2):
        raise ValueError(f"positions must have shape ({x.shape[ax]}, 2) for {x.shape[ax]} virtual "
                         f"antennas, got {pos.shape}")
    ipos = np.round(pos).astype(np.int64)
    if not np.all(np.isfinite(pos)) or np.any(np.abs(pos - ipos) > 1e-6):
        raise ValueError("virtual positions must be integers in lambda/2 units to fill a grid, got "
                         f"{pos.tolist()}")
    az = ipos[:, 0] - ipos[:, 0].min()
    el = ipos[:, 1] - ipos[:, 1].min()
    n_el, n_az = int(el.max()) + 1, int(az.max()) + 1
    flat = el * n_az + az
    if len(np.unique(flat)) != len(flat):
        raise ValueError("two virtual antennas share a position; select or combine them first")
    moved = b.moveaxis(x, ax, -1)
    out = b.zeros(tuple(moved.shape[:-1]) + (n_el * n_az,), like=moved)
    out[..., b.const(flat, moved)] = moved
    out = out.reshape(tuple(moved.shape[:-1]) + (n_el, n_az))
    return b.moveaxis(b.moveaxis(out, -1, ax), -1, ax), (n_el, n_az)


def angle_fft(x: np.ndarray, axis: int, n_fft: int, window: str | np.ndarray | None = None) -> np.ndarray:
    """Zero-padded, fftshifted angle FFT over array elements, positive angles in the upper bins.

    Computes ``X[k] = sum_n w[n] x[n] exp(+j 2 pi n k / n_fft)`` (no scaling; ``n_fft * ifft``),
    i.e. the correlation with the conjugate of the data's steering phase ``-pi n sin(theta)``, then
    ``fftshift``: a target at ``sin(theta) = 2 (k - n_fft // 2) / n_fft`` peaks at bin ``k``
    (:func:`angle_axis`), azimuth positive towards +x and elevation positive up above the centre.

    Parameters
    ----------
    x : ndarray of complex64
        Element data; along ``axis`` the elements must be equally spaced by lambda/2 (a ULA row or
        column of :func:`virtual_array_grid`, missing elements zero).
    axis : int
        Element axis.
    n_fft : int
        FFT length, ``>=`` the number of elements (zero-padding).
    window : str, ndarray or None
        Window name (:mod:`radarkit.dsp.windows`, coherent normalisation), an explicit window of
        shape ``(n_elements,)``, or None (rectangular).

    Returns
    -------
    ndarray of complex64
        ``axis`` becomes the angle axis of length ``n_fft``, boresight at ``n_fft // 2``. A unit
        plane wave on ``M`` elements peaks at magnitude ``M`` (rectangular window).

    Raises
    ------
    ValueError
        ``n_fft`` smaller than the number of elements, bad window shape, axis out of range.

    References
    ----------
    ``shared/specs/raw-format.md`` (angle-bin formula); TI SWRA554 (angle FFT over the virtual
    array).
    """
    x = np.asarray(x)
    ax = _check_axis(x, axis)
    m = x.shape[ax]
    if int(n_fft) != n_fft or n_fft < max(m, 1):
        raise ValueError(f"n_fft must be an integer >= the {m} elements, got {n_fft}")
    dft = angle_dft_matrix(m, int(n_fft), window)
    moved = np.moveaxis(x.astype(np.complex64, copy=False), ax, -1)
    return np.moveaxis(moved @ dft.T, -1, ax)


def angle_dft_matrix(n_elements: int, n_fft: int, window: str | np.ndarray | None = None) -> np.ndarray:
    """The linear map of :func:`angle_fft`: ``X = D @ x`` over the element axis.

    ``D[k, n] = w[n] exp(+j 2 pi n (k - n_fft // 2) / n_fft)``, i.e. the zero-padded inverse-sign
    DFT with the ``fftshift`` folded in. Applying it as a matrix product is exact and, for the few
    elements of a radar array (<= 16) and the zero-padded lengths of angle maps, faster than an FFT of
    the mostly-zero padded vector; it also runs unchanged on torch tensors.

    Parameters
    ----------
    n_elements : int
        Elements along the axis (lambda/2 spacing).
    n_fft : int
        Angle bins, ``>= n_elements``.
    window : str, ndarray or None
        Window name (coherent normalisation), explicit ``(n_elements,)`` window, or None.

    Returns
    -------
    ndarray of complex64, shape (n_fft, n_elements)

    Raises
    ------
    ValueError
        ``n_fft < n_elements`` or a window of the wrong shape.
    """
    m, n = int(n_elements), int(n_fft)
    if n < max(m, 1):
        raise ValueError(f"n_fft must be >= the {m} elements, got {n_fft}")
    w = np.ones(m)
    if window is not None:
        w = get_window(window, m) if isinstance(window, str) else np.asarray(window, np.float64)
        if w.shape != (m,):
            raise ValueError(f"window has shape {w.shape}, expected ({m},)")
    k = np.arange(n) - n // 2
    return (np.exp(2j * np.pi * np.outer(k, np.arange(m)) / n) * w).astype(np.complex64)


def virtual_angle_matrix(config_or_positions: RadarConfig | np.ndarray, n_azimuth: int,
                         n_elevation: int | None = None, azimuth_window: str | None = None,
                         elevation_window: str | None = None) -> np.ndarray:
    """Linear map from the virtual antennas to the fftshifted angle bins, in one matrix.

    Equivalent to :func:`virtual_array_grid` followed by :func:`angle_fft` over the grid's rows
    (elevation) and columns (azimuth), but without building the mostly-empty grid:
    ``M[(e, a), v] = D_el[e, el(v)] * D_az[a, az(v)]`` with :func:`angle_dft_matrix` factors. With
    ``n_elevation=None`` it is the zero-elevation cut ``M[a, v] = D_az[a, az(v)]`` (rows summed
    coherently, i.e. the beam steered to elevation 0).

    Parameters
    ----------
    config_or_positions : RadarConfig or array_like, shape (n_virtual, 2)
        Virtual-antenna ``(azimuth, elevation)`` positions in integer lambda/2 units.
    n_azimuth : int
        Azimuth bins.
    n_elevation : int, optional
        Elevation bins; None for the zero-elevation cut.
    azimuth_window, elevation_window : str, optional
        Windows over the grid's columns / rows (coherent normalisation).

    Returns
    -------
    ndarray of complex64
        ``(n_elevation * n_azimuth, n_virtual)`` (row ``e * n_azimuth + a``), or
        ``(n_azimuth, n_virtual)`` for the cut.

    Raises
    ------
    ValueError
        Positions that are not integers, or DFT lengths shorter than the grid.
    """
    az, el = _grid_indices(config_or_positions)
    d_az = angle_dft_matrix(int(az.max()) + 1, n_azimuth, azimuth_window)[:, az]  # (A, V)
    if n_elevation is None:
        return d_az.astype(np.complex64)
    d_el = angle_dft_matrix(int(el.max()) + 1, n_elevation, elevation_window)[:, el]  # (E, V)
    return (d_el[:, None, :] * d_az[None, :, :]).reshape(-1, len(az)).astype(np.complex64)


def _grid_indices(config_or_positions: RadarConfig | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column (azimuth) and row (elevation) grid index of each virtual antenna, int64 ``(V,)``."""
    pos = (config_or_positions.virtual_positions if isinstance(config_or_positions, RadarConfig)
           else np.asarray(config_or_positions, dtype=np.float64))
    ipos = np.round(pos).astype(np.int64)
    if pos.ndim != 2 or pos.shape[1] != 2 or np.any(np.abs(pos - ipos) > 1e-6):
        raise ValueError(f"virtual positions must be integers in lambda/2 units, got {pos.tolist()}")
    return ipos[:, 0] - ipos[:, 0].min(), ipos[:, 1] - ipos[:, 1].min()


def virtual_row_matrices(config_or_positions: RadarConfig | np.ndarray, n_azimuth: int,
                         n_elevation: int, azimuth_window: str | None = None,
                         elevation_window: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`virtual_angle_matrix` factored through the grid's rows: azimuth per row, then elevation.

    ``virtual_angle_matrix(...)`` reshaped to ``(n_elevation, n_azimuth, V)`` equals
    ``sum_i e[:, i, None, None] * a.reshape(n_rows, n_azimuth, V)[i]``: the azimuth spectra of the
    occupied rows (``a``), combined by the elevation DFT over those rows (``e``). With few rows
    (2 on the IWR1843BOOST) this costs a fraction of the dense product.

    Parameters
    ----------
    config_or_positions, n_azimuth, n_elevation, azimuth_window, elevation_window
        As :func:`virtual_angle_matrix`.

    Returns
    -------
    a : ndarray of complex64, shape (n_rows * n_azimuth, n_virtual)
        Row ``i * n_azimuth + k``: azimuth bin ``k`` of the ``i``-th occupied grid row.
    e : ndarray of complex64, shape (n_elevation, n_rows)
        Elevation DFT (window included) evaluated at the occupied rows.

    Raises
    ------
    ValueError
        As :func:`virtual_angle_matrix`.
    """
    az, el = _grid_indices(config_or_positions)
    rows = np.unique(el)
    d_az = angle_dft_matrix(int(az.max()) + 1, n_azimuth, azimuth_window)[:, az]  # (A, V)
    a = np.zeros((len(rows), n_azimuth, len(az)), dtype=np.complex64)
    for i, row in enumerate(rows):
        a[i][:, el == row] = d_az[:, el == row]
    e = angle_dft_matrix(int(el.max()) + 1, n_elevation, elevation_window)[:, rows]
    return a.reshape(-1, len(az)), e.astype(np.complex64)


def angle_axis(n_fft: int, space: str = "rad") -> np.ndarray:
    """Angles of the bins of an fftshifted :func:`angle_fft` (lambda/2 spacing).

    Parameters
    ----------
    n_fft : int
        Angle FFT length (>= 1).
    space : {"rad", "sin"}
        ``"sin"``: ``sin(theta) = 2 (k - n_fft // 2) / n_fft`` for bin ``k`` (``n_fft / 2`` for
        even ``n_fft``, as in ``shared/specs/raw-format.md``; ``n_fft // 2`` is the fftshift centre
        for odd lengths too); ``"rad"``: ``arcsin`` of it. All values satisfy ``-1 <= sin < 1``,
        so every bin has an angle; bin 0 of an even FFT is -pi/2.

    Returns
    -------
    ndarray of float64, shape (n_fft,)
        Increasing; 0 at index ``n_fft // 2``.

    Raises
    ------
    ValueError
        ``n_fft < 1`` or unknown ``space``.
    """
    if int(n_fft) != n_fft or n_fft < 1:
        raise ValueError(f"n_fft must be a positive integer, got {n_fft}")
    if space not in ANGLE_SPACES:
        raise ValueError(f"unknown space {space!r} (choose from {', '.join(ANGLE_SPACES)})")
    n = int(n_fft)
    s = 2.0 * (np.arange(n) - n // 2) / n
    return s if space == "sin" else np.arcsin(s)


def steering_vectors(positions, azimuths_rad, elevation_rad=0.0) -> np.ndarray:
    """Array response to far-field plane waves, in the phase convention of the data.

    ``a_v(az, el) = exp(-j pi (p_v,az sin(az) cos(el) + p_v,el sin(el)))`` for virtual antenna ``v``
    at ``(p_v,az, p_v,el)`` lambda/2 units (unit modulus; the module docstring explains the sign).

    Parameters
    ----------
    positions : RadarConfig or array_like, shape (n_virtual, 2) or (n_virtual,)
        ``(azimuth, elevation)`` positions in lambda/2 units (a 1-D array is azimuth only), or a
        configuration (its :attr:`RadarConfig.virtual_positions`).
    azimuths_rad : array_like, shape (n_angles,)
        Azimuths (rad, positive towards +x).
    elevation_rad : float or array_like, shape (n_angles,)
        Elevation(s) (rad, positive up), broadcast against ``azimuths_rad``.

    Returns
    -------
    ndarray of complex64, shape (n_angles, n_virtual)

    Raises
    ------
    ValueError
        Positions of the wrong shape, or angles that do not broadcast to one dimension.

    References
    ----------
    H. L. Van Trees, "Optimum Array Processing", ch. 2 (array manifold); TI SWRA554.
    """
    if isinstance(positions, RadarConfig):
        positions = positions.virtual_positions
    pos = np.asarray(positions, dtype=np.float64)
    if pos.ndim == 1:
        pos = np.stack([pos, np.zeros_like(pos)], axis=1)
    if pos.ndim != 2 or pos.shape[1] != 2:
        raise ValueError(f"positions must have shape (n_virtual, 2) or (n_virtual,), got {pos.shape}")
    az, el = np.broadcast_arrays(np.atleast_1d(np.asarray(azimuths_rad, np.float64)),
                                 np.asarray(elevation_rad, np.float64))
    if az.ndim != 1:
        raise ValueError(f"angles must be one-dimensional, got shape {az.shape}")
    u = np.sin(az) * np.cos(el)  # (n_angles,)
    w = np.sin(el)
    phase = -np.pi * (np.outer(u, pos[:, 0]) + np.outer(w, pos[:, 1]))
    return np.exp(1j * phase).astype(np.complex64)


def _check_snapshots(snapshots: np.ndarray, steering: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(snapshots)
    a = np.asarray(steering)
    if x.ndim != 2 or x.shape[0] < 1:
        raise ValueError(f"snapshots must have shape (n_snapshots, n_virtual), got {x.shape}")
    if a.ndim != 2 or a.shape[1] != x.shape[1]:
        raise ValueError(f"steering must have shape (n_angles, {x.shape[1]}), got {a.shape}")
    return x.astype(np.complex128), a.astype(np.complex128)


def sample_covariance(snapshots: np.ndarray) -> np.ndarray:
    """Sample covariance ``R = (1 / K) sum_k x_k x_k^H`` of ``K`` array snapshots.

    Parameters
    ----------
    snapshots : ndarray, shape (n_snapshots, n_virtual)
        One snapshot (complex element values, e.g. range-FFT bins of one chirp loop) per row.

    Returns
    -------
    ndarray of complex128, shape (n_virtual, n_virtual)
        Hermitian, positive semi-definite.

    Raises
    ------
    ValueError
        ``snapshots`` is not 2-D or empty.
    """
    x = np.asarray(snapshots)
    if x.ndim != 2 or x.shape[0] < 1:
        raise ValueError(f"snapshots must have shape (n_snapshots, n_virtual), got {x.shape}")
    x = x.astype(np.complex128)
    return x.T @ x.conj() / x.shape[0]


def bartlett_spectrum(snapshots: np.ndarray, steering: np.ndarray) -> np.ndarray:
    """Conventional (Bartlett, delay-and-sum) beamformer power spectrum.

    ``P(theta) = a^H R a / (a^H a)^2`` with ``R`` the :func:`sample_covariance`: the mean power of
    the beam ``w = a / (a^H a)``, so a plane wave of power ``sigma^2`` from ``theta`` gives
    ``P(theta) = sigma^2`` (plus noise power / ``n_virtual``). For a ULA this equals
    ``mean |angle_fft|^2 / M^2`` at the FFT's angles.

    Parameters
    ----------
    snapshots : ndarray, shape (n_snapshots, n_virtual)
        Array snapshots (complex).
    steering : ndarray, shape (n_angles, n_virtual)
        Steering vectors (:func:`steering_vectors`).

    Returns
    -------
    ndarray of float64, shape (n_angles,)
        Power in the snapshots' units squared (linear, not dB).

    Raises
    ------
    ValueError
        Shapes that do not match.

    References
    ----------
    M. S. Bartlett, "Smoothing periodograms from time series with continuous spectra", Nature 161,
    1948; H. L. Van Trees, "Optimum Array Processing", ch. 9.
    """
    x, a = _check_snapshots(snapshots, steering)
    beams = x @ a.conj().T  # (K, n_angles): a^H x_k
    norm = np.sum(np.abs(a) ** 2, axis=1)
    return np.mean(np.abs(beams) ** 2, axis=0) / norm ** 2


def capon_spectrum(snapshots: np.ndarray, steering: np.ndarray,
                   diagonal_loading: float = DEFAULT_DIAGONAL_LOADING) -> np.ndarray:
    """Capon / MVDR (minimum-variance distortionless-response) power spectrum.

    ``P(theta) = 1 / (a^H R_l^-1 a)`` with ``R_l = R + delta (trace(R) / n) I``, ``R`` the
    :func:`sample_covariance` and ``n = n_virtual``. For unit-modulus steering vectors a plane wave
    of power ``sigma^2`` alone in white noise gives ``P(theta) ~ sigma^2`` at its angle, the same
    scale as :func:`bartlett_spectrum`, with far narrower peaks at high SNR.

    Parameters
    ----------
    snapshots : ndarray, shape (n_snapshots, n_virtual)
        Array snapshots (complex), e.g. the range-FFT bin of a target for every chirp loop and
        frame. Capon needs sources that are *not* fully coherent across snapshots (different
        Doppler, or fluctuating relative phase): fully coherent sources make ``R`` rank one in
        the signal subspace and cancel each other.
    steering : ndarray, shape (n_angles, n_virtual)
        Steering vectors (:func:`steering_vectors`).
    diagonal_loading : float
        ``delta >= 0``, relative to the mean element power ``trace(R) / n``. The default
        ``1e-3`` (-30 dB of the mean power) keeps ``R_l`` invertible with fewer snapshots than
        elements and limits the loss from steering mismatch while barely widening the peaks of
        targets up to ~30 dB above the noise; raise it (1e-2 .. 1e-1) for robustness to
        calibration errors, lower it for more resolution at high SNR. ``0`` is plain MVDR (needs
        ``n_snapshots >= n_virtual`` and noise).

    Returns
    -------
    ndarray of float64, shape (n_angles,)
        Power in the snapshots' units squared (linear, not dB).

    Raises
    ------
    ValueError
        Shapes that do not match, negative loading, or a singular ``R_l``.

    References
    ----------
    J. Capon, "High-resolution frequency-wavenumber spectrum analysis", Proc. IEEE 57(8),
    1408-1418, 1969; H. L. Van Trees, "Optimum Array Processing", sections 6.2 (MVDR) and 6.10
    (diagonal loading); TI SWRA554.
    """
    if not diagonal_loading >= 0:
        raise ValueError(f"diagonal_loading must be >= 0, got {diagonal_loading}")
    x, a = _check_snapshots(snapshots, steering)
    r = sample_covariance(x)
    n = r.shape[0]
    r = r + diagonal_loading * (np.trace(r).real / n) * np.eye(n)
    try:
        r_inv_a = np.linalg.solve(r, a.T)  # (n, n_angles)
    except np.linalg.LinAlgError:
        raise ValueError("covariance is singular: use diagonal_loading > 0 or more snapshots") from None
    denom = np.einsum("an,na->a", a.conj(), r_inv_a).real
    if np.any(denom <= 0) or not np.all(np.isfinite(denom)):
        raise ValueError("covariance is singular: use diagonal_loading > 0 or more snapshots")
    return 1.0 / denom
