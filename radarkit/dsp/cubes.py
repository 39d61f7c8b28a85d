"""Cube kinds: compute a cube from raw frames, or stream a whole recording into an HDF5 cube file.

Kinds (``architecture.md`` axis orders):

* ``"range"``: range spectra ``(frame, chirp_loop, virtual_antenna, range)``, complex by default;
* ``"rd"``: Range-Doppler ``(frame, doppler, range)`` (power summed non-coherently over virtual
  antennas) or ``(frame, doppler, virtual_antenna, range)`` with ``per_antenna``.

:func:`make_cube` is the pure function; :func:`write_cube` streams a
:class:`~radarkit.io.Recording` through it chunk by chunk into a :class:`~radarkit.io.CubeWriter`,
hashing the source files in a background thread meanwhile, so memory stays bounded by the chunk.
"""

from __future__ import annotations

import dataclasses
import os
import sys
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
from radarkit.dsp.range_doppler import OUTPUTS, range_cube, range_doppler, to_output
from radarkit.dsp.windows import WINDOWS, get_window
from radarkit.io.recording import Recording
from radarkit.io.store import CubeWriter

__all__ = ["CubeParams", "make_cube", "cube_axes", "write_cube", "source_records"]


@dataclass(frozen=True)
class CubeParams:
    """Processing parameters of a cube (stored in the file's ``processing`` attribute).

    Parameters
    ----------
    kind : {"range", "rd"}
        Cube kind.
    range_window, doppler_window : str
        Window names (:data:`radarkit.dsp.windows.WINDOWS`), coherent normalisation.
    n_range, n_doppler : int or None
        FFT lengths (zero-padding); None for samples / loops.
    clutter_removal : bool
        Static clutter removal (mean over loops). Default True for ``rd``, False for ``range``.
    output : {"complex", "power", "db"} or None
        Output form; None means ``"db"`` for ``rd`` and ``"complex"`` for ``range``.
    per_antenna : bool
        ``rd`` only: keep one map per virtual antenna instead of the non-coherent sum.

    Raises
    ------
    ValueError
        Unknown kind, window or output; complex summed RD.
    """

    kind: str = "rd"
    range_window: str = "hann"
    doppler_window: str = "hann"
    n_range: int | None = None
    n_doppler: int | None = None
    clutter_removal: bool | None = None
    output: str | None = None
    per_antenna: bool = False

    def __post_init__(self) -> None:
        if self.kind not in CUBE_KINDS:
            raise ValueError(f"unknown cube kind {self.kind!r} (choose from {', '.join(CUBE_KINDS)})")
        for name in ("range_window", "doppler_window"):
            if getattr(self, name) not in WINDOWS:
                raise ValueError(f"unknown {name} {getattr(self, name)!r} "
                                 f"(choose from {', '.join(WINDOWS)})")
        if self.output is None:
            object.__setattr__(self, "output", "db" if self.kind == "rd" else "complex")
        if self.output not in OUTPUTS:
            raise ValueError(f"unknown output {self.output!r} (choose from {', '.join(OUTPUTS)})")
        if self.clutter_removal is None:
            object.__setattr__(self, "clutter_removal", self.kind == "rd")
        if self.kind == "rd" and self.output == "complex" and not self.per_antenna:
            raise ValueError("a complex RD cube must be per antenna (per_antenna=True): complex "
                             "maps cannot be summed non-coherently")

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


def make_cube(raw: np.ndarray, config: RadarConfig, params: CubeParams | None = None,
              prewindowed: bool = False) -> np.ndarray:
    """Compute a cube of ``params.kind`` from raw frames.

    Parameters
    ----------
    raw : ndarray, shape (frame, loop, tx_slot, rx, sample)
        Parsed raw frames (complex64; float32 for real sampling).
    config : RadarConfig
        The configuration the frames were parsed with.
    params : CubeParams, optional
        Processing parameters (default: dB RD map).
    prewindowed : bool
        The range window was already applied while parsing (fused), so it is not applied again.

    Returns
    -------
    ndarray
        The cube in the kind's axis order (:func:`cube_axes`), dtype ``params.dtype``.
    """
    params = CubeParams() if params is None else params
    if raw.shape[1:] != config.raw_shape:
        raise ValueError(f"raw frames of shape {raw.shape[1:]} do not match the configuration "
                         f"{config.raw_shape}")
    rwin = None if prewindowed else params.range_window
    if params.kind == "range":
        return to_output(range_cube(raw, rwin, params.n_range, params.clutter_removal),
                         params.output)
    return range_doppler(raw, rwin, params.doppler_window, params.n_range, params.n_doppler,
                         params.clutter_removal, params.output,
                         "none" if params.per_antenna else "sum")


def cube_axes(config: RadarConfig, params: CubeParams, frames: tuple[int, int]) -> list[Axis]:
    """Named axes of the cube :func:`make_cube` returns for frames ``start:stop``."""
    return axes(config, params.kind, frames, n_range=params.n_range, n_doppler=params.n_doppler,
                per_antenna=params.per_antenna)


def source_records(paths: list[Path]) -> list[dict[str, Any]]:
    """``{name, size, sha256}`` of each source file (sha256 read in 4 MiB blocks)."""
    return [{"name": p.name, "size": p.stat().st_size, "sha256": sha256_file(p)} for p in paths]


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

    Returns
    -------
    pathlib.Path
        ``out``.

    Raises
    ------
    StoreError
        Output exists or cannot be written, or is one of the recording's files (checked before
        any work).
    """
    params = CubeParams() if params is None else params
    check_output_path(out, force, inputs=recording.paths)
    config = recording.config
    start, stop = (0, recording.n_frames) if frames is None else frames
    cube_ax = cube_axes(config, params, (start, stop))
    window = _range_window_array(config, params)
    attrs = {
        "processing": params.to_dict(),
        "capture": dataclasses.asdict(recording.report),
        "n_frames": stop - start,
        "frame_start": start,
        "bytes_skipped": recording.report.bytes_skipped,
        "command": command if command is not None else " ".join(sys.argv),
    }
    with ThreadPoolExecutor(max_workers=1) as pool:
        hashes = pool.submit(source_records, recording.paths)
        with CubeWriter(out, cube_ax, params.dtype, params.kind, config, attrs, params.units,
                        force, compression) as writer:
            done = 0
            for first, raw in recording.frames(start, stop, chunk, window=window):
                writer.write(first - start, make_cube(raw, config, params, prewindowed=True))
                done += len(raw)
                if progress is not None:
                    progress(done, done * config.bytes_per_frame)
            writer.attrs["sources"] = hashes.result()
    return Path(out)
