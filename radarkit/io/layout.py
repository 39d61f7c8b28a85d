"""DCA1000 sample layouts: int16 words <-> ADC samples, in both directions.

Layouts (``shared/specs/raw-format.md``; TI SWRA581 "Mmwave Radar Device ADC Raw Data Capture"):

* **2-lane complex** (xWR16xx/18xx/68xx): every 4 int16 words ``x`` hold two consecutive complex
  samples. I first (mmWave Studio default): ``c[2m] = x[4m] + j x[4m+2]``,
  ``c[2m+1] = x[4m+1] + j x[4m+3]``. Q first (SDK ``adcbufCfg`` sampleSwap 1):
  ``c[2m] = x[4m+2] + j x[4m]``, ``c[2m+1] = x[4m+3] + j x[4m+1]``.
* **4-lane complex** (xWR12xx/14xx): per sample ``[I_rx0 .. I_rx(R-1), Q_rx0 .. Q_rx(R-1)]``
  (Q block first when the IQ order is ``qi``).
* **real**: ``(rx, sample)`` int16 per chirp, no interleave.

The complex stream is C-ordered ``(frame, loop, tx_slot, rx, sample)``. Samples are two's-complement
little-endian int16 and are never read as uint16 (OpenRadar issue #23).

The 2-lane de-interleave is a numba kernel that converts to float32 and can apply the range window
in the same pass (near memory-copy speed; ``shared/specs/performance.md``).
"""

from __future__ import annotations

import numba
import numpy as np

from radarkit.config.radar import RadarConfig
from radarkit.errors import RecordingError

__all__ = ["decode_frames", "decode_samples", "encode_frames", "resolve_iq_flag"]


def resolve_iq_flag(iq_order: str) -> bool:
    """True when Q comes first. Raises ``ValueError`` for ``"auto"`` or an unknown order."""
    if iq_order == "iq":
        return False
    if iq_order == "qi":
        return True
    raise ValueError(f"IQ order must be 'iq' or 'qi' here, got {iq_order!r}")


@numba.njit(cache=True, nogil=True)
def _deinterleave_2lane(words, out, q_first, window):  # pragma: no cover - compiled
    # words: int16 (rows, 2 * n), out: float32 (rows, 2 * n) viewed complex, window: float32 (n,)
    rows, n2 = words.shape
    half = n2 // 4  # sample pairs per row
    for r in range(rows):
        for m in range(half):
            a0 = np.float32(words[r, 4 * m])
            a1 = np.float32(words[r, 4 * m + 1])
            b0 = np.float32(words[r, 4 * m + 2])
            b1 = np.float32(words[r, 4 * m + 3])
            w0 = window[2 * m]
            w1 = window[2 * m + 1]
            if q_first:
                out[r, 4 * m] = b0 * w0
                out[r, 4 * m + 1] = a0 * w0
                out[r, 4 * m + 2] = b1 * w1
                out[r, 4 * m + 3] = a1 * w1
            else:
                out[r, 4 * m] = a0 * w0
                out[r, 4 * m + 1] = b0 * w0
                out[r, 4 * m + 2] = a1 * w1
                out[r, 4 * m + 3] = b1 * w1


def decode_samples(words: np.ndarray, iq_order: str) -> np.ndarray:
    """Decode a flat run of 2-lane complex int16 words into complex samples.

    Parameters
    ----------
    words : ndarray of int16, shape (4 k,)
        Raw words in file order.
    iq_order : {"iq", "qi"}
        Word order (see module docstring).

    Returns
    -------
    ndarray of complex64, shape (2 k,)

    Raises
    ------
    RecordingError
        If the word count is not a multiple of 4.
    """
    words = np.ascontiguousarray(words, dtype=np.int16)
    if words.size % 4:
        raise RecordingError(f"{words.size} int16 words: 2-lane complex data needs a multiple of 4")
    out = np.empty(words.size // 2, dtype=np.complex64)
    _deinterleave_2lane(words.reshape(1, -1), out.view(np.float32).reshape(1, -1),
                        resolve_iq_flag(iq_order), np.ones(words.size // 2, dtype=np.float32))
    return out


def decode_frames(
    words: np.ndarray,
    config: RadarConfig,
    iq_order: str | None = None,
    window: np.ndarray | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Decode whole frames of int16 words into the raw cube.

    Parameters
    ----------
    words : ndarray of int16
        ``n_frames * config.bytes_per_frame / 2`` words in file order (any shape, C-contiguous).
    config : RadarConfig
        Layout (sample format, lanes, loops, TX slots, RX channels, samples).
    iq_order : {"iq", "qi"}, optional
        Overrides ``config.iq_order`` (which must then not be ``"auto"``).
    window : ndarray of float32, shape (n_samples,), optional
        Range window multiplied into each chirp during the conversion (fused; no extra pass).
    out : ndarray, optional
        Destination of the result's shape and dtype (avoids an allocation when streaming).

    Returns
    -------
    ndarray, shape (n_frames, n_loops, n_tx, n_rx, n_samples)
        complex64 for complex formats; float32 for ``sample_format="real"``.

    Raises
    ------
    RecordingError
        If ``words`` does not hold a whole number of frames.
    """
    iq_order = config.iq_order if iq_order is None else iq_order
    words = np.ascontiguousarray(words, dtype=np.int16).reshape(-1)
    per_frame = config.bytes_per_frame // 2
    if words.size % per_frame:
        raise RecordingError(f"{words.size} int16 words are not a whole number of frames "
                             f"({per_frame} words each)")
    n_frames = words.size // per_frame
    shape = (n_frames, *config.raw_shape)
    n = config.n_samples
    w = (np.ones(n, dtype=np.float32) if window is None
         else np.ascontiguousarray(window, dtype=np.float32))
    if w.shape != (n,):
        raise ValueError(f"window has shape {w.shape}, expected ({n},)")
    dtype = np.complex64 if config.is_complex else np.float32
    if out is None:
        out = np.empty(shape, dtype=dtype)
    elif out.shape != shape or out.dtype != dtype or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous {np.dtype(dtype)} array of shape {shape}")

    if not config.is_complex:
        np.multiply(words.reshape(shape), w, out=out)
    elif config.lvds_lanes == 2:
        _deinterleave_2lane(words.reshape(-1, 2 * n), out.view(np.float32).reshape(-1, 2 * n),
                            resolve_iq_flag(iq_order), w)
    else:  # 4 lanes: per sample [I_rx..., Q_rx...]
        r = config.n_rx
        blocks = words.reshape(n_frames, config.n_loops, config.n_tx, n, 2, r)
        first, second = (1, 0) if resolve_iq_flag(iq_order) else (0, 1)
        out.real = np.swapaxes(blocks[..., first, :], -1, -2) * w
        out.imag = np.swapaxes(blocks[..., second, :], -1, -2) * w
    return out


def encode_frames(raw: np.ndarray, config: RadarConfig, iq_order: str | None = None) -> np.ndarray:
    """Quantise and interleave a raw cube into DCA1000 int16 words (the inverse of
    :func:`decode_frames`).

    Values are rounded to the nearest integer and clipped to the int16 range (ADC saturation).

    Parameters
    ----------
    raw : ndarray, shape (n_frames, n_loops, n_tx, n_rx, n_samples)
        complex for complex formats, real for ``sample_format="real"`` (the real part is used).
    config : RadarConfig
    iq_order : {"iq", "qi"}, optional
        Overrides ``config.iq_order``.

    Returns
    -------
    ndarray of int16, shape (n_frames * bytes_per_frame / 2,)

    Raises
    ------
    ValueError
        If ``raw`` does not have the configuration's frame shape.
    """
    iq_order = config.iq_order if iq_order is None else iq_order
    raw = np.asarray(raw)
    if raw.ndim != 5 or raw.shape[1:] != config.raw_shape:
        raise ValueError(f"raw cube has shape {raw.shape}, expected (frames, *{config.raw_shape})")

    def q(x: np.ndarray) -> np.ndarray:
        return np.clip(np.rint(x), -32768, 32767).astype(np.int16)

    if not config.is_complex:
        return q(raw.real).reshape(-1)
    re, im = q(raw.real), q(raw.imag)
    if resolve_iq_flag(iq_order):
        re, im = im, re  # the first word of each pair holds Q
    n = config.n_samples
    if config.lvds_lanes == 2:
        pairs = np.empty((*raw.shape[:-1], n // 2, 4), dtype=np.int16)
        pairs[..., 0] = re[..., 0::2]
        pairs[..., 1] = re[..., 1::2]
        pairs[..., 2] = im[..., 0::2]
        pairs[..., 3] = im[..., 1::2]
        return pairs.reshape(-1)
    blocks = np.empty((*raw.shape[:3], n, 2, config.n_rx), dtype=np.int16)
    blocks[..., 0, :] = np.swapaxes(re, -1, -2)
    blocks[..., 1, :] = np.swapaxes(im, -1, -2)
    return blocks.reshape(-1)
