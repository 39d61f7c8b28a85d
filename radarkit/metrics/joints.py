"""Joint-position errors: MPJPE and PCK, overall and per joint (numpy only).

Poses are ``(..., joint, D)`` arrays, ``D`` = 2 or 3, in the **labels' units** (metres for the 3-D
joints of ``architecture.md``; for MAEPose's 2-D joints the unit of its labels, metres in the paper).
Every leading axis (sample, frame, ...) is averaged over. An optional ``visible`` mask
``(..., joint)`` leaves unlabelled joints out of every average.

* MPJPE: mean per-joint position error, the mean Euclidean distance between predicted and true joints
  over all joints and frames ([1]_ section 4.4).
* MPJVE: mean per-joint velocity error, the mean Euclidean distance between predicted and true
  frame-to-frame joint displacements (jitter; a constant offset gives 0).
* PCK@t: percentage of correct keypoints, the fraction of joints whose Euclidean error is at most
  ``t`` (``t`` = 0.05 m for PCK@5cm in [1]_); returned as a fraction in [0, 1].

For errors after Procrustes or root alignment see :mod:`radarkit.metrics.procrustes`.

References
----------
.. [1] "MAEPose: Self-Supervised Spatiotemporal Learning for Human Pose Estimation on mmWave Video"
   (``shared/papers/maepose.txt``), section 4.4 (MPJPE in m, PCK@0.05 = 5 cm).
.. [2] C. Ionescu et al., "Human3.6M: Large Scale Datasets and Predictive Methods for 3D Human
   Sensing in Natural Environments", IEEE TPAMI 36(7), 2014 (MPJPE).
"""

from __future__ import annotations

import numpy as np

__all__ = ["joint_distances", "mpjpe", "mpjpe_per_joint", "mpjve", "sequence_mpjve", "pck", "pck_per_joint"]


def _check(pred: np.ndarray, target: np.ndarray,
           visible: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pred = np.asarray(pred, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if pred.shape != target.shape:
        raise ValueError(f"pred and target shapes differ: {pred.shape} vs {target.shape}")
    if pred.ndim < 2 or pred.shape[-1] not in (2, 3):
        raise ValueError(f"poses must have shape (..., joint, 2|3), got {pred.shape}")
    if visible is None:
        vis = np.ones(pred.shape[:-1], dtype=bool)
    else:
        vis = np.asarray(visible)
        if vis.shape != pred.shape[:-1]:
            raise ValueError(f"visible must have shape {pred.shape[:-1]} (..., joint), got {vis.shape}")
        vis = vis.astype(bool)
    return pred, target, vis


def joint_distances(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Euclidean distance of each predicted joint to its true position.

    Parameters
    ----------
    pred, target : ndarray, shape (..., J, D), D = 2 or 3
        Joint positions in the labels' unit.

    Returns
    -------
    ndarray of float64, shape (..., J)
        ``||pred - target||_2`` per joint, same unit.

    Raises
    ------
    ValueError
        Shapes differ or the last axis is not 2 or 3.
    """
    pred, target, _ = _check(pred, target, None)
    return np.linalg.norm(pred - target, axis=-1)


def mpjpe(pred: np.ndarray, target: np.ndarray, visible: np.ndarray | None = None) -> float:
    """Mean per-joint position error over all joints and leading axes ([1]_ section 4.4; [2]_).

    Parameters
    ----------
    pred, target : ndarray, shape (..., J, D), D = 2 or 3
        Joint positions in the labels' unit (m for the paper's numbers).
    visible : ndarray of bool, shape (..., J), optional
        Joints to count; all when omitted.

    Returns
    -------
    float
        Mean Euclidean error, in the labels' unit; NaN when no joint is visible.

    Raises
    ------
    ValueError
        Shapes differ, the last axis is not 2 or 3, or ``visible`` has the wrong shape.
    """
    pred, target, vis = _check(pred, target, visible)
    d = np.linalg.norm(pred - target, axis=-1)
    return float(d[vis].mean()) if vis.any() else float("nan")


def mpjpe_per_joint(pred: np.ndarray, target: np.ndarray, visible: np.ndarray | None = None) -> np.ndarray:
    """MPJPE of each joint, averaged over all leading axes.

    Parameters
    ----------
    pred, target : ndarray, shape (..., J, D), D = 2 or 3
        Joint positions in the labels' unit.
    visible : ndarray of bool, shape (..., J), optional
        Joints to count.

    Returns
    -------
    ndarray of float64, shape (J,)
        Mean error per joint in the labels' unit (NaN for a joint never visible).

    Raises
    ------
    ValueError
        As :func:`mpjpe`.
    """
    pred, target, vis = _check(pred, target, visible)
    j = pred.shape[-2]
    d = np.linalg.norm(pred - target, axis=-1).reshape(-1, j)
    v = vis.reshape(-1, j)
    n = v.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, (d * v).sum(axis=0) / n, np.nan)


def pck(pred: np.ndarray, target: np.ndarray, threshold: float = 0.05,
        visible: np.ndarray | None = None) -> float:
    """Percentage of correct keypoints at an absolute distance threshold ([1]_ section 4.4).

    Parameters
    ----------
    pred, target : ndarray, shape (..., J, D), D = 2 or 3
        Joint positions in the labels' unit.
    threshold : float
        A joint is correct when its Euclidean error is ``<= threshold`` (same unit; 0.05 m for
        PCK@5cm).
    visible : ndarray of bool, shape (..., J), optional
        Joints to count.

    Returns
    -------
    float
        Fraction of correct joints in [0, 1] (multiply by 100 for %); NaN when none is visible.

    Raises
    ------
    ValueError
        As :func:`mpjpe`, or a negative threshold.
    """
    if threshold < 0:
        raise ValueError(f"PCK threshold must be >= 0, got {threshold}")
    pred, target, vis = _check(pred, target, visible)
    ok = np.linalg.norm(pred - target, axis=-1) <= threshold
    return float(ok[vis].mean()) if vis.any() else float("nan")


def pck_per_joint(pred: np.ndarray, target: np.ndarray, threshold: float = 0.05,
                  visible: np.ndarray | None = None) -> np.ndarray:
    """PCK of each joint, over all leading axes.

    Parameters
    ----------
    pred, target : ndarray, shape (..., J, D), D = 2 or 3
        Joint positions in the labels' unit.
    threshold : float
        Distance threshold in the same unit.
    visible : ndarray of bool, shape (..., J), optional
        Joints to count.

    Returns
    -------
    ndarray of float64, shape (J,)
        Fraction of correct predictions per joint (NaN for a joint never visible).

    Raises
    ------
    ValueError
        As :func:`pck`.
    """
    if threshold < 0:
        raise ValueError(f"PCK threshold must be >= 0, got {threshold}")
    pred, target, vis = _check(pred, target, visible)
    j = pred.shape[-2]
    ok = (np.linalg.norm(pred - target, axis=-1) <= threshold).reshape(-1, j)
    v = vis.reshape(-1, j)
    n = v.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, (ok & v).sum(axis=0) / n, np.nan)


def mpjve(pred: np.ndarray, target: np.ndarray, visible: np.ndarray | None = None,
          axis: int = 0) -> float:
    """Mean per-joint velocity error: mean Euclidean distance of frame-to-frame joint displacements.

    ``mean_{t, j} || (p[t+1, j] - p[t, j]) - (g[t+1, j] - g[t, j]) ||`` over consecutive frames of
    one sequence (and every other leading axis). It measures jitter: a constant offset of the
    prediction gives 0.

    Parameters
    ----------
    pred, target : ndarray, shape (..., frame, ..., J, D), D = 2 or 3
        Joint positions (pixels or metres) of consecutive frames along ``axis``.
    visible : ndarray of bool, shape (..., J), optional
        A displacement counts when the joint is visible in both frames.
    axis : int
        Frame axis (not one of the last two).

    Returns
    -------
    float
        In the positions' unit per frame; NaN with fewer than 2 frames or no visible pair.

    Raises
    ------
    ValueError
        Shapes differ, the last axis is not 2 or 3, ``visible`` has the wrong shape, or ``axis``
        is a joint/coordinate axis.

    References
    ----------
    D. Pavllo et al., CVPR 2019, section 5 (MPJVE); milliMamba (arXiv:2512.20128) velocity loss.
    """
    pred = np.asarray(pred, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if pred.shape != target.shape or pred.ndim < 3 or pred.shape[-1] not in (2, 3):
        raise ValueError(f"pred and target must share a shape (..., frame, J, 2|3), got {pred.shape} "
                         f"and {target.shape}")
    ax = axis % pred.ndim
    if ax >= pred.ndim - 2:
        raise ValueError(f"axis {axis} is a joint or coordinate axis")
    if pred.shape[ax] < 2:
        return float("nan")
    err = np.linalg.norm(np.diff(pred, axis=ax) - np.diff(target, axis=ax), axis=-1)
    if visible is None:
        return float(err.mean())
    vis = np.asarray(visible, dtype=bool)
    if vis.shape != pred.shape[:-1]:
        raise ValueError(f"visible must have shape {pred.shape[:-1]}, got {vis.shape}")
    n = vis.shape[ax]
    both = np.take(vis, range(1, n), axis=ax) & np.take(vis, range(n - 1), axis=ax)
    return float(err[both].mean()) if both.any() else float("nan")


def sequence_mpjve(pred: np.ndarray, target: np.ndarray, offsets: np.ndarray) -> float:
    """:func:`mpjve` over several sequences stored one after another (no pair across a boundary).

    Parameters
    ----------
    pred, target : ndarray, shape (N, J, D)
        Per-frame joints of all sequences, concatenated.
    offsets : ndarray of int, shape (S + 1,)
        Row of each sequence's first frame, then ``N``.

    Returns
    -------
    float
        Mean over all consecutive-frame pairs of all sequences (each pair weighs the same).
    """
    errs = []
    for a, b in zip(offsets[:-1], offsets[1:], strict=True):
        if b - a >= 2:
            d = np.diff(np.asarray(pred[a:b], np.float64), axis=0) - np.diff(np.asarray(target[a:b],
                                                                                        np.float64), axis=0)
            errs.append(np.linalg.norm(d, axis=-1).reshape(-1))
    return float(np.concatenate(errs).mean()) if errs else float("nan")
