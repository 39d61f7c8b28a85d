"""Training of the parts of mmJoints (:mod:`radarkit.models.mmjoints`): losses per stage, step
functions for :mod:`radarkit.train.loop`, data preparation and checkpoints.

The paper trains mmJoints in stages (sections 4-6, 7.3), listed in :data:`STAGES`: pose modelling
(``"pose_vae"``, then GMM/BIC clusters and ``"pose_basis"`` OPL fine-tuning), signal modelling
(``"signal"``), the latent signal distribution generator (``"distribution"``), the surrogate pose
(``"surrogate"``) and the descriptor head (``"descriptor"``); the downstream refinement MLP and the
activity LSTM are trained afterwards on the 5-D joints. For each stage this module gives the loss on
tensors (``*_loss``), a ``step_fn(model, batch, device)`` for :func:`radarkit.train.loop.fit` /
``train_epoch`` (:func:`stage_step_fn`), and the parameters to optimise (:func:`stage_parameters`);
the upstream parts of a stage run without autograd. Between stages: basis fitting, the empirical
signal mixtures the generator is trained against, triplets and padding of point-cloud windows.
Checkpoints use :mod:`radarkit.train.checkpoint`. The end-to-end training script comes with the
simulated data sets.

Typical stage::

    opt = torch.optim.Adam(stage_parameters(model, "descriptor"), lr=1e-3)
    fit(model, opt, loader, stage_step_fn("descriptor"), epochs=..., out_dir=...,
        name=CHECKPOINT_NAME, config=model.hparams)   # RUN/last.ckpt then loads with load_mmjoints

References
----------
.. [1] Z. Wang, M. Monjur, S. Nirjon, "mmJoints: Expanding Joint Representations Beyond (x, y, z)
   in mmWave-Based 3D Pose Estimation", sections 4-6 and 8.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from radarkit.errors import CheckpointError
from radarkit.models.mmjoints import (
    ActivityLSTM,
    GMMParams,
    MMJoints,
    PoseClusters,
    PoseVAE,
    RefinementMLP,
    build_pose_basis,
    cluster_poses,
    descriptor_loss,
    distribution_loss,
    orthogonal_projection_loss,
    signal_encoder_loss,
    surrogate_pose_loss,
    vae_loss,
    weighted_jeffreys_terms,
)
from radarkit.train.checkpoint import load_checkpoint, read_header, save_checkpoint
from radarkit.train.loop import move_to

__all__ = [
    "point_windows",
    "collate_point_windows",
    "sample_triplets",
    "fit_pose_basis",
    "latent_neighbours",
    "signal_gmm_from_gaussians",
    "target_signal_gmms",
    "basis_signal_gmms",
    "pose_vae_loss",
    "pose_basis_loss",
    "signal_loss",
    "generator_loss",
    "surrogate_loss",
    "head_loss",
    "STAGES",
    "stage_parameters",
    "stage_step_fn",
    "refinement_step_fn",
    "activity_step_fn",
    "CHECKPOINT_NAME",
    "save_mmjoints",
    "load_mmjoints",
]


_Window = tuple[torch.Tensor, torch.Tensor]  # (points (B, K, N, C), valid (B, K, N))


# ----------------------------------------------------------------------------------------------------------
# data preparation
# ----------------------------------------------------------------------------------------------------------

def collate_point_windows(windows: Sequence[Sequence[np.ndarray]], max_points: int | None = None,
                          seed: int | None = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad windows of ``K`` variable-length point clouds into one tensor with a validity mask.

    Parameters
    ----------
    windows : sequence of sequence of ndarray
        ``B`` windows, each ``K`` point clouds of shape ``(N_i, C)`` (same ``K`` and ``C`` everywhere).
    max_points : int, optional
        Cap on the points per frame; larger frames are randomly subsampled (without replacement).
    seed : int or None
        Seed of that subsampling.

    Returns
    -------
    points : Tensor, shape (B, K, N, C), float32
        Zero-padded clouds, ``N`` the largest (capped) frame size (at least 1).
    valid : Tensor, shape (B, K, N), bool
        True for real points.

    Raises
    ------
    ValueError
        Windows of different lengths or column counts.
    """
    rng = np.random.default_rng(seed)
    k = {len(w) for w in windows}
    c = {np.asarray(p).shape[1] for w in windows for p in w}
    if len(k) != 1 or len(c) != 1:
        raise ValueError(f"windows must share K and C; got K in {sorted(k)}, C in {sorted(c)}")
    k, c = k.pop(), c.pop()
    sizes = [min(len(p), max_points) if max_points else len(p) for w in windows for p in w]
    n = max(1, max(sizes, default=1))
    points = np.zeros((len(windows), k, n, c), dtype=np.float32)
    valid = np.zeros((len(windows), k, n), dtype=bool)
    for b, w in enumerate(windows):
        for t, p in enumerate(w):
            p = np.asarray(p, dtype=np.float32)
            if max_points and len(p) > max_points:
                p = p[rng.choice(len(p), max_points, replace=False)]
            points[b, t, :len(p)] = p
            valid[b, t, :len(p)] = True
    return torch.from_numpy(points), torch.from_numpy(valid)


def point_windows(clouds: Sequence[np.ndarray], k: int) -> list[list[np.ndarray]]:
    """Windows of the last ``k`` point clouds for every frame of a sequence (current frame last).

    At the start of the sequence the first frame is repeated, so every frame has a full window
    (the convention HuPR uses at sequence edges).

    Parameters
    ----------
    clouds : sequence of ndarray, each (N_f, C)
        The sequence's point clouds in frame order.
    k : int
        ``K``, frames per window (>= 1).

    Returns
    -------
    list of list of ndarray
        ``len(clouds)`` windows of ``k`` clouds; window ``f`` ends with ``clouds[f]``.

    Raises
    ------
    ValueError
        ``k < 1``.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    return [[clouds[max(0, f - k + 1 + i)] for i in range(k)] for f in range(len(clouds))]


def sample_triplets(labels: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Positive and negative partners for a triplet loss over pose-cluster labels.

    Parameters
    ----------
    labels : ndarray, shape (M,), int
        Pose cluster of every sample (at least two clusters).
    rng : numpy.random.Generator
        Random source.

    Returns
    -------
    positive : ndarray, shape (M,), int64
        A different sample of the same cluster (the sample itself if it is alone in its cluster).
    negative : ndarray, shape (M,), int64
        A sample of another cluster.

    Raises
    ------
    ValueError
        Fewer than two clusters.

    References
    ----------
    mmJoints section 4.2 (similar / dissimilar poses for the triplet loss).
    """
    labels = np.asarray(labels)
    if len(np.unique(labels)) < 2:
        raise ValueError("triplets need at least two pose clusters")
    pos = np.empty(len(labels), dtype=np.int64)
    neg = np.empty(len(labels), dtype=np.int64)
    members = {c: np.flatnonzero(labels == c) for c in np.unique(labels)}
    for i, c in enumerate(labels):
        same = members[c][members[c] != i]
        pos[i] = rng.choice(same) if len(same) else i
        neg[i] = rng.choice(np.flatnonzero(labels != c))
    return pos, neg


@torch.no_grad()
def fit_pose_basis(vae: PoseVAE, poses: np.ndarray, clusters: PoseClusters | None = None,
                   **cluster_kwargs) -> tuple[PoseClusters, torch.Tensor]:
    """Cluster the training poses (if not given) and build ``P_basis`` from the VAE's ``mu_p``.

    Parameters
    ----------
    vae : PoseVAE
        Trained (and OPL fine-tuned) pose VAE.
    poses : ndarray, shape (M, J, 3)
        Training poses, m.
    clusters : PoseClusters, optional
        Clusters from :func:`radarkit.models.mmjoints.cluster_poses` (computed when None).
    **cluster_kwargs
        Passed to ``cluster_poses`` (``n_basis`` defaults to the VAE's latent dimension).

    Returns
    -------
    clusters : PoseClusters
    basis : Tensor, shape (D_p, D_p)
        ``P_basis`` (columns = basis vectors); set it with ``PoseBasis.set_basis``.

    Raises
    ------
    ValueError
        Too few clusters, or a singular basis.

    References
    ----------
    mmJoints sections 4.1 and 5.2 (eq. 9-10).
    """
    if clusters is None:
        cluster_kwargs.setdefault("n_basis", vae.latent_dim)
        clusters = cluster_poses(poses, **cluster_kwargs)
    was_training = vae.training
    vae.eval()
    p = torch.as_tensor(np.asarray(poses), dtype=torch.float32, device=vae.pose_mean.device)
    mu, _ = vae.encode(p)
    vae.train(was_training)
    return clusters, build_pose_basis(mu.cpu(), clusters.labels, clusters.selected)


def latent_neighbours(mu_p: np.ndarray, sigma_p: np.ndarray, m_max: int = 32) -> list[np.ndarray]:
    """For every pose, its closest poses in the latent space within ``||sigma_p / 2||`` (itself first).

    Parameters
    ----------
    mu_p, sigma_p : ndarray, shape (M, D_p)
        Latent means and standard deviations of the training poses.
    m_max : int
        ``M_max``, the most neighbours kept.

    Returns
    -------
    list of ndarray (int64)
        Neighbour indices per pose, nearest first (always contains the pose itself).

    References
    ----------
    mmJoints section 4.3, step 1.
    """
    mu_p = np.asarray(mu_p, dtype=np.float64)
    radius = np.linalg.norm(np.asarray(sigma_p, dtype=np.float64) / 2.0, axis=1)
    out = []
    for i in range(len(mu_p)):
        d = np.linalg.norm(mu_p - mu_p[i], axis=1)
        d[i] = -1.0  # itself first
        order = np.argsort(d, kind="stable")[:m_max]
        out.append(order[d[order] <= radius[i]])
    return out


def signal_gmm_from_gaussians(mu_s: np.ndarray, sigma_s: np.ndarray, n_components: int,
                              samples_per_gaussian: int = 32, seed: int = 0) -> GMMParams:
    """Fit a ``G``-component diagonal GMM to samples drawn from a set of signal Gaussians (eq. 7-8).

    Parameters
    ----------
    mu_s, sigma_s : ndarray, shape (M, D_S)
        ``N(mu_S_i, diag(sigma_S_i)^2)`` of the ``M`` signal windows.
    n_components : int
        ``G``.
    samples_per_gaussian : int
        Samples drawn from each Gaussian (``M * samples_per_gaussian >= G`` is required).
    seed : int
        Random source of sampling and fitting.

    Returns
    -------
    GMMParams
        weights ``(G,)``, means and variances ``(G, D_S)``, float32 tensors.

    Raises
    ------
    ValueError
        Fewer samples than components.

    References
    ----------
    mmJoints section 4.3, step 2; scikit-learn ``GaussianMixture(covariance_type="diag")``.
    """
    from sklearn.mixture import GaussianMixture

    mu_s = np.atleast_2d(np.asarray(mu_s, dtype=np.float64))
    sigma_s = np.atleast_2d(np.asarray(sigma_s, dtype=np.float64))
    if len(mu_s) * samples_per_gaussian < n_components:
        raise ValueError(f"{len(mu_s) * samples_per_gaussian} samples for {n_components} components")
    rng = np.random.default_rng(seed)
    x = (mu_s[:, None, :] + sigma_s[:, None, :] * rng.standard_normal(
        (len(mu_s), samples_per_gaussian, mu_s.shape[1]))).reshape(-1, mu_s.shape[1])
    gmm = GaussianMixture(n_components, covariance_type="diag", random_state=seed).fit(x)
    return GMMParams(torch.as_tensor(gmm.weights_, dtype=torch.float32),
                     torch.as_tensor(gmm.means_, dtype=torch.float32),
                     torch.as_tensor(gmm.covariances_, dtype=torch.float32))


def _stack(gmms: list[GMMParams]) -> GMMParams:
    return GMMParams(*(torch.stack(list(parts)) for parts in zip(*gmms, strict=True)))


def target_signal_gmms(mu_p: np.ndarray, sigma_p: np.ndarray, mu_s: np.ndarray, sigma_s: np.ndarray,
                       n_components: int, m_max: int = 32, samples_per_gaussian: int = 32,
                       seed: int = 0) -> GMMParams:
    """Empirical signal distribution of every training pose: the generator's targets (section 4.3).

    For each pose, the signal Gaussians of its latent neighbours (:func:`latent_neighbours`) are
    sampled and fitted with a ``G``-component diagonal GMM (:func:`signal_gmm_from_gaussians`). One
    scikit-learn fit per pose: run it once and cache the result.

    Parameters
    ----------
    mu_p, sigma_p : ndarray, shape (M, D_p)
        Pose latents.
    mu_s, sigma_s : ndarray, shape (M, D_S)
        Signal features of the same samples.
    n_components : int
        ``G``.
    m_max : int
        ``M_max``.
    samples_per_gaussian : int
        Samples per neighbour (at least ``G``, so a pose without neighbours still fits).
    seed : int
        Random source.

    Returns
    -------
    GMMParams
        weights ``(M, G)``, means and variances ``(M, G, D_S)``.

    References
    ----------
    mmJoints section 4.3 (eq. 7-8).
    """
    samples_per_gaussian = max(samples_per_gaussian, n_components)
    neigh = latent_neighbours(mu_p, sigma_p, m_max)
    mu_s, sigma_s = np.asarray(mu_s), np.asarray(sigma_s)
    return _stack([signal_gmm_from_gaussians(mu_s[idx], sigma_s[idx], n_components, samples_per_gaussian,
                                             seed + i) for i, idx in enumerate(neigh)])


def basis_signal_gmms(clusters: PoseClusters, mu_s: np.ndarray, sigma_s: np.ndarray, n_components: int,
                      max_members: int = 256, samples_per_gaussian: int = 8, seed: int = 0) -> GMMParams:
    """Empirical signal distributions ``x_hat_D_i`` of the ``D_p`` basis clusters (eq. 9).

    Parameters
    ----------
    clusters : PoseClusters
        Pose clusters with the selected basis clusters.
    mu_s, sigma_s : ndarray, shape (M, D_S)
        Signal features of the training samples (same order as the clustered poses).
    n_components : int
        ``G``.
    max_members : int
        Members of a cluster used (random subset beyond that).
    samples_per_gaussian : int
        Samples per member Gaussian.
    seed : int
        Random source.

    Returns
    -------
    GMMParams
        weights ``(D_p, G)``, means and variances ``(D_p, G, D_S)``; store them with
        ``LatentSignalDistributionGenerator.set_basis_distributions``.

    References
    ----------
    mmJoints section 5.2, step 1.
    """
    rng = np.random.default_rng(seed)
    mu_s, sigma_s = np.asarray(mu_s), np.asarray(sigma_s)
    out = []
    for i, c in enumerate(clusters.selected):
        idx = np.flatnonzero(clusters.labels == c)
        if len(idx) > max_members:
            idx = rng.choice(idx, max_members, replace=False)
        per = max(samples_per_gaussian, -(-n_components // len(idx)))
        out.append(signal_gmm_from_gaussians(mu_s[idx], sigma_s[idx], n_components, per, seed + i))
    return _stack(out)


# ----------------------------------------------------------------------------------------------------------
# losses per stage, and step functions for radarkit.train.loop
# ----------------------------------------------------------------------------------------------------------

def pose_vae_loss(model: MMJoints, poses: torch.Tensor, beta: float = 1e-3) -> torch.Tensor:
    """Stage ``"pose_vae"``: pose VAE objective (eq. 4) on ground-truth poses ``(B, J, 3)``, m.

    Parameters
    ----------
    model : MMJoints
    poses : Tensor, shape (B, J, 3)
    beta : float
        ``lambda_step2``.

    Returns
    -------
    Tensor, scalar

    References
    ----------
    mmJoints section 4.1, step 2.
    """
    vae = model.pose_vae
    recon, mu, logvar = vae(poses)
    return vae_loss(recon, poses, mu, logvar, beta, vae.pose_scale)


def pose_basis_loss(model: MMJoints, poses: torch.Tensor, labels: torch.Tensor, lambda_s: float = 2.0,
                    reconstruction_weight: float = 1.0, beta: float = 1e-3) -> torch.Tensor:
    """Stage ``"pose_basis"``: OPL fine-tuning of the pose encoder on the basis clusters (eq. 5).

    Parameters
    ----------
    model : MMJoints
    poses : Tensor, shape (B, J, 3)
        Poses of the selected basis clusters, m.
    labels : Tensor, shape (B,)
        Their cluster.
    lambda_s : float
        ``lambda_step3``.
    reconstruction_weight : float
        Weight of the eq. 4 loss kept alongside so the decoder stays usable (0: OPL only, as
        written in the paper).
    beta : float
        ``lambda_step2`` of that term.

    Returns
    -------
    Tensor, scalar

    References
    ----------
    mmJoints section 4.1, step 3; Ranasinghe et al. 2021.
    """
    vae = model.pose_vae
    recon, mu, logvar = vae(poses)
    loss = orthogonal_projection_loss(mu, labels, lambda_s)
    if reconstruction_weight:
        loss = loss + reconstruction_weight * vae_loss(recon, poses, mu, logvar, beta, vae.pose_scale)
    return loss


def signal_loss(model: MMJoints, anchor: _Window, positive: _Window, negative: _Window,
                labels: torch.Tensor | None = None, lambdas: tuple[float, float, float] = (1.0, 1.0, 1e-3),
                margin: float = 1.0) -> torch.Tensor:
    """Stage ``"signal"``: signal encoder objective (eq. 6, triplet + CE + KL).

    Parameters
    ----------
    model : MMJoints
    anchor, positive, negative : (Tensor, Tensor)
        ``(points (B, K, N, C), valid (B, K, N))`` windows of the anchor, a similar pose and a
        dissimilar pose (same ``N``; see :func:`collate_point_windows`).
    labels : Tensor, shape (B,), optional
        Pose cluster of the anchors (the CE term is skipped without it).
    lambdas, margin
        As in :func:`radarkit.models.mmjoints.signal_encoder_loss`.

    Returns
    -------
    Tensor, scalar

    References
    ----------
    mmJoints section 4.2.
    """
    b = anchor[0].shape[0]
    points = torch.cat([anchor[0], positive[0], negative[0]])
    valid = torch.cat([anchor[1], positive[1], negative[1]])
    mu, logvar, logits = model.signal_encoder(points, valid)
    return signal_encoder_loss(mu[:b], logvar[:b], mu[b:2 * b], mu[2 * b:],
                               logits[:b] if logits is not None and labels is not None else None,
                               labels, lambdas, margin)


def generator_loss(model: MMJoints, poses: torch.Tensor, target: GMMParams, points: torch.Tensor,
                   valid: torch.Tensor, lambda_div: float = 1e-3) -> torch.Tensor:
    """Stage ``"distribution"``: latent signal distribution objective (eq. 15).

    The pose VAE, basis and signal encoder run without autograd.

    Parameters
    ----------
    model : MMJoints
    poses : Tensor, shape (B, J, 3)
        Ground-truth poses, m.
    target : GMMParams
        Their empirical signal mixtures (:func:`target_signal_gmms`), weights ``(B, G)``.
    points, valid : Tensor
        The matching signal windows ``(B, K, N, C)``, ``(B, K, N)``.
    lambda_div : float
        ``lambda_Div``.

    Returns
    -------
    Tensor, scalar

    References
    ----------
    mmJoints sections 5.2 (step 4) and 6.1.
    """
    with torch.no_grad():
        p, _ = model.pose_vae.encode(poses)
        p_omega = model.basis(p)
        mu_s, logvar_s, _ = model.signal_encoder(points, valid)
    return distribution_loss(model.generator(p_omega), target, mu_s, logvar_s.exp(), lambda_div)


def surrogate_loss(model: MMJoints, pose_pred: torch.Tensor, pose_true: torch.Tensor, points: torch.Tensor,
                   valid: torch.Tensor, lambda_inter: float = 0.5) -> torch.Tensor:
    """Stage ``"surrogate"``: surrogate pose objective (eq. 19); earlier parts run without autograd.

    Parameters
    ----------
    model : MMJoints
    pose_pred : Tensor, shape (B, J, 3)
        Black-box poses, m.
    pose_true : Tensor, shape (B, J, 3)
        Ground-truth poses, m (their latent ``mu_p`` is the target).
    points, valid : Tensor
        Signal windows.
    lambda_inter : float
        Weight of the intermediate-feature regulariser.

    Returns
    -------
    Tensor, scalar

    References
    ----------
    mmJoints section 6.2.
    """
    with torch.no_grad():
        p_pred, _ = model.pose_vae.encode(pose_pred)
        p_true, _ = model.pose_vae.encode(pose_true)
        mu_s, logvar_s, _ = model.signal_encoder(points, valid)
        gmm = model.generator(model.basis(p_pred))
        terms = weighted_jeffreys_terms(mu_s, logvar_s.exp(), gmm)
    p_refine, p_inter = model.refiner(terms, gmm.weights, mu_s, p_pred)
    return surrogate_pose_loss(p_refine, p_inter, p_true, lambda_inter)


def head_loss(model: MMJoints, pose_pred: torch.Tensor, points: torch.Tensor, valid: torch.Tensor,
              xi_true: torch.Tensor, kappa_true: torch.Tensor) -> torch.Tensor:
    """Stage ``"descriptor"``: descriptor objective (eq. 20) for the head and the current-frame encoder.

    Parameters
    ----------
    model : MMJoints
    pose_pred : Tensor, shape (B, J, 3)
        Black-box poses, m.
    points, valid : Tensor
        Signal windows ``(B, K, N, C)``, ``(B, K, N)`` (current frame last).
    xi_true, kappa_true : Tensor, shape (B, J)
        Ground-truth descriptors (:func:`radarkit.metrics.descriptors.ground_truth_descriptors`).

    Returns
    -------
    Tensor, scalar

    References
    ----------
    mmJoints section 6.3.
    """
    with torch.no_grad():
        p_pred, _ = model.pose_vae.encode(pose_pred)
        mu_s, logvar_s, _ = model.signal_encoder(points, valid)
        gmm = model.generator(model.basis(p_pred))
        terms = weighted_jeffreys_terms(mu_s, logvar_s.exp(), gmm)
        p_refine, _ = model.refiner(terms, gmm.weights, mu_s, p_pred)
    extra = model.extra_inputs(pose_pred, points, valid)
    xi, kappa = model.head(p_refine, p_pred, model.frame_feature(points, valid), extra)
    return descriptor_loss(xi, kappa, xi_true, kappa_true)


#: Training stages in the paper's order.
STAGES = ("pose_vae", "pose_basis", "signal", "distribution", "surrogate", "descriptor")


def stage_parameters(model: MMJoints, stage: str) -> list[torch.nn.Parameter]:
    """The parameters a stage trains (build the stage's optimizer over these only).

    Parameters
    ----------
    model : MMJoints
    stage : str
        One of :data:`STAGES`.

    Returns
    -------
    list of Parameter

    Raises
    ------
    ValueError
        Unknown stage.
    """
    parts = {"pose_vae": [model.pose_vae], "pose_basis": [model.pose_vae.encoder, model.pose_vae.to_mu,
                                                          model.pose_vae.to_logvar, model.pose_vae.decoder],
             "signal": [model.signal_encoder], "distribution": [model.generator],
             "surrogate": [model.refiner], "descriptor": [model.head, model.frame_encoder]}
    if stage not in parts:
        raise ValueError(f"unknown stage {stage!r} (choose from {', '.join(STAGES)})")
    return [p for module in parts[stage] for p in module.parameters()]


def stage_step_fn(stage: str, **loss_kwargs):
    """A ``step_fn(model, batch, device) -> loss`` for :func:`radarkit.train.loop.fit` / ``train_epoch``.

    Batches are dictionaries of tensors (moved to ``device`` here):

    ============  ==========================================================================
    stage         keys
    ============  ==========================================================================
    pose_vae      ``pose``
    pose_basis    ``pose``, ``cluster``
    signal        ``points``, ``valid``, ``pos_points``, ``pos_valid``, ``neg_points``,
                  ``neg_valid``, optional ``cluster``
    distribution  ``pose``, ``points``, ``valid``, ``target_weights``, ``target_means``,
                  ``target_variances``
    surrogate     ``pose_pred``, ``pose``, ``points``, ``valid``
    descriptor    ``pose_pred``, ``points``, ``valid``, ``xi``, ``kappa``
    ============  ==========================================================================

    Parameters
    ----------
    stage : str
        One of :data:`STAGES`.
    **loss_kwargs
        Weights passed to the stage's loss function (e.g. ``beta``, ``lambda_div``).

    Returns
    -------
    callable

    Raises
    ------
    ValueError
        Unknown stage.
    """
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r} (choose from {', '.join(STAGES)})")

    def step_fn(model: MMJoints, batch: dict, device: torch.device) -> torch.Tensor:
        b = move_to(batch, device)
        if stage == "pose_vae":
            return pose_vae_loss(model, b["pose"], **loss_kwargs)
        if stage == "pose_basis":
            return pose_basis_loss(model, b["pose"], b["cluster"], **loss_kwargs)
        if stage == "signal":
            return signal_loss(model, (b["points"], b["valid"]), (b["pos_points"], b["pos_valid"]),
                               (b["neg_points"], b["neg_valid"]), b.get("cluster"), **loss_kwargs)
        if stage == "distribution":
            target = GMMParams(b["target_weights"], b["target_means"], b["target_variances"])
            return generator_loss(model, b["pose"], target, b["points"], b["valid"], **loss_kwargs)
        if stage == "surrogate":
            return surrogate_loss(model, b["pose_pred"], b["pose"], b["points"], b["valid"], **loss_kwargs)
        return head_loss(model, b["pose_pred"], b["points"], b["valid"], b["xi"], b["kappa"])

    return step_fn


def refinement_step_fn(net: RefinementMLP, batch: dict, device: torch.device) -> torch.Tensor:
    """``step_fn`` of the downstream refinement MLP: MSE (m^2) of ``net(batch["joints"])`` to
    ``batch["pose"]``; ``joints`` is ``(B, J, 5)`` (x, y, z, xi, kappa) or ``(B, J, 3)`` for the
    baseline (mmJoints section 8.1)."""
    b = move_to(batch, device)
    return F.mse_loss(net(b["joints"]), b["pose"])


def activity_step_fn(net: ActivityLSTM, batch: dict, device: torch.device) -> torch.Tensor:
    """``step_fn`` of the activity LSTM: cross-entropy of ``net(batch["joints"])`` (``(B, T, J, F)``)
    against ``batch["label"]`` (mmJoints section 8.2)."""
    b = move_to(batch, device)
    return F.cross_entropy(net(b["joints"]), b["label"])


# ----------------------------------------------------------------------------------------------------------
# checkpoints (radarkit.train.checkpoint)
# ----------------------------------------------------------------------------------------------------------

CHECKPOINT_NAME = "mmjoints"


def save_mmjoints(model: MMJoints, path: str | os.PathLike, *, epoch: int = 0, metrics: dict | None = None,
                  force: bool = True, **meta) -> None:
    """Save an :class:`MMJoints` with :func:`radarkit.train.checkpoint.save_checkpoint`.

    The constructor arguments go into the header's ``config`` (with ``meta`` under ``"meta"``), so
    :func:`load_mmjoints` can rebuild the model; the weights include the basis, the empirical basis
    distributions and the descriptor statistics (buffers).

    Parameters
    ----------
    model : MMJoints
    path : str or os.PathLike
        Output file (``*.ckpt``).
    epoch : int
        Epochs completed.
    metrics : dict, optional
        Metrics to record (sMAPE, wMAPE, ...).
    force : bool
        Replace an existing file.
    **meta
        Extra JSON-serialisable metadata (skeleton name, training data, ...).

    Raises
    ------
    CheckpointError
        Metadata not JSON-serialisable.
    StoreError
        The output cannot be written.
    """
    save_checkpoint(path, model, name=CHECKPOINT_NAME, epoch=epoch, config={**model.hparams, "meta": meta},
                    metrics=metrics, force=force)


def load_mmjoints(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> tuple[MMJoints, dict]:
    """Rebuild and load a model saved by :func:`save_mmjoints`.

    Parameters
    ----------
    path : str or os.PathLike
        The checkpoint.
    map_location : str or torch.device
        Device of the loaded model.

    Returns
    -------
    model : MMJoints
        In eval mode.
    meta : dict
        The stored metadata.

    Raises
    ------
    CheckpointError
        Missing or damaged file, a checkpoint of another model, or weights that do not fit.
    """
    header = read_header(path)
    if header.get("model") != CHECKPOINT_NAME:
        raise CheckpointError(f"checkpoint is for model {header.get('model')!r}, expected "
                              f"{CHECKPOINT_NAME!r}", source=path)
    config = dict(header.get("config", {}))
    meta = config.pop("meta", {})
    try:
        model = MMJoints(**config)
    except TypeError as err:
        raise CheckpointError(f"configuration does not fit MMJoints: {err}", source=path) from None
    load_checkpoint(path, model, name=CHECKPOINT_NAME, map_location=map_location)
    return model.to(map_location).eval(), meta
