"""Dataset writer, annotations (radarkit + HuPR layouts), splits, determinism and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from radarkit.cli.main import cli
from radarkit.config import RadarConfig, load_config
from radarkit.io import Recording
from radarkit.sim.dataset import load_annotations, lopo_folds, subject_splits, write_dataset

TINY = RadarConfig(n_samples=64, n_loops=8, tx_order=(0, 2, 1), sample_rate_hz=5e6,
                   slope_hz_per_s=40e12, start_freq_hz=77e9, idle_time_s=10e-6,
                   adc_start_time_s=5e-6, ramp_end_time_s=20e-6, frame_period_s=0.1)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim") / "ds"
    meta = write_dataset(out, TINY, "hupr", n_subjects=3, seconds=0.5, seed=5, bystander=True)
    return out, meta


def test_layout_and_recordings(dataset):
    out, meta = dataset
    assert [s["name"] for s in meta["sequences"]] == ["single_1", "single_2", "single_3"]
    for seq in meta["sequences"]:
        for radar in ("hori", "vert"):
            folder = out / seq["name"] / radar
            cfg = load_config(folder / "radar.cfg")
            assert cfg.n_frames == 5 and cfg.raw_shape == TINY.raw_shape
            with Recording(folder / "adc_data.bin", cfg) as rec:
                raw = rec.read(0, 5)
            assert raw.shape == (5, *TINY.raw_shape) and np.abs(raw).max() > 10
    hori = Recording(out / "single_1" / "hori" / "adc_data.bin", TINY.replace(n_frames=5)).read(0, 1)
    vert = Recording(out / "single_1" / "vert" / "adc_data.bin", TINY.replace(n_frames=5)).read(0, 1)
    assert not np.array_equal(hori, vert)  # two radars, two views


def test_annotations(dataset):
    out, meta = dataset
    gt = load_annotations(out / "single_2")
    assert gt["joints3d"]["hupr14"].shape == (5, 14, 3)
    assert gt["joints3d"]["coco13"].shape == (5, 13, 3)
    assert gt["keypoints2d"]["hupr14"].shape == (5, 14, 2)
    assert gt["keypoints2d"]["coco13"].shape == (5, 13, 2)
    assert gt["bbox_xyxy"].shape == (5, 4)
    assert np.all(gt["subject_id"] == 2) and len(gt["action"]) == 5
    assert set(gt["action"]) <= {"static", "wave_right", "wave_left", "wave_both", "walk_wave"}
    kp, box = gt["keypoints2d"]["hupr14"], gt["bbox_xyxy"]
    assert np.all(kp[..., 0] >= box[:, None, 0]) and np.all(kp[..., 0] <= box[:, None, 2])
    assert np.all(kp[..., 1] >= box[:, None, 1]) and np.all(kp[..., 1] <= box[:, None, 3])
    assert np.all((kp >= 0) & (kp < 256))  # the person is in view
    j = gt["joints3d"]["hupr14"]
    assert np.all(j[..., 1] > 1.0)  # in front of the radar
    head = gt["skeletons"]["hupr14"].index("Head")
    assert np.all(kp[:, head, 1] < kp[:, 2, 1])  # head above the right ankle in the image
    assert "bystander_joints3d" in gt
    # HuPR's layout holds the same keypoints
    blocks = json.loads((out / "single_2" / "annot" / "hrnet_annot.json").read_text())
    assert [b["image"] for b in blocks] == [f"{i:09d}.jpg" for i in range(5)]
    np.testing.assert_allclose(np.array([b["joints"] for b in blocks]), kp, atol=0.01)
    np.testing.assert_allclose(np.array([b["bbox"] for b in blocks]), box, atol=0.01)


def test_splits_are_leave_subjects_out(dataset):
    out, meta = dataset
    splits = json.loads((out / "splits.json").read_text())
    subj = splits["subjects"]
    assert sorted(subj["train"] + subj["val"] + subj["test"]) == [1, 2, 3]
    assert len(subj["test"]) == 1 and len(subj["val"]) == 1
    seq_subject = {s["name"]: s["subject_id"] for s in meta["sequences"]}
    for phase in ("train", "val", "test"):
        names = splits["sequences"][phase]
        assert {seq_subject[n] for n in names} == set(subj[phase])
        hupr = json.loads((out / f"hrnet_annot_{phase}.json").read_text())
        assert len(hupr) == len(names) and splits["hupr"][phase] == [int(n[7:]) for n in names]
    folds = splits["lopo_folds"]
    assert [f["test_subject"] for f in folds] == [1, 2, 3]
    for f in folds:
        assert not set(f["train"]) & set(f["test"])
        assert sorted(f["train"] + f["test"]) == sorted(seq_subject)


def test_split_helpers():
    s = subject_splits(list(range(1, 11)), seed=0)
    assert len(s["test"]) == 2 and len(s["val"]) == 2 and len(s["train"]) == 6
    assert not (set(s["train"]) & set(s["test"])) and not (set(s["val"]) & set(s["test"]))
    assert subject_splits([4], seed=0) == {"train": [4], "val": [], "test": []}
    with pytest.raises(ValueError):
        subject_splits([1, 2], n_val=1, n_test=1)
    assert lopo_folds([3, 1]) == [{"test_subject": 1, "train_subjects": [3]},
                                  {"test_subject": 3, "train_subjects": [1]}]


def _all_bytes(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes(tmp_path):
    kw = dict(scene="walk_wave", n_subjects=1, seconds=0.3, radars=("vert",))
    write_dataset(tmp_path / "a", TINY, seed=3, **kw)
    write_dataset(tmp_path / "b", TINY, seed=3, **kw)
    write_dataset(tmp_path / "c", TINY, seed=4, **kw)
    a, b, c = (_all_bytes(tmp_path / n) for n in "abc")
    assert a == b
    assert a["single_1/vert/adc_data.bin"] != c["single_1/vert/adc_data.bin"]
    # adding the other radar leaves this radar's bytes unchanged (keyed random streams)
    write_dataset(tmp_path / "d", TINY, seed=3, **{**kw, "radars": ("hori", "vert")})
    assert _all_bytes(tmp_path / "d")["single_1/vert/adc_data.bin"] == a["single_1/vert/adc_data.bin"]


def test_refuses_to_overwrite(tmp_path, dataset):
    out, _ = dataset
    from radarkit.errors import StoreError

    with pytest.raises(StoreError, match="exists"):
        write_dataset(out, TINY, "hupr", n_subjects=3, seconds=0.5, seed=5)


def test_cli_simulate(tmp_path):
    cfg_path = tmp_path / "tiny.json"
    cfg_path.write_text(json.dumps(TINY.to_dict()))
    runner = CliRunner()
    args = ["simulate", "--scene", "wave", "--subjects", "2", "--seconds", "0.2", "--radars",
            "hori", "--seed", "1", "--config", str(cfg_path), "--out", str(tmp_path / "out")]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "2 sequences x 1 radars x 2 frames" in result.output
    assert (tmp_path / "out" / "single_2" / "hori" / "adc_data.bin").stat().st_size == \
        2 * TINY.bytes_per_frame
    assert not (tmp_path / "out" / "single_1" / "vert").exists()
    again = runner.invoke(cli, args)
    assert again.exit_code == 1 and "exists" in again.output
    bad = runner.invoke(cli, [*args[:8], "hori,side", *args[9:], "--force"])
    assert bad.exit_code == 1 and "--radars" in bad.output
    bad = runner.invoke(cli, ["simulate", "--scene", "dance", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 1 and "unknown scene" in bad.output


def test_cycled_scripts_make_every_subject_perform_every_action(tmp_path):
    meta = write_dataset(tmp_path / "ds", TINY, "exercise", n_subjects=2, seconds=0.8, radars=("hori",),
                         seed=1, segment_s=0.2, action_order="cycle")
    assert meta["segment_s"] == 0.2 and meta["action_order"] == "cycle"
    for seq in meta["sequences"]:
        assert sorted(seq["actions"]) == sorted(["squat", "arm_raise", "lateral_raise", "kick"])
    cfg_path = tmp_path / "tiny.json"
    cfg_path.write_text(json.dumps(TINY.to_dict()))
    r = CliRunner().invoke(cli, ["simulate", "--scene", "exercise", "--subjects", "1", "--seconds", "0.8",
                                 "--segment-s", "0.2", "--action-order", "cycle", "--radars", "hori",
                                 "--config", str(cfg_path), "--out", str(tmp_path / "cli"), "-q"])
    assert r.exit_code == 0, r.output
    cli_meta = json.loads((tmp_path / "cli" / "dataset.json").read_text())
    assert cli_meta["action_order"] == "cycle" and len(cli_meta["sequences"][0]["actions"]) == 4
    with pytest.raises(ValueError, match="action_order"):
        write_dataset(tmp_path / "x", TINY, "exercise", n_subjects=1, seconds=0.2, action_order="once")
    with pytest.raises(ValueError, match="segment_s"):
        write_dataset(tmp_path / "y", TINY, "exercise", n_subjects=1, seconds=0.2, segment_s=0)
