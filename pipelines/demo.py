"""``radarkit demo``: simulate a recording, write it as DCA1000 bytes, cube it, check the result.

Three point targets (static at 2.5 m, receding at 6 m, approaching at 10 m) are simulated with the
``demo`` preset (:mod:`radarkit.config.presets`) plus thermal noise, written as ``adc_data.bin`` with
its mmWave SDK ``capture.cfg``, read back, turned into a dB Range-Doppler cube ``rd.h5``, and each
target is looked up at its true range and velocity (static clutter removal is off, so the static
target stays on the zero-Doppler line). A PNG of the first frame's map is saved.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from radarkit.config.loaders import save_config
from radarkit.config.presets import get_preset
from radarkit.coords import spherical_to_cartesian
from radarkit.dsp.cubes import CubeParams, write_cube
from radarkit.io.recording import Recording
from radarkit.io.store import open_cube
from radarkit.io.writer import write_recording
from radarkit.sim.point_targets import iter_point_target_frames

__all__ = ["DEMO_TARGETS", "run_demo"]

#: (range m, azimuth rad, radial velocity m/s) of the demo targets.
DEMO_TARGETS = ((2.5, 0.0, 0.0), (6.0, 0.3, 1.2), (10.0, -0.25, -2.0))


def run_demo(out: str | Path, n_frames: int = 20, force: bool = False,
             echo: Callable[[str], Any] = print) -> dict[str, Any]:
    """Run the demo chain into folder ``out`` (which must exist).

    Parameters
    ----------
    out : str or pathlib.Path
        Output folder.
    n_frames : int
        Frames to simulate.
    force : bool
        Replace existing outputs.
    echo : callable
        Receives one line of report at a time.

    Returns
    -------
    dict
        ``{"ok": bool, "targets": [{range_m, velocity_mps, found_range_m, found_velocity_mps}],
        "files": [...]}``; ``ok`` is true when every target is within one range bin and one
        Doppler bin of its truth.

    Raises
    ------
    StoreError
        An output exists (without ``force``) or the folder is not writable.
    """
    out = Path(out)
    config = get_preset("demo").replace(n_frames=n_frames)
    r, az, v = (np.array(x, dtype=float) for x in zip(*DEMO_TARGETS, strict=True))
    positions = spherical_to_cartesian(r, az)
    velocities = positions / r[:, None] * v[:, None]  # purely radial motion
    frames = iter_point_target_frames(config, positions, velocities, rcs=[1.0, 2.0, 6.0],
                                      n_frames=n_frames, noise_std=2.0, seed=7)
    raw_path, cfg_path, rd_path, png_path = (out / n for n in
                                             ("adc_data.bin", "capture.cfg", "rd.h5", "rd.png"))
    write_recording(raw_path, frames, config, force=force)
    save_config(config, cfg_path, force=force)
    echo(f"simulated {n_frames} frames of {len(r)} targets -> {raw_path} + {cfg_path}")

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a clean simulated capture must read without warnings
        from radarkit.config.loaders import load_config

        with Recording(raw_path, load_config(cfg_path), iq_order="auto") as rec:
            echo(f"read back: {rec.n_frames} frames, IQ order {rec.report.iq_note}")
            # Clutter removal would erase the static target: keep it to show the zero-Doppler ridge.
            write_cube(rec, rd_path, CubeParams(kind="rd", clutter_removal=False), force=force,
                       command="radarkit demo")

    report: dict[str, Any] = {"ok": True, "targets": [], "files": [str(raw_path), str(cfg_path),
                                                                    str(rd_path)]}
    with open_cube(rd_path) as f:
        rd = f.cube[0]
        rng, vel = f.axis("range").values, f.axis("doppler").values
    dr, dv = rng[1] - rng[0], vel[1] - vel[0]
    for r_true, v_true in zip(r, v, strict=True):
        ri = int(np.argmin(abs(rng - r_true)))
        window = rd[:, max(ri - 1, 0): ri + 2]
        di, rj = np.unravel_index(np.argmax(window), window.shape)
        found_r, found_v = rng[max(ri - 1, 0) + rj], vel[di]
        ok = abs(found_r - r_true) <= dr and abs(found_v - v_true) <= dv
        report["ok"] &= bool(ok)
        report["targets"].append({"range_m": r_true, "velocity_mps": v_true,
                                  "found_range_m": found_r, "found_velocity_mps": found_v})
        echo(f"target at {r_true:5.2f} m, {v_true:+5.2f} m/s -> peak at {found_r:5.2f} m, "
             f"{found_v:+5.2f} m/s  [{'ok' if ok else 'MISSED'}]")
    try:
        from radarkit.viz.maps import plot_rd

        fig = plot_rd(rd, rng, vel, title="radarkit demo: frame 0",
                      marks=list(zip(r, v, strict=True)))
        from radarkit.atomic import atomic_output

        with atomic_output(png_path, force=True) as tmp:
            fig.savefig(tmp, dpi=100, format="png")
        report["files"].append(str(png_path))
    except ImportError:  # matplotlib is a dependency, but the demo must not fail on a figure
        echo("matplotlib not importable: no PNG written")
    echo(f"wrote {rd_path}" + (f" and {png_path}" if png_path.exists() else ""))
    return report
