"""mmJoints end to end on simulated data: train the descriptor model, then measure what it gives.

Acceptance script of issue 8. On a dataset written by ``radarkit simulate`` (point clouds detected
from the raw recordings with :mod:`radarkit.detect`), with two stand-in black-box estimators, a
biased one that ignores the legs and a reasonable one (ground truth plus a few centimetres of
correlated error, :mod:`radarkit.data.mmjoints`):

1. trains the estimator-independent parts of :class:`radarkit.models.mmjoints.MMJoints` once
   (pose VAE, GMM/BIC clusters and OPL-tuned pose basis, signal encoder, latent signal
   distribution generator against cached per-pose signal mixtures), then the surrogate pose and the
   descriptor head for each estimator (:func:`train_mmjoints`);
2. reports sMAPE and wMAPE of the estimated ``xi`` and ``kappa`` against the ground-truth
   descriptors (eq. 1-3) on held-out subjects (target < 10 %);
3. trains the downstream refinement MLP on 3-D and on 5-D joints and reports MPJPE, MAE and
   PCK@0.5 (torso) before and after;
4. trains the activity LSTM over 5 frames with and without descriptors and reports accuracy;
5. writes a JSON summary.

Usage::

    radarkit simulate --scene hupr --subjects 8 --seconds 30 --radars hori --seed 0 --out SIM
    python -m radarkit.pipelines.mmjoints_sim SIM --out RUN [--test-subjects 2] [--seed 0]

Training choices for a small CPU budget (two shared cores) are collected in
:class:`MMJointsSettings`; the model uses the paper's ``D_p = 32``, ``D_S = 64`` with a narrower
attention width, and the descriptor head also gets the sensing score measured at the estimated
joints (``use_joint_signal``; eq. 1 at the predicted pose), without which ``xi``, a function of the
``1 / d^2`` distances of single joints to a handful of points, is not recovered from the pooled
point-set features to 10 %.

References
----------
.. [1] Z. Wang, M. Monjur, S. Nirjon, "mmJoints: Expanding Joint Representations Beyond (x, y, z)
   in mmWave-Based 3D Pose Estimation", sections 4-8 (stages, metrics, downstream tasks).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["MMJointsSettings", "train_mmjoints", "describe_poses", "run", "main"]


@dataclass(frozen=True)
class MMJointsSettings:
    """Training settings of the mmJoints stages and the downstream models.

    Parameters
    ----------
    k : int
        ``K``: point-cloud frames per signal window (current frame last).
    max_points : int
        Points kept per frame (random subset beyond; body clouds here have 10-30).
    batch : int
        Mini-batch size.
    lr : float
        Adam learning rate of every stage.
    epochs : dict of str to int
        Epochs per stage (:data:`radarkit.train.mmjoints.STAGES`).
    n_basis : int
        ``D_p``, also the pose basis size (32 in the paper).
    n_components : int
        ``G``, components of the latent signal mixtures.
    gmm_poses : int
        Training poses whose empirical signal mixture is fitted (one scikit-learn fit each; the
        distribution stage trains on these).
    dim : int
        Width of the attention parts (128 in :class:`MMJoints`; 64 for the CPU budget).
    n_anchors : int
        Signal-encoder anchors per frame.
    use_joint_signal : bool
        Feed the sensing score at the estimated joints to the descriptor head.
    downstream_epochs : int
        Epochs of the refinement MLP and of the activity LSTM.
    activity_frames : int
        Frames per activity window (5 in the paper).
    seed : int
        Seed of everything.
    """

    k: int = 5
    max_points: int = 48
    batch: int = 32
    lr: float = 1e-3
    epochs: dict[str, int] = field(default_factory=lambda: {
        "pose_vae": 30, "pose_basis": 10, "signal": 3, "distribution": 15, "surrogate": 6, "descriptor": 30})
    n_basis: int = 32
    n_components: int = 4
    gmm_poses: int = 400
    dim: int = 64
    n_anchors: int = 16
    use_joint_signal: bool = True
    downstream_epochs: int = 60
    activity_frames: int = 5
    seed: int = 0


def _echo_default(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _minibatches(n: int, batch: int, rng: np.random.Generator | None):
    order = rng.permutation(n) if rng is not None else np.arange(n)
    for i in range(0, n, batch):
        yield order[i:i + batch]


def _run_stage(model, stage: str, make_batch: Callable[[np.ndarray], dict], n: int,
               settings: MMJointsSettings, device, echo, epochs: int | None = None) -> float:
    import torch

    from radarkit.train.mmjoints import stage_parameters, stage_step_fn

    epochs = settings.epochs.get(stage, 0) if epochs is None else epochs
    step_fn = stage_step_fn(stage)
    opt = torch.optim.Adam(stage_parameters(model, stage), lr=settings.lr)
    rng = np.random.default_rng(settings.seed)
    model.train()
    loss_mean = float("nan")
    t0 = time.perf_counter()
    for _ in range(epochs):
        losses = []
        for idx in _minibatches(n, settings.batch, rng):
            loss = step_fn(model, make_batch(idx), device)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            losses.append(loss.item())
        loss_mean = float(np.mean(losses)) if losses else float("nan")
    echo(f"  stage {stage}: {epochs} epochs, last loss {loss_mean:.4g} ({time.perf_counter() - t0:.0f} s)")
    model.eval()
    return loss_mean


def _windows_tensor(clouds_per_seq: Sequence[Sequence[np.ndarray]], settings: MMJointsSettings):
    from radarkit.train.mmjoints import collate_point_windows, point_windows

    windows = [w for clouds in clouds_per_seq for w in point_windows(list(clouds), settings.k)]
    return collate_point_windows(windows, settings.max_points, settings.seed)


def train_upstream(model, points, valid, gt_poses: np.ndarray, settings: MMJointsSettings,
                   device, echo: Callable[[str], None] = _echo_default) -> dict[str, Any]:
    """Train the estimator-independent mmJoints stages in the paper's order (sections 4-5).

    Parameters
    ----------
    model : MMJoints
        Fresh model (on ``device``).
    points, valid : Tensor, shapes (M, K, N, C) and (M, K, N)
        Padded signal windows of every training frame.
    gt_poses : ndarray, shape (M, J, 3)
        Ground-truth poses of those frames, m.
    settings : MMJointsSettings
    device : torch.device
    echo : callable
        Progress messages.

    Returns
    -------
    dict
        Final loss per stage and the number of pose clusters.

    References
    ----------
    mmJoints sections 4.1-4.3 and 5.2.
    """
    import torch

    from radarkit.train.mmjoints import (
        basis_signal_gmms,
        fit_pose_basis,
        sample_triplets,
        target_signal_gmms,
    )

    info: dict[str, Any] = {}
    gt = torch.as_tensor(gt_poses, dtype=torch.float32, device=device)
    m = len(gt)
    model.pose_vae.set_normalisation(gt)
    info["pose_vae"] = _run_stage(model, "pose_vae", lambda i: {"pose": gt[i]}, m, settings, device, echo)
    clusters, _ = fit_pose_basis(model.pose_vae, gt_poses, n_basis=settings.n_basis, seed=settings.seed)
    info["pose_clusters"] = clusters.n_clusters
    labels_all = torch.as_tensor(clusters.labels, device=device)
    in_basis = np.flatnonzero(np.isin(clusters.labels, clusters.selected))
    info["pose_basis"] = _run_stage(model, "pose_basis", lambda i: {"pose": gt[in_basis[i]],
                                                                   "cluster": labels_all[in_basis[i]]},
                                    len(in_basis), settings, device, echo)
    _, basis = fit_pose_basis(model.pose_vae, gt_poses, clusters)
    model.basis.set_basis(basis.to(device))

    # signal encoder: triplets over pose clusters; cluster ids mapped to the classifier's classes
    rng = np.random.default_rng(settings.seed)
    pos, neg = sample_triplets(clusters.labels, rng)
    cls = torch.as_tensor(clusters.labels % model.hparams["n_pose_classes"], device=device)
    pts, val = points.to(device), valid.to(device)
    info["signal"] = _run_stage(model, "signal", lambda i: {
        "points": pts[i], "valid": val[i], "pos_points": pts[pos[i]], "pos_valid": val[pos[i]],
        "neg_points": pts[neg[i]], "neg_valid": val[neg[i]], "cluster": cls[i]}, m, settings, device, echo)

    with torch.no_grad():
        mus, logvars, mup, logvarp = [], [], [], []
        for idx in _minibatches(m, 4 * settings.batch, None):
            mu, lv, _ = model.signal_encoder(pts[idx], val[idx])
            mus.append(mu.cpu())
            logvars.append(lv.cpu())
            a, b = model.pose_vae.encode(gt[idx])
            mup.append(a.cpu())
            logvarp.append(b.cpu())
    mu_s, sigma_s = torch.cat(mus).numpy(), torch.cat(logvars).mul(0.5).exp().numpy()
    mu_p, sigma_p = torch.cat(mup).numpy(), torch.cat(logvarp).mul(0.5).exp().numpy()
    t0 = time.perf_counter()
    model.generator.set_basis_distributions(_gmm_to(basis_signal_gmms(
        clusters, mu_s, sigma_s, settings.n_components, seed=settings.seed), device))
    sub = np.sort(rng.choice(m, min(settings.gmm_poses, m), replace=False))
    target = target_signal_gmms(mu_p[sub], sigma_p[sub], mu_s[sub], sigma_s[sub], settings.n_components,
                                seed=settings.seed)  # one GMM fit per pose, computed once (cached here)
    echo(f"  empirical signal mixtures: {len(sub)} poses + {settings.n_basis} basis clusters "
         f"({time.perf_counter() - t0:.0f} s)")
    target = _gmm_to(target, device)
    sub_t = torch.as_tensor(sub, device=device)
    info["distribution"] = _run_stage(model, "distribution", lambda i: {
        "pose": gt[sub_t[i]], "points": pts[sub_t[i]], "valid": val[sub_t[i]],
        "target_weights": target.weights[i], "target_means": target.means[i],
        "target_variances": target.variances[i]}, len(sub), settings, device, echo)
    return info


def _gmm_to(gmm, device):
    """Move a :class:`~radarkit.models.mmjoints.GMMParams` to ``device``."""
    return type(gmm)(*(t.to(device) for t in gmm))


def train_head(model, points, valid, pred_poses: np.ndarray, gt_poses: np.ndarray, xi: np.ndarray,
               kappa: np.ndarray, settings: MMJointsSettings, device,
               echo: Callable[[str], None] = _echo_default) -> dict[str, float]:
    """Train the estimator-specific stages: surrogate pose (eq. 19) and descriptor head (eq. 20).

    Parameters
    ----------
    model : MMJoints
        With the upstream stages trained (:func:`train_upstream`).
    points, valid : Tensor
        Signal windows of the training frames.
    pred_poses, gt_poses : ndarray, shape (M, J, 3)
        The black-box estimator's poses and the ground truth, m.
    xi, kappa : ndarray, shape (M, J)
        Ground-truth descriptors of ``pred_poses``.
    settings : MMJointsSettings
    device : torch.device
    echo : callable

    Returns
    -------
    dict
        Final loss of each stage.

    References
    ----------
    mmJoints sections 6.2-6.3.
    """
    import torch

    def t(a):
        return torch.as_tensor(np.asarray(a), dtype=torch.float32, device=device)

    pred, gt, xi_t, kappa_t = t(pred_poses), t(gt_poses), t(xi), t(kappa)
    pts, val = points.to(device), valid.to(device)
    m = len(pred)
    out = {"surrogate": _run_stage(model, "surrogate", lambda i: {
        "pose_pred": pred[i], "pose": gt[i], "points": pts[i], "valid": val[i]}, m, settings, device, echo)}
    out["descriptor"] = _train_descriptor_cached(model, pred, pts, val, xi_t, kappa_t, settings, echo)
    return out


def _train_descriptor_cached(model, pred, pts, val, xi_t, kappa_t, settings: MMJointsSettings, echo) -> float:
    """Descriptor stage (eq. 20) with the frozen upstream latents computed once.

    Same loss and parameters as :func:`radarkit.train.mmjoints.head_loss` /
    ``stage_parameters(model, "descriptor")``; the pose VAE, signal encoder, generator and surrogate
    refiner are frozen and deterministic in this stage, so ``p_pred`` and ``p_refine`` are computed
    once instead of at every step (the signal encoder dominates the step time on a CPU).
    """
    import torch

    from radarkit.models.mmjoints import descriptor_loss, weighted_jeffreys_terms
    from radarkit.train.mmjoints import stage_parameters

    model.eval()
    with torch.no_grad():
        p_pred_all, p_refine_all = [], []
        for idx in _minibatches(len(pred), 4 * settings.batch, None):
            p_pred, _ = model.pose_vae.encode(pred[idx])
            mu_s, logvar_s, _ = model.signal_encoder(pts[idx], val[idx])
            gmm = model.generator(model.basis(p_pred))
            terms = weighted_jeffreys_terms(mu_s, logvar_s.exp(), gmm)
            p_refine_all.append(model.refiner(terms, gmm.weights, mu_s, p_pred)[0])
            p_pred_all.append(p_pred)
        p_pred_all, p_refine_all = torch.cat(p_pred_all), torch.cat(p_refine_all)
    opt = torch.optim.Adam(stage_parameters(model, "descriptor"), lr=settings.lr)
    rng = np.random.default_rng(settings.seed)
    epochs = settings.epochs.get("descriptor", 0)
    model.head.train()
    model.frame_encoder.train()
    loss_mean, t0 = float("nan"), time.perf_counter()
    for _ in range(epochs):
        losses = []
        for idx in _minibatches(len(pred), settings.batch, rng):
            extra = model.extra_inputs(pred[idx], pts[idx], val[idx])
            frame = model.frame_feature(pts[idx], val[idx])
            xi, kappa = model.head(p_refine_all[idx], p_pred_all[idx], frame, extra)
            loss = descriptor_loss(xi, kappa, xi_t[idx], kappa_t[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        loss_mean = float(np.mean(losses)) if losses else float("nan")
    echo(f"  stage descriptor: {epochs} epochs, last loss {loss_mean:.4g} ({time.perf_counter() - t0:.0f} s)")
    model.eval()
    return loss_mean


def build_model(n_joints: int, settings: MMJointsSettings, stats, device):
    """A fresh :class:`~radarkit.models.mmjoints.MMJoints` for 5-column points (x, y, z, Doppler, SNR).

    Parameters
    ----------
    n_joints : int
        Joints of the described skeleton.
    settings : MMJointsSettings
        ``D_p = n_basis``, ``G``, widths, ``use_joint_signal``.
    stats : DescriptorStats
        Stored in the model's buffers (mean psi, D0, psi scale).
    device : torch.device

    Returns
    -------
    MMJoints
    """
    import torch

    from radarkit.data.mmjoints import INTENSITY_COLUMN, POINT_FEATURES
    from radarkit.models.mmjoints import MMJoints

    torch.manual_seed(settings.seed)
    model = MMJoints(n_joints, point_features=len(POINT_FEATURES), pose_dim=settings.n_basis,
                     n_components=settings.n_components, n_pose_classes=2 * settings.n_basis,
                     dim=settings.dim, n_anchors=settings.n_anchors,
                     use_joint_signal=settings.use_joint_signal, intensity_column=INTENSITY_COLUMN)
    model.set_descriptor_stats(stats.mean_psi, stats.d0_m, stats.psi_scale, stats.min_distance_m)
    return model.to(device)


def describe_poses(model, points, valid, pred_poses: np.ndarray, batch: int = 64
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Estimated ``(xi, kappa)`` of black-box poses with a trained mmJoints model.

    Parameters
    ----------
    model : MMJoints
    points, valid : Tensor, shapes (F, K, N, C), (F, K, N)
        Signal windows of the frames (current frame last).
    pred_poses : ndarray, shape (F, J, 3)
        The black-box poses, m.
    batch : int
        Frames per forward pass.

    Returns
    -------
    xi, kappa : ndarray, shape (F, J), float32
    """
    import torch

    device = next(model.parameters()).device
    model.eval()
    pred = torch.as_tensor(np.asarray(pred_poses), dtype=torch.float32)
    xi, kappa = [], []
    with torch.inference_mode():
        for i in range(0, len(pred), batch):
            out = model(pred[i:i + batch].to(device), points[i:i + batch].to(device),
                        valid[i:i + batch].to(device))
            xi.append(out.xi.float().cpu().numpy())
            kappa.append(out.kappa.float().cpu().numpy())
    n_j = pred.shape[1]

    def cat(parts):
        return np.concatenate(parts) if parts else np.zeros((0, n_j), np.float32)

    return cat(xi), cat(kappa)


def train_mmjoints(clouds_per_seq: Sequence[Sequence[np.ndarray]], gt_per_seq: Sequence[np.ndarray],
                   pred_per_seq: Sequence[np.ndarray], skeleton: str,
                   settings: MMJointsSettings | None = None, device: str | None = "auto",
                   echo: Callable[[str], None] = _echo_default):
    """Train a complete mmJoints model for one black-box estimator.

    Parameters
    ----------
    clouds_per_seq : sequence of sequence of ndarray
        Per training sequence, per frame ``(N_f, 5)`` point clouds (:data:`POINT_FEATURES`).
    gt_per_seq, pred_per_seq : sequence of ndarray, each (F_s, J, 3)
        Ground-truth and estimated poses of every sequence, m.
    skeleton : str
        Joint naming.
    settings : MMJointsSettings, optional
    device : str, optional
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``.
    echo : callable

    Returns
    -------
    model : MMJoints
        Trained, in eval mode, with the descriptor statistics stored.
    stats : DescriptorStats
    info : dict
        Losses per stage.

    References
    ----------
    mmJoints sections 2.2 and 4-6.
    """
    from radarkit.data.mmjoints import INTENSITY_COLUMN, descriptor_targets
    from radarkit.metrics.descriptors import descriptor_statistics
    from radarkit.train.loop import seed_everything, select_device

    settings = settings or MMJointsSettings()
    seed_everything(settings.seed)
    dev = select_device(device)
    clouds = [c for seq in clouds_per_seq for c in seq]
    gt = np.concatenate(gt_per_seq)
    pred = np.concatenate(pred_per_seq)
    stats = _stats(descriptor_statistics, clouds, gt, skeleton, INTENSITY_COLUMN)
    points, valid = _windows_tensor(clouds_per_seq, settings)
    model = build_model(gt.shape[1], settings, stats, dev)
    info = train_upstream(model, points, valid, gt, settings, dev, echo)
    xi, kappa = descriptor_targets(clouds, pred, gt, stats)
    info.update(train_head(model, points, valid, pred, gt, xi, kappa, settings, dev, echo))
    return model.eval(), stats, info


def _stats(descriptor_statistics, clouds, gt, skeleton, intensity_column):
    """Dataset statistics with ``psi_scale`` = std of ``psi`` (SNR-weighted psi saturates at scale 1)."""
    from dataclasses import replace

    stats = descriptor_statistics(clouds, gt, skeleton, intensity_column=intensity_column)
    return replace(stats, psi_scale=max(stats.std_psi, 1e-6))


# ----------------------------------------------------------------------------------------------------------
# downstream tasks
# ----------------------------------------------------------------------------------------------------------

def _fit_net(net, step_fn, tensors: dict, epochs: int, batch: int, lr: float, seed: int, device) -> None:
    import torch

    torch.manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    n = len(next(iter(tensors.values())))
    net.train()
    for _ in range(epochs):
        for idx in _minibatches(n, batch, rng):
            loss = step_fn(net, {k: v[idx] for k, v in tensors.items()}, device)
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()


def _centre(joints: np.ndarray, root: np.ndarray) -> np.ndarray:
    out = joints.copy()
    out[..., :3] -= root
    return out


def refinement_metrics(train_in: np.ndarray, train_gt: np.ndarray, test_in: np.ndarray, test_gt: np.ndarray,
                       pck_threshold_m: float, settings: MMJointsSettings, device) -> dict[str, float]:
    """Train :class:`RefinementMLP` on ``(B, J, C)`` joints and report test MPJPE/MAE/PCK after it.

    Inputs are centred on the mean joint of each pose (the offset is added back), so the MLP learns a
    pose correction rather than positions in the room.

    Parameters
    ----------
    train_in, test_in : ndarray, shape (B, J, C)
        Estimated joints, ``C = 3`` (x, y, z in m) or 5 (with ``xi``, ``kappa``).
    train_gt, test_gt : ndarray, shape (B, J, 3)
        Ground truth, m.
    pck_threshold_m : float
        PCK threshold, m (half the mean torso length for PCK@0.5).
    settings : MMJointsSettings
    device : torch.device

    Returns
    -------
    dict
        ``mpjpe_mm``, ``mae_mm`` and ``pck`` (PCK at ``pck_threshold_m``) of the refined test poses.
    """
    import torch

    from radarkit.models.mmjoints import RefinementMLP
    from radarkit.train.mmjoints import refinement_step_fn

    def prep(x, gt=None):
        root = x[..., :3].mean(axis=1, keepdims=True)
        out = {"joints": torch.as_tensor(_centre(x, root), dtype=torch.float32)}
        if gt is not None:
            out["pose"] = torch.as_tensor(gt - root, dtype=torch.float32)
        return out, root

    net = RefinementMLP(train_in.shape[1], train_in.shape[2]).to(device)
    tr, _ = prep(train_in, train_gt)
    _fit_net(net, refinement_step_fn, tr, settings.downstream_epochs, settings.batch, 1e-3, settings.seed,
             device)
    te, root = prep(test_in)
    with torch.inference_mode():
        refined = net(te["joints"].to(device)).cpu().numpy() + root
    return _pose_metrics(refined, test_gt, pck_threshold_m)


def _pose_metrics(pred: np.ndarray, gt: np.ndarray, pck_threshold_m: float) -> dict[str, float]:
    from radarkit.metrics.joints import mpjpe, pck

    return {"mpjpe_mm": 1e3 * mpjpe(pred, gt), "mae_mm": 1e3 * float(np.abs(pred - gt).mean()),
            "pck": pck(pred, gt, pck_threshold_m)}


def activity_accuracy(train_seqs: Sequence[tuple[np.ndarray, np.ndarray]],
                      test_seqs: Sequence[tuple[np.ndarray, np.ndarray]], classes: Sequence[str],
                      settings: MMJointsSettings, device) -> float:
    """Train :class:`ActivityLSTM` on windows of ``T`` frames and return the test accuracy.

    Parameters
    ----------
    train_seqs, test_seqs : sequence of (joints (F, J, C), labels (F,))
        Per sequence, joints (3-D or 5-D) and action labels.
    classes : sequence of str
        Class names (index = label id).
    settings : MMJointsSettings
    device : torch.device

    Returns
    -------
    float
        Fraction of test windows classified correctly.
    """
    import torch

    from radarkit.data.mmjoints import activity_windows
    from radarkit.models.mmjoints import ActivityLSTM
    from radarkit.train.mmjoints import activity_step_fn

    index = {c: i for i, c in enumerate(classes)}

    def windows(seqs):
        xs, ys = [], []
        for joints, labels in seqs:
            w, lab = activity_windows(joints, labels, settings.activity_frames)
            root = w[:, -1:, :, :3].mean(axis=2, keepdims=True)  # pose centre of the last frame
            xs.append(_centre(w, root))
            ys.append(np.array([index[str(v)] for v in lab], np.int64))
        return torch.as_tensor(np.concatenate(xs)), torch.as_tensor(np.concatenate(ys))

    x_tr, y_tr = windows(train_seqs)
    x_te, y_te = windows(test_seqs)
    torch.manual_seed(settings.seed)
    net = ActivityLSTM(x_tr.shape[2], len(classes), x_tr.shape[3], hidden=64).to(device)
    _fit_net(net, activity_step_fn, {"joints": x_tr, "label": y_tr}, settings.downstream_epochs // 2,
             settings.batch, 2e-3, settings.seed, device)
    with torch.inference_mode():
        logits = torch.cat([net(x_te[i:i + 256].to(device)).cpu() for i in range(0, len(x_te), 256)])
    return float((logits.argmax(1) == y_te).float().mean())


# ----------------------------------------------------------------------------------------------------------
# the acceptance run
# ----------------------------------------------------------------------------------------------------------

def _split(a: np.ndarray, lengths: list[int]) -> list[np.ndarray]:
    return np.split(a, np.cumsum(lengths)[:-1])


def run(dataset_dir: str | os.PathLike, out_dir: str | os.PathLike, test_subjects: int = 2,
        skeleton: str = "hupr14", settings: MMJointsSettings | None = None, device: str = "auto",
        noise_m: float = 0.03, echo: Callable[[str], None] = _echo_default) -> dict[str, Any]:
    """Train and evaluate mmJoints with a biased and a reasonable estimator on a simulated dataset.

    Parameters
    ----------
    dataset_dir : str or os.PathLike
        Written by ``radarkit simulate`` (``hori`` radar recorded).
    out_dir : str or os.PathLike
        Receives ``summary.json`` and one model checkpoint per estimator.
    test_subjects : int
        Subjects with the highest ids held out for testing (all their sequences).
    skeleton : str
        ``hupr14`` or ``coco13``.
    settings : MMJointsSettings, optional
    device : str
        ``"auto"``, ``"cpu"`` or ``"cuda"``.
    noise_m : float
        Error per coordinate of the reasonable estimator, m.
    echo : callable

    Returns
    -------
    dict
        The summary written to ``summary.json``.
    """
    import torch

    from radarkit.data.mmjoints import (
        INTENSITY_COLUMN,
        descriptor_targets,
        legs_ignored_estimator,
        load_sim_sequences,
        noisy_estimator,
    )
    from radarkit.metrics.descriptors import descriptor_statistics, smape, wmape
    from radarkit.train.loop import seed_everything, select_device
    from radarkit.train.mmjoints import save_mmjoints

    settings = settings or MMJointsSettings()
    t_start = time.perf_counter()
    seed_everything(settings.seed)
    dev = select_device(device)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    seqs = load_sim_sequences(dataset_dir, skeleton=skeleton)
    ids = sorted({s.subject_id for s in seqs})
    if len(ids) <= test_subjects:
        raise ValueError(f"{len(ids)} subjects cannot hold out {test_subjects}")
    test_ids = set(ids[-test_subjects:])
    train = [s for s in seqs if s.subject_id not in test_ids]
    test = [s for s in seqs if s.subject_id in test_ids]
    echo(f"{len(seqs)} sequences: train subjects {sorted(set(ids) - test_ids)} "
         f"({sum(len(s.poses) for s in train)} frames), test {sorted(test_ids)} "
         f"({sum(len(s.poses) for s in test)} frames); points per frame "
         f"{np.mean([len(c) for s in seqs for c in s.clouds]):.1f}")
    train_gt = np.concatenate([s.poses for s in train])
    estimators = {
        "legs_ignored": lambda s, i: legs_ignored_estimator(s.poses, train_gt, skeleton),
        "noisy": lambda s, i: noisy_estimator(s.poses, noise_m, seed=settings.seed + 1000 + i),
    }
    pred = {name: ([f(s, i) for i, s in enumerate(train)], [f(s, 100 + i) for i, s in enumerate(test)])
            for name, f in estimators.items()}
    tr_clouds = [s.clouds for s in train]
    te_clouds = [c for s in test for c in s.clouds]
    tr_lengths = [len(s.poses) for s in train]
    test_gt = np.concatenate([s.poses for s in test])
    stats = _stats(descriptor_statistics, [c for s in train for c in s.clouds], train_gt, skeleton,
                   INTENSITY_COLUMN)
    tr_points, tr_valid = _windows_tensor(tr_clouds, settings)
    te_points, te_valid = _windows_tensor([s.clouds for s in test], settings)

    echo("upstream stages (shared by both estimators)")
    t0 = time.perf_counter()
    base = build_model(train_gt.shape[1], settings, stats, dev)
    upstream = train_upstream(base, tr_points, tr_valid, train_gt, settings, dev, echo)
    upstream["seconds"] = time.perf_counter() - t0
    classes = sorted({str(a) for s in seqs for a in s.actions})
    summary: dict[str, Any] = {
        "dataset": str(dataset_dir), "skeleton": skeleton, "device": str(dev),
        "train_subjects": sorted(set(ids) - test_ids), "test_subjects": sorted(test_ids),
        "train_frames": len(train_gt), "test_frames": len(test_gt), "classes": classes,
        "settings": asdict(settings), "noise_m": noise_m, "descriptor_stats": asdict(stats),
        "points_per_frame": float(np.mean([len(c) for s in seqs for c in s.clouds])),
        "upstream": upstream, "estimators": {},
    }
    for name, (tr_pred, te_pred) in pred.items():
        echo(f"estimator {name}: surrogate + descriptor stages")
        t0 = time.perf_counter()
        model = copy.deepcopy(base)
        tr_pred_all = np.concatenate(tr_pred)
        te_pred_all = np.concatenate(te_pred)
        tr_xi, tr_kappa = descriptor_targets([c for s in train for c in s.clouds], tr_pred_all, train_gt,
                                             stats)
        head = train_head(model, tr_points, tr_valid, tr_pred_all, train_gt, tr_xi, tr_kappa, settings, dev,
                          echo)
        train_s = time.perf_counter() - t0
        save_mmjoints(model, out / f"mmjoints_{name}.ckpt", metrics=head, skeleton=skeleton, estimator=name,
                      descriptor_stats=asdict(stats), point_features=list(_point_features()), k=settings.k,
                      max_points=settings.max_points)
        te_xi, te_kappa = descriptor_targets(te_clouds, te_pred_all, test_gt, stats)
        t1 = time.perf_counter()
        est_xi, est_kappa = describe_poses(model, te_points, te_valid, te_pred_all)
        infer_ms = 1e3 * (time.perf_counter() - t1) / len(te_pred_all)
        tr_est_xi, tr_est_kappa = describe_poses(model, tr_points, tr_valid, tr_pred_all)
        res: dict[str, Any] = {
            "train_seconds": train_s, "losses": head, "inference_ms_per_frame_batched": infer_ms,
            "smape_xi": float(smape(est_xi, te_xi)), "smape_kappa": float(smape(est_kappa, te_kappa)),
            "wmape_xi": float(wmape(est_xi, te_xi)), "wmape_kappa": float(wmape(est_kappa, te_kappa)),
            "mean_xi_true": float(te_xi.mean()), "mean_kappa_true": float(te_kappa.mean()),
        }
        # constant predictors: what the sMAPE would be without looking at the data
        res["smape_xi_train_mean_baseline"] = float(smape(np.full_like(te_xi, tr_xi.mean()), te_xi))
        res["smape_kappa_train_mean_baseline"] = float(smape(np.full_like(te_kappa, tr_kappa.mean()),
                                                             te_kappa))
        # refinement MLP (section 8.1)
        thr = 0.5 * stats.d0_m
        tr5 = np.concatenate([tr_pred_all, tr_est_xi[..., None], tr_est_kappa[..., None]], -1)
        te5 = np.concatenate([te_pred_all, est_xi[..., None], est_kappa[..., None]], -1)
        res["pck_threshold_m"] = thr
        res["refinement"] = {
            "before": _pose_metrics(te_pred_all, test_gt, thr),
            "after_xyz": refinement_metrics(tr_pred_all, train_gt, te_pred_all, test_gt, thr, settings, dev),
            "after_xyz_xi_kappa": refinement_metrics(tr5, train_gt, te5, test_gt, thr, settings, dev),
        }
        # activity recognition (section 8.2)
        tr_split5 = _split(tr5, tr_lengths)
        te_split5 = _split(te5, [len(s.poses) for s in test])
        tr_lab = [s.actions for s in train]
        te_lab = [s.actions for s in test]
        res["activity_accuracy"] = {
            "xyz": activity_accuracy([(j[..., :3], lab) for j, lab in zip(tr_split5, tr_lab, strict=True)],
                                     [(j[..., :3], lab) for j, lab in zip(te_split5, te_lab, strict=True)],
                                     classes, settings, dev),
            "xyz_xi_kappa": activity_accuracy(list(zip(tr_split5, tr_lab, strict=True)),
                                              list(zip(te_split5, te_lab, strict=True)), classes, settings,
                                              dev),
        }
        res["seconds"] = time.perf_counter() - t0
        summary["estimators"][name] = res
        echo(f"  {name}: sMAPE xi {res['smape_xi']:.2f} %, kappa {res['smape_kappa']:.2f} %; activity "
             f"{res['activity_accuracy']['xyz']:.3f} -> {res['activity_accuracy']['xyz_xi_kappa']:.3f}; "
             f"MPJPE {res['refinement']['before']['mpjpe_mm']:.1f} -> "
             f"{res['refinement']['after_xyz']['mpjpe_mm']:.1f} (xyz) / "
             f"{res['refinement']['after_xyz_xi_kappa']['mpjpe_mm']:.1f} (5-D) mm")
    summary["acceptance"] = {
        "smape_below_10": all(r["smape_xi"] < 10 and r["smape_kappa"] < 10
                              for r in summary["estimators"].values()),
        "activity_better_with_descriptors": all(
            r["activity_accuracy"]["xyz_xi_kappa"] > r["activity_accuracy"]["xyz"]
            for r in summary["estimators"].values()),
    }
    summary["total_seconds"] = time.perf_counter() - t_start
    summary["torch_threads"] = torch.get_num_threads()
    from radarkit.atomic import atomic_output

    with atomic_output(out / "summary.json", force=True) as tmp:
        tmp.write_text(json.dumps(summary, indent=2, default=float) + "\n", encoding="utf-8")
    return summary


def _point_features() -> tuple[str, ...]:
    from radarkit.data.mmjoints import POINT_FEATURES

    return POINT_FEATURES


def main(argv: list[str] | None = None) -> None:
    """Command line of the acceptance script (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path, help="dataset folder from 'radarkit simulate'")
    parser.add_argument("--out", type=Path, required=True, help="output folder (summary.json, checkpoints)")
    parser.add_argument("--test-subjects", type=int, default=2)
    parser.add_argument("--skeleton", default="hupr14", choices=["hupr14", "coco13"])
    parser.add_argument("--noise-m", type=float, default=0.03)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads (1: OpenMP threads spin against other processes on a "
                             "shared machine; 2 threads ran 10x slower here under load)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    summary = run(args.dataset, args.out, args.test_subjects, args.skeleton,
                  MMJointsSettings(seed=args.seed), args.device, args.noise_m)
    keys = ("smape_xi", "smape_kappa", "wmape_xi", "wmape_kappa", "activity_accuracy", "refinement")
    short = {k: {m: v[m] for m in keys} for k, v in summary["estimators"].items()}
    print(json.dumps({"acceptance": summary["acceptance"], "total_seconds": summary["total_seconds"],
                      "estimators": short}, indent=2, default=float))


if __name__ == "__main__":  # pragma: no cover
    main()
