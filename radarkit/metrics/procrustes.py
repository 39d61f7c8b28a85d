"""Procrustes alignment with scale, and the 3-D pose errors MPJPE / PA-MPJPE in millimetres.

Three errors are defined, each named for what it removes before measuring the mean per-joint
Euclidean distance:

* :func:`mpjpe_mm`: nothing removed (the absolute error, the MM-Fi toolbox's "MPJPE");
* :func:`root_aligned_mpjpe_mm`: the translation that brings the predicted root joint onto the true
  one (the Human3.6M "protocol 1" convention);
* :func:`pa_mpjpe_mm`: the best similarity transform (scale, rotation, translation) of the
  prediction onto the ground truth (Procrustes analysis, "protocol 2"). Because the optimal
  translation is included, a root alignment before it changes nothing: PA-MPJPE has one value,
  with or without root alignment.

Poses are ``(..., joint, 3)`` arrays in metres (``architecture.md``); the errors are returned in
millimetres. Everything is numpy; batches are handled by the leading axes. The plain distances
and MPJPE come from :mod:`radarkit.metrics.joints`; this module adds the alignments.

References
----------
.. [1] S. Umeyama, "Least-squares estimation of transformation parameters between two point
   patterns", IEEE TPAMI 13(4), 1991 (closed-form similarity transform, reflection correction).
.. [2] D. Pavllo et al., "3D human pose estimation in video with temporal convolutions and
   semi-supervised training", CVPR 2019 (MPJPE protocols 1 and 2).
.. [3] M. Qi et al., "Towards Balanced Multi-Modal Learning in 3D Human Pose Estimation"
   (``awc-balanced-multimodal.txt``), eq. 11 and Sec. 4.1 (MPJPE and PA-MPJPE in mm on MM-Fi).
"""

from __future__ import annotations

import numpy as np

from radarkit.metrics.joints import joint_distances, mpjpe

__all__ = [
    "similarity_transform",
    "procrustes_align",
    "mpjpe_mm",
    "root_aligned_mpjpe_mm",
    "pa_mpjpe_mm",
]

_EPS = 1e-12


def _as_poses(pred: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(pred, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if pred.shape != target.shape:
        raise ValueError(f"pred and target shapes differ: {pred.shape} vs {target.shape}")
    if pred.ndim < 2 or pred.shape[-1] not in (2, 3):
        raise ValueError(f"poses must have shape (..., joint, 2|3), got {pred.shape}")
    return pred, target


def similarity_transform(
    pred: np.ndarray, target: np.ndarray, scale: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Least-squares similarity transform taking ``pred`` onto ``target`` (Umeyama 1991).

    Finds ``s, R, t`` minimising ``sum_j ||target_j - (s * pred_j @ R + t)||^2`` with ``R`` a proper
    rotation (``det R = +1``; reflections are excluded by the sign correction of [1]_).

    Parameters
    ----------
    pred, target : ndarray, shape (..., J, D), D = 2 or 3
        Joint positions (any length unit, same for both); leading axes are a batch.
    scale : bool
        Estimate the scale ``s``; with False, ``s = 1`` (rigid alignment).

    Returns
    -------
    s : ndarray of float64, shape (...)
        Scale factors (1 where the prediction is a single point, which has no scale).
    R : ndarray of float64, shape (..., D, D)
        Rotations acting on row vectors (``aligned = s * pred @ R + t``).
    t : ndarray of float64, shape (..., D)
        Translations, in the unit of the inputs.

    Raises
    ------
    ValueError
        If the shapes differ or the last axis is not 2 or 3.

    References
    ----------
    .. [1] S. Umeyama, IEEE TPAMI 13(4), 1991, eq. 40-42.
    """
    pred, target = _as_poses(pred, target)
    mu_p = pred.mean(axis=-2, keepdims=True)
    mu_t = target.mean(axis=-2, keepdims=True)
    p0 = pred - mu_p
    t0 = target - mu_t
    # Cross-covariance H = P0^T T0 = U S V^T; the optimal orthogonal matrix for row vectors is U V^T.
    h = np.swapaxes(p0, -1, -2) @ t0
    u, sv, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(u @ vt))
    d = np.where(d == 0, 1.0, d)
    signs = np.ones(sv.shape)
    signs[..., -1] = d
    rot = (u * signs[..., None, :]) @ vt
    if scale:
        var_p = np.sum(p0 * p0, axis=(-2, -1))
        s = np.sum(sv * signs, axis=-1) / np.maximum(var_p, _EPS)
        s = np.where(var_p > _EPS, s, 1.0)
    else:
        s = np.ones(pred.shape[:-2])
    t = mu_t[..., 0, :] - s[..., None] * (mu_p @ rot)[..., 0, :]
    return s, rot, t


def procrustes_align(pred: np.ndarray, target: np.ndarray, scale: bool = True) -> np.ndarray:
    """Return ``pred`` after the similarity transform that best fits it to ``target``.

    Parameters
    ----------
    pred, target : ndarray, shape (..., J, D), D = 2 or 3
        Joint positions in the same unit.
    scale : bool
        Include the scale factor (Procrustes analysis with scale, as in PA-MPJPE).

    Returns
    -------
    ndarray of float64, shape (..., J, D)
        ``s * pred @ R + t`` (see :func:`similarity_transform`).

    Raises
    ------
    ValueError
        If the shapes differ or the last axis is not 2 or 3.

    References
    ----------
    .. [1] S. Umeyama, IEEE TPAMI 13(4), 1991.
    """
    s, rot, t = similarity_transform(pred, target, scale=scale)
    pred = np.asarray(pred, dtype=np.float64)
    return s[..., None, None] * (pred @ rot) + t[..., None, :]


def _errors_mm(pred: np.ndarray, target: np.ndarray, reduce: bool) -> np.ndarray | float:
    if reduce:
        return mpjpe(pred, target) * 1000.0
    return joint_distances(pred, target).mean(axis=-1) * 1000.0


def mpjpe_mm(pred: np.ndarray, target: np.ndarray, reduce: bool = True) -> np.ndarray | float:
    """Mean per-joint position error without any alignment (absolute MPJPE), in millimetres.

    Parameters
    ----------
    pred, target : ndarray, shape (..., J, 3)
        Joint positions in metres.
    reduce : bool
        Return the mean over all poses (float); with False, one value per pose, shape ``(...)``.

    Returns
    -------
    float or ndarray of float64
        ``1000 * mean_j ||pred_j - target_j||`` (paper eq. 11), in mm.

    Raises
    ------
    ValueError
        If the shapes differ or the last axis is not 2 or 3.

    References
    ----------
    .. [1] Qi et al., ``awc-balanced-multimodal.txt`` eq. 11.
    """
    return _errors_mm(pred, target, reduce)


def root_aligned_mpjpe_mm(pred: np.ndarray, target: np.ndarray, root: int | tuple[int, ...] = 0,
                          reduce: bool = True) -> np.ndarray | float:
    """MPJPE after translating each prediction so its root joint lies on the true root, in mm.

    Parameters
    ----------
    pred, target : ndarray, shape (..., J, 3)
        Joint positions in metres.
    root : int or tuple of int
        Index of the root joint in the skeleton's order (e.g. the pelvis); with several indices
        their mean is the root (e.g. the two hips of COCO-17, which has no pelvis joint).
    reduce : bool
        Mean over all poses (float), or one value per pose.

    Returns
    -------
    float or ndarray of float64
        Root-aligned MPJPE in mm (Human3.6M protocol 1).

    Raises
    ------
    ValueError
        If the shapes differ, the last axis is not 2 or 3, or ``root`` is out of range.

    References
    ----------
    .. [1] Pavllo et al., CVPR 2019, Sec. 5.1 (protocol 1).
    """
    pred, target = _as_poses(pred, target)
    idx = np.atleast_1d(np.asarray(root, dtype=np.int64))
    n_joints = pred.shape[-2]
    if np.any(idx < -n_joints) or np.any(idx >= n_joints):
        raise ValueError(f"root joint {root} out of range for {n_joints} joints")
    shift = target[..., idx, :].mean(axis=-2, keepdims=True) - pred[..., idx, :].mean(axis=-2,
                                                                                      keepdims=True)
    return _errors_mm(pred + shift, target, reduce)


def pa_mpjpe_mm(pred: np.ndarray, target: np.ndarray, reduce: bool = True) -> np.ndarray | float:
    """Procrustes-aligned MPJPE (scale, rotation and translation removed per pose), in mm.

    The prediction is aligned to the ground truth by :func:`procrustes_align` with scale, then
    MPJPE is taken. The optimal translation is part of the alignment, so a root alignment before
    it does not change the result: this is PA-MPJPE both "with" and "without" root alignment.

    Parameters
    ----------
    pred, target : ndarray, shape (..., J, 3)
        Joint positions in metres.
    reduce : bool
        Mean over all poses (float), or one value per pose.

    Returns
    -------
    float or ndarray of float64
        PA-MPJPE in mm (Human3.6M protocol 2); invariant to any similarity transform of ``pred``.

    Raises
    ------
    ValueError
        If the shapes differ or the last axis is not 2 or 3.

    References
    ----------
    .. [1] Pavllo et al., CVPR 2019, Sec. 5.1 (protocol 2).
    .. [2] Qi et al., ``awc-balanced-multimodal.txt`` Sec. 4.1 (PA-MPJPE on MM-Fi).
    """
    pred, target = _as_poses(pred, target)
    return _errors_mm(procrustes_align(pred, target, scale=True), target, reduce)
