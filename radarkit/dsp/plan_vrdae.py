"""The full 4-D VRDAE cube, planned: raw int16 words -> (doppler, elevation, azimuth, range) per frame.

:class:`VRDAEPlan` is the ``vrdae`` kind in ``full`` mode (numpy back ends) computed frame by frame
through per-thread buffers, so that no intermediate of a chunk ever leaves the cache hierarchy or
is allocated afresh (a chunk-sized intermediate is tens of MB: every call would page-fault it in):

1. :class:`radarkit.dsp.plan.RDPlan` -- fused decode, static clutter removal, windows, range and
   Doppler FFTs (Doppler fftshifted) into a one-frame buffer;
2. the kept Doppler bins and range bins copied into a small contiguous block ``(doppler, virtual,
   range)``;
3. one batched matrix product per frame: for each kept Doppler bin ``d``, ``A_d @ x_d`` with
   ``A_d = A diag(p_d)``, the azimuth DFT of each occupied virtual-array row
   (:func:`radarkit.dsp.angle.virtual_row_matrices`, board RX polarity included) with the TDM
   Doppler phase compensation ``p_d`` (:func:`radarkit.dsp.angle.tdm_phase`) folded in;
4. the elevation DFT over the occupied rows (:func:`radarkit.dsp.kinds.combine_rows`) written once
   into the output frame -- the output (16 MB per frame for 64 x 64 x 64 x 8) is the bulk of the
   memory traffic.

The result equals :func:`radarkit.dsp.cubes.make_cube` with the same :class:`~radarkit.dsp.cubes.
CubeParams` (tests: 1e-5 relative). Threading: single-threaded kernels (numba, scipy ``workers=1``
or one-thread FFTW, BLAS limited by :func:`radarkit.dsp.backends.single_threaded_kernels`), GIL
released in the heavy parts, buffers per thread: frames can be split across threads.

References
----------
HuPR [Lee et al., WACV 2023] section 3.1 (the VRDAEMap); TI SWRA554 "MIMO Radar" (TDM phase
compensation, virtual array); ``shared/specs/performance.md`` (4-D cube anchors).
"""

from __future__ import annotations

import threading

import numpy as np

from radarkit.config.radar import RadarConfig
from radarkit.dsp.angle import tdm_phase, virtual_row_matrices
from radarkit.dsp.kinds import combine_rows, doppler_keep_slice, power_output
from radarkit.dsp.plan import RDPlan, check_complex_out, frame_words, rd_plan_supports

__all__ = ["VRDAEPlan", "vrdae_plan_supports"]


def vrdae_plan_supports(config: RadarConfig, params) -> bool:
    """Whether :class:`VRDAEPlan` handles ``params`` (a :class:`radarkit.dsp.cubes.CubeParams`) on
    this layout: kind ``vrdae`` in ``full`` mode on the ``scipy`` or ``fftw`` back end, no
    zero-padded range or Doppler FFT, and the layout :func:`radarkit.dsp.plan.rd_plan_supports`
    accepts."""
    return (params.kind == "vrdae" and params.mode == "full" and params.backend in ("scipy", "fftw")
            and rd_plan_supports(config, params.n_range, params.n_doppler))


class VRDAEPlan:
    """Planned raw-words -> full 4-D VRDAE cube for one configuration and parameter set.

    Parameters
    ----------
    config : RadarConfig
        2-lane complex layout with a resolved ``iq_order``.
    params : CubeParams
        ``kind="vrdae"``, ``mode="full"``, back end ``"scipy"`` or ``"fftw"``, without ``n_range``
        / ``n_doppler`` zero-padding (:func:`vrdae_plan_supports`).

    Raises
    ------
    ValueError
        Parameters or a layout the plan does not handle.
    ImportError
        The ``fftw`` back end without pyFFTW.

    Examples
    --------
    >>> plan = VRDAEPlan(config, CubeParams(kind="vrdae"))     # doctest: +SKIP
    >>> cube = plan(recording.words(0, 16))  # doctest: +SKIP  (16, doppler, elevation, azimuth, range)
    """

    def __init__(self, config: RadarConfig, params) -> None:
        if not vrdae_plan_supports(config, params):
            raise ValueError("VRDAEPlan needs kind 'vrdae' in mode 'full' on the scipy or fftw back end, "
                             "without n_range/n_doppler, on a 2-lane complex layout with a resolved IQ "
                             "order and an even loop count")
        self.config, self.params = config, params
        self.rd = RDPlan(config, params.range_window, params.doppler_window, bool(params.clutter_removal),
                         params.backend)
        n_loops = config.n_loops
        self.doppler = doppler_keep_slice(n_loops, params.doppler_bins)
        r0, r1 = params.range_bins if params.range_bins is not None else (0, config.n_samples)
        if not 0 <= r0 < r1 <= config.n_samples:
            raise ValueError(f"range_bins {params.range_bins} outside the {config.n_samples}-point range FFT")
        self.range_slice = slice(r0, r1)
        awin = None if params.angle_window == "none" else params.angle_window
        a, e = virtual_row_matrices(config, params.n_azimuth, params.n_elevation, awin, awin)
        a = a * np.tile(config.rx_phase, config.n_tx)[None, :]  # board RX polarity
        n_keep = self.doppler.stop - self.doppler.start
        if params.tdm_compensation and config.n_tx > 1:
            phase = tdm_phase(config.n_tx, config.n_rx, n_loops, shifted=True)[self.doppler]  # (D, V)
        else:
            phase = np.ones((n_keep, config.n_virtual))
        #: per kept Doppler bin: azimuth DFT of each occupied row with the TDM phase, (D, rows*A, V)
        self.row_matrices = np.ascontiguousarray(a[None, :, :] * phase[:, None, :], dtype=np.complex64)
        self.elevation_matrix = np.ascontiguousarray(e, dtype=np.complex64)
        self.n_rows = e.shape[1]
        self._local = threading.local()

    @property
    def frame_shape(self) -> tuple[int, int, int, int]:
        """``(doppler, elevation, azimuth, range)`` of one output frame."""
        p = self.params
        return (self.doppler.stop - self.doppler.start, p.n_elevation, p.n_azimuth,
                self.range_slice.stop - self.range_slice.start)

    def _buffers(self):
        cached = getattr(self._local, "bufs", None)
        if cached is None:
            c = self.config
            d, _, n_a, n_r = self.frame_shape
            rd = self.rd._empty((1, c.n_loops, c.n_virtual, c.n_samples))
            block = np.empty((d, c.n_virtual, n_r), dtype=np.complex64)
            rows = np.empty((1, d, self.n_rows, n_a, n_r), dtype=np.complex64)
            cached = self._local.bufs = (rd, block, rows)
        return cached

    def __call__(self, words: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """4-D cubes of whole frames of raw words.

        Parameters
        ----------
        words : ndarray of int16
            ``n_frames * bytes_per_frame / 2`` words in file order.
        out : ndarray of complex64, optional
            C-contiguous destination ``(n_frames, doppler, elevation, azimuth, range)`` (complex
            output only; reusing it avoids page-faulting 16 MB per frame).

        Returns
        -------
        ndarray, shape (n_frames, doppler, elevation, azimuth, range)
            complex64, or float32 for ``power`` / ``db`` output; angle axes fftshifted as in
            :func:`radarkit.dsp.kinds.angle_spectra`.

        Raises
        ------
        ValueError
            ``words`` is not a whole number of frames, or ``out`` has the wrong shape or dtype.
        """
        words, n_frames = frame_words(words, self.config)
        per_frame = self.config.bytes_per_frame // 2
        shape = (n_frames, *self.frame_shape)
        if out is None:
            out = np.empty(shape, dtype=np.complex64)
        else:
            check_complex_out(out, shape)
        rd, block, rows = self._buffers()
        for f in range(n_frames):
            self.rd(words[f * per_frame:(f + 1) * per_frame], out=rd)
            np.copyto(block, rd[0, self.doppler, :, self.range_slice])
            np.matmul(self.row_matrices, block, out=rows[0].reshape(block.shape[0], -1, block.shape[2]))
            combine_rows(rows, self.elevation_matrix, out[f:f + 1])
        return out if self.params.output == "complex" else power_output(out, self.params.output)
