"""Signal processing: windows, range/Doppler FFTs, angle estimation, cube axes.

Pure functions on arrays; the axis they act on is an argument (scipy.signal style).
"""

from radarkit.axis import Axis
from radarkit.dsp.angle import (
    angle_axis,
    angle_fft,
    bartlett_spectrum,
    capon_spectrum,
    steering_vectors,
    tdm_doppler_compensation,
    virtual_array_grid,
)
from radarkit.dsp.axes import CUBE_KINDS, axes, frame_axis, range_axis, velocity_axis
from radarkit.dsp.range_doppler import (
    OUTPUTS,
    doppler_fft,
    range_cube,
    range_doppler,
    range_fft,
    remove_static_clutter,
    to_output,
    virtual_antennas,
)
from radarkit.dsp.windows import WINDOWS, apply_window, get_window

__all__ = [
    "Axis",
    "CUBE_KINDS",
    "OUTPUTS",
    "WINDOWS",
    "angle_axis",
    "angle_fft",
    "apply_window",
    "bartlett_spectrum",
    "capon_spectrum",
    "axes",
    "doppler_fft",
    "frame_axis",
    "get_window",
    "range_axis",
    "range_cube",
    "range_doppler",
    "range_fft",
    "remove_static_clutter",
    "steering_vectors",
    "tdm_doppler_compensation",
    "to_output",
    "velocity_axis",
    "virtual_antennas",
    "virtual_array_grid",
]
