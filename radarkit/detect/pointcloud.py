"""Radar point clouds: CFAR detections of Range-Doppler maps with their angles and positions.

Chain (TI mmWave SDK object detection; ``architecture.md``):

1. power of the per-antenna RD cube ``(frame, doppler, virtual, range)`` summed over the virtual
   antennas (non-coherent integration);
2. 2-D CFAR (:mod:`radarkit.detect.cfar`) and peak grouping (:mod:`radarkit.detect.peaks`);
3. per detection, angle of arrival on the virtual array (:mod:`radarkit.dsp.angle`): TDM-MIMO
   Doppler compensation of the cell's antenna values, placement on the ``(elevation, azimuth)``
   grid, zero-padded azimuth FFT of every grid row, azimuth peak(s) of the power summed over the
   rows with parabolic interpolation of the dB spectrum, then elevation from an FFT across the
   rows at the azimuth peak (arrays with more than one row, e.g. the IWR1843BOOST's 3-TX layout).
   Several azimuth peaks per cell are allowed (``max_angle_peaks``). With ``angle_method="capon"``
   the azimuth comes from a Capon (MVDR) scan instead, with the cell and its 8 RD neighbours as
   snapshots, at the FFT's elevation;
4. position in the radar frame (x right, y boresight, z up; :mod:`radarkit.coords`).

A :class:`PointCloud` is one flat table of all points (numpy structured array, columns
:data:`POINT_COLUMNS`) plus per-frame offsets, the layout of the HDF5 points file
(:mod:`radarkit.io.points`).

Units: range and positions in m, radial velocity in m/s (positive receding), angles in rad
(azimuth positive towards +x, elevation positive up), SNR and intensity in dB.

References
----------
TI SWRA554 "MIMO Radar" (virtual array, TDM Doppler compensation, angle FFT); TI mmWave SDK
object detection DPU (CFAR, peak grouping, AoA); M. A. Richards, "Fundamentals of Radar Signal
Processing", 2nd ed., 2014, sec. 5.3.2 (quadratic interpolation of spectral peaks);
J. Capon, Proc. IEEE 57(8), 1969 (MVDR).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from radarkit.config.radar import RadarConfig
from radarkit.coords import spherical_to_cartesian
from radarkit.detect.cfar import CfarParams, cfar_2d
from radarkit.detect.peaks import group_peaks
from radarkit.dsp.angle import (
    angle_axis,
    angle_fft,
    capon_spectrum,
    steering_vectors,
    tdm_doppler_compensation,
    virtual_array_grid,
)
from radarkit.dsp.axes import range_axis, velocity_axis
from radarkit.dsp.plan import rd_power
from radarkit.dsp.range_doppler import range_doppler

__all__ = [
    "POINT_COLUMNS",
    "POINT_DTYPE",
    "POINT_UNITS",
    "PointCloud",
    "PointCloudParams",
    "detect_rd",
    "points_from_rd",
    "points_from_power",
    "points_from_rad",
    "point_cloud",
    "rd_power",
    "save_point_cloud",
    "load_point_cloud",
]

#: Columns of a point cloud: (name, dtype, units, meaning).
POINT_COLUMNS: tuple[tuple[str, str, str, str], ...] = (
    ("range_m", "f4", "m", "range of the detection's range bin"),
    ("velocity_mps", "f4", "m/s", "radial velocity of its Doppler bin, positive receding"),
    ("azimuth_rad", "f4", "rad", "azimuth, positive towards +x (NaN without per-antenna data)"),
    ("elevation_rad", "f4", "rad", "elevation, positive up (0 for a single-row array)"),
    ("x", "f4", "m", "radar frame: right of boresight"),
    ("y", "f4", "m", "radar frame: along boresight"),
    ("z", "f4", "m", "radar frame: up"),
    ("snr_db", "f4", "dB", "cell power over the CFAR noise estimate"),
    ("intensity_db", "f4", "dB", "cell power 10 log10 |X|^2 summed over virtual antennas"),
    ("doppler_bin", "i4", "1", "Doppler bin (fftshifted axis index)"),
    ("range_bin", "i4", "1", "range bin"),
    ("cluster", "i4", "1", "cluster label within the frame, -1 noise / not clustered"),
)
#: numpy structured dtype of a point table.
POINT_DTYPE = np.dtype([(name, dt) for name, dt, _, _ in POINT_COLUMNS])
#: Units of each column.
POINT_UNITS = {name: unit for name, _, unit, _ in POINT_COLUMNS}


# ------------------------------------------------------------------------------------------------
# the point-cloud type
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PointCloud:
    """Per-frame, variable-length radar point cloud: one flat table plus frame offsets.

    Parameters
    ----------
    table : structured ndarray of :data:`POINT_DTYPE`, shape (n_points,)
        All points, frame after frame.
    offsets : ndarray of int64, shape (n_frames + 1,)
        The points of frame ``f`` are ``table[offsets[f]:offsets[f + 1]]``.
    frame_start : int
        Index of frame 0 in the source recording.

    Raises
    ------
    ValueError
        Wrong dtype, offsets that do not rise from 0 to ``n_points``.

    Examples
    --------
    >>> pc = PointCloud.empty(3)
    >>> pc.n_frames, len(pc)
    (3, 0)
    """

    table: np.ndarray
    offsets: np.ndarray
    frame_start: int = 0

    def __post_init__(self) -> None:
        table = np.asarray(self.table)
        if table.dtype != POINT_DTYPE:
            try:
                conv = np.zeros(len(table), POINT_DTYPE)
                for name in POINT_DTYPE.names:
                    conv[name] = table[name]
            except (ValueError, KeyError, TypeError):
                raise ValueError(f"table must have the columns of POINT_DTYPE, got {table.dtype}") from None
            table = conv
        offsets = np.asarray(self.offsets, dtype=np.int64)
        if offsets.ndim != 1 or len(offsets) < 1 or offsets[0] != 0 or offsets[-1] != len(table) \
                or np.any(np.diff(offsets) < 0):
            raise ValueError("offsets must rise from 0 to the number of points")
        object.__setattr__(self, "table", table)
        object.__setattr__(self, "offsets", offsets)

    @classmethod
    def empty(cls, n_frames: int, frame_start: int = 0) -> PointCloud:
        """A cloud of ``n_frames`` frames without points."""
        return cls(np.zeros(0, POINT_DTYPE), np.zeros(n_frames + 1, np.int64), frame_start)

    @classmethod
    def concat(cls, clouds: Sequence[PointCloud]) -> PointCloud:
        """Frames of several clouds one after the other (``frame_start`` of the first)."""
        if not clouds:
            return cls.empty(0)
        table = np.concatenate([c.table for c in clouds])
        offsets = [np.zeros(1, np.int64)]
        total = 0
        for c in clouds:
            offsets.append(c.offsets[1:] + total)
            total += len(c)
        return cls(table, np.concatenate(offsets), clouds[0].frame_start)

    @property
    def n_frames(self) -> int:
        """Number of frames."""
        return len(self.offsets) - 1

    def __len__(self) -> int:
        return len(self.table)

    def __getitem__(self, column: str) -> np.ndarray:
        """A column of all points (e.g. ``pc["x"]``)."""
        return self.table[column]

    def counts(self) -> np.ndarray:
        """Points per frame, int64 of shape ``(n_frames,)``."""
        return np.diff(self.offsets)

    def frame(self, f: int) -> np.ndarray:
        """The points of frame ``f`` (0-based within the cloud), a structured array view."""
        if not -self.n_frames <= f < self.n_frames:
            raise IndexError(f"frame {f} out of range for {self.n_frames} frames")
        f %= self.n_frames
        return self.table[self.offsets[f]:self.offsets[f + 1]]

    def frame_index(self) -> np.ndarray:
        """Frame of every point (0-based within the cloud), int64 of shape ``(n_points,)``."""
        return np.repeat(np.arange(self.n_frames), self.counts())

    def positions(self) -> np.ndarray:
        """``(x, y, z)`` of every point, float32 of shape ``(n_points, 3)`` (m, radar frame)."""
        return np.stack([self.table["x"], self.table["y"], self.table["z"]], axis=1)

    def with_column(self, name: str, values: np.ndarray) -> PointCloud:
        """A copy with column ``name`` replaced (e.g. cluster labels)."""
        table = self.table.copy()
        table[name] = values
        return PointCloud(table, self.offsets, self.frame_start)


# ------------------------------------------------------------------------------------------------
# parameters and detection
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PointCloudParams:
    """Settings of point-cloud extraction.

    Parameters
    ----------
    cfar : CfarParams
        2-D CFAR over ``(doppler, range)``; default CA, guard ``(2, 2)``, train ``(8, 4)``,
        Pfa 1e-4, Doppler wrapped.
    peak_size : (int, int)
        Peak-grouping neighbourhood ``(doppler, range)`` (:func:`radarkit.detect.peaks.group_peaks`);
        ``(1, 1)`` keeps every CFAR detection.
    angle_method : {"fft", "capon"}
        Azimuth estimator (module docstring).
    n_azimuth_fft, n_elevation_fft : int
        Zero-padded angle FFT lengths.
    angle_window : str or None
        Window over the array elements (None: rectangular, the narrowest beam).
    max_angle_peaks : int
        At most this many azimuth peaks (points) per detected cell.
    angle_peak_db : float
        Secondary azimuth peaks must be within this many dB of the cell's strongest.
    capon_grid : int
        Azimuths of the Capon scan, uniform over ``[-pi/2, pi/2]``.
    capon_loading : float
        Capon diagonal loading (:func:`radarkit.dsp.angle.capon_spectrum`).

    Raises
    ------
    ValueError
        Bad method, sizes or a 1-D ``cfar``.
    """

    cfar: CfarParams = field(default_factory=CfarParams)
    peak_size: tuple[int, int] = (3, 3)
    angle_method: str = "fft"
    n_azimuth_fft: int = 64
    n_elevation_fft: int = 32
    angle_window: str | None = None
    max_angle_peaks: int = 1
    angle_peak_db: float = 6.0
    capon_grid: int = 181
    capon_loading: float = 1e-2

    def __post_init__(self) -> None:
        if self.cfar.ndim != 2:
            raise ValueError("point clouds need a 2-D (doppler, range) CFAR")
        if self.angle_method not in ("fft", "capon"):
            raise ValueError(f"angle_method must be 'fft' or 'capon', got {self.angle_method!r}")
        if self.max_angle_peaks < 1 or self.n_azimuth_fft < 2 or self.n_elevation_fft < 2:
            raise ValueError("max_angle_peaks >= 1 and FFT lengths >= 2 are required")
        object.__setattr__(self, "peak_size", tuple(int(s) for s in self.peak_size))

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-serialisable dictionary."""
        return {"cfar": self.cfar.to_dict(), "peak_size": list(self.peak_size),
                "angle_method": self.angle_method, "n_azimuth_fft": self.n_azimuth_fft,
                "n_elevation_fft": self.n_elevation_fft, "angle_window": self.angle_window,
                "max_angle_peaks": self.max_angle_peaks, "angle_peak_db": self.angle_peak_db,
                "capon_grid": self.capon_grid, "capon_loading": self.capon_loading}


def detect_rd(power: np.ndarray, params: PointCloudParams | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
    """CFAR and peak grouping on Range-Doppler power maps.

    Parameters
    ----------
    power : ndarray of float32, shape (frame, doppler, range)
        Linear power (summed over virtual antennas).
    params : PointCloudParams, optional

    Returns
    -------
    mask : ndarray of bool, shape (frame, doppler, range)
        Detections after peak grouping.
    noise : ndarray of float32, same shape
        CFAR noise estimate of every cell (linear power).

    Raises
    ------
    ValueError
        From :func:`radarkit.detect.cfar.cfar_2d`.
    """
    params = PointCloudParams() if params is None else params
    mask, noise = cfar_2d(power, params.cfar, axes=(-2, -1), return_noise=True)
    mask = group_peaks(power, mask, params.peak_size, params.cfar.wrap)
    return mask, noise


def _spectrum_peaks(spec_db: np.ndarray, max_peaks: int, peak_db: float, circular: bool
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Up to ``max_peaks`` local maxima per row within ``peak_db`` of the row's maximum.

    Returns (row, bin, fractional offset in (-0.5, 0.5) from parabolic interpolation of dB values).
    """
    n, k = spec_db.shape
    if circular:
        left, right = np.roll(spec_db, 1, axis=1), np.roll(spec_db, -1, axis=1)
    else:
        pad = np.full((n, 1), -np.inf)
        left = np.concatenate([pad, spec_db[:, :-1]], axis=1)
        right = np.concatenate([spec_db[:, 1:], pad], axis=1)
    if max_peaks == 1:
        rows = np.arange(n)
        bins = np.argmax(spec_db, axis=1)
    else:
        is_peak = (spec_db > left) & (spec_db >= right)
        is_peak &= spec_db >= spec_db.max(axis=1, keepdims=True) - peak_db
        score = np.where(is_peak, spec_db, -np.inf)
        top = np.argsort(-score, axis=1, kind="stable")[:, :max_peaks]
        ok = np.isfinite(np.take_along_axis(score, top, axis=1))
        rows = np.broadcast_to(np.arange(n)[:, None], top.shape)[ok]
        bins = top[ok]
    y0 = spec_db[rows, bins]
    ym, yp = left[rows, bins], right[rows, bins]
    denom = ym - 2 * y0 + yp
    with np.errstate(invalid="ignore", divide="ignore"):
        delta = np.where(np.isfinite(denom) & (denom < 0), 0.5 * (ym - yp) / denom, 0.0)
    return rows, bins, np.clip(delta, -0.5, 0.5)


def _to_db(p: np.ndarray) -> np.ndarray:
    return 10.0 * np.log10(np.maximum(p, 1e-30))


def _angles(snap: np.ndarray, doppler_bins: np.ndarray, config: RadarConfig, n_doppler: int,
            params: PointCloudParams, neighbours: np.ndarray | None
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Azimuth/elevation (rad) of detections; returns (detection index, azimuth, elevation)."""
    comp = tdm_doppler_compensation(np.ones((n_doppler, config.n_virtual), np.complex64), config.n_tx,
                                    doppler_axis=0, virtual_axis=1, n_rx=config.n_rx)  # (D, V)
    snap = snap * comp[doppler_bins]
    grid, (n_el, _) = virtual_array_grid(snap, config, virtual_axis=1)  # (n, el, az)
    n_az = params.n_azimuth_fft
    spec = angle_fft(grid, axis=2, n_fft=n_az, window=params.angle_window)  # (n, el, n_az)
    az_db = _to_db(np.sum(spec.real ** 2 + spec.imag ** 2, axis=1))
    rows, bins, delta = _spectrum_peaks(az_db, params.max_angle_peaks, params.angle_peak_db, True)
    u = angle_axis(n_az, "sin")[bins] + 2.0 * delta / n_az  # sin(az) cos(el), interpolated
    if n_el > 1:
        n_e = params.n_elevation_fft
        col = spec[rows, :, bins]  # (m, n_el) angle-FFT value of each row at the azimuth peak
        el_spec = angle_fft(col, axis=1, n_fft=n_e)
        _, eb, ed = _spectrum_peaks(_to_db(np.abs(el_spec) ** 2), 1, 0.0, True)
        w = np.clip(angle_axis(n_e, "sin")[eb] + 2.0 * ed / n_e, -1.0, 1.0)  # sin(el)
        elevation = np.arcsin(w)
    else:
        elevation = np.zeros(len(rows))
    cos_el = np.maximum(np.cos(elevation), 1e-6)
    azimuth = np.arcsin(np.clip(u / cos_el, -1.0, 1.0))
    if params.angle_method == "capon":
        azimuth = _capon_azimuths(neighbours, rows, elevation, comp, config, params)
    return rows, azimuth, elevation


def _capon_azimuths(neighbours, rows, elevation, comp, config, params) -> np.ndarray:
    """Capon azimuth of each (detection, peak): snapshots are the cell and its RD neighbours."""
    snaps, nb_doppler = neighbours  # (n, 9, V) and (n, 9) Doppler bins for compensation
    grid_az = np.linspace(-np.pi / 2, np.pi / 2, params.capon_grid)
    out = np.empty(len(rows))
    cache: dict[tuple[int, float], float] = {}
    for m, (r, el) in enumerate(zip(rows, elevation, strict=True)):
        key = (int(r), float(el))
        if key not in cache:
            x = snaps[r] * comp[nb_doppler[r]]
            p = capon_spectrum(x, steering_vectors(config, grid_az, el), params.capon_loading)
            _, b, d = _spectrum_peaks(_to_db(p)[None, :], 1, 0.0, False)
            step = grid_az[1] - grid_az[0]
            cache[key] = float(np.clip(grid_az[b[0]] + d[0] * step, -np.pi / 2, np.pi / 2))
        out[m] = cache[key]
    return out


def _table(n: int) -> np.ndarray:
    t = np.zeros(n, POINT_DTYPE)
    t["cluster"] = -1
    return t


def points_from_power(power: np.ndarray, range_m: np.ndarray, velocity_mps: np.ndarray,
                      params: PointCloudParams | None = None, frame_start: int = 0) -> PointCloud:
    """Detections of summed RD power maps, without angles (no per-antenna data).

    Parameters
    ----------
    power : ndarray of float32, shape (frame, doppler, range)
        Linear power summed over virtual antennas (convert dB cubes with
        :func:`radarkit.detect.cfar.db_to_power`).
    range_m : ndarray, shape (range,)
        Range of each bin (m).
    velocity_mps : ndarray, shape (doppler,)
        Radial velocity of each Doppler bin (m/s, fftshifted).
    params : PointCloudParams, optional
    frame_start : int
        Index of the first frame.

    Returns
    -------
    PointCloud
        Azimuth, elevation and x, y, z are NaN.

    Raises
    ------
    ValueError
        Shapes that do not match.
    """
    params = PointCloudParams() if params is None else params
    power = np.asarray(power, dtype=np.float32)
    if power.ndim != 3 or power.shape[1:] != (len(velocity_mps), len(range_m)):
        raise ValueError(f"power must be (frame, {len(velocity_mps)}, {len(range_m)}), got {power.shape}")
    mask, noise = detect_rd(power, params)
    f, d, r = np.nonzero(mask)
    table = _table(len(f))
    p = power[f, d, r]
    table["range_m"] = np.asarray(range_m)[r]
    table["velocity_mps"] = np.asarray(velocity_mps)[d]
    for name in ("azimuth_rad", "elevation_rad", "x", "y", "z"):
        table[name] = np.nan
    table["snr_db"] = _to_db(p) - _to_db(noise[f, d, r])
    table["intensity_db"] = _to_db(p)
    table["doppler_bin"], table["range_bin"] = d, r
    offsets = np.concatenate([[0], np.cumsum(np.bincount(f, minlength=len(power)))])
    return PointCloud(table, offsets, frame_start)


def points_from_rad(rad_power: np.ndarray, range_m: np.ndarray, velocity_mps: np.ndarray,
                    azimuth_rad: np.ndarray, params: PointCloudParams | None = None,
                    frame_start: int = 0) -> PointCloud:
    """Point cloud of Range-Azimuth-Doppler power cubes (beamformed already).

    Detection runs on the RD power (the RAD power summed over azimuth); each detection's azimuth
    is the peak of the cube over the azimuth axis at its cell, parabolically interpolated between
    the azimuth bins (the axis values need not be uniform: the fractional bin is mapped through
    them linearly). Elevation is 0 (a RAD cube has no elevation axis).

    Parameters
    ----------
    rad_power : ndarray of float32, shape (frame, doppler, azimuth, range)
        Linear power (``architecture.md`` RAD axis order).
    range_m, velocity_mps, azimuth_rad : ndarray
        Axis values of range (m), Doppler (m/s) and azimuth (rad, increasing).
    params : PointCloudParams, optional
        Only ``cfar``, ``peak_size``, ``max_angle_peaks`` and ``angle_peak_db`` are used.
    frame_start : int
        Index of the first frame.

    Returns
    -------
    PointCloud

    Raises
    ------
    ValueError
        Shapes that do not match the axes.
    """
    params = PointCloudParams() if params is None else params
    rad_power = np.asarray(rad_power, dtype=np.float32)
    az = np.asarray(azimuth_rad, dtype=np.float64)
    expected = (len(velocity_mps), len(az), len(range_m))
    if rad_power.ndim != 4 or rad_power.shape[1:] != expected:
        raise ValueError(f"rad_power must be (frame, {expected[0]}, {expected[1]}, {expected[2]}), "
                         f"got {rad_power.shape}")
    power = rad_power.sum(axis=2)
    mask, noise = detect_rd(power, params)
    f, d, r = np.nonzero(mask)
    spec = _to_db(rad_power[f, d, :, r])  # (n, azimuth)
    rows, bins, delta = _spectrum_peaks(spec, params.max_angle_peaks, params.angle_peak_db, False)
    azimuth = np.interp(bins + delta, np.arange(len(az)), az)
    table = _table(len(rows))
    fr, dr_, rr = f[rows], d[rows], r[rows]
    p = power[fr, dr_, rr]
    rng_m = np.asarray(range_m)[rr]
    table["range_m"], table["velocity_mps"] = rng_m, np.asarray(velocity_mps)[dr_]
    table["azimuth_rad"], table["elevation_rad"] = azimuth, 0.0
    xyz = spherical_to_cartesian(rng_m, azimuth, 0.0)
    table["x"], table["y"], table["z"] = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    table["snr_db"] = _to_db(p) - _to_db(noise[fr, dr_, rr])
    table["intensity_db"] = _to_db(p)
    table["doppler_bin"], table["range_bin"] = dr_, rr
    offsets = np.concatenate([[0], np.cumsum(np.bincount(fr, minlength=len(power)))])
    return PointCloud(table, offsets, frame_start)


def points_from_rd(rd: np.ndarray, config: RadarConfig, params: PointCloudParams | None = None,
                   range_m: np.ndarray | None = None, velocity_mps: np.ndarray | None = None,
                   frame_start: int = 0) -> PointCloud:
    """Point cloud of per-antenna complex Range-Doppler maps.

    Parameters
    ----------
    rd : ndarray of complex64, shape (frame, doppler, virtual, range)
        Per-antenna RD cube (:func:`radarkit.dsp.range_doppler` with ``output="complex",
        combine="none"``), Doppler fftshifted.
    config : RadarConfig
        The configuration (TX slots, RX channels and the virtual-array geometry).
    params : PointCloudParams, optional
    range_m, velocity_mps : ndarray, optional
        Axis values (default from ``config`` for the cube's FFT lengths).
    frame_start : int
        Index of the first frame.

    Returns
    -------
    PointCloud
        One point per (detection, azimuth peak); points of a frame in (Doppler, range, peak)
        order.

    Raises
    ------
    ValueError
        A cube whose virtual axis does not match ``config``.

    References
    ----------
    TI SWRA554; TI mmWave SDK object detection (module docstring).
    """
    params = PointCloudParams() if params is None else params
    rd = np.asarray(rd)
    if rd.ndim != 4 or rd.shape[2] != config.n_virtual:
        raise ValueError(f"rd must be (frame, doppler, {config.n_virtual} virtual, range), got {rd.shape}")
    n_frames, n_doppler, _, n_range = rd.shape
    if range_m is None:
        n_fft = n_range if config.is_complex else 2 * n_range
        range_m = range_axis(config, n_fft)
    if velocity_mps is None:
        velocity_mps = velocity_axis(config, n_doppler)
    power = rd_power(rd)
    mask, noise = detect_rd(power, params)
    f, d, r = np.nonzero(mask)
    snap = rd[f, d, :, r]  # (n, V)
    neighbours = None
    if params.angle_method == "capon":
        dd, dr = np.meshgrid(np.arange(-1, 2), np.arange(-1, 2), indexing="ij")
        nd = (d[:, None] + dd.ravel()[None, :]) % n_doppler
        nr = np.clip(r[:, None] + dr.ravel()[None, :], 0, n_range - 1)
        neighbours = (rd[f[:, None], nd, :, nr], nd)  # (n, 9, V), (n, 9)
    rows, azimuth, elevation = _angles(snap, d, config, n_doppler, params, neighbours)
    table = _table(len(rows))
    fr, dr_, rr = f[rows], d[rows], r[rows]
    p = power[fr, dr_, rr]
    rng_m = np.asarray(range_m)[rr]
    table["range_m"] = rng_m
    table["velocity_mps"] = np.asarray(velocity_mps)[dr_]
    table["azimuth_rad"] = azimuth
    table["elevation_rad"] = elevation
    xyz = spherical_to_cartesian(rng_m, azimuth, elevation)
    table["x"], table["y"], table["z"] = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    table["snr_db"] = _to_db(p) - _to_db(noise[fr, dr_, rr])
    table["intensity_db"] = _to_db(p)
    table["doppler_bin"], table["range_bin"] = dr_, rr
    offsets = np.concatenate([[0], np.cumsum(np.bincount(fr, minlength=n_frames))])
    return PointCloud(table, offsets, frame_start)


def point_cloud(raw: np.ndarray, config: RadarConfig, params: PointCloudParams | None = None,
                clutter_removal: bool = False, range_window: str | None = "hann",
                doppler_window: str | None = "hann", frame_start: int = 0) -> PointCloud:
    """Point cloud of raw frames: per-antenna Range-Doppler cube, then :func:`points_from_rd`.

    Parameters
    ----------
    raw : ndarray of complex64, shape (frame, loop, tx_slot, rx, sample)
        Parsed raw frames (:meth:`radarkit.io.Recording.read`).
    config : RadarConfig
    params : PointCloudParams, optional
    clutter_removal : bool
        Static clutter removal (mean over loops) before the Doppler FFT; off by default, as in
        the TI demo (static objects are detected at zero Doppler).
    range_window, doppler_window : str or None
        Windows (None if the range window was fused into the parse).
    frame_start : int
        Index of the first frame.

    Returns
    -------
    PointCloud
    """
    rd = range_doppler(raw, range_window, doppler_window, clutter_removal=clutter_removal,
                       output="complex", combine="none")
    return points_from_rd(rd, config, params, frame_start=frame_start)


# ------------------------------------------------------------------------------------------------
# files
# ------------------------------------------------------------------------------------------------
def save_point_cloud(path: str | os.PathLike, cloud: PointCloud, config: RadarConfig | None = None,
                     attrs: dict[str, Any] | None = None, force: bool = False) -> Path:
    """Write ``cloud`` to an HDF5 points file (:func:`radarkit.io.points.write_points`), atomically.

    Parameters
    ----------
    path : str or os.PathLike
    cloud : PointCloud
    config : RadarConfig, optional
        Stored as provenance.
    attrs : dict, optional
        More root attributes (``processing``, ``sources``, ``command``).
    force : bool
        Replace an existing file.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    StoreError
        Output exists or cannot be written.
    """
    from radarkit.io.points import write_points

    return write_points(path, cloud.table, cloud.offsets, POINT_UNITS, config, attrs,
                        frame_start=cloud.frame_start, force=force)


def load_point_cloud(path: str | os.PathLike) -> tuple[PointCloud, dict[str, Any]]:
    """Read a points file: the cloud and the file's root attributes (``radar_config`` decoded).

    Raises
    ------
    StoreError
        Not a radarkit points file.
    ValueError
        Its columns are not those of :data:`POINT_DTYPE`.
    """
    from radarkit.io.points import read_points

    stored = read_points(path)
    cloud = PointCloud(stored.table, stored.offsets, int(stored.attrs.get("frame_start", 0)))
    return cloud, stored.attrs
