"""HuPR dataset export: ``radarkit cube DATASET --kind vrdae --mode hupr --storage float16``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from radarkit.cli.main import cli
from radarkit.config import load_config
from radarkit.dsp.hupr import hupr_vrdae
from radarkit.dsp.sequences import find_sequences, radar_files
from radarkit.errors import RecordingError
from radarkit.io.recording import Recording
from radarkit.io.store import open_cube


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("seq") / "data"
    result = CliRunner().invoke(cli, ["simulate", "--scene", "walk_wave", "--subjects", "2",
                                      "--seconds", "0.3", "--radars", "hori,vert", "--seed", "1",
                                      "--out", str(root), "-q"])
    assert result.exit_code == 0, result.output
    return root


def test_dataset_export_writes_every_radar_of_every_sequence(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "cubes"
    result = CliRunner().invoke(cli, ["cube", str(dataset), "--kind", "vrdae", "--mode", "hupr",
                                      "--storage", "float16", "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    sequences, is_dataset = find_sequences(dataset)
    assert is_dataset and len(sequences) >= 2
    for seq in sequences:
        for radar in ("hori", "vert"):
            parts, cfg_path = radar_files(seq / radar)
            with Recording(parts, load_config(cfg_path)) as rec:
                expected = hupr_vrdae(rec.read(), rec.config, doppler_bins=8, backend="numpy")
            with open_cube(out / seq.name / f"{radar}.h5") as f:
                assert f.dims == ("frame", "doppler", "elevation", "azimuth", "range", "component")
                assert f.cube.dtype == np.float16 and f.is_float16
                assert f.shape == (*expected.shape, 2)
                got = f.read()
                assert f.attrs["storage"] == "float16"
            # float16 keeps about 3 decimal digits of each frame's peak
            peak = np.abs(expected).reshape(len(expected), -1).max(axis=1)
            err = np.abs(got - expected).reshape(len(expected), -1).max(axis=1)
            assert np.all(err <= 2e-3 * peak)
            assert got.nbytes // 2 == f.shape[0] * 8 * 8 * 64 * 64 * 4  # float16 pairs: half of complex64


def test_single_sequence_folder_and_bad_layouts(dataset: Path, tmp_path: Path) -> None:
    seq = find_sequences(dataset)[0][0]
    out = tmp_path / "one"
    result = CliRunner().invoke(cli, ["cube", str(seq), "--kind", "rd", "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["hori.h5", "vert.h5"]
    # the same again without --force: refused, one line
    again = CliRunner().invoke(cli, ["cube", str(seq), "--kind", "rd", "--out", str(out), "-q"])
    assert again.exit_code == 1 and "exists" in again.output and "Traceback" not in again.output
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(RecordingError, match="no sequence folder"):
        find_sequences(empty)
    bad = CliRunner().invoke(cli, ["cube", str(empty), "--out", str(tmp_path / "x")])
    assert bad.exit_code == 1 and "no sequence folder" in bad.output
