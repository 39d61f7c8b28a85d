"""Benchmark: cost of the per-batch Shapley contributions of AWC, as % of a training step.

Builds an :class:`radarkit.models.awc.AWCPoseModel` with 2, 3 and 4 modalities (rgb, lidar,
mmwave, wifi-csi in that order) on random MM-Fi-shaped inputs (17 keypoints, LiDAR and mmWave
point clouds, CSI 3 x 114 x 10) and times, in the same run:

* the training step: encoder forward, fusion, MPJPE loss, backward and Adam update;
* the Shapley computation re-using the step's encoder features: the fusion head for all 2^M
  subsets in one call, the Pearson profits and the Shapley weights (paper Table 2, "Pose Est." +
  "Correlation" + "Score Calc.");
* the K-means split (scikit-learn) that follows it inside the AWC window.

Overhead = Shapley time / training-step time, as the paper's Table 2 defines it (0.4-0.9 % for
concatenation and MLP fusion, up to 5.4 % for attention, on two RTX 3090s with their backbones).

Usage: ``python benchmarks/bench_awc.py [--batch 64] [--steps 10] [--fusion concat mlp attention]
[--device cpu|cuda] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

MODALITY_SETS = {2: ("rgb", "mmwave"), 3: ("rgb", "lidar", "mmwave"),
                 4: ("rgb", "lidar", "mmwave", "wifi-csi")}


def _inputs(batch: int, rng: np.random.Generator, device: torch.device) -> tuple[dict, torch.Tensor]:
    from radarkit.models.awc import pad_point_sets

    lidar = [rng.normal(0, 0.5, (int(rng.integers(200, 400)), 3)) for _ in range(batch)]
    radar = [rng.normal(0, 0.5, (int(rng.integers(20, 80)), 5)) for _ in range(batch)]
    inputs = {"rgb": torch.from_numpy(rng.uniform(0, 640, (batch, 17, 2))).float(),
              "lidar": pad_point_sets(lidar), "mmwave": pad_point_sets(radar),
              "wifi-csi": torch.from_numpy(rng.uniform(0, 40, (batch, 3, 114, 10))).float()}
    target = torch.from_numpy(rng.normal(0, 0.5, (batch, 17, 3))).float()
    from radarkit.train.awc import to_device

    return to_device(inputs, device), target.to(device)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run(n_mod: int, fusion: str, batch: int, steps: int, device: torch.device) -> dict:
    from radarkit.models.awc import AWCPoseModel
    from radarkit.train.awc import modality_shapley, mpjpe_loss, split_modalities

    rng = np.random.default_rng(0)
    mods = MODALITY_SETS[n_mod]
    torch.manual_seed(0)
    model = AWCPoseModel(mods, fusion=fusion, keypoint_image_size=(640, 480)).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    inputs, target = _inputs(batch, rng, device)
    inputs = {m: inputs[m] for m in mods}
    t_step, t_shap, t_km = [], [], []
    for i in range(steps + 2):  # two warm-up iterations
        _sync(device)
        t0 = time.perf_counter()
        feats = model.encode(inputs)
        loss = mpjpe_loss(model.fuse(feats), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        _sync(device)
        t1 = time.perf_counter()
        phi = modality_shapley(model, feats, target)
        _sync(device)
        t2 = time.perf_counter()
        split_modalities(phi, mods)
        t3 = time.perf_counter()
        if i >= 2:
            t_step.append(t1 - t0)
            t_shap.append(t2 - t1)
            t_km.append(t3 - t2)
    step, shap, km = (float(np.median(t)) * 1e3 for t in (t_step, t_shap, t_km))
    n_params = sum(p.numel() for p in model.parameters())
    return {"modalities": n_mod, "fusion": fusion, "params_M": n_params / 1e6,
            "step_ms": step, "shapley_ms": shap, "kmeans_ms": km, "overhead_percent": 100 * shap / step,
            "overhead_with_kmeans_percent": 100 * (shap + km) / step}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--fusion", nargs="+", default=["concat", "mlp", "attention"])
    parser.add_argument("--modalities", nargs="+", type=int, default=[2, 3, 4])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    rows = [run(n, f, args.batch, args.steps, device) for f in args.fusion for n in args.modalities]
    print(f"device {device}, batch {args.batch}, median of {args.steps} steps")
    print(f"{'fusion':<10}{'M':>3}{'params M':>10}{'step ms':>10}{'shapley ms':>12}{'kmeans ms':>11}"
          f"{'overhead %':>12}{'+kmeans %':>11}")
    for r in rows:
        print(f"{r['fusion']:<10}{r['modalities']:>3}{r['params_M']:>10.2f}{r['step_ms']:>10.1f}"
              f"{r['shapley_ms']:>12.2f}{r['kmeans_ms']:>11.2f}{r['overhead_percent']:>12.2f}"
              f"{r['overhead_with_kmeans_percent']:>11.2f}")
    if args.json:
        args.json.write_text(json.dumps({"device": str(device), "batch": args.batch, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
