"""The ``radarkit`` command: version, ``cube`` against the Python API, ``info``, imports (``demo``:
``test_demo.py``)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import radarkit
from radarkit.cli.main import cli
from radarkit.config import RadarConfig, load_config, save_config
from radarkit.config.presets import get_preset
from radarkit.dsp.cubes import CubeParams, make_cube
from radarkit.errors import RecordingWarning
from radarkit.io.recording import Recording
from radarkit.io.store import open_cube
from radarkit.io.writer import write_recording
from radarkit.sim.point_targets import simulate_point_targets
from tests.conftest import assert_same_cube

CRUW_SHA256 = "4b8527860388c194573c699f1a7a3042cb8d8a458ed3de8415c18197e9ccb371"
CRUW_SIZE = 4_190_862
CRUW_PARTIAL = 12_942  # 4,190,862 - 4 x 1,044,480


def run_cli(args: list) -> object:
    return CliRunner().invoke(cli, [str(a) for a in args])


def ok(result) -> None:
    assert "Traceback" not in result.output
    assert result.exit_code == 0, result.output
    assert result.exception is None, repr(result.exception)


def frames_of(config: RadarConfig, n_frames: int) -> np.ndarray:
    return simulate_point_targets(config, [[0.3, 2.0, 0.0], [-0.5, 4.0, 0.1]],
                                  velocities=[[0, 0, 0], [0, 1.5, 0]], n_frames=n_frames,
                                  noise_std=2.0, seed=3)


@pytest.fixture
def small_rec(tmp_path: Path, small_config: RadarConfig) -> tuple[Path, Path]:
    """A clean 4-frame simulated recording of ``small_config`` and its SDK .cfg."""
    raw, cfg = tmp_path / "adc_data.bin", tmp_path / "capture.cfg"
    write_recording(raw, frames_of(small_config, 4), small_config)
    save_config(small_config, cfg)
    return raw, cfg


# ---------------------------------------------------------------------- --version
def test_version_option_prints_package_version() -> None:
    result = run_cli(["--version"])
    ok(result)
    assert result.output == f"radarkit, version {radarkit.__version__}\n"


# ---------------------------------------------------------------------- cube on real data
def test_cube_on_cruw_matches_api(cruw_bin: Path, cruw_cfg: Path, tmp_path: Path) -> None:
    out = tmp_path / "cruw_rd.h5"
    result = run_cli(["cube", cruw_bin, "--config", cruw_cfg, "--iq-order", "auto", "--out", out,
                      "-q"])
    ok(result)

    # one warning line for the skipped partial frame, with its byte count; 4 frames written
    warning_lines = [ln for ln in result.stderr.splitlines() if "warning" in ln]
    assert len(warning_lines) == 1, result.stderr
    assert "partial frame" in warning_lines[0] and f"{CRUW_PARTIAL:,} bytes" in warning_lines[0]
    assert cruw_bin.name in warning_lines[0]
    assert "IQ order auto" in result.stderr
    assert result.stdout == f"wrote {out} (4 frames, kind rd)\n"

    with pytest.warns(RecordingWarning, match="12,942 bytes"), \
            Recording(cruw_bin, load_config(cruw_cfg), iq_order="auto") as rec:
        expected = make_cube(rec.read(), rec.config, CubeParams())
        api_config = rec.config
    assert api_config.n_frames == 4

    with open_cube(out) as f:
        assert f.dims == ("frame", "doppler", "range")
        assert f.shape == expected.shape == (4, 255, 128)
        assert f.cube.dtype == np.float32 and f.cube.attrs["units"] == "dB"
        assert_same_cube(f.cube[()], expected, "dB")
        attrs = f.attrs
        assert attrs["sources"] == [{"name": "adc_data.bin", "size": CRUW_SIZE,
                                     "sha256": CRUW_SHA256}]
        assert attrs["bytes_skipped"] == CRUW_PARTIAL
        assert attrs["n_frames"] == 4 and attrs["frame_start"] == 0
        assert attrs["capture"]["partial_frame_bytes"] == CRUW_PARTIAL
        assert RadarConfig.from_dict(attrs["radar_config"]) == api_config
        assert f.config == api_config
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # no temporary file left


# ---------------------------------------------------------------------- kinds, frames, options
CUBE_VARIANTS = {
    "range": (["--kind", "range"], CubeParams(kind="range"),
              ("frame", "chirp_loop", "virtual_antenna", "range"), np.complex64, "complex"),
    "rd_per_antenna": (["--per-antenna"], CubeParams(per_antenna=True),
                       ("frame", "doppler", "virtual_antenna", "range"), np.float32, "dB"),
    "rd_power": (["--output", "power"], CubeParams(output="power"),
                 ("frame", "doppler", "range"), np.float32, "power"),
    "rd_default": ([], CubeParams(), ("frame", "doppler", "range"), np.float32, "dB"),
}


@pytest.mark.parametrize("variant", list(CUBE_VARIANTS.values()), ids=list(CUBE_VARIANTS))
def test_cube_variants_on_frame_range(small_rec, small_config: RadarConfig, tmp_path: Path,
                                      variant) -> None:
    raw, cfg = small_rec
    extra, params, dims, dtype, units = variant
    out = tmp_path / "cube.h5"
    result = run_cli(["cube", raw, "--config", cfg, "--frames", "1:3", "--out", out, "-q", *extra])
    ok(result)
    assert result.stdout == f"wrote {out} (2 frames, kind {params.kind})\n"

    c = small_config
    sizes = {"frame": 2, "chirp_loop": c.n_loops, "doppler": c.n_loops,
             "virtual_antenna": c.n_virtual, "range": c.n_samples}
    with Recording(raw, load_config(cfg)) as rec:
        expected = make_cube(rec.read(1, 3), rec.config, params)
    with open_cube(out) as f:
        assert f.dims == dims
        assert f.shape == tuple(sizes[d] for d in dims) == expected.shape
        assert f.cube.dtype == dtype and f.cube.attrs["units"] == units
        assert f.kind == params.kind
        assert f.attrs["processing"] == params.to_dict()
        assert f.attrs["n_frames"] == 2 and f.attrs["frame_start"] == 1
        np.testing.assert_allclose(f.axis("frame").values, [c.frame_period_s, 2 * c.frame_period_s])
        assert len(f.axis("range").values) == c.n_samples
        assert_same_cube(f.cube[()], expected, units)


def test_cube_frame_range_selects_those_frames(small_rec, tmp_path: Path) -> None:
    """Frames 1:3 of the file are frames 1 and 2 of the full cube (not 0 and 1)."""
    raw, cfg = small_rec
    full, part = tmp_path / "full.h5", tmp_path / "part.h5"
    ok(run_cli(["cube", raw, "--config", cfg, "--kind", "range", "--out", full, "-q"]))
    ok(run_cli(["cube", raw, "--config", cfg, "--kind", "range", "--frames", "1:3", "--out", part,
                "-q"]))
    with open_cube(full) as f, open_cube(part) as p:
        assert f.shape[0] == 4 and p.shape[0] == 2
        np.testing.assert_array_equal(p.cube[()], f.cube[1:3])
        assert not np.array_equal(p.cube[()], f.cube[0:2])


# ---------------------------------------------------------------------- info
def test_info_on_cruw(cruw_bin: Path, cruw_cfg: Path) -> None:
    result = run_cli(["info", cruw_bin, "--config", cruw_cfg])
    ok(result)
    out = result.stdout
    assert re.search(r"^whole frames\s+4$", out, re.MULTILINE), out
    assert re.search(rf"^partial frame\s+{CRUW_PARTIAL:,} bytes \(skipped\)$", out, re.MULTILINE)
    assert re.search(rf"^payload bytes\s+{CRUW_SIZE:,}$", out, re.MULTILINE)
    m = re.search(r"^range resolution\s+([0-9.]+) m$", out, re.MULTILINE)
    assert m and float(m.group(1)) == pytest.approx(0.223, abs=5e-4)
    assert re.search(r"^virtual antennas\s+8$", out, re.MULTILINE)
    assert re.search(r"^bytes per frame\s+1,044,480$", out, re.MULTILINE)


# ---------------------------------------------------------------------- --preset
def test_cube_with_demo_preset(tmp_path: Path) -> None:
    preset = get_preset("demo")
    raw, out = tmp_path / "adc_data.bin", tmp_path / "rd.h5"
    write_recording(raw, frames_of(preset, 2), preset)
    result = run_cli(["cube", raw, "--preset", "demo", "--out", out, "-q"])
    ok(result)
    assert result.stdout == f"wrote {out} (2 frames, kind rd)\n"
    with Recording(raw, preset) as rec:
        expected = make_cube(rec.read(), rec.config, CubeParams())
    with open_cube(out) as f:
        assert f.shape == (2, preset.n_loops, preset.n_samples)
        assert f.config == preset.replace(n_frames=2)
        assert_same_cube(f.cube[()], expected, "dB")


# ---------------------------------------------------------------------- imports
def test_cube_command_imports_neither_torch_nor_matplotlib(small_rec, tmp_path: Path) -> None:
    raw, cfg = small_rec
    out = tmp_path / "sub.h5"
    code = textwrap.dedent("""
        import sys
        from radarkit.cli.main import main
        raw, cfg, out = sys.argv[1:4]
        try:
            main(["cube", raw, "--config", cfg, "--out", out, "-q"])
        except SystemExit as exc:
            assert exc.code in (0, None), exc.code
        heavy = [m for m in ("torch", "matplotlib") if m in sys.modules]
        assert not heavy, heavy
        print("no heavy imports")
    """)
    proc = subprocess.run([sys.executable, "-c", code, str(raw), str(cfg), str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "no heavy imports" in proc.stdout
    assert f"wrote {out} (4 frames, kind rd)" in proc.stdout
    with open_cube(out) as f:
        assert f.shape[0] == 4


# ---------------------------------------------------------------------- console script
def test_installed_console_script() -> None:
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    exe = shutil.which("radarkit", path=search)
    if exe is None:
        pytest.skip("the 'radarkit' console script is not installed beside the interpreter or on "
                    "PATH")
    proc = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"radarkit, version {radarkit.__version__}"
