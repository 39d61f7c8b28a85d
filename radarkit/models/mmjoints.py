"""mmJoints: per-joint sensing and reliability descriptors for a black-box pose estimator.

mmJoints [1]_ turns a pre-trained estimator's pose ``(J, 3)`` and the radar point clouds of the last
``K`` frames into a sensing score ``xi`` and a reliability score ``kappa`` per joint (targets:
:mod:`radarkit.metrics.descriptors`). The estimator is built from the parts below, one
``nn.Module`` (or function) per part, with the paper's defaults ``D_p = 32``, ``D_S = 64``:

========================================  ===================================================
part (paper section)                      here
========================================  ===================================================
pose VAE (4.1 step 2, eq. 4)              :class:`PoseVAE`, :func:`vae_loss`
GMM/BIC pose clusters (4.1 step 1)        :func:`select_gmm_bic`, :func:`cluster_poses`
orthogonal pose basis (4.1 step 3, 5.2)   :func:`orthogonal_projection_loss`,
                                          :func:`build_pose_basis`, :class:`PoseBasis` (eq. 10-11)
signal encoder over K frames (4.2)        :class:`PointSetSignalEncoder` (P4Transformer-like),
                                          :func:`signal_encoder_loss` (eq. 6)
latent signal distribution (4.3, 5.2)     :class:`LatentSignalDistributionGenerator`,
                                          :func:`hungarian_gmm_l1_loss` (eq. 12-14),
                                          :func:`distribution_loss` (eq. 15)
weighted Jeffrey divergence bound (6.1)   :func:`jeffreys_diag_gaussians`,
                                          :func:`weighted_jeffreys_terms` (eq. 16-18)
SetTransformer blocks [2]_                :class:`MAB`, :class:`SAB`, :class:`ISAB`, :class:`PMA`,
                                          :class:`SetEncoder`
surrogate pose (6.2, eq. 19)              :class:`SurrogatePoseRefiner`, :func:`surrogate_pose_loss`
descriptor head (6.3, eq. 20)             :class:`DescriptorHead`, :func:`descriptor_loss`
whole estimator (fig. 3)                  :class:`MMJoints`
downstream tasks (8.1, 8.2)               :class:`RefinementMLP`, :class:`ActivityLSTM`
========================================  ===================================================

Tensor conventions: poses ``(B, J, 3)`` float32 in metres (radar frame, ``architecture.md``);
point clouds padded to ``(B, K, N, C)`` with a boolean validity mask ``(B, K, N)`` (True = a real
point), columns ``x, y, z`` in metres then ``C - 3`` point features (intensity, Doppler, ...); the
*current* frame is the last of the ``K``. A diagonal Gaussian mixture is a :class:`GMMParams`
(weights ``(..., G)``, means and variances ``(..., G, D_S)``). Everything runs on whatever device the
inputs and the module are on (no hard-coded device).

Where the paper leaves a detail open, the choice made here is stated in the class docstring
(e.g. the log-compression of the divergence terms, the use of ``p_omega`` to weight the empirical
basis features, the current frame being the last of the window).

References
----------
.. [1] Z. Wang, M. Monjur, S. Nirjon, "mmJoints: Expanding Joint Representations Beyond (x, y, z)
   in mmWave-Based 3D Pose Estimation" (sections 4-6, 8).
.. [2] J. Lee et al., "Set Transformer: A Framework for Attention-based Permutation-Invariant Neural
   Networks", ICML 2019.
.. [3] H. Fan, Y. Yang, M. Kankanhalli, "Point 4D Transformer Networks for Spatio-Temporal Modeling in
   Point Cloud Videos", CVPR 2021.
.. [4] K. Ranasinghe et al., "Orthogonal Projection Loss", ICCV 2021.
.. [5] D. P. Kingma, M. Welling, "Auto-Encoding Variational Bayes", 2013; I. Higgins et al.,
   "beta-VAE", ICLR 2017.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from torch import nn

__all__ = [
    "GMMParams",
    "PoseClusters",
    "MMJointsOutput",
    "mlp",
    "kl_standard_normal",
    "PoseVAE",
    "vae_loss",
    "select_gmm_bic",
    "cluster_poses",
    "orthogonal_projection_loss",
    "build_pose_basis",
    "basis_reconstruction_error",
    "PoseBasis",
    "farthest_point_sampling",
    "PointSetSignalEncoder",
    "signal_encoder_loss",
    "MAB",
    "SAB",
    "ISAB",
    "PMA",
    "SetEncoder",
    "LatentSignalDistributionGenerator",
    "hungarian_gmm_l1_loss",
    "kl_diag_gaussians",
    "jeffreys_diag_gaussians",
    "weighted_jeffreys_terms",
    "jeffreys_upper_bound",
    "distribution_loss",
    "SurrogatePoseRefiner",
    "surrogate_pose_loss",
    "HourglassMLP",
    "DescriptorHead",
    "descriptor_loss",
    "MMJoints",
    "RefinementMLP",
    "ActivityLSTM",
]

_LOGVAR_MIN, _LOGVAR_MAX = -10.0, 10.0


# ----------------------------------------------------------------------------------------------------------
# small shared pieces
# ----------------------------------------------------------------------------------------------------------

class GMMParams(NamedTuple):
    """A batch of diagonal-covariance Gaussian mixtures (paper eq. 8).

    Attributes
    ----------
    weights : Tensor, shape (..., G)
        Mixture weights ``phi`` (non-negative, summing to 1 over ``G``).
    means : Tensor, shape (..., G, D)
        Component means ``mu``.
    variances : Tensor, shape (..., G, D)
        Diagonal of each component's covariance ``sigma^2`` (> 0).
    """

    weights: torch.Tensor
    means: torch.Tensor
    variances: torch.Tensor

    def flat(self) -> torch.Tensor:
        """Per-component rows ``(phi, mu, sigma^2)``, shape ``(..., G, 1 + 2 D)`` (``D_C = 129`` at 64)."""
        return torch.cat([self.weights.unsqueeze(-1), self.means, self.variances], dim=-1)

    @classmethod
    def from_flat(cls, rows: torch.Tensor) -> GMMParams:
        """Inverse of :meth:`flat` for rows of shape ``(..., G, 1 + 2 D)``."""
        d = (rows.shape[-1] - 1) // 2
        return cls(rows[..., 0], rows[..., 1:1 + d], rows[..., 1 + d:])


def mlp(sizes: tuple[int, ...] | list[int], activation: type[nn.Module] = nn.GELU,
        final_activation: bool = False) -> nn.Sequential:
    """A plain multilayer perceptron ``Linear -> act -> ... -> Linear``.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths, input first (at least two).
    activation : nn.Module class
        Activation between layers.
    final_activation : bool
        Also apply the activation after the last layer.

    Returns
    -------
    nn.Sequential
    """
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2 or final_activation:
            layers.append(activation())
    return nn.Sequential(*layers)


def kl_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``KL(N(mu, diag(exp(logvar))) || N(0, I))`` summed over the last axis, averaged over the rest.

    Parameters
    ----------
    mu, logvar : Tensor, shape (..., D)
        Mean and log-variance.

    Returns
    -------
    Tensor, scalar
        Mean KL divergence in nats.

    References
    ----------
    Kingma and Welling 2013, appendix B; mmJoints eq. 4 and 6 (``L_KL``).
    """
    kl = 0.5 * (logvar.exp() + mu.pow(2) - 1.0 - logvar).sum(dim=-1)
    return kl.mean()


# ----------------------------------------------------------------------------------------------------------
# pose modelling (section 4.1)
# ----------------------------------------------------------------------------------------------------------

class PoseVAE(nn.Module):
    """Variational auto-encoder of 3-D poses (mmJoints section 4.1, step 2).

    Poses are normalised by buffers ``pose_mean`` ``(J, 3)`` and ``pose_scale`` (m) set from the
    training data with :meth:`set_normalisation`, flattened, and encoded by an MLP into a Gaussian
    ``N(mu_p, diag(sigma_p)^2)`` of dimension ``latent_dim``; the decoder mirrors the encoder.

    Parameters
    ----------
    n_joints : int
        Joints per pose ``J``.
    latent_dim : int
        ``D_p``, the pose latent dimension (32 in the paper).
    hidden : tuple of int
        Hidden widths of the encoder (the decoder uses them reversed).

    References
    ----------
    mmJoints section 4.1 and eq. 4; Kingma and Welling 2013; Higgins et al. 2017.
    """

    def __init__(self, n_joints: int, latent_dim: int = 32, hidden: tuple[int, ...] = (256, 128)) -> None:
        super().__init__()
        self.n_joints = n_joints
        self.latent_dim = latent_dim
        self.encoder = mlp((n_joints * 3, *hidden), final_activation=True)
        self.to_mu = nn.Linear(hidden[-1], latent_dim)
        self.to_logvar = nn.Linear(hidden[-1], latent_dim)
        self.decoder = mlp((latent_dim, *reversed(hidden), n_joints * 3))
        self.register_buffer("pose_mean", torch.zeros(n_joints, 3))
        self.register_buffer("pose_scale", torch.ones(()))

    @torch.no_grad()
    def set_normalisation(self, poses: torch.Tensor) -> None:
        """Set ``pose_mean`` (mean pose, m) and ``pose_scale`` (RMS deviation from it, m) from
        training poses of shape ``(M, J, 3)``."""
        poses = torch.as_tensor(poses, dtype=self.pose_mean.dtype, device=self.pose_mean.device)
        self.pose_mean.copy_(poses.mean(dim=0))
        self.pose_scale.copy_((poses - self.pose_mean).pow(2).mean().sqrt().clamp_min(1e-6))

    def encode(self, pose: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode poses ``(B, J, 3)`` (m) into ``mu_p`` and ``log sigma_p^2``, each ``(B, D_p)``."""
        x = ((pose - self.pose_mean) / self.pose_scale).flatten(1)
        h = self.encoder(x)
        return self.to_mu(h), self.to_logvar(h).clamp(_LOGVAR_MIN, _LOGVAR_MAX)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Decode latents ``(B, D_p)`` into poses ``(B, J, 3)`` (m)."""
        x = self.decoder(z).view(z.shape[0], self.n_joints, 3)
        return x * self.pose_scale + self.pose_mean

    def forward(self, pose: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reconstruct poses.

        Parameters
        ----------
        pose : Tensor, shape (B, J, 3)
            Poses, m.

        Returns
        -------
        recon : Tensor, shape (B, J, 3)
            Reconstruction (from a reparameterised sample in training mode, from ``mu`` in eval).
        mu, logvar : Tensor, shape (B, D_p)
            Latent Gaussian.
        """
        mu, logvar = self.encode(pose)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if self.training else mu
        return self.decode(z), mu, logvar


def vae_loss(recon: torch.Tensor, pose: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
             beta: float = 1e-3, scale: torch.Tensor | float = 1.0) -> torch.Tensor:
    """Pose VAE objective ``L_REC + lambda_step2 * L_KL`` (mmJoints eq. 4).

    Parameters
    ----------
    recon, pose : Tensor, shape (B, J, 3)
        Reconstruction and input, m.
    mu, logvar : Tensor, shape (B, D_p)
        Latent Gaussian.
    beta : float
        ``lambda_step2`` (not given in the paper; 1e-3 keeps the reconstruction dominant).
    scale : Tensor or float
        Length (m) the MSE is measured in (the VAE's ``pose_scale`` makes it scale-free).

    Returns
    -------
    Tensor, scalar

    References
    ----------
    mmJoints eq. 4.
    """
    return F.mse_loss(recon / scale, pose / scale) + beta * kl_standard_normal(mu, logvar)


class PoseClusters(NamedTuple):
    """Result of :func:`cluster_poses`.

    Attributes
    ----------
    labels : ndarray, shape (M,), int64
        GMM cluster of every pose.
    selected : ndarray, shape (D_p,), int64
        The ``D_p`` clusters chosen for the basis, by decreasing ``d_i * |cluster_i|``.
    n_clusters : int
        ``C``, chosen by BIC.
    bic : dict of int to float
        BIC of every candidate ``C``.
    """

    labels: np.ndarray
    selected: np.ndarray
    n_clusters: int
    bic: dict


def select_gmm_bic(x: np.ndarray, candidates: list[int] | range, covariance_type: str = "diag",
                   seed: int = 0, **gmm_kwargs):
    """Fit a Gaussian mixture for each candidate component count and keep the lowest BIC.

    Parameters
    ----------
    x : ndarray, shape (M, D)
        Samples.
    candidates : sequence of int
        Component counts to try (each <= M).
    covariance_type : str
        scikit-learn covariance type (``"diag"`` as in the paper's signal mixtures).
    seed : int
        Random state of every fit.
    **gmm_kwargs
        Passed to :class:`sklearn.mixture.GaussianMixture` (e.g. ``max_iter``, ``reg_covar``).

    Returns
    -------
    best : sklearn.mixture.GaussianMixture
        The fitted mixture with the lowest BIC.
    bic : dict of int to float
        BIC of every candidate.

    Raises
    ------
    ValueError
        No candidate, or a candidate larger than the number of samples.

    References
    ----------
    mmJoints sections 4.1 step 1 and 4.3 step 2 (BIC [47]); scikit-learn ``GaussianMixture.bic``.
    """
    from sklearn.mixture import GaussianMixture

    x = np.asarray(x, dtype=np.float64)
    candidates = list(candidates)
    if not candidates or max(candidates) > len(x) or min(candidates) < 1:
        raise ValueError(f"component counts {candidates} do not fit {len(x)} samples")
    best, bic = None, {}
    for n in candidates:
        gmm = GaussianMixture(n, covariance_type=covariance_type, random_state=seed, **gmm_kwargs).fit(x)
        bic[n] = float(gmm.bic(x))
        if best is None or bic[n] < bic[best.n_components]:
            best = gmm
    return best, bic


def cluster_poses(poses: np.ndarray, n_basis: int = 32, candidates: list[int] | range | None = None,
                  seed: int = 0, **gmm_kwargs) -> PoseClusters:
    """Cluster training poses with a GMM (``C >= D_p`` by BIC) and choose the ``D_p`` basis clusters.

    Clusters are ranked by ``d_i * |cluster_i|``, with ``d_i`` the Euclidean distance between the
    cluster's mean pose and the overall mean pose and ``|cluster_i|`` its number of poses; the top
    ``n_basis`` are selected.

    Parameters
    ----------
    poses : ndarray, shape (M, J, 3) or (M, J * 3)
        Training poses, m.
    n_basis : int
        ``D_p``: number of basis clusters (32 in the paper).
    candidates : sequence of int, optional
        Cluster counts ``C`` tried (each >= ``n_basis``); default ``n_basis, 1.5 n_basis, 2 n_basis``.
    seed : int
        Random state.
    **gmm_kwargs
        Passed to :func:`select_gmm_bic` (covariance type defaults to ``"diag"``).

    Returns
    -------
    PoseClusters

    Raises
    ------
    ValueError
        A candidate below ``n_basis``, or fewer non-empty clusters than ``n_basis``.

    References
    ----------
    mmJoints section 4.1, step 1.
    """
    x = np.asarray(poses, dtype=np.float64).reshape(len(poses), -1)
    if candidates is None:
        candidates = sorted({n_basis, int(1.5 * n_basis), 2 * n_basis})
    candidates = [c for c in candidates if c <= len(x)]
    if not candidates or min(candidates) < n_basis:
        raise ValueError(f"cluster counts must be >= D_p = {n_basis} and <= {len(x)} poses")
    gmm, bic = select_gmm_bic(x, candidates, seed=seed, **gmm_kwargs)
    labels = gmm.predict(x).astype(np.int64)
    mean_pose = x.mean(axis=0)
    counts = np.bincount(labels, minlength=gmm.n_components)
    score = np.linalg.norm(gmm.means_ - mean_pose, axis=1) * counts
    order = np.argsort(-score, kind="stable")
    selected = order[counts[order] > 0][:n_basis]
    if len(selected) < n_basis:
        raise ValueError(f"only {len(selected)} non-empty pose clusters for a basis of {n_basis}")
    return PoseClusters(labels, selected.astype(np.int64), int(gmm.n_components), bic)


def orthogonal_projection_loss(features: torch.Tensor, labels: torch.Tensor,
                               lambda_s: float = 2.0) -> torch.Tensor:
    """Orthogonal projection loss ``L_OPL-d + lambda_step3 * L_OPL-s`` (mmJoints eq. 5).

    On L2-normalised features, ``s`` is the mean cosine similarity of pairs of the same class and
    ``d`` the mean absolute cosine similarity of pairs of different classes;
    ``L_OPL-s = 1 - s`` pulls a class together and ``L_OPL-d = |d|`` makes classes orthogonal.

    Parameters
    ----------
    features : Tensor, shape (B, D)
        Latent features (e.g. ``mu_p``).
    labels : Tensor, shape (B,), int
        Class (pose cluster) of each feature.
    lambda_s : float
        ``lambda_step3`` (2.0 matches OPL's default weighting ``(1 - s) + 0.5 d`` up to a factor).

    Returns
    -------
    Tensor, scalar
        0 when same-class features coincide in direction and classes are mutually orthogonal.

    References
    ----------
    Ranasinghe et al. 2021 (OPL), eq. 1-3; mmJoints eq. 5.
    """
    f = F.normalize(features, dim=1)
    cos = f @ f.T
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=features.device)
    pos, neg = same & ~eye, ~same
    s = (cos * pos).sum() / pos.sum().clamp_min(1)
    d = (cos.abs() * neg).sum() / neg.sum().clamp_min(1)
    return d + lambda_s * (1.0 - s)


def build_pose_basis(mu_p: np.ndarray | torch.Tensor, labels: np.ndarray, selected: np.ndarray,
                     max_condition: float = 1e6) -> torch.Tensor:
    """Pose basis ``P_basis = [F_basis_1, ..., F_basis_Dp]`` (mmJoints eq. 9-10).

    ``F_basis_i`` is the mean of ``mu_p`` over the poses of the ``i``-th selected cluster; the
    vectors are the *columns* of ``P_basis``.

    Parameters
    ----------
    mu_p : array, shape (M, D_p)
        Latent means of the training poses (after OPL fine-tuning).
    labels : ndarray, shape (M,)
        Cluster of every pose (:func:`cluster_poses`).
    selected : ndarray, shape (D_p,)
        Basis clusters.
    max_condition : float
        Largest accepted condition number.

    Returns
    -------
    Tensor, shape (D_p, D_p), float32
        ``P_basis`` (invertible).

    Raises
    ------
    ValueError
        ``len(selected) != D_p`` or ``P_basis`` is (nearly) singular.

    References
    ----------
    mmJoints section 5.2, step 1.
    """
    mu = torch.as_tensor(np.asarray(mu_p, dtype=np.float64) if not torch.is_tensor(mu_p) else mu_p,
                         dtype=torch.float64).cpu()
    labels = torch.as_tensor(np.asarray(labels))
    if len(selected) != mu.shape[1]:
        raise ValueError(f"{len(selected)} basis clusters for a latent dimension of {mu.shape[1]}")
    cols = [mu[labels == int(c)].mean(dim=0) for c in selected]
    basis = torch.stack(cols, dim=1)
    cond = torch.linalg.cond(basis).item()
    if not np.isfinite(cond) or cond > max_condition:
        raise ValueError(f"pose basis is nearly singular (condition number {cond:.3g})")
    return basis.float()


def basis_reconstruction_error(features: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """Basis reconstruction error ``||F - P P^T F||_2^2`` per feature (mmJoints section 7.1).

    Parameters
    ----------
    features : Tensor, shape (B, D_p)
        Latent features ``F``.
    basis : Tensor, shape (D_p, D_p)
        ``P_basis`` with unit-norm columns for the metric to be meaningful.

    Returns
    -------
    Tensor, shape (B,)
    """
    recon = features @ basis @ basis.T  # row form of P P^T F
    return (features - recon).pow(2).sum(dim=1)


class PoseBasis(nn.Module):
    """Decomposition of a pose latent in the pose basis, ``p_omega = P_basis^-1 p`` (mmJoints eq. 11).

    Holds ``P_basis`` and its inverse as buffers (identity until :meth:`set_basis`), so they are saved
    with the model.

    Parameters
    ----------
    dim : int
        ``D_p``.

    References
    ----------
    mmJoints section 5.2, steps 1-2.
    """

    def __init__(self, dim: int = 32) -> None:
        super().__init__()
        self.register_buffer("matrix", torch.eye(dim))
        self.register_buffer("inverse", torch.eye(dim))

    @torch.no_grad()
    def set_basis(self, matrix: torch.Tensor) -> None:
        """Set ``P_basis`` ``(D_p, D_p)`` (columns = basis vectors) and its inverse."""
        matrix = torch.as_tensor(matrix, dtype=torch.float64)
        self.matrix.copy_(matrix.to(self.matrix))
        self.inverse.copy_(torch.linalg.inv(matrix).to(self.inverse))

    def forward(self, p: torch.Tensor) -> torch.Tensor:
        """Coefficients ``p_omega`` ``(B, D_p)`` of latents ``p`` ``(B, D_p)`` (``P p_omega = p``)."""
        return p @ self.inverse.T


# ----------------------------------------------------------------------------------------------------------
# SetTransformer blocks (Lee et al. 2019)
# ----------------------------------------------------------------------------------------------------------

class MAB(nn.Module):
    """Multihead attention block ``MAB(X, Y) = LN(H + rFF(H))``, ``H = LN(X + Multihead(X, Y, Y))``.

    Parameters
    ----------
    dim : int
        Width of queries, keys and output.
    heads : int
        Attention heads.
    ff_mult : int
        Hidden width of the row-wise feed-forward as a multiple of ``dim``.

    References
    ----------
    Lee et al. 2019, eq. 6-7.
    """

    def __init__(self, dim: int, heads: int = 4, ff_mult: int = 2) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not a multiple of heads {heads}")
        self.heads = heads
        self.to_q = nn.Linear(dim, dim)
        self.to_kv = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm0 = nn.LayerNorm(dim)
        self.norm1 = nn.LayerNorm(dim)
        self.ff = mlp((dim, ff_mult * dim, dim))

    def forward(self, x: torch.Tensor, y: torch.Tensor, key_padding_mask: torch.Tensor | None = None
                ) -> torch.Tensor:
        """``x`` ``(B, Nq, dim)`` attends to ``y`` ``(B, Nk, dim)``; ``key_padding_mask`` ``(B, Nk)``
        is True for keys to ignore (at least one key per row must be valid). Returns ``(B, Nq, dim)``."""
        b, nq, dim = x.shape
        q = self.to_q(x).view(b, nq, self.heads, -1).transpose(1, 2)
        k, v = self.to_kv(y).view(b, y.shape[1], 2, self.heads, -1).permute(2, 0, 3, 1, 4)
        mask = None if key_padding_mask is None else ~key_padding_mask[:, None, None, :]
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        h = self.norm0(x + self.proj(a.transpose(1, 2).reshape(b, nq, dim)))
        return self.norm1(h + self.ff(h))


class SAB(nn.Module):
    """Set attention block ``SAB(X) = MAB(X, X)`` (Lee et al. 2019, eq. 8); arguments as :class:`MAB`."""

    def __init__(self, dim: int, heads: int = 4) -> None:
        super().__init__()
        self.mab = MAB(dim, heads)

    def forward(self, x: torch.Tensor, key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, N, dim) -> (B, N, dim)``; ``key_padding_mask`` ``(B, N)`` True = padding."""
        return self.mab(x, x, key_padding_mask)


class ISAB(nn.Module):
    """Induced set attention block ``ISAB_m(X) = MAB(X, MAB(I, X))`` with ``m`` learned inducing points.

    Parameters
    ----------
    dim : int
        Width.
    n_inducing : int
        ``m``; cost is ``O(N m)`` instead of ``O(N^2)``.
    heads : int
        Attention heads.

    References
    ----------
    Lee et al. 2019, eq. 9-10.
    """

    def __init__(self, dim: int, n_inducing: int = 16, heads: int = 4) -> None:
        super().__init__()
        self.inducing = nn.Parameter(torch.randn(1, n_inducing, dim) * dim**-0.5)
        self.mab0 = MAB(dim, heads)
        self.mab1 = MAB(dim, heads)

    def forward(self, x: torch.Tensor, key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, N, dim) -> (B, N, dim)``; ``key_padding_mask`` ``(B, N)`` True = padding."""
        h = self.mab0(self.inducing.expand(x.shape[0], -1, -1), x, key_padding_mask)
        return self.mab1(x, h)


class PMA(nn.Module):
    """Pooling by multihead attention ``PMA_k(Z) = MAB(S, rFF(Z))`` with ``k`` learned seeds.

    Parameters
    ----------
    dim : int
        Width.
    n_seeds : int
        ``k`` output vectors.
    heads : int
        Attention heads.

    References
    ----------
    Lee et al. 2019, eq. 11.
    """

    def __init__(self, dim: int, n_seeds: int = 1, heads: int = 4) -> None:
        super().__init__()
        self.seeds = nn.Parameter(torch.randn(1, n_seeds, dim) * dim**-0.5)
        self.ff = mlp((dim, dim, dim))
        self.mab = MAB(dim, heads)

    def forward(self, z: torch.Tensor, key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, N, dim) -> (B, k, dim)``; ``key_padding_mask`` ``(B, N)`` True = padding."""
        return self.mab(self.seeds.expand(z.shape[0], -1, -1), self.ff(z), key_padding_mask)


class SetEncoder(nn.Module):
    """Permutation-invariant encoder of a (padded) set: embedding, ``depth`` ISABs, PMA to one vector.

    A learned *null* element is appended to every set, so an empty set (e.g. a frame without
    detections) still has a valid key and encodes to a learned vector instead of NaN.

    Parameters
    ----------
    in_features : int
        Width of a set element.
    dim : int
        Width of the blocks and of the output.
    depth : int
        Number of ISAB blocks.
    n_inducing : int
        Inducing points per ISAB.
    heads : int
        Attention heads.

    References
    ----------
    Lee et al. 2019 (encoder ``ISAB`` x depth, decoder ``PMA_1``); mmJoints sections 5.2, 6.2, 6.3.
    """

    def __init__(self, in_features: int, dim: int = 64, depth: int = 2, n_inducing: int = 16,
                 heads: int = 4) -> None:
        super().__init__()
        self.embed = nn.Linear(in_features, dim)
        self.null = nn.Parameter(torch.zeros(1, 1, dim))
        self.blocks = nn.ModuleList(ISAB(dim, n_inducing, heads) for _ in range(depth))
        self.pool = PMA(dim, 1, heads)

    def forward(self, x: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """Encode sets.

        Parameters
        ----------
        x : Tensor, shape (B, N, in_features)
            Set elements (N may be 0).
        valid : Tensor, shape (B, N), bool, optional
            True for real elements (default: all).

        Returns
        -------
        Tensor, shape (B, dim)
        """
        b = x.shape[0]
        h = torch.cat([self.embed(x), self.null.expand(b, -1, -1)], dim=1)
        if valid is None:
            valid = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        pad = torch.cat([~valid, torch.zeros(b, 1, dtype=torch.bool, device=x.device)], dim=1)
        for block in self.blocks:
            h = block(h, pad)
        return self.pool(h, pad)[:, 0]


# ----------------------------------------------------------------------------------------------------------
# signal modelling (section 4.2)
# ----------------------------------------------------------------------------------------------------------

def farthest_point_sampling(xyz: torch.Tensor, valid: torch.Tensor, n_samples: int) -> torch.Tensor:
    """Farthest point sampling of ``n_samples`` anchors among the valid points of each row.

    Starts at the valid point farthest from the centroid of the valid points (so the anchor set does
    not depend on the order of the points, barring ties); once every valid point is taken, valid
    points repeat.

    Parameters
    ----------
    xyz : Tensor, shape (R, N, 3)
        Point positions, m.
    valid : Tensor, shape (R, N), bool
        Real points.
    n_samples : int
        Anchors per row.

    Returns
    -------
    Tensor, shape (R, n_samples), int64
        Indices into ``N`` (index 0 for rows without any valid point).

    References
    ----------
    Qi et al., PointNet++ (NeurIPS 2017), as used by P4Transformer (Fan et al. 2021).
    """
    r, n = valid.shape
    base = torch.arange(r, device=xyz.device) * n
    pair = torch.cdist(xyz, xyz).reshape(r * n, n)  # row base + i: distances from point i of its row
    dist = torch.full((r, n), float("inf"), dtype=xyz.dtype, device=xyz.device)
    dist = dist.masked_fill(~valid, -1.0)
    # start at the valid point farthest from the centroid: the anchors do not depend on point order
    w = valid.unsqueeze(-1).to(xyz.dtype)
    centroid = (xyz * w).sum(1, keepdim=True) / w.sum(1, keepdim=True).clamp_min(1.0)
    cur = (xyz - centroid).pow(2).sum(-1).masked_fill(~valid, -1.0).argmax(dim=1)
    chosen = []
    for _ in range(n_samples):  # four small ops per sample: the loop is cheap at batch 1
        chosen.append(cur)
        dist = torch.minimum(dist, pair.index_select(0, base + cur))
        cur = dist.argmax(dim=1)
    return torch.stack(chosen, dim=1)


class PointSetSignalEncoder(nn.Module):
    """Signal encoder over ``K`` point-cloud frames, in the spirit of P4Transformer (mmJoints 4.2).

    1. *Point 4-D convolution* (P4Transformer's local spatio-temporal encoding, small form): per
       frame, ``n_anchors`` anchors by farthest point sampling; for each anchor and each frame offset
       ``dt`` in ``[-temporal_radius, temporal_radius]``, its ``n_neighbours`` nearest points in frame
       ``t + dt`` give ``(dx, dy, dz, dt, features)``, a shared MLP and a max-pool over neighbours and
       offsets give the anchor's token.
    2. A 4-D position embedding of the anchor ``(x, y, z, t / K)`` is added, and a transformer
       encoder runs over all ``K * n_anchors`` tokens plus a learned summary token.
    3. The summary token and the max over tokens give the Gaussian signal feature
       ``x_D^S = (mu_S, sigma_S)`` of dimension ``D_S`` and, optionally, pose-cluster logits for the
       cross-entropy term of eq. 6.

    Parameters
    ----------
    point_features : int
        Columns ``C`` of a point (x, y, z and ``C - 3`` features; 4 for x, y, z, intensity).
    latent_dim : int
        ``D_S`` (64 in the paper).
    n_anchors : int
        Anchors per frame.
    n_neighbours : int
        Neighbours per anchor and frame offset.
    temporal_radius : int
        Frame offsets on each side grouped into an anchor.
    dim : int
        Token width.
    depth : int
        Transformer layers.
    heads : int
        Attention heads.
    n_classes : int or None
        Pose clusters for the classification head (None: no head).
    local_dim : int
        Width of the point 4-D convolution's shared MLP (lifted to ``dim`` after the max-pool).

    References
    ----------
    Fan et al. 2021 (P4Transformer), section 3; mmJoints section 4.2 and eq. 6.
    """

    def __init__(self, point_features: int = 4, latent_dim: int = 64, n_anchors: int = 32,
                 n_neighbours: int = 16, temporal_radius: int = 1, dim: int = 128, depth: int = 2,
                 heads: int = 4, n_classes: int | None = 32, local_dim: int = 64) -> None:
        super().__init__()
        if point_features < 3:
            raise ValueError(f"points need at least x, y, z; got {point_features} columns")
        self.n_anchors, self.n_neighbours, self.temporal_radius = n_anchors, n_neighbours, temporal_radius
        self.local = mlp((4 + point_features - 3, local_dim // 2, local_dim), nn.ReLU)  # PointNet-style
        self.lift = nn.Linear(local_dim, dim)
        self.pos = nn.Linear(4, dim)
        self.summary = nn.Parameter(torch.zeros(1, 1, dim))
        layer = nn.TransformerEncoderLayer(dim, heads, 2 * dim, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.to_mu = nn.Linear(2 * dim, latent_dim)
        self.to_logvar = nn.Linear(2 * dim, latent_dim)
        self.classifier = nn.Linear(2 * dim, n_classes) if n_classes else None

    def tokens(self, points: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Anchor tokens ``(B, K * n_anchors, dim)`` and their validity ``(B, K * n_anchors)``."""
        b, k, n, c = points.shape
        m = self.n_anchors
        xyz = points[..., :3]
        anchor_idx = farthest_point_sampling(xyz.reshape(b * k, n, 3), valid.reshape(b * k, n), m)
        anchor_idx = anchor_idx.view(b, k, m)
        anchors = torch.gather(xyz, 2, anchor_idx.unsqueeze(-1).expand(-1, -1, -1, 3))  # (B,K,M,3)
        anchor_valid = torch.gather(valid, 2, anchor_idx)
        frames = torch.arange(k, device=points.device)
        offsets = torch.arange(-self.temporal_radius, self.temporal_radius + 1, device=points.device)
        n_off = len(offsets)
        target = frames.view(1, k) + offsets.view(n_off, 1)  # (T, K): frame t + dt, all offsets at once
        src = target.clamp(0, k - 1)
        src_valid = valid[:, src] & ((target >= 0) & (target < k)).view(1, n_off, k, 1)  # (B,T,K,N)
        d = torch.cdist(anchors.unsqueeze(1).expand(-1, n_off, -1, -1, -1).reshape(-1, m, 3),
                        xyz[:, src].reshape(-1, n, 3)).view(b, n_off, k, m, n)
        d = d.masked_fill(~src_valid.unsqueeze(3), float("inf"))
        dist, nbr = d.topk(min(self.n_neighbours, n), dim=-1, largest=False)  # (B,T,K,M,k), nearest first
        # missing neighbours repeat the nearest one (as in ball query), so the max-pool is unchanged
        nbr = torch.where(torch.isfinite(dist), nbr, nbr[..., :1])
        bi = torch.arange(b, device=points.device).view(b, 1, 1, 1, 1)
        gathered = points[bi, src.view(1, n_off, k, 1, 1), nbr]  # (B,T,K,M,k,C)
        dt = offsets.to(points.dtype).view(1, n_off, 1, 1, 1, 1).expand(*gathered.shape[:-1], 1)
        feat = torch.cat([gathered[..., :3] - anchors.view(b, 1, k, m, 1, 3), dt, gathered[..., 3:]], dim=-1)
        h = self.local(feat).amax(dim=4)  # (B,T,K,M,local_dim)
        h = h.masked_fill(~torch.isfinite(dist[..., :1]), float("-inf"))  # offset without any point
        pooled = h.amax(dim=1)
        pooled = torch.where(torch.isfinite(pooled), pooled, torch.zeros_like(pooled))
        t = (frames.to(points.dtype) / max(k, 1)).view(1, k, 1, 1).expand(b, k, m, 1)
        tok = self.lift(pooled) + self.pos(torch.cat([anchors, t], dim=-1))
        return tok.reshape(b, k * m, -1), anchor_valid.reshape(b, k * m)

    def forward(self, points: torch.Tensor, valid: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Encode ``K`` frames of point clouds into the Gaussian signal feature.

        Parameters
        ----------
        points : Tensor, shape (B, K, N, C)
            Padded point clouds (x, y, z in m, then features).
        valid : Tensor, shape (B, K, N), bool, optional
            True for real points (default: all).

        Returns
        -------
        mu : Tensor, shape (B, D_S)
            ``mu_S``.
        logvar : Tensor, shape (B, D_S)
            ``log sigma_S^2`` (clamped to [-10, 10]).
        logits : Tensor, shape (B, n_classes), or None
            Pose-cluster logits.
        """
        if valid is None:
            valid = torch.ones(points.shape[:3], dtype=torch.bool, device=points.device)
        tok, tok_valid = self.tokens(points, valid)
        b = tok.shape[0]
        x = torch.cat([self.summary.expand(b, -1, -1), tok], dim=1)
        pad = torch.cat([torch.zeros(b, 1, dtype=torch.bool, device=tok.device), ~tok_valid], dim=1)
        x = self.norm(self.transformer(x, src_key_padding_mask=pad))
        body = x[:, 1:].masked_fill(pad[:, 1:].unsqueeze(-1), float("-inf")).amax(dim=1)
        body = torch.where(torch.isfinite(body), body, torch.zeros_like(body))
        h = torch.cat([x[:, 0], body], dim=-1)
        logits = self.classifier(h) if self.classifier is not None else None
        return self.to_mu(h), self.to_logvar(h).clamp(_LOGVAR_MIN, _LOGVAR_MAX), logits


def signal_encoder_loss(mu: torch.Tensor, logvar: torch.Tensor, mu_pos: torch.Tensor, mu_neg: torch.Tensor,
                        logits: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                        lambdas: tuple[float, float, float] = (1.0, 1.0, 1e-3), margin: float = 1.0
                        ) -> torch.Tensor:
    """Signal modelling objective ``l0 L_triplet + l1 L_CE + l2 L_KL`` (mmJoints eq. 6).

    Parameters
    ----------
    mu, logvar : Tensor, shape (B, D_S)
        Anchor signal features.
    mu_pos, mu_neg : Tensor, shape (B, D_S)
        ``mu_S`` of a signal window of a similar pose (positive) and of a dissimilar one (negative).
    logits : Tensor, shape (B, C), optional
        Pose-cluster logits of the anchors.
    labels : Tensor, shape (B,), optional
        Pose-cluster labels (required with ``logits``).
    lambdas : tuple of float
        ``(lambda_0, lambda_1, lambda_2)`` (not given in the paper).
    margin : float
        Triplet margin.

    Returns
    -------
    Tensor, scalar

    References
    ----------
    Balntas et al. 2016 (triplet loss); mmJoints eq. 6.
    """
    loss = lambdas[0] * F.triplet_margin_loss(mu, mu_pos, mu_neg, margin=margin)
    if logits is not None:
        loss = loss + lambdas[1] * F.cross_entropy(logits, labels)
    return loss + lambdas[2] * kl_standard_normal(mu, logvar)


# ----------------------------------------------------------------------------------------------------------
# latent signal distribution (sections 4.3 and 5.2)
# ----------------------------------------------------------------------------------------------------------

class LatentSignalDistributionGenerator(nn.Module):
    """Pose -> expected signal distribution, a ``G``-component diagonal GMM (mmJoints 5.2, fig. 7).

    Inputs are the basis coefficients ``p_omega`` of the pose (:class:`PoseBasis`). The empirical
    signal distributions ``x_hat_D_i`` of the ``D_p`` basis poses are stored as a buffer
    ``basis_distributions`` of shape ``(D_p, G, D_C)``, ``D_C = 1 + 2 D_S`` rows ``(phi, mu, sigma^2)``
    (129 at ``D_S = 64``); a :class:`SetEncoder` over each basis' ``G`` components gives one feature
    per basis pose, and ``F_S`` is their combination weighted by ``p_omega`` (the pose expressed in
    the basis; the paper only says ``F_S`` is extracted from ``{x_hat_D_i}``). ``F_omega = MLP(p_omega)``
    and ``F_S`` are concatenated and mapped to ``G`` components: weights by softmax, variances by
    softplus (plus ``min_variance``).

    Parameters
    ----------
    basis_dim : int
        ``D_p``.
    signal_dim : int
        ``D_S``.
    n_components : int
        ``G`` (chosen by BIC on the data with an upper bound in the paper).
    dim : int
        Hidden width.
    heads : int
        Attention heads of the set encoder.
    min_variance : float
        Floor of the predicted variances.

    References
    ----------
    mmJoints sections 4.3 and 5.2 (eq. 8-11).
    """

    def __init__(self, basis_dim: int = 32, signal_dim: int = 64, n_components: int = 8, dim: int = 128,
                 heads: int = 4, min_variance: float = 1e-4) -> None:
        super().__init__()
        self.signal_dim, self.n_components, self.min_variance = signal_dim, n_components, min_variance
        rows = torch.cat([torch.full((basis_dim, n_components, 1), 1.0 / n_components),
                          torch.zeros(basis_dim, n_components, signal_dim),
                          torch.ones(basis_dim, n_components, signal_dim)], dim=-1)
        self.register_buffer("basis_distributions", rows)
        self.basis_encoder = SetEncoder(1 + 2 * signal_dim, dim, depth=1, n_inducing=8, heads=heads)
        self.omega = mlp((basis_dim, dim, dim), final_activation=True)
        self.head = mlp((2 * dim, 2 * dim, n_components * (1 + 2 * signal_dim)))

    @torch.no_grad()
    def set_basis_distributions(self, gmm: GMMParams) -> None:
        """Store the empirical signal GMMs of the basis poses (weights ``(D_p, G)``, means and variances
        ``(D_p, G, D_S)``)."""
        self.basis_distributions.copy_(gmm.flat().to(self.basis_distributions))

    def basis_features(self) -> torch.Tensor:
        """Features ``(D_p, dim)`` of the basis distributions.

        They do not depend on the input, so without autograd they are computed once and reused until
        the buffer or the encoder's weights change (tracked by the tensors' version counters)."""
        if torch.is_grad_enabled():
            self._basis_cache = None
            return self.basis_encoder(self.basis_distributions)
        key = (self.basis_distributions._version, self.basis_distributions.device,
               tuple(p._version for p in self.basis_encoder.parameters()))
        cache = getattr(self, "_basis_cache", None)
        if cache is None or cache[0] != key:
            cache = (key, self.basis_encoder(self.basis_distributions))
            self._basis_cache = cache
        return cache[1]

    def forward(self, p_omega: torch.Tensor) -> GMMParams:
        """Latent signal distribution of poses with basis coefficients ``p_omega`` ``(B, D_p)``.

        Returns
        -------
        GMMParams
            weights ``(B, G)``, means and variances ``(B, G, D_S)``.
        """
        f_s = p_omega @ self.basis_features()
        out = self.head(torch.cat([self.omega(p_omega), f_s], dim=-1))
        out = out.view(-1, self.n_components, 1 + 2 * self.signal_dim)
        weights = out[..., 0].softmax(dim=-1)
        means = out[..., 1:1 + self.signal_dim]
        variances = F.softplus(out[..., 1 + self.signal_dim:]) + self.min_variance
        return GMMParams(weights, means, variances)


def hungarian_gmm_l1_loss(pred: GMMParams, target: GMMParams) -> torch.Tensor:
    """Permutation-invariant L1 loss between mixtures, matched by the Hungarian algorithm (eq. 12-14).

    For each batch item the cost of pairing predicted component ``i`` with target component ``j`` is
    ``T = |phi_i - phi_j| + mean|mu_i - mu_j| + mean|sigma_i^2 - sigma_j^2|`` (eq. 14); the
    assignment minimising the total cost (eq. 12-13, solved with
    :func:`scipy.optimize.linear_sum_assignment` on detached costs) is found and the matched costs are
    averaged, with gradients through the matched terms.

    Parameters
    ----------
    pred, target : GMMParams
        weights ``(B, G)``, means and variances ``(B, G, D)``.

    Returns
    -------
    Tensor, scalar
        Mean matched cost per component; unchanged by any reordering of either mixture's components.

    References
    ----------
    mmJoints eq. 12-14 (solved there with the Hungarian algorithm; scipy's solver is a
    shortest-augmenting-path method with the same optimum); Martello and Toth 1987.
    """
    cost = ((pred.weights.unsqueeze(2) - target.weights.unsqueeze(1)).abs()
            + (pred.means.unsqueeze(2) - target.means.unsqueeze(1)).abs().mean(-1)
            + (pred.variances.unsqueeze(2) - target.variances.unsqueeze(1)).abs().mean(-1))  # (B,G,G)
    cost_np = cost.detach().cpu().double().numpy()
    b, g, _ = cost.shape
    cols = np.empty((b, g), dtype=np.int64)
    for i in range(b):
        r, c = linear_sum_assignment(cost_np[i])
        cols[i, r] = c
    cols_t = torch.as_tensor(cols, device=cost.device)
    return torch.gather(cost, 2, cols_t.unsqueeze(-1)).mean()


def kl_diag_gaussians(mu1: torch.Tensor, var1: torch.Tensor, mu2: torch.Tensor, var2: torch.Tensor
                      ) -> torch.Tensor:
    """``KL(N(mu1, diag var1) || N(mu2, diag var2))`` in nats, summed over the last axis.

    Parameters
    ----------
    mu1, var1, mu2, var2 : Tensor, broadcastable shapes (..., D)
        Means and variances (> 0).

    Returns
    -------
    Tensor, shape (...)

    References
    ----------
    Kullback 1997; closed form for Gaussians.
    """
    return 0.5 * (var1 / var2 + (mu2 - mu1).pow(2) / var2 - 1.0 + var2.log() - var1.log()).sum(-1)


def jeffreys_diag_gaussians(mu1: torch.Tensor, var1: torch.Tensor, mu2: torch.Tensor, var2: torch.Tensor
                            ) -> torch.Tensor:
    """Jeffreys divergence ``J = KL(P||Q) + KL(Q||P)`` of two diagonal Gaussians (mmJoints eq. 16).

    ``J = 1/2 sum_d [var1/var2 + var2/var1 - 2 + (mu1 - mu2)^2 (1/var1 + 1/var2)]``.

    Parameters
    ----------
    mu1, var1, mu2, var2 : Tensor, broadcastable shapes (..., D)
        Means and variances (> 0).

    Returns
    -------
    Tensor, shape (...)
        Symmetric, >= 0, 0 only for equal Gaussians.

    References
    ----------
    Jeffreys 1946; mmJoints eq. 16.
    """
    dm2 = (mu1 - mu2).pow(2)
    return 0.5 * (var1 / var2 + var2 / var1 - 2.0 + dm2 * (1.0 / var1 + 1.0 / var2)).sum(-1)


def weighted_jeffreys_terms(mu_s: torch.Tensor, var_s: torch.Tensor, gmm: GMMParams) -> torch.Tensor:
    """Terms ``phi_i J(P_S, P_c^i)`` of the weighted Jeffrey divergence bound (mmJoints eq. 18).

    Parameters
    ----------
    mu_s, var_s : Tensor, shape (B, D_S)
        Gaussian signal feature ``P_S = N(mu_S, diag sigma_S^2)``.
    gmm : GMMParams
        Latent signal distribution ``P_G`` (weights ``(B, G)``, means/variances ``(B, G, D_S)``).

    Returns
    -------
    Tensor, shape (B, G)
        ``phi_i J(P_S, P_c^i)``; their sum is :func:`jeffreys_upper_bound`.

    References
    ----------
    mmJoints eq. 17-18 and section 6.2 step 2 (the set of terms fed to the SetTransformer).
    """
    j = jeffreys_diag_gaussians(mu_s.unsqueeze(1), var_s.unsqueeze(1), gmm.means, gmm.variances)
    return gmm.weights * j


def jeffreys_upper_bound(mu_s: torch.Tensor, var_s: torch.Tensor, gmm: GMMParams) -> torch.Tensor:
    """Closed-form upper bound ``sum_i phi_i J(P_S, P_c^i) >= J(P_S, P_G)`` (Jensen; mmJoints eq. 18).

    ``J(P_S, x) = x ln(x / P_S) + P_S ln(P_S / x)`` is convex in ``x > 0``, so the Jeffreys divergence
    between ``P_S`` and the mixture is at most the weighted sum of the divergences to its components.

    Parameters
    ----------
    mu_s, var_s : Tensor, shape (B, D_S)
        ``P_S``.
    gmm : GMMParams
        ``P_G``.

    Returns
    -------
    Tensor, shape (B,)
        ``J_hat(P_S, P_G)`` in nats.

    References
    ----------
    Jensen 1906; mmJoints eq. 17-18.
    """
    return weighted_jeffreys_terms(mu_s, var_s, gmm).sum(-1)


def distribution_loss(pred: GMMParams, target: GMMParams, mu_s: torch.Tensor, var_s: torch.Tensor,
                      lambda_div: float = 1e-3) -> torch.Tensor:
    """``L_Distribution = L_LAP + lambda_Div * J_hat(P_S, P_G)`` (mmJoints eq. 15).

    Parameters
    ----------
    pred : GMMParams
        Generated latent signal distribution.
    target : GMMParams
        Empirical signal distribution of the pose (fitted from the signals of its latent neighbours).
    mu_s, var_s : Tensor, shape (B, D_S)
        Signal feature of the current window.
    lambda_div : float
        ``lambda_Div`` (not given in the paper).

    Returns
    -------
    Tensor, scalar

    References
    ----------
    mmJoints eq. 15.
    """
    return hungarian_gmm_l1_loss(pred, target) + lambda_div * jeffreys_upper_bound(mu_s, var_s, pred).mean()


# ----------------------------------------------------------------------------------------------------------
# surrogate pose and descriptors (section 6)
# ----------------------------------------------------------------------------------------------------------

class SurrogatePoseRefiner(nn.Module):
    """Surrogate pose construction: divergence terms + signal anchor + ``p_pred`` -> ``p_refine``.

    The ``G`` displacement terms ``phi_i J(P_S, P_c^i)`` are scaled by ``divergence_scale`` and
    log-compressed (``log1p``; the paper only states a scaling coefficient against overflow), paired
    with ``phi_i``, and encoded by a :class:`SetEncoder` into ``F_Div``. ``F_Div``, ``mu_S`` (anchor) and
    ``p_pred`` give the intermediate pose feature ``p_inter``; a fusion MLP of ``p_inter`` and ``p_pred``
    gives a correction added to ``p_pred``: ``p_refine``.

    Parameters
    ----------
    latent_dim : int
        ``D_p``.
    signal_dim : int
        ``D_S``.
    dim : int
        Hidden width.
    heads : int
        Attention heads.
    divergence_scale : float
        Scaling coefficient of the divergence terms.

    References
    ----------
    mmJoints section 6.2 and fig. 8.
    """

    def __init__(self, latent_dim: int = 32, signal_dim: int = 64, dim: int = 128, heads: int = 4,
                 divergence_scale: float = 1e-2) -> None:
        super().__init__()
        self.divergence_scale = divergence_scale
        self.divergence = SetEncoder(2, dim, depth=1, n_inducing=8, heads=heads)
        self.intermediate = mlp((dim + signal_dim + latent_dim, dim, dim, latent_dim))
        self.fusion = mlp((2 * latent_dim, dim, latent_dim))

    def forward(self, terms: torch.Tensor, weights: torch.Tensor, mu_s: torch.Tensor, p_pred: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Refine a pose latent.

        Parameters
        ----------
        terms : Tensor, shape (B, G)
            ``phi_i J(P_S, P_c^i)`` (:func:`weighted_jeffreys_terms`).
        weights : Tensor, shape (B, G)
            ``phi_i``.
        mu_s : Tensor, shape (B, D_S)
            Signal feature mean (anchor).
        p_pred : Tensor, shape (B, D_p)
            Latent of the black-box pose.

        Returns
        -------
        p_refine : Tensor, shape (B, D_p)
            Surrogate pose latent.
        p_inter : Tensor, shape (B, D_p)
            Intermediate fine-tuned pose feature (regularised in eq. 19).
        """
        tokens = torch.stack([torch.log1p(self.divergence_scale * terms.clamp_min(0)), weights], dim=-1)
        f_div = self.divergence(tokens)
        p_inter = self.intermediate(torch.cat([f_div, mu_s, p_pred], dim=-1))
        return p_pred + self.fusion(torch.cat([p_inter, p_pred], dim=-1)), p_inter


def surrogate_pose_loss(p_refine: torch.Tensor, p_inter: torch.Tensor, p_true: torch.Tensor,
                        lambda_inter: float = 0.5, delta: float = 1.0) -> torch.Tensor:
    """``L_refine = Huber(p_refine, p_gt) + lambda_inter Huber(p_inter, p_gt)`` (mmJoints eq. 19).

    Parameters
    ----------
    p_refine, p_inter, p_true : Tensor, shape (B, D_p)
        Surrogate, intermediate and ground-truth pose latents.
    lambda_inter : float
        Weight of the regulariser ``R`` (not given in the paper).
    delta : float
        Huber threshold.

    Returns
    -------
    Tensor, scalar

    References
    ----------
    Huber 1964; mmJoints eq. 19.
    """
    return (F.huber_loss(p_refine, p_true, delta=delta)
            + lambda_inter * F.huber_loss(p_inter, p_true, delta=delta))


class HourglassMLP(nn.Module):
    """Hourglass of linear layers (down to a bottleneck and back, with skip connections), sigmoid output.

    Parameters
    ----------
    in_features, out_features : int
        Input width and number of outputs.
    widths : tuple of int
        Widths from the top of the hourglass to its bottleneck.

    References
    ----------
    Newell et al. 2016 (stacked hourglass), used with linear layers in mmJoints section 6.3.
    """

    def __init__(self, in_features: int, out_features: int, widths: tuple[int, ...] = (256, 128, 64)) -> None:
        super().__init__()
        self.inp = nn.Linear(in_features, widths[0])
        self.down = nn.ModuleList(nn.Linear(widths[i], widths[i + 1]) for i in range(len(widths) - 1))
        self.up = nn.ModuleList(nn.Linear(widths[i + 1], widths[i]) for i in reversed(range(len(widths) - 1)))
        self.out = nn.Linear(widths[0], out_features)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in_features) -> (B, out_features)`` in (0, 1)."""
        h = self.act(self.inp(x))
        skips = [h]
        for layer in self.down:
            h = self.act(layer(h))
            skips.append(h)
        skips.pop()
        for layer, skip in zip(self.up, reversed(skips), strict=True):
            h = self.act(layer(h)) + skip
        return torch.sigmoid(self.out(h))


class DescriptorHead(nn.Module):
    """Two-branch descriptor head: ``(p_refine, p_pred, F_frame) -> (xi, kappa)`` (mmJoints 6.3).

    Parameters
    ----------
    n_joints : int
        ``J``: one ``xi`` and one ``kappa`` per joint.
    latent_dim : int
        ``D_p``.
    frame_dim : int
        Width of the current frame's SetTransformer feature.
    extra_dim : int
        Width of optional extra inputs (e.g. the flattened predicted pose); 0 in the paper.
    widths : tuple of int
        Hourglass widths of each branch.

    References
    ----------
    mmJoints section 6.3 and eq. 20.
    """

    def __init__(self, n_joints: int, latent_dim: int = 32, frame_dim: int = 64, extra_dim: int = 0,
                 widths: tuple[int, ...] = (256, 128, 64)) -> None:
        super().__init__()
        in_features = 2 * latent_dim + frame_dim + extra_dim
        self.xi = HourglassMLP(in_features, n_joints, widths)
        self.kappa = HourglassMLP(in_features, n_joints, widths)

    def forward(self, p_refine: torch.Tensor, p_pred: torch.Tensor, frame_feature: torch.Tensor,
                extra: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Estimate descriptors.

        Parameters
        ----------
        p_refine, p_pred : Tensor, shape (B, D_p)
            Surrogate and predicted pose latents.
        frame_feature : Tensor, shape (B, frame_dim)
            Feature of the current point-cloud frame.
        extra : Tensor, shape (B, extra_dim), optional
            Extra inputs.

        Returns
        -------
        xi, kappa : Tensor, shape (B, J)
            Sensing and reliability scores in (0, 1).
        """
        parts = [p_refine, p_pred, frame_feature] + ([extra] if extra is not None else [])
        x = torch.cat(parts, dim=-1)
        return self.xi(x), self.kappa(x)


def descriptor_loss(xi: torch.Tensor, kappa: torch.Tensor, xi_true: torch.Tensor, kappa_true: torch.Tensor
                    ) -> torch.Tensor:
    """``L_desc = MSE(xi) + MSE(kappa)`` (mmJoints eq. 20); all tensors ``(B, J)``. Returns a scalar."""
    return F.mse_loss(xi, xi_true) + F.mse_loss(kappa, kappa_true)


# ----------------------------------------------------------------------------------------------------------
# the whole estimator
# ----------------------------------------------------------------------------------------------------------

class MMJointsOutput(NamedTuple):
    """Everything :class:`MMJoints` computes for a batch (``B`` samples, ``J`` joints).

    Attributes
    ----------
    xi, kappa : Tensor, shape (B, J)
        Estimated sensing and reliability scores.
    p_pred : Tensor, shape (B, D_p)
        Latent of the black-box pose (``mu_p``).
    p_refine, p_inter : Tensor, shape (B, D_p)
        Surrogate pose latent and intermediate feature.
    mu_s, logvar_s : Tensor, shape (B, D_S)
        Gaussian signal feature.
    signal_logits : Tensor or None
        Pose-cluster logits of the signal encoder.
    gmm : GMMParams
        Latent signal distribution of ``p_pred``.
    divergence_terms : Tensor, shape (B, G)
        ``phi_i J(P_S, P_c^i)``.
    """

    xi: torch.Tensor
    kappa: torch.Tensor
    p_pred: torch.Tensor
    p_refine: torch.Tensor
    p_inter: torch.Tensor
    mu_s: torch.Tensor
    logvar_s: torch.Tensor
    signal_logits: torch.Tensor | None
    gmm: GMMParams
    divergence_terms: torch.Tensor


class MMJoints(nn.Module):
    """mmJoints descriptor estimator (fig. 3): black-box pose + ``K`` point-cloud frames -> ``(xi, kappa)``.

    Step 1: ``p_pred = mu_p`` of the :class:`PoseVAE`; ``(mu_S, sigma_S)`` of the
    :class:`PointSetSignalEncoder`. Step 2: ``p_omega`` by :class:`PoseBasis`, latent signal GMM by
    :class:`LatentSignalDistributionGenerator`. Step 3: weighted Jeffrey terms, surrogate pose by
    :class:`SurrogatePoseRefiner`, descriptors by :class:`DescriptorHead` from ``p_refine``, ``p_pred``
    and a :class:`SetEncoder` feature of the current (last) frame.

    The dataset statistics of the ground-truth descriptors (mean ``psi``, ``D0``, see
    :class:`radarkit.metrics.descriptors.DescriptorStats`) are buffers, saved with the weights.

    Parameters
    ----------
    n_joints : int
        Joints of the black-box estimator's skeleton.
    point_features : int
        Columns of a point (x, y, z + features).
    pose_dim : int
        ``D_p`` (32).
    signal_dim : int
        ``D_S`` (64).
    n_components : int
        ``G``.
    n_pose_classes : int
        Pose clusters for the signal encoder's cross-entropy term.
    dim : int
        Hidden width of the attention parts.
    frame_dim : int
        Width of the current-frame feature.
    n_anchors, n_neighbours, temporal_radius, depth, heads
        Signal-encoder settings (:class:`PointSetSignalEncoder`).
    use_pose_coordinates : bool
        Also feed the flattened, normalised black-box pose to the descriptor head (not in the paper).
    use_joint_signal : bool
        Also feed the sensing score measured at the *predicted* joints in the current frame
        (:meth:`joint_signal`, eq. 1 with the stored statistics) to the descriptor head: a per-joint
        signal cue the pooled frame feature lacks (not in the paper; set the statistics first with
        :meth:`set_descriptor_stats`).
    intensity_column : int
        Column of the point intensity (for ``use_joint_signal``).

    References
    ----------
    mmJoints sections 3-6; defaults ``D_p = 32``, ``D_S = 64`` from section 7.1.
    """

    def __init__(self, n_joints: int, point_features: int = 4, pose_dim: int = 32, signal_dim: int = 64,
                 n_components: int = 8, n_pose_classes: int = 32, dim: int = 128, frame_dim: int = 64,
                 n_anchors: int = 32, n_neighbours: int = 16, temporal_radius: int = 1, depth: int = 2,
                 heads: int = 4, use_pose_coordinates: bool = False, use_joint_signal: bool = False,
                 intensity_column: int = 3) -> None:
        super().__init__()
        if use_joint_signal and not 3 <= intensity_column < point_features:
            raise ValueError(f"intensity column {intensity_column} is not a feature column of "
                             f"{point_features}-column points")
        self.hparams = dict(n_joints=n_joints, point_features=point_features, pose_dim=pose_dim,
                            signal_dim=signal_dim, n_components=n_components, n_pose_classes=n_pose_classes,
                            dim=dim, frame_dim=frame_dim, n_anchors=n_anchors, n_neighbours=n_neighbours,
                            temporal_radius=temporal_radius, depth=depth, heads=heads,
                            use_pose_coordinates=use_pose_coordinates, use_joint_signal=use_joint_signal,
                            intensity_column=intensity_column)
        self.use_pose_coordinates = use_pose_coordinates
        self.use_joint_signal = use_joint_signal
        self.intensity_column = intensity_column
        extra_dim = 3 * n_joints * use_pose_coordinates + n_joints * use_joint_signal
        self.pose_vae = PoseVAE(n_joints, pose_dim)
        self.basis = PoseBasis(pose_dim)
        self.signal_encoder = PointSetSignalEncoder(point_features, signal_dim, n_anchors, n_neighbours,
                                                    temporal_radius, dim, depth, heads, n_pose_classes)
        self.generator = LatentSignalDistributionGenerator(pose_dim, signal_dim, n_components, dim, heads)
        self.refiner = SurrogatePoseRefiner(pose_dim, signal_dim, dim, heads)
        self.frame_encoder = SetEncoder(point_features, frame_dim, depth=2, n_inducing=16, heads=heads)
        self.head = DescriptorHead(n_joints, pose_dim, frame_dim, extra_dim)
        self.register_buffer("mean_psi", torch.zeros((), dtype=torch.float64))
        self.register_buffer("psi_scale", torch.ones((), dtype=torch.float64))
        self.register_buffer("d0_m", torch.zeros((), dtype=torch.float64))
        self.register_buffer("min_distance_m", torch.full((), 0.05, dtype=torch.float64))

    @torch.no_grad()
    def set_descriptor_stats(self, mean_psi: float, d0_m: float, psi_scale: float = 1.0,
                             min_distance_m: float = 0.05) -> None:
        """Store the dataset statistics of the ground-truth descriptors (eq. 1-2) with the model
        (the fields of :class:`radarkit.metrics.descriptors.DescriptorStats`)."""
        self.mean_psi.fill_(mean_psi)
        self.d0_m.fill_(d0_m)
        self.psi_scale.fill_(psi_scale)
        self.min_distance_m.fill_(min_distance_m)

    def joint_signal(self, pose: torch.Tensor, points: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """Sensing score (eq. 1) of the joints of ``pose`` in one frame, with the stored statistics.

        Parameters
        ----------
        pose : Tensor, shape (B, J, 3)
            Joint positions, m.
        points : Tensor, shape (B, N, C)
            Padded point cloud of the frame.
        valid : Tensor, shape (B, N), bool
            Real points.

        Returns
        -------
        Tensor, shape (B, J)
            ``sigmoid((psi - mean psi) / psi_scale)``, ``psi = sum_n I_n / max(d, d_min)^2``.

        References
        ----------
        mmJoints eq. 1; :func:`radarkit.metrics.descriptors.signal_strength` (numpy twin).
        """
        d2 = torch.cdist(pose, points[..., :3]).pow(2).clamp_min(float(self.min_distance_m) ** 2)
        intensity = (points[..., self.intensity_column] * valid).unsqueeze(1)  # (B, 1, N)
        psi = (intensity / d2).sum(-1)
        return torch.sigmoid((psi - self.mean_psi.to(psi.dtype)) / self.psi_scale.to(psi.dtype))

    def extra_inputs(self, pose_pred: torch.Tensor, points: torch.Tensor, valid: torch.Tensor
                     ) -> torch.Tensor | None:
        """Optional extra descriptor-head inputs ``(B, extra_dim)`` (``use_pose_coordinates``,
        ``use_joint_signal``), or None when both are off."""
        parts = []
        if self.use_pose_coordinates:
            parts.append(((pose_pred - self.pose_vae.pose_mean) / self.pose_vae.pose_scale).flatten(1))
        if self.use_joint_signal:
            parts.append(self.joint_signal(pose_pred, points[:, -1], valid[:, -1]))
        return torch.cat(parts, dim=-1) if parts else None

    def frame_feature(self, points: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """SetTransformer feature ``(B, frame_dim)`` of the current frame ``points[:, -1]``."""
        return self.frame_encoder(points[:, -1], valid[:, -1])

    def forward(self, pose_pred: torch.Tensor, points: torch.Tensor, valid: torch.Tensor | None = None
                ) -> MMJointsOutput:
        """Estimate the descriptors of a black-box pose.

        Parameters
        ----------
        pose_pred : Tensor, shape (B, J, 3)
            Black-box pose of the current frame, m.
        points : Tensor, shape (B, K, N, C)
            Padded point clouds of the last ``K`` frames (current frame last).
        valid : Tensor, shape (B, K, N), bool, optional
            True for real points (default: all).

        Returns
        -------
        MMJointsOutput
        """
        if valid is None:
            valid = torch.ones(points.shape[:3], dtype=torch.bool, device=points.device)
        p_pred, _ = self.pose_vae.encode(pose_pred)
        mu_s, logvar_s, logits = self.signal_encoder(points, valid)
        gmm = self.generator(self.basis(p_pred))
        terms = weighted_jeffreys_terms(mu_s, logvar_s.exp(), gmm)
        p_refine, p_inter = self.refiner(terms, gmm.weights, mu_s, p_pred)
        extra = self.extra_inputs(pose_pred, points, valid)
        xi, kappa = self.head(p_refine, p_pred, self.frame_feature(points, valid), extra)
        return MMJointsOutput(xi, kappa, p_pred, p_refine, p_inter, mu_s, logvar_s, logits, gmm, terms)


# ----------------------------------------------------------------------------------------------------------
# downstream tasks (section 8)
# ----------------------------------------------------------------------------------------------------------

class RefinementMLP(nn.Module):
    """Downstream pose refinement from 5-D joints ``(x, y, z, xi, kappa)`` (mmJoints 8.1).

    The flattened joints go through an MLP whose output is added to the input coordinates (a
    residual correction). With ``in_features = 3`` it is the same model without descriptors (only the
    input layer differs, as in the paper's comparison).

    Parameters
    ----------
    n_joints : int
        ``J``.
    in_features : int
        Values per joint: 5 with descriptors, 3 without.
    hidden : tuple of int
        Hidden widths.

    References
    ----------
    mmJoints section 8.1 and Table 11.
    """

    def __init__(self, n_joints: int, in_features: int = 5, hidden: tuple[int, ...] = (256, 256)) -> None:
        super().__init__()
        self.n_joints = n_joints
        self.net = mlp((n_joints * in_features, *hidden, n_joints * 3))

    def forward(self, joints: torch.Tensor) -> torch.Tensor:
        """``(B, J, in_features)`` (x, y, z in m first) -> refined poses ``(B, J, 3)``, m."""
        return joints[..., :3] + self.net(joints.flatten(1)).view(-1, self.n_joints, 3)


class ActivityLSTM(nn.Module):
    """Activity recogniser: an LSTM over the joints of ``T`` consecutive frames (mmJoints 8.2).

    Parameters
    ----------
    n_joints : int
        ``J``.
    n_classes : int
        Activities.
    in_features : int
        Values per joint: 5 with descriptors, 3 without.
    hidden : int
        LSTM hidden size.
    num_layers : int
        LSTM layers.

    References
    ----------
    mmJoints section 8.2 (5 frames, LSTM), Tables 12-13.
    """

    def __init__(self, n_joints: int, n_classes: int, in_features: int = 5, hidden: int = 128,
                 num_layers: int = 2) -> None:
        super().__init__()
        self.lstm = nn.LSTM(n_joints * in_features, hidden, num_layers, batch_first=True)
        self.classifier = nn.Linear(hidden, n_classes)

    def forward(self, joints: torch.Tensor) -> torch.Tensor:
        """``(B, T, J, in_features)`` -> activity logits ``(B, n_classes)``."""
        out, _ = self.lstm(joints.flatten(2))
        return self.classifier(out[:, -1])
