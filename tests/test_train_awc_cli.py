"""``radarkit train awc`` and the AWC comparison pipeline on a tiny simulated dataset."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from radarkit.cli.main import cli
from radarkit.config.presets import get_preset
from radarkit.sim.dataset import write_dataset

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    out = tmp_path_factory.mktemp("awcsim")
    write_dataset(out, get_preset("hupr"), scene="wave", n_subjects=2, seconds=1.5, radars=("hori",), seed=1)
    return out


def _train(sim, out, *extra):
    args = ["train", "awc", "--data", str(sim), "--out", str(out), "--batch-size", "8", "--feature-dim", "16",
            "--fisher-batches", "1", "--threads", "1", "-q", *extra]
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_train_awc_writes_metrics_curves_and_checkpoint(sim, tmp_path):
    out = tmp_path / "run"
    res = _train(sim, out, "--modalities", "mmwave,rgb,lidar", "--epochs", "3", "--window-epochs", "2",
                 "--lr", "3e-3")
    assert res.exit_code == 0, res.output
    rows = _rows(out / "metrics.csv")
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    for m in ("mmwave", "rgb", "lidar"):
        assert all(np.isfinite(float(r[f"shapley_{m}"])) for r in rows)
    # the constraint acts inside the window only, and the training loss falls
    assert float(rows[0]["awc_loss"]) > 0 and float(rows[2]["awc_loss"]) == 0
    assert rows[0]["superior"] != "" and rows[2]["superior"] == ""
    assert float(rows[2]["train_mpjpe_m"]) < float(rows[0]["train_mpjpe_m"])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["awc"] is True and summary["val_subjects"] == [2] and summary["train_subjects"] == [1]
    val = summary["val"]
    assert 0 < val["pa_mpjpe_mm"] <= val["mpjpe_mm"] and np.isclose(sum(val["shapley_share"]), 1.0)
    assert float(rows[-1]["val_mpjpe_mm"]) == pytest.approx(val["mpjpe_mm"])
    assert (out / "shapley.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "model.ckpt").stat().st_size > 0
    # an earlier run is not replaced without --force
    res = CliRunner().invoke(cli, ["train", "awc", "--data", str(sim), "--out", str(out), "--epochs", "1"])
    assert res.exit_code == 1 and "exists" in res.output


def test_no_awc_baseline_and_modality_subset(sim, tmp_path):
    out = tmp_path / "base"
    res = _train(sim, out, "--modalities", "rgb,lidar", "--epochs", "2", "--no-awc")
    assert res.exit_code == 0, res.output
    rows = _rows(out / "metrics.csv")
    assert all(float(r["awc_loss"]) == 0 and r["superior"] == "" for r in rows)
    assert "shapley_mmwave" not in rows[0] and "shapley_rgb" in rows[0]
    assert json.loads((out / "summary.json").read_text())["awc"] is False


@pytest.mark.parametrize("extra, message", [
    (["--modalities", "mmwave,csi"], "modalities"),
    (["--val-subjects", "7"], "val-subjects"),
    (["--epochs", "2", "--window-epochs", "3"], "window-epochs"),
])
def test_bad_options_are_usage_errors(sim, tmp_path, extra, message):
    res = CliRunner().invoke(cli, ["train", "awc", "--data", str(sim), "--out", str(tmp_path / "r"), *extra])
    assert res.exit_code != 0 and message in res.output


def test_comparison_pipeline_trains_baseline_and_awc(sim, tmp_path):
    from radarkit.pipelines.awc_sim import AWCSimSettings, run

    settings = AWCSimSettings(modalities=("mmwave", "rgb"), epochs=2, window_epochs=1, batch_size=8,
                              feature_dim=16, fisher_max_batches=1, dropout=0.0)
    summary = run(sim, tmp_path / "cmp", settings, echo=lambda _: None)
    base, awc = summary["runs"]["baseline"], summary["runs"]["AWC"]
    for r in (base, awc):
        assert 0 <= r["mmwave_share"] <= 1 and r["pa_mpjpe_mm"] <= r["mpjpe_mm"]
    # only the AWC run carries the constraint, inside its one-epoch window
    assert base["history"]["awc_loss"] == [0.0, 0.0] and awc["history"]["awc_loss"][0] > 0
    assert summary["delta_mpjpe_mm"] == pytest.approx(awc["mpjpe_mm"] - base["mpjpe_mm"])
    assert json.loads((tmp_path / "cmp" / "summary.json").read_text())["n_val"] == summary["n_val"]
    assert (tmp_path / "cmp" / "shapley.png").exists()
    assert len(_rows(tmp_path / "cmp" / "awc" / "metrics.csv")) == 2
