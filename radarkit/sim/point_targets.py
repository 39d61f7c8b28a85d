"""Point-scatterer FMCW simulator: the IF signal of a TDM-MIMO radar, frame by frame.

For a scatterer whose round-trip delay from TX ``t`` to RX ``r`` is ``tau`` at a chirp, the
de-chirped complex IF sample at time ``u`` after the ramp start is (TI SWRA553 eq. 1-4)

    s(u) = A exp(j 2 pi (f_0 tau + S tau u - S tau^2 / 2)),

a tone at the beat frequency ``S tau`` whose phase ``2 pi f_0 tau`` advances from chirp to chirp
as the scatterer moves (Doppler) and differs between virtual antennas (angle). Delays are exact
bistatic path lengths from the TX and RX antenna positions (lambda/2 grid of the board in the x-z
plane, ``architecture.md`` radar frame) to the scatterer, recomputed for every chirp; the beat
frequency of each scatterer is held for the frame at its value at the frame's centre (the range
change within one frame is far below a range bin), and the exact per-chirp, per-antenna phase is
taken at the centre of the sampled band, the frequency at which radarkit's wavelength is defined.
The sum over scatterers is then one matrix product per frame:
``phasors (chirp * antenna, K) @ tones (K, N)``.

Amplitudes are ``gain * sqrt(rcs) / R^2`` ADC counts (radar equation, amplitude form) unless given;
thermal noise is circular complex Gaussian of standard deviation ``noise_std`` counts.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from radarkit.config.radar import SPEED_OF_LIGHT, RadarConfig

__all__ = ["antenna_positions_m", "simulate_point_targets", "iter_point_target_frames"]


def antenna_positions_m(config: RadarConfig) -> tuple[np.ndarray, np.ndarray]:
    """TX-slot and RX positions in metres in the radar frame.

    Returns
    -------
    tx : ndarray of float64, shape (n_tx, 3)
    rx : ndarray of float64, shape (n_rx, 3)
        ``(x, 0, z)`` from the board's ``(azimuth, elevation)`` lambda/2 grid (at the centre
        wavelength).
    """
    half = config.wavelength_m / 2.0

    def to_xyz(pos: tuple[tuple[float, float], ...]) -> np.ndarray:
        p = np.asarray(pos, dtype=np.float64).reshape(-1, 2) * half
        return np.stack([p[:, 0], np.zeros(len(p)), p[:, 1]], axis=1)

    return to_xyz(config.tx_positions), to_xyz(config.rx_positions)


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
    tx, rx = antenna_positions_m(config)
    L, T, R, N = config.raw_shape
    slope, f0 = config.slope_hz_per_s, config.start_freq_hz
    u = config.adc_start_time_s + np.arange(N) / config.sample_rate_hz  # (N,) s after ramp start
    u_c = config.adc_start_time_s + 0.5 * config.adc_sampling_time_s  # centre of the sampled band
    chirp_t = (np.arange(L)[:, None] * T + np.arange(T)[None, :]) * config.chirp_time_s  # (L, T)
    for first in range(0, n_frames, chunk):
        frames = np.arange(first, min(first + chunk, n_frames))
        out = np.empty((len(frames), L, T, R, N), dtype=np.complex64)
        for i, f in enumerate(frames):
            t = f * config.frame_period_s + chirp_t  # (L, T) chirp start times
            p = pos0[None, None] + vel[None, None] * t[..., None, None]  # (L, T, K, 3)
            d_tx = np.linalg.norm(p - tx[None, :, None, :], axis=-1)  # (L, T, K)
            d_rx = np.linalg.norm(p[:, :, None] - rx[None, None, :, None, :], axis=-1)  # (L,T,R,K)
            tau = (d_tx[:, :, None, :] + d_rx) / SPEED_OF_LIGHT  # (L, T, R, K)
            if amp is None:
                rng_m = np.linalg.norm(p, axis=-1).mean(axis=(0, 1))
                a = gain * np.sqrt(rcs_) / np.maximum(rng_m, 1e-3) ** 2
            else:
                a = amp
            # Exact phase at the centre sample u_c; the tone about it uses the frame's mean delay,
            # so the antenna/chirp phase is that of the centre of the sampled band.
            phase = 2 * np.pi * (f0 * tau + slope * tau * u_c - 0.5 * slope * tau * tau)
            phasors = (a * np.exp(1j * phase)).reshape(-1, len(a))  # (L*T*R, K)
            tau_c = tau.mean(axis=(0, 1, 2))  # (K,) beat frequency held over the frame
            tones = np.exp(2j * np.pi * slope * tau_c[:, None] * (u - u_c)[None, :])  # (K, N)
            frame = (phasors @ tones).reshape(L, T, R, N)
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
