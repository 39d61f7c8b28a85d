"""mmJoints modules: divergences against numerical integration, the Hungarian loss, shapes, training."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import integrate
from scipy.stats import norm

from radarkit.errors import CheckpointError
from radarkit.models.mmjoints import (
    ActivityLSTM,
    DescriptorHead,
    GMMParams,
    LatentSignalDistributionGenerator,
    MMJoints,
    PointSetSignalEncoder,
    PoseBasis,
    PoseVAE,
    RefinementMLP,
    SetEncoder,
    SurrogatePoseRefiner,
    build_pose_basis,
    cluster_poses,
    farthest_point_sampling,
    hungarian_gmm_l1_loss,
    jeffreys_diag_gaussians,
    jeffreys_upper_bound,
    kl_diag_gaussians,
    orthogonal_projection_loss,
    weighted_jeffreys_terms,
)
from radarkit.train.mmjoints import (
    STAGES,
    collate_point_windows,
    latent_neighbours,
    load_mmjoints,
    point_windows,
    sample_triplets,
    save_mmjoints,
    signal_gmm_from_gaussians,
    stage_parameters,
    stage_step_fn,
)

torch.set_num_threads(1)
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _t(*values):
    return [torch.tensor([[float(v)]], dtype=torch.float64) for v in values]


def _integrate(f, lo=-40.0, hi=40.0):
    return integrate.quad(f, lo, hi, limit=400, points=[0.0])[0]


@pytest.mark.parametrize("m1,s1,m2,s2", [(0.0, 1.0, 0.0, 1.0), (0.3, 0.8, -1.1, 1.7), (2.0, 0.5, 0.0, 2.0)])
def test_kl_and_jeffreys_of_1d_gaussians_match_numerical_integration(m1, s1, m2, s2):
    p, q = norm(m1, s1), norm(m2, s2)
    kl_num = _integrate(lambda x: p.pdf(x) * (p.logpdf(x) - q.logpdf(x)))
    j_num = _integrate(lambda x: (p.pdf(x) - q.pdf(x)) * (p.logpdf(x) - q.logpdf(x)))
    mu1, v1, mu2, v2 = _t(m1, s1**2, m2, s2**2)
    assert kl_diag_gaussians(mu1, v1, mu2, v2).item() == pytest.approx(kl_num, abs=1e-7)
    assert jeffreys_diag_gaussians(mu1, v1, mu2, v2).item() == pytest.approx(j_num, abs=1e-7)
    assert jeffreys_diag_gaussians(mu2, v2, mu1, v1).item() == pytest.approx(j_num, abs=1e-7)


def test_weighted_jeffreys_bound_is_above_the_integrated_divergence():
    rng = np.random.default_rng(3)
    for _ in range(5):
        g = 3
        w = rng.dirichlet(np.ones(g))
        mu = rng.normal(0, 1.5, g)
        sd = rng.uniform(0.4, 1.5, g)
        ms, ss = rng.normal(0, 1), rng.uniform(0.5, 1.5)
        ps = norm(ms, ss)

        def pg(x, w=w, mu=mu, sd=sd):
            return float(np.sum(w * norm.pdf(x, mu, sd)))

        j_num = _integrate(lambda x, pg=pg, ps=ps: (pg(x) - ps.pdf(x)) * (np.log(pg(x)) - ps.logpdf(x)),
                           -20, 20)
        gmm = GMMParams(torch.tensor(w)[None], torch.tensor(mu)[None, :, None],
                        torch.tensor(sd**2)[None, :, None])
        bound = jeffreys_upper_bound(torch.tensor([[ms]], dtype=torch.float64),
                                     torch.tensor([[ss**2]], dtype=torch.float64), gmm).item()
        assert bound >= j_num - 1e-9
        assert j_num > 0


def test_weighted_jeffreys_bound_is_tight_for_one_component():
    mu_s, var_s = torch.randn(2, 4, dtype=torch.float64), torch.rand(2, 4, dtype=torch.float64) + 0.5
    gmm = GMMParams(torch.ones(2, 1, dtype=torch.float64), torch.randn(2, 1, 4, dtype=torch.float64),
                    torch.rand(2, 1, 4, dtype=torch.float64) + 0.5)
    exact = jeffreys_diag_gaussians(mu_s, var_s, gmm.means[:, 0], gmm.variances[:, 0])
    torch.testing.assert_close(jeffreys_upper_bound(mu_s, var_s, gmm), exact)
    assert weighted_jeffreys_terms(mu_s, var_s, gmm).shape == (2, 1)


def _random_gmm(b, g, d, seed):
    gen = torch.Generator().manual_seed(seed)
    w = torch.rand(b, g, generator=gen).softmax(-1)
    return GMMParams(w, torch.randn(b, g, d, generator=gen), torch.rand(b, g, d, generator=gen) + 0.1)


def test_hungarian_loss_is_invariant_to_permuting_components():
    pred, target = _random_gmm(3, 5, 6, 0), _random_gmm(3, 5, 6, 1)
    base = hungarian_gmm_l1_loss(pred, target)
    for seed in range(4):
        perm_p = torch.randperm(5, generator=torch.Generator().manual_seed(seed))
        perm_t = torch.randperm(5, generator=torch.Generator().manual_seed(seed + 10))
        pp = GMMParams(pred.weights[:, perm_p], pred.means[:, perm_p], pred.variances[:, perm_p])
        tt = GMMParams(target.weights[:, perm_t], target.means[:, perm_t], target.variances[:, perm_t])
        torch.testing.assert_close(hungarian_gmm_l1_loss(pp, tt), base)
    # a permuted copy of the same mixture costs nothing, the unmatched (in-order) loss does
    perm = torch.tensor([4, 2, 0, 1, 3])
    shuffled = GMMParams(pred.weights[:, perm], pred.means[:, perm], pred.variances[:, perm])
    assert hungarian_gmm_l1_loss(shuffled, pred).item() == pytest.approx(0.0, abs=1e-7)
    in_order = ((shuffled.weights - pred.weights).abs() + (shuffled.means - pred.means).abs().mean(-1)
                + (shuffled.variances - pred.variances).abs().mean(-1)).mean()
    assert in_order.item() > 0.1


def test_hungarian_loss_has_gradients():
    pred, target = _random_gmm(2, 4, 3, 2), _random_gmm(2, 4, 3, 3)
    means = pred.means.clone().requires_grad_(True)
    hungarian_gmm_l1_loss(GMMParams(pred.weights, means, pred.variances), target).backward()
    assert means.grad is not None and means.grad.abs().sum() > 0


def test_orthogonal_projection_loss():
    labels = torch.tensor([0, 0, 1, 1])
    orth = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [0.0, 3.0]])
    assert orthogonal_projection_loss(orth, labels).item() == pytest.approx(0.0, abs=1e-6)
    skew = torch.tensor([[1.0, 0.0], [2.0, 0.0], [1.0, 1.0], [1.0, 1.0]])
    assert orthogonal_projection_loss(skew, labels).item() == pytest.approx(np.sqrt(0.5), abs=1e-6)


def test_cluster_poses_and_basis():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 1.0, (4, 5, 3))
    poses = np.concatenate([c + 0.02 * rng.normal(size=(40, 5, 3)) for c in centres])
    clusters = cluster_poses(poses, n_basis=3, candidates=[3, 4, 5])
    assert clusters.n_clusters == 4  # BIC finds the four groups
    assert len(clusters.selected) == 3 and len(set(clusters.selected.tolist())) == 3
    assert set(clusters.bic) == {3, 4, 5}
    mu = rng.normal(size=(len(poses), 3))
    basis = build_pose_basis(mu, clusters.labels, clusters.selected)
    assert basis.shape == (3, 3)
    pb = PoseBasis(3)
    pb.set_basis(basis)
    p = torch.randn(7, 3)
    torch.testing.assert_close(pb(p) @ pb.matrix.T, p, atol=1e-4, rtol=1e-4)  # P p_omega = p
    with pytest.raises(ValueError):
        build_pose_basis(np.ones((len(poses), 3)), clusters.labels, clusters.selected)  # singular


def test_farthest_point_sampling_spreads_and_respects_mask():
    xyz = torch.tensor([[[0.0, 0, 0], [0.1, 0, 0], [5.0, 0, 0], [5.1, 0, 0], [99.0, 0, 0]]])
    valid = torch.tensor([[True, True, True, True, False]])
    idx = farthest_point_sampling(xyz, valid, 2)[0].tolist()
    assert {idx[0], idx[1]} == {0, 3}  # the two extremes, never the invalid point at 99 m
    assert 4 not in farthest_point_sampling(xyz, valid, 6)[0].tolist()


def test_set_encoder_is_permutation_invariant_and_handles_empty_sets():
    torch.manual_seed(0)
    enc = SetEncoder(4, 16, depth=2, n_inducing=4).eval()
    x = torch.randn(2, 9, 4)
    valid = torch.ones(2, 9, dtype=torch.bool)
    valid[1, 5:] = False
    valid[0] = False  # an empty set
    perm = torch.randperm(9)
    with torch.no_grad():
        a, b = enc(x, valid), enc(x[:, perm], valid[:, perm])
        c = enc(x[1:, :5], None)  # the padding does not matter
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(a[1:], c, atol=1e-5, rtol=1e-5)
    assert torch.isfinite(a).all()


def test_signal_encoder_shapes_empty_frames_and_point_order():
    torch.manual_seed(0)
    enc = PointSetSignalEncoder(4, latent_dim=8, n_anchors=6, n_neighbours=4, dim=32, depth=1,
                                n_classes=5).eval()
    points = torch.randn(3, 4, 20, 4)
    valid = torch.rand(3, 4, 20) > 0.3
    valid[1, 2] = False  # one empty frame
    valid[2] = False  # a window without any point
    with torch.no_grad():
        mu, logvar, logits = enc(points, valid)
        perm = torch.randperm(20)
        mu2, _, _ = enc(points[:, :, perm], valid[:, :, perm])
    assert mu.shape == (3, 8) and logvar.shape == (3, 8) and logits.shape == (3, 5)
    assert torch.isfinite(mu).all() and torch.isfinite(logvar).all()
    torch.testing.assert_close(mu, mu2, atol=1e-5, rtol=1e-5)  # a point cloud is a set


def test_generator_refiner_head_downstream_shapes():
    gen = LatentSignalDistributionGenerator(basis_dim=6, signal_dim=8, n_components=3, dim=16)
    gmm = gen(torch.randn(5, 6))
    assert gmm.weights.shape == (5, 3) and gmm.means.shape == (5, 3, 8) and gmm.variances.shape == (5, 3, 8)
    torch.testing.assert_close(gmm.weights.sum(-1), torch.ones(5))
    assert (gmm.variances > 0).all()
    assert gmm.flat().shape == (5, 3, 17)  # D_C = 1 + 2 D_S
    torch.testing.assert_close(GMMParams.from_flat(gmm.flat()).means, gmm.means)

    ref = SurrogatePoseRefiner(latent_dim=6, signal_dim=8, dim=16)
    p_refine, p_inter = ref(torch.rand(5, 3) * 1e4, gmm.weights, torch.randn(5, 8), torch.randn(5, 6))
    assert p_refine.shape == p_inter.shape == (5, 6) and torch.isfinite(p_refine).all()

    head = DescriptorHead(n_joints=7, latent_dim=6, frame_dim=10)
    xi, kappa = head(torch.randn(5, 6), torch.randn(5, 6), torch.randn(5, 10))
    assert xi.shape == kappa.shape == (5, 7) and ((xi > 0) & (xi < 1)).all()

    vae = PoseVAE(7, latent_dim=6)
    recon, mu, logvar = vae(torch.randn(5, 7, 3))
    assert recon.shape == (5, 7, 3) and mu.shape == logvar.shape == (5, 6)

    joints = torch.randn(4, 7, 5)
    assert RefinementMLP(7, 5)(joints).shape == (4, 7, 3)
    assert RefinementMLP(7, 3)(joints[..., :3]).shape == (4, 7, 3)
    assert ActivityLSTM(7, n_classes=9, in_features=5)(torch.randn(4, 5, 7, 5)).shape == (4, 9)


def _tiny_model(**kw):
    torch.manual_seed(0)
    return MMJoints(n_joints=6, point_features=4, pose_dim=8, signal_dim=8, n_components=3, n_pose_classes=4,
                    dim=16, frame_dim=16, n_anchors=4, n_neighbours=4, depth=1, heads=2, **kw)


def _batch(b=8, k=3, n=12, j=6, seed=0):
    gen = torch.Generator().manual_seed(seed)
    pose = torch.randn(b, j, 3, generator=gen) * 0.3 + torch.tensor([0.0, 3.0, 1.0])
    points = torch.randn(b, k, n, 4, generator=gen) * 0.3 + torch.tensor([0.0, 3.0, 1.0, 1.0])
    valid = torch.rand(b, k, n, generator=gen) > 0.2
    return pose, points, valid


@pytest.mark.parametrize("device", DEVICES)
def test_mmjoints_forward_shapes(device):
    model = _tiny_model(use_pose_coordinates=True).to(device).eval()
    pose, points, valid = (t.to(device) for t in _batch())
    with torch.no_grad():
        out = model(pose, points, valid)
    assert out.xi.shape == out.kappa.shape == (8, 6)
    assert out.p_pred.shape == out.p_refine.shape == out.p_inter.shape == (8, 8)
    assert out.mu_s.shape == out.logvar_s.shape == (8, 8)
    assert out.signal_logits.shape == (8, 4)
    assert out.gmm.means.shape == (8, 3, 8) and out.divergence_terms.shape == (8, 3)
    assert (out.divergence_terms >= 0).all()
    assert out.xi.device.type == device


def test_joint_signal_matches_the_numpy_sensing_score():
    from radarkit.metrics.descriptors import sensing_score, signal_strength

    model = _tiny_model(use_joint_signal=True).double()
    model.set_descriptor_stats(mean_psi=40.0, d0_m=0.5, psi_scale=25.0, min_distance_m=0.08)
    pose, points, valid = (t.double() if t.is_floating_point() else t for t in _batch())
    points[..., 3] = points[..., 3].abs()
    got = model.joint_signal(pose, points[:, -1], valid[:, -1])
    for b in range(len(pose)):
        cloud = points[b, -1][valid[b, -1]].numpy()
        psi = signal_strength(cloud, pose[b].numpy(), min_distance_m=0.08)
        np.testing.assert_allclose(got[b].numpy(), sensing_score(psi, 40.0, 25.0), rtol=1e-9)
    assert model(pose, points, valid).xi.shape == (8, 6)
    with pytest.raises(ValueError):
        _tiny_model(use_joint_signal=True, intensity_column=5)


def test_default_model_has_the_papers_dimensions():
    model = MMJoints(n_joints=14)
    assert model.pose_vae.latent_dim == 32 and model.basis.matrix.shape == (32, 32)
    assert model.generator.basis_distributions.shape == (32, 8, 129)  # D_p x G x D_C, D_C = 129


def test_basis_feature_cache_follows_the_buffer():
    model = _tiny_model().eval()
    pose, points, valid = _batch()
    with torch.no_grad():
        before = model(pose, points, valid).gmm.means
        model.generator.set_basis_distributions(_random_gmm(8, 3, 8, 5))
        after = model(pose, points, valid).gmm.means
    fresh = model(pose, points, valid).gmm.means.detach()  # autograd on: no cache
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after, fresh)


def _train(model, stage, batch, steps, lr):
    step_fn = stage_step_fn(stage)
    opt = torch.optim.Adam(stage_parameters(model, stage), lr=lr)
    losses = []
    for _ in range(steps):
        loss = step_fn(model, batch, torch.device("cpu"))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_descriptor_loss_falls_on_one_batch_and_other_parts_stay_frozen():
    model = _tiny_model()
    pose, points, valid = _batch()
    model.pose_vae.set_normalisation(pose)
    gen = torch.Generator().manual_seed(1)
    batch = {"pose_pred": pose, "points": points, "valid": valid,
             "xi": torch.rand(8, 6, generator=gen), "kappa": torch.rand(8, 6, generator=gen)}
    frozen = {k: v.clone() for k, v in model.state_dict().items()
              if not k.startswith(("head.", "frame_encoder."))}
    losses = _train(model, "descriptor", batch, 40, 1e-2)
    assert np.mean(losses[-3:]) < 0.5 * losses[0]
    for k, v in model.state_dict().items():
        if k in frozen:
            torch.testing.assert_close(v, frozen[k], msg=f"{k} changed while training the head")


def test_stage_parameters_partition_the_model():
    model = _tiny_model()
    ids = {stage: {id(p) for p in stage_parameters(model, stage)} for stage in STAGES}
    assert ids["pose_basis"] == ids["pose_vae"]
    later = [ids[s] for s in STAGES if s not in ("pose_vae", "pose_basis")] + [ids["pose_vae"]]
    assert sum(len(s) for s in later) == len(set().union(*later)) == len(list(model.parameters()))
    with pytest.raises(ValueError):
        stage_parameters(model, "everything")


def test_pose_vae_signal_surrogate_and_generator_losses_fall():
    torch.manual_seed(0)
    model = _tiny_model()
    pose, points, valid = _batch(b=16)
    model.pose_vae.set_normalisation(pose)
    losses = _train(model, "pose_vae", {"pose": pose}, 60, 3e-3)
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])

    labels = np.array([0, 1] * 8)
    pos, neg = sample_triplets(labels, np.random.default_rng(0))
    assert np.all(labels[pos] == labels) and np.all(labels[neg] != labels)
    batch = {"points": points, "valid": valid, "pos_points": points[pos], "pos_valid": valid[pos],
             "neg_points": points[neg], "neg_valid": valid[neg], "cluster": torch.as_tensor(labels)}
    losses = _train(model, "signal", batch, 30, 3e-3)
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])

    target = _random_gmm(16, 3, 8, 7)
    batch = {"pose": pose, "points": points, "valid": valid, "target_weights": target.weights,
             "target_means": target.means, "target_variances": target.variances}
    losses = _train(model, "distribution", batch, 30, 3e-3)
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5])

    batch = {"pose_pred": pose + 0.1 * torch.randn_like(pose), "pose": pose, "points": points, "valid": valid}
    losses = _train(model, "surrogate", batch, 30, 1e-2)
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])


def test_signal_gmm_and_neighbours():
    mu = np.array([[0.0, 0.0], [10.0, 10.0]])
    gmm = signal_gmm_from_gaussians(mu, np.full((2, 2), 0.1), n_components=2, samples_per_gaussian=64)
    found = gmm.means.numpy()[np.argsort(gmm.means.numpy()[:, 0])]
    np.testing.assert_allclose(found, mu, atol=0.1)
    np.testing.assert_allclose(gmm.weights.numpy(), 0.5, atol=1e-6)
    mu_p = np.array([[0.0], [0.1], [0.3], [5.0]])
    neigh = latent_neighbours(mu_p, np.full((4, 1), 0.5), m_max=3)
    assert neigh[0].tolist() == [0, 1] and neigh[3].tolist() == [3]


def test_point_windows_end_at_the_current_frame():
    clouds = [np.full((f + 1, 4), f, dtype=float) for f in range(4)]
    windows = point_windows(clouds, 3)
    assert [[int(c[0, 0]) for c in w] for w in windows] == [[0, 0, 0], [0, 0, 1], [0, 1, 2], [1, 2, 3]]


def test_collate_point_windows():
    windows = [[np.ones((3, 4)), np.zeros((0, 4))], [np.ones((5, 4)), np.ones((1, 4))]]
    points, valid = collate_point_windows(windows)
    assert points.shape == (2, 2, 5, 4) and valid.sum().item() == 9
    points, valid = collate_point_windows(windows, max_points=2)
    assert points.shape == (2, 2, 2, 4) and valid[1, 0].all()


def test_checkpoint_round_trip(tmp_path):
    model = _tiny_model(use_pose_coordinates=True, use_joint_signal=True).eval()
    model.set_descriptor_stats(mean_psi=12.5, d0_m=0.48)
    model.basis.set_basis(torch.eye(8) * 2.0)
    pose, points, valid = _batch()
    path = tmp_path / "mmj.ckpt"
    save_mmjoints(model, path, skeleton="hupr14")
    loaded, meta = load_mmjoints(path)
    assert meta == {"skeleton": "hupr14"} and loaded.use_pose_coordinates and loaded.use_joint_signal
    assert loaded.d0_m.item() == 0.48 and loaded.mean_psi.item() == 12.5
    with torch.no_grad():
        torch.testing.assert_close(loaded(pose, points, valid).xi, model(pose, points, valid).xi)
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError):
        load_mmjoints(bad)
