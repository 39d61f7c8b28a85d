"""``Axis``: a named cube axis with its coordinate values (shared by dsp, io and models)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Axis"]


@dataclass(frozen=True)
class Axis:
    """One named cube axis.

    Attributes
    ----------
    dim : str
        Dimension name (``"frame"``, ``"chirp_loop"``, ``"doppler"``, ``"virtual_antenna"``,
        ``"range"``).
    scale : str
        Name of the coordinate values (``"range_m"``, ``"velocity_mps"``, ...), used as the HDF5
        dimension-scale dataset name.
    values : ndarray, shape (n,)
        Coordinate of each index.
    units : str
        Units of ``values`` (``"m"``, ``"m/s"``, ``"s"``, ``"1"`` for indices).
    """

    dim: str
    scale: str
    values: np.ndarray
    units: str

    def __len__(self) -> int:
        return len(self.values)
