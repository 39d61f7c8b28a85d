"""``radarkit train hupr`` / ``radarkit eval hupr`` and radarkit.train.hupr on a tiny simulated dataset."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from radarkit.cli.main import cli
from radarkit.config.presets import get_preset
from radarkit.data.hupr import hupr_cube_dataset
from radarkit.pipelines.train_hupr_sim import mean_pose_baseline, plan_epochs, simulated_split
from radarkit.sim.dataset import write_dataset
from radarkit.skeleton import HUPR14
from radarkit.train.checkpoint import read_header
from radarkit.train.hupr import (
    HuPRTrainConfig,
    load_hupr,
    make_optimizer,
    predict_hupr,
    score_predictions,
    train_hupr,
)

torch.set_num_threads(1)


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hupr_cli") / "data"
    write_dataset(root, get_preset("hupr"), scene="hupr", n_subjects=2, seconds=1.0, seed=1)
    return root


def test_train_resume_and_eval_commands(data: Path, tmp_path: Path):
    run = tmp_path / "run"
    common = ["--data", data, "--filters", "2", "--batch-size", "2", "--step", "5", "--threads", "1",
              "--out", run, "-q"]
    res = invoke("train", "hupr", "--epochs", "1", *common)
    assert res.exit_code == 0, res.output
    splits = json.loads((data / "splits.json").read_text())["sequences"]
    assert (data / "cubes_vrdae" / splits["train"][0] / "hori.h5").exists()  # built on first use
    assert not (data / "cubes_vrdae" / splits["test"][0]).exists()  # only what the run needs
    rows = json.loads((run / "metrics.json").read_text())
    assert [r["epoch"] for r in rows] == [1] and np.isfinite(rows[0]["train_loss"])
    assert rows[0]["steps"] == 1  # 10 frames, every 5th is a window centre, batch 2
    head = read_header(run / "last.ckpt")
    assert head["model"] == "hupr" and head["config"]["model"]["n_filters"] == 2
    assert head["config"]["train"]["lr"] == pytest.approx(1e-4)  # paper default
    res = invoke("train", "hupr", "--epochs", "2", "--resume", *common)
    assert res.exit_code == 0, res.output
    rows = json.loads((run / "metrics.json").read_text())
    assert [r["epoch"] for r in rows] == [1, 2]
    assert (run / "metrics.csv").read_text().count("\n") == 3

    preds, metrics = tmp_path / "preds.json", tmp_path / "metrics.json"
    res = invoke("eval", "hupr", "--checkpoint", run / "last.ckpt", "--data", data, "--split", "test",
                 "--step", "5", "--out", preds, "--metrics", metrics, "-q")
    assert res.exit_code == 0, res.output
    assert "AP" in res.output and "R_Wrist" in res.output
    results = json.loads(preds.read_text())
    assert len(results) == 2 and all(len(r["keypoints"]) == 14 * 3 for r in results)
    ids = {r["image_id"] for r in results}
    test_seq = json.loads((data / "splits.json").read_text())["hupr"]["test"][0]
    assert ids == {test_seq * 100_000, test_seq * 100_000 + 5}
    doc = json.loads(metrics.read_text())
    assert 0.0 <= doc["metrics"]["AP"] <= 1.0
    assert len([k for k in doc["metrics"] if k.startswith("AP_")]) == 14
    assert doc["heatmaps"] == "refined"
    res = invoke("eval", "hupr", "--checkpoint", run / "last.ckpt", "--data", data, "--out", preds, "-q")
    assert res.exit_code != 0 and "exists" in res.output  # no overwrite without --force

    # --heatmaps initial scores the 2-D decoder's heatmaps: the arg-max of the model's first output
    res = invoke("eval", "hupr", "--checkpoint", run / "last.ckpt", "--data", data, "--split", "test",
                 "--step", "5", "--heatmaps", "initial", "--out", preds, "--metrics", metrics,
                 "--force", "-q")
    assert res.exit_code == 0, res.output
    assert json.loads(metrics.read_text())["heatmaps"] == "initial"
    from radarkit.data.heatmaps import decode_heatmaps

    model, _ = load_hupr(run / "last.ckpt")
    test = hupr_cube_dataset(data, "test", step=5, mean_elevation=True)
    batch = [test[i] for i in range(len(test))]
    with torch.no_grad():
        initial, _ = model.eval()(torch.stack([b["hori"] for b in batch]),
                                  torch.stack([b["vert"] for b in batch]))
    xy, _ = decode_heatmaps(initial, stride=test.stride)
    got = np.array([r["keypoints"] for r in json.loads(preds.read_text())]).reshape(-1, 14, 3)
    np.testing.assert_allclose(got[..., :2], xy, atol=1e-3)
    # --subpixel quarter: the same maps, decoded with the quarter-offset shift
    res = invoke("eval", "hupr", "--checkpoint", run / "last.ckpt", "--data", data, "--split", "test",
                 "--step", "5", "--heatmaps", "initial", "--subpixel", "quarter", "--out", preds,
                 "--metrics", metrics, "--force", "-q")
    assert res.exit_code == 0, res.output
    assert json.loads(metrics.read_text())["subpixel"] == "quarter"
    xy_q, _ = decode_heatmaps(initial, stride=test.stride, subpixel="quarter")
    got = np.array([r["keypoints"] for r in json.loads(preds.read_text())]).reshape(-1, 14, 3)
    np.testing.assert_allclose(got[..., :2], xy_q, atol=1e-3)
    with pytest.raises(ValueError, match="subpixel must be one of"):
        predict_hupr(model, test, "cpu", subpixel="dark")
    with pytest.raises(ValueError, match="heatmaps must be one of"):
        predict_hupr(model, test, "cpu", heatmaps="final")
    res = invoke("eval", "hupr", "--checkpoint", run / "last.ckpt", "--data", data, "--heatmaps",
                 "final", "--out", tmp_path / "p2.json", "-q")
    assert res.exit_code != 0 and "final" in res.output


def test_eval_rejects_corrupt_checkpoint(data: Path, tmp_path: Path):
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"RADARKIT-CKPT\n{\"format\": 1, \"payload_bytes\": 10, \"sha256\": \"00\"}\nxx")
    res = invoke("eval", "hupr", "--checkpoint", bad, "--data", data, "--out", tmp_path / "p.json")
    assert res.exit_code == 1
    assert "bad.ckpt" in res.output and len(res.output.strip().splitlines()) == 1


def test_checkpoint_round_trip_gives_identical_outputs(data: Path, tmp_path: Path):
    ds = hupr_cube_dataset(data, "train", step=5)
    model, rows = train_hupr(ds, tmp_path / "run", "small", HuPRTrainConfig(batch_size=2, lr=1e-3),
                             epochs=1, device="cpu", progress=False)
    assert len(rows) == 1
    loaded, ckpt = load_hupr(tmp_path / "run" / "last.ckpt")
    assert ckpt.epoch == 1 and loaded.config == model.config
    s = ds[0]
    model.eval()
    with torch.no_grad():
        a = model(s["hori"][None], s["vert"][None])[1]
        b = loaded(s["hori"][None], s["vert"][None])[1]
    assert torch.equal(a, b)


def test_scores_equal_pycocotools_with_hupr_ground_truth(data: Path):
    """AP with HuPR's ground-truth construction (area = annotated box / 2) equals pycocotools."""
    pytest.importorskip("pycocotools")
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    ds = hupr_cube_dataset(data, "train+test")
    gt = ds.ground_truth()
    rng = np.random.default_rng(0)
    pred = gt["keypoints"][:, :, :2] + rng.normal(0, 3.0, gt["keypoints"][:, :, :2].shape)
    scores = rng.uniform(0.2, 1.0, len(pred))
    ours = score_predictions(ds, pred, scores)

    coco = COCO()
    coco.dataset = {
        "images": [{"id": int(i)} for i in gt["image_ids"]],
        "categories": [{"id": 1, "name": "person", "keypoints": list(HUPR14.joints)}],
        "annotations": [{"id": int(i), "image_id": int(i), "category_id": 1, "iscrowd": 0,
                         "num_keypoints": 14, "keypoints": k.reshape(-1).tolist(),
                         "bbox": b.tolist(), "area": float(a)}
                        for i, k, b, a in zip(gt["image_ids"], gt["keypoints"], gt["bboxes"],
                                              gt["areas"], strict=True)]}
    coco.createIndex()
    dets = coco.loadRes([{"image_id": int(i), "category_id": 1, "score": float(s),
                          "keypoints": np.concatenate([p, np.ones((14, 1))], 1).reshape(-1).tolist()}
                         for i, p, s in zip(gt["image_ids"], pred, scores, strict=True)])
    ev = COCOeval(coco, dets, "keypoints")
    ev.params.kpt_oks_sigmas = np.asarray(HUPR14.sigmas)
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    assert ours["AP"] == pytest.approx(ev.stats[0], abs=1e-6)
    assert ours["AP50"] == pytest.approx(ev.stats[1], abs=1e-6)
    assert ours["AP75"] == pytest.approx(ev.stats[2], abs=1e-6)
    assert 0.05 < ours["AP"] < 0.95  # a non-trivial case


def test_mean_pose_baseline_is_worse_than_truth(data: Path):
    ds = hupr_cube_dataset(data, "train+test")
    kp = np.concatenate([s.keypoints for s in ds.sequences])
    base = mean_pose_baseline(kp, len(ds))
    assert base.shape == (len(ds), 14, 2)
    np.testing.assert_allclose(base[3], kp.mean(axis=0), rtol=1e-5)
    assert score_predictions(ds, kp)["AP"] == pytest.approx(1.0)
    assert score_predictions(ds, base)["AP"] < 0.9


def _fake_dataset(root: Path, subjects: int, test: list[int]) -> Path:
    """dataset.json + splits.json only: simulated_split reads them and simulates nothing."""
    root.mkdir(parents=True)
    seqs = [{"name": f"single_{i}", "subject_id": i, "n_frames": 10} for i in range(1, subjects + 1)]
    (root / "dataset.json").write_text(json.dumps({"sequences": seqs}))
    train = [i for i in range(1, subjects + 1) if i not in test]
    (root / "splits.json").write_text(json.dumps({"subjects": {"train": train, "val": [],
                                                               "test": test}}))
    return root


def test_simulated_split_hold_out_rules(tmp_path: Path):
    root = _fake_dataset(tmp_path / "d", 8, [6, 2, 5])
    _, train, test, held = simulated_split(root, hold_out="first")
    assert held == [6] and test == ["single_6"]
    assert train == [f"single_{i}" for i in (1, 2, 3, 4, 5, 7, 8)]
    _, train, test, held = simulated_split(root, hold_out="test-split")
    assert held == [6, 2, 5] and test == ["single_6", "single_2", "single_5"]  # splits.json order
    assert train == [f"single_{i}" for i in (1, 3, 4, 7, 8)]
    with pytest.raises(ValueError, match="hold_out"):
        simulated_split(root, hold_out="last")
    _, train, test, held = simulated_split(root, hold_out=[7, 1, 7])  # ids as given, no repeats
    assert held == [7, 1] and test == ["single_7", "single_1"]
    assert train == [f"single_{i}" for i in (2, 3, 4, 5, 6, 8)]
    with pytest.raises(ValueError, match=r"no subject\(s\) \[9\]"):
        simulated_split(root, hold_out=[2, 9])
    small = _fake_dataset(tmp_path / "s", 5, [1, 2, 3])
    assert len(simulated_split(small, hold_out="first")[1]) == 4
    with pytest.raises(ValueError, match="fewer than 3 training subjects"):
        simulated_split(small, hold_out="test-split")


def test_train_hupr_sim_hold_out_argument():
    import argparse

    from radarkit.pipelines.train_hupr_sim import _hold_out_arg

    assert _hold_out_arg("test-split") == "test-split"
    assert _hold_out_arg("3,5,7") == [3, 5, 7]
    with pytest.raises(argparse.ArgumentTypeError, match="comma-separated subject ids"):
        _hold_out_arg("3;5")


def test_train_hupr_sim_refuses_odd_doppler_bins_before_simulating(tmp_path: Path):
    from radarkit.pipelines.train_hupr_sim import run

    with pytest.raises(ValueError, match="n_doppler must be even"):
        run(tmp_path / "w", subjects=4, doppler_bins=7, echo=lambda s: None)
    assert not (tmp_path / "w" / "data").exists()


def test_prior_init_starts_refined_heatmaps_at_the_mean_target(data: Path, tmp_path: Path):
    from radarkit.data.heatmaps import decode_heatmaps
    from radarkit.models.hupr import hupr
    from radarkit.train.hupr import init_heatmap_prior, mean_target_heatmaps

    ds = hupr_cube_dataset(data, "train", tmp_path / "cubes", step=2, mean_elevation=True)
    prior = mean_target_heatmaps(ds)
    batch = [ds[i] for i in range(len(ds))]
    manual = np.mean([b["heatmaps"].numpy() for b in batch], axis=0)
    np.testing.assert_allclose(prior, manual, atol=1e-6)
    hori = torch.stack([b["hori"] for b in batch])
    vert = torch.stack([b["vert"] for b in batch])
    target = torch.stack([b["heatmaps"] for b in batch])
    # a residual PRGCN with the prior in the per-pixel heatmap bias, and the paper's plain PRGCN
    # (prior in its output bias): the refined heatmaps start at the prior's peaks
    for variant in ({"heatmap_bias": True}, {"gcn_residual": False, "joint_bias": False}):
        losses = {}
        for init in (False, True):
            torch.manual_seed(0)
            model = hupr("small", n_filters=2, **variant).eval()
            if init:
                init_heatmap_prior(model, prior)
            with torch.no_grad():
                _, refined = model.forward_logits(hori, vert)
            losses[init] = torch.nn.functional.binary_cross_entropy_with_logits(refined,
                                                                                target).item()
        # starting at the prior: the loss is that of predicting the mean heatmap, far below chance
        assert losses[True] < 0.2 * losses[False], variant
        with torch.no_grad():
            _, refined = model(hori, vert)
        xy, _ = decode_heatmaps(refined, stride=ds.stride)
        prior_xy, _ = decode_heatmaps(torch.as_tensor(prior[None], dtype=torch.float32),
                                      stride=ds.stride)
        # the prior's peaks, to a heatmap pixel or two
        assert np.abs(xy - prior_xy).max() <= 2 * ds.stride, variant
    # the small preset's per-joint bias starts at the logit of each joint's mean target value: the
    # best constant prediction, far below chance, with no preferred position
    torch.manual_seed(0)
    model = hupr("small", n_filters=2).eval()
    with torch.no_grad():
        model.decoder.head.weight.zero_()
        before = model.forward_logits(hori, vert)[1]
    init_heatmap_prior(model, prior)
    level = np.clip(prior.mean(axis=(1, 2)), 1e-4, 1 - 1e-4)
    np.testing.assert_allclose(model.joint_bias.detach().numpy().ravel(),
                               np.log(level / (1 - level)), rtol=1e-5)
    with torch.no_grad():
        refined = torch.sigmoid(model.forward_logits(hori, vert)[1])
    np.testing.assert_allclose(refined.numpy(), np.broadcast_to(level[None, :, None, None],
                                                                refined.shape), rtol=1e-4)
    bce = torch.nn.functional.binary_cross_entropy
    assert bce(refined, target).item() < 0.2 * bce(torch.sigmoid(before), target).item()
    with pytest.raises(ValueError, match="prior heatmaps of shape"):
        init_heatmap_prior(model, prior[:, :32])
    # without PRGCN, the per-pixel heatmap bias carries the prior: the output is exactly its argmax
    torch.manual_seed(0)
    plain = hupr("small", n_filters=2, use_gcn=False, heatmap_bias=True, joint_bias=False).eval()
    with torch.no_grad():
        plain.decoder.head.weight.zero_()
    init_heatmap_prior(plain, prior)
    with torch.no_grad():
        _, refined = plain(hori, vert)
    np.testing.assert_allclose(refined[0].numpy(), np.clip(prior, 1e-4, 1 - 1e-4), atol=1e-5)
    for bare in ({"use_gcn": False}, {}):  # no PRGCN, or a residual one: nothing carries a prior
        with pytest.raises(ValueError, match="neither PRGCN nor a heatmap bias"):
            init_heatmap_prior(hupr("small", n_filters=2, joint_bias=False, **bare), prior)
    # training with prior_init refuses such a model instead of silently starting elsewhere
    from radarkit.models.hupr import get_config

    with pytest.raises(ValueError, match="neither PRGCN nor a heatmap bias"):
        train_hupr(ds, tmp_path / "run", get_config("small", n_filters=2, joint_bias=False),
                   HuPRTrainConfig(prior_init=True, batch_size=2), epochs=1, progress=False)
    assert not (tmp_path / "run" / "last.ckpt").exists()


def test_linear_lr_schedule_holds_then_decays_to_zero():
    cfg = HuPRTrainConfig(lr=1e-3, lr_schedule="linear", decay_start=4, decay_end=8)
    assert [cfg.lr_factor(i) for i in (0, 3, 4, 6, 8, 50)] == [1.0, 1.0, 1.0, 0.5, 0.0, 0.0]
    assert HuPRTrainConfig(lr_schedule="linear").lr_factor(10**6) == 1.0  # no decay planned
    paper = HuPRTrainConfig()
    assert paper.lr_factor(1999) == 1.0 and paper.lr_factor(4000) == pytest.approx(0.999 ** 2)
    # the optimiser follows the factor step by step, for both schedules
    for c, n in ((cfg, 10), (HuPRTrainConfig(lr_step=3, lr_gamma=0.5), 10)):
        opt, sched = make_optimizer(torch.nn.Linear(2, 1), c)
        lrs = []
        for _ in range(n):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        np.testing.assert_allclose(lrs, [c.lr * c.lr_factor(i) for i in range(n)], rtol=1e-12)
    # 5 windows in batches of 2: 3 iterations per epoch
    planned = HuPRTrainConfig(batch_size=2).with_linear_decay(5, hold_epochs=2, epochs=4)
    assert (planned.lr_schedule, planned.decay_start, planned.decay_end) == ("linear", 6, 12)
    for bad in ({"lr_schedule": "cosine"}, {"lr_schedule": "linear", "decay_start": 5, "decay_end": 5},
                {"decay_start": -1}):
        with pytest.raises(ValueError):
            HuPRTrainConfig(**bad)
    with pytest.raises(ValueError, match="hold_epochs"):
        HuPRTrainConfig().with_linear_decay(5, hold_epochs=3, epochs=3)


def test_shorten_decay_keeps_the_rate_and_reaches_zero_earlier():
    cfg = HuPRTrainConfig(lr=1e-3, lr_schedule="linear", decay_start=6, decay_end=15)
    cases = (
        (3, 12, 6),  # the hold is still ahead and the decay fits after it: only the end moves
        (6, 12, 6),  # at the end of the hold
        (9, 12, 9),  # a third into the decay: it restarts from the rate reached there
        (3, 5, 3),  # the decay no longer fits after the hold: it starts now
    )
    for it, end, start in cases:
        short = cfg.shorten_decay(it, end)
        assert (short.decay_start, short.decay_end) == (start, end)
        assert short.lr_factor(it) == pytest.approx(cfg.lr_factor(it))  # no jump
        after = [short.lr_factor(i) for i in range(it, end + 3)]
        assert after[end - it:] == [0.0, 0.0, 0.0] and all(np.diff(after) <= 0)
        assert all(a > 0 for a in after[:end - it])
    mid = cfg.shorten_decay(9, 12)
    assert mid.decay_start_factor == pytest.approx(2 / 3)
    assert mid.lr_factor(10) == pytest.approx(4 / 9) and mid.lr_factor(11) == pytest.approx(2 / 9)
    again = mid.shorten_decay(10, 11)  # shortened twice
    assert again.lr_factor(10) == pytest.approx(4 / 9) and again.lr_factor(11) == 0.0
    for it, end in ((9, 9), (9, 15), (9, 20), (12, 10)):
        with pytest.raises(ValueError, match="iteration < end < decay_end"):
            cfg.shorten_decay(it, end)
    with pytest.raises(ValueError, match="linear schedule"):
        HuPRTrainConfig().shorten_decay(1, 2)
    with pytest.raises(ValueError, match="linear schedule"):
        HuPRTrainConfig(lr_schedule="linear").shorten_decay(1, 2)
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="decay_start_factor"):
            HuPRTrainConfig(decay_start_factor=bad)
    assert HuPRTrainConfig(batch_size=2).iterations_per_epoch(5) == 3


def test_plan_epochs_fits_the_budget_and_holds_the_rate_for_half():
    # 400 s epochs, 1,500 s left after the first: 3 more fit, 4 in all, 2 at the full rate
    assert plan_epochs(400.0, 1500.0, 1, 40) == (4, 2)
    assert plan_epochs(600.0, 1200.0, 1, 40) == (3, 1)  # decay over epochs 2-3
    assert plan_epochs(600.0, 700.0, 1, 40) == (2, 1)  # decay over the 2nd epoch
    assert plan_epochs(600.0, 500.0, 1, 40) == (1, 1)  # nothing more fits: no decay
    assert plan_epochs(10.0, 1000.0, 1, 6) == (6, 3)  # capped by max_epochs
    assert plan_epochs(400.0, -5.0, 2, 40) == (2, 2)  # over budget already
    for epoch_s, left in ((37.0, 1234.0), (400.0, 1500.0), (1.0, 9.5)):
        planned, hold = plan_epochs(epoch_s, left, 1, 1000)
        assert (planned - 1) * epoch_s <= left < planned * epoch_s  # whole epochs that fit
        assert 1 <= hold <= planned and hold == max(1, planned // 2)


def test_resume_follows_a_decay_planned_after_the_first_epoch(data: Path, tmp_path: Path):
    """The acceptance script plans the decay after timing the first epochs, then resumes."""
    ds = hupr_cube_dataset(data, "train", step=5)
    hold = HuPRTrainConfig(batch_size=2, lr=1e-3, lr_schedule="linear")
    _, rows = train_hupr(ds, tmp_path / "run", "small", hold, epochs=1, device="cpu", progress=False)
    assert rows[-1]["lr"] == pytest.approx(1e-3)
    plan = hold.with_linear_decay(len(ds), hold_epochs=1, epochs=3)
    _, rows = train_hupr(ds, tmp_path / "run", "small", plan, epochs=2, resume=True, device="cpu",
                         progress=False)
    assert [r["epoch"] for r in rows] == [1, 2] and rows[-1]["lr"] == pytest.approx(5e-4)
    _, rows = train_hupr(ds, tmp_path / "run", "small", plan, epochs=3, resume=True, device="cpu",
                         progress=False)
    assert rows[-1]["lr"] == 0.0
    assert read_header(tmp_path / "run" / "last.ckpt")["config"]["train"]["decay_end"] == plan.decay_end


def test_resume_follows_a_shortened_decay(data: Path, tmp_path: Path):
    """Planned for 4 epochs, shortened after the 2nd to end with the 3rd: the rate carries on from
    where it was and is zero after epoch 3."""
    ds = hupr_cube_dataset(data, "train", step=5)
    plan = HuPRTrainConfig(batch_size=2, lr=1e-3).with_linear_decay(len(ds), hold_epochs=1, epochs=4)
    _, rows = train_hupr(ds, tmp_path / "run", "small", plan, epochs=2, device="cpu", progress=False)
    assert rows[-1]["lr"] == pytest.approx(1e-3 * 2 / 3)
    steps = plan.iterations_per_epoch(len(ds))
    short = plan.shorten_decay(2 * steps, 3 * steps)
    _, rows = train_hupr(ds, tmp_path / "run", "small", short, epochs=3, resume=True, device="cpu",
                         progress=False)
    assert [r["epoch"] for r in rows] == [1, 2, 3] and rows[-1]["lr"] == 0.0
    assert read_header(tmp_path / "run" / "last.ckpt")["config"]["train"]["decay_start_factor"] == \
        pytest.approx(2 / 3)


def test_train_hupr_sim_shortens_the_decay_when_epochs_slow_down(tmp_path: Path, monkeypatch):
    """A fake clock: the first epoch takes 100 s of a 500 s budget (5 epochs planned, decay over
    epochs 3-5), the later ones 130 s. After epoch 2 only 4 fit: the decay is moved to end with
    epoch 4, and the rate is zero at the end of the run."""
    import radarkit.pipelines.train_hupr_sim as sim
    import radarkit.train.hupr as train_mod

    now = [0.0]
    durations = iter([100.0, 130.0, 130.0, 130.0, 130.0])
    real_train = train_mod.train_hupr

    def timed_train(*args, **kwargs):
        result = real_train(*args, **kwargs)
        now[0] += next(durations)
        return result

    monkeypatch.setattr(train_mod, "train_hupr", timed_train)
    monkeypatch.setattr(sim, "time", SimpleNamespace(perf_counter=lambda: now[0],
                                                     process_time=time.process_time))
    summary = sim.run(tmp_path / "w", subjects=4, seconds=1.0, seed=3, budget_min=500 / 60,
                      max_epochs=40, lr=1e-3, step=5, eval_step=5, echo=lambda s: None)
    training = summary["training"]
    assert training["epochs"] == 4 and training["planned_epochs"] == 4
    assert training["replans"] == [{"after_epoch": 2, "epoch_s": 130.0, "planned_epochs": 4}]
    rows = json.loads((tmp_path / "w" / "run" / "metrics.json").read_text())
    assert [r["lr"] for r in rows] == pytest.approx([1e-3, 1e-3, 5e-4, 0.0])


def test_train_cli_linear_decay_reaches_zero(data: Path, tmp_path: Path):
    run = tmp_path / "run"
    res = invoke("train", "hupr", "--data", data, "--epochs", 2, "--lr-decay-from", 1, "--out", run,
                 "--batch-size", 2, "--step", 5, "--lr", 1e-3, "--val-split", "none", "-q")
    assert res.exit_code == 0, res.output
    rows = json.loads((run / "metrics.json").read_text())
    assert [r["lr"] for r in rows] == pytest.approx([1e-3, 0.0])
    res = invoke("train", "hupr", "--data", data, "--epochs", 2, "--lr-decay-from", 2, "--out",
                 tmp_path / "r2", "-q")
    assert res.exit_code != 0 and "--lr-decay-from" in res.output
    assert not (tmp_path / "r2").exists()


def test_train_and_eval_with_16_doppler_bins(data: Path, tmp_path: Path):
    """``--doppler-bins 16``: cubes in their own folder, a model reading 16 bins, eval following
    the checkpoint's K; an odd K is refused before any work."""
    run = tmp_path / "run"
    res = invoke("train", "hupr", "--data", data, "--doppler-bins", 16, "--filters", 2, "--epochs", 1,
                 "--batch-size", 2, "--step", 5, "--val-split", "none", "--out", run, "-q")
    assert res.exit_code == 0, res.output
    train_seq = json.loads((data / "splits.json").read_text())["sequences"]["train"][0]
    assert (data / "cubes_vrdae_k16" / train_seq / "vert.h5").exists()
    model, _ = load_hupr(run / "last.ckpt")
    assert model.config.n_doppler == 16 and model.mnet[0].n_doppler == 16
    preds = tmp_path / "preds.json"
    res = invoke("eval", "hupr", "--checkpoint", run / "last.ckpt", "--data", data, "--split", "test",
                 "--step", 5, "--out", preds, "-q")
    assert res.exit_code == 0, res.output
    assert len(json.loads(preds.read_text())) == 2
    test_seq = json.loads((data / "splits.json").read_text())["sequences"]["test"][0]
    assert (data / "cubes_vrdae_k16" / test_seq / "hori.h5").exists()
    res = invoke("train", "hupr", "--data", data, "--doppler-bins", 7, "--out", tmp_path / "r7", "-q")
    assert res.exit_code != 0 and "--doppler-bins must be even" in res.output
    assert not (tmp_path / "r7").exists()



def test_score_by_subject_slices_the_pooled_predictions(data: Path):
    """Perfect keypoints for one subject and shifted ones for the other: each subject's AP is its
    own slice's (100 and that of the shift alone), whatever the other subject's predictions."""
    from radarkit.pipelines.train_hupr_sim import score_by_subject

    subs = [(7, hupr_cube_dataset(data, ["single_1"], step=2, mean_elevation=True)),
            (9, hupr_cube_dataset(data, ["single_2"], step=2, mean_elevation=True))]
    truth = [sub.ground_truth() for _, sub in subs]
    shifted = truth[1]["keypoints"] + np.float32(6.0)
    preds = {"keypoints": np.concatenate([truth[0]["keypoints"], shifted]),
             "scores": np.ones(len(subs[0][1]) + len(subs[1][1])),
             "image_ids": np.concatenate([t["image_ids"] for t in truth])}
    base = np.concatenate([truth[0]["keypoints"] + np.float32(40.0), truth[1]["keypoints"]])
    per = score_by_subject(subs, preds, base)
    assert list(per) == ["7", "9"] and per["7"]["windows"] == 5 and per["9"]["windows"] == 5
    assert per["7"]["AP"] == 100.0
    alone = score_predictions(subs[1][1], shifted)
    assert 0.0 < 100 * alone["AP"] < 100.0
    assert per["9"]["AP"] == round(100 * alone["AP"], 2)
    assert per["9"]["mean_pose_AP"] == 100.0 and per["7"]["mean_pose_AP"] < 100.0
    with pytest.raises(RuntimeError, match="not the predictions' windows in order"):
        score_by_subject(subs[::-1], preds, base)


def test_train_hupr_sim_runs_end_to_end_with_two_held_out_subjects(tmp_path: Path):
    """The acceptance chain on 5 one-second people, 2 held out: it simulates, builds cubes, trains
    one epoch, writes predictions for both held-out people and scores each of them."""
    from radarkit.pipelines.train_hupr_sim import run

    out = tmp_path / "w"
    summary = run(out, subjects=5, seconds=1.0, seed=2, budget_min=0.01, max_epochs=1, step=5,
                  eval_step=2, hold_out=[4, 2], echo=lambda s: None)
    assert summary["dataset"]["test_subject"] == [4, 2]
    assert summary["dataset"]["train_subjects"] == [1, 3, 5]
    assert summary["dataset"]["test_windows"] == 10 and summary["training"]["epochs"] == 1
    per = summary["per_test_subject"]
    assert list(per) == ["4", "2"] and [p["windows"] for p in per.values()] == [5, 5]
    preds = json.loads((out / "test_predictions.json").read_text())
    meta = json.loads((out / "data" / "dataset.json").read_text())
    seq_of = {q["subject_id"]: q["name"] for q in meta["sequences"]}
    numbers = sorted({r["image_id"] // 100_000 for r in preds})
    assert len(preds) == 10 and numbers == sorted(int(seq_of[i].split("_")[1]) for i in (2, 4))
    assert (out / "run" / "last.ckpt").exists() and json.loads((out / "summary.json").read_text())


def test_bf16_step_runs_the_forward_in_bf16_and_keeps_loss_and_gradients_float32():
    from radarkit.data.heatmaps import gaussian_heatmaps
    from radarkit.models.hupr import HuPR, get_config
    from radarkit.train.hupr import hupr_step

    torch.manual_seed(0)
    cfg = get_config("small", n_frames=4, n_doppler=4, n_range=16, n_azimuth=16, n_elevation=2)
    g = torch.Generator().manual_seed(1)
    keypoints = np.random.default_rng(0).uniform(8, 56, (2, 14, 2))
    batch = {"hori": torch.randn(cfg.input_shape(2), generator=g),
             "vert": torch.randn(cfg.input_shape(2), generator=g),
             "heatmaps": torch.from_numpy(gaussian_heatmaps(keypoints, heatmap_size=16, stride=4,
                                                            sigma=1.0)[0]),
             "weights": torch.ones(2, 14)}
    model = HuPR(cfg)
    dtypes = []
    hook = model.decoder.head.register_forward_hook(lambda m, i, o: dtypes.append(o.dtype))
    cpu = torch.device("cpu")
    ref, _ = hupr_step(model, batch, cpu)
    loss, extras = hupr_step(model, batch, cpu, precision="bf16")
    hook.remove()
    assert dtypes == [torch.float32, torch.bfloat16]  # the decoder head ran in bf16 under autocast
    assert loss.dtype == torch.float32 and abs(loss.item() - ref.item()) < 0.02 * ref.item()
    loss.backward()
    assert all(p.grad is None or p.grad.dtype == torch.float32 for p in model.parameters())
    # and it trains: 40 Adam steps in bf16 halve the loss
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    first = None
    for _ in range(40):
        loss, _ = hupr_step(model, batch, cpu, precision="bf16")
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first
    with pytest.raises(ValueError, match="precision"):
        hupr_step(model, batch, cpu, precision="fp16")
    with pytest.raises(ValueError, match="precision"):
        HuPRTrainConfig(precision="fp16")
