"""MAEPose: paper shapes and parameter counts, masking, patches, heatmaps, training, folds."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch

from radarkit.data.folds import fold_masks, lopo_folds
from radarkit.models.maepose import (
    PRESETS,
    MAEPose,
    MAEPosePretrain,
    PatchEmbed3d,
    build_finetune,
    build_pretrain,
    count_parameters,
    gaussian_heatmaps,
    heatmap_loss,
    heatmaps_to_joints,
    param_groups_lrd,
    patchify,
    random_masking,
    sincos_pos_embed_3d,
    unpatchify,
)
from radarkit.train.maepose import (
    EarlyStopping,
    evaluate,
    finetune_epoch,
    finetune_optimizer,
    finetune_step,
    fit,
    predict,
    pretrain_optimizer,
    pretrain_step,
    warmup_cosine,
)

torch.set_num_threads(1)

TINY = dict(in_chans=2, num_frames=8, img_size=(8, 12), patch_size=(2, 4, 4), embed_dim=48, depth=2,
            num_heads=4)
TINY_HEAD = dict(n_joints=3, n_target_frames=2, heatmap_size=(8, 12), head_channels=16)


def _vit_params(dim: int, depth: int, patch_numel: int, mlp_ratio: int = 4) -> int:
    """Independent count of a pre-norm ViT: per block qkv + proj + 2 MLP layers + 2 LayerNorms."""
    block = (3 * dim * dim + 3 * dim) + (dim * dim + dim) + (mlp_ratio * dim * dim + mlp_ratio * dim) \
        + (mlp_ratio * dim * dim + dim) + 4 * dim
    return depth * block + (patch_numel * dim + dim) + 2 * dim


# ------------------------------------------------------------------ paper configuration


def test_paper_configuration_shapes_and_parameter_counts():
    cfg = PRESETS["paper"]
    with torch.device("meta"):  # shapes without computation or memory
        pre = build_pretrain("paper")
        ft = build_finetune("paper")
        x = torch.empty(2, 1, 20, 256, 256)
        loss, pred, mask = pre(x)
        heat = ft(x)
    assert pre.encoder.grid == (10, 16, 16) and pre.encoder.num_tokens == 2560
    assert loss.shape == () and pred.shape == (2, 2560, 2 * 16 * 16) and mask.shape == (2, 2560)
    assert heat.shape == (2, 5, 13, 64, 64)
    n_enc = count_parameters(pre.encoder)
    assert n_enc == _vit_params(384, 12, 1 * 2 * 16 * 16) == 21_491_328
    assert abs(n_enc - 21e6) / 21e6 < 0.03  # "about 21 M" (learned-models.md)
    assert count_parameters(ft.encoder) == n_enc
    # Decoder: input projection 384->512, mask token, 4 blocks of 512, norm, prediction 512->512 px.
    n_dec = 384 * 512 + 512 + 512 + _vit_params(512, 4, 0) - 512 + 512 * 512 + 512
    assert count_parameters(pre.decoder) == n_dec
    assert (cfg["embed_dim"], cfg["depth"], cfg["num_heads"]) == (384, 12, 6)
    assert (cfg["decoder_embed_dim"], cfg["decoder_depth"], cfg["decoder_num_heads"]) == (512, 4, 16)
    assert [blk.attn.num_heads for blk in pre.decoder.blocks] == [16] * 4


def test_learned_positional_embedding_adds_separable_parameters():
    with torch.device("meta"):
        sincos = build_pretrain("paper")
        learned = build_pretrain("paper", pos_embed="learned")
    assert count_parameters(learned.encoder) - count_parameters(sincos.encoder) == (256 + 10) * 384


# ------------------------------------------------------------------ masking


@pytest.mark.parametrize("grid", [(10, 16, 16), (5, 4, 6)])
def test_random_masking_keeps_exactly_ten_percent(grid):
    n = math.prod(grid)
    g = torch.Generator().manual_seed(0)
    m = random_masking(3, grid, 0.9, generator=g)
    n_keep = round(n * 0.1)
    assert m.ids_keep.shape == (3, n_keep)
    assert torch.all(m.mask.sum(dim=1) == n - n_keep)
    for b in range(3):
        assert len(set(m.ids_keep[b].tolist())) == n_keep  # distinct tokens
        assert torch.all(m.mask[b, m.ids_keep[b]] == 0)  # exactly the kept ones are visible
    # the decoder's [visible tokens, mask tokens] gathered by ids_restore is back in grid order
    tokens = torch.arange(n).expand(3, n)
    seq = torch.cat([torch.gather(tokens, 1, m.ids_keep), torch.full((3, n - n_keep), -1)], dim=1)
    expected = torch.where(m.mask.bool(), torch.full_like(tokens, -1), tokens)
    assert torch.equal(torch.gather(seq, 1, m.ids_restore), expected)
    assert not torch.equal(m.mask[0], m.mask[1])  # independent per sample


def test_tube_masking_masks_the_same_positions_in_every_time_slot():
    grid = (10, 16, 16)
    m = random_masking(2, grid, 0.9, tube=True, generator=torch.Generator().manual_seed(1))
    mask = m.mask.reshape(2, 10, 256)
    assert torch.all(mask == mask[:, :1])
    # 10 % of the 256 spatial positions is not an integer: round(25.6) = 26 kept per time slot
    assert torch.all(mask.sum(dim=(1, 2)) == 2560 - 10 * 26) and m.ids_keep.shape == (2, 260)
    # the decoder's restore permutation still puts tokens back in grid order
    visible = torch.zeros(2, 2560)
    visible.scatter_(1, m.ids_keep, 1.0)
    assert torch.equal(visible, 1 - m.mask)
    tokens = torch.arange(2560).expand(2, 2560)
    seq = torch.cat([torch.gather(tokens, 1, m.ids_keep), torch.full((2, 2304), -1)], dim=1)
    assert torch.equal(torch.gather(seq, 1, m.ids_restore), torch.where(m.mask.bool(), -1, tokens))


def test_masking_ratio_outside_range_is_refused():
    with pytest.raises(ValueError, match="mask_ratio"):
        random_masking(1, (2, 2, 2), 1.0)


# ------------------------------------------------------------------ patches and embeddings


def test_patchify_unpatchify_round_trip_non_square_multichannel():
    x = torch.randn(2, 3, 8, 12, 20)
    p = patchify(x, (2, 4, 5))
    assert p.shape == (2, 4 * 3 * 4, 2 * 4 * 5 * 3)
    assert torch.equal(unpatchify(p, (2, 4, 5), (4, 3, 4), 3), x)
    # token (t=1, h=2, w=3) holds exactly that space-time block, ordered (t, h, w, C)
    block = x[:, :, 2:4, 8:12, 15:20].permute(0, 2, 3, 4, 1).reshape(2, -1)
    assert torch.equal(p[:, (1 * 3 + 2) * 4 + 3], block)


def test_patch_embedding_is_a_linear_map_of_the_patchified_tokens():
    torch.manual_seed(0)
    emb = PatchEmbed3d(2, 16, (2, 4, 4))
    x = torch.randn(1, 2, 4, 8, 12)
    w = emb.proj.weight.permute(0, 2, 3, 4, 1).reshape(16, -1)  # (D, t h w C) in patchify's order
    expected = patchify(x, (2, 4, 4)) @ w.T + emb.proj.bias
    torch.testing.assert_close(emb(x), expected, rtol=1e-5, atol=1e-5)


def test_sizes_not_multiple_of_patch_are_refused():
    with pytest.raises(ValueError, match="multiple"):
        MAEPosePretrain(**{**TINY, "img_size": (10, 12)})
    with pytest.raises(ValueError, match="target frames"):
        MAEPose(**TINY, **{**TINY_HEAD, "n_target_frames": 3})


def test_sincos_embedding_gives_distinct_bounded_codes():
    pe = sincos_pos_embed_3d(384, (10, 16, 16))
    assert pe.shape == (2560, 384) and pe.dtype == torch.float32
    assert float(pe.abs().max()) <= 1.0
    assert len({tuple(np.round(r, 5)) for r in pe.numpy()}) == 2560
    # time, height and width each occupy an equal sin/cos half-split block: sin^2 + cos^2 = 1
    t_part = pe[:, :128]
    torch.testing.assert_close(t_part[:, :64] ** 2 + t_part[:, 64:] ** 2, torch.ones(2560, 64))


# ------------------------------------------------------------------ heatmaps


def test_gaussian_targets_decode_back_to_their_joints():
    joints = torch.tensor([[[0.1, 0.2], [0.55, 0.9], [0.97, 0.03]]])
    hm = gaussian_heatmaps(joints, (32, 48), sigma=2.0)
    assert hm.shape == (1, 3, 32, 48)
    assert float(hm.max()) <= 1.0
    hard = heatmaps_to_joints(hm)
    # argmax lands on the pixel containing the joint: within half a pixel
    assert torch.all((hard - joints).abs() <= torch.tensor([0.5 / 48, 0.5 / 32]) + 1e-6)
    # soft-argmax is sub-pixel for joints away from the border (default beta for unit-peak targets)
    soft = heatmaps_to_joints(hm, soft=True)
    assert torch.all((soft[0, :2] - joints[0, :2]).abs() < torch.tensor([0.1 / 48, 0.1 / 32]))
    assert not torch.all((hard[0, :2] - joints[0, :2]).abs() < torch.tensor([0.1 / 48, 0.1 / 32]))


def test_gaussian_targets_match_the_numpy_target_builder():
    # radarkit.data.heatmaps builds the same sub-pixel Gaussians in numpy (pixel index = centre):
    # normalised (x, y) -> pixels (x W - 0.5, y H - 0.5) at stride 1, untruncated.
    from radarkit.data.heatmaps import gaussian_heatmaps as numpy_targets

    joints = torch.tensor([[0.1, 0.2], [0.55, 0.9], [0.37, 0.61]], dtype=torch.float64)
    ours = gaussian_heatmaps(joints, (16, 24), sigma=1.5).numpy()
    pixels = joints.numpy() * [24, 16] - 0.5
    ref, _ = numpy_targets(pixels, (16, 24), stride=1.0, sigma=1.5, round_centre=False, truncate=None)
    np.testing.assert_allclose(ours, ref, atol=1e-6)


def test_heatmap_loss_weights_maps():
    pred = torch.zeros(1, 2, 2, 4, 4)
    target = torch.ones(1, 2, 2, 4, 4)
    w = torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])
    assert heatmap_loss(pred, target).item() == pytest.approx(1.0)
    assert heatmap_loss(pred, target, w).item() == pytest.approx(0.25)


# ------------------------------------------------------------------ models on CPU


def test_tiny_models_forward_shapes_and_encoder_transfer():
    torch.manual_seed(0)
    pre = MAEPosePretrain(**TINY, decoder_embed_dim=32, decoder_depth=1, decoder_num_heads=4)
    ft = MAEPose(**TINY, **TINY_HEAD, drop_path=0.0)
    x = torch.randn(2, 2, 8, 8, 12)
    loss, pred, mask = pre(x)
    assert pred.shape == (2, 4 * 2 * 3, 2 * 4 * 4 * 2) and mask.sum().item() == 2 * (24 - 2)
    ft.load_encoder(pre)
    pre.eval()
    ft.eval()
    torch.testing.assert_close(ft.encoder(x), pre.encoder(x))
    assert ft(x).shape == (2, 2, 3, 8, 12)
    with pytest.raises(ValueError, match="clips must be"):
        ft(torch.randn(2, 1, 8, 8, 12))
    with pytest.raises(ValueError, match="does not match"):
        MAEPose(**{**TINY, "embed_dim": 32}, **TINY_HEAD).load_encoder(pre)


def test_reconstruction_keeps_visible_patches():
    torch.manual_seed(0)
    pre = MAEPosePretrain(**TINY, decoder_embed_dim=32, decoder_depth=1, decoder_num_heads=4,
                          norm_pix_loss=True)
    x = torch.randn(1, 2, 8, 8, 12)
    _, pred, mask = pre(x)
    rec = pre.reconstruct(x, pred, mask)
    vis = (1 - mask).bool()[0]
    torch.testing.assert_close(patchify(rec, (2, 4, 4))[0, vis], patchify(x, (2, 4, 4))[0, vis])
    assert not torch.allclose(patchify(rec, (2, 4, 4))[0, ~vis], patchify(x, (2, 4, 4))[0, ~vis])


def test_layerwise_lr_decay_groups():
    ft = MAEPose(**TINY, **TINY_HEAD)
    groups = param_groups_lrd(ft, weight_decay=0.05, layer_decay=0.5)
    ids = [id(p) for g in groups for p in g["params"]]
    assert sorted(ids) == sorted(id(p) for p in ft.parameters())  # every parameter exactly once
    scale = {g["layer_id"]: g["lr_scale"] for g in groups}
    assert scale == {0: 0.125, 1: 0.25, 2: 0.5, 3: 1.0}  # depth 2: embed, 2 blocks, top
    head_ids = {id(p) for p in ft.head.parameters()}
    for g in groups:
        for p in g["params"]:
            if id(p) in head_ids:
                assert g["layer_id"] == 3
            assert g["weight_decay"] == (0.0 if p.ndim == 1 else 0.05)
    opt = finetune_optimizer(ft, lr=1e-3, layer_decay=0.5)
    assert sorted(g["lr"] for g in opt.param_groups)[0] == pytest.approx(1.25e-4)


def test_tiny_pretrain_overfits_one_batch():
    torch.manual_seed(0)
    pre = MAEPosePretrain(**TINY, decoder_embed_dim=32, decoder_depth=1, decoder_num_heads=4, mask_ratio=0.75)
    x = torch.randn(2, 2, 8, 8, 12)
    opt = pretrain_optimizer(pre, lr=3e-3, weight_decay=0.0)
    losses = [pretrain_step(pre, x, opt, generator=torch.Generator().manual_seed(0)) for _ in range(150)]
    # the mean predictor of unit-variance noise scores ~1; memorising the batch goes far below it
    assert losses[0] > 0.8
    assert np.mean(losses[-5:]) < 0.25 * losses[0]


def test_tiny_finetune_overfits_one_batch_and_locates_joints():
    torch.manual_seed(0)
    ft = MAEPose(**TINY, **TINY_HEAD, drop_path=0.0)
    x = torch.randn(2, 2, 8, 8, 12)
    # joints within a quarter pixel of a pixel centre (heatmaps are 8 x 12, x along the 12): a joint
    # on the border of two pixels has no "own" pixel for an arg-max decoder to find
    cells = torch.stack([torch.randint(1, 11, (2, 2, 3)), torch.randint(1, 7, (2, 2, 3))], dim=-1)
    offsets = (torch.rand(2, 2, 3, 2) - 0.5) * 0.5
    joints = (cells + 0.5 + offsets) / torch.tensor([12.0, 8.0])
    weight = torch.ones(2, 2, 3)
    batch = (x, joints, weight)
    opt = finetune_optimizer(ft, lr=3e-3, weight_decay=0.0, layer_decay=1.0)
    before = evaluate(ft, [batch], sigma=1.0)
    losses = [finetune_step(ft, batch, opt, sigma=1.0) for _ in range(200)]
    after = evaluate(ft, [batch], sigma=1.0)
    assert np.mean(losses[-5:]) < 0.01 * losses[0]
    # argmax decoding of a fitted heatmap lands on the joint's own pixel: within half a pixel
    # diagonal of the label (normalised units; heatmaps are 8 x 12)
    half_diag = math.hypot(0.5 / 12, 0.5 / 8)
    out = predict(ft, [batch])
    assert np.linalg.norm(out["pred"] - out["target"], axis=-1).max() <= half_diag + 1e-6
    assert after["mpjpe"] <= half_diag and before["mpjpe"] > 2 * half_diag
    assert evaluate(ft, [batch], threshold=half_diag + 1e-6)["pck"] == 1.0


def test_warmup_cosine_schedule_keeps_layer_decay_ratios():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 1))
    opt = torch.optim.AdamW([{"params": model[0].parameters(), "lr": 1e-4},
                             {"params": model[1].parameters(), "lr": 1e-3}])
    sched = warmup_cosine(opt, total_steps=10, warmup_steps=2, min_ratio=0.1)
    lrs = []
    for _ in range(12):
        lrs.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()
    lrs = np.array(lrs)
    assert np.allclose(lrs[:, 0] * 10, lrs[:, 1])  # every group scaled alike
    assert lrs[0, 1] == pytest.approx(0.5e-3) and lrs[2, 1] == pytest.approx(1e-3)  # warm-up to the peak
    assert np.all(np.diff(lrs[2:11, 1]) < 0)  # cosine decay
    assert lrs[10, 1] == pytest.approx(1e-4) and lrs[11, 1] == pytest.approx(1e-4)  # floor after the end
    with pytest.raises(ValueError):
        warmup_cosine(opt, total_steps=0)


def test_early_stopping_restores_the_best_weights():
    torch.manual_seed(0)
    ft = MAEPose(**TINY, **TINY_HEAD, drop_path=0.0)
    batch = (torch.randn(2, 2, 8, 8, 12), torch.rand(2, 2, 3, 2), torch.ones(2, 2, 3))
    opt = finetune_optimizer(ft, lr=1e-3, weight_decay=0.0)
    vals = iter([3.0, 1.0, 2.0, 2.5, 1.5, 0.5])
    snapshots = []

    def validate() -> float:
        snapshots.append({k: v.clone() for k, v in ft.state_dict().items()})
        return next(vals)

    hist = fit(ft, functools.partial(finetune_epoch, ft, [batch], opt), validate, max_epochs=6, patience=3)
    assert [h["epoch"] for h in hist] == [0, 1, 2, 3, 4]  # 3 epochs without beating 1.0 -> stop
    for k, v in ft.state_dict().items():
        assert torch.equal(v, snapshots[1][k])
    es = EarlyStopping(patience=2)
    assert not es.step(1.0, 0) and not es.step(1.0, 1) and es.step(1.0, 2)


def test_pretrain_then_finetune_through_the_generic_loop(tmp_path):
    # pre-train with radarkit.train.loop.fit and pretrain_loss as its step function, then load the
    # checkpointed encoder into the fine-tuning model
    from radarkit.train.checkpoint import load_checkpoint
    from radarkit.train.loop import fit as loop_fit
    from radarkit.train.maepose import finetune_loss, pretrain_loss

    torch.manual_seed(0)
    pre = MAEPosePretrain(**TINY, decoder_embed_dim=32, decoder_depth=1, decoder_num_heads=4, mask_ratio=0.75)
    clips = [torch.randn(2, 2, 8, 8, 12)]
    rows = loop_fit(pre, pretrain_optimizer(pre, lr=3e-3), clips, pretrain_loss, epochs=20, out_dir=tmp_path,
                    name="maepose-pretrain", device="cpu", progress=False)
    assert len(rows) == 20 and rows[-1]["train_loss"] < 0.7 * rows[0]["train_loss"]
    restored = MAEPosePretrain(**TINY, decoder_embed_dim=32, decoder_depth=1, decoder_num_heads=4)
    load_checkpoint(tmp_path / "last.ckpt", restored, name="maepose-pretrain")
    ft = MAEPose(**TINY, **TINY_HEAD)
    ft.load_encoder(restored)
    ft.eval()
    pre.eval()
    torch.testing.assert_close(ft.encoder(clips[0]), pre.encoder(clips[0]))
    batch = (clips[0], torch.rand(2, 2, 3, 2))
    assert finetune_loss(ft, batch, torch.device("cpu")).ndim == 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_forward_and_step():
    ft = MAEPose(**TINY, **TINY_HEAD).cuda()
    batch = (torch.randn(2, 2, 8, 8, 12), torch.rand(2, 2, 3, 2))
    loss = finetune_step(ft, batch, finetune_optimizer(ft))
    assert math.isfinite(loss)


# ------------------------------------------------------------------ folds


def test_lopo_folds_cover_each_person_once_with_seeded_split():
    subjects = [3, 1, 2, 4, 5, 1]
    folds = lopo_folds(subjects, n_val=1, seed=42)
    assert [f.test for f in folds] == [1, 2, 3, 4, 5]
    for f in folds:
        assert len(f.val) == 1 and len(f.train) == 3
        assert set(f.train) | set(f.val) | {f.test} == {1, 2, 3, 4, 5}
        assert not set(f.train) & set(f.val) and f.test not in f.train + f.val
    assert folds == lopo_folds(list(reversed(subjects)), n_val=1, seed=42)  # order-independent
    other = [lopo_folds(subjects, n_val=1, seed=s) for s in range(10)]
    assert any(o != folds for o in other)  # the seed matters
    tr, va, te = fold_masks(subjects, folds[0])
    assert te.tolist() == [False, True, False, False, False, True]
    assert not np.any(tr & va) and not np.any(tr & te) and not np.any(va & te)
    with pytest.raises(ValueError):
        lopo_folds([1, 2], n_val=1)
