"""Keypoint heatmap targets and their decoding (numpy).

Heatmap-based pose estimators (HuPR, MAEPose's heatmap decoder) are trained against one Gaussian
per joint on a grid coarser than the image, and read back by the arg-max of each predicted map.
HuPR: keypoints in 256 x 256 image pixels, heatmaps 64 x 64 (stride 4), sigma 2 heatmap pixels
(``learned-models.md``, HuPR loss; paper section 4.3, eq. 2-3).

Conventions: heatmap arrays are ``(..., joint, height, width)`` float32, row = image y, column =
image x; keypoints are ``(..., joint, 2|3)`` with ``(x, y[, visibility])`` in image pixels. Heatmap
pixel ``(r, c)`` covers image pixels around ``(c * stride, r * stride)``.

References
----------
.. [1] S.-P. Lee et al., "HuPR: A Benchmark for Human Pose Estimation Using Millimeter Wave Radar",
   WACV 2023, sections 4.3 and 5.1.
.. [2] B. Xiao, H. Wu, Y. Wei, "Simple Baselines for Human Pose Estimation and Tracking", ECCV 2018
   (Gaussian targets of 6 sigma + 1 support around the rounded joint position; arg-max decoding).
"""

from __future__ import annotations

import numpy as np

__all__ = ["gaussian_heatmaps", "decode_heatmaps", "SUBPIXEL_METHODS"]

#: Sub-pixel refinements of :func:`decode_heatmaps`.
SUBPIXEL_METHODS = ("none", "quarter")


def gaussian_heatmaps(
    keypoints: np.ndarray,
    heatmap_size: tuple[int, int] | int = 64,
    stride: float = 4.0,
    sigma: float = 2.0,
    round_centre: bool = True,
    truncate: float | None = 3.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian heatmap targets of keypoints.

    ``T[j, r, c] = exp(-((c - cx_j)^2 + (r - cy_j)^2) / (2 sigma^2))`` with ``(cx_j, cy_j)`` the
    keypoint divided by ``stride`` (rounded to the nearest heatmap pixel when ``round_centre``, as
    in HuPR's official code and Simple Baselines). Joints that are not labelled (visibility 0) or
    whose Gaussian lies entirely outside the grid get an all-zero map and weight 0.

    Parameters
    ----------
    keypoints : array_like, shape (..., joint, 2|3)
        ``(x, y[, visibility])`` in image pixels (HuPR: 256 x 256 image).
    heatmap_size : int or (int, int)
        Heatmap ``(height, width)`` in heatmap pixels (HuPR: 64).
    stride : float
        Image pixels per heatmap pixel (HuPR: 256 / 64 = 4).
    sigma : float
        Gaussian standard deviation in heatmap pixels (HuPR: 2).
    round_centre : bool
        Centre the Gaussian on the nearest heatmap pixel (peak value exactly 1) instead of the
        sub-pixel position.
    truncate : float or None
        Zero the map outside the square of half-width ``truncate * sigma`` around the centre (the
        6 sigma + 1 support of the official targets); None keeps the whole Gaussian.

    Returns
    -------
    heatmaps : ndarray, float32, shape (..., joint, height, width)
        Targets in [0, 1].
    weights : ndarray, float32, shape (..., joint)
        1 for joints with a target, 0 otherwise (use to mask the loss).

    Raises
    ------
    ValueError
        ``keypoints`` without a trailing axis of 2 or 3, or non-positive ``stride``/``sigma``.

    References
    ----------
    HuPR section 4.3 (Gaussian targets T, eq. 3); Simple Baselines, section 3.
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.ndim < 2 or kp.shape[-1] not in (2, 3):
        raise ValueError(f"keypoints must be (..., joint, 2|3), got {kp.shape}")
    if stride <= 0 or sigma <= 0:
        raise ValueError("stride and sigma must be positive")
    h, w = (heatmap_size, heatmap_size) if np.isscalar(heatmap_size) else tuple(heatmap_size)
    lead = kp.shape[:-1]
    flat = kp.reshape(-1, kp.shape[-1])
    centre = flat[:, :2] / stride
    if round_centre:
        centre = np.floor(centre + 0.5)
    visible = flat[:, 2] > 0 if flat.shape[1] == 3 else np.ones(len(flat), bool)
    reach = (truncate if truncate is not None else np.inf) * sigma
    inside = ((centre[:, 0] + reach >= 0) & (centre[:, 0] - reach <= w - 1)
              & (centre[:, 1] + reach >= 0) & (centre[:, 1] - reach <= h - 1))
    weights = (visible & inside & np.isfinite(centre).all(axis=1)).astype(np.float32)
    cols = np.arange(w, dtype=np.float64)
    rows = np.arange(h, dtype=np.float64)
    cx = np.where(weights > 0, centre[:, 0], 0.0)
    cy = np.where(weights > 0, centre[:, 1], 0.0)
    dx = cols[None, :] - cx[:, None]  # (n, w)
    dy = rows[None, :] - cy[:, None]  # (n, h)
    gx = np.exp(-dx ** 2 / (2 * sigma ** 2))
    gy = np.exp(-dy ** 2 / (2 * sigma ** 2))
    if truncate is not None:
        gx[np.abs(dx) > reach] = 0.0
        gy[np.abs(dy) > reach] = 0.0
    maps = (gy[:, :, None] * gx[:, None, :]) * weights[:, None, None]  # separable Gaussian
    return maps.astype(np.float32).reshape(*lead, h, w), weights.reshape(lead)


def decode_heatmaps(heatmaps: np.ndarray, stride: float = 4.0, subpixel: str = "none"
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints from heatmaps by the arg-max of each map, scaled back to image pixels.

    Parameters
    ----------
    heatmaps : array_like, shape (..., joint, height, width)
        Predicted maps (probabilities or logits; a torch tensor is accepted and moved to the CPU).
    stride : float
        Image pixels per heatmap pixel (HuPR: 4, giving 256-pixel coordinates).
    subpixel : {"none", "quarter"}
        ``"none"``: the arg-max cell (HuPR's evaluation). ``"quarter"``: shift it by a quarter
        heatmap pixel along each axis towards the higher of its two neighbours (the standard
        refinement of heatmap pose estimators [1]_; not in HuPR). A maximum on the border or
        between equal neighbours stays unshifted along that axis.

    Returns
    -------
    keypoints : ndarray, float32, shape (..., joint, 2)
        ``(x, y)`` = ``(column, row) * stride`` of each map's maximum (first one on ties).
    scores : ndarray, float32, shape (..., joint)
        The maximum value of each map (joint confidence; HuPR scores a person by their mean).

    Raises
    ------
    ValueError
        Fewer than 3 dimensions, or an unknown ``subpixel``.

    References
    ----------
    HuPR section 5.1 and official evaluation (arg-max x 4 -> 256-px coordinates).

    .. [1] B. Xiao, H. Wu, Y. Wei, "Simple Baselines for Human Pose Estimation and Tracking",
       ECCV 2018 (the quarter-offset shift of the arg-max, also used by HRNet).
    """
    if subpixel not in SUBPIXEL_METHODS:
        raise ValueError(f"subpixel must be one of {SUBPIXEL_METHODS}, got {subpixel!r}")
    if hasattr(heatmaps, "detach"):  # torch tensor without importing torch here
        heatmaps = heatmaps.detach().cpu().numpy()
    hm = np.asarray(heatmaps)
    if hm.ndim < 3:
        raise ValueError(f"heatmaps must be (..., joint, height, width), got {hm.shape}")
    h, w = hm.shape[-2:]
    flat = hm.reshape(*hm.shape[:-2], h * w)
    idx = np.argmax(flat, axis=-1)
    scores = np.take_along_axis(flat, idx[..., None], axis=-1)[..., 0]
    col, row = idx % w, idx // w
    xy = np.stack([col, row], axis=-1).astype(np.float32)
    if subpixel == "quarter":
        def value(r: np.ndarray, c: np.ndarray) -> np.ndarray:
            at = np.clip(r, 0, h - 1) * w + np.clip(c, 0, w - 1)
            return np.take_along_axis(flat, at[..., None], axis=-1)[..., 0]

        for axis, (dr, dc), inside in ((0, (0, 1), (col > 0) & (col < w - 1)),
                                       (1, (1, 0), (row > 0) & (row < h - 1))):
            diff = value(row + dr, col + dc) - value(row - dr, col - dc)
            xy[..., axis] += np.where(inside, 0.25 * np.sign(diff), 0.0).astype(np.float32)
    return xy * np.float32(stride), scores.astype(np.float32)
