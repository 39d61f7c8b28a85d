"""Named axes of radarkit cubes, with their physical values.

Canonical axis orders (``architecture.md``): frame first, range last. Doppler (and, later, angle)
axes are fftshifted. Radial velocity is positive for a receding target (range increasing).
"""

from __future__ import annotations

import numpy as np

from radarkit.axis import Axis
from radarkit.config.radar import RadarConfig
from radarkit.dsp.angle import angle_axis
from radarkit.dsp.hupr import hupr_angle_axis, hupr_range_bins
from radarkit.dsp.kinds import doppler_keep_slice

__all__ = ["Axis", "CUBE_KINDS", "range_axis", "velocity_axis", "frame_axis", "axes"]

#: Cube kinds (:mod:`radarkit.dsp.kinds` documents each kind's axes and values).
CUBE_KINDS = ("range", "rd", "ra", "rad", "rae", "vrdae", "rd-video", "ra-video")

def range_axis(config: RadarConfig, n_fft: int | None = None) -> np.ndarray:
    """Range of each range bin (m), float64 of shape ``(n_bins,)``.

    ``n_bins`` is ``n_fft`` for complex sampling and ``n_fft // 2`` for real sampling; bin ``k``
    is at ``k c Fs / (2 S n_fft)``.
    """
    n = config.n_samples if n_fft is None else int(n_fft)
    n_bins = n if config.is_complex else n // 2
    return np.arange(n_bins) * config.range_bin_spacing_m(n)


def velocity_axis(config: RadarConfig, n_fft: int | None = None, shift: bool = True) -> np.ndarray:
    """Radial velocity of each Doppler bin (m/s), float64 of shape ``(n_fft,)``.

    Bin spacing ``lambda / (2 n_fft T_loop)``; with ``shift`` the axis runs from ``-v_max`` to
    ``v_max - dv`` with zero at index ``n_fft // 2``. Positive is receding.
    """
    n = config.n_loops if n_fft is None else int(n_fft)
    k = np.arange(n) - (n // 2 if shift else 0)
    if not shift:
        k = np.where(k >= (n + 1) // 2, k - n, k)
    return k * config.wavelength_m / (2.0 * n * config.loop_time_s)


def frame_axis(config: RadarConfig, start: int, stop: int) -> np.ndarray:
    """Capture time of frames ``start:stop`` (s) from the first frame, ``k * frame_period``."""
    return np.arange(start, stop) * config.frame_period_s


def axes(config: RadarConfig, kind: str, frames: tuple[int, int] = (0, 1), *,
         n_range: int | None = None, n_doppler: int | None = None,
         per_antenna: bool = False, n_azimuth: int = 64, n_elevation: int = 8,
         doppler_bins: int | None = None, range_bins: tuple[int, int] | None = None,
         mode: str = "full") -> list[Axis]:
    """Named axes of a cube of ``kind``, in the array's axis order.

    Parameters
    ----------
    config : RadarConfig
    kind : str
        One of :data:`CUBE_KINDS`: ``"range"`` ``(frame, chirp_loop, virtual_antenna, range)``;
        ``"rd"``/``"rd-video"`` ``(frame, doppler, range)`` (``rd`` with ``per_antenna``:
        ``(frame, doppler, virtual_antenna, range)``); ``"ra"``/``"ra-video"``
        ``(frame, azimuth, range)``; ``"rad"`` ``(frame, doppler, azimuth, range)``; ``"rae"``
        ``(frame, elevation, azimuth, range)``; ``"vrdae"``
        ``(frame, doppler, elevation, azimuth, range)``.
    frames : (int, int)
        Frame range ``start, stop`` the cube holds.
    n_range, n_doppler : int, optional
        FFT lengths; default samples and loops.
    per_antenna : bool
        RD maps kept per virtual antenna.
    n_azimuth, n_elevation : int
        Angle bins (:func:`radarkit.dsp.angle.angle_axis`, radians).
    doppler_bins : int, optional
        Only this many Doppler bins around zero velocity (``vrdae``).
    range_bins : (int, int), optional
        Only range bins ``start:stop``.
    mode : {"full", "hupr"}
        ``"hupr"``: the official HuPR VRDAEMap (descending range bins 94..31, HuPR's angle bins,
        :mod:`radarkit.dsp.hupr`).

    Returns
    -------
    list of Axis

    Raises
    ------
    ValueError
        Unknown kind, or bins outside the FFTs.
    """
    if kind not in CUBE_KINDS:
        raise ValueError(f"unknown cube kind {kind!r} (choose from {', '.join(CUBE_KINDS)})")
    frame = Axis("frame", "frame_time_s", frame_axis(config, *frames), "s")
    virtual = Axis("virtual_antenna", "virtual_antenna", np.arange(config.n_virtual), "1")
    if kind == "vrdae" and mode == "hupr":
        rng_values = range_axis(config, config.n_samples)[hupr_range_bins(config.n_samples)]
        az_values, el_values = hupr_angle_axis(n_azimuth), hupr_angle_axis(n_elevation)
    else:
        rng_values = range_axis(config, n_range)
        if range_bins is not None:
            if not 0 <= range_bins[0] < range_bins[1] <= len(rng_values):
                raise ValueError(f"range_bins {range_bins} outside the {len(rng_values)} range bins")
            rng_values = rng_values[range_bins[0]:range_bins[1]]
        az_values, el_values = angle_axis(n_azimuth), angle_axis(n_elevation)
    rng = Axis("range", "range_m", rng_values, "m")
    vel = velocity_axis(config, n_doppler)
    doppler = Axis("doppler", "velocity_mps", vel[doppler_keep_slice(len(vel), doppler_bins)], "m/s")
    azimuth = Axis("azimuth", "azimuth_rad", az_values, "rad")
    elevation = Axis("elevation", "elevation_rad", el_values, "rad")
    if kind == "range":
        loop = Axis("chirp_loop", "chirp_loop", np.arange(config.n_loops), "1")
        return [frame, loop, virtual, rng]
    return {
        "rd": [frame, doppler, virtual, rng] if per_antenna else [frame, doppler, rng],
        "rd-video": [frame, doppler, rng],
        "ra": [frame, azimuth, rng],
        "ra-video": [frame, azimuth, rng],
        "rad": [frame, doppler, azimuth, rng],
        "rae": [frame, elevation, azimuth, rng],
        "vrdae": [frame, doppler, elevation, azimuth, rng],
    }[kind]
