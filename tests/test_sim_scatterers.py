"""Scatterer IF model: round trip through the DCA1000 writer and reader, noise, ADC, seeds."""

from __future__ import annotations

import numpy as np
import pytest

from radarkit.config import RadarConfig
from radarkit.config.presets import get_preset
from radarkit.coords import spherical_to_cartesian
from radarkit.dsp import range_doppler
from radarkit.dsp.angle import angle_fft, tdm_doppler_compensation, virtual_array_grid
from radarkit.dsp.axes import velocity_axis
from radarkit.io import Recording, write_recording
from radarkit.sim.scatterers import (
    adc_quantise,
    if_frame,
    iter_scatterer_frames,
    noise_std_for_snr,
    scatterer_amplitudes,
)
from radarkit.sim.scene import hupr_radars

HUPR = get_preset("iwr1843-3tx")
CONFIGS = {
    "hupr": HUPR,  # 256 samples, 64 loops x 3 TX x 4 RX
    "demo": get_preset("demo"),  # 128 samples, 32 loops
    "2tx-fast": HUPR.replace(tx_order=(0, 2), n_samples=64, n_loops=32, sample_rate_hz=4e6,
                             slope_hz_per_s=60e12, idle_time_s=5e-6, ramp_end_time_s=25e-6),
}


def _simulate(cfg, pos, vel, n_frames=1, noise_std=2.0, seed=0):
    pos = np.broadcast_to(np.asarray(pos, float), (n_frames, 1, 3))
    vel = np.broadcast_to(np.asarray(vel, float), (n_frames, 1, 3))
    return np.concatenate(list(iter_scatterer_frames(cfg, pos, vel, rcs=1.0, noise_std=noise_std,
                                                     seed=seed)))


def _read_back(tmp_path, frames, cfg, iq_order):
    path = tmp_path / f"adc_{iq_order}.bin"
    write_recording(path, frames, cfg, iq_order=iq_order)
    with Recording(path, cfg.replace(iq_order="iq")) as rec:  # wrong order unless overridden
        assert rec.config.iq_order == "iq"
    with Recording(path, cfg, iq_order=iq_order) as rec:
        return rec.read(0, len(frames))


def _peak_bins(raw, cfg):
    rd = range_doppler(raw, clutter_removal=False, output="complex", combine="none")  # (F,D,V,R)
    power = (np.abs(rd[0]) ** 2).sum(axis=1)
    d, k = np.unravel_index(np.argmax(power), power.shape)
    return rd, d, k


@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("iq_order", ["iq", "qi"])
@pytest.mark.parametrize("r,v,az,el", [(3.0, 1.2, 0.3, 0.0), (5.5, -2.0, -0.45, 0.25)])
def test_round_trip_target_lands_in_its_bins(tmp_path, name, iq_order, r, v, az, el):
    cfg = CONFIGS[name].replace(iq_order=iq_order)
    pos = spherical_to_cartesian(r, az, el)
    raw = _simulate(cfg, pos, pos / r * v)
    back = _read_back(tmp_path, raw, cfg, iq_order)
    np.testing.assert_array_equal(back, raw)  # the bytes hold exactly the quantised samples
    rd, d, k = _peak_bins(back, cfg)
    assert abs(k - r / cfg.range_bin_spacing_m()) <= 1.0
    dv = cfg.velocity_resolution_mps
    assert abs(velocity_axis(cfg)[d] - v) <= dv * 1.0 + 1e-9
    # azimuth: TDM Doppler compensation, virtual-array grid, 64-point angle FFT over row 0
    comp = tdm_doppler_compensation(rd, cfg.n_tx, doppler_axis=1, virtual_axis=2, n_rx=cfg.n_rx)
    grid, (n_el, n_az) = virtual_array_grid(comp[0, d, :, k], cfg, virtual_axis=0)
    spec = np.abs(angle_fft(grid[0], axis=0, n_fft=64))
    expected = 32 + 64 * np.sin(az) * np.cos(el) / 2
    assert abs(int(np.argmax(spec)) - expected) <= 1.0
    if n_el == 2:  # the elevated TX1 row: 8-point elevation FFT over the overlapping columns
        espec = np.abs(angle_fft(grid[:, 2:6], axis=0, n_fft=8)).sum(axis=1)
        assert abs(int(np.argmax(espec)) - (4 + 8 * np.sin(el) / 2)) <= 1.0


def test_round_trip_real_sampling(tmp_path):
    cfg = CONFIGS["demo"].replace(sample_format="real")
    pos = spherical_to_cartesian(4.0, 0.2, 0.0)
    raw = _simulate(cfg, pos, pos / 4.0 * 0.8)
    assert np.all(raw.imag == 0)
    path = tmp_path / "real.bin"
    write_recording(path, raw, cfg)
    with Recording(path, cfg) as rec:
        back = rec.read(0, 1)
    np.testing.assert_array_equal(back, raw.real)
    rd = range_doppler(back.astype(np.complex64), clutter_removal=False)[0]
    d, k = np.unravel_index(np.argmax(rd[:, : cfg.n_range_bins]), rd[:, : cfg.n_range_bins].shape)
    assert abs(k - 4.0 / cfg.range_bin_spacing_m()) <= 1.0
    assert abs(abs(velocity_axis(cfg)[d]) - 0.8) <= cfg.velocity_resolution_mps


def test_vertical_radar_sees_elevation_as_azimuth():
    """A target above boresight lands at positive azimuth in the radar rolled by 90 degrees."""
    cfg = CONFIGS["demo"]
    hori, vert = hupr_radars()
    scene_pos = spherical_to_cartesian(4.0, 0.0, 0.4)  # straight ahead, 0.4 rad up
    for mount, az_expected in ((hori, 0.0), (vert, 0.4)):
        raw = _simulate(cfg, mount.to_radar(scene_pos), np.zeros(3), noise_std=0.0)
        rd, d, k = _peak_bins(raw, cfg)
        row = rd[0, d, :8, k]  # azimuth row of the BOOST virtual array
        b = int(np.argmax(np.abs(angle_fft(row, axis=0, n_fft=64))))
        assert abs(b - (32 + 32 * np.sin(az_expected))) <= 1.0


def test_amplitude_follows_radar_equation():
    cfg = CONFIGS["2tx-fast"]
    peaks = []
    for r, rcs in ((2.0, 1.0), (4.0, 1.0), (4.0, 4.0)):
        amp = scatterer_amplitudes(np.array([[0.0, r, 0.0]]), rcs, gain=1000.0)
        frame = if_frame(cfg, np.array([[0.0, r, 0.0]]), amplitudes=amp)
        peaks.append(np.abs(frame).mean())  # one tone: constant modulus = amplitude
    assert peaks[1] == pytest.approx(1000.0 / 16.0, rel=1e-4)
    assert peaks[0] / peaks[1] == pytest.approx(4.0, rel=1e-3)  # 1 / R^2
    assert peaks[2] / peaks[1] == pytest.approx(2.0, rel=1e-4)  # sqrt(rcs)


def test_noise_level_matches_requested_snr():
    cfg = CONFIGS["2tx-fast"]
    sigma = noise_std_for_snr(20.0, gain=2000.0, rcs=1.0, range_m=5.0)
    assert sigma == pytest.approx(2000.0 / 25.0 / 10.0)
    frames = _simulate(cfg, [0.0, 100.0, 0.0], np.zeros(3), n_frames=2, noise_std=200.0)
    # the 100 m target is aliased but weak (0.2 counts); the rest is noise: std within 3 %
    assert np.std(frames) == pytest.approx(200.0, rel=0.03)
    assert abs(np.mean(frames.real)) < 5 and abs(np.mean(frames.imag)) < 5


def test_adc_quantisation_and_clipping():
    x = np.array([0.4 + 0.6j, -3.5 - 2.5j, 40000 - 40000j, 3000 + 1000j])
    q16 = adc_quantise(x, 16)
    np.testing.assert_array_equal(q16, [0 + 1j, -4 - 2j, 32767 - 32768j, 3000 + 1000j])
    q12 = adc_quantise(x, 12)
    assert q12[3] == 2047 + 1000j and q12[2] == 2047 - 2048j
    assert np.all(adc_quantise(x, 14, real=True).imag == 0)
    with pytest.raises(ValueError):
        adc_quantise(x, 10)
    # a scatterer 0.2 m away (50,000 counts) saturates a 16-bit ADC
    cfg = CONFIGS["2tx-fast"]
    near = _simulate(cfg, [0.0, 0.2, 0.0], np.zeros(3), noise_std=0.0)
    assert near.real.max() == 32767 and near.real.min() == -32768


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    cfg = CONFIGS["demo"]
    pos, vel = [0.5, 3.0, 0.1], [0.0, 0.5, 0.0]
    paths = []
    for i, seed in enumerate((7, 7, 8)):
        paths.append(tmp_path / f"{i}.bin")
        write_recording(paths[-1], _simulate(cfg, pos, vel, n_frames=2, seed=seed), cfg)
    a, b, c = (p.read_bytes() for p in paths)
    assert a == b and a != c


def test_shapes_validated():
    cfg = CONFIGS["demo"]
    with pytest.raises(ValueError):
        next(iter_scatterer_frames(cfg, np.zeros((2, 3))))
    with pytest.raises(ValueError):
        next(iter_scatterer_frames(cfg, np.zeros((2, 1, 3)), np.zeros((1, 1, 3))))
    empty = next(iter_scatterer_frames(cfg, np.zeros((1, 0, 3))))
    assert empty.shape == (1, *cfg.raw_shape) and not np.any(empty)


def test_ula_board_geometry_round_trip():
    """Any board: a ULA with 3 TX gives a 12-element row whose FFT finds the azimuth."""
    cfg = RadarConfig(n_samples=64, n_loops=16, tx_order=(0, 1, 2), sample_rate_hz=5e6,
                      slope_hz_per_s=40e12, start_freq_hz=77e9, idle_time_s=10e-6,
                      adc_start_time_s=5e-6, ramp_end_time_s=20e-6, frame_period_s=0.05, board="ULA")
    az = -0.3
    raw = _simulate(cfg, spherical_to_cartesian(3.0, az, 0.0), np.zeros(3), noise_std=0.0)
    rd, d, k = _peak_bins(raw, cfg)
    grid, shape = virtual_array_grid(rd[0, d, :, k], cfg, virtual_axis=0)
    assert shape == (1, 12)
    b = int(np.argmax(np.abs(angle_fft(grid[0], axis=0, n_fft=64))))
    assert abs(b - (32 + 32 * np.sin(az))) <= 1.0
