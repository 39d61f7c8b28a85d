"""Selective scan (Mamba S6): the chunked scan equals the sequential reference; the Mamba block is causal.

The equality checks run in float64, so that the 1e-5 tolerance tests the algorithm rather than
float32 rounding (the two scans sum in different orders).
"""

from __future__ import annotations

import pytest
import torch

from radarkit.models.ssm import (
    BiMamba,
    Mamba,
    mamba_ssm_available,
    selective_scan,
    selective_scan_chunked,
    selective_scan_ref,
)

torch.set_num_threads(1)
TOL = dict(atol=1e-5, rtol=1e-5)


def _inputs(batch: int, d: int, length: int, n: int, seed: int, dtype=torch.float64,
            delta_scale: float = 1.0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)

    def rand(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g, dtype=dtype)

    return {
        "u": rand(batch, d, length), "delta": rand(batch, d, length) * delta_scale,
        "A": -(torch.rand(d, n, generator=g, dtype=dtype) * 4 + 0.05), "B": rand(batch, n, length),
        "C": rand(batch, n, length), "D": rand(d), "z": rand(batch, d, length), "delta_bias": rand(d),
    }


def _grads(out: torch.Tensor, weight: torch.Tensor, leaves: list[torch.Tensor]) -> tuple[torch.Tensor, ...]:
    return torch.autograd.grad((out * weight).sum(), leaves, allow_unused=True, materialize_grads=True)


@pytest.mark.parametrize(("length", "chunk_size"), [(1, None), (2, 1), (9, 4), (33, None), (64, 8), (50, 64)])
def test_chunked_scan_equals_sequential_forward_and_gradients(length, chunk_size):
    x = _inputs(2, 5, length, 4, seed=length)
    leaves = [t.requires_grad_() for t in x.values()]
    y_ref, h_ref = selective_scan_ref(**x, delta_softplus=True, return_last_state=True)
    y, h = selective_scan_chunked(**x, delta_softplus=True, return_last_state=True, chunk_size=chunk_size)
    torch.testing.assert_close(y, y_ref, **TOL)
    torch.testing.assert_close(h, h_ref, **TOL)
    weight = torch.randn_like(y_ref)
    for name, g, g_ref in zip(x, _grads(y, weight, leaves), _grads(y_ref, weight, leaves), strict=True):
        torch.testing.assert_close(g, g_ref, **TOL, msg=lambda m, name=name: f"gradient of {name}: {m}")
    assert y.abs().sum() > 0 and leaves[0].grad is None  # autograd.grad does not accumulate


def test_scan_without_optional_terms_and_with_positive_delta():
    x = _inputs(3, 4, 20, 6, seed=1)
    x["delta"] = torch.nn.functional.softplus(x["delta"])
    for key in ("D", "z", "delta_bias"):
        del x[key]
    torch.testing.assert_close(selective_scan_chunked(**x), selective_scan_ref(**x), **TOL)


def test_scan_is_the_recurrence_on_a_hand_sized_case():
    # one channel, one state, constant decay a and input 1: h[t] = a h[t-1] + delta, y = h
    length, delta, a_cont = 6, 0.5, -0.8
    ones = torch.ones(1, 1, length, dtype=torch.float64)
    y = selective_scan_chunked(ones, ones * delta, torch.tensor([[a_cont]], dtype=torch.float64),
                               ones, ones, chunk_size=4)
    a = torch.exp(torch.tensor(delta * a_cont, dtype=torch.float64))
    expected = delta * (1 - a ** torch.arange(1, length + 1)) / (1 - a)   # geometric series
    torch.testing.assert_close(y[0, 0], expected, atol=1e-12, rtol=1e-12)


def test_strong_decay_over_a_long_sequence_stays_finite_and_exact_in_float32():
    # delta * A down to about -400 per step: an exp of cumulative sums would overflow float32
    x = _inputs(1, 3, 300, 4, seed=2, dtype=torch.float32, delta_scale=25.0)
    y = selective_scan_chunked(**x, delta_softplus=True)
    assert torch.isfinite(y).all()
    x64 = {k: v.double() for k, v in x.items()}
    ref = selective_scan_ref(**x64, delta_softplus=True)
    torch.testing.assert_close(y.double(), ref, atol=1e-4, rtol=1e-4)


def test_dispatcher_backends():
    x = _inputs(2, 3, 12, 4, seed=3)
    ref = selective_scan_ref(**x, delta_softplus=True)
    for backend in ("auto", "chunked", "sequential"):
        torch.testing.assert_close(selective_scan(**x, delta_softplus=True, backend=backend), ref, **TOL)
    with pytest.raises(ValueError, match="unknown scan backend"):
        selective_scan(**x, backend="cuda")
    with pytest.raises(ValueError, match="mamba_ssm"):
        selective_scan(**x, backend="mamba_ssm")  # float64 CPU tensors never go to the fused kernel


def test_shape_errors():
    x = _inputs(2, 3, 12, 4, seed=4)
    x["B"] = x["B"][:, :, :-1]
    with pytest.raises(ValueError, match="B must be"):
        selective_scan_chunked(**x)
    with pytest.raises(ValueError, match="chunk_size"):
        selective_scan_chunked(**_inputs(1, 1, 4, 1, seed=5), chunk_size=0)


def test_half_precision_is_scanned_in_float32():
    x = _inputs(1, 4, 40, 4, seed=6, dtype=torch.float32)
    y32 = selective_scan_chunked(**x, delta_softplus=True)
    y16 = selective_scan_chunked(**{k: v.bfloat16() for k, v in x.items()}, delta_softplus=True)
    assert y16.dtype == torch.bfloat16
    # bfloat16 inputs carry ~3 significant digits; the scan itself must not add more error than that
    err = (y16.float() - y32).abs().max() / y32.abs().max()
    assert err < 0.05


def test_mamba_block_is_causal_and_backends_agree():
    torch.manual_seed(0)
    block = Mamba(8, d_state=4, expand=2, scan_backend="chunked").double()
    x = torch.randn(2, 15, 8, dtype=torch.float64)
    y = block(x)
    assert y.shape == x.shape
    x2 = x.clone()
    x2[:, 9] += 1.0
    y2 = block(x2)
    torch.testing.assert_close(y2[:, :9], y[:, :9], atol=0, rtol=0)
    assert (y2[:, 9:] - y[:, 9:]).abs().amax(dim=(0, 2)).min() > 0  # every later step sees it
    block.scan_backend = "sequential"
    torch.testing.assert_close(block(x), y, **TOL)


def test_recomputed_scan_gives_the_same_gradients():
    torch.manual_seed(0)
    block = Mamba(8, d_state=4, scan_backend="chunked").double()
    x = torch.randn(2, 11, 8, dtype=torch.float64, requires_grad=True)
    grads = []
    for recompute in (False, True):
        block.recompute_scan = recompute
        block.zero_grad()
        out = block(x)
        (g_x,) = torch.autograd.grad(out.square().sum(), x, retain_graph=True)
        out.square().sum().backward()
        grads.append([g_x] + [p.grad.clone() for p in block.parameters()])
    for g0, g1 in zip(*grads, strict=True):
        torch.testing.assert_close(g1, g0, atol=1e-12, rtol=1e-10)


def test_bimamba_sees_both_directions():
    torch.manual_seed(0)
    block = BiMamba(8, d_state=4).double()
    x = torch.randn(1, 10, 8, dtype=torch.float64)
    x2 = x.clone()
    x2[:, -1] += 1.0
    assert (block(x2)[:, 0] - block(x)[:, 0]).abs().max() > 0


def test_mamba_block_learns_a_causal_running_sum():
    # the SSM must carry state: learn y[t] = mean of x[:t+1] (input-dependent memory over 12 steps)
    torch.manual_seed(0)
    block = Mamba(4, d_state=8, expand=2)
    opt = torch.optim.Adam(block.parameters(), lr=1e-2)
    x = torch.randn(16, 12, 4)
    target = x.cumsum(1) / torch.arange(1, 13).view(1, -1, 1)
    losses = []
    for _ in range(150):
        loss = torch.nn.functional.mse_loss(block(x), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]  # the running mean needs the scan's state (conv reach is 4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_scan_matches_cpu():
    x = _inputs(2, 8, 40, 4, seed=7, dtype=torch.float32)
    ref = selective_scan_chunked(**x, delta_softplus=True)
    for backend in ("chunked", "auto") + (("mamba_ssm",) if mamba_ssm_available() else ()):
        out = selective_scan(**{k: v.cuda() for k, v in x.items()}, delta_softplus=True, backend=backend)
        torch.testing.assert_close(out.cpu(), ref, atol=1e-4, rtol=1e-4)
