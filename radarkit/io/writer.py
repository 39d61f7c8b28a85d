"""Write DCA1000 recordings (the inverse of :class:`~radarkit.io.Recording`).

Used by the simulator and the tests: ``Recording(write_recording(...))`` returns the quantised
samples that were written. Every file is written atomically.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from radarkit.atomic import atomic_output
from radarkit.config.radar import RadarConfig
from radarkit.io.layout import encode_frames

__all__ = ["write_recording", "part_paths"]


def part_paths(path: str | os.PathLike, n_parts: int) -> list[Path]:
    """DCA1000 CLI part names ``<stem>_Raw_0.bin .. <stem>_Raw_{n-1}.bin`` beside ``path``."""
    path = Path(path)
    stem = path.name[:-len(path.suffix)] if path.suffix else path.name
    stem = stem.split("_Raw_")[0]
    return [path.with_name(f"{stem}_Raw_{k}.bin") for k in range(n_parts)]


def write_recording(
    path: str | os.PathLike,
    frames: np.ndarray | Iterable[np.ndarray],
    config: RadarConfig,
    iq_order: str | None = None,
    part_bytes: int | None = None,
    tail_bytes: int = 0,
    force: bool = False,
) -> list[Path]:
    """Quantise raw frames to int16 and write them in the DCA1000 layout of ``config``.

    Parameters
    ----------
    path : str or os.PathLike
        Output file (``adc_data.bin``); with ``part_bytes`` the parts are named
        ``<stem>_Raw_0.bin, <stem>_Raw_1.bin, ...`` beside it.
    frames : ndarray or iterable of ndarray, shape (frames, n_loops, n_tx, n_rx, n_samples)
        Raw frames in ADC counts. An iterable of chunks is encoded and written chunk by chunk,
        so memory stays bounded by one chunk.
    config : RadarConfig
        Layout: sample format, lanes, IQ order.
    iq_order : {"iq", "qi"}, optional
        Overrides ``config.iq_order``.
    part_bytes : int, optional
        Split the stream into parts of this many bytes (the last one shorter), at arbitrary
        offsets as the DCA1000 CLI does.
    tail_bytes : int
        Append this many bytes of a further (partial) frame, as an interrupted capture has.
    force : bool
        Replace existing files.

    Returns
    -------
    list of pathlib.Path
        The files written, in stream order.

    Raises
    ------
    StoreError
        A target exists (without ``force``) or its folder is not writable.
    ValueError
        Frames of the wrong shape.
    """
    if isinstance(frames, np.ndarray):
        frames = [frames]
    single = part_bytes is None
    targets: list[Path] = []
    with contextlib.ExitStack() as stack:  # exits LIFO: each file closes before its rename

        def open_next():
            k = len(targets)
            target = Path(path) if single else part_paths(path, k + 1)[k]
            tmp = stack.enter_context(atomic_output(target, force))
            targets.append(target)
            return stack.enter_context(open(tmp, "wb"))

        fh, room = open_next(), part_bytes
        for data in _encoded_stream(frames, config, iq_order, tail_bytes):
            while data.size:
                if not single and room == 0:
                    fh, room = open_next(), part_bytes
                n = data.size if single else min(room, data.size)
                fh.write(data[:n])
                data = data[n:]
                if not single:
                    room -= n
    return targets


def _encoded_stream(frames: Iterable[np.ndarray], config: RadarConfig, iq_order: str | None,
                    tail_bytes: int) -> Iterator[np.ndarray]:
    """Encoded bytes (uint8 views) chunk by chunk, then ``tail_bytes`` of a partial frame."""
    last = None
    for chunk in frames:
        last = encode_frames(np.asarray(chunk), config, iq_order)
        yield last.view(np.uint8)
    if tail_bytes:
        source = np.zeros(config.bytes_per_frame // 2, np.int16) if last is None else last
        yield source.view(np.uint8)[: tail_bytes // 2 * 2]
