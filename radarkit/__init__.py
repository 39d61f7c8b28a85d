"""radarkit: FMCW mmWave radar toolkit (TI xWR18xx + DCA1000).

Layers, from the bottom: :mod:`radarkit.config` and :mod:`radarkit.io` (configurations, raw
recordings, HDF5 store), :mod:`radarkit.dsp` (windows, FFTs, cubes), :mod:`radarkit.sim`
(FMCW simulator). Importing :mod:`radarkit` imports neither torch nor matplotlib.
"""

from radarkit._version import __version__
from radarkit.config import RadarConfig, load_config
from radarkit.errors import (
    CheckpointError,
    ConfigError,
    RadarkitError,
    RecordingError,
    StoreError,
)

__all__ = [
    "__version__",
    "CheckpointError",
    "ConfigError",
    "RadarConfig",
    "RadarkitError",
    "RecordingError",
    "StoreError",
    "load_config",
]
