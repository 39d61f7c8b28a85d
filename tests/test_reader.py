"""DCA1000 reader: real CRUW recording, exact byte layouts, parts, packet files, IQ order."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from radarkit.config import RadarConfig, load_config
from radarkit.dsp.cubes import CubeParams, make_cube
from radarkit.dsp.windows import WINDOWS
from radarkit.errors import RecordingError, RecordingWarning
from radarkit.io import Recording, decode_frames, encode_frames
from radarkit.io.packets import write_packet_file
from radarkit.io.writer import part_paths, write_recording
from radarkit.sim import simulate_point_targets

# ----------------------------------------------------------------------------- real recording


def test_cruw_frames_partial_and_iq_auto(cruw_bin, cruw_cfg):
    cfg = load_config(cruw_cfg)
    with pytest.warns(RecordingWarning, match=r"partial frame of 12,942 bytes"):
        rec = Recording(cruw_bin, cfg, iq_order="auto")
    with rec:
        assert rec.n_frames == 4
        assert rec.report.partial_frame_bytes == 12_942
        assert rec.report.bytes_skipped == 12_942
        assert rec.report.iq_order == "iq"
        assert "auto: chose I first" in rec.report.iq_note
        raw = rec.read()
    assert raw.shape == (4, 255, 2, 4, 128) and raw.dtype == np.complex64
    # int16 read as signed: real data swing both ways around zero
    assert raw.real.min() < -100 and raw.real.max() > 100


def test_cruw_strongest_returns_and_zero_doppler_ridge(cruw_bin, cruw_cfg):
    cfg = load_config(cruw_cfg)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RecordingWarning)
        with Recording(cruw_bin, cfg) as rec:
            raw, cfg = rec.read(), rec.config
    rd = make_cube(raw, cfg, CubeParams(clutter_removal=False, output="power"))  # (4, 255, 128)
    profile = rd.sum(axis=1).mean(axis=0)
    # Bins 0..7 hold DC leakage / TX-RX coupling; the README lists the scene's strongest returns in
    # bins 11-25 and 38-50. Local maxima of the profile between bins 8 and 64, strongest first:
    seg = profile[8:64]
    peaks = [i + 8 for i in range(1, len(seg) - 1) if seg[i] >= seg[i - 1] and seg[i] >= seg[i + 1]]
    peaks.sort(key=lambda k: profile[k], reverse=True)
    top = peaks[:4]
    assert all(11 <= k <= 25 or 38 <= k <= 50 for k in top), top
    assert any(11 <= k <= 25 for k in top) and any(38 <= k <= 50 for k in top), top
    # static scene: the strongest Doppler bin of those ranges is zero velocity (fftshift centre)
    zero = cfg.n_loops // 2
    for k in top:
        assert np.all(rd[:, :, k].argmax(axis=1) == zero)


# ----------------------------------------------------------------------------- exact layouts


def _tone_config(sample_format: str, iq_order: str) -> RadarConfig:
    return RadarConfig(n_samples=128, n_loops=2, tx_order=(0,), rx_channels=(0, 1),
                       sample_rate_hz=5e6, slope_hz_per_s=30e12, start_freq_hz=77e9,
                       idle_time_s=10e-6, adc_start_time_s=5e-6, ramp_end_time_s=40e-6,
                       frame_period_s=0.01, sample_format=sample_format, iq_order=iq_order)


def _dca1000_bytes(i: np.ndarray, q: np.ndarray, sample_format: str, iq_order: str) -> bytes:
    """Interleave per the byte-layout spec, written out independently of radarkit's encoder."""
    i = np.clip(np.rint(i), -32768, 32767).astype("<i2").reshape(-1)
    q = np.clip(np.rint(q), -32768, 32767).astype("<i2").reshape(-1)
    if sample_format == "real":
        return i.tobytes()
    first, second = (i, q) if iq_order == "iq" else (q, i)
    words = []
    for m in range(len(i) // 2):  # two complex samples per 4 words
        words += [first[2 * m], first[2 * m + 1], second[2 * m], second[2 * m + 1]]
    return np.array(words, dtype="<i2").tobytes()


@pytest.mark.parametrize("window", [w for w in WINDOWS if w != "rect"])
@pytest.mark.parametrize("fmt,order", [("complex1x", "iq"), ("complex1x", "qi"), ("real", "iq")])
def test_tone_lands_in_predicted_range_bin(tmp_path, window, fmt, order):
    cfg = _tone_config(fmt, order)
    target_m = 7.3
    f_beat = cfg.beat_frequency_hz(target_m)
    t = np.arange(cfg.n_samples) / cfg.sample_rate_hz
    chirps = cfg.n_frames or 3
    shape = (chirps, cfg.n_loops, cfg.n_tx, cfg.n_rx, cfg.n_samples)
    phase = 2 * np.pi * f_beat * t
    i = np.broadcast_to(3000 * np.cos(phase), shape)
    q = np.broadcast_to(3000 * np.sin(phase), shape)
    path = tmp_path / "tone.bin"
    path.write_bytes(_dca1000_bytes(i, q, fmt, order))
    with Recording(path, cfg) as rec:
        assert rec.n_frames == chirps
        cube = make_cube(rec.read(), rec.config,
                         CubeParams(kind="range", range_window=window, output="power"))
    profile = cube.sum(axis=(0, 1, 2))
    predicted_bin = target_m / cfg.range_bin_spacing_m()
    assert abs(np.argmax(profile) - predicted_bin) <= 0.5


@pytest.mark.parametrize("fmt,lanes,order", [("complex1x", 2, "iq"), ("complex1x", 2, "qi"),
                                             ("complex2x", 2, "iq"), ("complex1x", 4, "iq"),
                                             ("complex1x", 4, "qi"), ("real", 2, "iq")])
def test_encode_decode_roundtrip(small_config, fmt, lanes, order):
    cfg = small_config.replace(sample_format=fmt, lvds_lanes=lanes, iq_order=order)
    rng = np.random.default_rng(1)
    shape = (2, *cfg.raw_shape)
    raw = (rng.integers(-32768, 32768, shape) + 1j * rng.integers(-32768, 32768, shape))
    words = encode_frames(raw, cfg)
    assert words.dtype == np.int16 and words.nbytes == 2 * cfg.bytes_per_frame
    back = decode_frames(words, cfg)
    expected = raw.real if fmt == "real" else raw
    np.testing.assert_array_equal(back, expected.astype(back.dtype))


def test_four_lane_word_order(small_config):
    """4-lane: per sample [I_rx0..I_rx3, Q_rx0..Q_rx3]."""
    cfg = small_config.replace(lvds_lanes=4, n_loops=1, tx_order=(0,))
    words = np.arange(cfg.bytes_per_frame // 2, dtype=np.int16)
    raw = decode_frames(words, cfg)[0, 0, 0]  # (rx, sample)
    assert raw[2, 0] == 2 + 1j * 6
    assert raw[0, 1] == 8 + 1j * 12


def test_two_lane_spec_formula_and_negative_values(small_config):
    cfg = small_config.replace(n_loops=1, tx_order=(0,), rx_channels=(0,))
    x = np.arange(cfg.bytes_per_frame // 2, dtype=np.int16) - 40
    c = decode_frames(x, cfg, iq_order="iq").reshape(-1)
    m = 3
    assert c[2 * m] == x[4 * m] + 1j * x[4 * m + 2]
    assert c[2 * m + 1] == x[4 * m + 1] + 1j * x[4 * m + 3]
    assert c[0].real == -40  # signed, never uint16
    cq = decode_frames(x, cfg, iq_order="qi").reshape(-1)
    assert cq[2 * m] == x[4 * m + 2] + 1j * x[4 * m]


def test_fused_window_equals_separate(small_config):
    rng = np.random.default_rng(2)
    words = rng.integers(-2000, 2000, small_config.bytes_per_frame, dtype=np.int16)
    w = np.hanning(small_config.n_samples).astype(np.float32)
    np.testing.assert_allclose(decode_frames(words, small_config, window=w),
                               decode_frames(words, small_config) * w, rtol=1e-6)


# ----------------------------------------------------------------------------- files and parts


def _simulated(cfg: RadarConfig, n_frames: int = 5) -> np.ndarray:
    return simulate_point_targets(cfg, [[0.5, 3.0, 0.0], [-1.0, 6.0, 0.2]], n_frames=n_frames,
                                  noise_std=3.0, seed=3)


def test_multipart_equals_single_file(tmp_path, small_config):
    raw = _simulated(small_config)
    single = write_recording(tmp_path / "one.bin", raw, small_config)
    parts = write_recording(tmp_path / "cap.bin", raw, small_config, part_bytes=50_001)
    assert len(parts) > 2 and parts == part_paths(tmp_path / "cap.bin", len(parts))
    with Recording(single, small_config) as a, Recording(parts, small_config) as b, \
            Recording(parts[0], small_config) as c:  # _Raw_0 pulls in its siblings
        assert b.n_frames == c.n_frames == a.n_frames == 5
        np.testing.assert_array_equal(a.read(), b.read())
        np.testing.assert_array_equal(a.read(), c.read())
        chunks = [x for _, x in b.frames(1, 5, chunk=2)]
        np.testing.assert_array_equal(np.concatenate(chunks), a.read(1, 5))


def test_parts_with_gap_refused(tmp_path, small_config):
    parts = write_recording(tmp_path / "cap.bin", _simulated(small_config), small_config,
                            part_bytes=60_000)
    with pytest.raises(RecordingError, match="gap"):
        Recording([parts[0], parts[2]], small_config)


def test_packet_header_file_reordered_and_zero_filled(tmp_path, small_config):
    raw = _simulated(small_config, 3)
    plain = write_recording(tmp_path / "plain.bin", raw, small_config)[0]
    payload = plain[0].read_bytes() if isinstance(plain, list) else plain.read_bytes()
    n_packets = -(-len(payload) // 1456)
    order = np.arange(n_packets)  # packets arrive locally out of order: swap neighbours
    order[1:-1:2], order[2::2] = order[2::2].copy(), order[1:-1:2].copy()
    packet = write_packet_file(tmp_path / "pk.bin", payload, order=order, drop=(5,))
    with pytest.warns(RecordingWarning, match="1 lost packets"):
        rec = Recording(packet, small_config)
    with rec, Recording(plain, small_config) as ref:
        assert rec.report.lost_packets == 1 and rec.report.zero_filled_bytes == 1456
        a = rec.words(0, 3).copy()
        b = ref.words(0, 3).copy()
        lost = slice(5 * 1456 // 2, 6 * 1456 // 2)
        assert np.all(a[lost] == 0)
        b[lost] = 0
        np.testing.assert_array_equal(a, b)


def test_config_frame_count_checks(tmp_path, small_config):
    path = write_recording(tmp_path / "r.bin", _simulated(small_config, 4), small_config)[0]
    with pytest.raises(RecordingError, match="says 6 frames"):
        Recording(path, small_config.replace(n_frames=6))
    with pytest.warns(RecordingWarning, match="after the configured 2 frames ignored"):
        rec = Recording(path, small_config.replace(n_frames=2))
    with rec:
        assert rec.n_frames == 2 and rec.report.extra_bytes == 2 * small_config.bytes_per_frame


@pytest.mark.parametrize("order", ["iq", "qi"])
def test_auto_iq_order_on_simulated_capture(tmp_path, small_config, order):
    path = write_recording(tmp_path / "r.bin", _simulated(small_config, 1), small_config,
                           iq_order=order)[0]
    with Recording(path, small_config, iq_order="auto") as rec:
        assert rec.report.iq_order == order
        assert rec.config.iq_order == order


def test_trailing_partial_frame_warned_and_skipped(tmp_path, small_config):
    path = write_recording(tmp_path / "r.bin", _simulated(small_config, 2), small_config,
                           tail_bytes=1000)[0]
    with pytest.warns(RecordingWarning, match="partial frame of 1,000 bytes"):
        rec = Recording(path, small_config)
    with rec:
        assert rec.n_frames == 2


def test_hsi_header_config_refused(tmp_path, small_config):
    path = write_recording(tmp_path / "r.bin", _simulated(small_config, 1), small_config)[0]
    with pytest.raises(RecordingError, match="lvdsStreamCfg -1 0 1 0"):
        Recording(path, small_config.replace(hsi_header=True))
