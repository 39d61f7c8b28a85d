"""The Range-Doppler hot path: raw int16 words -> per-antenna RD cube, planned once, near the FFT bound.

:class:`RDPlan` holds what is worth computing once for a configuration: the 2-D window, the pyFFTW
plans and the work buffers. Per chunk of frames it runs

1. one numba kernel over the int16 words (2-lane DCA1000 layout, I or Q first), a frame at a
   time, in two passes. The first sums every raw word over the chirp loops (int32, exact), for
   the mean that static clutter removal subtracts (done in the sample domain, where it equals
   the usual removal after the range FFT because the FFT is linear). The second reads the frame
   again from cache, one (loop, channel) row at a time: it de-interleaves (a bit swap inside
   each 64-bit group of two I and two Q words, which vectorises), converts to float32,
   subtracts the mean and multiplies by ``w_range[s] * w_doppler[l] * (-1)^l`` -- the
   ``(-1)^l`` modulation moves zero Doppler to bin ``L/2``, i.e. performs the ``fftshift`` for
   free;
2. with FFTW, the Doppler FFT in place over the loop axis of a padded one-frame work buffer, then
   the range FFT over the contiguous sample axis into a cache-resident frame, which is streamed
   to the output with non-temporal stores (:func:`radarkit.dsp.nontemporal.stream_copy`; on
   other architectures than x86-64 the range FFT writes the output directly); with scipy.fft,
   the range then the Doppler FFT. The output layout ``(frame, doppler, virtual_antenna,
   range)`` is already the canonical per-antenna RD order (TX-major virtual antennas
   ``tx_slot * n_rx + rx`` are the ``(tx_slot, rx)`` axes of the raw layout), so no transpose
   is ever made.

The result equals :func:`radarkit.dsp.kinds.doppler_spectra` of :func:`~radarkit.dsp.kinds.
range_spectra` (tests: 1e-5 relative). Only the 2-lane complex layout without zero-padding runs
here; :func:`radarkit.dsp.cubes.make_cube` covers everything else.

Threading: each call is single-threaded (numba serial kernel, scipy ``workers=1`` or one-thread
FFTW plans) and releases the GIL, so a plan can be shared by several threads each processing its
own frames (buffers are per thread).

References
----------
TI SWRA553 "Programming Chirp Parameters in TI Radar Devices" (processing chain); TI SWRA581
(DCA1000 2-lane layout); ``shared/specs/performance.md`` (fused convert + planned FFTs).
"""

from __future__ import annotations

import sys
import threading

import numba
import numpy as np

from radarkit.config.radar import RadarConfig
from radarkit.dsp.nontemporal import STREAMING_STORES, stream_copy
from radarkit.dsp.windows import get_window
from radarkit.io.layout import resolve_iq_flag

__all__ = ["RDPlan", "rd_plan_supports", "rd_power", "decode_remove_clutter", "frame_words",
           "check_complex_out", "padded_loop_stride"]


@numba.njit(cache=True, nogil=True)
def _prepare_rd(words, o32, q_first, w_loop, w_sample2, clutter):  # pragma: no cover - compiled
    # words: int16 (F, L, C, 2S); o32: float32 (F, L, W), W >= 2 C S: per chirp loop, antenna c's
    # (re, im) pairs at [2 c S, 2 (c + 1) S) (a row longer than 2 C S is a padded loop stride; the
    # padding is not written); w_loop: float32 (L,); w_sample2: float32 (2S,), the window of each
    # sample repeated for its real and imaginary part. The 2-D window is their outer product.
    # Per frame, two passes over the words (the second finds them in cache):
    # 1. the int32 sum over loops of every raw word, four loops at a time (exact; vectorises), then
    #    reordered like the samples and scaled by 1/L;
    # 2. per (loop, channel) row: the 2-lane groups (I0 I1 Q0 Q1) -- or (Q0 Q1 I0 I1) -- are
    #    reordered to (I0 Q0 I1 Q1) by a bit swap on each 64-bit group (vectorises, unlike a scatter
    #    of int16s) into a 1 KB row buffer, which is then converted, clutter-removed and windowed
    #    into the output row.
    n_f, n_l, n_c, s2 = words.shape
    n_g = s2 // 4
    w64 = words.view(np.uint64)  # (F, L, C, S/2): one group of 2 I + 2 Q words each
    acc = np.zeros((n_c, s2), dtype=np.int32)
    mean = np.zeros((n_c, s2), dtype=np.float32)  # in output order
    row = np.empty(n_g, dtype=np.uint64)
    row16 = row.view(np.int16)
    inv_l = np.float32(1.0 / n_l)
    n_l4 = n_l - n_l % 4
    mask = np.uint64(0x00000000FFFF0000)  # the 2nd and 3rd int16 of a little-endian group
    sh16 = np.uint64(16)
    sh32 = np.uint64(32)
    for f in range(n_f):
        if clutter:
            for c in range(n_c):
                a = acc[c]
                for k in range(s2):
                    a[k] = 0
            for lp in range(0, n_l4, 4):
                for c in range(n_c):
                    x0 = words[f, lp, c]
                    x1 = words[f, lp + 1, c]
                    x2 = words[f, lp + 2, c]
                    x3 = words[f, lp + 3, c]
                    a = acc[c]
                    for k in range(s2):
                        a[k] += (np.int32(x0[k]) + np.int32(x1[k])) + (np.int32(x2[k]) + np.int32(x3[k]))
            for lp in range(n_l4, n_l):
                for c in range(n_c):
                    x0 = words[f, lp, c]
                    a = acc[c]
                    for k in range(s2):
                        a[k] += np.int32(x0[k])
            for c in range(n_c):
                a = acc[c]
                m = mean[c]
                if q_first:  # raw (Q0 Q1 I0 I1) -> (I0 Q0 I1 Q1)
                    for g in range(n_g):
                        m[4 * g] = a[4 * g + 2] * inv_l
                        m[4 * g + 1] = a[4 * g] * inv_l
                        m[4 * g + 2] = a[4 * g + 3] * inv_l
                        m[4 * g + 3] = a[4 * g + 1] * inv_l
                else:  # raw (I0 I1 Q0 Q1) -> (I0 Q0 I1 Q1)
                    for g in range(n_g):
                        m[4 * g] = a[4 * g] * inv_l
                        m[4 * g + 1] = a[4 * g + 2] * inv_l
                        m[4 * g + 2] = a[4 * g + 1] * inv_l
                        m[4 * g + 3] = a[4 * g + 3] * inv_l
        for lp in range(n_l):
            wl = w_loop[lp]
            for c in range(n_c):
                src = w64[f, lp, c]
                if q_first:
                    for g in range(n_g):
                        v = src[g]
                        v = (v >> sh32) | (v << sh32)  # (Q0 Q1 I0 I1) -> (I0 I1 Q0 Q1)
                        t = ((v >> sh16) ^ v) & mask
                        row[g] = v ^ t ^ (t << sh16)
                else:
                    for g in range(n_g):
                        v = src[g]
                        t = ((v >> sh16) ^ v) & mask  # swap I1 and Q0
                        row[g] = v ^ t ^ (t << sh16)
                o = o32[f, lp, c * s2:(c + 1) * s2]
                m = mean[c]
                for k in range(s2):
                    o[k] = (np.float32(row16[k]) - m[k]) * (w_sample2[k] * wl)


@numba.njit(cache=True, nogil=True)
def _power_sum(rd, out):  # pragma: no cover - compiled
    # rd: complex64 (F, D, V, R) -> out float32 (F, D, R): sum over V of |x|^2
    n_f, n_d, n_v, n_r = rd.shape
    for f in range(n_f):
        for d in range(n_d):
            for r in range(n_r):
                out[f, d, r] = 0.0
            for v in range(n_v):
                for r in range(n_r):
                    x = rd[f, d, v, r]
                    out[f, d, r] += x.real * x.real + x.imag * x.imag


def rd_power(rd: np.ndarray) -> np.ndarray:
    """Power of a per-antenna RD cube summed over the virtual antennas (non-coherent integration).

    Parameters
    ----------
    rd : ndarray of complex64, shape (frame, doppler, virtual_antenna, range)

    Returns
    -------
    ndarray of float32, shape (frame, doppler, range)
        ``sum_v |X_v|^2`` (ADC counts squared), in one numba pass.
    """
    rd = np.ascontiguousarray(rd, dtype=np.complex64)
    out = np.empty((rd.shape[0], rd.shape[1], rd.shape[3]), dtype=np.float32)
    _power_sum(rd, out)
    return out


def frame_words(words: np.ndarray, config: RadarConfig) -> tuple[np.ndarray, int]:
    """Raw words as the hot-path kernels read them, and their frame count.

    Parameters
    ----------
    words : ndarray of int16
        Whole frames in file order.
    config : RadarConfig

    Returns
    -------
    words : ndarray of int16, shape (n_words,)
        Flat, C-contiguous, on an 8-byte boundary (the decode kernel reads 64-bit groups; copied
        when not).
    n_frames : int

    Raises
    ------
    ValueError
        Not a whole number of frames.
    """
    words = np.ascontiguousarray(words, dtype=np.int16).reshape(-1)
    per_frame = config.bytes_per_frame // 2
    if words.size % per_frame:
        raise ValueError(f"{words.size} int16 words are not a whole number of frames "
                         f"({per_frame} words each)")
    return (words.copy() if words.ctypes.data % 8 else words), words.size // per_frame


def check_complex_out(out: np.ndarray, shape: tuple[int, ...]) -> None:
    """Raise ``ValueError`` unless ``out`` is a C-contiguous complex64 array of ``shape``."""
    if out.shape != tuple(shape) or out.dtype != np.complex64 or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous complex64 array of shape {tuple(shape)}")


def padded_loop_stride(row: int, itemsize: int = 8, line: int = 64) -> int:
    """Elements between chirp loops in :class:`RDPlan`'s FFTW work buffer.

    The smallest stride of at least ``row`` elements that spans an odd number of cache lines, so
    a Doppler column (one element per chirp loop) is spread over every set of a set-associative
    cache instead of a few (see :meth:`RDPlan._frame_buffers`).

    Parameters
    ----------
    row : int
        Elements of one chirp loop (``n_virtual * n_samples``).
    itemsize : int
        Bytes per element (8 for complex64).
    line : int
        Cache line size in bytes; must be a multiple of ``itemsize``.

    Returns
    -------
    int
        The stride in elements: ``row`` rounded up to whole cache lines, plus one line when that
        count is even.

    Raises
    ------
    ValueError
        ``row < 1`` or ``line`` not a positive multiple of ``itemsize``.
    """
    if row < 1 or itemsize < 1 or line < itemsize or line % itemsize:
        raise ValueError(f"need row >= 1 and line a multiple of itemsize (row {row}, itemsize "
                         f"{itemsize}, line {line})")
    per_line = line // itemsize
    lines = -(-row // per_line)
    if lines % 2 == 0:
        lines += 1
    return lines * per_line


def rd_plan_supports(config: RadarConfig, n_range: int | None = None, n_doppler: int | None = None,
                     range_bins: tuple[int, int] | None = None) -> bool:
    """Whether :class:`RDPlan` handles this layout: 2-lane complex, a resolved IQ order, an even
    loop count, no zero-padding or range crop, on a little-endian host (the kernel reorders I/Q
    words with bit operations on 64-bit groups)."""
    return (sys.byteorder == "little" and config.is_complex and config.lvds_lanes == 2
            and config.iq_order in ("iq", "qi")
            and config.n_loops % 2 == 0 and n_range in (None, config.n_samples)
            and n_doppler in (None, config.n_loops) and range_bins is None)


def decode_remove_clutter(words: np.ndarray, config: RadarConfig,
                          window: np.ndarray | None = None) -> np.ndarray:
    """Decode 2-lane complex words and remove static clutter (the mean over chirp loops) in one pass.

    Parameters
    ----------
    words : ndarray of int16
        Whole frames in file order.
    config : RadarConfig
        A layout :func:`rd_plan_supports` accepts.
    window : ndarray of float32, shape (n_samples,), optional
        Range window multiplied in after the mean removal.

    Returns
    -------
    ndarray of complex64, shape (n_frames, n_loops, n_tx, n_rx, n_samples)

    Raises
    ------
    ValueError
        Unsupported layout or not a whole number of frames.
    """
    if not rd_plan_supports(config):
        raise ValueError("decode_remove_clutter needs 2-lane complex data with a resolved IQ order")
    words, n_frames = frame_words(words, config)
    out = np.empty((n_frames, *config.raw_shape), dtype=np.complex64)
    w = np.ones(config.n_samples, np.float32) if window is None else np.asarray(window, np.float32)
    shape4 = (n_frames, config.n_loops, config.n_virtual, 2 * config.n_samples)
    _prepare_rd(words.reshape(shape4), out.reshape(n_frames, config.n_loops, -1).view(np.float32),
                resolve_iq_flag(config.iq_order), np.ones(config.n_loops, np.float32),
                np.repeat(w, 2), True)
    return out


class RDPlan:
    """Planned raw-words -> per-antenna Range-Doppler transform for one configuration.

    Parameters
    ----------
    config : RadarConfig
        2-lane complex layout with a resolved ``iq_order`` (:func:`rd_plan_supports`).
    range_window, doppler_window : str
        Window names (coherent normalisation, :func:`radarkit.dsp.windows.get_window`).
    clutter_removal : bool
        Subtract the mean over chirp loops.
    backend : {"scipy", "fftw"}
        FFT library (``"fftw"`` needs pyFFTW).

    Raises
    ------
    ValueError
        A layout the plan does not handle, or an unknown backend.
    ImportError
        ``backend="fftw"`` without pyFFTW.

    Examples
    --------
    >>> plan = RDPlan(config)                        # doctest: +SKIP
    >>> rd = plan(recording.words(0, 16))  # doctest: +SKIP  (16, doppler, virtual, range) complex64
    """

    def __init__(self, config: RadarConfig, range_window: str = "hann", doppler_window: str = "hann",
                 clutter_removal: bool = True, backend: str = "scipy") -> None:
        if not rd_plan_supports(config):
            raise ValueError("RDPlan needs 2-lane complex data with an IQ order of 'iq' or 'qi' and "
                             f"an even loop count (got {config.sample_format}, {config.lvds_lanes} "
                             f"lanes, iq_order {config.iq_order!r}, {config.n_loops} loops)")
        if backend not in ("scipy", "fftw"):
            raise ValueError(f"RDPlan backend must be 'scipy' or 'fftw', got {backend!r}")
        self.config = config
        self.backend = backend
        self.clutter_removal = bool(clutter_removal)
        n_l, n_s = config.n_loops, config.n_samples
        modulation = np.where(np.arange(n_l) % 2 == 0, 1.0, -1.0)  # fftshift of the Doppler axis
        self._w_loop = (get_window(doppler_window, n_l) * modulation).astype(np.float32)
        w_sample = get_window(range_window, n_s).astype(np.float32)
        self._w_sample2 = np.repeat(w_sample, 2)  # (re, im) pairs
        self.window = np.outer(self._w_loop, w_sample)  # (loop, sample) float32, for reference
        self._q_first = resolve_iq_flag(config.iq_order)
        self._local = threading.local()
        if backend == "fftw":
            import pyfftw  # noqa: F401 - fail early with ImportError
        else:
            import scipy.fft

            self._scipy_fft = scipy.fft.fft

    @property
    def frame_shape(self) -> tuple[int, int, int, int]:
        """``(doppler, virtual_antenna, range)`` of one output frame."""
        c = self.config
        return c.n_loops, c.n_virtual, c.n_samples

    def _empty(self, shape: tuple[int, ...]) -> np.ndarray:
        if self.backend == "fftw":
            import pyfftw

            return pyfftw.empty_aligned(shape, dtype=np.complex64)
        return np.empty(shape, dtype=np.complex64)

    def _frame_buffers(self):
        """Per-thread one-frame work buffer and its FFTs.

        Returns ``(work32, work, plans)``: ``work32`` float32 ``(1, loop, W)``, the decode
        kernel's destination; ``work`` the complex64 ``(1, loop, virtual_antenna, sample)`` view of
        the same memory; ``plans`` None (scipy) or the FFTW ``(doppler, range, frame)``: the
        Doppler FFT in place on ``work``, then the range FFT from ``work`` into an output frame
        (``frame``, an aligned one-frame buffer, when the caller's output is not SIMD-aligned).

        With FFTW the chirp-loop stride of ``work`` is padded to an odd number of 64-byte cache
        lines (:func:`padded_loop_stride`). Unpadded, the HuPR frame's loop stride is 24 KB, so the
        64 elements of one Doppler column fall into one set of the 8-way L1 data cache and evict
        each other; padded, they spread over every set. Doppler first, then range, keeps the
        strided pass inside the padded buffer and writes the output rows contiguously. Measured
        on the HuPR configuration, one thread, 64-frame passes interleaved 60 times: 0.44 ms per
        frame (decode and both FFTs) against 0.61 ms for FFTW's own 2-D plan on an unpadded
        frame, whose Doppler pass strides through the output.

        On x86-64 the range FFT always writes ``frame`` (in cache), and :meth:`__call__` streams
        it to the output with non-temporal stores, which skip reading the output lines from
        memory before overwriting them: 6.7 % more frames/s on one thread than the range FFT
        writing the output directly (median of 1,334 interleaved 64-frame passes; 11.7 % while
        the machine ran slower, 4.7 % while faster), no change on two threads (0.8 %).
        """
        cached = getattr(self._local, "frame", None)
        if cached is None:
            c = self.config
            row = c.n_virtual * c.n_samples  # complex64 elements of one chirp loop
            if self.backend == "fftw":
                import pyfftw

                stride = padded_loop_stride(row, itemsize=8)
                base = pyfftw.empty_aligned((1, c.n_loops, stride), dtype=np.complex64)
                work = np.lib.stride_tricks.as_strided(
                    base, shape=(1, c.n_loops, c.n_virtual, c.n_samples),
                    strides=(base.strides[0], base.strides[1], c.n_samples * 8, 8), writeable=True)
                out = pyfftw.empty_aligned((1, c.n_loops, c.n_virtual, c.n_samples), dtype=np.complex64)
                flags = ("FFTW_MEASURE",)
                doppler_fft = pyfftw.FFTW(work, work, axes=(1,), threads=1, flags=flags)
                range_fft = pyfftw.FFTW(work, out, axes=(3,), threads=1, flags=flags)
                plans = (doppler_fft, range_fft, out)
            else:
                base = np.empty((1, c.n_loops, row), dtype=np.complex64)
                work = base.reshape(1, c.n_loops, c.n_virtual, c.n_samples)
                plans = None
            cached = (base.view(np.float32), work, plans)
            self._local.frame = cached
        return cached

    def __call__(self, words: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Per-antenna RD cube of whole frames of raw words.

        Frames are processed one at a time through a one-frame work buffer (1.5 MB for the HuPR
        configuration), so the conversion and both FFTs run in cache and only the result is
        written to memory.

        Parameters
        ----------
        words : ndarray of int16
            ``n_frames * bytes_per_frame / 2`` words in file order (e.g. ``Recording.words``).
        out : ndarray of complex64, optional
            Destination of shape ``(n_frames, doppler, virtual_antenna, range)`` (C-contiguous).

        Returns
        -------
        ndarray of complex64, shape (n_frames, doppler, virtual_antenna, range)
            Doppler fftshifted (zero velocity at ``n_loops // 2``); ``out`` when given.

        Raises
        ------
        ValueError
            ``words`` is not a whole number of frames, or ``out`` has the wrong shape or dtype.
        """
        c = self.config
        words, n_frames = frame_words(words, c)
        shape = (n_frames, c.n_loops, c.n_virtual, c.n_samples)
        if out is None:
            out = self._empty(shape)
        else:
            check_complex_out(out, shape)
        work32, work, plans = self._frame_buffers()
        shape4 = (1, c.n_loops, c.n_virtual, 2 * c.n_samples)
        frames = words.reshape(n_frames, *shape4[1:])
        if plans is not None:
            doppler_fft, range_fft, own = plans
            # x86-64: finish each frame in cache and stream it out (radarkit.dsp.nontemporal);
            # elsewhere the range FFT writes an aligned output directly
            direct = not STREAMING_STORES and out.ctypes.data % range_fft.output_alignment == 0
            if not direct:  # the plan may still point at an earlier call's output
                range_fft.update_arrays(work, own)
        for f in range(n_frames):
            _prepare_rd(frames[f:f + 1], work32, self._q_first, self._w_loop, self._w_sample2,
                        self.clutter_removal)
            if plans is not None:
                doppler_fft.execute()
                if direct:  # the range FFT writes straight into the output frame
                    range_fft.update_arrays(work, out[f:f + 1])
                    range_fft.execute()
                else:
                    range_fft.execute()
                    stream_copy(own[0], out[f])
            else:
                spec = self._scipy_fft(work, axis=3, workers=1, overwrite_x=True)
                out[f] = self._scipy_fft(spec, axis=1, workers=1, overwrite_x=True)[0]
        return out

    def power(self, words: np.ndarray) -> np.ndarray:
        """RD power summed non-coherently over virtual antennas, float32 ``(n_frames, doppler,
        range)`` (ADC counts squared)."""
        return rd_power(self(words))
