"""HuPR model (radarkit.models.hupr) and heatmap targets/decoding (radarkit.data.heatmaps)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from radarkit.data.heatmaps import decode_heatmaps, gaussian_heatmaps
from radarkit.models.hupr import (
    PRESETS,
    Conv3d,
    HuPR,
    HuPRConfig,
    MNet,
    get_config,
    hupr,
    hupr_loss,
    vrdae_to_input,
)
from radarkit.skeleton import HUPR14

torch.set_num_threads(1)

#: The small preset on a reduced grid: same architecture, fast enough for unit tests.
TINY = dict(n_frames=4, n_doppler=4, n_range=16, n_azimuth=16, n_elevation=2)


def _inputs(cfg: HuPRConfig, batch: int, seed: int = 0, device: str = "cpu"):
    g = torch.Generator().manual_seed(seed)
    shape = cfg.input_shape(batch)
    return torch.randn(shape, generator=g).to(device), torch.randn(shape, generator=g).to(device)


def test_paper_preset_parameters_and_output_shape():
    with torch.device("meta"):  # shapes only: no memory, no FLOPs
        model = hupr("paper")
        hori, vert = (torch.empty(PRESETS["paper"].input_shape(2)) for _ in range(2))
        initial, refined = model(hori, vert)
    n_params = sum(p.numel() for p in model.parameters())
    assert abs(n_params - 35.5e6) / 35.5e6 < 0.02, n_params
    assert PRESETS["paper"].input_shape(2) == (2, 8, 8, 2, 64, 64, 8)
    assert tuple(initial.shape) == tuple(refined.shape) == (2, 14, 64, 64)
    # the PRGCN layers are (64/2 * 64/2)^2 weights each, as in the paper
    assert model.gcn.weights[0].shape == (1024, 1024)


def test_small_preset_full_size_forward():
    model = hupr("small").eval()
    assert sum(p.numel() for p in model.parameters()) < 0.15 * 35.5e6
    hori, vert = _inputs(model.config, 1)
    with torch.no_grad():
        initial, refined = model(hori, vert)
    assert initial.shape == refined.shape == (1, 14, 64, 64)
    assert float(refined.min()) >= 0.0 and float(refined.max()) <= 1.0


def test_decoder_width_is_its_own_and_small_widens_only_the_decoder(tmp_path):
    """``decoder_filters`` sets the 2-D decoder's width alone; the paper's decoder shares D."""
    paper, small = get_config("paper"), get_config("small")
    assert paper.decoder_filters is None and small.decoder_filters == 8 and small.n_filters == 4
    base = get_config("small", decoder_filters=None, **TINY)
    narrow, wide = HuPR(base), HuPR(get_config(base, decoder_filters=8))
    assert narrow.decoder.head.in_channels == 4 and wide.decoder.head.in_channels == 8
    assert wide.decoder.stage3[0].body[0].out_channels == 64  # 8 D'
    assert wide.decoder.stage3[0].body[0].in_channels == narrow.decoder.stage3[0].body[0].in_channels
    # the encoders, fusion and PRGCN are the same modules with the same shapes
    for part in ("mnet", "encoders", "fusion", "gcn"):
        a, b = getattr(narrow, part).state_dict(), getattr(wide, part).state_dict()
        assert {k: v.shape for k, v in a.items()} == {k: v.shape for k, v in b.items()}
    hori, vert = _inputs(wide.config, 2)
    with torch.no_grad():
        assert wide.eval()(hori, vert)[1].shape == (2, 14, 16, 16)
    for bad in (0, -4):
        with pytest.raises(ValueError, match="decoder_filters"):
            get_config("small", decoder_filters=bad)
    # a checkpoint written before the field existed (no key) loads with D' = D, as it was trained
    from radarkit.train.checkpoint import save_checkpoint
    from radarkit.train.hupr import load_hupr

    old = {k: v for k, v in narrow.config.to_dict().items() if k != "decoder_filters"}
    save_checkpoint(tmp_path / "old.ckpt", narrow, name="hupr", config={"model": old})
    loaded, _ = load_hupr(tmp_path / "old.ckpt")
    assert loaded.config.decoder_filters is None and loaded.decoder.head.in_channels == 4
    with torch.no_grad():
        torch.testing.assert_close(loaded.eval()(hori, vert)[1], narrow.eval()(hori, vert)[1],
                                   rtol=0, atol=0)


@pytest.mark.parametrize(("kernel", "padding", "bias"), [
    (3, 1, True),
    ((5, 3, 1), (2, 1, 0), False),
    ((1, 3, 3), (0, 1, 1), True),
])
def test_cpu_conv3d_equals_torch_conv3d(kernel, padding, bias):
    """The CPU 2-D form (temporal offsets stacked as channels) gives nn.Conv3d's output and
    gradients with the same weights, for temporal kernels of 1, 3 and 5 frames."""
    torch.manual_seed(0)
    ours = Conv3d(3, 5, kernel, padding=padding, bias=bias)
    ref = torch.nn.Conv3d(3, 5, kernel, padding=padding, bias=bias)
    ref.load_state_dict(ours.state_dict())
    x = torch.randn(2, 3, 4, 9, 7, requires_grad=True)
    y_ours, y_ref = ours(x), ref(x)
    assert y_ours.shape == y_ref.shape == (2, 5, 4, 9, 7)
    torch.testing.assert_close(y_ours, y_ref, atol=1e-5, rtol=1e-5)
    g = torch.randn_like(y_ref)
    params = ["weight", "bias"] if bias else ["weight"]
    grads_ours = torch.autograd.grad(y_ours, [x] + [getattr(ours, n) for n in params], g)
    grads_ref = torch.autograd.grad(y_ref, [x] + [getattr(ref, n) for n in params], g)
    for a, b in zip(grads_ours, grads_ref, strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("n_doppler", [2, 8, 16])
def test_mnet_equals_official_conv3d_and_max_pool(n_doppler):
    """MNet's einsum form gives the official Conv3d (kernel = stride = (2, 1, 1)) + MaxPool3d
    over the K/2 Doppler pairs: output and gradients of input, weight and bias."""
    torch.manual_seed(1)
    ours = MNet(n_doppler, 5)
    conv = torch.nn.Conv3d(2, 5, kernel_size=(2, 1, 1), stride=(2, 1, 1))
    conv.load_state_dict(ours.conv.state_dict())
    pool = torch.nn.MaxPool3d(kernel_size=(n_doppler // 2, 1, 1))
    x = torch.randn(3, 2, n_doppler, 6, 7, requires_grad=True)
    y_ours, y_ref = ours(x), pool(conv(x)).squeeze(2)
    assert y_ours.shape == y_ref.shape == (3, 5, 6, 7)
    torch.testing.assert_close(y_ours, y_ref, atol=1e-6, rtol=1e-6)
    g = torch.randn_like(y_ref)
    grads_ours = torch.autograd.grad(y_ours, [x, ours.conv.weight, ours.conv.bias], g)
    grads_ref = torch.autograd.grad(y_ref, [x, conv.weight, conv.bias], g)
    for a, b in zip(grads_ours, grads_ref, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="built for"):
        ours(torch.randn(1, 2, n_doppler + 2, 6, 7))


def test_attention_is_unscaled_softmax_over_key_positions():
    """CSAM attention: out[:, c, q] = sum_p v[:, c, p] softmax_p(sum_i k[:, i, p] q[:, i, q])."""
    from radarkit.models.hupr import _attend

    g = torch.Generator().manual_seed(0)
    for shape in ((2, 6, 5, 4), (2, 8, 16, 16)):  # 20 and 256 key positions
        k, q, v = (torch.randn(*shape, generator=g, requires_grad=True) for _ in range(3))
        weights = torch.softmax(torch.einsum("bip,biq->bpq", k.flatten(2), q.flatten(2)), dim=1)
        want = torch.einsum("bcp,bpq->bcq", v.flatten(2), weights).reshape(v.shape)
        got = _attend(k, q, v)
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
        # the fused kernel's backward equals autograd through the explicit softmax
        grad_out = torch.randn(shape, generator=g)
        for a, b in zip(torch.autograd.grad(got, (k, q, v), grad_out),
                        torch.autograd.grad(want, (k, q, v), grad_out), strict=True):
            torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_input_shape_is_checked():
    model = hupr("small", **TINY)
    hori, vert = _inputs(model.config, 2)
    with pytest.raises(ValueError, match=r"\(B, T, K, 2, R, A, E\)"):
        model(hori.transpose(-1, -2), vert)


def test_real_imag_channels_and_legacy_view():
    cfg = get_config("small", **TINY)
    model = HuPR(cfg).eval()
    seen = {}
    model.mnet[0].register_forward_hook(lambda mod, args, out: seen.update(x=args[0]))
    hori, vert = _inputs(cfg, 2)
    with torch.no_grad():
        out = model(hori, vert)
    b, t, k, _, r, a, _ = hori.shape
    mean = hori.mean(-1)  # elevation mean
    x = seen["x"].reshape(b, t, 2, k, r, a)
    torch.testing.assert_close(x[:, :, 0], mean[:, :, :, 0])  # channel 0: real parts per Doppler bin
    torch.testing.assert_close(x[:, :, 1], mean[:, :, :, 1])  # channel 1: imaginary parts
    # legacy_view reads the (K, 2) memory as (2, K): equal to the correct model on permuted input
    legacy = HuPR(get_config(cfg, legacy_view=True)).eval()
    legacy.load_state_dict(model.state_dict())
    flat = torch.arange(2 * k)
    src = flat.reshape(2, k)  # legacy channel c, Doppler j reads flat element c*K + j of (K, 2)
    perm = lambda x: x[:, :, src // 2, src % 2].transpose(2, 3)  # noqa: E731
    with torch.no_grad():
        got = legacy(hori, vert)
        want = model(perm(hori), perm(vert))
        other = model(hori, vert)
    torch.testing.assert_close(got[1], want[1])
    assert not torch.allclose(got[1], other[1])
    assert torch.equal(out[1], other[1])


def test_csam_variants_and_gcn_switch():
    base = get_config("small", **TINY)
    hori, vert = _inputs(base, 2)
    for scales in [(), (3,), (1, 2, 3)]:
        model = HuPR(get_config(base, csam_scales=scales)).eval()
        with torch.no_grad():
            initial, refined = model(hori, vert)
        assert refined.shape == (2, 14, 16, 16)
    plain = HuPR(get_config(base, use_gcn=False)).eval()
    with torch.no_grad():
        initial, refined = plain(hori, vert)
    assert plain.gcn is None and torch.equal(initial, refined)


def test_prgcn_follows_skeleton_graph():
    """A joint's refined map depends on its graph neighbours only (after 3 layers: within 3 hops)."""
    model = HuPR(get_config("small", gcn_residual=False, **TINY)).eval()
    x = torch.randn(1, 14, 16, 16)
    y0 = model.gcn(x)
    x2 = x.clone()
    wrist, ankle, head = HUPR14.index("R_Wrist"), HUPR14.index("L_Ankle"), HUPR14.index("Head")
    x2[0, wrist] += 5.0
    diff = (model.gcn(x2) - y0).abs().amax(dim=(0, 2, 3))
    assert diff[HUPR14.index("R_Elbow")] > 0  # 1 hop
    assert diff[HUPR14.index("Neck")] > 0  # 3 hops: wrist-elbow-shoulder-neck
    assert diff[ankle] == 0 and diff[head] == 0  # more than 3 hops away
    np.testing.assert_array_equal(model.gcn.adjacency.numpy(), HUPR14.adjacency(self_loops=True))


def test_residual_prgcn_starts_at_the_initial_heatmaps_and_adds_its_correction():
    """gcn_residual: refined logits = initial + PRGCN(initial), the correction zero when built."""
    cfg = get_config("small", **TINY)
    assert cfg.gcn_residual and not get_config("paper").gcn_residual
    model = HuPR(cfg).eval()
    hori, vert = _inputs(cfg, 2)
    with torch.no_grad():
        initial, refined = model.forward_logits(hori, vert)
        assert torch.equal(initial, refined)  # zero correction at construction
        for p in model.parameters():  # any weights: refined - initial is PRGCN's output
            p.add_(0.05 * torch.randn_like(p))
        initial, refined = model.forward_logits(hori, vert)
        delta = model.gcn(initial)
    assert delta.abs().max() > 1e-3
    torch.testing.assert_close(refined, initial + delta)
    # a plain PRGCN replaces the initial heatmaps (the paper)
    plain = HuPR(get_config("small", gcn_residual=False, **TINY)).eval()
    with torch.no_grad():
        initial, refined = plain.forward_logits(hori, vert)
        torch.testing.assert_close(refined, plain.gcn(initial))


def test_loss_falls_below_constant_prediction():
    """On a tiny batch the loss falls, and below the loss of the best prediction that ignores
    position (each joint's mean target value everywhere): the maps learned where the joints are."""
    torch.manual_seed(0)
    cfg = get_config("small", **TINY)
    model = HuPR(cfg)
    hori, vert = _inputs(cfg, 2, seed=1)
    keypoints = np.random.default_rng(0).uniform(8, 56, (2, 14, 2))  # 64-px image, stride 4 -> 16 x 16
    target = torch.from_numpy(gaussian_heatmaps(keypoints, heatmap_size=16, stride=4, sigma=1.0)[0])
    const = target.mean(dim=(0, 2, 3), keepdim=True).expand_as(target)
    const_loss = float(hupr_loss(torch.logit(const), torch.logit(const), target))
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    losses = []
    for _ in range(85):
        initial, refined = model.forward_logits(hori, vert)
        loss = hupr_loss(initial, refined, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]
    assert min(losses[-5:]) < 0.95 * const_loss


def test_loss_definition():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(2, 14, 8, 8, generator=g), torch.randn(2, 14, 8, 8, generator=g)
    t = torch.rand(2, 14, 8, 8, generator=g)

    def bce(logit):
        p = torch.sigmoid(logit)
        return -(t * torch.log(p) + (1 - t) * torch.log(1 - p)).mean()

    torch.testing.assert_close(hupr_loss(a, b, t, alpha=0.5), bce(a) + 0.5 * bce(b))
    w = torch.ones(2, 14)
    w[:, 3] = 0
    masked = hupr_loss(a, b, t, weight=w)
    keep = [j for j in range(14) if j != 3]
    torch.testing.assert_close(masked, hupr_loss(a[:, keep], b[:, keep], t[:, keep]))


def test_vrdae_to_input_transpose():
    rng = np.random.default_rng(0)
    cube = rng.normal(size=(8, 8, 8, 64, 64)) + 1j * rng.normal(size=(8, 8, 8, 64, 64))  # T K E A R
    x = vrdae_to_input(cube)
    assert x.shape == (8, 8, 2, 64, 64, 8) and x.dtype == np.float32
    t, k, e, a, r = 3, 5, 6, 10, 40
    assert x[t, k, 0, r, a, e] == np.float32(cube[t, k, e, a, r].real)
    assert x[t, k, 1, r, a, e] == np.float32(cube[t, k, e, a, r].imag)
    assert vrdae_to_input(cube[None]).shape == (1, 8, 8, 2, 64, 64, 8)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu():
    cfg = get_config("small", **TINY)
    model = HuPR(cfg).eval()
    hori, vert = _inputs(cfg, 2)
    with torch.no_grad():
        cpu = model(hori, vert)[1]
        gpu = model.to("cuda")(hori.cuda(), vert.cuda())[1].cpu()
    torch.testing.assert_close(gpu, cpu, atol=1e-4, rtol=1e-3)


# --- heatmap targets and decoding -------------------------------------------------------------


def test_gaussian_target_peak_and_sigma():
    kp = np.array([[[100.0, 40.0, 2.0], [3.0, 250.0, 1.0], [10.0, 10.0, 0.0], [900.0, 5.0, 2.0]]])
    maps, w = gaussian_heatmaps(kp)  # 256 px -> 64 x 64, sigma 2
    assert maps.shape == (1, 4, 64, 64) and maps.dtype == np.float32
    np.testing.assert_array_equal(w, [[1, 1, 0, 0]])  # unlabelled and off-grid joints: no target
    assert maps[0, 0, 10, 25] == 1.0  # (x 100, y 40) / 4 -> column 25, row 10
    assert maps[0, 0, 10, 27] == pytest.approx(np.exp(-4 / 8))  # 2 px away: exp(-d^2 / (2 sigma^2))
    assert maps[0, 0, 10, 32] == 0.0  # beyond 3 sigma: truncated
    assert maps[0, 2].max() == 0 and maps[0, 3].max() == 0
    sub, _ = gaussian_heatmaps(kp[:, :1], round_centre=False, truncate=None)
    rows, cols = np.mgrid[0:64, 0:64]
    centroid = (sub[0, 0] * cols).sum() / sub[0, 0].sum(), (sub[0, 0] * rows).sum() / sub[0, 0].sum()
    np.testing.assert_allclose(centroid, (25.0, 10.0), atol=1e-6)


def test_decode_inverts_targets():
    rng = np.random.default_rng(1)
    kp = rng.uniform(0, 253.9, (5, 14, 2))  # rounds onto the 64 x 64 grid
    maps, _ = gaussian_heatmaps(kp)
    xy, score = decode_heatmaps(maps)
    np.testing.assert_array_equal(xy, np.floor(kp / 4 + 0.5) * 4)
    assert np.abs(xy - kp).max() <= 2.0 + 1e-9  # rounding to the 4-px grid
    np.testing.assert_array_equal(score, 1.0)
    xy_t, _ = decode_heatmaps(torch.from_numpy(maps))
    np.testing.assert_array_equal(xy_t, xy)


def test_quarter_offset_decoding_halves_the_grid_error():
    """Maps centred between grid cells (a predicted heatmap, not a rounded target): the quarter
    shift towards the higher neighbour halves the mean error of the arg-max."""
    rng = np.random.default_rng(2)
    kp = rng.uniform(12, 244, (200, 14, 2))
    maps, _ = gaussian_heatmaps(kp, round_centre=False)
    plain, _ = decode_heatmaps(maps)
    quarter, score = decode_heatmaps(maps, subpixel="quarter")
    err_plain, err_quarter = np.abs(plain - kp).mean(), np.abs(quarter - kp).mean()
    assert err_plain == pytest.approx(1.0, abs=0.05)  # uniform in +-2 px
    assert err_quarter == pytest.approx(0.5, abs=0.05)
    assert np.abs(quarter - kp).max() <= 2.0 + 1e-6
    np.testing.assert_array_equal(score, decode_heatmaps(maps)[1])
    # a maximum on the border is not shifted along that axis; equal neighbours give no shift
    edge = np.zeros((1, 8, 8))
    edge[0, 0, 7], edge[0, 1, 7], edge[0, 0, 6], edge[0, 0, 5] = 1.0, 0.5, 0.3, 0.9
    np.testing.assert_array_equal(decode_heatmaps(edge, stride=1, subpixel="quarter")[0], [[7, 0]])
    flat = np.zeros((1, 8, 8))
    flat[0, 3, 3] = 1.0
    np.testing.assert_array_equal(decode_heatmaps(flat, stride=1, subpixel="quarter")[0], [[3, 3]])
    with pytest.raises(ValueError, match="subpixel"):
        decode_heatmaps(maps, subpixel="dark")
