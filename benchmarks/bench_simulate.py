"""Benchmark the FMCW simulator: 600 frames of HuPR's configuration with about 200 scatterers.

Measures, in the same run:

* ``radarkit``: :func:`radarkit.sim.scatterers.iter_scatterer_frames` (numba phasor kernel + one
  complex matrix product per frame, thermal noise, ADC quantisation) on 600 frames of the
  ``iwr1843-3tx`` preset (256 samples, 64 loops x 3 TX x 4 RX) with 200 moving scatterers;
* ``baseline``: the same signal computed with plain numpy broadcasting (delays with
  ``np.linalg.norm``, ``np.exp`` of the phases; the simulator's first implementation) on a subset
  of the frames;
* ``sequence``: a full 60 s HuPR-style sequence (one person, bystander, clutter; both radars)
  written to disk with :func:`radarkit.sim.dataset.write_dataset`.

Target (issue 5): 600 frames with ~200 scatterers in under a minute on 2 cores.

    python benchmarks/bench_simulate.py [--frames 600] [--scatterers 200] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import numpy as np

from radarkit.config.presets import get_preset
from radarkit.config.radar import SPEED_OF_LIGHT
from radarkit.sim.dataset import write_dataset
from radarkit.sim.scatterers import antenna_positions_m, iter_scatterer_frames, thermal_noise


def _baseline_frame(config, pos, vel, amp):
    """The plain-numpy IF frame (reference implementation)."""
    tx, rx = antenna_positions_m(config)
    L, T, R, N = config.raw_shape
    slope, f0 = config.slope_hz_per_s, config.start_freq_hz
    u = config.adc_start_time_s + np.arange(N) / config.sample_rate_hz
    u_c = config.adc_start_time_s + 0.5 * config.adc_sampling_time_s
    chirp_t = (np.arange(L)[:, None] * T + np.arange(T)[None, :]) * config.chirp_time_s
    p = pos[None, None] + vel[None, None] * chirp_t[..., None, None]
    d_tx = np.linalg.norm(p - tx[None, :, None, :], axis=-1)
    d_rx = np.linalg.norm(p[:, :, None] - rx[None, None, :, None, :], axis=-1)
    tau = (d_tx[:, :, None, :] + d_rx) / SPEED_OF_LIGHT
    phase = 2 * np.pi * (f0 * tau + slope * tau * u_c - 0.5 * slope * tau * tau)
    phasors = (amp * np.exp(1j * phase)).reshape(-1, len(amp))
    tones = np.exp(2j * np.pi * slope * tau.mean(axis=(0, 1, 2))[:, None] * (u - u_c)[None, :])
    return (phasors @ tones).reshape(L, T, R, N)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=600)
    ap.add_argument("--scatterers", type=int, default=200)
    ap.add_argument("--baseline-frames", type=int, default=60)
    ap.add_argument("--skip-sequence", action="store_true")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    cfg = get_preset("iwr1843-3tx")
    rng = np.random.default_rng(0)
    k, f = args.scatterers, args.frames
    pos0 = rng.uniform([-2, 1.5, -1], [2, 6, 1], (k, 3))
    vel = rng.normal(0, 0.8, (k, 3))
    t = np.arange(f)[:, None, None] * cfg.frame_period_s
    pos = pos0[None] + vel[None] * t
    vels = np.broadcast_to(vel, pos.shape)
    next(iter_scatterer_frames(cfg, pos[:1], vels[:1], noise_std=5.0))  # compile the kernel

    start = time.perf_counter()
    n = 0
    for chunk in iter_scatterer_frames(cfg, pos, vels, noise_std=5.0, seed=0):
        n += len(chunk)
    radarkit_s = time.perf_counter() - start

    nb = min(args.baseline_frames, f)
    start = time.perf_counter()
    for i in range(nb):
        amp = 2000.0 / np.linalg.norm(pos[i], axis=-1) ** 2
        frame = _baseline_frame(cfg, pos[i], vel, amp) + thermal_noise(cfg.raw_shape, 5.0, rng)
        np.clip(np.rint(frame.real), -32768, 32767)
    baseline_s = (time.perf_counter() - start) * f / nb

    result = {"frames": f, "scatterers": k, "radarkit_s": round(radarkit_s, 2),
              "radarkit_frames_per_s": round(f / radarkit_s, 1),
              "baseline_s_extrapolated": round(baseline_s, 2),
              "speed_ratio": round(baseline_s / radarkit_s, 2), "target_s": 60.0,
              "meets_target": radarkit_s < 60.0}
    if not args.skip_sequence:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            write_dataset(tmp + "/ds", cfg, "hupr", n_subjects=1, seconds=f * cfg.frame_period_s,
                          radars=("hori", "vert"), bystander=True)
            result["sequence_two_radars_s"] = round(time.perf_counter() - start, 2)
    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)


if __name__ == "__main__":
    main()
