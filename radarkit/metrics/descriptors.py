"""Ground-truth mmJoints joint descriptors and their error metrics (numpy only).

mmJoints extends every joint of a black-box pose estimator's output from ``(x, y, z)`` to
``(x, y, z, xi, kappa)``:

* the **sensing score** ``xi_j = sigmoid(psi_j - mean psi)`` (paper eq. 1), where the signal strength
  ``psi_j = sum_n I_n / d_{j,n}^2`` sums the intensity of every point of the frame's point cloud
  weighted by its inverse squared distance to joint ``j``;
* the **reliability score** ``kappa_j = f(D_j) / f(0)`` with ``f(D) = 1 - sigmoid(D - D0 / 2)``
  (eq. 2-3), where ``D_j`` is the distance between the predicted and the ground-truth joint and
  ``D0`` the dataset's mean torso length.

Both need the ground-truth pose, so they are the *targets* the learned estimator
(:mod:`radarkit.models.mmjoints`) is trained on and evaluated against with sMAPE and wMAPE.

Units and the choices the paper leaves open (all explicit parameters here):

* Positions and distances are in metres (radar frame of ``architecture.md``). The paper's
  ``D0 = 20`` and its sigmoid of a raw distance difference only give a usable slope when distances
  are in centimetres, so :func:`reliability_score` divides distances by ``distance_unit_m``
  (default 0.01 m) before the sigmoid; with the default, eq. 2 reads exactly as in the paper with
  ``D`` in cm.
* ``1 / d^2`` is singular when a point lies on a joint; distances are floored at ``min_distance_m``
  (default 0.05 m, about a joint's radius).
* The signal strength of the *ground-truth* joint is used for the ground-truth sensing score
  (whether the body part was actually seen by the radar); pass the predicted pose to
  :func:`signal_strength` to measure the support of the predicted location instead.
* :func:`sensing_score` accepts a ``scale`` dividing ``psi - mean psi`` (1 in the paper); use the
  dataset's standard deviation of ``psi`` when the intensity units would saturate the sigmoid.

References
----------
.. [1] Z. Wang, M. Monjur, S. Nirjon, "mmJoints: Expanding Joint Representations Beyond (x, y, z)
   in mmWave-Based 3D Pose Estimation", sections 2.2 (eq. 1-3) and 7.1 (metrics, ``D0 = 20``).
.. [2] D. Chicco, M. J. Warrens, G. Jurman, "The coefficient of determination R-squared is more
   informative than SMAPE, MAE, MAPE, MSE and RMSE in regression analysis evaluation", PeerJ
   Computer Science 7:e623, 2021 (sMAPE).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import expit, log_expit

from radarkit.skeleton import Skeleton, get_skeleton

__all__ = [
    "PAPER_D0_M",
    "DescriptorStats",
    "signal_strength",
    "signal_strengths",
    "sensing_score",
    "reliability_score",
    "torso_length",
    "descriptor_statistics",
    "ground_truth_descriptors",
    "smape",
    "wmape",
]

#: The paper's mean torso length ``D0 = 20`` (section 7.1), read as centimetres, in metres.
PAPER_D0_M = 0.20


@dataclass(frozen=True)
class DescriptorStats:
    """Dataset statistics that define the ground-truth descriptors (saved with an mmJoints model).

    Parameters
    ----------
    mean_psi : float
        Mean signal strength ``mean psi`` over every (frame, joint) of the training set, in
        intensity units per m^2 (eq. 1).
    std_psi : float
        Standard deviation of ``psi`` over the same set (same unit); a possible ``scale`` for
        :func:`sensing_score`.
    d0_m : float
        Mean torso length ``D0`` of the training poses, m (eq. 2).
    min_distance_m : float
        Distance floor used when ``psi`` was computed, m.
    distance_unit_m : float
        Length unit of the sigmoid in eq. 2, m (0.01: the paper's centimetres).
    psi_scale : float
        Divisor of ``psi - mean psi`` in eq. 1 (1.0 in the paper).

    References
    ----------
    mmJoints, section 2.2.
    """

    mean_psi: float
    std_psi: float
    d0_m: float
    min_distance_m: float = 0.05
    distance_unit_m: float = 0.01
    psi_scale: float = 1.0


def _check_points(points: np.ndarray, intensity_column: int) -> np.ndarray:
    points = np.asarray(points)
    if points.ndim != 2 or points.shape[1] < 4 or points.shape[1] <= intensity_column:
        raise ValueError(f"a point cloud must be (N, >=4) with columns x, y, z, ..., intensity; "
                         f"got shape {points.shape}")
    return points


def signal_strength(points: np.ndarray, pose: np.ndarray, *, intensity_column: int = 3,
                    min_distance_m: float = 0.05) -> np.ndarray:
    """Signal strength ``psi_j = sum_n I_n / d_{j,n}^2`` of every joint for one frame (eq. 1).

    Parameters
    ----------
    points : ndarray, shape (N, C), C >= 4
        One frame's point cloud: columns 0-2 are x, y, z in m (radar frame), column
        ``intensity_column`` the reflected intensity ``I_n`` (linear, >= 0). ``N`` may be 0.
    pose : ndarray, shape (J, 3)
        Joint positions, m.
    intensity_column : int
        Column of the intensity (3 for ``(x, y, z, intensity)``; 4 for MM-Fi's
        ``(x, y, z, Doppler, intensity)``).
    min_distance_m : float
        Floor on ``d_{j,n}`` (m) so a point on a joint does not give an infinite strength.

    Returns
    -------
    ndarray, shape (J,), float64
        ``psi_j`` in intensity units per m^2; 0 for an empty point cloud.

    Raises
    ------
    ValueError
        Bad shapes or a non-positive ``min_distance_m``.

    References
    ----------
    mmJoints, section 2.2 (definition of ``psi_j``).
    """
    points = _check_points(points, intensity_column)
    pose = np.asarray(pose, dtype=np.float64)
    if pose.ndim != 2 or pose.shape[1] != 3:
        raise ValueError(f"pose must be (J, 3), got shape {pose.shape}")
    if min_distance_m <= 0:
        raise ValueError(f"min_distance_m must be > 0, got {min_distance_m}")
    xyz = points[:, :3].astype(np.float64)
    intensity = points[:, intensity_column].astype(np.float64)
    d2 = np.sum((pose[:, None, :] - xyz[None, :, :]) ** 2, axis=-1)  # (J, N)
    d2 = np.maximum(d2, min_distance_m**2)
    return (intensity[None, :] / d2).sum(axis=1)


def signal_strengths(clouds: Sequence[np.ndarray], poses: np.ndarray, **kwargs) -> np.ndarray:
    """:func:`signal_strength` for every frame of a sequence.

    Parameters
    ----------
    clouds : sequence of ndarray, each (N_f, C)
        One point cloud per frame (variable length).
    poses : ndarray, shape (F, J, 3)
        Poses, m; ``F == len(clouds)``.
    **kwargs
        ``intensity_column`` and ``min_distance_m`` of :func:`signal_strength`.

    Returns
    -------
    ndarray, shape (F, J), float64
        ``psi`` per frame and joint.

    Raises
    ------
    ValueError
        Frame counts differ, or a bad shape.

    References
    ----------
    mmJoints, section 2.2.
    """
    poses = np.asarray(poses)
    if poses.ndim != 3 or len(clouds) != poses.shape[0]:
        raise ValueError(f"{len(clouds)} point clouds for poses of shape {poses.shape}")
    out = np.empty(poses.shape[:2], dtype=np.float64)
    for f, cloud in enumerate(clouds):
        out[f] = signal_strength(cloud, poses[f], **kwargs)
    return out


def sensing_score(psi: np.ndarray, mean_psi: float, scale: float = 1.0) -> np.ndarray:
    """Sensing score ``xi = sigmoid((psi - mean psi) / scale)`` (eq. 1, ``scale = 1`` in the paper).

    Parameters
    ----------
    psi : ndarray, any shape
        Signal strengths (:func:`signal_strength`), intensity per m^2.
    mean_psi : float
        Dataset mean of ``psi`` (same unit).
    scale : float
        Positive divisor of the difference (same unit).

    Returns
    -------
    ndarray, same shape as ``psi``, float64 in (0, 1)
        0.5 when ``psi`` equals the mean; increasing in ``psi``.

    Raises
    ------
    ValueError
        ``scale <= 0``.

    References
    ----------
    mmJoints, eq. 1.
    """
    if scale <= 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    return expit((np.asarray(psi, dtype=np.float64) - mean_psi) / scale)


def reliability_score(distance_m: np.ndarray, d0_m: float, distance_unit_m: float = 0.01) -> np.ndarray:
    """Reliability score ``kappa = f(D) / f(0)``, ``f(D) = 1 - sigmoid(D - D0 / 2)`` (eq. 2-3).

    Distances are expressed in units of ``distance_unit_m`` before the sigmoid (module docstring);
    computed in the log domain, so ``kappa(0) == 1`` exactly and large distances do not underflow
    to ``0 / 0``.

    Parameters
    ----------
    distance_m : ndarray, any shape
        ``D_j``: distance between the predicted and the ground-truth joint, m (>= 0).
    d0_m : float
        Mean torso length ``D0`` of the training data, m.
    distance_unit_m : float
        Length unit of the sigmoid, m (0.01: centimetres, as the paper's ``D0 = 20``).

    Returns
    -------
    ndarray, same shape as ``distance_m``, float64 in (0, 1]
        1 at ``D = 0``, strictly decreasing in ``D``, ``f(D0/2) / f(0) ~ 0.5`` at half a torso.

    Raises
    ------
    ValueError
        Non-positive ``d0_m`` or ``distance_unit_m``.

    References
    ----------
    mmJoints, eq. 2 and 3.
    """
    if d0_m <= 0 or distance_unit_m <= 0:
        raise ValueError(f"d0_m and distance_unit_m must be > 0, got {d0_m}, {distance_unit_m}")
    half = 0.5 * d0_m / distance_unit_m
    d = np.asarray(distance_m, dtype=np.float64) / distance_unit_m
    # 1 - sigmoid(x) = sigmoid(-x)
    return np.exp(log_expit(-(d - half)) - log_expit(half))


def _mid(pose: np.ndarray, skeleton: Skeleton, names: tuple[str, ...]) -> np.ndarray:
    return np.mean([pose[..., skeleton.index(n), :] for n in names], axis=0)


def torso_length(poses: np.ndarray, skeleton: Skeleton | str) -> np.ndarray:
    """Torso length of every pose: distance from the neck to the hip centre, m.

    The neck is the ``Neck`` joint where the skeleton has one (HuPR-14), else the midpoint of the
    shoulders (COCO); the hip centre is the midpoint of ``L_Hip`` and ``R_Hip``. This is the body
    scale of the PCK torso convention the paper refers to for ``D0``.

    Parameters
    ----------
    poses : ndarray, shape (..., J, 3)
        Poses, m, in the joint order of ``skeleton``.
    skeleton : Skeleton or str
        Joint naming (:mod:`radarkit.skeleton`).

    Returns
    -------
    ndarray, shape (...)
        Torso length per pose, m.

    Raises
    ------
    ValueError
        ``poses`` does not have ``skeleton.n_joints`` joints.

    References
    ----------
    mmJoints, section 2.2 (``D0``) and 7.1 (PCK@0.5 on the torso).
    """
    sk = get_skeleton(skeleton)
    poses = np.asarray(poses, dtype=np.float64)
    if poses.ndim < 2 or poses.shape[-2] != sk.n_joints or poses.shape[-1] != 3:
        raise ValueError(f"poses must be (..., {sk.n_joints}, 3) for {sk.name}, got {poses.shape}")
    neck = _mid(poses, sk, ("Neck",)) if "Neck" in sk.joints else _mid(poses, sk, ("L_Shoulder",
                                                                                 "R_Shoulder"))
    hips = _mid(poses, sk, ("L_Hip", "R_Hip"))
    return np.linalg.norm(neck - hips, axis=-1)


def descriptor_statistics(clouds: Sequence[np.ndarray], poses: np.ndarray, skeleton: Skeleton | str, *,
                          intensity_column: int = 3, min_distance_m: float = 0.05,
                          distance_unit_m: float = 0.01, psi_scale: float = 1.0) -> DescriptorStats:
    """Dataset statistics ``mean psi`` and ``D0`` from training point clouds and ground-truth poses.

    Parameters
    ----------
    clouds : sequence of ndarray, each (N_f, C)
        One point cloud per training frame (x, y, z in m, intensity in ``intensity_column``).
    poses : ndarray, shape (F, J, 3)
        Ground-truth poses of those frames, m.
    skeleton : Skeleton or str
        Joint naming of ``poses``.
    intensity_column, min_distance_m
        As in :func:`signal_strength`.
    distance_unit_m, psi_scale
        Stored as given (see :class:`DescriptorStats`).

    Returns
    -------
    DescriptorStats
        ``mean_psi`` and ``std_psi`` over all (frame, joint); ``d0_m`` the mean torso length.

    Raises
    ------
    ValueError
        No frames, or bad shapes.

    References
    ----------
    mmJoints, section 2.2 ("computed from the training data").
    """
    if len(clouds) == 0:
        raise ValueError("descriptor statistics need at least one frame")
    psi = signal_strengths(clouds, poses, intensity_column=intensity_column, min_distance_m=min_distance_m)
    return DescriptorStats(mean_psi=float(psi.mean()), std_psi=float(psi.std()),
                           d0_m=float(torso_length(poses, skeleton).mean()),
                           min_distance_m=min_distance_m, distance_unit_m=distance_unit_m,
                           psi_scale=psi_scale)


def ground_truth_descriptors(points: np.ndarray, pred_pose: np.ndarray, gt_pose: np.ndarray,
                             stats: DescriptorStats, *, intensity_column: int = 3
                             ) -> tuple[np.ndarray, np.ndarray]:
    """Ground-truth ``(xi, kappa)`` of every joint of a predicted pose for one frame (eq. 1-3).

    Parameters
    ----------
    points : ndarray, shape (N, C), C >= 4
        The frame's point cloud (x, y, z in m; intensity in ``intensity_column``).
    pred_pose : ndarray, shape (J, 3)
        The black-box estimator's pose, m.
    gt_pose : ndarray, shape (J, 3)
        Ground-truth pose, m.
    stats : DescriptorStats
        Dataset statistics (:func:`descriptor_statistics`).
    intensity_column : int
        Column of the intensity.

    Returns
    -------
    xi : ndarray, shape (J,), float64
        Sensing score of each ground-truth joint (eq. 1).
    kappa : ndarray, shape (J,), float64
        Reliability score of each predicted joint (eq. 2-3).

    Raises
    ------
    ValueError
        Shapes of the two poses differ, or bad shapes.

    References
    ----------
    mmJoints, section 2.2.
    """
    pred_pose = np.asarray(pred_pose, dtype=np.float64)
    gt_pose = np.asarray(gt_pose, dtype=np.float64)
    if pred_pose.shape != gt_pose.shape:
        raise ValueError(f"predicted pose {pred_pose.shape} and ground truth {gt_pose.shape} differ")
    psi = signal_strength(points, gt_pose, intensity_column=intensity_column,
                          min_distance_m=stats.min_distance_m)
    xi = sensing_score(psi, stats.mean_psi, stats.psi_scale)
    kappa = reliability_score(np.linalg.norm(pred_pose - gt_pose, axis=-1), stats.d0_m,
                              stats.distance_unit_m)
    return xi, kappa


def smape(pred: np.ndarray, target: np.ndarray, axis: int | tuple[int, ...] | None = None) -> np.ndarray:
    """Symmetric mean absolute percentage error, in percent (0 to 200).

    ``sMAPE = 100 / n * sum |F - A| / ((|A| + |F|) / 2)``; a term with ``A = F = 0`` counts as 0.

    Parameters
    ----------
    pred : ndarray
        Estimates ``F`` (e.g. estimated ``xi``).
    target : ndarray
        Ground truth ``A``, broadcastable with ``pred``.
    axis : int, tuple of int or None
        Axes averaged over (None: all).

    Returns
    -------
    ndarray or float
        sMAPE in %.

    References
    ----------
    Chicco et al. 2021 (sMAPE); mmJoints, section 7.1 and Table 7.
    """
    pred = np.asarray(pred, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    num = np.abs(pred - target)
    den = 0.5 * (np.abs(pred) + np.abs(target))
    ratio = np.divide(num, den, out=np.zeros(np.broadcast_shapes(num.shape, den.shape)), where=den > 0)
    return 100.0 * ratio.mean(axis=axis)


def wmape(pred: np.ndarray, target: np.ndarray, axis: int | tuple[int, ...] | None = None) -> np.ndarray:
    """Weighted mean absolute percentage error, in percent: ``100 * sum |F - A| / sum |A|``.

    Parameters
    ----------
    pred : ndarray
        Estimates ``F``.
    target : ndarray
        Ground truth ``A``, broadcastable with ``pred``.
    axis : int, tuple of int or None
        Axes summed over (None: all).

    Returns
    -------
    ndarray or float
        wMAPE in %; ``inf`` (or ``nan`` for a zero error) where ``sum |A| = 0``.

    References
    ----------
    S. M. Miraftabzadeh et al., Forecasting 5(1), 2023 (wMAPE); mmJoints, section 7.1.
    """
    pred = np.asarray(pred, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    pred, target = np.broadcast_arrays(pred, target)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 100.0 * np.abs(pred - target).sum(axis=axis) / np.abs(target).sum(axis=axis)
