"""Benchmark: mmJoints descriptor inference time per frame on the CPU.

Runs :class:`radarkit.models.mmjoints.MMJoints` with the paper's dimensions (``D_p = 32``,
``D_S = 64``, ``G = 8``) on random point-cloud windows (``K`` frames of ``N`` points, 70 % valid,
around a person 3 m in front of the radar) and a black-box pose, with ``torch.inference_mode`` and
``--threads`` intra-op threads (default 1: on a 2-core machine two streams run side by side, and
torch's OpenMP threads spin against other processes on a shared machine). Reports, per call and per
frame, the median wall time and the median process CPU time (the latter is robust to other processes
on a shared machine), at batch 1 (streaming latency: one frame in, its descriptors out) and at
``--batch`` (offline throughput), with a breakdown by part. Baseline in the same run: computing the
*ground-truth* descriptors with numpy (eq. 1-3, :mod:`radarkit.metrics.descriptors`), which needs
the ground-truth pose that mmJoints replaces. Target (issue 8): below the paper's 23 ms per frame
(GTX 1080).

Usage: ``python benchmarks/bench_mmjoints.py [--threads 1] [--frames 5] [--points 128] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np


def _timed(fn, repeats: int, warmup: int = 3) -> tuple[float, float]:
    """Median wall and process-CPU seconds of ``fn()`` over ``repeats`` calls."""
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--joints", type=int, default=14)
    parser.add_argument("--frames", type=int, default=5, help="K, frames per signal window")
    parser.add_argument("--points", type=int, default=128, help="points per frame (padded)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    import torch

    from radarkit.metrics.descriptors import DescriptorStats, ground_truth_descriptors
    from radarkit.models.mmjoints import MMJoints, weighted_jeffreys_terms

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = MMJoints(n_joints=args.joints).eval()
    n_params = sum(p.numel() for p in model.parameters())
    size_mb = (n_params * 4 + sum(b.numel() * b.element_size() for b in model.buffers())) / 1e6

    def inputs(b: int):
        gen = torch.Generator().manual_seed(b)
        centre = torch.tensor([0.0, 3.0, 1.0])
        pose = centre + 0.3 * torch.randn(b, args.joints, 3, generator=gen)
        pts = torch.randn(b, args.frames, args.points, 4, generator=gen) * 0.3
        pts[..., :3] += centre
        pts[..., 3] = pts[..., 3].abs() * 10
        valid = torch.rand(b, args.frames, args.points, generator=gen) > 0.3
        return pose, pts, valid

    results: dict[str, object] = {
        "machine": platform.machine(), "python": platform.python_version(), "torch": torch.__version__,
        "threads": args.threads, "cpu_count": os.cpu_count(), "load_avg_1min": os.getloadavg()[0],
        "joints": args.joints, "frames_K": args.frames, "points_N": args.points,
        "parameters": n_params, "model_MB": round(size_mb, 2),
    }
    with torch.inference_mode():
        for b in (1, args.batch):
            pose, pts, valid = inputs(b)
            wall, cpu = _timed(lambda pose=pose, pts=pts, valid=valid: model(pose, pts, valid), args.repeats)
            results[f"batch{b}"] = {"wall_ms_per_call": 1e3 * wall, "cpu_ms_per_call": 1e3 * cpu,
                                    "wall_ms_per_frame": 1e3 * wall / b, "cpu_ms_per_frame": 1e3 * cpu / b}
        pose, pts, valid = inputs(1)
        p, _ = model.pose_vae.encode(pose)
        mu, logvar, _ = model.signal_encoder(pts, valid)
        gmm = model.generator(model.basis(p))
        terms = weighted_jeffreys_terms(mu, logvar.exp(), gmm)
        parts = {
            "pose_vae": lambda: model.pose_vae.encode(pose),
            "signal_encoder": lambda: model.signal_encoder(pts, valid),
            "generator+divergence": lambda: weighted_jeffreys_terms(mu, logvar.exp(),
                                                                    model.generator(model.basis(p))),
            "surrogate_refiner": lambda: model.refiner(terms, gmm.weights, mu, p),
            "frame_encoder+head": lambda: model.head(p, p, model.frame_feature(pts, valid)),
        }
        results["parts_cpu_ms_batch1"] = {k: 1e3 * _timed(f, args.repeats)[1] for k, f in parts.items()}

    # baseline: ground-truth descriptors (numpy, eq. 1-3) for one frame
    rng = np.random.default_rng(0)
    cloud = np.concatenate([rng.normal([0, 3, 1], 0.3, (args.points, 3)), rng.random((args.points, 1))],
                           axis=1)
    gt = rng.normal([0, 3, 1], 0.3, (args.joints, 3))
    stats = DescriptorStats(mean_psi=10.0, std_psi=5.0, d0_m=0.5)
    _, cpu = _timed(lambda: ground_truth_descriptors(cloud, gt + 0.05, gt, stats), args.repeats)
    results["baseline_ground_truth_numpy_cpu_ms"] = 1e3 * cpu
    b1 = results["batch1"]
    results["target_ms_per_frame"] = 23.0
    results["meets_target_batch1_cpu"] = b1["cpu_ms_per_frame"] < 23.0  # type: ignore[index]

    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
