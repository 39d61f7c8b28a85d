"""Shared fixtures: paths to the real recordings in ../shared/data and small configurations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from radarkit.config import RadarConfig

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CRUW_DIR = SHARED_DATA / "cruw_awr1843_2tx"
PCAP_DIR = SHARED_DATA / "dca1000_pcap_golden"


def need(path: Path) -> Path:
    """Skip the calling test with a clear reason when a shared recording is absent."""
    if not path.exists():
        pytest.skip(f"real recording {path} not present (../shared/data is provided in CI)")
    return path


@pytest.fixture
def cruw_bin() -> Path:
    return need(CRUW_DIR / "adc_data.bin")


@pytest.fixture
def cruw_cfg() -> Path:
    return need(CRUW_DIR / "cruw_awr1843.cfg")


@pytest.fixture
def small_config() -> RadarConfig:
    """A small 3-TX IWR1843BOOST configuration (fast tests)."""
    return RadarConfig(n_samples=64, n_loops=16, tx_order=(0, 2, 1), sample_rate_hz=5e6,
                       slope_hz_per_s=40e12, start_freq_hz=77e9, idle_time_s=10e-6,
                       adc_start_time_s=5e-6, ramp_end_time_s=20e-6, frame_period_s=0.05)


def assert_same_cube(got: np.ndarray, expected: np.ndarray, units: str) -> None:
    """The CLI's cube equals the API's to float32 rounding, which scales with the cube's largest
    value (the CLI's fused Range-Doppler hot path orders the operations differently); dB cubes are
    compared as linear power."""
    if units == "dB":
        got, expected = 10 ** (got / 10.0), 10 ** (expected / 10.0)
    assert np.abs(got - expected).max() <= 1e-5 * np.abs(expected).max()
