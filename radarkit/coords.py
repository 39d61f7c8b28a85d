"""The radar coordinate frame (``architecture.md``), used everywhere in radarkit.

x points to the right of boresight, y along boresight, z up (metres). Azimuth is positive towards
+x, elevation positive up (radians):
``x = r cos(el) sin(az)``, ``y = r cos(el) cos(az)``, ``z = r sin(el)``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["spherical_to_cartesian", "cartesian_to_spherical"]


def spherical_to_cartesian(range_m, azimuth_rad, elevation_rad=0.0) -> np.ndarray:
    """Radar-frame position (m) of points at ``range_m`` (m), ``azimuth_rad``, ``elevation_rad``.

    Parameters
    ----------
    range_m, azimuth_rad, elevation_rad : array_like
        Broadcastable arrays (m, rad, rad).

    Returns
    -------
    ndarray of float64, shape (..., 3)
        ``(x, y, z)`` in metres.
    """
    r, az, el = np.broadcast_arrays(np.asarray(range_m, float), np.asarray(azimuth_rad, float),
                                    np.asarray(elevation_rad, float))
    return np.stack([r * np.cos(el) * np.sin(az), r * np.cos(el) * np.cos(az), r * np.sin(el)],
                    axis=-1)


def cartesian_to_spherical(xyz) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inverse of :func:`spherical_to_cartesian`.

    Parameters
    ----------
    xyz : array_like, shape (..., 3)
        Radar-frame positions (m).

    Returns
    -------
    range_m, azimuth_rad, elevation_rad : ndarray of float64, shape (...)
    """
    xyz = np.asarray(xyz, float)
    x, y, z = xyz[..., 0], xyz[..., 1], xyz[..., 2]
    r = np.sqrt(x * x + y * y + z * z)
    return r, np.arctan2(x, y), np.arctan2(z, np.hypot(x, y))
