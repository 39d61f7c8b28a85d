"""MAEPose ablation options: frozen-encoder head warm-up (LP-FT), positional embedding at the head."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from radarkit.data.clips import ClipSpec, RadarClips, SequenceData
from radarkit.pipelines.maepose_lopo import TrainSettings, finetune

torch.set_num_threads(1)

SPEC = ClipSpec(num_frames=8, n_target_frames=2, stride=2, normalise="minmax")


def _clips(n_frames: int = 24) -> RadarClips:
    rng = np.random.default_rng(0)
    maps = rng.normal(-60.0, 5.0, size=(1, n_frames, 8, 16)).astype(np.float32)
    joints = rng.uniform(0.2, 0.8, size=(n_frames, 13, 2)).astype(np.float32)
    seq = SequenceData("s1", maps, subject=1, joints=joints, weight=np.ones((n_frames, 13), np.float32))
    return RadarClips([seq], SPEC)


def _snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _changed(before: dict, after: dict) -> set[str]:
    return {k for k in before if before[k].is_floating_point() and not torch.equal(before[k], after[k])}


def test_head_warmup_freezes_the_encoder_then_trains_it():
    clips = _clips()
    settings = TrainSettings(heatmap_size=(8, 16), batch_size=4, finetune_epochs=3, head_warmup_epochs=2,
                             patience=100, device="cpu", seed=0)
    seen: list[tuple[dict, dict]] = []

    def record(epoch, tr, va, model):
        seen.append((_snapshot(model.encoder), _snapshot(model.head)))

    finetune(clips, None, SPEC, settings, on_epoch=record)
    # the initial encoder: rebuild with the same seed (finetune seeds before building)
    from radarkit.models.maepose import build_finetune
    from radarkit.pipelines.maepose_lopo import model_kwargs
    from radarkit.train.loop import seed_everything

    seed_everything(0)
    init = build_finetune("small", **model_kwargs("small", SPEC, clips.map_size, (8, 16)))
    enc0, head0 = _snapshot(init.encoder), _snapshot(init.head)
    assert len(seen) == 3
    # warm-up epochs 1 and 2: encoder weights bit-identical (no step, no weight decay), head trained
    for enc, head in seen[:2]:
        assert not _changed(enc0, enc)
        assert _changed(head0, head)
    # epoch 3: the encoder trains as well (every block's weights move)
    moved = _changed(seen[1][0], seen[2][0])
    assert any(k.startswith("blocks.0.") for k in moved) and any(k.startswith("patch_embed.") for k in moved)


def test_no_warmup_trains_the_encoder_from_the_first_epoch():
    clips = _clips()
    settings = TrainSettings(heatmap_size=(8, 16), batch_size=4, finetune_epochs=1, patience=100,
                             device="cpu", seed=0)
    from radarkit.models.maepose import build_finetune
    from radarkit.pipelines.maepose_lopo import model_kwargs
    from radarkit.train.loop import seed_everything

    seed_everything(0)
    enc0 = _snapshot(build_finetune("small", **model_kwargs("small", SPEC, clips.map_size, (8, 16))).encoder)
    model, _ = finetune(clips, None, SPEC, settings)
    assert _changed(enc0, _snapshot(model.encoder))


def test_negative_warmup_is_refused():
    with pytest.raises(ValueError, match="head_warmup_epochs"):
        TrainSettings(head_warmup_epochs=-1)


def test_head_pos_embed_gives_the_head_position_even_from_identical_tokens():
    from radarkit.models.maepose import MAEPose

    torch.manual_seed(0)
    kw = dict(in_chans=1, num_frames=8, img_size=(8, 16), patch_size=(4, 4, 4), embed_dim=24, depth=1,
              num_heads=2, n_joints=3, n_target_frames=2, heatmap_size=(8, 16), head_channels=8,
              drop_path=0.0)
    plain, with_pos = MAEPose(**kw), MAEPose(**kw, head_pos_embed=True)
    with_pos.load_state_dict(plain.state_dict())
    plain.eval(), with_pos.eval()
    x = torch.randn(2, 1, 8, 8, 16)
    with torch.no_grad():
        tokens = plain.encoder(x)
        assert torch.allclose(with_pos(x), with_pos.head(tokens + plain.encoder.pos_embed()))
        assert torch.allclose(plain(x), plain.head(tokens))
        # a collapsed encoder output (every token the same vector): the plain head's maps hold no
        # position apart from border effects, the head with positions differs between token cells
        same = tokens.mean(dim=1, keepdim=True).expand_as(tokens)
        feat = with_pos.head.temporal(
            (same + plain.encoder.pos_embed()).transpose(1, 2).reshape(2, 24, *plain.encoder.grid))
        flat = plain.head.temporal(same.transpose(1, 2).reshape(2, 24, *plain.encoder.grid))
    assert flat.std(dim=(-2, -1)).max() < 1e-5
    assert feat.std(dim=(-2, -1)).min() > 1e-3


def test_visible_weight_adds_the_visible_patches_mse_to_the_masked_loss():
    from radarkit.models.maepose import MAEPosePretrain, patchify
    from radarkit.train.maepose import pretrain_loss

    torch.manual_seed(0)
    mae = MAEPosePretrain(in_chans=1, num_frames=8, img_size=(8, 16), patch_size=(4, 4, 4), embed_dim=24,
                          depth=1, num_heads=2, decoder_embed_dim=16, decoder_depth=1, decoder_num_heads=2)
    x = torch.randn(3, 1, 8, 8, 16)
    dev = torch.device("cpu")
    gen = lambda: torch.Generator().manual_seed(5)  # noqa: E731 - equal masks for every call
    plain = pretrain_loss(mae, x, dev, generator=gen())
    both = pretrain_loss(mae, x, dev, generator=gen(), visible_weight=0.5)
    _, pred, mask = mae(x, generator=gen())
    per_patch = ((pred - patchify(x, (4, 4, 4))) ** 2).mean(dim=-1)
    masked = (per_patch * mask).sum() / mask.sum()
    visible = (per_patch * (1 - mask)).sum() / (1 - mask).sum()
    assert torch.allclose(plain, masked) and torch.allclose(both, masked + 0.5 * visible)
    assert visible > 0


def test_pretrain_log_shows_val_only_when_there_are_validation_clips():
    from radarkit.pipelines.maepose_lopo import pretrain

    clips = _clips()
    settings = TrainSettings(heatmap_size=(8, 16), batch_size=4, pretrain_epochs=1, patience=100,
                             device="cpu", seed=0)
    lines: list[str] = []
    pretrain(clips, None, SPEC, settings, echo=lines.append)
    assert len(lines) == 1 and "train" in lines[0] and "val" not in lines[0]
    lines.clear()
    pretrain(clips, clips, SPEC, settings, echo=lines.append)
    assert len(lines) == 1 and " val " in lines[0]


def test_encoder_overrides_size_both_stages_and_the_encoder_transfers():
    from radarkit.pipelines.maepose_lopo import pretrain

    clips = _clips()
    settings = TrainSettings(heatmap_size=(8, 16), embed_dim=48, depth=2, num_heads=3, batch_size=4,
                             pretrain_epochs=1, finetune_epochs=1, patience=100, device="cpu", seed=0)
    assert settings.encoder == {"embed_dim": 48, "depth": 2, "num_heads": 3}
    pre, _ = pretrain(clips, None, SPEC, settings)
    fine, _ = finetune(clips, None, SPEC, settings, encoder_state=pre.encoder.state_dict())
    for model in (pre.encoder, fine.encoder):
        assert len(model.blocks) == 2
        assert model.embed_dim == 48 and model.pos_embed().shape[-1] == 48
        assert model.blocks[0].attn.num_heads == 3
    # the preset's sizes when not overridden: 4 blocks of width 96 ("small")
    plain_settings = TrainSettings(heatmap_size=(8, 16), batch_size=4, pretrain_epochs=1, device="cpu")
    plain, _ = pretrain(clips, None, SPEC, plain_settings)
    assert len(plain.encoder.blocks) == 4 and plain.encoder.embed_dim == 96


def test_patch_size_override_sets_the_token_grid_of_both_stages():
    from radarkit.pipelines.maepose_lopo import pretrain

    clips = _clips()
    frames = clips.spec.num_frames
    settings = TrainSettings(heatmap_size=(8, 16), patch_size=[2, 4, 4], batch_size=4, pretrain_epochs=1,
                             finetune_epochs=1, patience=100, device="cpu", seed=0)
    assert settings.encoder == {"patch_size": (2, 4, 4)}
    pre, _ = pretrain(clips, None, SPEC, settings)
    fine, _ = finetune(clips, None, SPEC, settings, encoder_state=pre.encoder.state_dict())
    for model in (pre.encoder, fine.encoder):
        assert tuple(model.patch_size) == (2, 4, 4)
        assert tuple(model.grid) == (frames // 2, 8 // 4, 16 // 4)


def test_tube_masking_setting_reaches_the_pretraining_model():
    import torch

    from radarkit.pipelines.maepose_lopo import pretrain

    clips = _clips()
    settings = TrainSettings(heatmap_size=(8, 16), tube_masking=True, mask_ratio=0.5, batch_size=4,
                             pretrain_epochs=1, device="cpu", seed=0)
    mae, _ = pretrain(clips, None, SPEC, settings)
    assert mae.tube_masking
    x = torch.from_numpy(np.stack([clips.clip(i) for i in range(2)]))
    _, _, mask = mae(x, generator=torch.Generator().manual_seed(0))
    t, h, w = mae.encoder.grid
    per_slot = mask.reshape(2, t, h * w)
    assert torch.equal(per_slot, per_slot[:, :1].expand_as(per_slot))  # the same patches in every slot
    assert 0 < per_slot[:, 0].sum(-1).min() < h * w


def test_bad_encoder_sizes_are_refused():
    from radarkit.pipelines.maepose_lopo import model_kwargs

    with pytest.raises(ValueError, match="depth"):
        TrainSettings(depth=0)
    with pytest.raises(ValueError, match="patch_size"):
        TrainSettings(patch_size=(4, 0, 4))
    with pytest.raises(ValueError, match="patch_size"):
        TrainSettings(patch_size=(4, 4))
    with pytest.raises(KeyError, match="mlp_ratio"):
        model_kwargs("small", SPEC, (8, 16), encoder={"mlp_ratio": 2})


def test_plane_option_reaches_the_clip_spec_and_yz_needs_no_range_shift(tmp_path, monkeypatch, capsys):
    import radarkit.pipelines.maepose_lopo as lopo

    seen = {}

    def fake_run_lopo(data, spec, settings, *args, **kwargs):
        seen["spec"], seen["settings"] = spec, settings
        return {"table": "", "mean": {}, "acceptance": {}, "seconds": 0.0}

    monkeypatch.setattr(lopo, "run_lopo", fake_run_lopo)
    lopo.main(["--data", str(tmp_path), "--work", str(tmp_path / "w"), "--plane", "yz", "--range-shift", "0"])
    assert seen["spec"].plane == "yz" and seen["settings"].range_shift == 0
    lopo.main(["--data", str(tmp_path), "--work", str(tmp_path / "w")])
    assert seen["spec"].plane == "xz" and seen["settings"].range_shift == 6  # the defaults
    seen.clear()
    with pytest.raises(SystemExit) as err:
        lopo.main(["--data", str(tmp_path), "--plane", "yz"])  # default --range-shift 6
    assert err.value.code == 2 and "needs --range-shift 0" in capsys.readouterr().err
    assert not seen  # refused before any work


@pytest.mark.parametrize("norm_pix", [False, True])
def test_masked_loss_reference_is_compared_in_the_targets_space(norm_pix):
    """Clips that all equal their mean clip: predicting the mean is exact, in pixel space and, with
    the normalised-patch loss, after both sides are standardised per patch."""
    from radarkit.models.maepose import MAEPosePretrain
    from radarkit.pipelines.maepose_lopo import masked_loss, mean_clip

    torch.manual_seed(0)
    rng = np.random.default_rng(1)
    frame = rng.normal(-60.0, 5.0, size=(1, 1, 8, 16)).astype(np.float32)
    maps = np.repeat(frame, 24, axis=1)  # every frame alike: every clip is the mean clip
    clips = RadarClips([SequenceData("s1", maps, subject=1)], SPEC, labels=False)
    mae = MAEPosePretrain(in_chans=1, num_frames=8, img_size=(8, 16), patch_size=(4, 4, 4), embed_dim=24,
                          depth=1, num_heads=2, decoder_embed_dim=16, decoder_depth=1, decoder_num_heads=2,
                          norm_pix_loss=norm_pix)
    out = masked_loss(mae, clips, mean_clip=mean_clip(clips))
    assert out["mean_loss"] < 1e-6 < out["loss"]
