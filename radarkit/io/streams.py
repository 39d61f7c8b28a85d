"""Logical byte streams over DCA1000 files: one file, or several ``_Raw_N.bin`` parts as one stream.

A :class:`ByteSource` hides where the payload bytes of a capture live (one memory-mapped file, a
series of parts split at arbitrary offsets, a re-ordered packet file, a pcap capture) behind
``read_words(offset, nbytes)``. Files are memory-mapped, never loaded whole: a 20 GB recording is
read a chunk of frames at a time.
"""

from __future__ import annotations

import mmap
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from radarkit.errors import RecordingError

__all__ = ["ByteSource", "FileParts", "MappedFile", "expand_parts", "HSI_SYNC_PATTERNS",
           "check_not_hsi"]

_PART = re.compile(r"^(?P<stem>.*)_Raw_(?P<index>\d+)\.bin$")
#: First bytes of an mmWave SDK LVDS stream with HSI headers (sync pattern 0x0CDA0ADC ...).
HSI_SYNC_PATTERNS = (b"\xdc\x0a\xda\x0c", b"\xdc\x0a\xdc\x0a")


class ByteSource:
    """A capture's payload as one logical, read-only byte stream.

    Attributes
    ----------
    nbytes : int
        Payload bytes in the stream.
    paths : list of pathlib.Path
        The files behind it.
    lost_packets : int
        Packets missing from the capture (zero-filled); 0 for plain files.
    zero_filled_bytes : int
        Bytes of the stream that were zero-filled for lost packets.
    """

    nbytes: int = 0
    paths: list[Path]
    lost_packets: int = 0
    zero_filled_bytes: int = 0

    def read_words(self, offset: int, nbytes: int) -> np.ndarray:
        """Return ``nbytes`` bytes from ``offset`` as int16 words (shape ``(nbytes // 2,)``).

        The result may be a read-only view into a memory map; copy it to keep it past
        :meth:`close`.

        Raises
        ------
        RecordingError
            If the range lies outside the stream or is not 2-byte aligned.
        """
        raise NotImplementedError

    def head(self, nbytes: int = 64) -> bytes:
        """The first ``nbytes`` bytes of the stream (for format sniffing)."""
        n = min(nbytes, self.nbytes) // 2 * 2
        return self.read_words(0, n).tobytes() if n else b""

    def close(self) -> None:
        """Release memory maps and file handles."""

    def __enter__(self) -> ByteSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_range(self, offset: int, nbytes: int) -> None:
        if offset < 0 or nbytes < 0 or offset + nbytes > self.nbytes or offset % 2 or nbytes % 2:
            raise RecordingError(f"cannot read {nbytes} bytes at offset {offset} of a "
                                 f"{self.nbytes}-byte stream", source=self.paths[0])


def expand_parts(paths: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Path]:
    """Resolve the files of one capture.

    A single ``*_Raw_0.bin`` pulls in its siblings ``*_Raw_1.bin``, ``*_Raw_2.bin``, ... (the
    DCA1000 CLI splits a capture into parts at arbitrary byte offsets). Several paths are taken
    in part order when they follow the ``_Raw_N`` pattern, else in the order given.

    Raises
    ------
    RecordingError
        If a file is missing or is a directory, or the part numbers have a gap.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out = [Path(p) for p in paths]
    if not out:
        raise RecordingError("no raw recording file given")
    for p in out:
        if not p.exists():
            raise RecordingError("file not found", source=p)
        if p.is_dir():
            raise RecordingError("is a directory, expected a raw DCA1000 .bin file", source=p)
    matches = [_PART.match(p.name) for p in out]
    if all(matches):
        stems = {(p.parent, m["stem"]) for p, m in zip(out, matches, strict=True)}
        if len(stems) == 1:
            if len(out) == 1 and int(matches[0]["index"]) == 0:
                parent, stem = stems.pop()
                k = 1
                while (parent / f"{stem}_Raw_{k}.bin").exists():
                    out.append(parent / f"{stem}_Raw_{k}.bin")
                    k += 1
            else:
                order = sorted(range(len(out)), key=lambda i: int(matches[i]["index"]))
                indices = [int(matches[i]["index"]) for i in order]
                if indices != list(range(indices[0], indices[0] + len(indices))):
                    raise RecordingError(f"capture parts {indices} have a gap", source=out[0])
                out = [out[i] for i in order]
    return out


class MappedFile:
    """A read-only memory map of one file whose pages are released as a stream moves forward.

    Pages of a file mapping stay in the process's resident set once touched, so streaming a
    20 GB file through a plain memory map would end with 20 GB resident. :meth:`view` therefore
    drops (``madvise(MADV_DONTNEED)``) the pages wholly before the requested range that earlier
    views touched; they remain in the OS page cache and are re-read transparently if a returned
    view is still used. Memory use stays at about the size of the last views.

    Parameters
    ----------
    path : pathlib.Path
        A non-empty file.
    """

    def __init__(self, path: Path) -> None:
        with open(path, "rb") as fh:
            self._mmap = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        self.size = len(self._mmap)
        self._array = np.frombuffer(self._mmap, dtype=np.uint8)
        self._resident_from = 0  # pages before this offset were released
        self._touched_to = 0

    def view(self, lo: int, hi: int) -> np.ndarray:
        """Bytes ``lo:hi`` as a read-only uint8 view (zero copy)."""
        release_to = min(lo, self._touched_to) // mmap.PAGESIZE * mmap.PAGESIZE
        if release_to > self._resident_from and hasattr(self._mmap, "madvise"):
            self._mmap.madvise(mmap.MADV_DONTNEED, self._resident_from,
                               release_to - self._resident_from)
            self._resident_from = release_to
        elif lo < self._resident_from:  # reading backwards: start tracking again from here
            self._resident_from = lo // mmap.PAGESIZE * mmap.PAGESIZE
        self._touched_to = max(self._touched_to, hi)
        return self._array[lo:hi]


class FileParts(ByteSource):
    """One or more raw files read as one contiguous stream (memory-mapped, see
    :class:`MappedFile`).

    Parameters
    ----------
    paths : path or sequence of paths
        The files, in stream order (see :func:`expand_parts`).

    Raises
    ------
    RecordingError
        If a file is missing or unreadable, or all files are empty.
    """

    def __init__(self, paths: str | os.PathLike | Sequence[str | os.PathLike]) -> None:
        self.paths = expand_parts(paths)
        self._maps: list[MappedFile | None] = []
        self._starts: list[int] = []
        total = 0
        for p in self.paths:
            try:
                size = p.stat().st_size
                self._maps.append(MappedFile(p) if size else None)
            except OSError as err:
                raise RecordingError(f"cannot read: {err.strerror or err}", source=p) from None
            self._starts.append(total)
            total += size
        self._starts.append(total)
        self.nbytes = total
        if total == 0:
            raise RecordingError("empty file (0 bytes)", source=self.paths[0])

    def read_words(self, offset: int, nbytes: int) -> np.ndarray:  # noqa: D102 - see base
        self._check_range(offset, nbytes)
        stop = offset + nbytes
        pieces = []
        for i, m in enumerate(self._maps):
            lo, hi = self._starts[i], self._starts[i + 1]
            if m is None or hi <= offset or lo >= stop:
                continue
            pieces.append(m.view(max(offset, lo) - lo, min(stop, hi) - lo))
        if len(pieces) == 1:
            return pieces[0].view(np.int16)
        data = np.concatenate(pieces) if pieces else np.empty(0, np.uint8)
        return data.view(np.int16)

    def close(self) -> None:  # noqa: D102 - see base
        # Dropping the references unmaps the files once no returned view uses them.
        self._maps = [None] * len(self._maps)


def check_not_hsi(source: ByteSource) -> None:
    """Refuse captures streamed with SDK HSI headers.

    Raises
    ------
    RecordingError
        If the stream starts with the HSI sync pattern, naming the ``lvdsStreamCfg`` setting that
        captures without headers.
    """
    if source.head(4) in HSI_SYNC_PATTERNS:
        raise RecordingError(
            "capture starts with an SDK HSI header (sync pattern dc 0a ...): radarkit reads "
            "header-less LVDS data; capture with 'lvdsStreamCfg -1 0 1 0' (enableHeader 0)",
            source=source.paths[0])
