"""FMCW simulator: labelled synthetic recordings (point scatterers now; people and scenes later)."""

from radarkit.sim.point_targets import (
    antenna_positions_m,
    iter_point_target_frames,
    simulate_point_targets,
)

__all__ = ["antenna_positions_m", "iter_point_target_frames", "simulate_point_targets"]
