"""``vrdae`` in ``hupr`` mode against a literal, step-by-step implementation of HuPR's preprocessing.

The reference below follows ``shared/specs/raw-format.md`` ("HuPR preprocessing") one step and one
FFT call at a time, in HuPR's own array layout ``(doppler, range, azimuth, elevation)`` and complex128,
with no shortcut; radarkit's pruned implementation must give the same numbers.
"""

from __future__ import annotations

import numpy as np
import pytest

from radarkit.config.presets import get_preset
from radarkit.coords import spherical_to_cartesian
from radarkit.dsp.backends import get_backend
from radarkit.dsp.hupr import check_hupr_config, hupr_angle_axis, hupr_vrdae
from radarkit.errors import ConfigError
from radarkit.sim.point_targets import simulate_point_targets

HUPR = get_preset("hupr")


def hupr_reference(frame: np.ndarray) -> np.ndarray:
    """One frame ``(loop, slot, rx, sample)`` -> HuPR's saved array (16, 64, 64, 8) complex128."""
    n_loops, _, n_rx, n_samples = frame.shape
    chirps = frame.astype(np.complex128).reshape(n_loops * 3, n_rx, n_samples)  # chirp order
    # step 1: TDM demux by chirp index
    virtual = np.zeros((n_loops, 12, n_samples), dtype=np.complex128)
    for c in range(n_loops * 3):
        loop, slot = divmod(c, 3)
        if slot == 0:
            virtual[loop, 0:4] = chirps[c]
        elif slot == 2:
            virtual[loop, 4:8] = chirps[c]
        else:
            virtual[loop, 8:12] = chirps[c]
    # step 2: static clutter removal
    virtual = virtual - virtual.mean(axis=0, keepdims=True)
    # step 3: 2-D FFT over (loop, sample) per antenna, no window
    rd = np.zeros((n_loops, 12, n_samples), dtype=np.complex128)
    for v in range(12):
        rd[:, v, :] = np.fft.fft2(virtual[:, v, :])
    # step 4: angle arrays (doppler, range, elevation 8, azimuth 64)
    grid = np.zeros((n_loops, n_samples, 8, 64), dtype=np.complex128)
    for d in range(n_loops):
        for r in range(n_samples):
            grid[d, r, 0, 0:8] = rd[d, 0:8, r]
            grid[d, r, 1, 2:6] = rd[d, 8:12, r]
    # step 5: elevation FFT on azimuth columns 2..5 only, then azimuth FFT on every row
    for d in range(n_loops):
        for r in range(n_samples):
            for a in range(2, 6):
                grid[d, r, :, a] = np.fft.fft(grid[d, r, :, a])
            for e in range(8):
                grid[d, r, e, :] = np.fft.fft(grid[d, r, e, :])
    # step 6: range bins 94 down to 31
    grid = grid[:, 94:30:-1]
    # step 7: fftshift over Doppler, keep shifted indices 24..39
    grid = np.fft.fftshift(grid, axes=0)[24:40]
    # step 8: per Doppler slice, fftshift over (azimuth, elevation) then flip both axes
    out = np.zeros((16, 64, 64, 8), dtype=np.complex128)
    for d in range(16):
        sl = np.transpose(grid[d], (0, 2, 1))  # (range, azimuth, elevation)
        sl = np.fft.fftshift(sl, axes=(1, 2))
        out[d] = np.flip(np.flip(sl, axis=1), axis=2)
    return out  # step 9: (16 doppler, 64 range, 64 azimuth, 8 elevation)


def _targets(n_frames=1, noise=2.0):
    pos = np.vstack([spherical_to_cartesian(2.0, 0.3, 0.1), spherical_to_cartesian(3.1, -0.5, -0.2)])
    vel = np.array([[0.0, 0.4, 0.0], [0.0, -0.8, 0.1]])
    return simulate_point_targets(HUPR, pos, vel, n_frames=n_frames, noise_std=noise, seed=3)


@pytest.fixture(scope="module")
def raw():
    return _targets(n_frames=1)


@pytest.fixture(scope="module")
def reference(raw):
    return np.stack([hupr_reference(f) for f in raw])  # (F, 16, 64, 64, 8)


@pytest.mark.parametrize("backend", ["numpy", "scipy", "torch"])
def test_hupr_mode_equals_step_by_step_reference(raw, reference, backend):
    b = get_backend(backend)
    out = b.to_numpy(hupr_vrdae(raw, HUPR, doppler_bins=16, backend=b))
    assert out.shape == (1, 16, 8, 64, 64) and out.dtype == np.complex64
    ref = reference.transpose(0, 1, 4, 3, 2)  # -> (frame, doppler, elevation, azimuth, range)
    scale = np.abs(ref).max()
    assert np.abs(out - ref).max() <= 1e-5 * scale


def test_hupr_mode_central_eight_doppler_bins(raw, reference):
    out = hupr_vrdae(raw, HUPR, doppler_bins=8, backend="numpy")
    ref = reference[:, 4:12].transpose(0, 1, 4, 3, 2)  # HuPR's loader: relative bins -4..+3
    assert np.abs(out - ref).max() <= 1e-5 * np.abs(ref).max()


def test_hupr_axes_place_a_target_where_predicted():
    az, el, rng = 0.35, 0.0, 2.7  # bin ~63 of the preset's 4.3 cm bins (HuPR keeps 31..94)
    # a moving target: HuPR's clutter removal would cancel a static one
    raw = simulate_point_targets(HUPR, spherical_to_cartesian(rng, az, el), [[0, 0.5, 0]], n_frames=1)
    out = np.abs(hupr_vrdae(raw, HUPR, doppler_bins=16, backend="numpy")[0])  # (D, E, A, R)
    d, e, a, r = np.unravel_index(np.argmax(out), out.shape)
    predicted_bin = rng / HUPR.range_bin_spacing_m(256)
    assert abs((94 - r) - predicted_bin) <= 1.0  # range index i is range bin 94 - i
    assert abs(np.arcsin(hupr_angle_axis(64, "sin")[a]) - az) <= 2.5 / 64 / np.cos(az)


def test_hupr_mode_refuses_other_tdm_orders():
    with pytest.raises(ConfigError, match="elevated"):
        check_hupr_config(get_preset("iwr1843-3tx"))  # SDK order TX0, TX2, TX1
    with pytest.raises(ConfigError, match="3 TX"):
        check_hupr_config(HUPR.replace(tx_order=(0, 2)))


def test_hupr_cube_file_from_words_equals_reference(tmp_path, raw, reference):
    """The streaming path (clutter removal fused into decoding) writes HuPR's numbers too."""
    from radarkit.dsp.cubes import CubeParams, write_cube
    from radarkit.io.recording import Recording
    from radarkit.io.store import open_cube
    from radarkit.io.writer import write_recording

    path = write_recording(tmp_path / "adc_data.bin", raw, HUPR)[0]
    with Recording(path, HUPR) as rec:
        quantised = rec.read()
        write_cube(rec, tmp_path / "vrdae.h5", CubeParams(kind="vrdae", mode="hupr", doppler_bins=16))
    ref = np.stack([hupr_reference(f) for f in quantised]).transpose(0, 1, 4, 3, 2)
    with open_cube(tmp_path / "vrdae.h5") as f:
        assert f.dims == ("frame", "doppler", "elevation", "azimuth", "range")
        got = f.cube[()]
        np.testing.assert_array_equal(f.axis("range").values,
                                      np.arange(94, 30, -1) * HUPR.range_bin_spacing_m(256))
    assert np.abs(got - ref).max() <= 1e-5 * np.abs(ref).max()
