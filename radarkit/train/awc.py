"""AWC balanced multi-modal training: Shapley contributions, Fisher information, weight constraint.

Implements Qi et al., "Towards Balanced Multi-Modal Learning in 3D Human Pose Estimation"
(``awc-balanced-multimodal.txt``), Algorithm 1:

1. **Shapley contribution** (Sec. 3.2, eq. 1, 4, 5): for every subset ``S`` of the ``M``
   modalities the fusion head predicts from the encoder features with the modalities outside
   ``S`` set to zero; the profit ``v(S)`` is the sum over the ``3 J`` joint coordinates of the
   Pearson correlation, across the batch, between prediction and ground truth; each modality's
   Shapley value is its weighted mean marginal profit. The encoders run once per batch (the
   training forward pass); only the fusion head is re-evaluated, for all ``2^M`` subsets in one
   call (:func:`modality_shapley`).
2. **Superior / inferior split** (Sec. 3.3): K-means with k = 2 (scikit-learn) on the Shapley
   values; the cluster with the higher mean is superior (:func:`split_modalities`).
3. **Fisher information** (eq. 8): the diagonal, from per-sample squared gradients of the MPJPE
   loss over the training set, at the parameters of the start of each epoch
   (:func:`fisher_diagonal`).
4. **AWC loss** (eq. 6-7): ``sum_m alpha_{S|I} sum_i F_ii (theta_i - theta_0,i)^2 / 2`` over the
   encoder parameters of each modality, ``theta_0`` the parameters at the start of the epoch
   (:func:`awc_penalty`); added to the MPJPE loss (eq. 9-10) in the first ``K`` epochs only.

:func:`train_awc` runs the whole loop (and, with ``AWCConfig(enabled=False)``, the plain
concatenation baseline with the same budget, still logging the Shapley values).

References
----------
.. [1] M. Qi, J. Peng, X. Zhang, H. Ma, "Towards Balanced Multi-Modal Learning in 3D Human Pose
   Estimation" (``awc-balanced-multimodal.txt``), eq. 1, 4-10, Algorithm 1, Sec. 4.1.
.. [2] L. S. Shapley, "A value for n-person games", 1953.
.. [3] J. Kirkpatrick et al., "Overcoming catastrophic forgetting in neural networks", PNAS 2017
   (Fisher-weighted quadratic parameter constraint).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache

import numpy as np
import torch
from torch import Tensor

from radarkit.errors import ConfigError

__all__ = [
    "AWCConfig",
    "AWCHistory",
    "mpjpe_loss",
    "pearson_profit",
    "subset_masks",
    "shapley_matrix",
    "shapley_values",
    "modality_shapley",
    "split_modalities",
    "fisher_diagonal",
    "awc_penalty",
    "train_awc",
    "evaluate_awc",
    "to_device",
]

Batch = tuple[Mapping[str, object], Tensor]


@dataclass(frozen=True)
class AWCConfig:
    """Hyper-parameters of AWC training (defaults: the paper's, Sec. 4.1 and Table 4).

    Parameters
    ----------
    alpha_superior : float
        ``alpha_S``, weight of the constraint on superior modalities (paper: 20k).
    alpha_inferior : float
        ``alpha_I``, weight on inferior modalities (paper: 10k).
    window_epochs : int
        ``K``, the learning window: the constraint is active in epochs ``0 .. K-1`` (paper: 20).
    epochs : int
        Training epochs (paper: 50).
    lr : float
        Adam learning rate (paper: 1e-3).
    weight_decay : float
        Adam (L2) weight decay (paper: 1e-4).
    lr_step_epochs : int
        Multiply the learning rate by ``lr_gamma`` every this many epochs (paper: 30).
    lr_gamma : float
        Learning-rate decay factor (paper: 0.1).
    batch_size : int
        Batch size the loaders should use (paper: 192); informational here.
    enabled : bool
        Apply the AWC loss. False gives the plain multi-modal baseline with the same budget;
        Shapley values are logged either way.
    fisher_max_batches : int, optional
        Estimate the Fisher diagonal from at most this many training batches (None: the whole
        training set, as eq. 8).
    shapley_every : int
        Compute the Shapley values (and re-split the modalities) every this many batches; the
        last split is kept in between.

    Raises
    ------
    ConfigError
        A value out of range (negative weights, K > epochs, non-positive counts).

    References
    ----------
    .. [1] Qi et al., ``awc-balanced-multimodal.txt`` Sec. 4.1 (optimiser, schedule, epochs),
       Table 4 (alpha_S = 20k, alpha_I = 10k best), Fig. 6 (K).
    """

    alpha_superior: float = 2e4
    alpha_inferior: float = 1e4
    window_epochs: int = 20
    epochs: int = 50
    lr: float = 1e-3
    weight_decay: float = 1e-4
    lr_step_epochs: int = 30
    lr_gamma: float = 0.1
    batch_size: int = 192
    enabled: bool = True
    fisher_max_batches: int | None = None
    shapley_every: int = 1

    def __post_init__(self) -> None:
        if self.alpha_superior < 0 or self.alpha_inferior < 0:
            raise ConfigError("AWC weights must be >= 0", field="alpha_superior/alpha_inferior")
        if self.epochs < 1:
            raise ConfigError(f"must be >= 1, got {self.epochs}", field="epochs")
        if not 0 <= self.window_epochs <= self.epochs:
            raise ConfigError(f"must lie in [0, epochs={self.epochs}], got {self.window_epochs}",
                              field="window_epochs")
        for name in ("lr", "lr_step_epochs", "lr_gamma", "batch_size", "shapley_every"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"must be > 0, got {getattr(self, name)}", field=name)
        if self.fisher_max_batches is not None and self.fisher_max_batches < 1:
            raise ConfigError(f"must be >= 1 or None, got {self.fisher_max_batches}",
                              field="fisher_max_batches")


@dataclass
class AWCHistory:
    """Per-epoch record of a training run (lists indexed by epoch).

    Attributes
    ----------
    modalities : tuple of str
        Order of the Shapley columns.
    loss_m : list of float
        Mean MPJPE loss (eq. 9) over the epoch's batches, in metres.
    awc_loss : list of float
        Mean AWC term (eq. 6) over the epoch's batches (0 outside the window).
    shapley : list of list of float
        Mean Shapley value of each modality over the epoch's batches (profit units: summed
        Pearson correlations, at most ``3 J``).
    superior : list of tuple of str
        Superior modalities of the epoch's last split.
    val : list of dict
        Validation metrics per epoch (empty dicts without a validation loader).
    step_s, shapley_s, kmeans_s, fisher_s : list of float
        Seconds per epoch spent in training steps (forward, backward, update), in the Shapley
        computation (subset predictions, correlations, weights), in K-means and in the Fisher
        diagonal.
    """

    modalities: tuple[str, ...]
    loss_m: list[float] = field(default_factory=list)
    awc_loss: list[float] = field(default_factory=list)
    shapley: list[list[float]] = field(default_factory=list)
    superior: list[tuple[str, ...]] = field(default_factory=list)
    val: list[dict] = field(default_factory=list)
    step_s: list[float] = field(default_factory=list)
    shapley_s: list[float] = field(default_factory=list)
    kmeans_s: list[float] = field(default_factory=list)
    fisher_s: list[float] = field(default_factory=list)

    @property
    def shapley_overhead_percent(self) -> float:
        """Shapley time as a percentage of training-step time (paper Table 2 "Overhead")."""
        step = sum(self.step_s)
        return 100.0 * sum(self.shapley_s) / step if step > 0 else math.nan

    def as_dict(self) -> dict:
        """Plain-Python copy (JSON-serialisable)."""
        out = asdict(self)
        out["superior"] = [list(s) for s in self.superior]
        out["modalities"] = list(self.modalities)
        out["shapley_overhead_percent"] = self.shapley_overhead_percent
        return out


def mpjpe_loss(pred: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """MPJPE loss, paper eq. 9: mean over joints of the Euclidean joint error.

    Parameters
    ----------
    pred, target : Tensor, shape (..., J, 3)
        Joint positions in metres.
    reduction : {"mean", "none"}
        Mean over all leading axes, or one value per pose.

    Returns
    -------
    Tensor
        Scalar (metres) or shape ``(...)``.

    References
    ----------
    .. [1] Qi et al., eq. 9; Pavllo et al., CVPR 2019.
    """
    per_pose = torch.linalg.vector_norm(pred - target, dim=-1).mean(dim=-1)
    if reduction == "none":
        return per_pose
    if reduction != "mean":
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    return per_pose.mean()


def pearson_profit(pred: Tensor, target: Tensor, rtol: float = 1e-5) -> Tensor:
    """Shapley profit ``s(y, y_hat)``: sum over joint coordinates of Pearson correlations.

    For each of the ``3 J`` coordinates the Pearson correlation between prediction and ground
    truth is taken across the batch (paper eq. 5) and the correlations are summed (eq. 4).

    Parameters
    ----------
    pred : Tensor, shape (..., B, J, 3)
        Predictions; leading axes (e.g. one per modality subset) are kept.
    target : Tensor, shape (B, J, 3)
        Ground truth.
    rtol : float
        A coordinate whose predictions (or ground truth) vary across the batch by less than
        ``rtol * (|mean| + 1e-3)`` in standard deviation counts as constant: its correlation is
        undefined and taken as 0 (a prediction that carries no information). This is the case of
        the empty subset, whose prediction is the head's bias for every sample.

    Returns
    -------
    Tensor of float64, shape (...)
        Profit, in ``[-3 J, 3 J]``.

    Raises
    ------
    ValueError
        If the batch has fewer than 2 samples or shapes do not match.

    References
    ----------
    .. [1] Qi et al., ``awc-balanced-multimodal.txt`` eq. 4-5.
    """
    if pred.shape[-3:] != target.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} does not end with target shape "
                         f"{tuple(target.shape)}")
    if target.shape[0] < 2:
        raise ValueError("Pearson correlation needs a batch of at least 2 samples")
    p = pred.detach().to(torch.float64)
    y = target.detach().to(device=p.device, dtype=torch.float64)
    pc = p - p.mean(dim=-3, keepdim=True)
    yc = y - y.mean(dim=-3, keepdim=True)
    cov = (pc * yc).sum(dim=-3)
    sp = pc.pow(2).sum(dim=-3).sqrt()
    sy = yc.pow(2).sum(dim=-3).sqrt()
    n = float(target.shape[0])
    flat_p = sp / math.sqrt(n) <= rtol * (p.mean(dim=-3).abs() + 1e-3)
    flat_y = sy / math.sqrt(n) <= rtol * (y.mean(dim=0).abs() + 1e-3)
    defined = ~(flat_p | flat_y)
    denom = torch.where(defined, sp * sy, torch.ones_like(sp))
    rho = torch.where(defined, cov / denom, torch.zeros_like(cov))
    return rho.sum(dim=(-2, -1))


@lru_cache(maxsize=16)
def _masks_np(n: int) -> np.ndarray:
    return ((np.arange(2 ** n)[:, None] >> np.arange(n)[None, :]) & 1).astype(bool)


def subset_masks(n: int) -> Tensor:
    """All ``2^n`` modality subsets as presence masks.

    Parameters
    ----------
    n : int
        Number of modalities (1 to 16).

    Returns
    -------
    Tensor of bool, shape (2**n, n)
        Row ``s`` holds modality ``i`` iff bit ``i`` of ``s`` is set; row 0 is the empty set,
        row ``2**n - 1`` the full set.
    """
    if not 1 <= n <= 16:
        raise ValueError(f"number of modalities must be in 1..16, got {n}")
    return torch.from_numpy(_masks_np(n).copy())


@lru_cache(maxsize=16)
def shapley_matrix(n: int) -> np.ndarray:
    """Matrix ``W`` with ``phi = W @ v`` for subset values ``v`` in :func:`subset_masks` order.

    ``W[m, S + {m}] += w(|S|)`` and ``W[m, S] -= w(|S|)`` for every subset ``S`` without ``m``,
    ``w(k) = k! (n - k - 1)! / n!`` (paper eq. 1).

    Parameters
    ----------
    n : int
        Number of modalities.

    Returns
    -------
    ndarray of float64, shape (n, 2**n)
        Read-only.

    References
    ----------
    .. [1] Qi et al., eq. 1; Shapley 1953.
    """
    masks = _masks_np(n)
    sizes = masks.sum(axis=1)
    w = np.zeros((n, 2 ** n))
    for m in range(n):
        without = np.flatnonzero(~masks[:, m])
        k = sizes[without]
        weight = np.array([math.factorial(int(s)) * math.factorial(n - int(s) - 1) for s in k],
                          dtype=np.float64) / math.factorial(n)
        np.add.at(w[m], without | (1 << m), weight)
        np.add.at(w[m], without, -weight)
    w.setflags(write=False)
    return w


def shapley_values(values: np.ndarray | Tensor) -> np.ndarray:
    """Exact Shapley values from the values of all subsets (paper eq. 1).

    Parameters
    ----------
    values : array-like, shape (2**n,) or (2**n, K)
        ``v(S)`` for every subset in :func:`subset_masks` order (optionally K games at once).

    Returns
    -------
    ndarray of float64, shape (n,) or (n, K)
        ``phi_m``; they sum to ``v(all) - v(empty)`` (efficiency).

    Raises
    ------
    ValueError
        If the length is not a power of two.

    References
    ----------
    .. [1] Qi et al., eq. 1; Shapley 1953.
    """
    v = values.detach().cpu().numpy() if isinstance(values, Tensor) else np.asarray(values)
    v = v.astype(np.float64)
    n = int(round(math.log2(v.shape[0]))) if v.shape[0] > 0 else -1
    if n < 1 or 2 ** n != v.shape[0]:
        raise ValueError(f"need 2**n subset values, got {v.shape[0]}")
    return shapley_matrix(n) @ v


def modality_shapley(model: torch.nn.Module, features: Tensor, target: Tensor) -> np.ndarray:
    """Shapley contribution of each modality on one batch, re-using the encoder features.

    Parameters
    ----------
    model : AWCPoseModel
        Any module with ``fuse_subsets(features, subsets)`` (see :mod:`radarkit.models.awc`).
    features : Tensor, shape (B, M, D)
        Encoder features of the batch (from the training forward pass); not modified.
    target : Tensor, shape (B, J, 3)
        Ground-truth joints in metres.

    Returns
    -------
    ndarray of float64, shape (M,)
        Shapley values with the Pearson profit (:func:`pearson_profit`), in the model's modality
        order.

    References
    ----------
    .. [1] Qi et al., ``awc-balanced-multimodal.txt`` eq. 1, 4, 5.
    """
    masks = subset_masks(features.shape[1]).to(features.device)
    with torch.no_grad():
        preds = model.fuse_subsets(features.detach(), masks)
        profit = pearson_profit(preds, target)
    return shapley_values(profit)


def split_modalities(scores: Sequence[float] | np.ndarray, names: Sequence[str],
                     ) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Split modalities into superior and inferior sets by K-means (k = 2) on Shapley values.

    Parameters
    ----------
    scores : array-like, shape (M,)
        Shapley values.
    names : sequence of str
        Modality names, same order.

    Returns
    -------
    superior, inferior : tuple of str
        The cluster with the higher mean score is superior (paper Sec. 3.3). With one modality,
        or when all scores are equal (no modality dominates), every modality is inferior.

    Notes
    -----
    scikit-learn ``KMeans`` on the 1-D scores, started from the lowest and highest score
    (one deterministic initialisation; in one dimension this separates the scores at a gap).

    References
    ----------
    .. [1] Qi et al., ``awc-balanced-multimodal.txt`` Sec. 3.3.
    """
    from sklearn.cluster import KMeans

    x = np.asarray(scores, dtype=np.float64).reshape(-1, 1)
    if len(x) != len(names):
        raise ValueError(f"{len(x)} scores for {len(names)} modalities")
    if len(x) < 2 or not np.all(np.isfinite(x)) or np.ptp(x) <= 1e-12 * max(1.0, np.abs(x).max()):
        return (), tuple(names)
    init = np.array([[x.min()], [x.max()]])
    labels = KMeans(n_clusters=2, init=init, n_init=1).fit(x).labels_
    means = [x[labels == k].mean() if np.any(labels == k) else -np.inf for k in (0, 1)]
    top = int(np.argmax(means))
    superior = tuple(n for n, lab in zip(names, labels, strict=True) if lab == top)
    inferior = tuple(n for n, lab in zip(names, labels, strict=True) if lab != top)
    return superior, inferior


def to_device(inputs: Mapping[str, object], device: torch.device | str) -> dict[str, object]:
    """Move a modality-input mapping (tensors or tuples of tensors) to ``device``."""
    def move(x):
        if isinstance(x, Tensor):
            return x.to(device, non_blocking=True)
        if isinstance(x, tuple | list):
            return type(x)(move(v) for v in x)
        return x
    return {k: move(v) for k, v in inputs.items()}


def _encoder_params(model: torch.nn.Module) -> dict[str, dict[str, torch.nn.Parameter]]:
    return {m: model.modality_parameters(m) for m in model.modalities}


def fisher_diagonal(model: torch.nn.Module, batches: Iterable[Batch],
                    params: Mapping[str, torch.nn.Parameter] | None = None,
                    device: torch.device | str | None = None, max_batches: int | None = None,
                    method: str = "vmap", chunk_size: int | None = 32) -> dict[str, Tensor]:
    """Diagonal of the empirical Fisher information of the MPJPE loss, paper eq. 8.

    ``F_ii = (1 / |D|) sum_n (d L(x_n, y_n; theta) / d theta_i)^2`` with per-sample gradients
    at the current parameters. The model is evaluated in eval mode (no dropout), so the value is
    deterministic; its training mode is restored afterwards.

    Parameters
    ----------
    model : AWCPoseModel
        The model; its parameters are not changed.
    batches : iterable of (inputs, target)
        Training batches: ``inputs`` a modality mapping, ``target`` ``(B, J, 3)`` metres.
    params : mapping of str to Parameter, optional
        The parameters to compute ``F`` for, by ``named_parameters()`` name; default: all
        modality-encoder parameters (the ``theta^m`` of eq. 7).
    device : torch.device or str, optional
        Where to compute; default the model's device.
    max_batches : int, optional
        Use at most this many batches.
    method : {"vmap", "loop"}
        Per-sample gradients with ``torch.func.vmap(grad(...))`` (fast) or one backward pass
        per sample (reference).
    chunk_size : int, optional
        With "vmap": samples whose per-sample gradients are held at once (memory is
        ``chunk_size`` times the parameter count); None: the whole batch.

    Returns
    -------
    dict of str to Tensor
        ``F_ii`` with the shape of each parameter (units: metres^2 per parameter unit^2).

    Raises
    ------
    ValueError
        If there are no batches or the method is unknown.

    References
    ----------
    .. [1] Qi et al., ``awc-balanced-multimodal.txt`` eq. 8; Kirkpatrick et al., PNAS 2017.
    """
    from torch.func import functional_call, grad, vmap

    if method not in ("vmap", "loop"):
        raise ValueError(f"method must be 'vmap' or 'loop', got {method!r}")
    if params is None:
        params = {k: v for group in _encoder_params(model).values() for k, v in group.items()}
    names = list(params)
    if device is None:
        device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    fisher = {k: torch.zeros_like(p, device=device) for k, p in params.items()}
    count = 0
    try:
        if method == "vmap":
            frozen = {k: v.detach() for k, v in model.named_parameters() if k not in params}
            frozen.update(dict(model.named_buffers()))

            def loss_one(p: dict[str, Tensor], inputs_one: dict, target_one: Tensor) -> Tensor:
                batched = {k: (tuple(t.unsqueeze(0) for t in v) if isinstance(v, tuple) else v.unsqueeze(0))
                           for k, v in inputs_one.items()}
                pred = functional_call(model, {**frozen, **p}, (batched,))
                return mpjpe_loss(pred, target_one.unsqueeze(0))

            per_sample_grad = vmap(grad(loss_one), in_dims=(None, 0, 0), chunk_size=chunk_size)
            detached = {k: params[k].detach() for k in names}
        for b, (inputs, target) in enumerate(batches):
            if max_batches is not None and b >= max_batches:
                break
            inputs = {k: (tuple(v) if isinstance(v, list) else v)
                      for k, v in to_device(inputs, device).items() if v is not None}
            target = target.to(device)
            if method == "vmap":
                grads = per_sample_grad(detached, inputs, target)
                for k in names:
                    fisher[k] += grads[k].pow(2).sum(dim=0)
            else:
                for i in range(target.shape[0]):
                    one = {k: (tuple(t[i:i + 1] for t in v) if isinstance(v, tuple) else v[i:i + 1])
                           for k, v in inputs.items()}
                    loss = mpjpe_loss(model(one), target[i:i + 1])
                    grads = torch.autograd.grad(loss, [params[k] for k in names], allow_unused=True)
                    for k, g in zip(names, grads, strict=True):
                        if g is not None:
                            fisher[k] += g.detach().pow(2)
            count += target.shape[0]
    finally:
        model.train(was_training)
    if count == 0:
        raise ValueError("no batches to estimate the Fisher information from")
    return {k: v / count for k, v in fisher.items()}


def awc_penalty(model: torch.nn.Module, fisher: Mapping[str, Tensor], anchor: Mapping[str, Tensor],
                superior: Iterable[str], inferior: Iterable[str], alpha_superior: float,
                alpha_inferior: float) -> Tensor:
    """Adaptive weight constraint loss, paper eq. 6-7.

    ``L_AWC = sum_m alpha_m sum_{i in theta^m} F_ii (theta_i - theta_0,i)^2 / 2`` with
    ``alpha_m = alpha_S`` for superior and ``alpha_I`` for inferior modalities.

    Parameters
    ----------
    model : AWCPoseModel
        Provides ``modality_parameters(m)``.
    fisher : mapping of str to Tensor
        Fisher diagonal per parameter name (:func:`fisher_diagonal`).
    anchor : mapping of str to Tensor
        ``theta_0``: parameter values at the start of the epoch, by name.
    superior, inferior : iterable of str
        The split of :func:`split_modalities`.
    alpha_superior, alpha_inferior : float
        ``alpha_S``, ``alpha_I``.

    Returns
    -------
    Tensor
        Scalar, differentiable with respect to the encoder parameters.

    References
    ----------
    .. [1] Qi et al., ``awc-balanced-multimodal.txt`` eq. 6-7.
    """
    weights = {m: alpha_superior for m in superior}
    weights.update({m: alpha_inferior for m in inferior})
    total = next(model.parameters()).new_zeros(())
    for m, alpha in weights.items():
        if alpha == 0:
            continue
        term = total.new_zeros(())
        for name, p in model.modality_parameters(m).items():
            if name in fisher:
                term = term + (fisher[name] * (p - anchor[name]).pow(2)).sum() / 2
        total = total + alpha * term
    return total


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def evaluate_awc(model: torch.nn.Module, batches: Iterable[Batch], device: torch.device | str | None = None,
                 root: int | tuple[int, ...] | None = None) -> dict[str, float | list[float]]:
    """MPJPE, root-aligned MPJPE, PA-MPJPE (mm) and Shapley values over a whole data set.

    Parameters
    ----------
    model : AWCPoseModel
        Evaluated in eval mode (restored afterwards).
    batches : iterable of (inputs, target)
        Evaluation batches.
    device : torch.device or str, optional
        Default: the model's device.
    root : int or tuple of int, optional
        Root joint(s) for the root-aligned MPJPE; default: the mean of the two hips (11, 12) for
        17-joint COCO poses, joint 0 otherwise.

    Returns
    -------
    dict
        ``mpjpe_mm``, ``root_aligned_mpjpe_mm``, ``pa_mpjpe_mm`` (floats), ``shapley`` (list in
        the model's modality order, the Pearson profit over the whole set) and ``shapley_share``
        (each modality's share of the summed positive Shapley values).

    References
    ----------
    .. [1] Qi et al., Sec. 4.1 (MPJPE and PA-MPJPE in mm).
    """
    from radarkit.metrics.procrustes import mpjpe_mm, pa_mpjpe_mm, root_aligned_mpjpe_mm

    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    preds, targets, subset_preds = [], [], []
    masks = subset_masks(len(model.modalities)).to(device)
    try:
        with torch.no_grad():
            for inputs, target in batches:
                feats = model.encode(to_device(inputs, device))
                preds.append(model.fuse(feats).cpu())
                subset_preds.append(model.fuse_subsets(feats, masks).cpu())
                targets.append(target.cpu())
    finally:
        model.train(was_training)
    if not preds:
        raise ValueError("no batches to evaluate")
    pred = torch.cat(preds).double()
    target = torch.cat(targets).double()
    p_np, t_np = pred.numpy(), target.numpy()
    if root is None:
        root = (11, 12) if target.shape[1] == 17 else 0
    out: dict[str, float | list[float]] = {
        "mpjpe_mm": mpjpe_mm(p_np, t_np),
        "root_aligned_mpjpe_mm": root_aligned_mpjpe_mm(p_np, t_np, root=root),
        "pa_mpjpe_mm": pa_mpjpe_mm(p_np, t_np),
    }
    if target.shape[0] >= 2:
        phi = shapley_values(pearson_profit(torch.cat(subset_preds, dim=1), target))
        pos = np.clip(phi, 0, None)
        out["shapley"] = phi.tolist()
        out["shapley_share"] = (pos / pos.sum()).tolist() if pos.sum() > 0 else [math.nan] * len(phi)
    return out


def train_awc(model: torch.nn.Module, train_batches: Iterable[Batch], config: AWCConfig = AWCConfig(),
              device: torch.device | str = "cpu", val_batches: Iterable[Batch] | None = None,
              on_epoch: Callable[[int, AWCHistory], None] | None = None) -> AWCHistory:
    """Train a multi-modal pose model with AWC (paper Algorithm 1), or the plain baseline.

    Per epoch ``e``: if AWC is enabled and ``e < K``, snapshot ``theta_0`` and compute the Fisher
    diagonal; per batch: encoder forward, fusion, MPJPE loss; Shapley values from the same
    features; K-means split; ``L = L_MPJPE + L_AWC`` inside the window (``L_MPJPE`` outside);
    Adam step. The learning rate follows a step schedule.

    Parameters
    ----------
    model : AWCPoseModel
        Trained in place (moved to ``device``).
    train_batches : iterable of (inputs, target)
        Re-iterable (e.g. a ``DataLoader``) of modality mappings and ``(B, J, 3)`` targets in m.
    config : AWCConfig
        Hyper-parameters.
    device : torch.device or str
        Where to train (CPU or CUDA).
    val_batches : iterable of (inputs, target), optional
        Evaluated after every epoch with :func:`evaluate_awc`.
    on_epoch : callable, optional
        Called as ``on_epoch(epoch, history)`` after each epoch (progress, checkpoints).

    Returns
    -------
    AWCHistory
        Losses, Shapley values, splits, validation metrics and timings per epoch.

    References
    ----------
    .. [1] Qi et al., ``awc-balanced-multimodal.txt`` Algorithm 1, eq. 6-10, Sec. 4.1.
    """
    device = torch.device(device)
    model.to(device)
    names = tuple(model.modalities)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, betas=(0.9, 0.999),
                           weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=config.lr_step_epochs, gamma=config.lr_gamma)
    history = AWCHistory(modalities=names)
    superior: tuple[str, ...] = ()
    inferior: tuple[str, ...] = names
    for epoch in range(config.epochs):
        active = config.enabled and epoch < config.window_epochs
        fisher_s = 0.0
        if active:
            t0 = time.perf_counter()
            anchor = {k: p.detach().clone() for group in _encoder_params(model).values()
                      for k, p in group.items()}
            fisher = fisher_diagonal(model, train_batches, device=device,
                                     max_batches=config.fisher_max_batches)
            _sync(device)
            fisher_s = time.perf_counter() - t0
        model.train()
        losses, awc_terms, phis = [], [], []
        step_s = shapley_s = kmeans_s = 0.0
        for b, (inputs, target) in enumerate(train_batches):
            inputs = to_device(inputs, device)
            target = target.to(device)
            _sync(device)
            t0 = time.perf_counter()
            features = model.encode(inputs)
            pred = model.fuse(features)
            loss = mpjpe_loss(pred, target)
            _sync(device)
            t1 = time.perf_counter()
            if b % config.shapley_every == 0 and target.shape[0] >= 2:
                phi = modality_shapley(model, features, target)
                phis.append(phi)
                _sync(device)
                t2 = time.perf_counter()
                shapley_s += t2 - t1
                if active:
                    superior, inferior = split_modalities(phi, names)
                    kmeans_s += time.perf_counter() - t2
            t3 = time.perf_counter()
            total = loss
            if active:
                penalty = awc_penalty(model, fisher, anchor, superior, inferior,
                                      config.alpha_superior, config.alpha_inferior)
                total = loss + penalty
                awc_terms.append(float(penalty.detach()))
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
            _sync(device)
            step_s += (t1 - t0) + (time.perf_counter() - t3)
            losses.append(float(loss.detach()))
        sched.step()
        if not losses:
            raise ValueError("the training set yielded no batches")
        history.loss_m.append(float(np.mean(losses)))
        history.awc_loss.append(float(np.mean(awc_terms)) if awc_terms else 0.0)
        history.shapley.append(np.mean(phis, axis=0).tolist() if phis else [math.nan] * len(names))
        history.superior.append(superior if active else ())
        history.step_s.append(step_s)
        history.shapley_s.append(shapley_s)
        history.kmeans_s.append(kmeans_s)
        history.fisher_s.append(fisher_s)
        history.val.append(evaluate_awc(model, val_batches, device) if val_batches is not None else {})
        if on_epoch is not None:
            on_epoch(epoch, history)
    return history
