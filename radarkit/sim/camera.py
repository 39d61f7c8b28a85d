"""Pinhole camera beside the radars: 2-D keypoints and bounding boxes in image pixels.

The camera looks along +y (the reference radar's boresight) from ``position_m``; image ``u``
grows to the right (+x) and ``v`` downwards (-z), the origin at the top-left corner of the top-left
pixel, as in COCO and HuPR's 256 x 256 frames. A point ``(x, y, z)`` projects to

``u = c_u + f (x - x_c) / (y - y_c)``, ``v = c_v - f (z - z_c) / (y - y_c)``

with the focal length ``f = (W / 2) / tan(fov / 2)`` in pixels.

References
----------
.. [1] R. Hartley and A. Zisserman, "Multiple View Geometry in Computer Vision", 2nd ed., 2004,
   sec. 6.1 (finite projective camera).
.. [2] S.-P. Lee et al., "HuPR", WACV 2023, sec. 3.2 (camera beside the radars, 256 x 256 frames).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["PinholeCamera", "keypoint_bbox"]


@dataclass(frozen=True)
class PinholeCamera:
    """An ideal pinhole camera looking along +y.

    Parameters
    ----------
    position_m : tuple of float
        Optical centre ``(x, y, z)`` in the scene frame (m).
    image_size : tuple of int
        ``(width, height)`` in pixels.
    fov_rad : float
        Horizontal field of view (rad); default 70 degrees.
    """

    position_m: tuple[float, float, float] = (-0.10, 0.0, 0.0)
    image_size: tuple[int, int] = (256, 256)
    fov_rad: float = float(np.deg2rad(70.0))

    @property
    def focal_px(self) -> float:
        """Focal length (pixels), ``(W / 2) / tan(fov / 2)``."""
        return 0.5 * self.image_size[0] / np.tan(0.5 * self.fov_rad)

    def project(self, points: np.ndarray) -> np.ndarray:
        """Image coordinates of 3-D points.

        Parameters
        ----------
        points : ndarray of float, shape (..., 3)
            Scene-frame positions (m), in front of the camera (``y > y_c``).

        Returns
        -------
        ndarray of float32, shape (..., 2)
            ``(u, v)`` in pixels (may fall outside the image).
        """
        p = np.asarray(points, dtype=np.float64) - np.asarray(self.position_m, dtype=np.float64)
        depth = np.maximum(p[..., 1], 1e-6)
        f = self.focal_px
        u = 0.5 * self.image_size[0] + f * p[..., 0] / depth
        v = 0.5 * self.image_size[1] - f * p[..., 2] / depth
        return np.stack([u, v], axis=-1).astype(np.float32)

    def unproject(self, uv: np.ndarray, depth_m: np.ndarray | float) -> np.ndarray:
        """3-D points that project to ``uv`` at the given depth (inverse of :meth:`project`).

        Parameters
        ----------
        uv : ndarray of float, shape (..., 2)
            Pixel coordinates.
        depth_m : float or ndarray broadcastable to ``uv.shape[:-1]``
            Distance in front of the camera along +y (m), ``y - y_c``.

        Returns
        -------
        ndarray of float32, shape (..., 3)
            Scene-frame positions (m).

        Raises
        ------
        ValueError
            A depth that is not positive.
        """
        uv = np.asarray(uv, dtype=np.float64)
        depth = np.broadcast_to(np.asarray(depth_m, dtype=np.float64), uv.shape[:-1])
        if np.any(depth <= 0):
            raise ValueError("depth must be positive (in front of the camera)")
        f = self.focal_px
        c = np.asarray(self.position_m, dtype=np.float64)
        x = c[0] + (uv[..., 0] - 0.5 * self.image_size[0]) * depth / f
        z = c[2] - (uv[..., 1] - 0.5 * self.image_size[1]) * depth / f
        return np.stack([x, c[1] + depth, z], axis=-1).astype(np.float32)


def keypoint_bbox(keypoints: np.ndarray, margin: float = 0.1,
                  image_size: tuple[int, int] | None = None) -> np.ndarray:
    """Bounding boxes around 2-D keypoints, enlarged by a margin.

    Parameters
    ----------
    keypoints : ndarray of float, shape (..., J, 2)
        Pixel coordinates.
    margin : float
        Fraction of the box's width and height added on each side (the body extends past the
        joints: head top, hands, feet).
    image_size : tuple of int, optional
        ``(width, height)``: clip the box to the image.

    Returns
    -------
    ndarray of float32, shape (..., 4)
        ``(x0, y0, x1, y1)`` in pixels (HuPR's layout; COCO's ``(x, y, w, h)`` is
        ``(x0, y0, x1 - x0, y1 - y0)``).
    """
    k = np.asarray(keypoints, dtype=np.float64)
    lo, hi = k.min(axis=-2), k.max(axis=-2)
    pad = margin * (hi - lo)
    lo, hi = lo - pad, hi + pad
    if image_size is not None:
        size = np.asarray(image_size, dtype=np.float64)
        lo, hi = np.clip(lo, 0, size), np.clip(hi, 0, size)
    return np.concatenate([lo, hi], axis=-1).astype(np.float32)
