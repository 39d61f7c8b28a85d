"""AWC: model, Shapley contributions, K-means split, Fisher diagonal, weight constraint, training."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from scipy.stats import pearsonr

from radarkit.errors import ConfigError
from radarkit.models.awc import AWCPoseModel, pad_point_sets
from radarkit.train.awc import (
    AWCConfig,
    awc_penalty,
    evaluate_awc,
    fisher_diagonal,
    modality_shapley,
    mpjpe_loss,
    pearson_profit,
    shapley_values,
    split_modalities,
    subset_masks,
    train_awc,
)

torch.set_num_threads(1)
J = 17


def _synthetic(n: int, seed: int, n_points: int = 12) -> list[tuple[dict, torch.Tensor]]:
    """Poses = a fixed body shape moved around the room; rgb = its pinhole projection (gives x, z
    up to depth), mmwave = noisy points on a few joints (gives depth), wifi-csi = pure noise."""
    rng = np.random.default_rng(seed)
    body = np.random.default_rng(99).normal(0.0, 0.3, (J, 3))
    centre = np.c_[rng.uniform(-1, 1, n), rng.uniform(2, 4, n), rng.uniform(-0.2, 0.2, n)]
    target = (body[None] + centre[:, None] + rng.normal(0, 0.01, (n, J, 3))).astype(np.float32)
    kp = target[..., [0, 2]] / target[..., 1:2]
    clouds = []
    for i in range(n):
        k = int(rng.integers(3, n_points + 1))
        idx = rng.integers(0, J, k)
        xyz = target[i, idx] + rng.normal(0, 0.05, (k, 3))
        clouds.append(np.c_[xyz, rng.normal(0, 1, (k, 2))])
    csi = rng.normal(0, 1, (n, 3, 16, 4)).astype(np.float32)
    return [(torch.from_numpy(kp[i]), clouds[i], torch.from_numpy(csi[i]), torch.from_numpy(target[i]))
            for i in range(n)]


def _batches(samples, batch: int, modalities=("rgb", "mmwave", "wifi-csi")):
    out = []
    for s in range(0, len(samples), batch):
        chunk = samples[s:s + batch]
        inputs = {"rgb": torch.stack([c[0] for c in chunk]),
                  "mmwave": pad_point_sets([c[1] for c in chunk]),
                  "wifi-csi": torch.stack([c[2] for c in chunk])}
        out.append(({m: inputs[m] for m in modalities}, torch.stack([c[3] for c in chunk])))
    return out


def _model(modalities=("rgb", "mmwave", "wifi-csi"), fusion="concat", seed=0, **kw) -> AWCPoseModel:
    torch.manual_seed(seed)
    kw.setdefault("feature_dim", 16)
    kw.setdefault("mmwave_dims", 5)
    return AWCPoseModel(modalities, fusion=fusion, point_attention_layers=1, **kw)


# ----------------------------------------------------------------------------- model


@pytest.mark.parametrize("fusion", ["concat", "mlp", "attention"])
def test_absent_modalities_are_zero_features_and_subsets_match(fusion):
    model = _model(fusion=fusion).eval()
    inputs, _ = _batches(_synthetic(6, 0), 6)[0]
    feats = model.encode(inputs)
    assert feats.shape == (6, 3, 16)
    only_rgb = model.encode({"rgb": inputs["rgb"]})
    assert torch.equal(only_rgb[:, 1:], torch.zeros_like(only_rgb[:, 1:]))
    torch.testing.assert_close(only_rgb[:, 0], feats[:, 0])
    masks = subset_masks(3)
    subsets = model.fuse_subsets(feats, masks)
    assert subsets.shape == (8, 6, J, 3)
    for s in range(8):
        torch.testing.assert_close(subsets[s], model.fuse(feats, masks[s]))
    torch.testing.assert_close(model({"rgb": inputs["rgb"]}), subsets[1])


def test_point_encoder_ignores_padding_and_point_order():
    model = _model().eval()
    inputs, _ = _batches(_synthetic(4, 1), 4)[0]
    points, mask = inputs["mmwave"]
    ref = model(inputs)
    junk = points.clone()
    junk[~mask] = 1e3  # padded rows hold garbage
    wider = torch.cat([junk, torch.full((4, 5, 5), -7.0)], dim=1)
    wider_mask = torch.cat([mask, torch.zeros(4, 5, dtype=torch.bool)], dim=1)
    perm = torch.randperm(wider.shape[1])
    moved = inputs | {"mmwave": (wider[:, perm], wider_mask[:, perm])}
    torch.testing.assert_close(model(moved), ref, rtol=1e-5, atol=1e-5)
    empty = inputs | {"mmwave": (points, torch.zeros_like(mask))}  # no radar points at all
    assert torch.isfinite(model(empty)).all()


# ----------------------------------------------------------------------------- Shapley


def test_shapley_of_known_games():
    # Two players: v(1) = 1, v(2) = 2, v(12) = 5 -> phi = (2, 3).
    np.testing.assert_allclose(shapley_values([0.0, 1.0, 2.0, 5.0]), [2.0, 3.0])
    # Additive game: each player's Shapley value is its own worth.
    worth = np.array([0.7, -0.2, 1.5, 0.1])
    v = subset_masks(4).numpy() @ worth
    np.testing.assert_allclose(shapley_values(v), worth, atol=1e-12)
    with pytest.raises(ValueError, match="2\\*\\*n"):
        shapley_values(np.zeros(6))


def test_shapley_efficiency_on_random_games_and_on_a_model_batch():
    rng = np.random.default_rng(2)
    for n in (1, 2, 3, 4, 5):
        v = rng.normal(size=2 ** n)
        assert shapley_values(v).sum() == pytest.approx(v[-1] - v[0], abs=1e-10)
    model = _model().eval()
    inputs, target = _batches(_synthetic(24, 3), 24)[0]
    feats = model.encode(inputs)
    phi = modality_shapley(model, feats, target)
    masks = subset_masks(3)
    with torch.no_grad():
        v_all = pearson_profit(model.fuse(feats), target)
        v_empty = pearson_profit(model.fuse(feats, ~masks[-1]), target)
    assert float(v_empty) == 0.0  # the empty subset predicts a constant: no correlation
    assert phi.sum() == pytest.approx(float(v_all - v_empty), abs=1e-9)


@pytest.mark.parametrize("fusion", ["concat", "mlp"])
def test_identical_modalities_get_identical_shapley_values(fusion):
    """Two copies of one sensor (same encoder weights, same input, symmetric head) are symmetric
    players: their Shapley values must be equal."""
    model = _model(("lidar", "mmwave", "rgb"), fusion=fusion, mmwave_dims=3).eval()
    model.encoders["mmwave"].load_state_dict(model.encoders["lidar"].state_dict())
    first = model.fusion.linear if fusion == "concat" else model.fusion.net[0]
    with torch.no_grad():
        first.weight[:, 16:32] = first.weight[:, 0:16]  # same head weights for both copies
    samples = _synthetic(32, 4)
    inputs, target = _batches(samples, 32)[0]
    points, mask = inputs["mmwave"]
    cloud = (points[..., :3].contiguous(), mask)
    feats = model.encode({"lidar": cloud, "mmwave": cloud, "rgb": inputs["rgb"]})
    phi = modality_shapley(model, feats, target)
    assert abs(phi[0]) > 1e-3
    assert phi[0] == pytest.approx(phi[1], rel=1e-9, abs=1e-9)
    assert phi[2] != pytest.approx(phi[0], abs=1e-3)


def test_pearson_profit_matches_scipy_and_handles_constant_predictions():
    rng = np.random.default_rng(5)
    target = torch.from_numpy(rng.normal(size=(40, J, 3)))
    pred = target + torch.from_numpy(rng.normal(0, 1.0, size=(40, J, 3)))
    expected = sum(pearsonr(pred[:, j, c].numpy(), target[:, j, c].numpy())[0]
                   for j in range(J) for c in range(3))
    assert float(pearson_profit(pred, target)) == pytest.approx(expected, rel=1e-10)
    assert float(pearson_profit(target, target)) == pytest.approx(3 * J)
    assert float(pearson_profit(torch.full_like(target, 2.5), target)) == 0.0
    stacked = torch.stack([pred, target, -target])
    np.testing.assert_allclose(pearson_profit(stacked, target).numpy(), [expected, 3 * J, -3 * J], rtol=1e-9)


def test_kmeans_split_puts_the_dominant_modalities_in_the_superior_set():
    names = ("rgb", "lidar", "mmwave", "wifi-csi")
    assert split_modalities([20.1, 18.7, 2.3, 0.4], names) == (("rgb", "lidar"), ("mmwave", "wifi-csi"))
    assert split_modalities([0.1, 9.0, 0.3, 0.2], names) == (("lidar",), ("rgb", "mmwave", "wifi-csi"))
    assert split_modalities([1.0, 1.0, 1.0, 1.0], names) == ((), names)  # nothing dominates
    assert split_modalities([3.0], ("rgb",)) == ((), ("rgb",))


# ----------------------------------------------------------------------------- Fisher, AWC loss


def test_fisher_diagonal_matches_autograd_squared_per_sample_gradients():
    model = _model(dropout=0.3)  # dropout must be off while the Fisher is estimated
    batches = _batches(_synthetic(10, 6), 4)  # 4 + 4 + 2 samples
    params = {k: v for m in model.modalities for k, v in model.modality_parameters(m).items()}
    expected = {k: torch.zeros_like(v) for k, v in params.items()}
    model.eval()
    n = 0
    for inputs, target in batches:
        for i in range(len(target)):
            one = {k: (tuple(t[i:i + 1] for t in v) if isinstance(v, tuple) else v[i:i + 1])
                   for k, v in inputs.items()}
            loss = torch.linalg.vector_norm(model(one) - target[i:i + 1], dim=-1).mean()
            grads = torch.autograd.grad(loss, list(params.values()))
            for k, g in zip(params, grads, strict=True):
                expected[k] += g ** 2
            n += 1
    model.train()
    for method in ("vmap", "loop"):
        fisher = fisher_diagonal(model, batches, method=method, chunk_size=3)
        assert set(fisher) == set(params)
        for k in params:
            torch.testing.assert_close(fisher[k], expected[k] / n, rtol=1e-4, atol=1e-12)
    assert model.training  # mode restored
    assert sum(float(f.sum()) for f in fisher.values()) > 0


def test_awc_penalty_value_and_gradient():
    model = _model()
    anchor = {k: v.detach().clone() for k, v in model.named_parameters()}
    gen = torch.Generator().manual_seed(0)
    fisher = {k: torch.rand(v.shape, generator=gen) for m in model.modalities
              for k, v in model.modality_parameters(m).items()}
    zero = awc_penalty(model, fisher, anchor, ("rgb",), ("mmwave", "wifi-csi"), 2e4, 1e4)
    assert float(zero.detach()) == 0.0
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * torch.randn(p.shape, generator=gen))
    pen = awc_penalty(model, fisher, anchor, ("rgb",), ("mmwave", "wifi-csi"), 2e4, 1e4)
    expected = 0.0
    for m, alpha in (("rgb", 2e4), ("mmwave", 1e4), ("wifi-csi", 1e4)):
        for k, p in model.modality_parameters(m).items():
            expected += alpha * float((fisher[k] * (p.detach() - anchor[k]) ** 2).sum()) / 2
    assert float(pen.detach()) == pytest.approx(expected, rel=1e-5)
    pen.backward()
    name, p = next(iter(model.modality_parameters("rgb").items()))
    torch.testing.assert_close(p.grad, 2e4 * fisher[name] * (p.detach() - anchor[name]))
    assert model.fusion.linear.weight.grad is None  # the fusion head is not constrained


def _drift(model: AWCPoseModel, start: AWCPoseModel, modality: str, fisher: dict | None = None) -> float:
    """Distance of an encoder's parameters from ``start``: Euclidean, or Fisher-weighted."""
    now, then = model.modality_parameters(modality), start.modality_parameters(modality)
    weight = {k: 1.0 if fisher is None else fisher[k] for k in now}
    return math.sqrt(sum(float((weight[k] * (now[k].detach() - then[k].detach()) ** 2).sum()) for k in now))


def _steps_with_penalty(model: AWCPoseModel, batches, superior, alpha_superior: float) -> None:
    """One epoch of Adam on L_MPJPE + L_AWC with a fixed superior set and alpha_I = 0."""
    anchor = {k: v.detach().clone() for k, v in model.named_parameters()}
    fisher = fisher_diagonal(model, batches)
    inferior = tuple(m for m in model.modalities if m not in superior)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for inputs, target in batches:
        loss = mpjpe_loss(model(inputs), target)
        loss = loss + awc_penalty(model, fisher, anchor, superior, inferior, alpha_superior, 0.0)
        opt.zero_grad()
        loss.backward()
        opt.step()


def test_awc_loss_pulls_the_superior_modality_towards_theta_0():
    """The constraint holds the superior encoder near its epoch-start parameters while the
    unconstrained (alpha_I = 0) inferior encoders move as freely as without it. A large alpha_S
    makes this visible within the few Adam steps a unit test can afford: the penalty gradient
    alpha F (theta - theta_0) only grows with the drift, so at the paper's 2e4 the pull builds up
    over many steps."""
    batches = _batches(_synthetic(96, 7), 16)
    start = _model(dropout=0.0)
    free, held = copy.deepcopy(start), copy.deepcopy(start)
    _steps_with_penalty(free, batches, ("rgb",), 0.0)
    _steps_with_penalty(held, batches, ("rgb",), 1e8)
    assert _drift(held, start, "rgb") < 0.5 * _drift(free, start, "rgb")
    for m in ("mmwave", "wifi-csi"):
        assert _drift(held, start, m) > 0.8 * _drift(free, start, m)


def test_train_awc_constrains_every_encoder_in_the_window():
    batches = _batches(_synthetic(96, 7), 16)
    start = _model(dropout=0.0)
    runs = {}
    for enabled in (False, True):
        model = copy.deepcopy(start)
        cfg = AWCConfig(epochs=1, window_epochs=1, enabled=enabled, alpha_superior=1e8, alpha_inferior=1e8)
        runs[enabled] = (model, train_awc(model, batches, cfg))
    assert runs[True][1].awc_loss[0] > 0 and runs[False][1].awc_loss[0] == 0
    # The quantity the constraint bounds: the Fisher-weighted squared drift of each encoder.
    fisher = fisher_diagonal(start, batches)
    for m in start.modalities:
        held, free = (_drift(runs[k][0], start, m, fisher) for k in (True, False))
        assert held < 0.3 * free, m


def test_loss_falls_and_the_constraint_stops_after_the_window():
    train = _batches(_synthetic(128, 8), 32)
    val = _batches(_synthetic(32, 9), 32)
    model = _model(dropout=0.0)
    cfg = AWCConfig(epochs=6, window_epochs=2, lr=3e-3, lr_step_epochs=30, fisher_max_batches=2)
    hist = train_awc(model, train, cfg, val_batches=val)
    assert hist.loss_m[-1] < 0.5 * hist.loss_m[0]
    assert all(a > 0 for a in hist.awc_loss[:2]) and all(a == 0 for a in hist.awc_loss[2:])
    assert all(f > 0 for f in hist.fisher_s[:2]) and all(f == 0 for f in hist.fisher_s[2:])
    assert hist.val[-1]["mpjpe_mm"] < hist.val[0]["mpjpe_mm"]
    assert hist.val[-1]["pa_mpjpe_mm"] <= hist.val[-1]["mpjpe_mm"]
    assert len(hist.shapley[-1]) == 3 and np.isfinite(hist.shapley_overhead_percent)
    ev = evaluate_awc(model, val)
    assert sum(ev["shapley_share"]) == pytest.approx(1.0)
    assert ev["mpjpe_mm"] == pytest.approx(hist.val[-1]["mpjpe_mm"])
    with torch.no_grad():
        loss_mm = 1000 * float(mpjpe_loss(model(val[0][0]), val[0][1]))
    assert loss_mm == pytest.approx(ev["mpjpe_mm"], rel=1e-4)


def test_config_validation():
    assert AWCConfig().alpha_superior == 2e4 and AWCConfig().window_epochs == 20
    with pytest.raises(ConfigError, match="window_epochs"):
        AWCConfig(epochs=10, window_epochs=20)
    with pytest.raises(ConfigError, match="alpha"):
        AWCConfig(alpha_inferior=-1.0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_runs_on_cuda():
    batches = _batches(_synthetic(32, 10), 16)
    model = _model()
    hist = train_awc(model, batches, AWCConfig(epochs=2, window_epochs=1), device="cuda")
    assert next(model.parameters()).is_cuda and np.isfinite(hist.loss_m).all()
