"""DCA1000 packet-header files: read, re-order, zero-fill; and write them.

In this variant of a DCA1000 recording every UDP data packet is stored with its header::

    uint32 LE seq | uint32 LE payload_len | 6-byte LE byte_count | payload (payload_len bytes)

where ``seq`` counts packets from 1 and ``byte_count`` is the number of payload bytes the board
sent before this packet. The first int16 words of such a file therefore read
``1, 0, 1456, 0, 0, 0, 0``. Packets can arrive out of order, twice, or not at all; the logical
stream is re-assembled by ``byte_count``: each packet's bytes go to position ``byte_count`` and
the bytes of lost packets are zero-filled (what mmWave Studio's packet re-order tool does).

:class:`PacketFile` memory-maps the file and keeps only index arrays (payload offset, stream
position and length of each packet), built by one compiled pass over the headers, so a 20 GB
file (about 14 million packets) is indexed without a per-packet Python loop and without a copy
of the payload.

References
----------
.. [1] Texas Instruments, "DCA1000EVM Data Capture Card User's Guide", SPRUIJ4.
.. [2] Texas Instruments, "Mmwave Radar Device ADC Raw Data Capture", application report SWRA581.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import numba
import numpy as np

from radarkit.atomic import atomic_output
from radarkit.errors import RecordingError, RecordingWarning
from radarkit.io.streams import ByteSource

__all__ = [
    "HEADER_BYTES",
    "MAX_PAYLOAD",
    "PACKET_PAYLOAD",
    "PacketFile",
    "PacketStream",
    "is_packet_file",
    "write_packet_file",
]

#: Bytes of the per-packet header in a packet-header file (seq, payload_len, byte_count).
HEADER_BYTES = 14
#: Payload bytes of a full DCA1000 data packet.
PACKET_PAYLOAD = 1456
#: Largest payload_len accepted in a header (a whole 1466-byte DCA1000 UDP payload).
MAX_PAYLOAD = 1466
#: byte_count values at or above this (16 TiB) are taken as a corrupt header.
MAX_BYTE_COUNT = 1 << 44
#: How far (in packets) the second header's seq / byte_count may be from the first's for
#: :func:`is_packet_file` (captures whose first packets arrived late or were lost).
_SNIFF_WINDOW = 64


# --------------------------------------------------------------------------------------------
# Index: packets -> one stream (shared with radarkit.io.pcap)
# --------------------------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def _gather(buf, src, start, length, i0, i1, offset, out):  # pragma: no cover - compiled
    # Copy the parts of packets i0..i1-1 that fall in [offset, offset + out.size) into out
    # (which holds zeros); src/start/length are sorted by start and do not overlap.
    stop = offset + out.size
    for i in range(i0, i1):
        a = max(start[i], offset)
        b = min(start[i] + length[i], stop)
        if b > a:
            s = src[i] + a - start[i]
            out[a - offset:b - offset] = buf[s:s + b - a]


class PacketStream(ByteSource):
    """A byte stream assembled from packets of a buffer placed at their ``byte_count``.

    Base of :class:`PacketFile` and :class:`radarkit.io.pcap.PcapCapture`: subclasses find the
    packets and call :meth:`_set_packets`; this class re-orders them, drops duplicates,
    measures the gaps and serves :meth:`read_words`.

    Attributes
    ----------
    nbytes : int
        Stream length: the largest ``byte_count + length`` of any packet.
    lost_packets : int
        Packets missing from the capture: the sequence numbers absent between 1 (or the lowest
        seen) and the highest seen, or the number of gaps in the stream if that is larger.
        Packets lost after the last one received cannot be seen.
    zero_filled_bytes : int
        Bytes of the stream covered by no packet (zero-filled), leading gap included.
    n_packets : int
        Distinct packets placed in the stream.
    duplicate_packets : int
        Packets dropped because another packet had the same ``byte_count`` (the longer one of
        the two is kept, then the first in the file).
    """

    n_packets: int = 0
    duplicate_packets: int = 0

    def _set_packets(self, buf: np.ndarray, src: np.ndarray, start: np.ndarray,
                     length: np.ndarray, seq: np.ndarray) -> None:
        """Index packets: ``buf[src[i]:src[i] + length[i]]`` goes to stream ``start[i]``."""
        self._buf = buf
        self._closed = False
        start = np.asarray(start, dtype=np.int64)
        length = np.asarray(length, dtype=np.int64)
        src = np.asarray(src, dtype=np.int64)
        if start.size > 1 and not np.all(start[1:] > start[:-1]):
            # Out of order or duplicated: sort by byte_count, longest first among equals.
            order = np.lexsort((-length, start))
            start, length, src = start[order], length[order], src[order]
            keep = np.ones(start.size, dtype=bool)
            keep[1:] = start[1:] != start[:-1]
            self.duplicate_packets = int(start.size - np.count_nonzero(keep))
            if self.duplicate_packets:
                start, length, src = start[keep], length[keep], src[keep]
        self.n_packets = int(start.size)
        end = start + length
        # A packet that runs into the next one (corrupt or resized) is cut where the next starts,
        # so the stream is a partition and every byte has exactly one source.
        if start.size > 1:
            np.minimum(length[:-1], start[1:] - start[:-1], out=length[:-1])
        gaps = np.empty(start.size, dtype=np.int64)
        if start.size:
            gaps[0] = start[0]
            gaps[1:] = start[1:] - end[:-1]
            np.maximum(gaps, 0, out=gaps)
        self.nbytes = int(start[-1] + length[-1]) if start.size else 0
        self.zero_filled_bytes = int(gaps.sum())
        n_gaps = int(np.count_nonzero(gaps))
        self.lost_packets = max(_missing_sequence_numbers(seq), n_gaps)
        self._src = src
        self._start = start
        self._length = length.astype(np.int32)

    def read_words(self, offset: int, nbytes: int) -> np.ndarray:  # noqa: D102 - see base
        if self._closed:
            raise RecordingError("read after close()", source=self.paths[0])
        self._check_range(offset, nbytes)
        stop = offset + nbytes
        start = self._start
        i0 = max(int(np.searchsorted(start, offset, side="right")) - 1, 0)
        i1 = int(np.searchsorted(start, stop, side="left"))
        if (i1 - i0 == 1 and start[i0] <= offset
                and stop <= start[i0] + self._length[i0]):  # inside one packet: a view
            s = int(self._src[i0]) + offset - int(start[i0])
            return self._buf[s:s + nbytes].view(np.int16)
        out = np.zeros(nbytes, dtype=np.uint8)
        if nbytes:
            _gather(self._buf, self._src, start, self._length, i0, i1, offset, out)
        return out.view(np.int16)

    def close(self) -> None:  # noqa: D102 - see base
        # Dropping the reference unmaps the file once no returned view uses it.
        self._buf = np.empty(0, dtype=np.uint8)
        self._closed = True


def _missing_sequence_numbers(seq: np.ndarray) -> int:
    """Sequence numbers absent between ``min(1, lowest)`` and the highest one seen."""
    seq = np.asarray(seq, dtype=np.int64)
    if seq.size == 0:
        return 0
    if seq.size == 1 or np.all(np.diff(seq) == 1):
        return int(max(int(seq[0]) - 1, 0))
    unique = np.unique(seq)
    low = min(1, int(unique[0]))
    return int(unique[-1]) - low + 1 - int(unique.size)


# --------------------------------------------------------------------------------------------
# Packet-header files
# --------------------------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def _scan_headers(buf, max_len, max_count, capacity):  # pragma: no cover - compiled
    # One pass over the headers. Returns (n, src, start, length, seq, status, pos, missing):
    # status 0 = ok (pos = end of the last whole header + payload, or where a partial header
    # begins), 1 = bad payload_len at pos, 2 = bad byte_count at pos; missing = payload bytes
    # the last (truncated) packet lacks.
    size = buf.size
    src = np.empty(capacity, np.int64)
    start = np.empty(capacity, np.int64)
    length = np.empty(capacity, np.int64)
    seq = np.empty(capacity, np.int64)
    n = 0
    pos = 0
    status = 0
    missing = 0
    while pos + 14 <= size:
        s = 0
        ln = 0
        for k in range(4):
            s |= np.int64(buf[pos + k]) << (8 * k)
            ln |= np.int64(buf[pos + 4 + k]) << (8 * k)
        bc = 0
        for k in range(6):
            bc |= np.int64(buf[pos + 8 + k]) << (8 * k)
        if ln == 0 or ln > max_len:
            status = 1
            break
        if bc >= max_count:
            status = 2
            break
        avail = size - pos - 14
        if ln > avail:
            missing = ln - avail
            ln = avail
            if ln == 0:
                break
        if n == capacity:
            capacity = 2 * capacity
            src2 = np.empty(capacity, np.int64)
            start2 = np.empty(capacity, np.int64)
            length2 = np.empty(capacity, np.int64)
            seq2 = np.empty(capacity, np.int64)
            src2[:n] = src[:n]
            start2[:n] = start[:n]
            length2[:n] = length[:n]
            seq2[:n] = seq[:n]
            src, start, length, seq = src2, start2, length2, seq2
        src[n] = pos + 14
        start[n] = bc
        length[n] = ln
        seq[n] = s
        n += 1
        pos += 14 + ln
    return n, src[:n], start[:n], length[:n], seq[:n], status, pos, missing


def _header(data: bytes, pos: int) -> tuple[int, int, int]:
    """(seq, payload_len, byte_count) of the header at ``pos``."""
    return (int.from_bytes(data[pos:pos + 4], "little"),
            int.from_bytes(data[pos + 4:pos + 8], "little"),
            int.from_bytes(data[pos + 8:pos + 14], "little"))


def is_packet_file(path_or_head_bytes: str | os.PathLike | bytes | bytearray | memoryview) -> bool:
    """Tell a DCA1000 packet-header file from a plain (header-less) int16 recording.

    The first header must hold a small sequence number (1 to 64), a payload length of 1 to
    1466 bytes and a byte_count that fits the sequence number (0 for packet 1). Where the data
    is long enough, the second header must agree: a valid payload length, a sequence number
    within 64 of the first and a byte_count equal to the first's ``byte_count + payload_len``
    or within 64 packets of it (re-ordered packets). Plain ADC data essentially never passes:
    it would need four zero int16 words in the first seven and a consistent second header.

    Parameters
    ----------
    path_or_head_bytes : str, os.PathLike or bytes-like
        A file, or its first bytes (``2 * (14 + 1466)`` = 2960 bytes are enough).

    Returns
    -------
    bool
        True if the data starts with DCA1000 packet headers. False for shorter than a header,
        unreadable files and plain data.

    References
    ----------
    .. [1] Texas Instruments, "DCA1000EVM Data Capture Card User's Guide", SPRUIJ4.
    """
    need = 2 * (HEADER_BYTES + MAX_PAYLOAD)
    if isinstance(path_or_head_bytes, (str, os.PathLike)):
        try:
            with open(path_or_head_bytes, "rb") as fh:
                data = fh.read(need)
        except OSError:
            return False
    else:
        data = bytes(path_or_head_bytes[:need])
    if len(data) < HEADER_BYTES:
        return False
    seq1, len1, bc1 = _header(data, 0)
    if not (1 <= seq1 <= _SNIFF_WINDOW and 0 < len1 <= MAX_PAYLOAD):
        return False
    if bc1 > (seq1 - 1) * MAX_PAYLOAD or bc1 % 2:
        return False
    second = HEADER_BYTES + len1
    if len(data) < second + HEADER_BYTES:
        # One packet (or a packet and a partial header): accept only the canonical first one.
        return seq1 == 1 and bc1 == 0
    seq2, len2, bc2 = _header(data, second)
    if not 0 < len2 <= MAX_PAYLOAD or abs(seq2 - seq1) > _SNIFF_WINDOW:
        return False
    if bc2 == bc1 + len1:
        return True
    return bc2 % 2 == 0 and abs(bc2 - bc1) <= _SNIFF_WINDOW * MAX_PAYLOAD and (
        seq2 != seq1 or bc2 == bc1)


class PacketFile(PacketStream):
    """A DCA1000 packet-header file as its re-assembled payload stream (memory-mapped).

    Packets are placed at their ``byte_count`` (so out-of-order packets are re-ordered),
    duplicates are kept once, and the bytes of lost packets read as zeros. Only index arrays are
    held in memory (20 bytes per packet); payload bytes are read from the memory map.

    Parameters
    ----------
    path : str or os.PathLike
        The packet-header file.

    Attributes
    ----------
    nbytes, lost_packets, zero_filled_bytes, n_packets, duplicate_packets
        See :class:`PacketStream`. ``lost_packets`` counts missing sequence numbers (or gaps,
        if more); ``zero_filled_bytes`` is the total length of the gaps.
    truncated_bytes : int
        Payload bytes the last packet's header announces but the file does not hold (the file
        ends inside that payload; the bytes present are used). 0 for a complete file.
    trailing_bytes : int
        Bytes after the last whole packet too short to be a header (ignored).

    Raises
    ------
    RecordingError
        If the file is missing, unreadable or holds no packet, or a header has an impossible
        payload_len or byte_count (the message gives the byte offset of that header).

    Warns
    -----
    RecordingWarning
        If the file ends inside a packet.

    References
    ----------
    .. [1] Texas Instruments, "DCA1000EVM Data Capture Card User's Guide", SPRUIJ4.
    .. [2] Texas Instruments, "Mmwave Radar Device ADC Raw Data Capture", SWRA581.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        path = Path(path)
        self.paths = [path]
        if path.is_dir():
            raise RecordingError("is a directory, expected a DCA1000 packet file", source=path)
        try:
            size = path.stat().st_size
            buf = (np.asarray(np.memmap(path, dtype=np.uint8, mode="r")) if size
                   else np.empty(0, dtype=np.uint8))
        except FileNotFoundError:
            raise RecordingError("file not found", source=path) from None
        except OSError as err:
            raise RecordingError(f"cannot read: {err.strerror or err}", source=path) from None
        first_len = int.from_bytes(bytes(buf[4:8]), "little") if size >= 8 else 0
        capacity = size // (HEADER_BYTES + min(max(first_len, 1), MAX_PAYLOAD)) + 16
        n, src, start, length, seq, status, pos, missing = _scan_headers(
            buf, MAX_PAYLOAD, MAX_BYTE_COUNT, capacity)
        if status:
            seq_, len_, bc_ = _header(bytes(buf[pos:pos + HEADER_BYTES]), 0)
            what = (f"payload_len {len_} outside 1..{MAX_PAYLOAD}" if status == 1
                    else f"byte_count {bc_} is implausible (>= 2**44)")
            raise RecordingError(
                f"packet header {n + 1} at byte offset {pos}: {what} (seq {seq_}); corrupt "
                "packet file, or not a DCA1000 packet-header file", source=path)
        if n == 0:
            raise RecordingError(f"no whole DCA1000 packet in {size} bytes", source=path)
        self.truncated_bytes = int(missing)
        self.trailing_bytes = int(size - pos) if not missing else 0
        if missing:
            warnings.warn(f"{path}: file ends inside packet seq {int(seq[-1])}: {int(missing)} "
                          "payload bytes missing (the bytes present are used)",
                          RecordingWarning, stacklevel=2)
        elif self.trailing_bytes:
            warnings.warn(f"{path}: file ends inside a packet header ({self.trailing_bytes} "
                          "bytes after the last whole packet are ignored)",
                          RecordingWarning, stacklevel=2)
        self._set_packets(buf, src, start, length, seq)

    def __repr__(self) -> str:
        return (f"PacketFile({str(self.paths[0])!r}, nbytes={self.nbytes}, "
                f"packets={self.n_packets}, lost_packets={self.lost_packets})")


# --------------------------------------------------------------------------------------------
# Writers (tests, simulator)
# --------------------------------------------------------------------------------------------


def _payload_bytes(payload: bytes | bytearray | memoryview | np.ndarray) -> np.ndarray:
    """The payload as a flat uint8 array (no copy where possible)."""
    if isinstance(payload, np.ndarray):
        return np.ascontiguousarray(payload).reshape(-1).view(np.uint8)
    return np.frombuffer(payload, dtype=np.uint8)


def _packet_plan(nbytes: int, packet_size: int, order: Iterable[int] | None,
                drop: Iterable[int]) -> tuple[int, np.ndarray]:
    """Packet count and the packet indices to write, in order (shared with the pcap writer).

    Raises
    ------
    ValueError
        If ``packet_size`` is not positive or an index is out of range.
    """
    if packet_size <= 0:
        raise ValueError(f"packet_size must be positive, got {packet_size}")
    n = -(-nbytes // packet_size)
    idx = np.arange(n) if order is None else np.asarray(list(order), dtype=np.int64).reshape(-1)
    dropped = np.asarray(list(drop), dtype=np.int64).reshape(-1)
    for name, a in (("order", idx), ("drop", dropped)):
        if a.size and (a.min() < 0 or a.max() >= n):
            raise ValueError(f"{name} holds packet indices outside 0..{n - 1}")
    if dropped.size:
        idx = idx[~np.isin(idx, dropped)]
    return n, idx


def write_packet_file(
    path: str | os.PathLike,
    payload: bytes | np.ndarray,
    packet_size: int = PACKET_PAYLOAD,
    order: Sequence[int] | None = None,
    drop: Iterable[int] = (),
    force: bool = False,
) -> Path:
    """Write a payload stream as a DCA1000 packet-header file.

    Packet ``k`` (from 0) carries ``payload[k * packet_size:(k + 1) * packet_size]`` (the last
    one may be shorter), sequence number ``k + 1`` and byte_count ``k * packet_size``.

    Parameters
    ----------
    path : str or os.PathLike
        Output file (written atomically).
    payload : bytes or ndarray
        The stream (an array is written as its raw bytes, e.g. int16 words).
    packet_size : int
        Payload bytes per packet, 1 to 1466 (1456 is the DCA1000's).
    order : sequence of int, optional
        Packet indices in the order to write them (default ``0, 1, ..., n - 1``). An index may
        repeat (a duplicated packet) or be absent (a lost packet).
    drop : iterable of int
        Packet indices to leave out (lost packets).
    force : bool
        Replace ``path`` if it exists.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        If ``packet_size`` is out of range or an index is not a packet of the payload.
    radarkit.errors.StoreError
        If ``path`` exists and ``force`` is false, or its folder is not writable.

    References
    ----------
    .. [1] Texas Instruments, "DCA1000EVM Data Capture Card User's Guide", SPRUIJ4.
    """
    if not 0 < packet_size <= MAX_PAYLOAD:
        raise ValueError(f"packet_size must be 1..{MAX_PAYLOAD}, got {packet_size}")
    data = _payload_bytes(payload)
    n, idx = _packet_plan(data.size, packet_size, order, drop)
    n_full = data.size // packet_size
    full = data[:n_full * packet_size].reshape(n_full, packet_size)
    record = np.dtype([("seq", "<u4"), ("len", "<u4"), ("bc", "u1", (6,)),
                       ("data", "u1", (packet_size,))])
    shifts = 8 * np.arange(6, dtype=np.uint64)
    with atomic_output(path, force) as tmp, open(tmp, "wb") as fh:
        # Runs of full packets are written as record arrays, batch by batch; the short last
        # packet (if any) alone.
        batch = max(1, (1 << 24) // record.itemsize)
        pos = 0
        while pos < idx.size:
            if idx[pos] >= n_full:  # the short last packet
                k = int(idx[pos])
                part = data[k * packet_size:]
                fh.write((k + 1).to_bytes(4, "little") + part.size.to_bytes(4, "little")
                         + (k * packet_size).to_bytes(6, "little") + part.tobytes())
                pos += 1
                continue
            run = idx[pos:pos + batch]
            short = np.flatnonzero(run >= n_full)
            run = run[:short[0]] if short.size else run
            rec = np.empty(run.size, dtype=record)
            rec["seq"] = run + 1
            rec["len"] = packet_size
            rec["bc"] = ((run.astype(np.uint64)[:, None] * np.uint64(packet_size)) >> shifts
                         & np.uint64(0xFF)).astype(np.uint8)
            rec["data"] = full[run]
            fh.write(rec.tobytes())
            pos += run.size
    return Path(path)
