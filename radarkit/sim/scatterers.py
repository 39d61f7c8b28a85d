"""Vectorised point-scatterer IF model: many moving scatterers -> raw ADC frames.

For a scatterer whose round-trip delay from TX ``t`` to RX ``r`` at a chirp is ``tau``, the
de-chirped complex IF sample at time ``u`` after the ramp start is (TI SWRA553, eq. 1-4)

    s(u) = A exp(j 2 pi (f_0 tau + S tau u - S tau^2 / 2)).

The beat frequency ``S tau`` puts the scatterer in its range bin; the phase ``2 pi f_0 tau``
advances from chirp to chirp as the scatterer moves (Doppler, across TX slots and loops, since
every chirp's delay is computed at its own start time) and differs between the TX/RX antenna
pairs (angle; exact bistatic path lengths from the board's antenna positions, so the virtual
array of any TDM order and board follows). Per frame the sum over ``K`` scatterers is one matrix
product, ``phasors (loop * tx_slot * rx, K) @ tones (K, samples)``, with the per-chirp,
per-antenna phase taken at the centre of the sampled band (where radarkit's wavelength is
defined) and the beat frequency held at its frame mean (range migration within one frame is far
below a range bin).

Amplitudes follow the radar equation in amplitude form, ``A = gain sqrt(rcs) / R^2`` ADC counts
(``gain``: counts of a 1 m^2 scatterer at 1 m). Thermal noise is circular complex Gaussian; its
level can be given as a standard deviation in counts or as a per-sample SNR of a reference
scatterer (:func:`noise_std_for_snr`). :func:`adc_quantise` rounds to integer counts and clips at
the ADC's full scale (``adc_bits``), as the DCA1000 stores sign-extended int16 words.

References
----------
.. [1] C. Iovescu and S. Rao, "The fundamentals of millimeter wave sensors", TI SPYY005, 2017.
.. [2] S. Rao, "Introduction to mmWave Sensing: FMCW Radars", TI SWRA553 (IF signal, eq. 1-4).
.. [3] M. A. Richards, "Fundamentals of Radar Signal Processing", 2nd ed., ch. 2 (radar range
   equation: received amplitude proportional to sqrt(RCS) / R^2).
"""

from __future__ import annotations

from collections.abc import Iterator

import numba
import numpy as np

from radarkit.config.radar import SPEED_OF_LIGHT, RadarConfig

__all__ = [
    "adc_quantise",
    "antenna_positions_m",
    "if_frame",
    "iter_scatterer_frames",
    "noise_std_for_snr",
    "scatterer_amplitudes",
    "thermal_noise",
]


def antenna_positions_m(config: RadarConfig) -> tuple[np.ndarray, np.ndarray]:
    """TX-slot and RX antenna positions in metres in the radar frame.

    Parameters
    ----------
    config : RadarConfig
        Its ``tx_positions`` / ``rx_positions`` (lambda/2 units, ``(azimuth, elevation)``).

    Returns
    -------
    tx : ndarray of float64, shape (n_tx, 3)
    rx : ndarray of float64, shape (n_rx, 3)
        ``(x, 0, z)`` on the board plane, from the ``(azimuth, elevation)`` lambda/2 grid at the
        centre wavelength (``config.wavelength_m``).

    References
    ----------
    ``shared/specs/raw-format.md`` ("TDM order and IWR1843BOOST virtual array").
    """
    half = config.wavelength_m / 2.0

    def to_xyz(pos: tuple[tuple[float, float], ...]) -> np.ndarray:
        p = np.asarray(pos, dtype=np.float64).reshape(-1, 2) * half
        return np.stack([p[:, 0], np.zeros(len(p)), p[:, 1]], axis=1)

    return to_xyz(config.tx_positions), to_xyz(config.rx_positions)


def scatterer_amplitudes(positions: np.ndarray, rcs, gain: float = 2000.0) -> np.ndarray:
    """IF amplitudes ``gain * sqrt(rcs) / R^2`` (ADC counts) of scatterers.

    Parameters
    ----------
    positions : ndarray of float, shape (..., K, 3)
        Radar-frame positions (m).
    rcs : array_like, shape broadcastable to (..., K)
        Radar cross-sections (m^2); 0 switches a scatterer off.
    gain : float
        Amplitude (counts) of a 1 m^2 scatterer at 1 m.

    Returns
    -------
    ndarray of float64, shape (..., K)

    References
    ----------
    M. A. Richards, "Fundamentals of Radar Signal Processing", ch. 2 (radar range equation).
    """
    r = np.linalg.norm(np.asarray(positions, dtype=np.float64), axis=-1)
    return gain * np.sqrt(np.asarray(rcs, dtype=np.float64)) / np.maximum(r, 1e-3) ** 2


def noise_std_for_snr(snr_db: float, gain: float = 2000.0, rcs: float = 1.0,
                      range_m: float = 5.0) -> float:
    """Noise standard deviation (counts) giving a reference scatterer ``snr_db`` per ADC sample.

    The SNR is ``A^2 / sigma^2`` of one complex ADC sample, with ``A`` the amplitude of a
    scatterer of ``rcs`` at ``range_m`` (:func:`scatterer_amplitudes`) and ``sigma`` the standard
    deviation of the complex noise. The range/Doppler FFTs add ``10 log10(N L)`` dB of coherent
    gain on top (``N`` samples, ``L`` loops; rectangular windows).

    Parameters
    ----------
    snr_db : float
        Per-sample SNR (dB).
    gain : float
        Amplitude (counts) of a 1 m^2 scatterer at 1 m.
    rcs : float
        Reference radar cross-section (m^2).
    range_m : float
        Reference range (m).

    Returns
    -------
    float
        Standard deviation of the complex noise (counts); each of I and Q has ``sigma / sqrt(2)``.
    """
    amp = gain * np.sqrt(rcs) / range_m ** 2
    return float(amp / 10.0 ** (snr_db / 20.0))


def if_frame(config: RadarConfig, positions: np.ndarray, velocities: np.ndarray | None = None,
             amplitudes: np.ndarray | None = None, gain: float = 2000.0,
             rcs: np.ndarray | None = None) -> np.ndarray:
    """Noise-free IF samples of one frame of moving point scatterers.

    Parameters
    ----------
    config : RadarConfig
        Chirp timing, frequencies and antenna positions.
    positions : ndarray of float, shape (K, 3)
        Scatterer positions (m, radar frame) at the start of the frame's first chirp.
    velocities : ndarray of float, shape (K, 3), optional
        Velocities (m/s) held over the frame; default static.
    amplitudes : ndarray of complex, shape (K,), optional
        IF amplitudes (counts); default ``gain * sqrt(rcs) / R^2`` at the frame's mean range.
    gain : float
        Amplitude (counts) of a 1 m^2 scatterer at 1 m (used without ``amplitudes``).
    rcs : ndarray of float, shape (K,), optional
        Radar cross-sections (m^2), default 1 (used without ``amplitudes``).

    Returns
    -------
    ndarray of complex64, shape (n_loops, n_tx, n_rx, n_samples)
        Unquantised complex IF samples (counts), whatever ``config.sample_format`` is. RX channels
        of boards with inverted feeds carry the board's polarity (:attr:`RadarConfig.rx_phase`),
        as a real board's samples do.

    References
    ----------
    TI SWRA553, eq. 1-4 (IF signal); see the module docstring for the approximations.
    """
    pos = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    k = len(pos)
    L, T, R, N = config.raw_shape
    if k == 0:
        return np.zeros((L, T, R, N), dtype=np.complex64)
    vel = np.zeros_like(pos) if velocities is None else np.asarray(velocities, np.float64).reshape(k, 3)
    tx, rx = antenna_positions_m(config)
    slope = config.slope_hz_per_s
    u = config.adc_start_time_s + np.arange(N) / config.sample_rate_hz  # (N,) s after ramp start
    u_c = config.adc_start_time_s + 0.5 * config.adc_sampling_time_s  # centre of the sampled band
    chirp_t = (np.arange(L)[:, None] * T + np.arange(T)[None, :]) * config.chirp_time_s  # (L, T)
    if amplitudes is None:
        mean_pos = pos + vel * chirp_t.mean()
        a = scatterer_amplitudes(mean_pos, 1.0 if rcs is None else rcs, gain).astype(np.complex128)
    else:
        a = np.ascontiguousarray(np.broadcast_to(np.asarray(amplitudes, dtype=np.complex128), (k,)))
    phasors = np.empty((L * T * R, k), dtype=np.complex64)
    tau_c = np.zeros(k, dtype=np.float64)
    _phasor_kernel(pos, vel, np.ascontiguousarray(chirp_t.reshape(-1)), tx, rx, a,
                   config.start_freq_hz + slope * u_c, 0.5 * slope, phasors, tau_c)
    tones = np.exp((2j * np.pi * slope) * tau_c[:, None] * (u - u_c)[None, :]).astype(np.complex64)
    frame = (phasors @ tones).reshape(L, T, R, N)
    polarity = config.rx_phase  # boards whose RX feeds are inverted (AWR1843AOP: TI antPhaseRot)
    if np.any(polarity != 1.0):
        frame *= polarity[None, None, :, None]
    return frame


@numba.njit(cache=True, nogil=True)
def _phasor_kernel(pos, vel, chirp_t, tx, rx, amp, f_centre, half_slope, out, tau_mean):  # pragma: no cover
    # out[(c * R + r), k] = amp[k] exp(j 2 pi (tau (f0 + S u_c) - S tau^2 / 2)) for chirp c of
    # TX slot c % T, with tau the exact bistatic delay at the chirp's start; tau_mean[k] += mean.
    n_chirps = chirp_t.size
    n_tx = tx.shape[0]
    n_rx = rx.shape[0]
    n_k = pos.shape[0]
    inv_c = 1.0 / SPEED_OF_LIGHT
    two_pi = 2.0 * np.pi
    scale = 1.0 / (n_chirps * n_rx)
    for c in range(n_chirps):
        t = chirp_t[c]
        s = c % n_tx
        for k in range(n_k):
            px = pos[k, 0] + vel[k, 0] * t
            py = pos[k, 1] + vel[k, 1] * t
            pz = pos[k, 2] + vel[k, 2] * t
            dx = px - tx[s, 0]
            dy = py - tx[s, 1]
            dz = pz - tx[s, 2]
            d_tx = np.sqrt(dx * dx + dy * dy + dz * dz)
            for r in range(n_rx):
                ex = px - rx[r, 0]
                ey = py - rx[r, 1]
                ez = pz - rx[r, 2]
                tau = (d_tx + np.sqrt(ex * ex + ey * ey + ez * ez)) * inv_c
                cycles = tau * f_centre - half_slope * tau * tau
                ph = two_pi * (cycles - np.floor(cycles))
                out[c * n_rx + r, k] = amp[k] * complex(np.cos(ph), np.sin(ph))
                tau_mean[k] += tau * scale


def thermal_noise(shape: tuple[int, ...], noise_std: float, rng: np.random.Generator) -> np.ndarray:
    """Circular complex Gaussian noise of standard deviation ``noise_std`` (counts).

    Parameters
    ----------
    shape : tuple of int
        Output shape.
    noise_std : float
        Standard deviation of the complex noise; I and Q each get ``noise_std / sqrt(2)``.
    rng : numpy.random.Generator
        Random source (float32 draws, I and Q interleaved).

    Returns
    -------
    ndarray of complex64, shape ``shape``
    """
    out = np.empty(shape, dtype=np.complex64)
    rng.standard_normal(dtype=np.float32, out=out.view(np.float32))
    out *= np.float32(noise_std / np.sqrt(2.0))
    return out


def adc_quantise(raw: np.ndarray, adc_bits: int = 16, real: bool = False) -> np.ndarray:
    """Round IF samples to integer ADC counts and clip them at the ADC's full scale.

    Parameters
    ----------
    raw : ndarray of complex
        IF samples (counts), any shape.
    adc_bits : {12, 14, 16}
        ADC resolution: I and Q are clipped to ``[-2^(b-1), 2^(b-1) - 1]`` (saturation), the
        range the DCA1000 stores as sign-extended int16.
    real : bool
        Keep only the real part (real-sampling ADC, ``sample_format="real"``).

    Returns
    -------
    ndarray of complex64, same shape
        Integer-valued samples (imaginary part zero when ``real``), ready for
        :func:`radarkit.io.writer.write_recording`, which then writes them unchanged.

    Raises
    ------
    ValueError
        For an ADC resolution other than 12, 14 or 16 bits.
    """
    if adc_bits not in (12, 14, 16):
        raise ValueError(f"adc_bits must be 12, 14 or 16, got {adc_bits}")
    lo, hi = -(2.0 ** (adc_bits - 1)), 2.0 ** (adc_bits - 1) - 1
    raw = np.asarray(raw)
    out = np.empty(raw.shape, dtype=np.complex64)
    out.real = np.clip(np.rint(raw.real), lo, hi)
    out.imag = 0.0 if real else np.clip(np.rint(raw.imag), lo, hi)
    return out


def iter_scatterer_frames(
    config: RadarConfig,
    positions: np.ndarray,
    velocities: np.ndarray | None = None,
    rcs: np.ndarray | None = None,
    gain: float = 2000.0,
    noise_std: float = 0.0,
    quantise: bool = True,
    seed: int | np.random.SeedSequence | None = 0,
    chunk: int = 8,
) -> Iterator[np.ndarray]:
    """Raw ADC frames of scatterers that move from frame to frame, chunk by chunk.

    Parameters
    ----------
    config : RadarConfig
        Chirp, frame and antenna configuration (``sample_format`` and ``adc_bits`` included).
    positions : ndarray of float, shape (F, K, 3)
        Scatterer positions (m, radar frame) at the start of each frame's first chirp.
    velocities : ndarray of float, shape (F, K, 3), optional
        Velocities (m/s) held within each frame (Doppler); default static.
    rcs : ndarray of float, shape (F, K) or (K,), optional
        Radar cross-sections (m^2) per frame; 0 hides a scatterer in that frame (specular
        drop-out). Default 1.
    gain : float
        Amplitude (counts) of a 1 m^2 scatterer at 1 m.
    noise_std : float
        Standard deviation of the complex thermal noise (counts); see :func:`noise_std_for_snr`.
    quantise : bool
        Round to integer counts and clip at ``config.adc_bits`` (:func:`adc_quantise`).
    seed : int, SeedSequence or None
        Noise seed: the same seed gives the same samples (and bytes).
    chunk : int
        Frames per yielded array (memory bound).

    Yields
    ------
    ndarray of complex64, shape (<= chunk, n_loops, n_tx, n_rx, n_samples)
        The real part only (imaginary zero) for ``sample_format="real"``.

    Raises
    ------
    ValueError
        Arrays of inconsistent shapes.
    """
    pos = np.asarray(positions, dtype=np.float64)
    if pos.ndim != 3 or pos.shape[-1] != 3:
        raise ValueError(f"positions must have shape (frames, K, 3), got {pos.shape}")
    n_frames, k = pos.shape[:2]
    vel = np.zeros_like(pos) if velocities is None else np.asarray(velocities, dtype=np.float64)
    if vel.shape != pos.shape:
        raise ValueError(f"velocities must have shape {pos.shape}, got {vel.shape}")
    rcs_ = np.broadcast_to(np.asarray(1.0 if rcs is None else rcs, dtype=np.float64), (n_frames, k))
    rng = np.random.default_rng(seed)
    active = config.n_chirps * config.chirp_time_s
    for first in range(0, n_frames, chunk):
        stop = min(first + chunk, n_frames)
        out = np.empty((stop - first, *config.raw_shape), dtype=np.complex64)
        for i, f in enumerate(range(first, stop)):
            on = rcs_[f] > 0
            p, v = pos[f, on], vel[f, on]
            amp = scatterer_amplitudes(p + 0.5 * active * v, rcs_[f, on], gain)
            out[i] = if_frame(config, p, v, amplitudes=amp)
            if noise_std > 0:
                out[i] += thermal_noise(config.raw_shape, noise_std, rng)
        if quantise:
            out = adc_quantise(out, config.adc_bits, real=not config.is_complex)
        elif not config.is_complex:
            out.imag = 0.0
        yield out
