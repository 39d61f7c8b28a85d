"""Live DCA1000 data from a packet capture (libpcap ``.pcap`` file); and a pcap writer for tests.

The DCA1000 streams ADC data as UDP datagrams to port 4098. Each datagram's payload is::

    uint32 LE seq (from 1) | 6-byte LE byte_count | data (at most 1456 bytes)

where ``byte_count`` is the number of data bytes sent before this datagram. Frames are not
aligned to packets: the data of each datagram goes to position ``byte_count`` of one stream, which
is cut into frames later (``k * bytes_per_frame``). Command traffic (port 4096) and any other
packet is ignored.

Supported: classic libpcap files in either byte order, with microsecond (magic ``0xa1b2c3d4``) or
nanosecond (``0xa1b23c4d``) time stamps; link types Ethernet (1, with 802.1Q tags), Linux
cooked capture SLL (113) and SLL2 (276), and raw IPv4 (101, 228); IPv4 and UDP. pcapng files are
refused with a hint (``editcap -F pcap``).

References
----------
.. [1] Texas Instruments, "DCA1000EVM Data Capture Card User's Guide", SPRUIJ4.
.. [2] Texas Instruments, "Mmwave Radar Device ADC Raw Data Capture", SWRA581.
.. [3] libpcap file format, https://wiki.wireshark.org/Development/LibpcapFileFormat, and
   "PCAP Capture File Format", IETF draft-ietf-opsawg-pcap.
"""

from __future__ import annotations

import os
import struct
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from radarkit.atomic import atomic_output
from radarkit.errors import RecordingError, RecordingWarning
from radarkit.io.layout import decode_samples
from radarkit.io.packets import (
    MAX_BYTE_COUNT,
    PACKET_PAYLOAD,
    PacketStream,
    _packet_plan,
    _payload_bytes,
)

__all__ = ["DATA_PORT", "CONFIG_PORT", "PcapCapture", "read_pcap_samples", "write_pcap"]

#: UDP port the DCA1000 sends ADC data to.
DATA_PORT = 4098
#: UDP port of the DCA1000 command/response traffic.
CONFIG_PORT = 4096

_MAGIC = {  # first 4 bytes -> (struct byte order, nanosecond time stamps)
    b"\xd4\xc3\xb2\xa1": ("<", False),
    b"\xa1\xb2\xc3\xd4": (">", False),
    b"\x4d\x3c\xb2\xa1": ("<", True),
    b"\xa1\xb2\x3c\x4d": (">", True),
}
_PCAPNG = b"\x0a\x0d\x0d\x0a"
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_LINUX_SLL2 = 276
_LINK_NAMES = {LINKTYPE_ETHERNET: "Ethernet", LINKTYPE_RAW: "raw IP",
               LINKTYPE_LINUX_SLL: "Linux cooked (SLL)", LINKTYPE_IPV4: "raw IPv4",
               LINKTYPE_LINUX_SLL2: "Linux cooked v2 (SLL2)"}
_DCA_HEADER = 10  # seq (4) + byte_count (6)
_MAX_DATA = 1462  # 1500-byte MTU - IPv4 (20) - UDP (8) - DCA1000 header (10)


def _ip_offset(data: bytes, body: int, end: int, link_type: int) -> int:
    """Offset of the IPv4 header of the frame ``data[body:end]``, or -1 if it carries none."""
    if link_type == LINKTYPE_ETHERNET:
        pos = body + 12
        ethertype = int.from_bytes(data[pos:pos + 2], "big")
        while ethertype in (0x8100, 0x88A8) and pos + 6 <= end:  # VLAN tags
            pos += 4
            ethertype = int.from_bytes(data[pos:pos + 2], "big")
        return pos + 2 if ethertype == 0x0800 else -1
    if link_type == LINKTYPE_LINUX_SLL:
        return body + 16 if data[body + 14:body + 16] == b"\x08\x00" else -1
    if link_type == LINKTYPE_LINUX_SLL2:
        return body + 20 if data[body:body + 2] == b"\x08\x00" else -1
    return body  # raw IP: checked by the caller (version 4)


class PcapCapture(PacketStream):
    """The DCA1000 data stream of a pcap capture, re-assembled by byte_count.

    The capture is read into memory once (one pass, linear in its size); datagrams to ``port``
    are indexed and their data placed at ``byte_count``. Out-of-order datagrams are re-ordered,
    duplicates kept once, and the bytes of lost datagrams read as zeros.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.pcap`` file.
    port : int
        UDP destination port of the data datagrams (4098 on the DCA1000).

    Attributes
    ----------
    nbytes, lost_packets, zero_filled_bytes, n_packets, duplicate_packets
        See :class:`radarkit.io.packets.PacketStream`. ``lost_packets`` counts missing sequence
        numbers (or gaps in the stream, if more); ``zero_filled_bytes`` the bytes of the gaps.
    port : int
        The data port.
    link_type : int
        The capture's link-layer type (1 Ethernet, 113 SLL, ...).
    nanosecond : bool
        Whether the capture has nanosecond time stamps.
    ports_seen : tuple of int
        UDP destination ports of all datagrams in the capture.
    n_records : int
        Records (captured frames) in the file.

    Raises
    ------
    RecordingError
        If the file is missing or unreadable, is not a libpcap file (bad magic; pcapng), has an
        unsupported link type, ends inside a record (the message gives the record's byte
        offset), holds no UDP datagram to ``port`` (the message lists the ports seen), or a
        datagram has an impossible byte_count.

    Warns
    -----
    RecordingWarning
        If data datagrams were cut by the capture's snap length (their missing bytes are
        zero-filled).

    References
    ----------
    .. [1] Texas Instruments, "DCA1000EVM Data Capture Card User's Guide", SPRUIJ4.
    .. [2] libpcap file format, https://wiki.wireshark.org/Development/LibpcapFileFormat.
    """

    def __init__(self, path: str | os.PathLike, port: int = DATA_PORT) -> None:
        path = Path(path)
        self.paths = [path]
        self.port = int(port)
        if path.is_dir():
            raise RecordingError("is a directory, expected a .pcap capture", source=path)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise RecordingError("file not found", source=path) from None
        except OSError as err:
            raise RecordingError(f"cannot read: {err.strerror or err}", source=path) from None
        if data[:4] == _PCAPNG:
            raise RecordingError("pcapng capture; radarkit reads classic libpcap files: "
                                 "convert with 'editcap -F pcap in.pcapng out.pcap'", source=path)
        if len(data) < 24 or data[:4] not in _MAGIC:
            raise RecordingError(f"not a libpcap capture (magic {data[:4].hex() or 'missing'}, "
                                 "expected d4c3b2a1 or 4d3cb2a1 in either byte order)",
                                 source=path)
        order, self.nanosecond = _MAGIC[data[:4]]
        self.link_type = struct.unpack_from(order + "I", data, 20)[0] & 0x0FFFFFFF
        if self.link_type not in _LINK_NAMES:
            raise RecordingError(f"unsupported link type {self.link_type} (supported: "
                                 + ", ".join(f"{k} {v}" for k, v in _LINK_NAMES.items()) + ")",
                                 source=path)
        src, start, length, seq, snapped = self._scan(data, order, path)
        if not src:
            seen = ", ".join(map(str, self.ports_seen)) or "none"
            raise RecordingError(f"no UDP datagrams to port {self.port} (DCA1000 data) in "
                                 f"{self.n_records} records; UDP destination ports seen: {seen}",
                                 source=path)
        if snapped:
            warnings.warn(f"{path}: {snapped} data datagrams were cut by the capture's snap "
                          "length; their missing bytes are zero-filled", RecordingWarning,
                          stacklevel=2)
        self._set_packets(np.frombuffer(data, dtype=np.uint8), np.array(src), np.array(start),
                          np.array(length), np.array(seq))

    def _scan(self, data: bytes, order: str, path: Path
              ) -> tuple[list[int], list[int], list[int], list[int], int]:
        """Walk the records once; index the data datagrams to ``self.port``."""
        record = struct.Struct(order + "IIII")
        size = len(data)
        src: list[int] = []
        start: list[int] = []
        length: list[int] = []
        seq: list[int] = []
        ports: set[int] = set()
        snapped = 0
        n_records = 0
        pos = 24
        link = self.link_type
        while pos < size:
            if pos + 16 > size:
                raise RecordingError(f"truncated record at byte offset {pos}: {size - pos} bytes "
                                     "left, a record header needs 16", source=path)
            _, _, incl, _ = record.unpack_from(data, pos)
            body = pos + 16
            end = body + incl
            if end > size:
                raise RecordingError(f"truncated record at byte offset {pos}: it announces {incl} "
                                     f"bytes, the file holds {size - body}", source=path)
            n_records += 1
            rec_pos, pos = pos, end
            ip = _ip_offset(data, body, end, link)
            if ip < 0 or ip + 20 > end or data[ip] >> 4 != 4:
                continue
            if data[ip + 9] != 17 or int.from_bytes(data[ip + 6:ip + 8], "big") & 0x3FFF:
                continue  # not UDP, or an IP fragment
            udp = ip + (data[ip] & 0x0F) * 4
            if udp + 8 > end:
                continue
            dport = int.from_bytes(data[udp + 2:udp + 4], "big")
            ports.add(dport)
            if dport != self.port:
                continue
            udp_len = int.from_bytes(data[udp + 4:udp + 6], "big")
            ip_end = ip + int.from_bytes(data[ip + 2:ip + 4], "big")
            p = udp + 8
            stop = min(udp + udp_len, ip_end, end)  # Ethernet pads short frames: use the lengths
            if stop - p <= _DCA_HEADER:
                continue
            if udp + udp_len > end:
                snapped += 1
            byte_count = int.from_bytes(data[p + 4:p + 10], "little")
            if byte_count >= MAX_BYTE_COUNT:
                raise RecordingError(f"record at byte offset {rec_pos}: DCA1000 byte_count "
                                     f"{byte_count} is implausible (>= 2**44)", source=path)
            seq.append(int.from_bytes(data[p:p + 4], "little"))
            start.append(byte_count)
            src.append(p + _DCA_HEADER)
            length.append(stop - p - _DCA_HEADER)
        self.ports_seen = tuple(sorted(ports))
        self.n_records = n_records
        return src, start, length, seq, snapped

    def __repr__(self) -> str:
        return (f"PcapCapture({str(self.paths[0])!r}, port={self.port}, nbytes={self.nbytes}, "
                f"packets={self.n_packets}, lost_packets={self.lost_packets})")


def read_pcap_samples(path: str | os.PathLike, iq_order: str, port: int = DATA_PORT
                      ) -> np.ndarray:
    """Decode the whole DCA1000 data stream of a pcap capture as 2-lane complex samples.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.pcap`` file.
    iq_order : {"iq", "qi"}
        Word order (``"qi"`` for SDK captures with ``adcbufCfg -1 0 1 1 1``; see
        :mod:`radarkit.io.layout`).
    port : int
        UDP destination port of the data datagrams.

    Returns
    -------
    ndarray of complex64, shape (nbytes // 4,)
        The samples, lost datagrams as zeros.

    Raises
    ------
    RecordingError
        As :class:`PcapCapture`, or if the stream is not a whole number of 8-byte sample pairs.
    ValueError
        If ``iq_order`` is not ``"iq"`` or ``"qi"``.

    References
    ----------
    .. [1] Texas Instruments, "Mmwave Radar Device ADC Raw Data Capture", SWRA581.
    """
    with PcapCapture(path, port) as capture:
        words = np.array(capture.read_words(0, capture.nbytes // 2 * 2))
    try:
        return decode_samples(words, iq_order)
    except RecordingError as err:
        raise err.with_source(path) from None


def _checksum(header: bytes) -> int:
    """Internet checksum (RFC 1071) of an IPv4 header."""
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def write_pcap(
    path: str | os.PathLike,
    payload: bytes | np.ndarray,
    packet_size: int = PACKET_PAYLOAD,
    order: Sequence[int] | None = None,
    drop: Iterable[int] = (),
    port: int = DATA_PORT,
    force: bool = False,
    *,
    big_endian: bool = False,
    nanosecond: bool = False,
    link_type: int = LINKTYPE_ETHERNET,
) -> Path:
    """Write a payload stream as a pcap capture of DCA1000 data datagrams.

    Datagram ``k`` (from 0) carries sequence number ``k + 1``, byte_count ``k * packet_size``
    and ``payload[k * packet_size:(k + 1) * packet_size]`` (the last one may be shorter), from
    192.168.33.180:4098 (the DCA1000) to 192.168.33.30:``port``, 10 us apart.

    Parameters
    ----------
    path : str or os.PathLike
        Output file (written atomically).
    payload : bytes or ndarray
        The stream (an array is written as its raw bytes).
    packet_size : int
        Data bytes per datagram, 1 to 1462 (1456 is the DCA1000's).
    order : sequence of int, optional
        Datagram indices in capture order (default ``0, 1, ..., n - 1``); an index may repeat
        (duplicate) or be absent (lost).
    drop : iterable of int
        Datagram indices to leave out (lost).
    port : int
        UDP destination port.
    force : bool
        Replace ``path`` if it exists.
    big_endian : bool
        Write the pcap headers big-endian (magic ``a1b2c3d4`` as stored bytes).
    nanosecond : bool
        Nanosecond time stamps (magic ``0xa1b23c4d``).
    link_type : {1, 113}
        Ethernet or Linux cooked capture (SLL) frames.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        If ``packet_size``, ``link_type`` or an index is out of range.
    radarkit.errors.StoreError
        If ``path`` exists and ``force`` is false, or its folder is not writable.

    References
    ----------
    .. [1] Texas Instruments, "DCA1000EVM Data Capture Card User's Guide", SPRUIJ4.
    .. [2] libpcap file format, https://wiki.wireshark.org/Development/LibpcapFileFormat.
    """
    if not 0 < packet_size <= _MAX_DATA:
        raise ValueError(f"packet_size must be 1..{_MAX_DATA}, got {packet_size}")
    if link_type not in (LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL):
        raise ValueError(f"link_type must be 1 (Ethernet) or 113 (SLL), got {link_type}")
    data = _payload_bytes(payload)
    _, idx = _packet_plan(data.size, packet_size, order, drop)
    e = ">" if big_endian else "<"
    magic = 0xA1B23C4D if nanosecond else 0xA1B2C3D4
    header = struct.pack(e + "IHHiIII", magic, 2, 4, 0, 0, 65535, link_type)
    if link_type == LINKTYPE_ETHERNET:
        link = bytes.fromhex("a0b1c2d3e4f5" "12345678901a" "0800")
    else:  # SLL: packet type 0 (to us), ARPHRD_ETHER, address length 6, address, IPv4
        link = bytes.fromhex("0000" "0001" "0006" "12345678901a0000" "0800")
    addresses = bytes([192, 168, 33, 180, 192, 168, 33, 30])
    t0 = 1_700_000_000
    with atomic_output(path, force) as tmp, open(tmp, "wb") as fh:
        fh.write(header)
        for i, k in enumerate(idx.tolist()):
            chunk = data[k * packet_size:(k + 1) * packet_size].tobytes()
            dca = (k + 1).to_bytes(4, "little") + (k * packet_size).to_bytes(6, "little")
            udp_len = 8 + len(dca) + len(chunk)
            ip = struct.pack("!BBHHHBBH", 0x45, 0, 20 + udp_len, i & 0xFFFF, 0x4000, 64, 17, 0)
            ip += addresses
            ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
            udp = struct.pack("!HHHH", DATA_PORT, port, udp_len, 0)
            frame = link + ip + udp + dca + chunk
            micros = 10 * i
            frac = (micros % 1_000_000) * (1000 if nanosecond else 1)
            fh.write(struct.pack(e + "IIII", t0 + micros // 1_000_000, frac, len(frame),
                                 len(frame)))
            fh.write(frame)
    return Path(path)
