"""``radarkit detect`` and ``radarkit plot``: raw and cube inputs, provenance, CSV, figures, errors,
and the real CRUW recording."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from radarkit.cli.main import cli
from radarkit.config import load_config, save_config
from radarkit.config.presets import get_preset
from radarkit.coords import spherical_to_cartesian
from radarkit.detect.cfar import CfarParams
from radarkit.detect.cluster import cluster_points
from radarkit.detect.pointcloud import PointCloudParams, load_point_cloud, point_cloud
from radarkit.dsp import range_cube
from radarkit.errors import RecordingWarning
from radarkit.io import Recording, write_recording
from radarkit.io.points import read_points
from radarkit.sim.point_targets import simulate_point_targets

CFG = get_preset("iwr1843-3tx").replace(n_samples=128, sample_rate_hz=5e6, n_loops=32)
TARGETS = [(3.0, -20.0, 0.0), (6.0, 15.0, 8.0)]  # range m, azimuth deg, elevation deg


def run_cli(args) -> object:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result


def ok(result) -> None:
    assert "Traceback" not in result.output
    assert result.exit_code == 0, result.output
    assert result.exception is None, repr(result.exception)


@pytest.fixture
def rec(tmp_path: Path) -> tuple[Path, Path]:
    pos = [spherical_to_cartesian(r, np.deg2rad(a), np.deg2rad(e)) for r, a, e in TARGETS]
    raw = simulate_point_targets(CFG, pos, [[0, 1.0, 0], [0, 0, 0]], amplitudes=[200.0, 200.0], n_frames=3,
                                 noise_std=4.0, seed=1)
    path, cfg = tmp_path / "adc_data.bin", tmp_path / "capture.cfg"
    write_recording(path, raw, CFG)
    save_config(CFG, cfg)
    return path, cfg


def test_detect_raw_writes_points_csv_and_provenance(rec, tmp_path):
    raw, cfg = rec
    out = tmp_path / "pts.h5"
    result = run_cli(["detect", raw, "--config", cfg, "--out", out, "--csv", "--cfar", "os", "--pfa", "1e-3",
                      "--guard", "1,2", "--train", "6,4", "--chunk", "2", "--cluster", "-q"])
    ok(result)
    assert "3 frames" in result.output and "0 frames empty" in result.output
    stored = read_points(out)
    cloud, attrs = load_point_cloud(out)
    # the same as the Python API on the same frames
    with Recording(raw, CFG) as r:
        expected = point_cloud(r.read(), CFG, PointCloudParams(
            cfar=CfarParams(kind="os", guard=(1, 2), train=(6, 4), pfa=1e-3)))
    np.testing.assert_array_equal(cloud.offsets, expected.offsets)
    np.testing.assert_allclose(cloud["azimuth_rad"], expected["azimuth_rad"], atol=1e-5)
    for r_m, az, _ in TARGETS:
        near = cloud.table[np.abs(cloud["range_m"] - r_m) < 0.3]
        assert np.any(np.abs(np.rad2deg(near["azimuth_rad"]) - az) < 3.0)
    np.testing.assert_array_equal(cloud["cluster"], cluster_points(expected)["cluster"])  # --cluster
    # provenance
    assert attrs["processing"]["detect"]["cfar"]["kind"] == "os"
    assert attrs["processing"]["detect"]["cfar"]["guard"] == [1, 2]
    sha = hashlib.sha256(raw.read_bytes()).hexdigest()
    assert {s["name"]: s["sha256"] for s in attrs["sources"]}["adc_data.bin"] == sha
    assert stored.config == CFG.replace(n_frames=3) and isinstance(attrs["command"], str)
    assert attrs["capture"]["n_frames"] == 3
    rows = list(csv.DictReader(open(out.with_suffix(".csv"))))
    assert len(rows) == len(cloud) and set(rows[0]) >= {"frame", "range_m", "x", "snr_db", "cluster"}
    # no overwrite without --force, and one-line errors
    again = run_cli(["detect", raw, "--config", cfg, "--out", out, "-q"])
    assert again.exit_code == 1 and "exists" in again.output and "Traceback" not in again.output


def test_detect_on_cube_files_matches_raw(rec, tmp_path):
    raw, cfg = rec
    cube = tmp_path / "rd_complex.h5"
    ok(run_cli(["cube", raw, "--config", cfg, "--out", cube, "--per-antenna", "--output", "complex",
                "--no-clutter-removal", "-q"]))
    from_raw, from_cube = tmp_path / "a.h5", tmp_path / "b.h5"
    ok(run_cli(["detect", raw, "--config", cfg, "--out", from_raw, "-q"]))
    ok(run_cli(["detect", cube, "--out", from_cube, "--frames", "0:3"]))  # with the progress bar
    a, _ = load_point_cloud(from_raw)
    b, attrs = load_point_cloud(from_cube)
    np.testing.assert_array_equal(a.offsets, b.offsets)
    np.testing.assert_array_equal(a["range_bin"], b["range_bin"])
    np.testing.assert_allclose(a["azimuth_rad"], b["azimuth_rad"], atol=1e-4)
    assert attrs["cube_kind"] == "rd" and attrs["processing"]["input"] == "cube"
    # a summed dB RD cube: detections without angles
    db_cube = tmp_path / "rd_db.h5"
    ok(run_cli(["cube", raw, "--config", cfg, "--out", db_cube, "--no-clutter-removal", "-q"]))
    c_out = tmp_path / "c.h5"
    ok(run_cli(["detect", db_cube, "--out", c_out, "-q"]))
    c, _ = load_point_cloud(c_out)
    cells = {(f, d, r) for f, d, r in zip(a.frame_index(), a["doppler_bin"], a["range_bin"], strict=True)}
    assert cells == set(zip(c.frame_index(), c["doppler_bin"], c["range_bin"], strict=True))
    assert np.all(np.isnan(c["x"]))
    # errors: a cube with --config, a range cube, a bad --guard
    bad = run_cli(["detect", cube, "--config", cfg, "--out", tmp_path / "d.h5"])
    assert bad.exit_code == 1 and "drop --config" in bad.output
    range_h5 = tmp_path / "range.h5"
    ok(run_cli(["cube", raw, "--config", cfg, "--out", range_h5, "--kind", "range", "-q"]))
    bad = run_cli(["detect", range_h5, "--out", tmp_path / "e.h5"])
    assert bad.exit_code == 1 and "cannot detect" in bad.output and "Traceback" not in bad.output
    bad = run_cli(["detect", raw, "--config", cfg, "--out", tmp_path / "f.h5", "--guard", "a,b"])
    assert bad.exit_code == 1 and "--guard" in bad.output


def test_plot_cube_with_cfar_and_points(rec, tmp_path):
    raw, cfg = rec
    cube, pts = tmp_path / "rd.h5", tmp_path / "pts.h5"
    ok(run_cli(["cube", raw, "--config", cfg, "--out", cube, "--no-clutter-removal", "-q"]))
    ok(run_cli(["detect", raw, "--config", cfg, "--out", pts, "-q"]))
    for args, name in ((["--cfar", "ca"], "mask.png"), ([], "rd.png")):
        ok(run_cli(["plot", cube, "--frame", "1", "--out", tmp_path / name, *args]))
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ok(run_cli(["plot", pts, "--frame", "-1", "--out", tmp_path / "pc.png", "--color", "snr_db"]))
    assert (tmp_path / "pc.png").stat().st_size > 10_000
    bad = run_cli(["plot", pts, "--frame", "7", "--out", tmp_path / "x.png"])
    assert bad.exit_code == 1 and "out of range" in bad.output


def test_viz_functions_draw_what_they_are_given():
    from radarkit.viz.detections import plot_cfar_mask, plot_map, plot_point_cloud

    rd = np.random.default_rng(0).normal(size=(16, 32))
    mask = np.zeros((16, 32), bool)
    mask[3, 4] = mask[8, 20] = True
    fig = plot_cfar_mask(rd, mask, np.arange(32) * 0.2, np.arange(-8, 8) * 0.1)
    offsets = fig.axes[0].collections[-1].get_offsets()
    np.testing.assert_allclose(np.sort(offsets[:, 0]), [0.8, 4.0])
    with pytest.raises(ValueError, match="one shape"):
        plot_cfar_mask(rd, mask[:-1], np.arange(32), np.arange(16))
    pts = np.zeros(3, [("x", "f4"), ("y", "f4"), ("z", "f4"), ("velocity_mps", "f4")])
    pts["y"] = [1, 2, np.nan]
    fig = plot_point_cloud(pts)
    assert "2 points" in fig.axes[1].get_title()
    assert plot_map(rd, np.linspace(-1, 1, 16), np.arange(32), "azimuth (rad)", "range (m)").axes


# ---------------------------------------------------------------- the real CRUW recording
def _strongest_range_bins(raw: np.ndarray, n: int) -> list[int]:
    """Strongest local maxima of the zero-Doppler range profile (mean over chirps and antennas)."""
    spec = range_cube(raw, "hann")  # (F, L, V, R)
    profile = np.abs(spec.mean(axis=1)) ** 2  # coherent over chirps = zero Doppler
    profile = profile.sum(axis=(0, 1))
    peaks = [k for k in range(2, len(profile) - 2)
             if profile[k] >= profile[k - 1] and profile[k] >= profile[k + 1]]
    return sorted(peaks, key=lambda k: -profile[k])[:n]


def test_cruw_detections_include_its_strongest_returns(cruw_bin, cruw_cfg, tmp_path):
    out = tmp_path / "cruw.h5"
    result = run_cli(["detect", cruw_bin, "--config", cruw_cfg, "--out", out, "-q"])
    ok(result)
    cloud, _ = load_point_cloud(out)
    assert cloud.n_frames == 4 and np.all(cloud.counts() > 0)  # no frame is empty
    with pytest.warns(RecordingWarning, match="partial frame"), \
            Recording(cruw_bin, load_config(cruw_cfg)) as r:
        strongest = _strongest_range_bins(r.read(), 6)
    # README: strongest returns in range bins 11-25 and 38-50 (zero Doppler)
    assert any(11 <= k <= 25 for k in strongest) and any(38 <= k <= 50 for k in strongest)
    for f in range(cloud.n_frames):
        pts = cloud.frame(f)
        for k in strongest:
            assert np.any(np.abs(pts["range_bin"] - k) <= 1), (f, k, sorted(pts["range_bin"]))
        assert np.any((pts["range_bin"] >= 11) & (pts["range_bin"] <= 25))
        assert np.any((pts["range_bin"] >= 38) & (pts["range_bin"] <= 50))
