"""Named axes of radarkit cubes, with their physical values.

Canonical axis orders (``architecture.md``): frame first, range last. Doppler (and, later, angle)
axes are fftshifted. Radial velocity is positive for a receding target (range increasing).
"""

from __future__ import annotations

import numpy as np

from radarkit.axis import Axis
from radarkit.config.radar import RadarConfig

__all__ = ["Axis", "CUBE_KINDS", "range_axis", "velocity_axis", "frame_axis", "axes"]

#: Cube kinds of this module: range spectra, Range-Doppler (summed or per virtual antenna).
CUBE_KINDS = ("range", "rd")


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
         per_antenna: bool = False) -> list[Axis]:
    """Named axes of a cube of ``kind``, in the array's axis order.

    Parameters
    ----------
    config : RadarConfig
    kind : {"range", "rd"}
        ``"range"``: ``(frame, chirp_loop, virtual_antenna, range)``.
        ``"rd"``: ``(frame, doppler, range)``, or ``(frame, doppler, virtual_antenna, range)`` with
        ``per_antenna``.
    frames : (int, int)
        Frame range ``start, stop`` the cube holds.
    n_range, n_doppler : int, optional
        FFT lengths; default samples and loops.
    per_antenna : bool
        RD maps kept per virtual antenna.

    Returns
    -------
    list of Axis

    Raises
    ------
    ValueError
        Unknown kind.
    """
    frame = Axis("frame", "frame_time_s", frame_axis(config, *frames), "s")
    rng = Axis("range", "range_m", range_axis(config, n_range), "m")
    virtual = Axis("virtual_antenna", "virtual_antenna", np.arange(config.n_virtual), "1")
    if kind == "range":
        loop = Axis("chirp_loop", "chirp_loop", np.arange(config.n_loops), "1")
        return [frame, loop, virtual, rng]
    if kind == "rd":
        doppler = Axis("doppler", "velocity_mps", velocity_axis(config, n_doppler), "m/s")
        return [frame, doppler, virtual, rng] if per_antenna else [frame, doppler, rng]
    raise ValueError(f"unknown cube kind {kind!r} (choose from {', '.join(CUBE_KINDS)})")
