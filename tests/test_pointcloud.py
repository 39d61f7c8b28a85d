"""Point clouds: simulated targets land in their range/Doppler bins and angles, the PointCloud type,
peak grouping, HDF5/CSV storage, clustering, RAD input."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from radarkit.config.presets import get_preset
from radarkit.coords import spherical_to_cartesian
from radarkit.detect.cfar import CfarParams, cfar_2d
from radarkit.detect.cluster import cluster_points, dbscan_labels
from radarkit.detect.peaks import detection_list, group_peaks
from radarkit.detect.pointcloud import (
    POINT_DTYPE,
    PointCloud,
    PointCloudParams,
    load_point_cloud,
    point_cloud,
    points_from_power,
    points_from_rad,
    points_from_rd,
    save_point_cloud,
)
from radarkit.dsp import range_doppler
from radarkit.dsp.angle import angle_axis, angle_fft, tdm_doppler_compensation
from radarkit.dsp.axes import range_axis, velocity_axis
from radarkit.errors import StoreError
from radarkit.io import Recording, write_recording
from radarkit.io.points import PointsWriter, export_csv, read_points
from radarkit.sim.point_targets import simulate_point_targets

CFG = get_preset("iwr1843-3tx").replace(n_samples=128, sample_rate_hz=5e6, n_loops=32)
# (range m, azimuth deg, elevation deg, radial velocity m/s)
TARGETS = [(3.0, -30.0, 0.0, 1.2), (5.5, 12.0, 10.0, -2.0), (8.0, 0.0, -6.0, 0.0), (10.5, 40.0, 0.0, 3.1)]


def _simulate(cfg, targets, n_frames=2, noise_std=4.0, seed=0):
    pos = np.array([spherical_to_cartesian(r, np.deg2rad(a), np.deg2rad(e)) for r, a, e, _ in targets])
    vel = np.array([v * p / np.linalg.norm(p) for (*_, v), p in zip(targets, pos, strict=True)])
    return simulate_point_targets(cfg, pos, vel, amplitudes=np.full(len(targets), 200.0), n_frames=n_frames,
                                  noise_std=noise_std, seed=seed)


def _true_bins(cfg, r, v):
    dr = cfg.range_bin_spacing_m()
    dv = velocity_axis(cfg)[1] - velocity_axis(cfg)[0]
    return cfg.n_loops // 2 + v / dv, r / dr


def _assert_targets_found(cloud, cfg, targets, check_elevation=True):
    for f in range(cloud.n_frames):
        pts = cloud.frame(f)
        for r0, az, el, v in targets:
            r = r0 + v * f * cfg.frame_period_s  # radial motion between frames
            d_true, r_true = _true_bins(cfg, r, v)
            near = pts[(np.abs(pts["range_bin"] - r_true) <= 1.0)
                       & (np.abs(pts["doppler_bin"] - d_true) <= 1.0)]
            assert len(near), f"no point near range {r} m, velocity {v} m/s in frame {f}"
            best = near[np.argmin(np.abs(np.rad2deg(near["azimuth_rad"]) - az))]
            assert abs(np.rad2deg(best["azimuth_rad"]) - az) <= 3.0, best
            if check_elevation:
                assert abs(np.rad2deg(best["elevation_rad"]) - el) <= 3.0, best
            assert abs(best["range_m"] - r) <= cfg.range_bin_spacing_m()
            np.testing.assert_allclose([best["x"], best["y"], best["z"]],
                                       spherical_to_cartesian(best["range_m"], best["azimuth_rad"],
                                                              best["elevation_rad"]), atol=1e-4)
            assert best["snr_db"] > 20.0 and np.isfinite(best["intensity_db"])


# ---------------------------------------------------------------- targets -> points
@pytest.mark.parametrize("method", ["fft", "capon"])
def test_point_targets_land_in_their_bins_and_angles(method, tmp_path):
    raw = _simulate(CFG, TARGETS)
    path = tmp_path / "adc_data.bin"
    write_recording(path, raw, CFG)  # through the DCA1000 byte format and back
    with Recording(path, CFG) as rec:
        raw = rec.read()
    cloud = point_cloud(raw, CFG, PointCloudParams(angle_method=method))
    assert cloud.n_frames == 2
    _assert_targets_found(cloud, CFG, TARGETS)
    assert np.all(cloud.counts() <= 3 * len(TARGETS))  # peak grouping: a few points per target


def test_two_tx_full_preset_and_several_azimuth_peaks_per_cell():
    cfg = get_preset("iwr1843-3tx").replace(tx_order=(0, 2))  # 8-element ULA, no elevation
    targets = [(6.0, -30.0, 0.0, 1.0), (6.0, 20.0, 0.0, 1.0)]  # same range and velocity cell
    raw = _simulate(cfg, targets, n_frames=1)
    one = point_cloud(raw, cfg)
    two = point_cloud(raw, cfg, PointCloudParams(max_angle_peaks=2))
    assert len(two) > len(one)
    _assert_targets_found(two, cfg, targets)
    assert np.all(two["elevation_rad"] == 0)


def test_points_from_summed_power_have_no_angles():
    raw = _simulate(CFG, TARGETS, n_frames=1)
    rd = range_doppler(raw, clutter_removal=False, output="power")  # (F, D, R) summed
    cloud = points_from_power(rd, range_axis(CFG), velocity_axis(CFG))
    full = point_cloud(raw, CFG)
    np.testing.assert_array_equal(np.sort(cloud["range_bin"]), np.sort(full["range_bin"]))
    assert np.all(np.isnan(cloud["azimuth_rad"])) and np.all(np.isnan(cloud["x"]))
    with pytest.raises(ValueError, match="power must be"):
        points_from_power(rd, range_axis(CFG)[:-1], velocity_axis(CFG))


def test_points_from_rad_cube():
    cfg = CFG.replace(tx_order=(0, 2))
    targets = [(4.0, -25.0, 0.0, 1.0), (7.0, 15.0, 0.0, -1.5)]
    rd = range_doppler(_simulate(cfg, targets, n_frames=1), clutter_removal=False, output="complex",
                       combine="none")
    rd = tdm_doppler_compensation(rd, cfg.n_tx, doppler_axis=1, virtual_axis=2, n_rx=cfg.n_rx)
    rad = np.abs(angle_fft(rd, axis=2, n_fft=64)) ** 2  # (F, D, A, R)
    cloud = points_from_rad(rad, range_axis(cfg), velocity_axis(cfg), angle_axis(64))
    _assert_targets_found(cloud, cfg, targets, check_elevation=False)


def test_peak_grouping_and_detection_list():
    raw = _simulate(CFG, TARGETS[:1], n_frames=1, noise_std=1.0)
    power = range_doppler(raw, clutter_removal=False, output="power")
    mask = cfar_2d(power, CfarParams(pfa=1e-4))
    grouped = group_peaks(power, mask, (3, 3))
    assert mask.sum() > grouped.sum() >= 1  # window main lobes flag neighbours; grouping keeps the peak
    d, r = np.unravel_index(np.argmax(power[0]), power.shape[1:])
    assert grouped[0, d, r]
    np.testing.assert_array_equal(group_peaks(power, mask, (1, 1)), mask)
    cells, offsets = detection_list(np.concatenate([grouped, np.zeros_like(grouped), grouped]))
    assert offsets.tolist() == [0, grouped.sum(), grouped.sum(), 2 * grouped.sum()]
    assert cells.shape == (2 * grouped.sum(), 2)
    # a plateau keeps both cells; a stronger undetected neighbour suppresses a detection
    p = np.zeros((1, 5, 5))
    p[0, 2, 2] = p[0, 2, 3] = 1.0
    m = p > 0.5
    assert group_peaks(p, m).sum() == 2
    p[0, 1, 1] = 2.0  # a neighbour of (2, 2) only
    assert group_peaks(p, m).sum() == 1


def test_rd_input_checks_and_axes():
    with pytest.raises(ValueError, match="virtual"):
        points_from_rd(np.zeros((1, 32, 5, 128), np.complex64), CFG)
    with pytest.raises(ValueError, match="2-D"):
        PointCloudParams(cfar=CfarParams(guard=(1,), train=(4,)))


# ---------------------------------------------------------------- the PointCloud type
def _cloud(counts, seed=0):
    rng = np.random.default_rng(seed)
    table = np.zeros(sum(counts), POINT_DTYPE)
    for name in POINT_DTYPE.names:
        table[name] = rng.integers(0, 50, len(table)) if table.dtype[name].kind == "i" else rng.normal(
            size=len(table))
    return PointCloud(table, np.concatenate([[0], np.cumsum(counts)]), frame_start=5)


def test_point_cloud_type():
    pc = _cloud([3, 0, 2])
    assert pc.n_frames == 3 and len(pc) == 5
    assert pc.counts().tolist() == [3, 0, 2] and pc.frame_index().tolist() == [0, 0, 0, 2, 2]
    assert len(pc.frame(1)) == 0 and len(pc.frame(-1)) == 2
    np.testing.assert_array_equal(pc.frame(2)["x"], pc["x"][3:])
    assert pc.positions().shape == (5, 3)
    both = PointCloud.concat([pc, _cloud([1, 1], seed=1)])
    assert both.counts().tolist() == [3, 0, 2, 1, 1] and both.frame_start == 5
    assert PointCloud.empty(4).n_frames == 4
    with pytest.raises(ValueError, match="offsets"):
        PointCloud(pc.table, [0, 3, 2, 5])
    with pytest.raises(IndexError):
        pc.frame(3)


# ---------------------------------------------------------------- storage
def test_hdf5_round_trip_streamed_and_csv(tmp_path):
    a, b = _cloud([2, 1]), _cloud([0, 4, 1], seed=2)
    out = tmp_path / "pts.h5"
    with PointsWriter(out, POINT_DTYPE, {"x": "m"}, CFG, {"processing": {"k": 1}, "command": "t"},
                      frame_start=5) as w:
        w.append(a.table, a.offsets)
        w.append(b.table, b.offsets)
    stored = read_points(out)
    both = PointCloud.concat([a, b])
    np.testing.assert_array_equal(stored.table, both.table)
    np.testing.assert_array_equal(stored.offsets, both.offsets)
    assert stored.table.dtype.names == POINT_DTYPE.names and stored.units["x"] == "m"
    assert stored.config == CFG and stored.attrs["processing"] == {"k": 1}
    assert stored.attrs["format"] == "radarkit-points" and "radarkit_version" in stored.attrs
    np.testing.assert_allclose(stored.frame_time_s, (5 + np.arange(5)) * CFG.frame_period_s)
    cloud, attrs = load_point_cloud(save_point_cloud(tmp_path / "b.h5", both, CFG))
    np.testing.assert_array_equal(cloud.table, both.table)
    assert cloud.frame_start == 5
    with pytest.raises(StoreError, match="exists"):
        save_point_cloud(out, both)
    (tmp_path / "x.h5").write_bytes(b"not hdf5")
    with pytest.raises(StoreError, match="not an HDF5"):
        read_points(tmp_path / "x.h5")
    csv_path = export_csv(tmp_path / "pts.csv", both.table, both.offsets, frame_start=5)
    rows = list(csv.DictReader(open(csv_path)))
    assert len(rows) == len(both) and [int(r["frame"]) for r in rows] == (5 + both.frame_index()).tolist()
    assert float(rows[0]["range_m"]) == pytest.approx(both["range_m"][0], rel=1e-5)
    # a failure while writing leaves nothing behind
    with pytest.raises(RuntimeError), PointsWriter(tmp_path / "c.h5", POINT_DTYPE) as w:
        w.append(a.table, a.offsets)
        raise RuntimeError("boom")
    assert not (tmp_path / "c.h5").exists() and not list(tmp_path.glob(".c.h5*"))


# ---------------------------------------------------------------- clustering
def test_dbscan_with_doppler_weight():
    rng = np.random.default_rng(0)
    person = rng.normal([0, 3, 0], 0.1, (12, 3))
    wall = rng.normal([0, 3.05, 0], 0.1, (12, 3))  # same place, static
    xyz = np.concatenate([person, wall])
    v = np.concatenate([np.full(12, 1.5), np.zeros(12)])
    by_position = dbscan_labels(xyz, v, eps=0.4, min_samples=3, doppler_weight=0.0)
    assert len(set(by_position) - {-1}) == 1
    weighted = dbscan_labels(xyz, v, eps=0.4, min_samples=3, doppler_weight=1.0)
    assert len(set(weighted) - {-1}) == 2 and len(set(weighted[:12])) == 1 and weighted[0] != weighted[-1]
    xyz[0] = np.nan
    assert dbscan_labels(xyz, v)[0] == -1
    table = np.zeros(24, POINT_DTYPE)
    table["x"], table["y"], table["z"] = xyz.T
    table["velocity_mps"] = v
    cloud = cluster_points(PointCloud(table, [0, 12, 24]), eps=0.4, doppler_weight=1.0)
    assert set(cloud.frame(0)["cluster"][1:]) == {0} and set(cloud.frame(1)["cluster"]) == {0}
