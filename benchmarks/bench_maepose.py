"""Benchmark: MAEPose inference clips/s, pre-training step time and peak memory.

Each measurement runs in its own child process (so peak memory is per phase):

* ``inference``: :class:`~radarkit.models.maepose.MAEPose` (encoder without masking + heatmap head)
  in eval mode under ``torch.no_grad``: clips/s;
* ``baseline``: the same encoder computation done by PyTorch's own ``nn.TransformerEncoder`` (same
  width, depth, heads, MLP ratio, pre-norm, GELU; fused fast path in eval mode) on the same number of
  tokens, plus the same Conv3d patch embedding: the ratio shows what the plain-torch blocks cost;
* ``pretrain``: one :func:`~radarkit.train.maepose.pretrain_step` (90 % masking, forward, backward,
  AdamW) in ms per step;
* ``idle``: the child that only imports torch and builds the model (peak RSS baseline on CPU).

Peak memory: the child's peak RSS (``wait4`` rusage) on CPU, ``torch.cuda.max_memory_allocated``
on CUDA.

Usage: ``python benchmarks/bench_maepose.py [--preset small|paper] [--batch 8] [--device cpu|cuda]
[--repeats 5] [--threads N] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time


def _child(phase: str, preset: str, batch: int, device: str, repeats: int, threads: int | None) -> dict:
    import torch

    from radarkit.models.maepose import build_finetune, build_pretrain
    from radarkit.train.maepose import pretrain_optimizer, pretrain_step

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    dev = torch.device(device)
    if phase == "pretrain":
        model = build_pretrain(preset).to(dev)
    else:
        model = build_finetune(preset, drop_path=0.0).to(dev)
    enc = model.encoder
    x = torch.randn(batch, enc.in_chans, enc.num_frames, *enc.img_size, device=dev)

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize()

    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    out: dict = {"phase": phase, "tokens": enc.num_tokens}
    if phase == "inference":
        model.eval()
        with torch.no_grad():
            model(x)
            sync()
            t0 = time.perf_counter()
            for _ in range(repeats):
                model(x)
            sync()
        out["seconds_per_batch"] = (time.perf_counter() - t0) / repeats
    elif phase == "baseline":
        d = enc.embed_dim
        layer = torch.nn.TransformerEncoderLayer(d, enc.blocks[0].attn.num_heads, 4 * d, dropout=0.0,
                                                 activation="gelu", batch_first=True, norm_first=True)
        ref = torch.nn.TransformerEncoder(layer, len(enc.blocks), enable_nested_tensor=False).to(dev).eval()
        embed = enc.patch_embed
        with torch.no_grad():
            ref(embed(x))
            sync()
            t0 = time.perf_counter()
            for _ in range(repeats):
                ref(embed(x))
            sync()
        out["seconds_per_batch"] = (time.perf_counter() - t0) / repeats
        # our encoder alone, same process and tokens, for the ratio
        enc.eval()
        with torch.no_grad():
            enc(x)
            sync()
            t0 = time.perf_counter()
            for _ in range(repeats):
                enc(x)
            sync()
        out["encoder_seconds_per_batch"] = (time.perf_counter() - t0) / repeats
    elif phase == "pretrain":
        opt = pretrain_optimizer(model)
        pretrain_step(model, x, opt)
        sync()
        t0 = time.perf_counter()
        for _ in range(repeats):
            pretrain_step(model, x, opt)
        sync()
        out["seconds_per_step"] = (time.perf_counter() - t0) / repeats
    if dev.type == "cuda":
        out["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def _run_child(args: argparse.Namespace, phase: str) -> dict:
    cmd = [sys.executable, __file__, "--child", phase, "--preset", args.preset, "--batch", str(args.batch),
           "--device", args.device, "--repeats", str(args.repeats)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    stdout, stderr = proc.stdout.read().decode(), proc.stderr.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"child {phase} failed:\n{stderr}")
    res = json.loads(stdout.strip().splitlines()[-1])
    res["peak_rss_mb"] = usage.ru_maxrss / 1024.0
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", default=None)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        res = _child(args.child, args.preset, args.batch, args.device, args.repeats, args.threads)
        print(json.dumps(res))
        return

    res = {p: _run_child(args, p) for p in ("idle", "inference", "baseline", "pretrain")}
    inf, base, pre = res["inference"], res["baseline"], res["pretrain"]
    summary = {
        "preset": args.preset, "batch": args.batch, "device": args.device, "tokens": inf["tokens"],
        "threads": args.threads,
        "inference_clips_per_s": args.batch / inf["seconds_per_batch"],
        "encoder_ms_per_batch": 1e3 * base["encoder_seconds_per_batch"],
        "torch_transformer_ms_per_batch": 1e3 * base["seconds_per_batch"],
        "encoder_vs_torch_transformer": base["encoder_seconds_per_batch"] / base["seconds_per_batch"],
        "pretrain_ms_per_step": 1e3 * pre["seconds_per_step"],
        "pretrain_clips_per_s": args.batch / pre["seconds_per_step"],
        "peak_rss_mb": {p: r["peak_rss_mb"] for p, r in res.items()},
    }
    if args.device.startswith("cuda"):
        summary["cuda_peak_mb"] = {p: r.get("cuda_peak_mb") for p, r in res.items()}
    print(json.dumps(summary, indent=2))
    if args.json:
        from radarkit.atomic import atomic_output

        with atomic_output(args.json, force=True) as tmp, open(tmp, "w") as fh:
            json.dump(summary, fh, indent=2)


if __name__ == "__main__":
    main()
