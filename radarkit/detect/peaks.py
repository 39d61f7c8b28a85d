"""Peak grouping (non-maximum suppression) of CFAR detections, and per-frame detection lists.

A target spreads over several range and Doppler bins (window main lobes), and CFAR flags most of
them. Peak grouping keeps a detected cell only if its power is the maximum of its neighbourhood
(``size`` cells per axis, centred), as the TI mmWave SDK's ``peakGrouping`` does in range and
Doppler; the neighbourhood wraps along Doppler and stops at the range edges. Only detected cells
are examined (a gather of their neighbours), so the cost grows with the detections, not the map.

References
----------
TI mmWave SDK, object detection DPU (``cfarcaproc``: "peak grouping" of CFAR detections in range
and Doppler); M. A. Richards, "Fundamentals of Radar Signal Processing", 2nd ed., sec. 7.1
(detection clustering / peak picking).
"""

from __future__ import annotations

import numpy as np

__all__ = ["group_peaks", "detection_list"]


def group_peaks(power: np.ndarray, mask: np.ndarray, size: tuple[int, int] = (3, 3),
                wrap: tuple[bool, bool] = (True, False)) -> np.ndarray:
    """Keep the detections that are the maximum of their neighbourhood (non-maximum suppression).

    Parameters
    ----------
    power : ndarray of float, shape (..., n0, n1)
        Linear power (or dB: only the order matters), the map axes last (RD: ``(frame, doppler,
        range)``).
    mask : ndarray of bool, same shape
        CFAR detections.
    size : (int, int)
        Neighbourhood in cells per map axis (odd; ``(3, 3)`` the 8 neighbours, ``(1, 3)`` range
        neighbours only, ``(1, 1)`` no grouping).
    wrap : (bool, bool)
        Per map axis: the neighbourhood wraps (Doppler) or stops at the edge (range).

    Returns
    -------
    ndarray of bool, same shape
        ``mask`` with the cells removed that have a strictly stronger cell in their neighbourhood
        (detected or not). Equal neighbours (a plateau) are all kept.

    Raises
    ------
    ValueError
        Shapes differ or a size is even or < 1.

    References
    ----------
    TI mmWave SDK object detection (peak grouping).
    """
    power = np.asarray(power)
    mask = np.asarray(mask, dtype=bool)
    if power.shape != mask.shape or power.ndim < 2:
        raise ValueError(f"power {power.shape} and mask {mask.shape} must have one shape (>= 2-D)")
    if any(s < 1 or s % 2 == 0 for s in size):
        raise ValueError(f"size must be odd and >= 1 per axis, got {size}")
    idx = np.nonzero(mask)
    if len(idx[0]) == 0 or size == (1, 1):
        return mask.copy()
    n0, n1 = power.shape[-2:]
    lead = idx[:-2]
    i0, i1 = idx[-2], idx[-1]
    centre = power[idx]
    keep = np.ones(len(i0), dtype=bool)
    h0, h1 = size[0] // 2, size[1] // 2
    for d0 in range(-h0, h0 + 1):
        j0 = i0 + d0
        ok0 = np.ones(len(i0), bool)
        if wrap[0]:
            j0 %= n0
        else:
            ok0 = (j0 >= 0) & (j0 < n0)
            j0 = np.clip(j0, 0, n0 - 1)
        for d1 in range(-h1, h1 + 1):
            if d0 == 0 and d1 == 0:
                continue
            j1 = i1 + d1
            ok = ok0
            if wrap[1]:
                j1 %= n1
            else:
                ok = ok0 & (j1 >= 0) & (j1 < n1)
                j1 = np.clip(j1, 0, n1 - 1)
            keep &= ~(ok & (power[(*lead, j0, j1)] > centre))
    out = np.zeros_like(mask)
    out[tuple(a[keep] for a in idx)] = True
    return out


def detection_list(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame detection list of a batch of masks: flat cell indices plus frame offsets.

    Parameters
    ----------
    mask : ndarray of bool, shape (frame, ...)
        Detections of every frame (e.g. ``(frame, doppler, range)``).

    Returns
    -------
    cells : ndarray of int64, shape (n_detections, mask.ndim - 1)
        Map indices of the detections (e.g. ``(doppler, range)``), frame by frame in C order.
    offsets : ndarray of int64, shape (frame + 1,)
        Detections of frame ``f`` are ``cells[offsets[f]:offsets[f + 1]]``.

    Raises
    ------
    ValueError
        ``mask`` has fewer than 2 axes.
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim < 2:
        raise ValueError(f"mask must be (frame, ...), got shape {mask.shape}")
    idx = np.nonzero(mask)
    counts = np.bincount(idx[0], minlength=mask.shape[0])
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    cells = np.stack(idx[1:], axis=1).astype(np.int64) if len(idx) > 1 else np.zeros((0, 0), np.int64)
    return cells, offsets
