"""FMCW simulator: byte-exact synthetic DCA1000 recordings of point targets and moving people.

Units and frames (used by every module of this package)
-------------------------------------------------------
* SI units: metres, seconds, Hz, m/s, radians; RCS in m^2; IF amplitudes and noise in ADC counts.
* **Radar frame** (``architecture.md``): x to the right of boresight, y along boresight, z up;
  azimuth positive towards +x, elevation positive up. The scatterer model
  (:mod:`radarkit.sim.scatterers`) works in the frame of the radar it simulates.
* **Scene frame**: the radar frame of the reference (horizontal) radar; the floor is at
  ``z = -radar_height_m``. People, clutter, the camera and the other radars are placed in it
  (:mod:`radarkit.sim.scene`); HuPR's vertical radar is rolled by +90 degrees about its boresight
  (its azimuth axis points up). Ground-truth 3-D joints are stored in the scene frame.
* **Image**: 256 x 256 pixels, ``u`` right, ``v`` down (:mod:`radarkit.sim.camera`).
* **Time**: frame ``f`` starts at ``f * frame_period_s``; ground-truth poses are taken at the
  centre of the frame's chirps; velocities are held within a frame (Doppler).
* Poses are ``(frame, joint, 3)`` float32 named by :data:`radarkit.skeleton.HUPR14` or
  :data:`radarkit.skeleton.COCO13`.

Modules: :mod:`~radarkit.sim.scatterers` (IF model, noise, ADC), :mod:`~radarkit.sim.point_targets`
(constant-velocity targets), :mod:`~radarkit.sim.human` (body model), :mod:`~radarkit.sim.motions`
(actions, subjects, scripts), :mod:`~radarkit.sim.scene` (radars, clutter),
:mod:`~radarkit.sim.camera` (keypoints, boxes), :mod:`~radarkit.sim.dataset` (sequences, splits).
"""

from radarkit.sim.point_targets import iter_point_target_frames, simulate_point_targets
from radarkit.sim.scatterers import (
    adc_quantise,
    antenna_positions_m,
    if_frame,
    iter_scatterer_frames,
    noise_std_for_snr,
)

__all__ = [
    "adc_quantise",
    "antenna_positions_m",
    "if_frame",
    "iter_point_target_frames",
    "iter_scatterer_frames",
    "noise_std_for_snr",
    "simulate_point_targets",
]
