"""Bad inputs to ``radarkit cube`` and its Python API: one-line errors, and nothing on disk changes.

Every case runs through the command line (``click.testing.CliRunner``) and, where there is one,
through the equivalent Python call. For each, the command must exit with status 1 and print a
single line ``Error: <file>: <what is wrong>`` (no traceback), and the folder holding the inputs
and the output must be exactly as it was before: same names, sizes, mtimes and contents, no
temporary file left behind.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import radarkit.dsp.cubes as cubes_mod
from radarkit.cli.main import cli
from radarkit.config import RadarConfig, load_config, save_config
from radarkit.config.loaders import to_toml
from radarkit.dsp.cubes import CubeParams, make_cube, write_cube
from radarkit.errors import ConfigError, RadarkitError, RecordingError, StoreError
from radarkit.io.recording import Recording
from radarkit.io.store import open_cube
from radarkit.io.writer import write_recording
from radarkit.sim.point_targets import simulate_point_targets
from tests.conftest import assert_same_cube

HSI_SYNC = bytes([0xDC, 0x0A, 0xDA, 0x0C])


# ---------------------------------------------------------------------- helpers
def snapshot(root: Path) -> dict[str, tuple]:
    """Every folder (by name) and file (size, mtime_ns, sha256) below ``root``."""
    state: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            state[os.path.relpath(os.path.join(dirpath, d), root) + "/"] = ("dir",)
        for name in filenames:
            p = Path(dirpath, name)
            st = p.stat()
            state[os.path.relpath(p, root)] = (st.st_size, st.st_mtime_ns,
                                               hashlib.sha256(p.read_bytes()).hexdigest())
    return state


def run_cli(args: list[str]):
    return CliRunner().invoke(cli, [str(a) for a in args])


def assert_one_line_error(result, name: str, phrases: tuple[str, ...]) -> str:
    """Exit status 1, one ``Error:`` line on stderr naming ``name`` and saying each phrase."""
    assert "Traceback" not in result.output
    # An unexpected exception would show up here instead of the SystemExit of a clean error.
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert len(lines) == 1, result.output
    line = lines[0]
    assert line.startswith("Error: "), line
    assert name in line, line
    for phrase in phrases:
        assert phrase in line, line
    assert result.stdout == "", "the error must go to stderr, not stdout"
    assert result.stderr.strip() == line
    return line


def frames_of(config: RadarConfig, n_frames: int) -> np.ndarray:
    return simulate_point_targets(config, [[0.3, 2.0, 0.0], [-0.5, 4.0, 0.1]], n_frames=n_frames,
                                  noise_std=2.0, seed=1)


# ---------------------------------------------------------------------- the table
@dataclass
class Work:
    """The folder of one case: a good 2-frame recording and its configuration, and an output."""

    root: Path
    config: RadarConfig
    raw: Path
    cfg: Path
    out: Path


@dataclass
class Case:
    args: list  # CLI arguments after "cube"
    name: str  # the offending file's name, which the message must contain
    phrases: tuple[str, ...]  # what the message must say
    api: Callable[[], object] | None  # the equivalent Python call, or None
    error: type[RadarkitError] = RadarkitError
    bad_field: str | None = None  # ConfigError.field expected from the API
    extra: dict = field(default_factory=dict)


def _api_recording(raw: Path, cfg: Path) -> Callable[[], object]:
    def call() -> None:
        with Recording(raw, load_config(cfg)):
            pass
    return call


def _api_write(raw: Path, cfg: Path, out: Path) -> Callable[[], object]:
    def call() -> None:
        with Recording(raw, load_config(cfg)) as rec:
            write_cube(rec, out, CubeParams())
    return call


def case_empty(w: Work) -> Case:
    raw = w.root / "empty.bin"
    raw.write_bytes(b"")
    return Case([raw, "--config", w.cfg, "--out", w.out], raw.name, ("empty file", "0 bytes"),
                _api_recording(raw, w.cfg), RecordingError)


def case_truncated(w: Work) -> Case:
    raw = w.root / "truncated.bin"
    raw.write_bytes(w.raw.read_bytes()[: w.config.bytes_per_frame // 3])
    return Case([raw, "--config", w.cfg, "--out", w.out], raw.name,
                ("less than one frame", f"{w.config.bytes_per_frame:,} bytes"),
                _api_recording(raw, w.cfg), RecordingError)


def case_config_frame_too_large(w: Work) -> Case:
    cfg = w.root / "big_frame.cfg"
    save_config(w.config.replace(n_loops=w.config.n_loops * 4), cfg)
    # 4x the loops: one frame is twice the whole 2-frame file
    return Case([w.raw, "--config", cfg, "--out", w.out], w.raw.name,
                ("less than one frame", "wrong configuration"),
                _api_recording(w.raw, cfg), RecordingError)


def case_config_zero_samples_toml(w: Work) -> Case:
    cfg = w.root / "zero_samples.toml"
    text = to_toml(w.config)
    assert f"n_samples = {w.config.n_samples}\n" in text
    cfg.write_text(text.replace(f"n_samples = {w.config.n_samples}\n", "n_samples = 0\n"))
    return Case([w.raw, "--config", cfg, "--out", w.out], cfg.name,
                ("n_samples", "zero or negative ADC samples"),
                lambda: load_config(cfg), ConfigError, bad_field="n_samples")


def case_config_zero_samples_cfg(w: Work) -> Case:
    cfg = w.root / "zero_samples.cfg"
    lines = w.cfg.read_text().splitlines()
    out_lines = []
    for line in lines:
        if line.startswith("profileCfg"):
            words = line.split()
            assert int(words[10]) == w.config.n_samples  # numAdcSamples
            words[10] = "0"
            line = " ".join(words)
        out_lines.append(line)
    cfg.write_text("\n".join(out_lines) + "\n")
    return Case([w.raw, "--config", cfg, "--out", w.out], cfg.name,
                ("n_samples", "zero or negative ADC samples"),
                lambda: load_config(cfg), ConfigError, bad_field="n_samples")


def case_frame_count_mismatch(w: Work) -> Case:
    cfg = w.root / "five_frames.cfg"
    save_config(w.config.replace(n_frames=5), cfg)
    assert load_config(cfg).n_frames == 5  # frameCfg numFrames 5
    return Case([w.raw, "--config", cfg, "--out", w.out], w.raw.name,
                ("configuration says 5 frames", "holds 2 whole frames"),
                _api_recording(w.raw, cfg), RecordingError)


def case_missing_raw(w: Work) -> Case:
    raw = w.root / "no_such_capture.bin"
    return Case([raw, "--config", w.cfg, "--out", w.out], raw.name, ("file not found",),
                _api_recording(raw, w.cfg), RecordingError)


def case_missing_config(w: Work) -> Case:
    cfg = w.root / "no_such_config.cfg"
    return Case([w.raw, "--config", cfg, "--out", w.out], cfg.name,
                ("configuration file not found",), lambda: load_config(cfg), ConfigError)


def case_output_exists(w: Work) -> Case:
    w.out.write_bytes(b"an existing result that must survive\n" * 100)
    return Case([w.raw, "--config", w.cfg, "--out", w.out], w.out.name, ("output exists", "--force"),
                _api_write(w.raw, w.cfg, w.out), StoreError)


def case_output_is_input(w: Work) -> Case:
    """Even with --force, the output may never replace an input file."""
    def call() -> None:
        with Recording(w.raw, load_config(w.cfg)) as rec:
            write_cube(rec, w.raw, CubeParams(), force=True)
    return Case([w.raw, "--config", w.cfg, "--out", w.raw, "--force"], w.raw.name,
                ("output is one of the input files",), call, StoreError)


def case_output_folder_missing(w: Work) -> Case:
    out = w.root / "no_such_folder" / "cube.h5"
    return Case([w.raw, "--config", w.cfg, "--out", out], out.name, ("does not exist",),
                _api_write(w.raw, w.cfg, out), StoreError)


def case_output_folder_unwritable(w: Work) -> Case:
    folder = w.root / "read_only"
    folder.mkdir()
    folder.chmod(0o500)
    probe = folder / "probe"
    try:
        probe.write_bytes(b"")
    except PermissionError:
        pass
    else:
        probe.unlink()
        folder.chmod(0o700)
        pytest.skip("running with privileges that ignore directory permissions (root?): a "
                    "chmod 0o500 folder is still writable, so 'unwritable' cannot be staged")
    out = folder / "cube.h5"
    return Case([w.raw, "--config", w.cfg, "--out", out], out.name, ("not writable",),
                _api_write(w.raw, w.cfg, out), StoreError, extra={"restore": folder})


def case_hsi_header(w: Work) -> Case:
    raw = w.root / "hsi_capture.bin"
    raw.write_bytes(HSI_SYNC + bytes([0xDC, 0x0A, 0xDA, 0x0C]) + w.raw.read_bytes()[8:])
    return Case([raw, "--config", w.cfg, "--out", w.out], raw.name, ("HSI header", "lvdsStreamCfg"),
                _api_recording(raw, w.cfg), RecordingError)


def case_raw_is_directory(w: Work) -> Case:
    raw = w.root / "capture_dir.bin"
    raw.mkdir()
    return Case([raw, "--config", w.cfg, "--out", w.out], raw.name, ("is a directory",),
                _api_recording(raw, w.cfg), RecordingError)


def case_config_is_directory(w: Work) -> Case:
    cfg = w.root / "config_dir"
    cfg.mkdir()
    return Case([w.raw, "--config", cfg, "--out", w.out], cfg.name, ("is a directory",),
                lambda: load_config(cfg), ConfigError)


CASES = {
    "empty_raw": case_empty,
    "truncated_raw": case_truncated,
    "config_frame_larger_than_file": case_config_frame_too_large,
    "config_zero_samples_toml": case_config_zero_samples_toml,
    "config_zero_samples_sdk_cfg": case_config_zero_samples_cfg,
    "config_says_more_frames": case_frame_count_mismatch,
    "missing_raw": case_missing_raw,
    "missing_config": case_missing_config,
    "output_exists": case_output_exists,
    "output_is_input_even_with_force": case_output_is_input,
    "output_folder_missing": case_output_folder_missing,
    "output_folder_unwritable": case_output_folder_unwritable,
    "hsi_header_capture": case_hsi_header,
    "raw_is_directory": case_raw_is_directory,
    "config_is_directory": case_config_is_directory,
}


def _make_work(root: Path, config: RadarConfig, n_frames: int) -> Work:
    """A folder with a simulated recording of ``n_frames`` frames and its SDK .cfg."""
    root.mkdir()
    raw, cfg = root / "adc_data.bin", root / "capture.cfg"
    write_recording(raw, frames_of(config, n_frames), config)
    save_config(config, cfg)
    assert raw.stat().st_size == n_frames * config.bytes_per_frame
    return Work(root, config, raw, cfg, root / "cube.h5")


@pytest.fixture
def work(tmp_path: Path, small_config: RadarConfig) -> Work:
    return _make_work(tmp_path / "work", small_config, 2)


@pytest.mark.parametrize("build", list(CASES.values()), ids=list(CASES))
def test_bad_input_cli_and_api(work: Work, build) -> None:
    case = build(work)
    before = snapshot(work.root)
    try:
        result = run_cli(["cube", *case.args])
        assert_one_line_error(result, case.name, case.phrases)
        assert snapshot(work.root) == before

        if case.api is not None:
            with pytest.raises(case.error) as info:
                case.api()
            message = str(info.value)
            assert "\n" not in message
            assert case.name in message
            for phrase in case.phrases:
                if phrase != "--force":  # the API's wording is "force=True"
                    assert phrase in message
            if case.bad_field is not None:
                assert info.value.field == case.bad_field
            assert snapshot(work.root) == before
    finally:
        if "restore" in case.extra:
            case.extra["restore"].chmod(0o700)


def test_good_inputs_of_the_table_work(work: Work) -> None:
    """The baseline the bad cases are derived from is itself accepted (so they fail for their
    stated reason only)."""
    result = run_cli(["cube", work.raw, "--config", work.cfg, "--out", work.out, "-q"])
    assert result.exit_code == 0, result.output
    with open_cube(work.out) as f:
        assert f.shape[0] == 2


# ---------------------------------------------------------------------- --force
def test_force_replaces_existing_output_with_valid_cube(work: Work) -> None:
    old = b"not a cube\n" * 50
    work.out.write_bytes(old)
    inputs = {p: snapshot(work.root)[p] for p in (work.raw.name, work.cfg.name)}

    result = run_cli(["cube", work.raw, "--config", work.cfg, "--out", work.out, "--force", "-q"])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output

    after = snapshot(work.root)
    assert set(after) == {work.raw.name, work.cfg.name, work.out.name}  # no temporary file left
    assert {p: after[p] for p in inputs} == inputs
    assert work.out.read_bytes() != old
    with open_cube(work.out) as f, Recording(work.raw, load_config(work.cfg)) as rec:
        assert f.dims == ("frame", "doppler", "range")
        expected = make_cube(rec.read(), rec.config, CubeParams())
        assert_same_cube(f.cube[()], expected, "dB")


# ---------------------------------------------------------------------- interrupted writes
@pytest.fixture
def work3(tmp_path: Path, small_config: RadarConfig) -> Work:
    return _make_work(tmp_path / "work3", small_config, 3)


def _failing_make_cube(monkeypatch, exc: BaseException, root: Path) -> dict:
    """Patch the per-chunk cube computation so that its 2nd call raises ``exc``; record the
    temporary files seen."""
    state = {"calls": 0, "temps": []}
    real = cubes_mod.CubeTransform.__call__

    def flaky(*args, **kwargs):
        state["calls"] += 1
        if state["calls"] == 2:
            state["temps"] = sorted(p.name for p in root.iterdir() if p.name.endswith(".tmp"))
            raise exc
        return real(*args, **kwargs)

    monkeypatch.setattr(cubes_mod.CubeTransform, "__call__", flaky)
    return state


@pytest.mark.parametrize("existing", [False, True], ids=["new_output", "force_over_existing"])
def test_ctrl_c_mid_write_leaves_nothing(work3: Work, monkeypatch, existing: bool) -> None:
    args = ["cube", work3.raw, "--config", work3.cfg, "--out", work3.out, "--chunk", "1", "-q"]
    if existing:
        work3.out.write_bytes(b"previous cube, kept if the new one does not complete\n")
        args.append("--force")
    state = _failing_make_cube(monkeypatch, KeyboardInterrupt(), work3.root)
    before = snapshot(work3.root)

    result = run_cli(args)

    assert state["calls"] == 2  # interrupted after one of three frames was written
    assert len(state["temps"]) == 1 and state["temps"][0].startswith(f".{work3.out.name}.")
    assert result.exit_code == 130, result.output
    assert "Traceback" not in result.output
    assert result.output.splitlines() == ["radarkit: interrupted"]
    assert snapshot(work3.root) == before


def test_exception_mid_write_api_leaves_nothing(work3: Work, monkeypatch) -> None:
    state = _failing_make_cube(monkeypatch, RuntimeError("boom in the middle"), work3.root)
    before = snapshot(work3.root)
    with Recording(work3.raw, load_config(work3.cfg)) as rec:
        with pytest.raises(RuntimeError, match="boom in the middle"):
            write_cube(rec, work3.out, CubeParams(), chunk=1)
    assert state["calls"] == 2
    assert len(state["temps"]) == 1  # a temporary file existed while writing ...
    assert snapshot(work3.root) == before  # ... and is gone, with no output in its place
