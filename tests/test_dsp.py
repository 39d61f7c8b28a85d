"""Range/Doppler processing: windows, bins of simulated targets, TDM demultiplexing, outputs."""

from __future__ import annotations

import numpy as np
import pytest

from radarkit.config import RadarConfig
from radarkit.config.presets import get_preset
from radarkit.coords import spherical_to_cartesian
from radarkit.dsp import (
    axes,
    get_window,
    range_axis,
    range_doppler,
    range_fft,
    remove_static_clutter,
    to_output,
    velocity_axis,
)
from radarkit.sim import simulate_point_targets


@pytest.mark.parametrize("name", ["hann", "hamming", "blackman"])
def test_window_normalisations(name):
    w = get_window(name, 64)
    assert w.dtype == np.float32 and w.mean() == pytest.approx(1.0, rel=1e-6)
    e = get_window(name, 64, norm="energy")
    assert np.mean(e.astype(np.float64) ** 2) == pytest.approx(1.0, rel=1e-5)
    raw = get_window(name, 64, norm="none")
    assert raw.max() == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_array_equal(get_window("none", 8), np.ones(8, np.float32))
    with pytest.raises(ValueError, match="unknown window"):
        get_window("kaiserx", 8)


def test_coherent_window_keeps_tone_peak():
    n = 128
    tone = 5.0 * np.exp(2j * np.pi * 10 * np.arange(n) / n)
    peaks = [np.abs(range_fft(tone[None], w))[0, 10] for w in ("none", "hann", "hamming", "blackman")]
    np.testing.assert_allclose(peaks, 5.0 * n, rtol=1e-5)


def test_real_input_keeps_half_the_bins():
    x = np.cos(2 * np.pi * 9 * np.arange(64) / 64).astype(np.float32)
    spec = range_fft(x[None], None)
    assert spec.shape == (1, 32) and np.argmax(np.abs(spec[0])) == 9


def test_static_clutter_removal_removes_zero_doppler():
    x = np.ones((3, 16, 8), np.complex64) * (2 + 1j)
    assert np.abs(remove_static_clutter(x, axis=1)).max() == 0


@pytest.mark.parametrize("tx_order", [(0, 2), (0, 2, 1)])
@pytest.mark.parametrize("r_true,v_true", [(5.00, 0.0), (3.2, 1.5), (11.7, -2.4)])
def test_target_lands_in_predicted_range_and_doppler_bin(tx_order, r_true, v_true):
    cfg = get_preset("iwr1843-3tx").replace(tx_order=tx_order, n_samples=128,
                                             sample_rate_hz=5e6)
    pos = spherical_to_cartesian(r_true, 0.1)
    vel = pos / r_true * v_true
    raw = simulate_point_targets(cfg, pos, vel[None], n_frames=1, noise_std=1.0)
    rd = range_doppler(raw, clutter_removal=False)[0]  # (doppler, range) dB
    d, k = np.unravel_index(np.argmax(rd), rd.shape)
    ra, va = range_axis(cfg), velocity_axis(cfg)
    assert abs(ra[k] - r_true) <= cfg.range_bin_spacing_m() / 2 + 1e-9
    assert abs(va[d] - v_true) <= cfg.velocity_resolution_mps / 2 + 1e-9
    assert np.argmin(abs(ra - 5.00)) == round(5.00 / cfg.range_bin_spacing_m())


def test_virtual_antenna_order_matches_board_geometry():
    """Per-antenna phases of a far target follow the BOOST virtual-array positions."""
    cfg = get_preset("iwr1843-3tx").replace(n_samples=128, sample_rate_hz=5e6)
    az, el, r = 0.35, 0.2, 40.0  # far field
    raw = simulate_point_targets(cfg, spherical_to_cartesian(r, az, el), n_frames=1)
    spec = range_doppler(raw, None, None, clutter_removal=False, output="complex", combine="none")
    d, _, k = np.unravel_index(np.argmax(np.abs(spec[0])), spec[0].shape)
    phases = np.angle(spec[0, d, :, k] / spec[0, d, 0, k])
    pos = cfg.virtual_positions
    # path difference of element (a, e) lambda/2 units: -(a sin(az) cos(el) + e sin(el)) lambda/2
    expected = -np.pi * (pos[:, 0] * np.sin(az) * np.cos(el) + pos[:, 1] * np.sin(el))
    np.testing.assert_allclose(np.angle(np.exp(1j * (phases - expected))), 0, atol=0.005)


def test_outputs_and_combine():
    rng = np.random.default_rng(0)
    raw = (rng.standard_normal((2, 8, 2, 4, 32)) + 1j * rng.standard_normal((2, 8, 2, 4, 32)))
    raw = raw.astype(np.complex64)
    comp = range_doppler(raw, output="complex", combine="none")
    assert comp.shape == (2, 8, 8, 32) and comp.dtype == np.complex64
    power = range_doppler(raw, output="power")
    np.testing.assert_allclose(power, (np.abs(comp) ** 2).sum(axis=2), rtol=1e-4)
    db = range_doppler(raw, output="db")
    np.testing.assert_allclose(db, 10 * np.log10(power), rtol=1e-4, atol=1e-3)
    assert to_output(np.zeros(3, np.complex64), "db").min() == pytest.approx(-120.0)
    with pytest.raises(ValueError, match="non-coherently"):
        range_doppler(raw, output="complex", combine="sum")


def test_axes_values_and_names():
    cfg = RadarConfig(n_samples=64, n_loops=16, tx_order=(0, 2, 1), sample_rate_hz=5e6,
                      slope_hz_per_s=40e12, start_freq_hz=77e9, idle_time_s=10e-6,
                      adc_start_time_s=5e-6, ramp_end_time_s=20e-6, frame_period_s=0.05)
    rd = axes(cfg, "rd", (2, 5))
    assert [a.dim for a in rd] == ["frame", "doppler", "range"]
    np.testing.assert_allclose(rd[0].values, [0.1, 0.15, 0.2])
    v = rd[1].values
    assert v[8] == 0 and v[9] - v[8] == pytest.approx(cfg.velocity_resolution_mps)
    assert v[0] == pytest.approx(-cfg.max_velocity_mps)
    assert [a.dim for a in axes(cfg, "rd", per_antenna=True)] == [
        "frame", "doppler", "virtual_antenna", "range"]
    assert [a.dim for a in axes(cfg, "range")] == ["frame", "chirp_loop", "virtual_antenna",
                                                    "range"]
    assert len(range_axis(cfg.replace(sample_format="real"))) == 32
