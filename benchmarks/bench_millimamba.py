"""Benchmark: milliMamba latency and memory against sequence length (8..32 frames).

For each sequence length ``T`` the script measures, on one batch of random complex cubes:

* the Cross-View Fusion Mamba encoder (tokenisers + encoder) and the full model: forward latency
  (no grad), forward + backward latency, FLOPs of matrix products and convolutions
  (``torch.utils.flop_counter``; the scan's element-wise work is not counted), and the activation
  memory kept for backward (bytes of the tensors autograd saves, counted once per storage; with
  ``recompute_scan`` the scan's states are not kept; on CUDA also the peak allocated memory);
* the baseline, in the same run: a Transformer encoder of the same width and depth with global
  self-attention over the same ``T x 2 x tokens`` sequence (the quadratic alternative that the Mamba
  encoder replaces), on top of the same tokenisers.

A least-squares line through each quantity against ``T`` gives its per-frame slope and R^2, and the
ratio ``value(32) / value(8)`` is reported (4.0 for linear growth without a constant term).
Target (issue 10): the encoder's cost grows linearly with ``T``.

With ``--hupr`` it also compares milliMamba and HuPR (both ``small``) at equal sequence length
``T``, one sequence (batch 1 by default, ``--hupr-batch``): milliMamba runs **once** on the T frames
and predicts its ``n_out_frames`` central frames; HuPR needs an 8-frame window per frame, so
labelling the T frames means **T windows** (run as one batch of T). For each: forward latency (no
grad), latency per predicted frame, activation memory kept for backward, and on CUDA the peak
allocated memory of a forward + backward. (To label every frame, milliMamba slides by
``n_out_frames``: ``T / n_out_frames`` passes, which the per-frame latency accounts for.)

Usage: ``python benchmarks/bench_millimamba.py [--preset small] [--batch 2] [--frames 8 12 16 24 32]
[--device cpu] [--repeats 3] [--hupr] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from radarkit.models.millimamba import PRESETS, MilliMamba


class AttentionEncoder(nn.Module):
    """Baseline: the same tokenisers, then global self-attention over all frames and both views."""

    def __init__(self, model: MilliMamba) -> None:
        super().__init__()
        c = model.config
        self.tokenizers, self.view_embed = model.tokenizers, model.view_embed
        layer = nn.TransformerEncoderLayer(c.d_model, c.n_heads, int(c.d_model * c.mlp_ratio), dropout=0.0,
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, c.encoder_layers, enable_nested_tensor=False)

    def forward(self, hori: torch.Tensor, vert: torch.Tensor) -> torch.Tensor:
        tokens = torch.stack([tok(x) for tok, x in zip(self.tokenizers, (hori, vert), strict=True)], dim=2)
        tokens = tokens + self.view_embed[:, None, :]
        b, t, v, p, d = tokens.shape
        return self.encoder(tokens.reshape(b, t * v * p, d)).view(b, t, v, p, d)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time(fn, repeats: int, device: torch.device) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return best


def _saved_bytes(fn) -> int:
    """Bytes of the tensors autograd saves for backward during ``fn()`` (each storage once)."""
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        seen[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    del out
    return int(sum(seen.values()))


def measure(module: nn.Module, inputs: tuple[torch.Tensor, torch.Tensor], repeats: int,
            device: torch.device, extra_flops: float = 0.0) -> dict[str, float]:
    """Latency, FLOPs (counted + ``extra_flops``) and activation memory of ``module(*inputs)``."""
    def forward_no_grad() -> None:
        with torch.no_grad():
            module(*inputs)

    def forward_backward() -> None:
        module.zero_grad(set_to_none=True)
        module(*inputs).float().square().mean().backward()

    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        module(*inputs)
    row = {"forward_ms": 1e3 * _time(forward_no_grad, repeats, device),
           "train_step_ms": 1e3 * _time(forward_backward, repeats, device),
           "gflops": (counter.get_total_flops() + extra_flops) / 1e9,
           "activation_mb": _saved_bytes(lambda: module(*inputs)) / 2**20}
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        forward_backward()
        row["cuda_peak_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    return {k: round(v, 4) for k, v in row.items()}


class HuPRPerFrame(nn.Module):
    """HuPR labelling every frame of a sequence: one 8-frame window per frame, batched; refined maps out."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, hori: torch.Tensor, vert: torch.Tensor) -> torch.Tensor:
        return self.model(hori, vert)[1]


def measure_forward(module: nn.Module, inputs: tuple[torch.Tensor, torch.Tensor], repeats: int,
                    device: torch.device) -> dict[str, float]:
    """Forward latency (no grad), activation memory kept for backward and (CUDA) peak memory."""
    def forward_no_grad() -> None:
        with torch.no_grad():
            module(*inputs)

    row = {"forward_ms": 1e3 * _time(forward_no_grad, repeats, device),
           "activation_mb": _saved_bytes(lambda: module(*inputs)) / 2**20}
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        module(*inputs).float().square().mean().backward()
        row["cuda_peak_mb"] = (torch.cuda.max_memory_allocated(device) - base) / 2**20
    return row


def compare_hupr(model: MilliMamba, frames: list[int], batch: int, repeats: int,
                 device: torch.device) -> dict[str, list[dict[str, float]]]:
    """milliMamba once per T-frame sequence vs HuPR once per frame (T windows), both ``small``."""
    from radarkit.models.hupr import HuPR, get_config

    hupr_cfg = get_config("small")
    hupr = HuPRPerFrame(HuPR(hupr_cfg)).to(device)
    c = model.config
    rows: dict[str, list[dict[str, float]]] = {"millimamba_per_sequence": [], "hupr_per_frame_windows": []}
    for t in frames:
        shape = (batch, t, c.n_doppler, c.n_angle, c.n_range)
        mm_in = tuple(torch.randn(shape, dtype=torch.complex64, device=device) for _ in range(2))
        row = measure_forward(model, mm_in, repeats, device)
        row["ms_per_predicted_frame"] = row["forward_ms"] / (batch * c.n_out_frames)
        rows["millimamba_per_sequence"].append({"frames": t, **{k: round(v, 3) for k, v in row.items()}})
        del mm_in
        hupr_in = tuple(torch.randn(hupr_cfg.input_shape(batch * t), device=device) for _ in range(2))
        row = measure_forward(hupr, hupr_in, repeats, device)
        row["ms_per_predicted_frame"] = row["forward_ms"] / (batch * t)
        rows["hupr_per_frame_windows"].append({"frames": t, **{k: round(v, 3) for k, v in row.items()}})
        del hupr_in
        for name, table in rows.items():
            values = " ".join(f"{k}={v}" for k, v in table[-1].items() if k != "frames")
            print(f"{name:28s} T={t:3d} {values}", file=sys.stderr, flush=True)
    return rows


def linear_fit(frames: list[int], values: list[float]) -> dict[str, float]:
    """Slope per frame, intercept, R^2 of a least-squares line, and value(T_max) / value(T_min)."""
    x, y = np.asarray(frames, float), np.asarray(values, float)
    slope, intercept = np.polyfit(x, y, 1)
    resid = y - (slope * x + intercept)
    r2 = 1.0 - float(resid @ resid) / max(float(((y - y.mean()) ** 2).sum()), 1e-300)
    return {"slope_per_frame": round(float(slope), 5), "intercept": round(float(intercept), 4),
            "r2": round(r2, 5), f"ratio_{frames[-1]}_to_{frames[0]}": round(float(y[-1] / y[0]), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small", choices=sorted(PRESETS))
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--frames", type=int, nargs="+", default=[8, 12, 16, 24, 32])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--no-baseline", action="store_true", help="skip the attention baseline")
    parser.add_argument("--hupr", action="store_true",
                        help="also compare with HuPR small at equal sequence length")
    parser.add_argument("--hupr-frames", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--hupr-batch", type=int, default=1, help="sequences per batch in the comparison")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    model = MilliMamba(PRESETS[args.preset]).to(device)
    c = model.config

    class Encoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, hori: torch.Tensor, vert: torch.Tensor) -> torch.Tensor:
            return self.model.encode(hori, vert)

    modules = {"mamba_encoder": Encoder(), "full_model": model}
    if not args.no_baseline:
        modules["attention_encoder_baseline"] = AttentionEncoder(model).to(device)
    rows: dict[str, list[dict[str, float]]] = {name: [] for name in modules}
    for frames in args.frames:
        shape = (args.batch, frames, c.n_doppler, c.n_angle, c.n_range)
        inputs = tuple(torch.randn(shape, dtype=torch.complex64, device=device) for _ in range(2))
        for name, module in modules.items():
            extra = 0.0
            if name == "attention_encoder_baseline":
                # the fused attention kernel of nn.TransformerEncoder is not seen by FlopCounterMode:
                # add Q K^T and A V, 2 L^2 d FLOPs each per layer and batch item
                n_tokens = frames * 2 * c.token_grid[0] * c.token_grid[1]
                extra = c.encoder_layers * args.batch * 4.0 * n_tokens ** 2 * c.d_model
            row = {"frames": frames, **measure(module, inputs, args.repeats, device, extra)}
            rows[name].append(row)
            values = " ".join(f"{k}={v}" for k, v in row.items() if k != "frames")
            print(f"{name:28s} T={frames:3d} {values}", file=sys.stderr, flush=True)
    fits = {name: {key: linear_fit(args.frames, [r[key] for r in table])
                   for key in table[0] if key != "frames"} for name, table in rows.items()}
    result = {
        "name": f"milliMamba {args.preset}: cost against sequence length",
        "preset": args.preset, "batch": args.batch, "device": str(device),
        "tokens_per_frame": 2 * c.token_grid[0] * c.token_grid[1], "d_model": c.d_model,
        "parameters": sum(p.numel() for p in model.parameters()),
        "scan": "mamba_ssm" if device.type == "cuda" and c.scan_backend == "auto" and _has_mamba_ssm()
        else "torch chunked",
        "rows": rows, "linear_fits": fits,
        "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "python": sys.version.split()[0], "torch": torch.__version__},
    }
    if args.hupr:
        model.eval()
        table = compare_hupr(model, args.hupr_frames, args.hupr_batch, args.repeats, device)
        result["hupr_comparison"] = {
            "batch": args.hupr_batch, "rows": table,
            "linear_fits": {name: {key: linear_fit(args.hupr_frames, [r[key] for r in t])
                                   for key in t[0] if key != "frames"} for name, t in table.items()}}
    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)


def _has_mamba_ssm() -> bool:
    from radarkit.models.ssm import mamba_ssm_available

    return mamba_ssm_available()


if __name__ == "__main__":
    main()
