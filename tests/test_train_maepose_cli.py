"""``radarkit train maepose`` / ``radarkit eval maepose`` end to end on a tiny simulated dataset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from radarkit.cli.main import cli
from radarkit.config import RadarConfig

TINY = RadarConfig(n_samples=64, n_loops=8, tx_order=(0, 2, 1), sample_rate_hz=5e6,
                   slope_hz_per_s=40e12, start_freq_hz=77e9, idle_time_s=10e-6,
                   adc_start_time_s=5e-6, ramp_end_time_s=20e-6, frame_period_s=0.1)
COMMON = ["--frames", "8", "--target-frames", "2", "--stride", "4", "--size", "8x16",
          "--heatmap-size", "8x16", "--batch-size", "4"]


def run(*args) -> object:
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    from radarkit.sim.dataset import write_dataset

    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("maepose") / "sim"
    write_dataset(out, TINY, "exercise", n_subjects=3, seconds=2.4, radars=("hori",), seed=1)
    return out


def test_pretrain_finetune_eval(data: Path, tmp_path: Path) -> None:
    pre, fine = tmp_path / "pre", tmp_path / "fine"
    r = run("train", "maepose", "--stage", "pretrain", "--data", data, *COMMON, "--epochs", "3",
            "--subjects", "1,2", "--val-subjects", "3", "--out", pre)
    assert r.exit_code == 0, r.output
    assert (pre / "best.ckpt").is_file() and (pre / "last.ckpt").is_file()
    png = (pre / "reconstruction.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    rows = json.loads((pre / "metrics.json").read_text())
    assert [row["epoch"] for row in rows] == [1, 2, 3]

    r = run("train", "maepose", "--stage", "finetune", "--data", data, *COMMON, "--epochs", "2",
            "--subjects", "1,2", "--val-subjects", "3", "--init", pre / "best.ckpt", "--out", fine)
    assert r.exit_code == 0, r.output
    r = run("eval", "maepose", "--checkpoint", fine / "best.ckpt", "--data", data, "--subjects", "3",
            "--json", tmp_path / "m.json")
    assert r.exit_code == 0, r.output
    assert "MPJPE" in r.output and "R_Ankle" in r.output
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert len(metrics["per_joint_mpjpe_m"]) == 13
    assert 0.0 < metrics["mpjpe_m"] < 2 * 2.2 ** 0.5  # metres, bounded by the extent's diagonal
    assert 0.0 <= metrics["pck"] <= 1.0

    r = run("eval", "maepose", "--checkpoint", pre / "best.ckpt", "--data", data, "--subjects", "3",
            "--figure", tmp_path / "rec.png")
    assert r.exit_code == 0, r.output
    assert "masked-patch MSE" in r.output and (tmp_path / "rec.png").is_file()


def test_head_pos_embed_is_recorded_and_rebuilt(data: Path, tmp_path: Path) -> None:
    from radarkit.models.maepose import build_finetune, config_from_json
    from radarkit.train.checkpoint import load_checkpoint, read_header

    fine = tmp_path / "fine"
    r = run("train", "maepose", "--stage", "finetune", "--data", data, *COMMON, "--epochs", "1",
            "--subjects", "1,2", "--val-subjects", "3", "--head-pos-embed", "--out", fine)
    assert r.exit_code == 0, r.output
    cfg = read_header(fine / "best.ckpt")["config"]
    assert cfg["model"]["head_pos_embed"] is True
    model = build_finetune(cfg["preset"], **config_from_json(cfg["model"]))
    load_checkpoint(fine / "best.ckpt", model, name="maepose")
    assert model.head_pos_embed
    # eval rebuilds the same model: its MPJPE equals the one of the model loaded here
    r = run("eval", "maepose", "--checkpoint", fine / "best.ckpt", "--data", data, "--subjects", "3",
            "--json", tmp_path / "m.json")
    assert r.exit_code == 0, r.output
    from radarkit.data.clips import ClipSpec, RadarClips, load_dataset
    from radarkit.pipelines.maepose_lopo import evaluate_clips

    spec = ClipSpec.from_dict(cfg["clips"])
    clips = RadarClips(load_dataset(data, spec, None, labels=True, subjects=(3,)), spec)
    direct = evaluate_clips(model.eval(), clips, spec, 8)
    reported = json.loads((tmp_path / "m.json").read_text())["mpjpe_m"]
    assert reported == pytest.approx(direct["mpjpe_m"], rel=1e-6)
    r = CliRunner().invoke(cli, ["train", "maepose", "--stage", "pretrain", "--data", str(data), *COMMON,
                                 "--head-pos-embed", "--out", str(tmp_path / "x")])
    assert r.exit_code != 0 and "--head-pos-embed applies to --stage finetune" in r.output


def test_bad_inputs_are_one_line_errors(data: Path, tmp_path: Path) -> None:
    r = CliRunner().invoke(cli, ["train", "maepose", "--stage", "pretrain", "--data", str(data), *COMMON,
                                 "--init", str(data / "dataset.json"), "--out", str(tmp_path / "x")])
    assert r.exit_code != 0 and "--init applies to --stage finetune" in r.output
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"not a checkpoint")
    r = CliRunner().invoke(cli, ["eval", "maepose", "--checkpoint", str(bad), "--data", str(data)])
    assert r.exit_code == 1 and "bad.ckpt" in r.output and "Traceback" not in r.output


def test_lopo_pretrains_on_unlabelled_persons_never_tested(tmp_path: Path) -> None:
    from radarkit.data.clips import ClipSpec
    from radarkit.pipelines.maepose_lopo import TrainSettings, run_lopo
    from radarkit.sim.dataset import write_dataset

    torch.set_num_threads(1)
    data = tmp_path / "sim4"
    write_dataset(data, TINY, "exercise", n_subjects=4, seconds=2.4, radars=("hori",), seed=2)
    spec = ClipSpec(num_frames=8, n_target_frames=2, stride=4, size=(8, 16), normalise="minmax",
                    noise_margin_db=3.0)
    settings = TrainSettings(heatmap_size=(8, 16), batch_size=4, pretrain_epochs=1, finetune_epochs=1,
                             device="cpu")
    kw = dict(n_folds=1, echo=lambda _: None)
    plain = run_lopo(data, spec, settings, **kw)
    extra = run_lopo(data, spec, settings, unlabelled_subjects=[4], out=tmp_path / "res", **kw)
    fold = extra["folds"][0]
    assert 4 not in (fold["test"], *fold["train"], *fold["val"])  # an unlabelled person is never a fold
    assert plain["unlabelled_subjects"] == [] and extra["unlabelled_subjects"] == [4]
    # the fold's pre-training set holds its labelled non-test persons plus person 4
    assert extra["pretrain_clips_per_fold"][0] > 0
    assert extra["n_clips"] < plain["n_clips"]  # person 4's clips left the labelled set
    assert set(extra["acceptance"]) >= {"masked_loss_below_half_mean", "pretrained_lower_mpjpe"}
    assert json.loads((tmp_path / "res" / "summary.json").read_text())["unlabelled_subjects"] == [4]
    with pytest.raises(ValueError, match="unlabelled"):
        run_lopo(data, spec, settings, unlabelled_subjects=[9], **kw)


def test_lopo_can_pretrain_once_on_the_unlabelled_persons_for_every_fold(tmp_path: Path, monkeypatch) -> None:
    import radarkit.pipelines.maepose_lopo as lopo
    from radarkit.data.clips import ClipSpec
    from radarkit.sim.dataset import write_dataset

    torch.set_num_threads(1)
    data = tmp_path / "sim5"
    write_dataset(data, TINY, "exercise", n_subjects=5, seconds=2.4, radars=("hori",), seed=3)
    spec = ClipSpec(num_frames=8, n_target_frames=2, stride=4, size=(8, 16), normalise="minmax",
                    noise_margin_db=3.0)
    settings = lopo.TrainSettings(heatmap_size=(8, 16), batch_size=4, pretrain_epochs=1, finetune_epochs=1,
                                  device="cpu")
    seen = []
    real = lopo.pretrain

    def counting(train_clips, *args, **kwargs):
        seen.append(sorted(set(train_clips.subjects.tolist())))
        return real(train_clips, *args, **kwargs)

    monkeypatch.setattr(lopo, "pretrain", counting)
    kw = dict(n_folds=2, echo=lambda _: None, unlabelled_subjects=[5])
    shared = lopo.run_lopo(data, spec, settings, pretrain_on="unlabelled", **kw)
    assert seen == [[5]]  # one pre-training, on person 5 alone, for both folds
    assert shared["pretrain_on"] == "unlabelled" and len(shared["folds"]) == 2
    assert shared["pretrain_clips_per_fold"][0] == shared["pretrain_clips_per_fold"][1] > 0
    seen.clear()
    per_fold = lopo.run_lopo(data, spec, settings, **kw)
    assert len(seen) == 2 and all(5 in persons and len(persons) == 4 for persons in seen)
    assert per_fold["pretrain_clips_per_fold"][0] > shared["pretrain_clips_per_fold"][0]
    with pytest.raises(ValueError, match="needs unlabelled_subjects"):
        lopo.run_lopo(data, spec, settings, n_folds=1, pretrain_on="unlabelled")
    with pytest.raises(ValueError, match="pretrain_on"):
        lopo.run_lopo(data, spec, settings, n_folds=1, pretrain_on="labelled")
