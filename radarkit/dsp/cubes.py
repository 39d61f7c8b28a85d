"""Cube kinds: compute a cube from raw frames, or stream a whole recording into an HDF5 cube file.

Kinds and their axes: :mod:`radarkit.dsp.kinds` (``range``, ``rd``, ``ra``, ``rad``, ``rae``,
``vrdae`` in ``full`` or ``hupr`` mode, ``rd-video``, ``ra-video``).

:func:`make_cube` is the pure function; :func:`write_cube` streams a
:class:`~radarkit.io.Recording` through it chunk by chunk into a :class:`~radarkit.io.CubeWriter`,
hashing the source files in a background thread meanwhile, so memory stays bounded by the chunk.
With ``workers > 1`` chunks are processed by that many threads (single-threaded kernels that
release the GIL; see :mod:`radarkit.dsp.backends` for the threading model) and written in order.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from radarkit.atomic import check_output_path, sha256_file
from radarkit.axis import Axis
from radarkit.config.radar import RadarConfig
from radarkit.dsp.axes import CUBE_KINDS, axes
from radarkit.dsp.backends import BACKENDS, get_backend, single_threaded_kernels
from radarkit.dsp.hupr import check_hupr_config, hupr_vrdae
from radarkit.dsp.kinds import (
    angle_spectra,
    doppler_spectra,
    keep_doppler_bins,
    power_output,
    range_spectra,
)
from radarkit.dsp.plan import RDPlan, decode_remove_clutter, rd_plan_supports
from radarkit.dsp.plan_vrdae import VRDAEPlan, vrdae_plan_supports
from radarkit.dsp.range_doppler import OUTPUTS
from radarkit.dsp.windows import WINDOWS, get_window
from radarkit.io.layout import decode_frames
from radarkit.io.recording import Recording
from radarkit.io.store import CubeWriter

__all__ = ["CubeParams", "make_cube", "cube_axes", "check_cube_config", "CubeTransform", "write_cube",
           "source_records"]

_DEFAULT_OUTPUT = {"range": "complex", "rd": "db", "ra": "db", "rad": "db", "rae": "db",
                   "vrdae": "complex", "rd-video": "db", "ra-video": "db"}
_NO_COMPLEX = ("ra", "rae", "rd-video", "ra-video")  # power summed over an axis


@dataclass(frozen=True)
class CubeParams:
    """Processing parameters of a cube (stored in the file's ``processing`` attribute).

    Parameters
    ----------
    kind : str
        Cube kind, one of :data:`radarkit.dsp.axes.CUBE_KINDS`.
    mode : {"full", "hupr"}
        ``vrdae`` only: ``"full"`` is radarkit's 4-D FFT (windows optional, TDM compensation);
        ``"hupr"`` reproduces the official HuPR preprocessing exactly (:mod:`radarkit.dsp.hupr`; no
        windows, 64 azimuth x 8 elevation bins, range bins 94..31).
    range_window, doppler_window : str, optional
        Window names (:data:`radarkit.dsp.windows.WINDOWS`, coherent normalisation); default
        ``"hann"`` (``"none"`` in ``hupr`` mode).
    angle_window : str
        Window over the array elements for azimuth and elevation (default ``"none"``).
    n_range, n_doppler : int or None
        FFT lengths (zero-padding); None for samples / loops.
    n_azimuth, n_elevation : int
        Angle bins (zero-padded DFT lengths) for the angle kinds.
    doppler_bins : int or None
        Doppler bins kept around zero velocity (``vrdae``; default 8, HuPR's K).
    range_bins : (int, int) or None
        Keep range bins ``start:stop`` only (angle kinds and ``rd``).
    clutter_removal : bool
        Static clutter removal (mean over loops). Default True except for ``range``.
    output : {"complex", "power", "db"} or None
        Output form; None means the kind's default (complex for ``range`` and ``vrdae``, dB
        otherwise). Kinds that sum power over an axis (``ra``, ``rae``, videos) cannot be complex.
    per_antenna : bool
        ``rd`` only: keep one map per virtual antenna instead of the non-coherent sum.
    tdm_compensation : bool
        TDM-MIMO Doppler phase compensation before angle processing.
    backend : {"numpy", "scipy", "fftw", "torch"}
        FFT / array back end (:mod:`radarkit.dsp.backends`).

    Raises
    ------
    ValueError
        Unknown kind, mode, window, output or backend; an invalid combination (complex summed
        maps, ``hupr`` mode with windows or other angle sizes, ``per_antenna`` outside ``rd``).
    """

    kind: str = "rd"
    mode: str = "full"
    range_window: str | None = None
    doppler_window: str | None = None
    angle_window: str = "none"
    n_range: int | None = None
    n_doppler: int | None = None
    n_azimuth: int = 64
    n_elevation: int = 8
    doppler_bins: int | None = None
    range_bins: tuple[int, int] | None = None
    clutter_removal: bool | None = None
    output: str | None = None
    per_antenna: bool = False
    tdm_compensation: bool = True
    backend: str = "scipy"

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if self.kind not in CUBE_KINDS:
            raise ValueError(f"unknown cube kind {self.kind!r} (choose from {', '.join(CUBE_KINDS)})")
        if self.mode not in ("full", "hupr"):
            raise ValueError(f"unknown mode {self.mode!r} (choose 'full' or 'hupr')")
        if self.mode == "hupr" and self.kind != "vrdae":
            raise ValueError("mode 'hupr' applies to kind 'vrdae' only")
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown backend {self.backend!r} (choose from {', '.join(BACKENDS)})")
        hupr = self.mode == "hupr"
        for name in ("range_window", "doppler_window"):
            if getattr(self, name) is None:
                set_(self, name, "none" if hupr else "hann")
        for name in ("range_window", "doppler_window", "angle_window"):
            if getattr(self, name) not in WINDOWS:
                raise ValueError(f"unknown {name} {getattr(self, name)!r} "
                                 f"(choose from {', '.join(WINDOWS)})")
        if self.output is None:
            set_(self, "output", _DEFAULT_OUTPUT[self.kind])
        if self.output not in OUTPUTS:
            raise ValueError(f"unknown output {self.output!r} (choose from {', '.join(OUTPUTS)})")
        if self.clutter_removal is None:
            set_(self, "clutter_removal", self.kind != "range")
        if self.doppler_bins is None and self.kind == "vrdae":
            set_(self, "doppler_bins", 8)
        if self.range_bins is not None:
            set_(self, "range_bins", (int(self.range_bins[0]), int(self.range_bins[1])))
        if self.per_antenna and self.kind != "rd":
            raise ValueError("per_antenna applies to kind 'rd' only")
        if self.output == "complex" and (self.kind in _NO_COMPLEX
                                         or (self.kind == "rd" and not self.per_antenna)):
            raise ValueError(f"a complex {self.kind} cube is not possible: its maps sum power "
                             "non-coherently (use per_antenna=True for complex rd)")
        if self.kind.endswith("-video") and self.output != "db":
            raise ValueError(f"{self.kind} is a dB video; output must be 'db'")
        if hupr:
            bad = [n for n, v, d in (("range_window", self.range_window, "none"),
                                     ("doppler_window", self.doppler_window, "none"),
                                     ("angle_window", self.angle_window, "none"),
                                     ("n_azimuth", self.n_azimuth, 64), ("n_elevation", self.n_elevation, 8),
                                     ("n_range", self.n_range, None), ("n_doppler", self.n_doppler, None),
                                     ("range_bins", self.range_bins, None),
                                     ("clutter_removal", self.clutter_removal, True),
                                     ("tdm_compensation", self.tdm_compensation, True)) if v != d]
            if bad:
                raise ValueError(f"mode 'hupr' fixes {', '.join(bad)} (HuPR's own processing); use "
                                 "mode 'full' to change them")

    @property
    def units(self) -> str:
        """Units of the cube values: ``"dB"``, ``"power"`` (ADC counts squared) or ``"complex"``."""
        return {"db": "dB", "power": "power", "complex": "complex"}[self.output]

    @property
    def dtype(self) -> np.dtype:
        """Cube dtype: complex64 for complex output, else float32."""
        return np.dtype(np.complex64 if self.output == "complex" else np.float32)

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary of the parameters."""
        return dataclasses.asdict(self)


def _range_window_array(config: RadarConfig, params: CubeParams) -> np.ndarray:
    return get_window(params.range_window, config.n_samples)


def check_cube_config(config: RadarConfig, params: CubeParams) -> None:
    """Check that ``params`` can be applied to recordings of ``config``.

    Raises
    ------
    ConfigError
        ``hupr`` mode on a layout HuPR's demux does not handle.
    """
    if params.mode == "hupr":
        check_hupr_config(config)


def make_cube(raw: Any, config: RadarConfig, params: CubeParams | None = None,
              prewindowed: bool = False, backend: Any = None, out: np.ndarray | None = None) -> Any:
    """Compute a cube of ``params.kind`` from raw frames.

    Parameters
    ----------
    raw : array, shape (frame, loop, tx_slot, rx, sample)
        Parsed raw frames (complex64; float32 for real sampling). A torch tensor with the torch
        back end.
    config : RadarConfig
        The configuration the frames were parsed with.
    params : CubeParams, optional
        Processing parameters (default: dB RD map).
    prewindowed : bool
        The range window was already applied while parsing (fused), so it is not applied again.
    backend : Backend, optional
        A back-end instance overriding ``params.backend`` (e.g. a torch back end on a chosen device).
    out : ndarray, optional
        Destination for complex ``vrdae`` cubes in ``full`` mode on numpy back ends (buffer reuse).

    Returns
    -------
    array
        The cube in the kind's axis order (:func:`cube_axes`), dtype ``params.dtype``; a numpy
        array, or a torch tensor on the torch back end.

    Raises
    ------
    ValueError
        Frames that do not match ``config``.
    ConfigError
        See :func:`check_cube_config`.
    """
    params = CubeParams() if params is None else params
    b = get_backend(params.backend if backend is None else backend)
    if tuple(raw.shape[1:]) != config.raw_shape:
        raise ValueError(f"raw frames of shape {tuple(raw.shape[1:])} do not match the configuration "
                         f"{config.raw_shape}")
    check_cube_config(config, params)
    kind = params.kind
    if params.mode == "hupr":
        return power_output(hupr_vrdae(raw, config, params.doppler_bins, b), params.output, b)
    rwin = None if prewindowed or params.range_window == "none" else _range_window_array(config, params)
    spec = range_spectra(raw, b, rwin, params.n_range, params.clutter_removal, params.range_bins)
    if kind == "range":
        return power_output(spec, params.output, b)
    n_dop = config.n_loops if params.n_doppler is None else params.n_doppler
    dwin = None if params.doppler_window == "none" else get_window(params.doppler_window, config.n_loops)
    rd = doppler_spectra(spec, b, dwin, n_dop)  # (F, D, V, R)
    if kind in ("rd", "rd-video"):
        return power_output(rd, params.output, b, None if params.per_antenna else 2)
    awin = None if params.angle_window == "none" else params.angle_window
    if kind == "vrdae":
        kept = keep_doppler_bins(rd, params.doppler_bins)
        direct = out if params.output == "complex" else None
        cube = angle_spectra(kept, config, b, params.n_azimuth, params.n_elevation, awin, awin,
                             params.tdm_compensation, doppler_fft_length=n_dop, out=direct)
        return power_output(cube, params.output, b)
    elevation = params.n_elevation if kind == "rae" else None
    if kind == "rad" and params.doppler_bins is not None:
        rd = keep_doppler_bins(rd, params.doppler_bins)
    cube = angle_spectra(rd, config, b, params.n_azimuth, elevation, awin, awin, params.tdm_compensation,
                         doppler_fft_length=n_dop)
    return power_output(cube, params.output, b, None if kind == "rad" else 1)


def cube_axes(config: RadarConfig, params: CubeParams, frames: tuple[int, int]) -> list[Axis]:
    """Named axes of the cube :func:`make_cube` returns for frames ``start:stop``."""
    return axes(config, params.kind, frames, n_range=params.n_range, n_doppler=params.n_doppler,
                per_antenna=params.per_antenna, n_azimuth=params.n_azimuth,
                n_elevation=params.n_elevation, doppler_bins=params.doppler_bins,
                range_bins=params.range_bins, mode=params.mode)


def source_records(paths: list[Path]) -> list[dict[str, Any]]:
    """``{name, size, sha256}`` of each source file (sha256 read in 4 MiB blocks)."""
    return [{"name": p.name, "size": p.stat().st_size, "sha256": sha256_file(p)} for p in paths]


class CubeTransform:
    """Raw int16 words -> cube of one kind, planned once (the per-chunk work of :func:`write_cube`).

    Uses the Range-Doppler hot path :class:`radarkit.dsp.plan.RDPlan` for ``rd``/``rd-video`` and
    the planned 4-D cube :class:`radarkit.dsp.plan_vrdae.VRDAEPlan` for ``vrdae`` in ``full`` mode on
    the scipy and fftw back ends when the layout allows (:func:`radarkit.dsp.plan.rd_plan_supports`),
    else decodes (range window fused into the conversion) and calls :func:`make_cube`. Callable
    from several threads at once.

    Parameters
    ----------
    config : RadarConfig
        Layout of the words, with a resolved IQ order.
    params : CubeParams

    Raises
    ------
    ConfigError
        See :func:`check_cube_config`.
    """

    def __init__(self, config: RadarConfig, params: CubeParams) -> None:
        check_cube_config(config, params)
        self.config, self.params = config, params
        self.backend = get_backend(params.backend)
        self.plan = None
        if (params.kind in ("rd", "rd-video") and params.backend in ("scipy", "fftw")
                and rd_plan_supports(config, params.n_range, params.n_doppler, params.range_bins)):
            self.plan = RDPlan(config, params.range_window, params.doppler_window,
                               params.clutter_removal, params.backend)
        self.vrdae_plan = VRDAEPlan(config, params) if vrdae_plan_supports(config, params) else None
        self.fused = params.mode != "hupr" and params.range_window != "none"
        self.window = _range_window_array(config, params) if self.fused else None
        self._no_clutter = (dataclasses.replace(params, clutter_removal=False)
                            if params.mode != "hupr" else params)

    def __call__(self, words: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Cube (numpy, ``params.dtype``) of the whole frames in ``words`` (int16, file order);
        ``out`` is an optional destination for complex ``vrdae`` cubes (see :func:`make_cube`)."""
        p = self.params
        if self.vrdae_plan is not None:
            return self.vrdae_plan(words, out=out if p.output == "complex" else None)
        if self.plan is not None:
            if p.per_antenna:
                return power_output(self.plan(words), p.output, self.backend)
            power = self.plan.power(words)
            return power if p.output == "power" else power_output(power, "db_of_power", self.backend)
        if p.mode == "hupr" and rd_plan_supports(self.config):  # clutter removal fused into decoding
            raw = decode_remove_clutter(words, self.config)
            cube = hupr_vrdae(raw, self.config, p.doppler_bins, self.backend, clutter_removed=True)
            return self.backend.to_numpy(power_output(cube, p.output, self.backend))
        if p.clutter_removal and rd_plan_supports(self.config):  # one pass: decode, clutter, window
            raw = decode_remove_clutter(words, self.config, window=self.window)
            p = self._no_clutter
        else:
            raw = decode_frames(words, self.config, window=self.window)
        cube = make_cube(raw, self.config, p, prewindowed=self.fused, backend=self.backend, out=out)
        return self.backend.to_numpy(cube)


def write_cube(
    recording: Recording,
    out: str | os.PathLike,
    params: CubeParams | None = None,
    frames: tuple[int, int] | None = None,
    chunk: int = 16,
    force: bool = False,
    compression: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    command: str | None = None,
    workers: int = 1,
    storage: str = "native",
) -> Path:
    """Stream ``recording`` into a cube file, atomically.

    Parameters
    ----------
    recording : Recording
        The capture.
    out : str or os.PathLike
        Output ``.h5`` file (must not exist unless ``force``).
    params : CubeParams, optional
        Processing parameters (default: dB RD map).
    frames : (int, int), optional
        Frame range ``start, stop``; default all.
    chunk : int
        Frames decoded and processed at a time (bounds memory).
    force : bool
        Replace an existing output.
    compression : str, optional
        HDF5 compression of the cube (``"gzip"``, ``"lzf"``).
    progress : callable, optional
        Called as ``progress(frames_done, bytes_done)`` after each chunk.
    command : str, optional
        Command line recorded in the file (default ``sys.argv``).
    workers : int
        Threads computing chunks in parallel (each kernel single-threaded); chunks are written in
        order and at most ``2 * workers`` are in flight, so memory stays bounded.
    storage : {"native", "float16"}
        ``"float16"`` (complex output only): real and imaginary parts as a trailing ``component``
        axis in float16, each frame divided by its largest absolute part, which is kept in the
        ``frame_scale`` dataset (half the size of complex64; relative precision about 1e-3 of the
        frame's peak; exact up to a scale for HuPR's per-slice min-max normalisation).

    Returns
    -------
    pathlib.Path
        ``out``.

    Raises
    ------
    StoreError
        Output exists or cannot be written, or is one of the recording's files (checked before
        any work).
    ConfigError
        The parameters do not apply to the recording's configuration (:func:`check_cube_config`).
    ValueError
        ``workers < 1``.
    """
    params = CubeParams() if params is None else params
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if storage not in ("native", "float16"):
        raise ValueError(f"storage must be 'native' or 'float16', got {storage!r}")
    if storage == "float16" and params.output != "complex":
        raise ValueError("float16 storage is for complex cubes (use output='complex')")
    check_output_path(out, force, inputs=recording.paths)
    config = recording.config
    check_cube_config(config, params)
    start, stop = (0, recording.n_frames) if frames is None else frames
    cube_ax = cube_axes(config, params, (start, stop))
    transform = CubeTransform(config, params)
    attrs = {
        "processing": params.to_dict(),
        "capture": dataclasses.asdict(recording.report),
        "n_frames": stop - start,
        "frame_start": start,
        "bytes_skipped": recording.report.bytes_skipped,
        "command": command if command is not None else " ".join(sys.argv),
        "storage": storage,
    }

    half = storage == "float16"
    if half:
        cube_ax = [*cube_ax, Axis("component", "component", np.array([0, 1]), "re/im")]

    def compute(words: np.ndarray):
        cube = transform(words)
        if not half:
            return cube, None
        parts = np.stack([cube.real, cube.imag], axis=-1)
        scale = np.abs(parts).reshape(len(parts), -1).max(axis=1)
        scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
        return (parts / scale.reshape((-1,) + (1,) * (parts.ndim - 1))).astype(np.float16), scale

    with single_threaded_kernels(), ThreadPoolExecutor(max_workers=1) as hash_pool, \
            ThreadPoolExecutor(max_workers=workers) as pool:
        hashes = hash_pool.submit(source_records, recording.paths)
        dtype = np.float16 if half else params.dtype
        with CubeWriter(out, cube_ax, dtype, params.kind, config, attrs, params.units,
                        force, compression, frame_scale=half) as writer:
            pending: deque = deque()
            done = 0

            def drain(limit: int) -> None:
                nonlocal done
                while len(pending) > limit:
                    first, n, fut = pending.popleft()
                    writer.write(first - start, *fut.result())
                    done += n
                    if progress is not None:
                        progress(done, done * config.bytes_per_frame)

            try:
                for first in range(start, stop, chunk):
                    raw = recording.words(first, min(first + chunk, stop))  # int16, decoded in compute
                    raw = raw.reshape(-1, config.bytes_per_frame // 2)
                    if workers == 1:  # in the calling thread: nothing computed ahead
                        writer.write(first - start, *compute(raw))
                        done += len(raw)
                        if progress is not None:
                            progress(done, done * config.bytes_per_frame)
                        continue
                    pending.append((first, len(raw), pool.submit(compute, raw)))
                    drain(2 * workers - 1)
                drain(0)
            except BaseException:
                for *_, fut in pending:
                    fut.cancel()
                raise
            writer.attrs["sources"] = hashes.result()
    return Path(out)
