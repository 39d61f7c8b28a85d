"""milliMamba: shapes, Doppler crop, cross-view fusion, linear encoder cost, losses, overfitting, checkpoints.

Checkpoint round trip: ``radarkit/train/checkpoint.py`` did not exist when this was written, so the
round trip goes through ``torch.save``/``torch.load`` of the configuration dictionary and the
state dict.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from radarkit.models.millimamba import (
    PRESETS,
    MilliMamba,
    MilliMambaConfig,
    keypoint_loss,
    millimamba,
    millimamba_loss,
    velocity_loss,
)

torch.set_num_threads(1)

TINY = MilliMambaConfig(n_frames=8, n_out_frames=4, n_doppler=4, n_angle=16, n_range=16, patch_size=(8, 8),
                        d_model=32, d_state=8, encoder_layers=1, decoder_layers=1, n_heads=4, mlp_ratio=2.0,
                        dropout=0.0)


def _cubes(batch: int, frames: int, doppler: int = 4, seed: int = 0, config: MilliMambaConfig = TINY):
    g = torch.Generator().manual_seed(seed)
    shape = (batch, frames, doppler, config.n_angle, config.n_range)
    return tuple(torch.complex(torch.randn(shape, generator=g), torch.randn(shape, generator=g))
                 for _ in range(2))


def test_output_shape_range_and_frames():
    torch.manual_seed(0)
    model = MilliMamba(TINY).eval()
    hori, vert = _cubes(2, 10)
    out = model(hori, vert)
    assert out.shape == (2, TINY.n_out_frames, TINY.n_joints, 2)
    assert (out >= 0).all() and (out <= 256).all()
    assert model.output_frames(10) == slice(3, 7)
    with pytest.raises(ValueError, match="input frames"):
        model.output_frames(3)


def test_only_the_central_doppler_bins_are_used():
    torch.manual_seed(0)
    model = MilliMamba(TINY).eval()  # keeps 4 of 8 bins: indices 2..5 (zero velocity at 4)
    hori, vert = _cubes(1, 8, doppler=8)
    with torch.no_grad():
        ref = model(hori, vert)
        outer = hori.clone()
        outer[:, :, [0, 1, 6, 7]] *= 5.0
        torch.testing.assert_close(model(outer, vert), ref, atol=0, rtol=0)
        inner = hori.clone()
        inner[:, :, 4] *= 5.0
        assert (model(inner, vert) - ref).abs().max() > 1e-3


def test_views_are_fused_inside_the_encoder():
    torch.manual_seed(0)
    model = MilliMamba(TINY).eval()
    hori, vert = _cubes(1, 8)
    with torch.no_grad():
        feats = model.encode(hori, vert)
        vert2 = vert.clone()
        vert2[:, 0] *= -3.0  # change the vertical radar in frame 0 only
        feats2 = model.encode(hori, vert2)
    # without fusion the horizontal tokens would be bit-identical (separate tokenisers); they move in
    # frame 0 (spatial cross-view scan) and in every later frame (temporal scan)
    diff = (feats2[:, :, 0] - feats[:, :, 0]).abs().amax(dim=(0, 2, 3))
    assert diff[0] > 1e-3 and (diff[1:] > 0).all()


def test_encoder_cost_is_linear_in_the_number_of_frames():
    torch.manual_seed(0)
    model = MilliMamba(TINY).eval()
    flops = []
    for frames in (8, 16, 32):
        hori, vert = _cubes(1, frames)
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            model.encode(hori, vert)
        flops.append(counter.get_total_flops())
    assert flops[0] > 0
    assert flops[2] - flops[1] == 2 * (flops[1] - flops[0])   # equal steps per frame: no quadratic term


def test_keypoint_and_velocity_losses():
    rng = np.random.default_rng(0)
    size = (256.0, 192.0)
    target = torch.tensor(rng.uniform(0, 190, (2, 5, 14, 2)))
    shifted = target + torch.tensor([7.0, -3.0])
    assert float(velocity_loss(shifted, target, size)) == pytest.approx(0, abs=1e-15)
    assert keypoint_loss(shifted, target, size) > 0
    pred = target + torch.tensor(rng.normal(0, 4, target.shape))
    scale = np.array(size)
    expected_kpt = np.abs((pred.numpy() - target.numpy()) / scale).mean()
    v_pred, v_true = np.diff(pred.numpy() / scale, axis=1), np.diff(target.numpy() / scale, axis=1)
    expected_vel = np.abs(v_pred - v_true).mean()
    assert float(keypoint_loss(pred, target, size)) == pytest.approx(expected_kpt, rel=1e-12)
    assert float(velocity_loss(pred, target, size)) == pytest.approx(expected_vel, rel=1e-12)
    total, parts = millimamba_loss(pred, target, size, velocity_weight=0.5)
    assert float(total) == pytest.approx(expected_kpt + 0.5 * expected_vel, rel=1e-12)
    assert set(parts) == {"keypoint", "velocity"}
    # an unlabelled joint does not count, whatever its prediction
    visible = torch.ones(2, 5, 14)
    visible[:, :, 3] = 0
    wild = pred.clone()
    wild[:, :, 3] += 500.0
    assert float(millimamba_loss(wild, target, size, visible)[0]) == pytest.approx(
        float(millimamba_loss(pred, target, size, visible)[0]), rel=1e-12)
    with pytest.raises(ValueError, match="2 frames"):
        velocity_loss(pred[:, :1], target[:, :1], size)


def test_jitter_raises_the_velocity_loss_more_than_an_offset():
    rng = np.random.default_rng(1)
    target = torch.tensor(rng.uniform(50, 200, (1, 8, 14, 2)))
    sign = torch.tensor([1.0, -1.0] * 4).view(1, 8, 1, 1)
    jitter = target + 4.0 * sign       # +-4 px alternating from frame to frame
    offset = target + 4.0              # same keypoint error, no jitter
    size = (256.0, 256.0)
    assert keypoint_loss(jitter, target, size) == pytest.approx(float(keypoint_loss(offset, target, size)))
    assert float(velocity_loss(offset, target, size)) == pytest.approx(0, abs=1e-15)
    assert float(velocity_loss(jitter, target, size)) == pytest.approx(8.0 / 256)  # |+-8 px| every step


def test_tiny_model_overfits_one_batch():
    torch.manual_seed(0)
    model = MilliMamba(TINY)
    hori, vert = _cubes(2, 8, seed=1)
    g = torch.Generator().manual_seed(2)
    target = 40 + 176 * torch.rand(2, TINY.n_out_frames, TINY.n_joints, 2, generator=g)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(150):
        loss, _ = model.loss(model(hori, vert), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.15 * losses[0]
    with torch.no_grad():
        mpjpe = (model(hori, vert) - target).norm(dim=-1).mean()
    assert mpjpe < 15.0  # pixels of the 256 x 256 image; targets spread over 176 px


def test_checkpoint_round_trip_gives_identical_outputs():
    torch.manual_seed(0)
    model = MilliMamba(TINY, velocity_weight=0.3).eval()
    buf = io.BytesIO()
    torch.save({"config": model.config.to_dict(), "state_dict": model.state_dict()}, buf)
    buf.seek(0)
    saved = torch.load(buf, weights_only=True)
    config = MilliMambaConfig.from_dict(json.loads(json.dumps(saved["config"])))  # JSON-safe config
    assert config == model.config
    restored = MilliMamba(config).eval()
    restored.load_state_dict(saved["state_dict"])
    hori, vert = _cubes(2, 8, seed=3)
    with torch.no_grad():
        torch.testing.assert_close(restored(hori, vert), model(hori, vert), atol=0, rtol=0)


def test_config_validation_and_presets():
    with pytest.raises(ValueError, match="patch_size"):
        MilliMambaConfig(n_angle=60)
    with pytest.raises(ValueError, match="n_heads"):
        MilliMambaConfig(d_model=100, n_heads=8)
    with pytest.raises(ValueError, match="n_out_frames"):
        MilliMambaConfig(n_frames=4, n_out_frames=8)
    with pytest.raises(ValueError, match="unknown MilliMambaConfig fields"):
        MilliMambaConfig.from_dict({"depth": 3})
    with pytest.raises(ValueError, match="preset"):
        millimamba("huge")
    assert set(PRESETS) == {"small", "default"}
    small, default = (sum(p.numel() for p in millimamba(name).parameters()) for name in ("small", "default"))
    assert small < default
    assert PRESETS["default"].n_frames == 32 and 16 <= PRESETS["small"].n_frames <= 32


def test_real_valued_input_and_wrong_shapes():
    torch.manual_seed(0)
    model = MilliMamba(TINY, complex_input=False).eval()
    hori = torch.rand(1, 8, 4, 16, 16)
    assert model(hori, torch.rand(1, 8, 4, 16, 16)).shape == (1, 4, 14, 2)
    with pytest.raises(ValueError, match="real cube"):
        model(hori.to(torch.complex64), hori)
    with pytest.raises(ValueError, match="Doppler bins"):
        model(hori[:, :, :2], hori[:, :, :2])
    with pytest.raises(ValueError, match="differ"):
        model(hori, hori[:, :6])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_forward_matches_cpu():
    torch.manual_seed(0)
    model = MilliMamba(TINY).eval()
    hori, vert = _cubes(2, 8)
    with torch.no_grad():
        ref = model(hori, vert)
        out = model.cuda()(hori.cuda(), vert.cuda()).cpu()
    torch.testing.assert_close(out, ref, atol=1e-3, rtol=1e-3)
