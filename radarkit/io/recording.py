"""``Recording``: one DCA1000 capture (one or more files) as a sequence of raw frames.

A recording is opened against a :class:`~radarkit.config.RadarConfig`; it works out how many whole
frames the files hold, reports a trailing partial frame (warning with its byte count), lost packets
of packet-header captures, and, with ``iq_order="auto"``, which IQ order the data has. Frames are
decoded a chunk at a time from memory-mapped files, so memory use is bounded by the chunk size.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from radarkit.config.radar import RadarConfig
from radarkit.errors import RecordingError, RecordingWarning
from radarkit.io.layout import decode_frames
from radarkit.io.streams import ByteSource, FileParts, check_not_hsi, expand_parts

__all__ = ["Recording", "CaptureReport", "open_source", "detect_iq_order", "parse_frame_range"]

#: Minimum lower/upper range-spectrum energy ratio (dB) for ``iq_order="auto"`` to decide.
IQ_DECISION_MARGIN_DB = 1.0


@dataclass(frozen=True)
class CaptureReport:
    """Capture-quality report of a :class:`Recording`.

    Attributes
    ----------
    files : tuple of str
        The files of the capture, in stream order.
    total_bytes : int
        Payload bytes in the stream.
    n_frames : int
        Whole frames available.
    partial_frame_bytes : int
        Bytes of a trailing partial frame (skipped).
    extra_bytes : int
        Bytes after the configured frame count (skipped).
    lost_packets, zero_filled_bytes : int
        Packets missing from a packet-header capture and the bytes zero-filled for them.
    iq_order : str
        IQ order used to decode (``"iq"`` or ``"qi"``).
    iq_note : str
        How the IQ order was chosen.
    """

    files: tuple[str, ...]
    total_bytes: int
    n_frames: int
    partial_frame_bytes: int
    extra_bytes: int
    lost_packets: int
    zero_filled_bytes: int
    iq_order: str
    iq_note: str = field(default="")

    @property
    def bytes_skipped(self) -> int:
        """Bytes of the stream not decoded into frames."""
        return self.partial_frame_bytes + self.extra_bytes


def open_source(paths: str | os.PathLike | Sequence[str | os.PathLike]) -> ByteSource:
    """Open the byte stream of a capture: plain files/parts, or a packet-header file.

    Raises
    ------
    RecordingError
        Missing, empty or unreadable files; HSI-header captures.
    """
    parts = expand_parts(paths)
    source: ByteSource
    if len(parts) == 1:
        from radarkit.io.packets import PacketFile, is_packet_file

        if parts[0].stat().st_size and is_packet_file(parts[0]):
            source = PacketFile(parts[0])
        else:
            source = FileParts(parts)
    else:
        source = FileParts(parts)
    try:
        check_not_hsi(source)
    except RecordingError:
        source.close()
        raise
    return source


def detect_iq_order(raw_iq: np.ndarray, axis: int = -1) -> tuple[str, float]:
    """Decide the IQ order of complex ADC data from its range spectrum.

    Swapping I and Q turns ``c`` into ``j conj(c)``, which mirrors the range spectrum (bin ``k`` to
    ``N - k``). Returns from real scenes fall with range, so the correct order puts more energy in
    the lower half of the spectrum than in the upper half.

    Parameters
    ----------
    raw_iq : ndarray of complex64, shape (..., n_samples)
        Chirps decoded with the I-first rule.
    axis : int
        Sample axis.

    Returns
    -------
    order : {"iq", "qi"}
        The order that puts the energy in the lower half.
    margin_db : float
        ``10 log10(E_lower / E_upper)`` for I-first data (positive: I first). The mean of each
        chirp is removed first, and ``N/16`` bins on either side of DC and of the Nyquist bin are
        left out (DC leakage and TX-RX coupling spread symmetrically there).

    References
    ----------
    ``shared/specs/raw-format.md``: "A swapped I/Q order mirrors the range spectrum".
    """
    x = np.moveaxis(np.asarray(raw_iq), axis, -1)
    x = x - x.mean(axis=-1, keepdims=True)
    n = x.shape[-1]
    power = (np.abs(np.fft.fft(x, axis=-1)) ** 2).reshape(-1, n).sum(axis=0)
    guard = max(1, n // 16)  # DC leakage and TX-RX coupling spread symmetrically around bin 0
    lower = power[guard: n // 2 - guard].sum()
    upper = power[n // 2 + guard + 1: n - guard + 1].sum()  # mirror image of the lower slice
    margin = float(10 * np.log10((lower + 1e-30) / (upper + 1e-30)))
    return ("iq" if margin >= 0 else "qi"), margin


def parse_frame_range(text: str | None, n_frames: int) -> tuple[int, int]:
    """Parse ``"START:STOP"`` (Python slice rules, negative allowed, either side optional).

    Raises
    ------
    RecordingError
        If the text is malformed or the range is empty.
    """
    if text is None or text.strip() in ("", ":"):
        return 0, n_frames
    start_s, sep, stop_s = text.partition(":")
    try:
        if not sep:
            start = int(start_s)
            stop = start + 1 if start != -1 else None
        else:
            start = int(start_s) if start_s.strip() else None
            stop = int(stop_s) if stop_s.strip() else None
    except ValueError:
        raise RecordingError(f"frame range {text!r} is not START:STOP with integers") from None
    lo, hi, _ = slice(start, stop).indices(n_frames)
    if hi <= lo:
        raise RecordingError(f"frame range {text!r} selects no frame of {n_frames}")
    return lo, hi


class Recording:
    """A DCA1000 capture read frame by frame.

    Parameters
    ----------
    paths : path or sequence of paths
        ``adc_data.bin``, the parts ``*_Raw_0.bin, *_Raw_1.bin, ...`` (a single ``_Raw_0`` pulls in
        its siblings), or a packet-header file (detected).
    config : RadarConfig
        How to interpret the bytes.
    iq_order : {"iq", "qi", "auto"}, optional
        Overrides ``config.iq_order``. ``"auto"`` decides from the first frame's range spectrum
        (:func:`detect_iq_order`) and says what it chose in :attr:`report` ``.iq_note``.

    Attributes
    ----------
    config : RadarConfig
        The configuration with the IQ order resolved and ``n_frames`` set to the frames read.
    report : CaptureReport
        Frame count, skipped bytes, lost packets, IQ decision.

    Raises
    ------
    RecordingError
        Missing or empty file, file smaller than one frame, fewer frames than the configuration
        says, HSI headers.

    Warns
    -----
    RecordingWarning
        A trailing partial frame (with its byte count), lost packets, extra bytes, or an IQ order
        that ``auto`` could not decide.
    """

    def __init__(
        self,
        paths: str | os.PathLike | Sequence[str | os.PathLike],
        config: RadarConfig,
        iq_order: str | None = None,
    ) -> None:
        self.source = open_source(paths)
        try:
            self._setup(config, iq_order)
        except BaseException:
            self.source.close()
            raise

    def _setup(self, config: RadarConfig, iq_order: str | None) -> None:
        src = self.source
        name = src.paths[0]
        if config.hsi_header:
            raise RecordingError(
                "the configuration streams with SDK HSI headers (lvdsStreamCfg enableHeader 1), "
                "which radarkit does not parse; capture with 'lvdsStreamCfg -1 0 1 0'", source=name)
        bpf = config.bytes_per_frame
        full, partial = divmod(src.nbytes, bpf)
        if full == 0:
            raise RecordingError(
                f"holds {src.nbytes:,} bytes, less than one frame ({bpf:,} bytes = "
                f"{config.n_loops} loops x {config.n_tx} TX x {config.n_rx} RX x "
                f"{config.n_samples} samples x {config.bytes_per_sample} B): wrong configuration "
                "or truncated file", source=name)
        extra = 0
        if config.n_frames and full < config.n_frames:
            raise RecordingError(
                f"the configuration says {config.n_frames} frames ({config.n_frames * bpf:,} "
                f"bytes) but the file holds {full} whole frames ({src.nbytes:,} bytes): wrong "
                "configuration or truncated capture", source=name)
        if config.n_frames and full > config.n_frames:
            extra, partial, full = src.nbytes - config.n_frames * bpf, 0, config.n_frames
        if partial:
            warnings.warn(f"{name}: trailing partial frame of {partial:,} bytes skipped "
                          f"({full} whole frames of {bpf:,} bytes)", RecordingWarning, stacklevel=3)
        if extra:
            warnings.warn(f"{name}: {extra:,} bytes after the configured {full} frames ignored",
                          RecordingWarning, stacklevel=3)
        if src.lost_packets:
            warnings.warn(f"{name}: {src.lost_packets} lost packets, {src.zero_filled_bytes:,} "
                          "bytes zero-filled", RecordingWarning, stacklevel=3)

        order = config.iq_order if iq_order is None else iq_order
        note = f"{order} (from the configuration)" if iq_order is None else f"{order} (requested)"
        if order == "auto":
            if not config.is_complex:
                order, note = "iq", "iq (real samples: no IQ order)"
            else:
                first = decode_frames(src.read_words(0, bpf), config, iq_order="iq")
                order, margin = detect_iq_order(first)
                if abs(margin) < IQ_DECISION_MARGIN_DB:
                    order = "iq"
                    note = (f"auto: undecided (range-spectrum halves within {abs(margin):.1f} dB); "
                            "assumed I first (mmWave Studio default)")
                    warnings.warn(f"{name}: {note}", RecordingWarning, stacklevel=3)
                else:
                    first_word = "I" if order == "iq" else "Q"
                    note = (f"auto: chose {first_word} first (lower half of the range spectrum "
                            f"{abs(margin):.1f} dB above the upper half)")
        self.config = config.replace(iq_order=order, n_frames=full)
        self.report = CaptureReport(
            files=tuple(str(p) for p in src.paths), total_bytes=src.nbytes, n_frames=full,
            partial_frame_bytes=partial, extra_bytes=extra, lost_packets=src.lost_packets,
            zero_filled_bytes=src.zero_filled_bytes, iq_order=order, iq_note=note)

    # ------------------------------------------------------------------ access
    @property
    def n_frames(self) -> int:
        """Whole frames available."""
        return self.report.n_frames

    @property
    def paths(self) -> list[Path]:
        """Files of the capture, in stream order."""
        return list(self.source.paths)

    def __len__(self) -> int:
        return self.n_frames

    def words(self, start: int, stop: int) -> np.ndarray:
        """Raw int16 words of frames ``start:stop`` (a memory-map view where possible)."""
        bpf = self.config.bytes_per_frame
        return self.source.read_words(start * bpf, (stop - start) * bpf)

    def read(self, start: int = 0, stop: int | None = None,
             window: np.ndarray | None = None) -> np.ndarray:
        """Decode frames ``start:stop`` into one array.

        Parameters
        ----------
        start, stop : int
            Frame range (Python slice rules; ``stop=None`` means the end).
        window : ndarray of float32, shape (n_samples,), optional
            Range window fused into the conversion.

        Returns
        -------
        ndarray, shape (frames, n_loops, n_tx, n_rx, n_samples)
            complex64 (float32 for real sampling).
        """
        lo, hi, _ = slice(start, stop).indices(self.n_frames)
        return decode_frames(self.words(lo, max(lo, hi)), self.config, window=window)

    def frames(self, start: int = 0, stop: int | None = None, chunk: int = 16,
               window: np.ndarray | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """Iterate over frames ``start:stop`` in chunks.

        Yields
        ------
        first : int
            Index of the chunk's first frame.
        raw : ndarray, shape (<= chunk, n_loops, n_tx, n_rx, n_samples)
            Decoded frames (see :meth:`read`); a new array each time.
        """
        if chunk < 1:
            raise ValueError("chunk must be >= 1")
        lo, hi, _ = slice(start, stop).indices(self.n_frames)
        for first in range(lo, hi, chunk):
            last = min(first + chunk, hi)
            yield first, decode_frames(self.words(first, last), self.config, window=window)

    def close(self) -> None:
        """Release the files."""
        self.source.close()

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"Recording({self.report.files[0]!r}, frames={self.n_frames}, "
                f"iq_order={self.report.iq_order!r})")
