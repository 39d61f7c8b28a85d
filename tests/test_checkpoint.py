"""Checkpoints (radarkit.train.checkpoint) and the generic training loop (radarkit.train.loop)."""

from __future__ import annotations

import csv
import json

import pytest
import torch
from torch import nn

from radarkit.errors import CheckpointError
from radarkit.models.hupr import HuPR, HuPRConfig, get_config, hupr_loss
from radarkit.train.checkpoint import MAGIC, load_checkpoint, read_header, save_checkpoint
from radarkit.train.loop import MetricLog, fit, move_to, seed_everything, select_device

torch.set_num_threads(1)
TINY = dict(n_frames=4, n_doppler=4, n_range=16, n_azimuth=16, n_elevation=2)


def _trained_hupr(steps: int = 2):
    torch.manual_seed(0)
    cfg = get_config("small", **TINY)
    model = HuPR(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    x = torch.randn(cfg.input_shape(2))
    target = torch.rand(2, 14, 16, 16)
    for _ in range(steps):  # non-trivial weights, BatchNorm statistics and Adam moments
        loss = hupr_loss(*model.forward_logits(x, x), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return cfg, model, opt, x, target


def test_round_trip_gives_identical_outputs_and_resumable_optimizer(tmp_path):
    cfg, model, opt, x, target = _trained_hupr()
    path = tmp_path / "model.ckpt"
    save_checkpoint(path, model, name="hupr", epoch=3, config=cfg.to_dict(),
                    metrics={"AP": 0.5, "loss": float("nan")}, optimizer=opt)
    header = read_header(path)
    assert header["model"] == "hupr" and header["epoch"] == 3
    assert header["config"]["csam_scales"] == [2, 3]

    fresh_cfg = HuPRConfig(**header["config"])  # the JSON config rebuilds the model
    assert fresh_cfg == cfg
    torch.manual_seed(1)
    fresh = HuPR(fresh_cfg)
    fresh_opt = torch.optim.Adam(fresh.parameters(), lr=1e-3, weight_decay=1e-4)
    ckpt = load_checkpoint(path, fresh, name="hupr", optimizer=fresh_opt)
    assert ckpt.epoch == 3 and ckpt.metrics["AP"] == 0.5
    model.eval()
    fresh.eval()
    with torch.no_grad():
        for a, b in zip(model(x, x), fresh(x, x), strict=True):
            assert torch.equal(a, b)
    # one more optimiser step from either copy lands on the same weights
    model.train()
    fresh.train()
    for m, o in ((model, opt), (fresh, fresh_opt)):
        loss = hupr_loss(*m.forward_logits(x, x), target)
        o.zero_grad()
        loss.backward()
        o.step()
    for (k, a), b in zip(model.state_dict().items(), fresh.state_dict().values(), strict=True):
        assert torch.equal(a, b), k


def _flip_byte(path, offset_from_end):
    data = bytearray(path.read_bytes())
    data[-offset_from_end] ^= 0xFF
    path.write_bytes(bytes(data))


def test_corrupt_checkpoints_raise_clear_errors(tmp_path):
    _, model, *_ = _trained_hupr(steps=0)
    good = tmp_path / "good.ckpt"
    save_checkpoint(good, model, name="hupr")

    flipped = tmp_path / "flipped.ckpt"
    flipped.write_bytes(good.read_bytes())
    _flip_byte(flipped, 1000)
    with pytest.raises(CheckpointError, match="sha256") as err:
        load_checkpoint(flipped, model)
    assert str(flipped) in str(err.value)

    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(good.read_bytes()[:-10])
    with pytest.raises(CheckpointError, match="truncated") as err:
        load_checkpoint(truncated, model)
    assert str(truncated) in str(err.value)

    other = tmp_path / "weights.pt"
    torch.save(model.state_dict(), other)  # a plain torch file is not a radarkit checkpoint
    with pytest.raises(CheckpointError, match="not a radarkit checkpoint"):
        load_checkpoint(other, model)

    bad_header = tmp_path / "header.ckpt"
    bad_header.write_bytes(MAGIC + b"{not json\n" + b"x" * 100)
    with pytest.raises(CheckpointError, match="header"):
        load_checkpoint(bad_header, model)

    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.ckpt", model)


def test_mismatched_model_or_name_raises(tmp_path):
    _, model, *_ = _trained_hupr(steps=0)
    path = tmp_path / "small.ckpt"
    save_checkpoint(path, model, name="hupr")
    with pytest.raises(CheckpointError, match="expected 'maepose'"):
        load_checkpoint(path, model, name="maepose")
    wider = HuPR(get_config("small", **{**TINY, "n_filters": 8}))
    with pytest.raises(CheckpointError, match="do not fit") as err:
        load_checkpoint(path, wider)
    assert str(path) in str(err.value)
    with pytest.raises(CheckpointError, match="no optimizer"):
        load_checkpoint(path, model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1))


def test_save_is_atomic_on_failure(tmp_path):
    _, model, *_ = _trained_hupr(steps=0)
    path = tmp_path / "m.ckpt"
    save_checkpoint(path, model, name="hupr", epoch=1)
    before = path.read_bytes()
    with pytest.raises(CheckpointError, match="JSON"):
        save_checkpoint(path, model, name="hupr", epoch=2, config={"bad": object()})
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.ckpt"]


# --- generic loop ------------------------------------------------------------------------------


def _regression_problem():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.3
    data = torch.utils.data.TensorDataset(x, y)
    return torch.utils.data.DataLoader(data, batch_size=8, shuffle=True)


def _step(model, batch, device):
    x, y = move_to(batch, device)
    loss = nn.functional.mse_loss(model(x), y)
    return loss, {"mae": float((model(x) - y).abs().mean().detach())}


def _run(out, epochs, resume=False):
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    opt = torch.optim.Adam(model.parameters(), lr=0.2)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=5, gamma=0.9)
    rows = fit(model, opt, _regression_problem(), _step, epochs=epochs, out_dir=out, name="linear",
               config={"lr": 0.2}, scheduler=sched, resume=resume, seed=7, device="cpu",
               eval_fn=lambda m, d: {"val_w0": m.weight[0, 0].item()}, monitor="train_loss",
               monitor_mode="min", keep_every=2, progress=False)
    return model, rows


def test_fit_logs_checkpoints_and_loss_falls(tmp_path):
    model, rows = _run(tmp_path, epochs=4)
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    assert rows[-1]["train_loss"] < 0.2 * rows[0]["train_loss"]
    assert rows[-1]["lr"] == pytest.approx(0.2 * 0.9 ** (4 * 8 // 5))  # scheduler stepped per batch
    for name in ("last.ckpt", "best.ckpt", "epoch_002.ckpt", "epoch_004.ckpt", "metrics.csv",
                 "metrics.json"):
        assert (tmp_path / name).exists(), name
    assert read_header(tmp_path / "last.ckpt")["epoch"] == 4
    with open(tmp_path / "metrics.csv") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == 4 and float(table[2]["train_loss"]) == pytest.approx(rows[2]["train_loss"])
    assert json.loads((tmp_path / "metrics.json").read_text()) == rows


def test_resume_continues_exactly(tmp_path):
    straight, rows_a = _run(tmp_path / "a", epochs=4)
    _run(tmp_path / "b", epochs=2)
    resumed, rows_b = _run(tmp_path / "b", epochs=4, resume=True)
    assert [r["epoch"] for r in rows_b] == [1, 2, 3, 4]
    assert torch.equal(straight.weight, resumed.weight) and torch.equal(straight.bias, resumed.bias)
    assert rows_b[3]["train_loss"] == rows_a[3]["train_loss"]


def test_resume_rejects_other_model(tmp_path):
    _run(tmp_path, epochs=1)
    model = nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(CheckpointError, match="expected 'other'"):
        fit(model, opt, _regression_problem(), _step, epochs=2, out_dir=tmp_path, name="other",
            resume=True, device="cpu", progress=False)


def test_helpers():
    assert select_device("cpu") == torch.device("cpu")
    assert select_device("auto").type in ("cpu", "cuda")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            select_device("cuda")
    seed_everything(3)
    a = torch.rand(3)
    seed_everything(3)
    assert torch.equal(a, torch.rand(3))


def test_metric_log_union_of_columns(tmp_path):
    log = MetricLog(tmp_path)
    log.append({"epoch": 1, "loss": 1.0})
    log.append({"epoch": 2, "loss": 0.5, "AP": 0.3})
    with open(tmp_path / "metrics.csv") as fh:
        table = list(csv.DictReader(fh))
    assert table[0]["AP"] == "" and table[1]["AP"] == "0.3"
    assert MetricLog.load(tmp_path).rows == log.rows
