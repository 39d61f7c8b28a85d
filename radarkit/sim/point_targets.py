"""Point targets moving at constant velocity: the simplest use of the scatterer IF model.

The signal model (exact bistatic delays per chirp and antenna, phases at the centre of the sampled
band, one matrix product per frame) is :func:`radarkit.sim.scatterers.if_frame`; this module adds
constant-velocity trajectories over several frames and unquantised thermal noise. Amplitudes are
``gain * sqrt(rcs) / R^2`` ADC counts (radar equation, amplitude form) unless given; thermal noise
is circular complex Gaussian of standard deviation ``noise_std`` counts.

References
----------
.. [1] S. Rao, "Introduction to mmWave Sensing: FMCW Radars", TI SWRA553 (IF signal, eq. 1-4).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from radarkit.config.radar import RadarConfig
from radarkit.sim.scatterers import antenna_positions_m, if_frame

__all__ = ["antenna_positions_m", "simulate_point_targets", "iter_point_target_frames"]


def _as_targets(positions, velocities, rcs, amplitudes):
    pos = np.atleast_2d(np.asarray(positions, dtype=np.float64))
    if pos.shape[-1] != 3:
        raise ValueError(f"positions must have shape (K, 3), got {pos.shape}")
    k = len(pos)
    vel = np.zeros((k, 3)) if velocities is None else np.atleast_2d(np.asarray(velocities, float))
    if vel.shape != (k, 3):
        raise ValueError(f"velocities must have shape ({k}, 3), got {vel.shape}")
    rcs = np.broadcast_to(np.asarray(1.0 if rcs is None else rcs, float), (k,))
    amp = None if amplitudes is None else np.broadcast_to(np.asarray(amplitudes, complex), (k,))
    return pos, vel, rcs, amp


def iter_point_target_frames(
    config: RadarConfig,
    positions,
    velocities=None,
    rcs=None,
    amplitudes=None,
    n_frames: int = 1,
    noise_std: float = 0.0,
    gain: float = 2000.0,
    seed: int | None = 0,
    chunk: int = 8,
) -> Iterator[np.ndarray]:
    """Simulate raw frames chunk by chunk (bounded memory); see :func:`simulate_point_targets`.

    Yields
    ------
    ndarray of complex64, shape (<= chunk, n_loops, n_tx, n_rx, n_samples)
    """
    pos0, vel, rcs_, amp = _as_targets(positions, velocities, rcs, amplitudes)
    rng = np.random.default_rng(seed)
    for first in range(0, n_frames, chunk):
        frames = np.arange(first, min(first + chunk, n_frames))
        out = np.empty((len(frames), *config.raw_shape), dtype=np.complex64)
        for i, f in enumerate(frames):
            p0 = pos0 + vel * (f * config.frame_period_s)  # positions at the frame's first chirp
            frame = if_frame(config, p0, vel, amplitudes=amp, gain=gain, rcs=rcs_)
            if noise_std > 0:
                frame = frame + (noise_std / np.sqrt(2)) * (
                    rng.standard_normal(frame.shape) + 1j * rng.standard_normal(frame.shape))
            out[i] = frame
        if not config.is_complex:
            out = out.real.astype(np.complex64)
        yield out


def simulate_point_targets(
    config: RadarConfig,
    positions,
    velocities=None,
    rcs=None,
    amplitudes=None,
    n_frames: int = 1,
    noise_std: float = 0.0,
    gain: float = 2000.0,
    seed: int | None = 0,
) -> np.ndarray:
    """Simulate the raw ADC cube of point scatterers.

    Parameters
    ----------
    config : RadarConfig
        Chirp, frame and antenna configuration.
    positions : array_like, shape (K, 3)
        Scatterer positions (m, radar frame) at time 0 (start of frame 0).
    velocities : array_like, shape (K, 3), optional
        Constant velocities (m/s); default static.
    rcs : array_like, shape (K,), optional
        Radar cross-sections (m^2), default 1.
    amplitudes : array_like, shape (K,), optional
        Complex IF amplitudes in ADC counts, replacing ``gain * sqrt(rcs) / R^2``.
    n_frames : int
        Frames to simulate.
    noise_std : float
        Standard deviation of the complex thermal noise (ADC counts).
    gain : float
        Amplitude (counts) of a 1 m^2 scatterer at 1 m.
    seed : int or None
        Noise seed; the same seed gives the same samples.

    Returns
    -------
    ndarray of complex64, shape (n_frames, n_loops, n_tx, n_rx, n_samples)
        Unquantised IF samples in ADC counts (real part only, stored as complex, for
        ``sample_format="real"``). Quantise and write with :func:`radarkit.io.writer.write_recording`.

    Notes
    -----
    A receding scatterer (range increasing) has positive radial velocity and lands in Doppler bins
    above zero velocity; a scatterer at range ``R`` lands in range bin ``R / range_bin_spacing``.
    """
    return np.concatenate(list(iter_point_target_frames(
        config, positions, velocities, rcs, amplitudes, n_frames, noise_std, gain, seed)), axis=0)
