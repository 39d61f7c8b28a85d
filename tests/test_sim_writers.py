"""reader(writer(x)) == x for every DCA1000 layout, with simulated frames; SDK .cfg round trip."""

from __future__ import annotations

import numpy as np
import pytest

from radarkit.config import RadarConfig
from radarkit.config.sdk_cfg import format_sdk_cfg, parse_sdk_cfg
from radarkit.io import Recording, encode_frames, write_packet_file, write_recording
from radarkit.sim.scatterers import iter_scatterer_frames

BASE = dict(n_samples=64, n_loops=8, tx_order=(0, 2, 1), sample_rate_hz=5e6, slope_hz_per_s=40e12,
            start_freq_hz=77e9, idle_time_s=10e-6, adc_start_time_s=5e-6, ramp_end_time_s=20e-6,
            frame_period_s=0.05, n_frames=3)
LAYOUTS = {
    "2lane-iq": RadarConfig(**BASE, iq_order="iq"),
    "2lane-qi": RadarConfig(**BASE, iq_order="qi"),
    "real": RadarConfig(**BASE, sample_format="real"),
    "4lane-iq": RadarConfig(**{**BASE, "tx_order": (0, 1)}, lvds_lanes=4, device="IWR1443",
                            board="ULA"),
    "4lane-qi": RadarConfig(**{**BASE, "tx_order": (0, 1)}, lvds_lanes=4, device="IWR1443",
                            board="ULA", iq_order="qi"),
    "12bit": RadarConfig(**BASE, adc_bits=12),
}


def _frames(cfg: RadarConfig, seed: int = 0) -> np.ndarray:
    """Three frames of two moving scatterers plus noise, quantised (as the simulator writes them)."""
    pos = np.array([[[0.4, 2.0, 0.1], [-0.8, 3.5, 0.0]]] * cfg.n_frames)
    vel = np.array([[[0.0, 1.0, 0.0], [0.3, -0.5, 0.0]]] * cfg.n_frames)
    pos = pos + vel * cfg.frame_period_s * np.arange(cfg.n_frames)[:, None, None]
    return np.concatenate(list(iter_scatterer_frames(cfg, pos, vel, noise_std=20.0, seed=seed)))


def _read(paths, cfg):
    with Recording(paths, cfg) as rec:
        assert rec.n_frames == cfg.n_frames
        return rec.read(0, cfg.n_frames)


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_single_file_round_trip(tmp_path, layout):
    cfg = LAYOUTS[layout]
    x = _frames(cfg)
    assert np.all(x.real == np.rint(x.real))  # integer ADC counts
    write_recording(tmp_path / "adc_data.bin", x, cfg)
    assert (tmp_path / "adc_data.bin").stat().st_size == cfg.n_frames * cfg.bytes_per_frame
    back = _read(tmp_path / "adc_data.bin", cfg)
    np.testing.assert_array_equal(back, x if cfg.is_complex else x.real)


@pytest.mark.parametrize("layout", ["2lane-iq", "real", "4lane-qi"])
def test_multipart_round_trip(tmp_path, layout):
    cfg = LAYOUTS[layout]
    x = _frames(cfg, seed=1)
    parts = write_recording(tmp_path / "cap.bin", x, cfg, part_bytes=cfg.bytes_per_frame // 3 + 2)
    assert len(parts) > 3 and parts[0].name == "cap_Raw_0.bin"
    back = _read(parts[0], cfg)  # the first part pulls in its siblings
    np.testing.assert_array_equal(back, x if cfg.is_complex else x.real)


@pytest.mark.parametrize("layout", ["2lane-qi", "4lane-iq"])
def test_packet_header_round_trip(tmp_path, layout):
    cfg = LAYOUTS[layout]
    x = _frames(cfg, seed=2)
    words = encode_frames(x, cfg)
    n_packets = -(-words.nbytes // 1456)
    order = list(np.random.default_rng(0).permutation(n_packets))  # arrival out of order
    write_packet_file(tmp_path / "adc_data.bin", words, order=order)
    back = _read(tmp_path / "adc_data.bin", cfg)
    np.testing.assert_array_equal(back, x)


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_sdk_cfg_round_trip(layout):
    cfg = LAYOUTS[layout]
    assert parse_sdk_cfg(format_sdk_cfg(cfg)) == cfg
