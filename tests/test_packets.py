"""DCA1000 packet-header files and pcap captures: golden capture, round trips, detection, errors."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from radarkit.errors import RecordingError, RecordingWarning, StoreError
from radarkit.io.packets import PacketFile, is_packet_file, write_packet_file
from radarkit.io.pcap import PcapCapture, read_pcap_samples, write_pcap

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
GOLDEN = DATA / "dca1000_pcap_golden" / "test_one_frame.pcap"
# mmwave-capture-std tests/test_parser_pcap.py (lsb_quadrature=True): Q-first values.
GOLDEN_VALUES = {4065: 223 + 120j, 3293: -90 - 615j, 415: -88 + 193j, 1255: 366 - 21j,
                 671: -55 + 205j, 1736: -127 - 238j, 3474: 268 - 48j, 2394: 745 - 301j,
                 1262: 582 + 30j}
PS = 1456


def _golden() -> Path:
    if not GOLDEN.exists():
        pytest.skip(f"golden DCA1000 capture not found at {GOLDEN} (shared data folder absent)")
    return GOLDEN


def _payload(nbytes: int, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, nbytes, dtype=np.uint8).tobytes()


def _stream(source) -> bytes:
    return source.read_words(0, source.nbytes).tobytes()


def _expected(payload: bytes, dropped: set[int], ps: int = PS) -> bytes:
    out = bytearray(payload)
    for k in dropped:
        out[k * ps:(k + 1) * ps] = bytes(len(out[k * ps:(k + 1) * ps]))
    return bytes(out)


# ------------------------------------------------------------------------ golden capture


def test_golden_q_first_reproduces_reference_values():
    path = _golden()
    c = read_pcap_samples(path, "qi")
    assert c.dtype == np.complex64 and c.shape == (4096,)
    for k, v in GOLDEN_VALUES.items():
        assert c[k] == v, (k, c[k], v)


def test_golden_i_first_does_not_reproduce_them():
    c = read_pcap_samples(_golden(), "iq")
    assert not any(c[k] == v for k, v in GOLDEN_VALUES.items())


def test_golden_capture_stream():
    with PcapCapture(_golden()) as cap:
        assert cap.nbytes == 16384
        assert cap.n_packets == 12
        assert cap.lost_packets == 0 and cap.zero_filled_bytes == 0
        assert 4096 in cap.ports_seen and 4098 in cap.ports_seen
        assert cap.link_type == 1


def test_golden_config_packets_are_not_data():
    # The 8-byte command/response datagrams on port 4096 are too short to be DCA1000 data.
    with pytest.raises(RecordingError, match="ports seen: 4096, 4098"):
        PcapCapture(_golden(), port=4096)


# ------------------------------------------------------------------------ pcap round trips


@pytest.mark.parametrize("big_endian,nanosecond,link_type",
                         [(False, False, 1), (True, False, 1), (False, True, 1),
                          (True, True, 113), (False, False, 113)])
def test_pcap_round_trip_shuffled(tmp_path, big_endian, nanosecond, link_type):
    payload = _payload(20 * PS + 368, seed=1)
    order = np.random.default_rng(2).permutation(21)
    path = write_pcap(tmp_path / "c.pcap", payload, order=order, big_endian=big_endian,
                      nanosecond=nanosecond, link_type=link_type)
    with PcapCapture(path) as cap:
        assert cap.nbytes == len(payload)
        assert _stream(cap) == payload
        assert cap.lost_packets == 0 and cap.zero_filled_bytes == 0
        assert cap.nanosecond is nanosecond and cap.link_type == link_type


def test_pcap_dropped_packets_zero_filled(tmp_path):
    payload = _payload(30 * PS + 100, seed=3)
    dropped = {0, 4, 5, 17}
    order = np.random.default_rng(4).permutation(31)
    path = write_pcap(tmp_path / "d.pcap", payload, order=order, drop=dropped)
    with PcapCapture(path) as cap:
        got = _stream(cap)
        assert len(got) == len(payload)
        assert got == _expected(payload, dropped)
        for k in dropped:
            assert got[k * PS:(k + 1) * PS] == bytes(PS)
        assert cap.lost_packets == 4
        assert cap.zero_filled_bytes == 4 * PS


def test_pcap_duplicates_kept_once(tmp_path):
    payload = _payload(6 * PS, seed=5)
    path = write_pcap(tmp_path / "dup.pcap", payload, order=[0, 1, 2, 2, 3, 1, 4, 5])
    with PcapCapture(path) as cap:
        assert _stream(cap) == payload
        assert cap.duplicate_packets == 2 and cap.lost_packets == 0


def test_pcap_other_port(tmp_path):
    payload = _payload(3 * PS, seed=6)
    path = write_pcap(tmp_path / "p.pcap", payload, port=5000)
    with PcapCapture(path, port=5000) as cap:
        assert _stream(cap) == payload


def test_pcap_ipv4_checksums_valid(tmp_path):
    path = write_pcap(tmp_path / "x.pcap", _payload(3 * PS + 10))
    data = path.read_bytes()
    pos, n = 24, 0
    while pos < len(data):
        incl = struct.unpack_from("<I", data, pos + 8)[0]
        ip = data[pos + 16 + 14:pos + 16 + 34]
        total = sum(struct.unpack("!10H", ip))
        while total >> 16:
            total = (total & 0xFFFF) + (total >> 16)
        assert total == 0xFFFF
        pos += 16 + incl
        n += 1
    assert n == 4


@pytest.mark.parametrize("offset,nbytes", [(PS - 2, 4), (PS - 6, 2 * PS + 12), (0, 2),
                                           (3 * PS, PS), (5 * PS - 2, 2 * PS + 2),
                                           (4 * PS + 10, 50)])
def test_read_words_straddling_packets(tmp_path, offset, nbytes):
    payload = _payload(7 * PS, seed=7)
    dropped = {5}
    expected = _expected(payload, dropped)
    order = np.random.default_rng(8).permutation(7)
    pc = write_pcap(tmp_path / "s.pcap", payload, order=order, drop=dropped)
    pf = write_packet_file(tmp_path / "s.bin", payload, order=order, drop=dropped)
    for source in (PcapCapture(pc), PacketFile(pf)):
        with source:
            words = source.read_words(offset, nbytes)
            assert words.dtype == np.int16 and words.shape == (nbytes // 2,)
            assert words.tobytes() == expected[offset:offset + nbytes]


def test_read_words_values_are_signed(tmp_path):
    words = np.array([-1, -32768, 32767, 5, -2, 0, 7, -7], dtype=np.int16)
    pf = write_packet_file(tmp_path / "w.bin", words, packet_size=6)
    with PacketFile(pf) as src:
        np.testing.assert_array_equal(src.read_words(0, src.nbytes), words)
        assert src.read_words(2, 2)[0] == -32768


def test_read_words_out_of_range(tmp_path):
    pf = write_packet_file(tmp_path / "r.bin", _payload(2 * PS))
    with PacketFile(pf) as src:
        with pytest.raises(RecordingError):
            src.read_words(2 * PS - 2, 4)
        with pytest.raises(RecordingError):
            src.read_words(1, 2)
    with pytest.raises(RecordingError, match="close"):
        src.read_words(0, 2)


# ------------------------------------------------------------------------ packet files


def test_packet_file_header_layout(tmp_path):
    path = write_packet_file(tmp_path / "h.bin", _payload(3 * PS))
    words = np.fromfile(path, dtype="<i2", count=7)
    assert words.tolist() == [1, 0, 1456, 0, 0, 0, 0]
    second = np.frombuffer(path.read_bytes()[14 + PS:14 + PS + 14], dtype="<i2")
    assert second.tolist() == [2, 0, 1456, 0, 1456, 0, 0]


def test_packet_file_round_trip_in_order(tmp_path):
    payload = _payload(40 * PS + 368, seed=9)
    with PacketFile(write_packet_file(tmp_path / "a.bin", payload)) as src:
        assert src.nbytes == len(payload) and src.n_packets == 41
        assert _stream(src) == payload
        assert (src.lost_packets, src.zero_filled_bytes, src.truncated_bytes) == (0, 0, 0)


def test_packet_file_shuffled_dropped_duplicated(tmp_path):
    payload = _payload(50 * PS + 200, seed=10)
    rng = np.random.default_rng(11)
    order = list(rng.permutation(51)) + [3, 3, 40, 50]
    dropped = {1, 2, 20, 33}
    path = write_packet_file(tmp_path / "b.bin", payload, order=order, drop=dropped)
    with PacketFile(path) as src:
        assert src.nbytes == len(payload)
        assert _stream(src) == _expected(payload, dropped)
        assert src.lost_packets == 4
        assert src.zero_filled_bytes == 4 * PS
        assert src.duplicate_packets == 4
        assert src.n_packets == 51 - 4


def test_packet_file_lost_first_packet(tmp_path):
    payload = _payload(5 * PS, seed=12)
    with PacketFile(write_packet_file(tmp_path / "f.bin", payload, drop=[0])) as src:
        assert src.nbytes == len(payload)
        assert _stream(src)[:PS] == bytes(PS)
        assert _stream(src)[PS:] == payload[PS:]
        assert src.lost_packets == 1 and src.zero_filled_bytes == PS


@pytest.mark.parametrize("cut", [1, 2, 300, PS - 2])
def test_packet_file_truncated_end(tmp_path, cut):
    payload = _payload(8 * PS, seed=13)
    path = write_packet_file(tmp_path / "t.bin", payload)
    with open(path, "r+b") as fh:
        fh.truncate(path.stat().st_size - cut)
    with pytest.warns(RecordingWarning, match="ends inside"):
        src = PacketFile(path)
    with src:
        assert src.truncated_bytes == cut
        assert src.nbytes == len(payload) - cut
        assert src.read_words(0, src.nbytes // 2 * 2).tobytes() == payload[:src.nbytes // 2 * 2]
        assert src.lost_packets == 0


def test_packet_file_truncated_inside_header(tmp_path):
    payload = _payload(4 * PS, seed=14)
    path = write_packet_file(tmp_path / "th.bin", payload)
    with open(path, "ab") as fh:
        fh.write(b"\x05\x00\x00\x00\xb0")
    with pytest.warns(RecordingWarning, match="header"):
        src = PacketFile(path)
    with src:
        assert src.trailing_bytes == 5 and src.truncated_bytes == 0
        assert _stream(src) == payload


def test_packet_file_variable_sizes_many_packets(tmp_path):
    # First packet large, then thousands of small ones: the index must grow past its first guess.
    rng = np.random.default_rng(15)
    sizes = [PS] + list(rng.integers(1, 20, 3000) * 2)
    payload = rng.integers(0, 256, sum(sizes), dtype=np.uint8).tobytes()
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    order = rng.permutation(len(sizes))
    order = order[order > 1]
    order = np.concatenate([[0, 1], order])  # canonical first two headers (for detection)
    blob = bytearray()
    for k in order:
        a, n = int(starts[k]), int(sizes[k])
        blob += struct.pack("<II", k + 1, n) + a.to_bytes(6, "little") + payload[a:a + n]
    path = tmp_path / "v.bin"
    path.write_bytes(bytes(blob))
    assert is_packet_file(path)
    with PacketFile(path) as src:
        assert src.n_packets == len(sizes)
        assert _stream(src) == payload


def test_write_packet_file_refuses_existing(tmp_path):
    path = write_packet_file(tmp_path / "e.bin", _payload(PS))
    with pytest.raises(StoreError):
        write_packet_file(path, _payload(PS))
    write_packet_file(path, _payload(2 * PS, seed=1), force=True)
    with PacketFile(path) as src:
        assert src.nbytes == 2 * PS


def test_writers_reject_bad_indices(tmp_path):
    with pytest.raises(ValueError):
        write_packet_file(tmp_path / "i.bin", _payload(2 * PS), order=[0, 2])
    with pytest.raises(ValueError):
        write_pcap(tmp_path / "i.pcap", _payload(2 * PS), drop=[-1])
    assert not list(tmp_path.iterdir())


# ------------------------------------------------------------------------ detection


def test_is_packet_file_positive(tmp_path):
    path = write_packet_file(tmp_path / "p.bin", _payload(10 * PS))
    assert is_packet_file(path)
    assert is_packet_file(path.read_bytes()[:4000])
    shuffled = write_packet_file(tmp_path / "q.bin", _payload(10 * PS),
                                 order=[0, 3, 1, 2, 5, 4, 6, 7, 8, 9])
    assert is_packet_file(shuffled)
    single = write_packet_file(tmp_path / "one.bin", _payload(PS))
    assert is_packet_file(single)


@pytest.mark.parametrize("seed", range(20))
def test_is_packet_file_false_on_random_int16(tmp_path, seed):
    words = np.random.default_rng(seed).integers(-2048, 2048, 8192, dtype=np.int16)
    path = tmp_path / "adc_data.bin"
    words.tofile(path)
    assert not is_packet_file(path)
    assert not is_packet_file(words.tobytes())


def test_is_packet_file_false_on_tone(tmp_path):
    n = np.arange(65536)
    for amp, freq in ((1000.0, 0.01), (3.0, 0.001), (1.0, 1e-5)):
        re = np.round(amp * np.cos(2 * np.pi * freq * n))
        im = np.round(amp * np.sin(2 * np.pi * freq * n))
        words = np.stack([re, im], axis=1).astype(np.int16).reshape(-1)
        path = tmp_path / f"tone_{amp}.bin"
        words.tofile(path)
        assert not is_packet_file(path)


def test_is_packet_file_false_on_tiny_and_empty(tmp_path):
    tiny = tmp_path / "tiny.bin"
    tiny.write_bytes(b"\x01\x00\x00\x00\xb0\x05")
    assert not is_packet_file(tiny)
    assert not is_packet_file(b"")
    (tmp_path / "zero.bin").write_bytes(bytes(4096))
    assert not is_packet_file(tmp_path / "zero.bin")
    assert not is_packet_file(tmp_path / "missing.bin")


# ------------------------------------------------------------------------ errors


def test_pcap_bad_magic(tmp_path):
    path = tmp_path / "notes.pcap"
    path.write_bytes(b"this is not a capture at all, just some text\n")
    with pytest.raises(RecordingError, match="notes.pcap") as err:
        PcapCapture(path)
    assert "libpcap" in str(err.value)


def test_pcap_pcapng_refused(tmp_path):
    path = tmp_path / "ng.pcap"
    path.write_bytes(b"\x0a\x0d\x0d\x0a" + bytes(60))
    with pytest.raises(RecordingError, match="pcapng"):
        PcapCapture(path)


def test_pcap_no_data_port(tmp_path):
    path = write_pcap(tmp_path / "cfg_only.pcap", _payload(64), packet_size=8, port=4096)
    with pytest.raises(RecordingError, match="cfg_only.pcap") as err:
        PcapCapture(path)
    msg = str(err.value)
    assert "4098" in msg and "4096" in msg


def test_pcap_truncated_record(tmp_path):
    path = write_pcap(tmp_path / "cut.pcap", _payload(3 * PS))
    data = path.read_bytes()
    path.write_bytes(data[:-100])
    record_size = 16 + 14 + 20 + 8 + 10 + PS
    last = 24 + 2 * record_size
    with pytest.raises(RecordingError, match="cut.pcap") as err:
        PcapCapture(path)
    assert f"byte offset {last}" in str(err.value)


def test_packet_file_impossible_payload_len(tmp_path):
    path = write_packet_file(tmp_path / "bad.bin", _payload(6 * PS))
    data = bytearray(path.read_bytes())
    offset = 3 * (14 + PS)
    data[offset + 4:offset + 8] = struct.pack("<I", 60000)
    path.write_bytes(bytes(data))
    with pytest.raises(RecordingError, match="bad.bin") as err:
        PacketFile(path)
    assert f"byte offset {offset}" in str(err.value) and "60000" in str(err.value)


def test_packet_file_not_a_packet_file(tmp_path):
    path = tmp_path / "plain.bin"
    np.random.default_rng(0).integers(-2048, 2048, 4096, dtype=np.int16).tofile(path)
    with pytest.raises(RecordingError, match="plain.bin"):
        PacketFile(path)


def test_missing_files(tmp_path):
    with pytest.raises(RecordingError, match="not found"):
        PacketFile(tmp_path / "nope.bin")
    with pytest.raises(RecordingError, match="not found"):
        PcapCapture(tmp_path / "nope.pcap")
