"""Benchmark: HuPR forward latency and peak memory per window, both presets, CPU and CUDA.

For each preset (``small``, ``paper``) and device (CPU; CUDA when available) a fresh child process
builds the model in evaluation mode, feeds random windows of the paper's input size (two radars,
``(B, 8, 8, 2, 64, 64, 8)`` each) and reports:

* forward latency per window (median of ``--repeats`` timed calls after a warm-up, divided by the
  batch size), and optionally a training step (forward + backward + Adam) with ``--train``;
* peak memory of the forward pass: CPU, growth of the child's peak RSS over its RSS after the model
  and inputs exist; CUDA, ``torch.cuda.max_memory_allocated`` during the call minus the memory
  allocated before it;
* the FLOPs of one window (``torch.utils.flop_counter``, 2 per multiply-add) and the achieved
  GFLOP/s, next to a same-run baseline: the GFLOP/s of a 2048 x 2048 float32 matmul on the same
  device and threads. The ratio tells how close the model runs to the device's dense-matmul rate.

Usage: ``python benchmarks/bench_hupr_model.py [--presets small paper] [--devices cpu cuda]
[--batch 1] [--repeats 3] [--threads N] [--train] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path


def _matmul_gflops(device: str, sync) -> float:
    import torch

    a = torch.randn(2048, 2048, device=device)
    b = torch.randn(2048, 2048, device=device)
    a @ b
    sync()
    n = 10 if device == "cuda" else 3
    start = time.perf_counter()
    for _ in range(n):
        a @ b
    sync()
    return n * 2 * 2048**3 / (time.perf_counter() - start) / 1e9


def _child(preset: str, device: str, batch: int, repeats: int, threads: int | None,
           train: bool) -> dict:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from radarkit.models.hupr import hupr, hupr_loss

    if threads:
        torch.set_num_threads(threads)
    cuda = device == "cuda"

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    model = hupr(preset).to(device).eval()
    cfg = model.config
    hori = torch.randn(cfg.input_shape(batch), device=device)
    vert = torch.randn(cfg.input_shape(batch), device=device)
    n_params = sum(p.numel() for p in model.parameters())
    with torch.device("meta"):  # FLOPs from shapes only
        meta_model = hupr(preset).eval()
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            meta_model(torch.empty(cfg.input_shape(1)), torch.empty(cfg.input_shape(1)))
    flops = counter.get_total_flops()

    sync()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    if cuda:
        torch.cuda.reset_peak_memory_stats()
        cuda_before = torch.cuda.memory_allocated()
    with torch.no_grad():
        model(hori, vert)  # warm-up; also the peak-memory measurement
        sync()
        peak_mb = ((torch.cuda.max_memory_allocated() - cuda_before) / 2**20 if cuda else
                   resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0 - rss_before)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            model(hori, vert)
            sync()
            times.append(time.perf_counter() - start)
    times.sort()
    forward_s = times[len(times) // 2] / batch
    result = {
        "preset": preset, "device": device, "batch": batch, "threads": torch.get_num_threads(),
        "parameters": n_params, "gflop_per_window": flops / 1e9,
        "forward_ms_per_window": forward_s * 1e3,
        "forward_peak_mb": peak_mb / batch if batch else peak_mb,
        "achieved_gflops": flops / 1e9 / forward_s,
        "device_name": torch.cuda.get_device_name() if cuda else "cpu",
        "torch": torch.__version__,
    }
    if train:
        model.train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-4, weight_decay=1e-4)
        target = torch.rand(batch, cfg.n_joints, *cfg.heatmap_size, device=device)
        steps = []
        for i in range(max(2, repeats // 2 + 1)):
            start = time.perf_counter()
            loss = hupr_loss(*model.forward_logits(hori, vert), target)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sync()
            if i:  # first step is warm-up
                steps.append(time.perf_counter() - start)
        steps.sort()
        result["train_step_ms_per_window"] = steps[len(steps) // 2] / batch * 1e3
    result["matmul_gflops_baseline"] = _matmul_gflops(device, sync)
    result["ratio_to_matmul"] = result["achieved_gflops"] / result["matmul_gflops_baseline"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["small", "paper"])
    parser.add_argument("--devices", nargs="+", default=None,
                        help="cpu and/or cuda [default: cpu, plus cuda when available]")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads in the child")
    parser.add_argument("--train", action="store_true", help="also time a training step")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--child", nargs=2, metavar=("PRESET", "DEVICE"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        res = _child(*args.child, args.batch, args.repeats, args.threads, args.train)
        print(json.dumps(res))
        return

    import torch

    devices = args.devices or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    rows = []
    for device in devices:
        for preset in args.presets:
            cmd = [sys.executable, __file__, "--child", preset, device, "--batch", str(args.batch),
                   "--repeats", str(args.repeats)]
            cmd += ["--threads", str(args.threads)] if args.threads else []
            cmd += ["--train"] if args.train else []
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                raise SystemExit(f"{preset}/{device} failed:\n{proc.stderr}")
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            rows.append(row)
            train = (f", train step {row['train_step_ms_per_window']:.0f} ms"
                     if "train_step_ms_per_window" in row else "")
            print(f"{preset:>5} {device:>4} ({row['device_name']}, {row['threads']} threads): "
                  f"{row['parameters'] / 1e6:.2f} M params, {row['gflop_per_window']:.1f} GFLOP/window, "
                  f"forward {row['forward_ms_per_window']:.1f} ms/window, "
                  f"peak {row['forward_peak_mb']:.0f} MB/window{train}; "
                  f"{row['achieved_gflops']:.1f} GFLOP/s = {row['ratio_to_matmul']:.2f} x matmul "
                  f"({row['matmul_gflops_baseline']:.0f} GFLOP/s)", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
