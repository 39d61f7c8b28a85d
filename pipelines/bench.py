"""``radarkit bench``: cube throughput beside plain numpy, scipy.fft and OpenRadar, in one process.

Workload: the HuPR configuration (``hupr`` preset: 64 loops x 3 TX x 4 RX x 256 complex samples,
786,432 bytes per frame), random int16 words held in memory, so disk speed does not enter. Each
pipeline turns the same words into its cube; the median of ``repeats`` timed passes over
``frames`` frames (after one warm-up pass) gives frames/s. Pipelines:

* ``numpy``: plain numpy -- organize (I/Q de-interleave with slicing), Hann windows, clutter
  removal, ``numpy.fft`` range and Doppler FFTs, fftshift -> ``(doppler, virtual, range)`` complex64;
* ``scipy``: the same with ``scipy.fft`` (one worker);
* ``openradar``: OpenRadar 1.0.1's ``DCA1000.organize`` + ``range_processing`` +
  ``doppler_processing`` (Hann windows, clutter removal, per frame, as its demos do), fed int16;
  only when the ``openradar`` package (``radarkit[bench]``) is installed;
* ``radarkit-rd-scipy`` / ``radarkit-rd-fftw``: :class:`radarkit.dsp.plan.RDPlan` (fused numba
  convert + planned FFTs), one thread; ``-w2``: frames split across 2 threads;
* ``radarkit-vrdae-hupr`` (1 and 2 threads): HuPR's VRDAEMap, 8 Doppler bins;
  ``hupr-script``: the official script's structure (one FFT call per angle vector, complex128),
  timed on one frame;
* ``radarkit-4d-full`` (``-fftw`` with pyFFTW): the full 4-D cube (64 range x 64 Doppler x 64
  azimuth x 8 elevation, :class:`radarkit.dsp.plan_vrdae.VRDAEPlan`), 2 threads;
* ``fftn-4d-t2``: the same cube as a zero-padded 4-D array and one planned ``fftn`` per frame;
* ``fft-bound``: the FFT compute bound of the RD workload -- the time FFTW (or scipy.fft without
  pyFFTW) needs for the same 768 range FFTs of 256 points and 3,072 Doppler FFTs of 64 points per
  frame, as contiguous in-cache batches (no conversion, no strides): no RD pipeline can beat it on
  one core. ``fft-bound-w2``: the same work split over 2 threads (each with its own buffers and
  plans); its speed-up over one thread is what this machine's second core gives to pure in-cache
  FFT work, the ceiling against which the RD ``-w2`` speed-up is read.
* ``copy-bound``: the memory-copy bound of the RD workload -- the same frames' int16 words read
  from memory once and the same number of output bytes written (1.57 MB per HuPR frame) with
  ordinary stores (``numpy.copyto``), no arithmetic: the memory traffic of a pipeline that
  writes its cube directly. (``RDPlan``'s streamed output on x86-64 moves less: its stores skip
  the read for ownership.) ``copy-bound-w2``: the copies split over 2 threads; its speed-up over
  one thread is what the second core adds to memory traffic, the other ceiling of the RD
  ``-w2`` speed-up.

The share of the FFT bound (``fft_bound_share``, RD pipelines only) is measured in pairs: after
each timed pass of a pipeline the bound's work for the same number of frames is timed at once,
and the share is the median over the pairs of (bound seconds / pipeline seconds). A shared VM's
speed drifts by tens of percent within minutes, so a bound timed at another moment of the run
would move the ratio as much as any change to the code; pairing compares like with like. The
2-thread speed-up (``speedup_vs_one_thread``, on each ``-w2`` row whose one-thread pipeline is
also timed) is paired the same way: the one-thread pipeline runs right after each 2-thread pass,
and the speed-up is the median of (one-thread seconds / 2-thread seconds).

``peak_rss_mb`` is the process's resident set size high-water mark *during* each pipeline
(sampled every 2 ms by a thread; the whole process, so it includes the shared input buffer).

References
----------
``shared/specs/performance.md`` (the anchors these numbers are compared with).
"""

from __future__ import annotations

import json
import os
import platform
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from radarkit.atomic import atomic_output
from radarkit.config.presets import get_preset
from radarkit.config.radar import RadarConfig
from radarkit.dsp.backends import available_backends, single_threaded_kernels
from radarkit.dsp.windows import get_window

__all__ = ["BenchResult", "run_bench", "format_table", "write_json"]


@dataclass
class BenchResult:
    """One pipeline's timing.

    Attributes
    ----------
    name : str
    frames : int
        Frames per timed pass.
    seconds_median : float
        Median seconds of a pass.
    frames_per_s : float
    ratio_to_numpy : float
        ``frames_per_s`` over the ``numpy`` pipeline's.
    peak_rss_mb : float
        Process RSS high-water mark while the pipeline ran (MB).
    note : str
        What the pipeline computes.
    fft_bound_share : float or None
        Median over the timed passes of (FFT-bound seconds for the same frames, timed right after
        the pass) / (pass seconds); None for pipelines not compared with the bound.
    speedup_vs_one_thread : float or None
        ``-w2`` rows: median over the timed passes of (seconds of the one-thread pipeline on the
        same frames, timed right after the pass) / (pass seconds); None elsewhere.
    """

    name: str
    frames: int
    seconds_median: float
    frames_per_s: float
    ratio_to_numpy: float
    peak_rss_mb: float
    note: str = ""
    fft_bound_share: float | None = None
    speedup_vs_one_thread: float | None = None


class _RssSampler:
    """Peak RSS of this process while the ``with`` block runs (sampled from /proc every 2 ms)."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

    def _rss(self) -> int:
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * self._page
        except OSError:  # pragma: no cover - not Linux
            import resource

            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            self._stop.wait(0.002)

    def __enter__(self) -> _RssSampler:
        self.peak = self._rss()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())


BOUND_COMPARED = ("numpy", "scipy", "openradar", "radarkit-rd")  # RD pipelines: share of the bound


def _time(fn: Callable[[], Any], repeats: int, paired: dict[str, Callable[[], Any]] | None = None
          ) -> tuple[float, float, dict[str, float]]:
    """(median seconds, peak RSS MB, paired ratios) of ``fn`` over ``repeats`` runs after one warm-up.

    Each callable in ``paired`` is timed right after each run of ``fn`` (in the mapping's order);
    the ratio under its key is the median over the runs of (its seconds / ``fn``'s seconds).
    """
    paired = paired or {}
    fn()
    for other in paired.values():
        other()
    times: list[float] = []
    ratios: dict[str, list[float]] = {key: [] for key in paired}
    with _RssSampler() as rss:
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
            for key, other in paired.items():
                t1 = time.perf_counter()
                other()
                ratios[key].append((time.perf_counter() - t1) / times[-1])
    return (float(np.median(times)), rss.peak / 1e6,
            {key: float(np.median(values)) for key, values in ratios.items()})


# ----------------------------------------------------------------------------- pipelines
def _numpy_organize(words: np.ndarray, cfg: RadarConfig) -> np.ndarray:
    """int16 words -> (frame, loop, virtual, sample) complex64 with numpy slicing (I first)."""
    w = words.reshape(-1, 4)
    out = np.empty((w.shape[0], 2), dtype=np.complex64)
    out.real = w[:, 0:2]
    out.imag = w[:, 2:4]
    return out.reshape(-1, cfg.n_loops, cfg.n_virtual, cfg.n_samples)


def _plain_rd(words: np.ndarray, cfg: RadarConfig, fft: Callable, rwin, dwin) -> np.ndarray:
    x = _numpy_organize(words, cfg) * rwin
    x = fft(x, axis=-1)
    x = x - x.mean(axis=1, keepdims=True)
    x = fft(x * dwin[None, :, None, None], axis=1)
    return np.fft.fftshift(x, axes=1).astype(np.complex64, copy=False)


def _scipy_fft1(x: np.ndarray, axis: int) -> np.ndarray:
    import scipy.fft

    return scipy.fft.fft(x, axis=axis, workers=1)


def _openradar_rd(words: np.ndarray, cfg: RadarConfig) -> list[np.ndarray]:
    import mmwave.dsp as dsp
    from mmwave.dataloader import DCA1000
    from mmwave.dsp.utils import Window

    per_frame = cfg.bytes_per_frame // 2
    out = []
    for f in range(words.size // per_frame):
        frame = words[f * per_frame:(f + 1) * per_frame]
        adc = DCA1000.organize(frame, cfg.n_chirps, cfg.n_rx, cfg.n_samples)
        cube = dsp.range_processing(adc, window_type_1d=Window.HANNING)
        _, aoa = dsp.doppler_processing(cube, num_tx_antennas=cfg.n_tx, clutter_removal_enabled=True,
                                        window_type_2d=Window.HANNING, accumulate=False)
        out.append(aoa)
    return out


def _split_frames(fn: Callable[..., Any], words: np.ndarray, cfg: RadarConfig, pool: ThreadPoolExecutor,
                  out: np.ndarray | None = None, chunk: int = 8) -> None:
    """Run ``fn`` on chunks of frames in the pool's threads (into slices of ``out`` when given)."""
    per = cfg.bytes_per_frame // 2
    n = words.size // per
    futures = []
    for a in range(0, n, chunk):
        b = min(a + chunk, n)
        args = (words[a * per:b * per],)
        futures.append(pool.submit(fn, *args) if out is None else pool.submit(fn, *args, out=out[a:b]))
    for fut in futures:
        fut.result()


def _fftn_4d(cfg: RadarConfig, threads: int = 2) -> Callable[[np.ndarray], np.ndarray]:
    """Baseline full 4-D cube, planned once: numpy decode, clutter removal and range FFT, then the
    virtual antennas zero-padded into a (64 loop, 8 elevation, 64 azimuth, 64 range) array per frame
    and one ``fftn`` over (loop, elevation, azimuth) with ``threads`` threads (a planned pyFFTW
    object if installed, else scipy.fft), fftshifted."""
    import scipy.fft

    from radarkit.dsp.angle import _grid_indices
    from radarkit.io.layout import decode_frames

    az, el = _grid_indices(cfg)
    grid = np.zeros((cfg.n_loops, 8, 64, 64), dtype=np.complex64)
    if "fftw" in available_backends():
        import pyfftw
        import pyfftw.builders

        grid = pyfftw.zeros_aligned(grid.shape, dtype=np.complex64)

        plan = pyfftw.builders.fftn(grid, axes=(0, 1, 2), threads=threads, planner_effort="FFTW_MEASURE",
                                    avoid_copy=True)
    else:
        def plan() -> np.ndarray:
            return scipy.fft.fftn(grid, axes=(0, 1, 2), workers=threads)

    def run(words: np.ndarray) -> np.ndarray:
        raw = decode_frames(words, cfg)
        raw = raw - raw.mean(axis=1, keepdims=True)
        spec = scipy.fft.fft(raw, axis=-1, workers=1)[..., 31:95]
        spec = spec.reshape(len(raw), cfg.n_loops, cfg.n_virtual, 64)
        out = np.empty((len(raw), cfg.n_loops, 8, 64, 64), dtype=np.complex64)
        for f in range(len(raw)):
            grid[:, el, az, :] = spec[f]
            out[f] = np.fft.fftshift(plan(), axes=(0, 1, 2))
        return out

    return run


def _hupr_script_frame(raw: np.ndarray) -> np.ndarray:
    """One frame the way the official script is structured: an FFT call per angle vector, complex128."""
    x = raw.astype(np.complex128)  # (loop, slot, rx, sample)
    x = x - x.mean(axis=0, keepdims=True)
    virtual = np.concatenate([x[:, 0], x[:, 2], x[:, 1]], axis=1)  # (loop, 12, sample)
    rd = np.stack([np.fft.fft2(virtual[:, v, :]) for v in range(12)], axis=1)
    out = np.zeros((16, 64, 64, 8), dtype=np.complex128)
    rd = np.fft.fftshift(rd, axes=0)[24:40][:, :, 94:30:-1]
    for d in range(16):
        for r in range(64):
            grid = np.zeros((8, 64), dtype=np.complex128)
            grid[0, :8] = rd[d, :8, r]
            grid[1, 2:6] = rd[d, 8:, r]
            for a in range(2, 6):
                grid[:, a] = np.fft.fft(grid[:, a])
            for e in range(8):
                grid[e] = np.fft.fft(grid[e])
            out[d, r] = np.flip(np.fft.fftshift(grid.T), axis=(0, 1))
    return out


def _fft_bound(cfg: RadarConfig) -> tuple[Callable[[int], None], str]:
    """The RD workload's FFTs as contiguous in-cache batches: a callable doing ``n`` frames' worth,
    and the library (FFTW when pyFFTW is installed, else scipy.fft)."""
    n_range_ffts = cfg.n_loops * cfg.n_virtual
    n_doppler_ffts = cfg.n_samples * cfg.n_virtual
    if "fftw" in available_backends():
        import pyfftw

        a = pyfftw.empty_aligned((n_range_ffts // 4, cfg.n_samples), dtype=np.complex64)
        b = pyfftw.empty_aligned((n_doppler_ffts // 4, cfg.n_loops), dtype=np.complex64)
        pa = pyfftw.FFTW(a, a, axes=(1,), threads=1, flags=("FFTW_MEASURE",))
        pb = pyfftw.FFTW(b, b, axes=(1,), threads=1, flags=("FFTW_MEASURE",))
        a[:] = 1.0
        b[:] = 1.0
        lib = "FFTW"
    else:
        import scipy.fft

        a = np.ones((n_range_ffts // 4, cfg.n_samples), dtype=np.complex64)
        b = np.ones((n_doppler_ffts // 4, cfg.n_loops), dtype=np.complex64)

        def pa():
            scipy.fft.fft(a, axis=1, workers=1, overwrite_x=True)

        def pb():
            scipy.fft.fft(b, axis=1, workers=1, overwrite_x=True)
        lib = "scipy.fft"

    def frames(n: int) -> None:
        for _ in range(4 * n):  # each batch holds a quarter of a frame's FFTs
            pa()
            pb()
    return frames, lib


def _copy_frames(words: np.ndarray, out: np.ndarray) -> None:
    """The RD pipeline's DRAM traffic without its arithmetic: each frame's int16 words are read and
    copied twice into the frame's output bytes (a complex64 RD frame holds exactly twice the raw
    frame's bytes), so the input is read from DRAM once and the output written once."""
    n = len(out)
    src = words.view(np.uint8).reshape(n, -1)
    dst = out.view(np.uint8).reshape(n, -1)
    half = src.shape[1]
    for f in range(n):
        np.copyto(dst[f, :half], src[f])
        np.copyto(dst[f, half:], src[f])


def run_bench(frames: int = 64, repeats: int = 5, include: tuple[str, ...] | None = None,
              echo: Callable[[str], None] | None = None, seed: int = 0) -> tuple[list[BenchResult], dict]:
    """Time the pipelines (module docstring) on ``frames`` random frames of the HuPR configuration.

    Parameters
    ----------
    frames : int
        Frames per timed pass (4-D and VRDAE pipelines use ``min(frames, 32)``).
    repeats : int
        Timed passes per pipeline (the median is reported).
    include : tuple of str, optional
        Only pipelines whose name starts with one of these prefixes (``numpy`` always runs, as
        the reference).
    echo : callable, optional
        Called with a progress line per pipeline.
    seed : int
        Seed of the random int16 words.

    Returns
    -------
    results : list of BenchResult
    machine : dict
        CPU, core count, library versions, FFT library of the bound.

    Raises
    ------
    ValueError
        ``frames`` or ``repeats`` < 1.
    """
    from radarkit.dsp.cubes import CubeParams, CubeTransform
    from radarkit.dsp.plan import RDPlan
    from radarkit.io.layout import decode_frames

    if frames < 1 or repeats < 1:
        raise ValueError(f"frames and repeats must be >= 1, got {frames}, {repeats}")
    say = echo or (lambda _: None)
    cfg = get_preset("hupr")
    rng = np.random.default_rng(seed)
    words = rng.integers(-2000, 2000, size=frames * cfg.bytes_per_frame // 2, dtype=np.int16)
    per = cfg.bytes_per_frame // 2
    small = min(frames, 32)
    rwin = get_window("hann", cfg.n_samples)
    dwin = get_window("hann", cfg.n_loops)
    backends = available_backends()
    pool = ThreadPoolExecutor(max_workers=2)
    rd_fftw = RDPlan(cfg, backend="fftw") if "fftw" in backends else None
    rd_scipy = RDPlan(cfg, backend="scipy")
    rd_out = rd_scipy._empty((frames, cfg.n_loops, cfg.n_virtual, cfg.n_samples))
    rd_out_fftw = rd_fftw._empty(rd_out.shape) if rd_fftw is not None else None
    hupr = CubeTransform(cfg, CubeParams(kind="vrdae", mode="hupr", backend="scipy"))
    full_params = CubeParams(kind="vrdae", doppler_bins=64, range_bins=(31, 95), range_window="none",
                             doppler_window="none", backend="scipy")
    full = CubeTransform(cfg, full_params)
    full_fftw = (CubeTransform(cfg, replace(full_params, backend="fftw")) if "fftw" in backends else None)
    pipelines: list[tuple[str, int, Callable[[], Any], str]] = [
        ("numpy", frames, lambda: _plain_rd(words, cfg, np.fft.fft, rwin, dwin),
         "plain numpy organize + numpy.fft, RD (doppler, virtual, range) complex64"),
        ("scipy", frames, lambda: _plain_rd(words, cfg, _scipy_fft1, rwin, dwin),
         "numpy organize + scipy.fft (1 worker)"),
    ]
    try:
        import mmwave  # noqa: F401

        pipelines.append(("openradar", frames, lambda: _openradar_rd(words, cfg),
                          "OpenRadar organize + range_processing + doppler_processing (int16 in)"))
    except ImportError:
        say("openradar not installed (pip install 'radarkit[bench]'): skipped")
    pipelines.append(("radarkit-rd-scipy", frames, lambda: rd_scipy(words, out=rd_out),
                      "RDPlan: fused numba convert + scipy.fft, 1 thread"))
    if rd_fftw is not None:
        pipelines += [
            ("radarkit-rd-fftw", frames, lambda: rd_fftw(words, out=rd_out_fftw),
             "RDPlan: fused numba convert + planned FFTW, 1 thread"),
            ("radarkit-rd-fftw-w2", frames,
             lambda: _split_frames(rd_fftw, words, cfg, pool, rd_out_fftw),
             "RDPlan FFTW, frames split over 2 threads"),
        ]
    else:
        pipelines.append(("radarkit-rd-scipy-w2", frames,
                          lambda: _split_frames(rd_scipy, words, cfg, pool, rd_out),
                          "RDPlan scipy, frames split over 2 threads"))
    sw = words[: small * per]
    full_out = np.empty((small, 64, 8, 64, 64), dtype=np.complex64)  # reused, as rd_out
    fftn_4d = _fftn_4d(cfg, 2)
    pipelines += [
        ("radarkit-vrdae-hupr", small, lambda: hupr(sw), "HuPR VRDAEMap (8 Doppler bins), 1 thread"),
        ("radarkit-vrdae-hupr-w2", small, lambda: _split_frames(hupr, sw, cfg, pool),
         "HuPR VRDAEMap, 2 threads"),
        ("radarkit-4d-full-w2", small, lambda: _split_frames(full, sw, cfg, pool, full_out),
         "full 4-D cube 64 range x 64 Doppler x 64 azimuth x 8 elevation, 2 threads"),
    ]
    if full_fftw is not None:
        pipelines.append(("radarkit-4d-full-fftw-w2", small,
                          lambda: _split_frames(full_fftw, sw, cfg, pool, full_out),
                          "full 4-D cube, FFTW range/Doppler FFTs, 2 threads"))
    pipelines += [
        ("fftn-4d-t2", small, lambda: fftn_4d(sw),
         "baseline: zero-padded 4-D array + fftn (pyFFTW or scipy.fft), 2 threads"),
    ]
    one = decode_frames(words[:per], cfg)[0]
    results: list[BenchResult] = []
    by_name = {name: fn for name, _, fn, _ in pipelines}  # before --only: a -w2 row's pair
    if include is not None:
        pipelines = [p for p in pipelines if p[0] == "numpy" or p[0].startswith(tuple(include))]
    bound, lib = _fft_bound(cfg)
    for name, n, fn, note in pipelines:
        say(f"timing {name} ...")
        paired: dict[str, Callable[[], Any]] = {}
        if name.startswith(BOUND_COMPARED):
            paired["bound"] = lambda n=n: bound(n)
        if name.endswith("-w2") and name[:-3] in by_name:
            paired["one_thread"] = by_name[name[:-3]]
        with single_threaded_kernels():
            secs, peak, ratios = _time(fn, repeats, paired)
        results.append(BenchResult(name, n, secs, n / secs, 0.0, peak, note, ratios.get("bound"),
                                   ratios.get("one_thread")))
    if include is None or any("hupr-script".startswith(i) for i in include):
        say("timing hupr-script (1 frame) ...")
        secs, peak, _ = _time(lambda: _hupr_script_frame(one), 1)
        results.append(BenchResult("hupr-script", 1, secs, 1 / secs, 0.0, peak,
                                   "official HuPR script structure, complex128, one frame"))
    bound_s, _, _ = _time(lambda: bound(frames), 3 * repeats)
    results.append(BenchResult("fft-bound", frames, bound_s, frames / bound_s, 0.0, 0.0,
                               f"RD FFT work as contiguous in-cache {lib} batches, 1 thread"))
    second, _ = _fft_bound(cfg)  # own buffers and plans for the second thread

    def bound_w2() -> None:
        halves = [pool.submit(bound, frames // 2), pool.submit(second, frames - frames // 2)]
        for fut in halves:
            fut.result()
    secs, _, ratios = _time(bound_w2, 3 * repeats, {"one_thread": lambda: bound(frames)})
    results.append(BenchResult("fft-bound-w2", frames, secs, frames / secs, 0.0, 0.0,
                               f"the same {lib} batches split over 2 threads", None,
                               ratios["one_thread"]))
    copy_out = rd_out_fftw if rd_out_fftw is not None else rd_out
    secs, _, _ = _time(lambda: _copy_frames(words, copy_out), 3 * repeats)
    results.append(BenchResult("copy-bound", frames, secs, frames / secs, 0.0, 0.0,
                               "RD DRAM traffic alone: raw words read once, output written once, 1 thread"))
    secs, _, ratios = _time(lambda: _split_frames(_copy_frames, words, cfg, pool, copy_out), 3 * repeats,
                            {"one_thread": lambda: _copy_frames(words, copy_out)})
    results.append(BenchResult("copy-bound-w2", frames, secs, frames / secs, 0.0, 0.0,
                               "the same copies, frames split over 2 threads", None, ratios["one_thread"]))
    pool.shutdown()
    ref = results[0].frames_per_s
    for r in results:
        r.ratio_to_numpy = r.frames_per_s / ref
    return results, machine_info(lib)


def machine_info(fft_library: str = "") -> dict[str, Any]:
    """CPU, cores and library versions of this machine, for the results record."""
    import numba
    import scipy

    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:  # pragma: no cover - not Linux
        pass
    versions = {"python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__,
                "numba": numba.__version__}
    for mod in ("pyfftw", "torch", "openradar"):
        try:
            from importlib.metadata import version

            versions[mod] = version({"pyfftw": "pyFFTW"}.get(mod, mod))
        except Exception:  # noqa: BLE001 - any failure means "not installed"
            versions[mod] = None
    return {"name": "machine", "cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(),
            "fft_bound_library": fft_library, "versions": versions}


def format_table(results: list[BenchResult]) -> str:
    """Results as a Markdown table (frames/s, ratio to numpy, share of the FFT bound and 2-thread
    speed-up, both measured in pairs (:class:`BenchResult` ``fft_bound_share``,
    ``speedup_vs_one_thread``), peak RSS)."""
    lines = ["| pipeline | frames/s | x numpy | % of FFT bound | x 1 thread | peak RSS MB |",
             "|---|---|---|---|---|---|"]
    for r in results:
        share = "" if r.fft_bound_share is None else f"{100 * r.fft_bound_share:.0f} %"
        speedup = "" if r.speedup_vs_one_thread is None else f"{r.speedup_vs_one_thread:.2f}"
        lines.append(f"| {r.name} | {r.frames_per_s:,.1f} | {r.ratio_to_numpy:.2f} | {share} | "
                     f"{speedup} | {r.peak_rss_mb:.0f} |")
    return "\n".join(lines)


def write_json(path: str | os.PathLike, results: list[BenchResult], machine: dict[str, Any],
               force: bool = True) -> Path:
    """Write a JSON list atomically to ``path``: one record per pipeline (:class:`BenchResult`
    fields), then the ``machine`` record (``"name": "machine"``)."""
    with atomic_output(path, force) as tmp:
        Path(tmp).write_text(json.dumps([asdict(r) for r in results] + [machine], indent=2) + "\n")
    return Path(path)
