"""Benchmark: ``radarkit cube`` on a large generated recording stays within a memory budget.

Generates a DCA1000 recording of ``--gigabytes`` GB (random int16 in the layout of the
``iwr1843-3tx`` preset: 64 loops x 3 TX x 4 RX x 256 samples, 786,432 B/frame) in a temporary
folder, runs ``radarkit cube`` on it in a subprocess, and reports frames/s, MB/s and the child's
peak RSS, next to the peak RSS of a baseline child that only imports radarkit and opens the
recording (same run). Target (issue 2): peak RSS < 500 MB for a 2 GB recording.

Usage: ``python benchmarks/bench_cube_memory.py [--gigabytes 2] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _child_peak_rss_mb(cmd: list[str]) -> tuple[float, float]:
    """Run ``cmd``; return (seconds, peak RSS MB) measured by GNU time-like wait4 accounting."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"command failed: {' '.join(cmd)}\n{proc.stderr.read().decode()}")
    return seconds, usage.ru_maxrss / 1024.0  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gigabytes", type=float, default=2.0)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()

    from radarkit.config.loaders import save_config
    from radarkit.config.presets import get_preset

    cfg = get_preset("iwr1843-3tx")
    n_frames = int(args.gigabytes * 1e9 // cfg.bytes_per_frame)
    work = Path(tempfile.mkdtemp(prefix="radarkit-bench-", dir=args.workdir))
    try:
        raw, cfg_path, out = work / "adc_data.bin", work / "capture.toml", work / "rd.h5"
        save_config(cfg, cfg_path)
        rng = np.random.default_rng(0)
        frames_per_block = 64
        with open(raw, "wb") as fh:
            for first in range(0, n_frames, frames_per_block):
                k = min(frames_per_block, n_frames - first)
                rng.integers(-512, 512, k * cfg.bytes_per_frame // 2, dtype=np.int16).tofile(fh)
        size_mb = raw.stat().st_size / 1e6
        radarkit = [sys.executable, "-m", "radarkit.cli.main"]
        _, base_rss = _child_peak_rss_mb([sys.executable, "-c", (
            "import radarkit.dsp.cubes, radarkit.io as io, radarkit.config as c;"
            f"r = io.Recording({str(raw)!r}, c.load_config({str(cfg_path)!r})); r.read(0, 1)")])
        seconds, rss = _child_peak_rss_mb(radarkit + ["cube", str(raw), "--config", str(cfg_path),
                                                      "--out", str(out), "--quiet"])
        result = {
            "name": "radarkit cube rd (2-lane complex, 256 x 64 x 12, dB, hann)",
            "frames": n_frames, "recording_mb": round(size_mb, 1),
            "seconds": round(seconds, 2), "frames_per_s": round(n_frames / seconds, 1),
            "mb_per_s": round(size_mb / seconds, 1), "peak_rss_mb": round(rss, 1),
            "baseline_peak_rss_mb": round(base_rss, 1),
            "rss_ratio_to_baseline": round(rss / base_rss, 2),
            "target_peak_rss_mb": 500, "meets_target": rss < 500,
            "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
