"""RadarConfig: derived quantities, loaders, round trips and validation errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from radarkit.config import RadarConfig, detect_config_kind, load_config, save_config
from radarkit.config.loaders import parse_config_text, to_toml
from radarkit.config.sdk_cfg import format_sdk_cfg
from radarkit.errors import ConfigError
from tests.conftest import PCAP_DIR, need

C = 299_792_458.0


def test_cruw_cfg_derived_quantities(cruw_cfg):
    cfg = load_config(cruw_cfg)
    assert cfg.n_samples == 128 and cfg.n_loops == 255 and cfg.tx_order == (0, 2)
    assert cfg.rx_channels == (0, 1, 2, 3) and cfg.iq_order == "iq"
    assert cfg.bytes_per_frame == 1_044_480  # README of the recording
    # range resolution c Fs / (2 S N) = 0.2232 m per the recording's README (c = 3e8 there)
    assert cfg.range_resolution_m == pytest.approx(C * 4e6 / (2 * 21.0017e12 * 128))
    assert cfg.range_resolution_m == pytest.approx(0.2232, abs=1e-3)
    assert cfg.max_range_m == pytest.approx(28.55, abs=0.1)
    assert cfg.loop_time_s == pytest.approx(120e-6)
    lam = C / cfg.centre_freq_hz
    assert cfg.max_velocity_mps == pytest.approx(lam / (4 * 120e-6))
    assert cfg.velocity_resolution_mps == pytest.approx(lam / (2 * 255 * 120e-6))
    assert cfg.max_velocity_mps == pytest.approx(8.1, abs=0.1)
    # TX0 then TX2 on the BOOST board: an 8-element lambda/2 ULA
    np.testing.assert_array_equal(cfg.virtual_positions[:, 0], np.arange(8))
    np.testing.assert_array_equal(cfg.virtual_positions[:, 1], 0)


def test_boost_three_tx_virtual_array():
    cfg = RadarConfig(n_samples=256, n_loops=64, tx_order=(0, 2, 1), sample_rate_hz=10e6,
                      slope_hz_per_s=30e12, start_freq_hz=77e9, idle_time_s=10e-6,
                      adc_start_time_s=6e-6, ramp_end_time_s=40e-6, frame_period_s=0.1)
    pos = cfg.virtual_positions
    np.testing.assert_array_equal(pos[:8, 0], np.arange(8))
    np.testing.assert_array_equal(pos[:8, 1], 0)
    np.testing.assert_array_equal(pos[8:, 0], [2, 3, 4, 5])  # TX1 raised row at azimuth 2..5
    np.testing.assert_array_equal(pos[8:, 1], 1)


def test_cfg_dict_roundtrip_is_identity(cruw_cfg):
    cfg = load_config(cruw_cfg)
    d = cfg.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert RadarConfig.from_dict(d) == cfg
    assert parse_config_text(to_toml(cfg)) == cfg
    assert parse_config_text(json.dumps(d)) == cfg
    assert parse_config_text(format_sdk_cfg(cfg)) == cfg


def test_pcap_golden_cfg_loads():
    cfg = load_config(need(PCAP_DIR / "xwr18xx_profile_2023_01_01T00_00_00_000.cfg"))
    assert cfg.iq_order == "qi"  # adcbufCfg -1 0 1 1 1: sampleSwap 1
    assert cfg.n_samples == 256 and cfg.n_loops == 16 and cfg.tx_order == (0, 2)
    assert cfg.sample_rate_hz == pytest.approx(5.209e6)
    assert cfg.slope_hz_per_s == pytest.approx(70e12)
    assert cfg.bytes_per_frame == 256 * 4 * 2 * 16 * 4
    assert cfg.range_resolution_m == pytest.approx(C * 5.209e6 / (2 * 70e12 * 256))


@pytest.mark.parametrize("suffix", [".toml", ".json", ".cfg"])
def test_save_and_load_by_content(tmp_path, small_config, suffix):
    path = save_config(small_config, tmp_path / f"c{suffix}")
    # the kind is decided by content: a misleading suffix does not matter
    moved = path.rename(tmp_path / "config.txt")
    assert load_config(moved) == small_config


def test_detect_kinds(small_config):
    assert detect_config_kind(format_sdk_cfg(small_config)) == "sdk-cfg"
    assert detect_config_kind(to_toml(small_config)) == "toml"
    assert detect_config_kind(json.dumps(small_config.to_dict())) == "json"
    assert detect_config_kind("hello world") is None


BASE = """channelCfg 15 5 0
adcCfg 2 1
adcbufCfg -1 0 0 1 1
profileCfg 0 77 20 6 40 0 0 21.0017 1 128 4000 0 0 30
chirpCfg 0 0 0 0 0 0 0 1
chirpCfg 1 1 0 0 0 0 0 4
frameCfg 0 1 255 0 33.333 1 0
"""


@pytest.mark.parametrize("old,new,field", [
    ("128 4000", "0 4000", "n_samples"),                      # zero samples
    ("6 40 0 0", "6 30 0 0", "ramp_end_time_s"),               # ADC sampling longer than the ramp
    ("chirpCfg 1 1 0 0 0 0 0 4", "chirpCfg 1 1 0 0 0 0 0 6", "chirpCfg"),  # two TX in a chirp
    ("chirpCfg 1 1 0 0 0 0 0 4", "chirpCfg 1 1 0 0 0 0 0 2", "chirpCfg"),  # TX1 not enabled
    ("chirpCfg 1 1 0 0 0 0 0 4", "chirpCfg 1 1 0 0 0 0 0 0", "chirpCfg"),  # no TX at all
    ("channelCfg 15 5 0", "channelCfg 0 5 0", "rx_channels"),               # no RX
    ("frameCfg 0 1 255 0 33.333", "frameCfg 0 1 255 0 3", "frame_period_s"),
    ("adcCfg 2 1", "adcCfg 7 1", "adcCfg"),
    ("profileCfg 0 77", "profileCfg 0 12", "start_freq_hz"),
])
def test_bad_values_name_field_and_file(tmp_path, old, new, field):
    text = BASE.replace(old, new)
    assert text != BASE
    path = tmp_path / "bad.cfg"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert field in str(info.value)
    assert "bad.cfg" in str(info.value)


def test_unknown_tx_antenna_on_board():
    with pytest.raises(ConfigError, match="tx_order.*unknown TX antenna 3"):
        RadarConfig(n_samples=64, n_loops=4, tx_order=(0, 3), sample_rate_hz=5e6,
                    slope_hz_per_s=40e12, start_freq_hz=77e9, idle_time_s=10e-6,
                    adc_start_time_s=5e-6, ramp_end_time_s=20e-6, frame_period_s=0.05)


def test_missing_command_and_missing_file(tmp_path):
    path = tmp_path / "noframe.cfg"
    path.write_text(BASE.replace("frameCfg 0 1 255 0 33.333 1 0\n", ""))
    with pytest.raises(ConfigError, match="noframe.cfg: frameCfg: command missing"):
        load_config(path)
    with pytest.raises(ConfigError, match="configuration file not found"):
        load_config(tmp_path / "absent.cfg")
    (tmp_path / "junk.cfg").write_text("not a config\n")
    with pytest.raises(ConfigError, match="junk.cfg: not a recognised radar configuration"):
        load_config(tmp_path / "junk.cfg")


def test_from_dict_rejects_unknown_and_missing_keys(small_config):
    d = small_config.to_dict()
    with pytest.raises(ConfigError, match="unknown key"):
        RadarConfig.from_dict({**d, "bogus": 1})
    del d["n_samples"]
    with pytest.raises(ConfigError, match="missing key.*n_samples"):
        RadarConfig.from_dict(d)


def test_replace_recomputes_antennas(small_config):
    two = small_config.replace(tx_order=(0, 2))
    assert two.n_virtual == 8
    np.testing.assert_array_equal(two.virtual_positions[:, 0], np.arange(8))
