"""Peak memory of a pipeline run against the recording length: it must stay flat.

Simulates recordings of ``--minutes`` (default 1 and 10) with moving point targets
(:func:`radarkit.sim.point_targets.iter_point_target_frames`, streamed to disk by
:func:`radarkit.io.write_recording`; the ``demo`` preset by default: 32 loops x 3 TX x 4 RX x 128
samples, 10 frames/s, 196,608 B per frame, so 10 minutes are 6,000 frames and 1.2 GB), then runs
the built-in ``pointcloud`` pipeline (raw -> per-antenna RD cube -> CFAR -> points, a dB RD map
per frame kept) on each in a fresh child process and reads the child's peak RSS
(``resource.getrusage(RUSAGE_SELF).ru_maxrss`` after the run). A baseline child imports the same
modules and reads one frame. The ratio of the 10-minute to the 1-minute peak is the result
(target: about 1).

Usage::

    python benchmarks/bench_pipeline_memory.py [--minutes 1 10] [--preset demo] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHILD = r"""
import json, resource, sys, time
from radarkit.pipelines.runner import load_pipeline, run_pipeline
folder, out, mode = sys.argv[1:4]
t = time.perf_counter()
if mode == "run":
    summary = run_pipeline(load_pipeline("pointcloud"), [folder], out, command="bench")
    extra = {"n_frames": summary["n_frames"], "n_points": summary["summaries"]["detect"]["n_points"]}
else:
    from radarkit.config import load_config
    from radarkit.io import Recording
    import pathlib
    folder = pathlib.Path(folder)
    with Recording(folder / "adc_data.bin", load_config(folder / "radar.cfg")) as r:
        r.read(0, 1)
    extra = {}
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kB -> MB (Linux)
print(json.dumps({"seconds": time.perf_counter() - t, "peak_rss_mb": peak, **extra}))
"""


def simulate(folder: Path, minutes: float, preset: str, seed: int = 0) -> int:
    """Write ``minutes`` of a moving-target recording with its configuration into ``folder``."""
    from radarkit.config import save_config
    from radarkit.config.presets import get_preset
    from radarkit.io import write_recording
    from radarkit.sim.point_targets import iter_point_target_frames

    cfg = get_preset(preset)
    n = int(round(minutes * 60 / cfg.frame_period_s))
    cfg = cfg.replace(n_frames=n)
    rng = np.random.default_rng(seed)
    positions = np.column_stack([rng.uniform(-2, 2, 6), rng.uniform(2, 8, 6), rng.uniform(-0.5, 0.5, 6)])
    velocities = np.column_stack([np.zeros(6), rng.uniform(-1.5, 1.5, 6), np.zeros(6)])
    folder.mkdir(parents=True, exist_ok=True)
    frames = iter_point_target_frames(cfg, positions, velocities, n_frames=n, noise_std=4.0, seed=seed)
    write_recording(folder / "adc_data.bin", frames, cfg, force=True)
    save_config(cfg, folder / "radar.cfg", force=True)
    return n


def child(folder: Path, out: Path, mode: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(folder), str(out), mode], capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, nargs="+", default=[1.0, 10.0])
    ap.add_argument("--preset", default="demo")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--workdir", type=Path, default=None,
                    help="Folder of the temporary recordings (default: the system's).")
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        for minutes in args.minutes:
            folder = Path(tmp) / f"rec_{minutes:g}min"
            t = time.perf_counter()
            n = simulate(folder, minutes, args.preset)
            sim_s = time.perf_counter() - t
            base = child(folder, Path(tmp) / "unused.h5", "baseline")
            run = child(folder, Path(tmp) / f"out_{minutes:g}.h5", "run")
            size = (folder / "adc_data.bin").stat().st_size
            rows.append({"minutes": minutes, "frames": n, "recording_mb": size / 1e6, "simulate_s": sim_s,
                         "run_s": run["seconds"], "frames_per_s": n / run["seconds"],
                         "peak_rss_mb": run["peak_rss_mb"], "baseline_rss_mb": base["peak_rss_mb"],
                         "n_points": run["n_points"]})
            print(f"{minutes:5g} min: {n:6d} frames ({size / 1e6:7.1f} MB), simulated in {sim_s:5.1f} s, "
                  f"pipeline {run['seconds']:6.1f} s ({n / run['seconds']:5.0f} frames/s), peak RSS "
                  f"{run['peak_rss_mb']:6.1f} MB (baseline {base['peak_rss_mb']:.1f} MB), "
                  f"{run['n_points']} points", flush=True)
            (folder / "adc_data.bin").unlink()
    result = {"preset": args.preset, "pipeline": "pointcloud", "rows": rows}
    if len(rows) >= 2:
        result["peak_ratio_last_to_first"] = rows[-1]["peak_rss_mb"] / rows[0]["peak_rss_mb"]
        print(f"peak RSS ratio {rows[-1]['minutes']:g} min / {rows[0]['minutes']:g} min: "
              f"{result['peak_ratio_last_to_first']:.3f}")
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
