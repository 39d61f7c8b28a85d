"""milliMamba data (RAD windows), training/evaluation functions and the train/eval commands."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from radarkit.cli.main import cli
from radarkit.config.presets import get_preset
from radarkit.data.hupr import load_hrnet_blocks
from radarkit.data.millimamba import millimamba_cube_dataset, millimamba_window_frames
from radarkit.io.store import open_cube
from radarkit.metrics.joints import mpjve, sequence_mpjve
from radarkit.models.millimamba import PRESETS
from radarkit.sim.dataset import write_dataset
from radarkit.train.checkpoint import read_header
from radarkit.train.millimamba import (
    MilliMambaTrainConfig,
    load_millimamba,
    pose_errors,
    predict_millimamba,
    train_millimamba,
    with_overrides,
)

torch.set_num_threads(1)

#: A tiny architecture: 8 input frames, 2 output frames, width 16, one layer each.
TINY = with_overrides("small", n_frames=8, n_out_frames=2, d_model=16, n_heads=2, encoder_layers=1,
                      decoder_layers=1)


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("millimamba") / "data"
    write_dataset(root, get_preset("hupr"), scene="hupr", n_subjects=2, seconds=1.0, seed=1)
    return root


@pytest.fixture(scope="module")
def train_set(data: Path):
    return millimamba_cube_dataset(data, "train", n_frames=16, n_out_frames=4, step=1)


def test_window_frames_repeat_edges():
    inputs, outputs = millimamba_window_frames(0, 10, 16, 4)
    assert inputs.tolist() == [0] * 7 + list(range(1, 10))   # frames -6..9 clamped
    assert outputs.tolist() == [0, 1, 2, 3]
    inputs, outputs = millimamba_window_frames(8, 10, 16, 4)
    assert inputs.tolist() == list(range(2, 10)) + [9] * 8
    assert outputs.tolist() == [8, 9, 9, 9]
    with pytest.raises(IndexError):
        millimamba_window_frames(10, 10)


def test_sample_shapes_values_and_keypoints(data: Path, train_set):
    assert len(train_set) == 10  # one 10-frame training sequence, every frame starts a window
    s = train_set[0]
    assert s["hori"].shape == s["vert"].shape == (16, 8, 64, 64)
    assert s["hori"].dtype == torch.complex64
    assert s["keypoints"].shape == (4, 14, 2) and s["keypoints"].dtype == torch.float32
    assert s["visible"].shape == (4, 14)
    seq = train_set.sequences[0]
    # input frames -6..9: the first seven are frame 0 repeated; they equal the cube's frame 0,
    # cropped to the 8 central of 64 Doppler bins (zero velocity at bin 32 -> bins 28..35)
    with open_cube(seq.sources["vert"]) as cube:
        assert cube.dims[:4] == ("frame", "doppler", "azimuth", "range") and cube.shape[1] == 64
        frame0 = cube.read(0, 1)[0, 28:36]
        frame5 = cube.read(5, 6)[0, 28:36]
    for i in range(7):
        np.testing.assert_array_equal(s["vert"][i].numpy(), s["vert"][0].numpy())
    np.testing.assert_allclose(s["vert"][0].numpy(), frame0, rtol=1e-6, atol=1e-6 * np.abs(frame0).max())
    np.testing.assert_allclose(s["vert"][11].numpy(), frame5, rtol=1e-6, atol=1e-6 * np.abs(frame5).max())
    assert np.abs(frame0).max() > 0
    # keypoints of the output frames are the annotation's
    kp, _ = load_hrnet_blocks(data / seq.name / "annot" / "hrnet_annot.json")
    for i in (0, 3, 8, 9):
        s = train_set[i]
        frames = s["frames"].numpy()
        np.testing.assert_array_equal(s["keypoints"].numpy(), kp[frames])
        np.testing.assert_array_equal(s["image_ids"].numpy(), seq.image_ids[frames])
    s = train_set[8]  # outputs 8, 9, 9, 9: the repeats are masked
    assert s["frames"].tolist() == [8, 9, 9, 9]
    assert s["visible"][:, 0].tolist() == [1.0, 1.0, 0.0, 0.0]


def test_mpjve_equals_hand_computation():
    g = np.zeros((3, 1, 2))
    g[:, 0, 0] = [0.0, 1.0, 2.0]          # truth moves 1 px/frame along x
    p = g.copy()
    p[:, 0, 1] = [0.0, 3.0, 3.0]          # prediction also jumps 3 px in y once
    # velocities: truth (1, 0), (1, 0); prediction (1, 3), (1, 0) -> errors 3 and 0
    assert mpjve(p, g) == pytest.approx(1.5)
    assert mpjve(p + 7.0, g) == pytest.approx(1.5)  # offsets do not count
    assert mpjve(g + 7.0, g) == pytest.approx(0.0)
    vis = np.array([[True], [True], [False]])
    assert mpjve(p, g, vis) == pytest.approx(3.0)   # only the pair (0, 1) is visible in both
    # two sequences side by side: no pair across the boundary
    both_p, both_g = np.concatenate([p, p + 50.0]), np.concatenate([g, g])
    assert sequence_mpjve(both_p, both_g, np.array([0, 3, 6])) == pytest.approx(1.5)
    with pytest.raises(ValueError):
        mpjve(p, g, axis=-2)


def test_perfect_predictions_have_zero_error_in_pixels_and_metres(data: Path):
    ds = millimamba_cube_dataset(data, "train+test", n_frames=16, n_out_frames=4, step=4)
    assert ds.has_3d
    gt = ds.ground_truth()["keypoints"][..., :2]
    err = pose_errors(ds, gt)
    assert err["MPJPE_px"] == 0.0 and err["MPJVE_px"] == 0.0
    assert err["MPJPE_m"] < 2e-4 and err["MPJVE_m"] < 2e-4  # keypoints are stored to 0.01 px
    shifted = pose_errors(ds, gt + np.array([3.0, 4.0]))
    assert shifted["MPJPE_px"] == pytest.approx(5.0) and shifted["MPJVE_px"] == pytest.approx(0.0)
    assert 0.03 < shifted["MPJPE_m"] < 0.2  # 5 px at 2-4 m depth with a 183 px focal length


def test_loss_falls_and_checkpoint_round_trip(data: Path, tmp_path: Path):
    ds = millimamba_cube_dataset(data, "train", n_frames=8, n_out_frames=2, step=3, cache_frames=10)
    tcfg = MilliMambaTrainConfig(lr=3e-3, batch_size=len(ds))  # one batch per epoch
    model, rows = train_millimamba(ds, tmp_path / "run", TINY, tcfg, epochs=12, device="cpu",
                                   progress=False)
    losses = [r["train_loss"] for r in rows]
    assert len(losses) == 12 and losses[-1] < 0.6 * losses[0]
    assert rows[-1]["train_loss_velocity"] > 0.0
    loaded, ckpt = load_millimamba(tmp_path / "run" / "last.ckpt")
    assert ckpt.epoch == 12 and loaded.config == model.config
    s = ds[0]
    model.eval()
    with torch.no_grad():
        a = model(s["hori"][None], s["vert"][None])
        b = loaded(s["hori"][None], s["vert"][None])
    assert torch.equal(a, b)
    # every frame predicted once by step = n_out windows, in ground-truth order
    preds = predict_millimamba(loaded, millimamba_cube_dataset(data, "train", n_frames=8, n_out_frames=2,
                                                               step=2), "cpu")
    assert preds["keypoints"].shape == (10, 14, 2)
    np.testing.assert_array_equal(preds["image_ids"], ds.sequences[0].image_ids)


def test_train_resume_and_eval_commands(data: Path, tmp_path: Path):
    run = tmp_path / "run"
    common = ["--data", data, "--frames", "8", "--out-frames", "2", "--width", "16", "--batch-size", "4",
              "--step", "4", "--threads", "1", "--velocity-weight", "0.5", "--out", run, "-q"]
    res = invoke("train", "millimamba", "--epochs", "1", *common)
    assert res.exit_code == 0, res.output
    split = json.loads((data / "splits.json").read_text())["sequences"]
    assert (data / "cubes_rad" / split["train"][0] / "vert.h5").exists()  # built on first use
    rows = json.loads((run / "metrics.json").read_text())
    assert [r["epoch"] for r in rows] == [1] and rows[0]["steps"] == 1  # 3 windows, batch 4
    head = read_header(run / "last.ckpt")
    assert head["model"] == "millimamba"
    assert head["config"]["model"]["n_frames"] == 8 and head["config"]["model"]["d_model"] == 16
    assert head["config"]["model"]["velocity_weight"] == 0.5
    res = invoke("train", "millimamba", "--epochs", "2", "--resume", *common)
    assert res.exit_code == 0, res.output
    assert [r["epoch"] for r in json.loads((run / "metrics.json").read_text())] == [1, 2]

    preds, metrics = tmp_path / "preds.json", tmp_path / "metrics.json"
    res = invoke("eval", "millimamba", "--checkpoint", run / "last.ckpt", "--data", data, "--split", "test",
                 "--out", preds, "--metrics", metrics, "-q")
    assert res.exit_code == 0, res.output
    assert "AP" in res.output and "MPJVE" in res.output and "R_Wrist" in res.output
    results = json.loads(preds.read_text())
    test_seq = json.loads((data / "splits.json").read_text())["hupr"]["test"][0]
    assert sorted(r["image_id"] for r in results) == [test_seq * 100_000 + f for f in range(10)]
    doc = json.loads(metrics.read_text())["metrics"]
    assert 0.0 <= doc["AP"] <= 1.0 and doc["MPJPE_px"] > 0 and doc["MPJPE_m"] > 0
    assert len([k for k in doc if k.startswith("AP_")]) == 14
    res = invoke("eval", "millimamba", "--checkpoint", run / "last.ckpt", "--data", data, "--out", preds,
                 "-q")
    assert res.exit_code != 0 and "exists" in res.output  # no overwrite without --force


def test_eval_rejects_corrupt_and_foreign_checkpoints(data: Path, tmp_path: Path):
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"RADARKIT-CKPT\n{\"format\": 1, \"payload_bytes\": 10, \"sha256\": \"00\"}\nxx")
    res = invoke("eval", "millimamba", "--checkpoint", bad, "--data", data, "--out", tmp_path / "p.json")
    assert res.exit_code == 1
    assert "bad.ckpt" in res.output and len(res.output.strip().splitlines()) == 1
    from radarkit.models.hupr import HuPR, get_config
    from radarkit.train.checkpoint import save_checkpoint

    other = tmp_path / "hupr.ckpt"
    save_checkpoint(other, HuPR(get_config("small", n_filters=2)), name="hupr", epoch=1)
    res = invoke("eval", "millimamba", "--checkpoint", other, "--data", data, "--out", tmp_path / "p.json")
    assert res.exit_code == 1 and "'hupr'" in res.output


def test_presets_fit_the_cube_grid():
    for cfg in PRESETS.values():  # the RAD cubes are 64 azimuth x 64 range bins
        assert (cfg.n_angle, cfg.n_range) == (64, 64)
