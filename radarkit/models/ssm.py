"""Selective state-space scan (Mamba S6) and the Mamba block, in plain torch.

The selective scan is the recurrence of Mamba's S6 layer ([1]_, Section 3.2, Algorithm 2), written
per channel ``d`` and state ``n`` with the zero-order-hold discretisation of ``A`` and the Euler
discretisation of ``B`` that the reference implementation uses ([1]_, Eq. 4 and Section 3.5)::

    dA[t] = exp(delta[t] * A)                        (state decay, 0 < dA <= 1 since A < 0)
    h[t]  = dA[t] * h[t-1] + delta[t] * B[t] * u[t]  (h[-1] = 0)
    y[t]  = sum_n C[t] * h[t] + D * u[t]             (then y * silu(z) when a gate z is given)

Three implementations share one signature (the layout of ``mamba_ssm``'s ``selective_scan_fn``):

* :func:`selective_scan_ref`: the recurrence above, one time step at a time (the reference);
* :func:`selective_scan_chunked`: the same recurrence, chunked. The pairs
  ``(dA[t], delta[t] B[t] u[t])`` compose associatively with ``(a1, b1) o (a2, b2) = (a1 a2, a2 b1 + b2)``
  ([2]_, [3]_). The sequence is cut into chunks; the recurrence runs inside all chunks at once, an
  associative (doubling) scan over the chunk summaries gives the state entering each chunk, and that
  state, times the within-chunk cumulative decay, is added back ([5]_, Section 6, does the same for
  Mamba-2). Work is ``O(L)`` in the sequence length ``L``, the sequential depth is
  ``chunk_size + log2(L / chunk_size)`` instead of ``L``, no exponent is ever positive (no overflow),
  and autograd differentiates it directly;
* ``mamba_ssm``'s fused CUDA kernel, used by :func:`selective_scan` on CUDA tensors when the package
  is importable. radarkit never requires ``mamba_ssm``, ``causal-conv1d`` or ``triton``.

:class:`Mamba` is the Mamba block ([1]_, Figure 3): input projection to ``x`` and a gate ``z``,
causal depthwise Conv1d, SiLU, input-dependent ``delta``, ``B``, ``C`` (the "selection"), the selective
scan, gating with ``silu(z)`` and the output projection. :class:`BiMamba` runs one block forwards
and one backwards over the sequence and adds them (bidirectional scanning as in Vision Mamba [4]_).

References
----------
.. [1] A. Gu, T. Dao, "Mamba: Linear-Time Sequence Modeling with Selective State Spaces",
   arXiv:2312.00752, 2023.
.. [2] G. E. Blelloch, "Prefix sums and their applications", CMU-CS-90-190, 1990.
.. [3] E. Martin, C. Cundy, "Parallelizing Linear Recurrent Neural Nets Over Sequence Length",
   ICLR 2018.
.. [4] L. Zhu et al., "Vision Mamba: Efficient Visual Representation Learning with Bidirectional
   State Space Model", ICML 2024.
.. [5] T. Dao, A. Gu, "Transformers are SSMs: Generalized Models and Efficient Algorithms Through
   Structured State Space Duality", ICML 2024.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
import torch.utils.checkpoint
from torch import Tensor, nn

__all__ = [
    "selective_scan",
    "selective_scan_ref",
    "selective_scan_chunked",
    "mamba_ssm_available",
    "Mamba",
    "BiMamba",
]

SCAN_BACKENDS = ("auto", "chunked", "sequential", "mamba_ssm")

_SHAPES_DOC = """
    u : Tensor, shape (batch, d, length), float
        Input sequence per channel.
    delta : Tensor, shape (batch, d, length)
        Step size before ``delta_bias`` and ``softplus``; after them it must be positive.
    A : Tensor, shape (d, n), real
        State matrix (diagonal per channel); negative for a stable scan (Mamba: ``-exp(A_log)``).
    B : Tensor, shape (batch, n, length)
        Input-dependent input matrix.
    C : Tensor, shape (batch, n, length)
        Input-dependent output matrix.
    D : Tensor, shape (d,), optional
        Skip connection ``y += D * u``.
    z : Tensor, shape (batch, d, length), optional
        Gate: the output is multiplied by ``silu(z)``.
    delta_bias : Tensor, shape (d,), optional
        Added to ``delta`` before the softplus.
    delta_softplus : bool
        Apply ``softplus`` to ``delta`` (Mamba does).
    return_last_state : bool
        Also return the final state ``h[length - 1]``, shape (batch, d, n)."""


def _check_shapes(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor) -> None:
    if u.ndim != 3 or delta.shape != u.shape:
        raise ValueError(f"u and delta must both be (batch, d, length); got {tuple(u.shape)}, "
                         f"{tuple(delta.shape)}")
    b, d, length = u.shape
    if A.ndim != 2 or A.shape[0] != d:
        raise ValueError(f"A must be (d={d}, n); got {tuple(A.shape)}")
    n = A.shape[1]
    for name, m in (("B", B), ("C", C)):
        if tuple(m.shape) != (b, n, length):
            raise ValueError(f"{name} must be (batch={b}, n={n}, length={length}); got {tuple(m.shape)}")


def _compute_dtype(u: Tensor) -> torch.dtype:
    # half-precision inputs are scanned in float32, as the mamba_ssm kernel does
    return torch.float32 if u.dtype in (torch.float16, torch.bfloat16) else u.dtype


def _prepare_delta(delta: Tensor, delta_bias: Tensor | None, delta_softplus: bool) -> Tensor:
    if delta_bias is not None:
        delta = delta + delta_bias[:, None]
    return F.softplus(delta) if delta_softplus else delta


def _finish(y: Tensor, u: Tensor, D: Tensor | None, z: Tensor | None, out_dtype: torch.dtype) -> Tensor:
    if D is not None:
        y = y + D[:, None] * u
    if z is not None:
        y = y * F.silu(z)
    return y.to(out_dtype)


def selective_scan_ref(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None = None,
                       z: Tensor | None = None, delta_bias: Tensor | None = None,
                       delta_softplus: bool = False,
                       return_last_state: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """Selective scan, one time step at a time (the reference implementation).

    Evaluates the S6 recurrence literally: ``h[t] = exp(delta[t] A) h[t-1] + delta[t] B[t] u[t]``,
    ``y[t] = C[t] . h[t] + D u[t]``, ``y *= silu(z)``. Slow (a Python loop over ``length``); used to
    check the fast scans.

    Parameters
    ----------{shapes}

    Returns
    -------
    y : Tensor, shape (batch, d, length), dtype of ``u``
        Scan output.
    last_state : Tensor, shape (batch, d, n)
        Only with ``return_last_state``.

    Raises
    ------
    ValueError
        Inconsistent shapes.

    References
    ----------
    A. Gu, T. Dao, "Mamba", arXiv:2312.00752, Section 3.2, Algorithm 2 and Eq. 4.
    """
    _check_shapes(u, delta, A, B, C)
    out_dtype, dtype = u.dtype, _compute_dtype(u)
    u, delta, A, B, C = (t.to(dtype) for t in (u, delta, A, B, C))
    delta = _prepare_delta(delta, delta_bias, delta_softplus)
    batch, d, length = u.shape
    h = u.new_zeros(batch, d, A.shape[1])
    ys = []
    for u_t, d_t, b_t, c_t in zip(u.unbind(2), delta.unbind(2), B.unbind(2), C.unbind(2), strict=True):
        d_t = d_t.unsqueeze(-1)                                      # (batch, d, 1)
        h = torch.exp(d_t * A) * h + d_t * b_t[:, None, :] * u_t.unsqueeze(-1)
        ys.append((h * c_t[:, None, :]).sum(-1))
    y = _finish(torch.stack(ys, dim=-1), u, D, z, out_dtype)
    return (y, h) if return_last_state else y


def _doubling_scan(a: Tensor, b: Tensor, dim: int) -> tuple[Tensor, Tensor]:
    """Inclusive Hillis-Steele scan of ``h[t] = a[t] h[t-1] + b[t]`` (``h[-1] = 0``) along ``dim``.

    Returns the cumulative products ``a[0] ... a[t]`` and the states ``h[t]``, both the shape of the
    inputs; ``ceil(log2(size))`` vectorised steps. Not in place, so autograd can differentiate it.
    """
    size, offset = a.shape[dim], 1
    while offset < size:
        keep = size - offset
        a_prev, b_prev = a.narrow(dim, 0, keep), b.narrow(dim, 0, keep)
        a_cur, b_cur = a.narrow(dim, offset, keep), b.narrow(dim, offset, keep)
        b = torch.cat([b.narrow(dim, 0, offset), torch.addcmul(b_cur, a_cur, b_prev)], dim)
        a = torch.cat([a.narrow(dim, 0, offset), a_cur * a_prev], dim)
        offset *= 2
    return a, b


def selective_scan_chunked(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor,
                           D: Tensor | None = None, z: Tensor | None = None,
                           delta_bias: Tensor | None = None, delta_softplus: bool = False,
                           return_last_state: bool = False,
                           chunk_size: int | None = None) -> Tensor | tuple[Tensor, Tensor]:
    """Selective scan in chunks with an associative scan across chunks; equals :func:`selective_scan_ref`.

    The sequence is cut into ``n_chunks`` chunks of ``chunk_size`` steps. (1) The recurrence runs
    inside every chunk from a zero state, all chunks at once (``chunk_size`` vectorised steps).
    (2) Each chunk is summarised by its total decay ``exp(sum delta A)`` and its final local state; an
    associative doubling scan over these pairs (``(a1, b1) o (a2, b2) = (a1 a2, a2 b1 + b2)``) gives
    the state entering every chunk in ``log2(n_chunks)`` steps. (3) Every state gets the entering
    state times the within-chunk cumulative decay ``exp(cumsum(delta A))`` added. Exponents are never
    positive, so nothing overflows; autograd differentiates the whole computation. Work
    ``O(length)`` (plus ``O(n_chunks log n_chunks)``) per (batch, d, n), sequential depth
    ``chunk_size + log2(n_chunks)``, memory for autograd a few tensors of shape (batch, d, length, n).

    Parameters
    ----------{shapes}
    chunk_size : int, optional
        Steps per chunk (>= 1); default ``round(sqrt(length))``, which balances the steps inside a
        chunk against the size of the scan across chunks.

    Returns
    -------
    y : Tensor, shape (batch, d, length), dtype of ``u``
        Scan output (float16/bfloat16 inputs are scanned in float32).
    last_state : Tensor, shape (batch, d, n)
        Only with ``return_last_state``.

    Raises
    ------
    ValueError
        Inconsistent shapes or ``chunk_size < 1``.

    References
    ----------
    A. Gu, T. Dao, "Mamba", arXiv:2312.00752, Section 3.3.2 (scan instead of convolution);
    G. E. Blelloch, "Prefix sums and their applications", 1990; E. Martin, C. Cundy, ICLR 2018
    (linear recurrences as associative scans); T. Dao, A. Gu, "Transformers are SSMs", ICML 2024,
    Section 6 (chunked state passing).
    """
    _check_shapes(u, delta, A, B, C)
    if chunk_size is not None and chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    out_dtype, dtype = u.dtype, _compute_dtype(u)
    u, delta, A, B, C = (t.to(dtype) for t in (u, delta, A, B, C))
    delta = _prepare_delta(delta, delta_bias, delta_softplus)
    batch, d, length = u.shape
    n = A.shape[1]
    k = max(1, min(chunk_size or round(math.sqrt(length)), length))
    n_chunks = -(-length // k)
    pad = n_chunks * k - length
    log_decay = delta.unsqueeze(-1) * A[:, None, :]                                 # (batch, d, L, n)
    x = (delta * u).unsqueeze(-1) * B.transpose(1, 2).unsqueeze(1)                  # (batch, d, L, n)
    if pad:  # identity steps (decay 1, input 0) after the end leave the final state unchanged
        log_decay, x = F.pad(log_decay, (0, 0, 0, pad)), F.pad(x, (0, 0, 0, pad))
    log_decay = log_decay.view(batch, d, n_chunks, k, n)
    x = x.view(batch, d, n_chunks, k, n)
    # (1) recurrence inside the chunks, all chunks at once
    states, h = [], None
    for a_t, x_t in zip(torch.exp(log_decay).unbind(3), x.unbind(3), strict=True):
        h = x_t if h is None else torch.addcmul(x_t, a_t, h)
        states.append(h)
    h = torch.stack(states, dim=3)                                                  # (batch, d, nc, k, n)
    last = h[:, :, -1, -1]
    if n_chunks > 1:
        # (2) states at the chunk ends by an associative scan over chunks, (3) carry them in
        cum_decay = torch.exp(torch.cumsum(log_decay, dim=3))
        _, ends = _doubling_scan(cum_decay[:, :, :, -1], h[:, :, :, -1], dim=2)     # (batch, d, nc, n)
        entering = torch.cat([ends.new_zeros(batch, d, 1, n), ends[:, :, :-1]], dim=2)
        h = torch.addcmul(h, cum_decay, entering.unsqueeze(3))
        last = ends[:, :, -1]
    h = h.reshape(batch, d, n_chunks * k, n)[:, :, :length]
    y = _finish(torch.einsum("bdln,bnl->bdl", h, C), u, D, z, out_dtype)
    return (y, last) if return_last_state else y


def _document_shapes(fn: Callable) -> None:
    # the shared parameter list goes into the docstrings at import (docstrings are None under -OO)
    if fn.__doc__:
        fn.__doc__ = fn.__doc__.format(shapes=_SHAPES_DOC)


_document_shapes(selective_scan_ref)
_document_shapes(selective_scan_chunked)


@functools.lru_cache(maxsize=1)
def _mamba_ssm_scan() -> Callable | None:
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
    except Exception:  # not installed, or installed without a working CUDA build
        return None
    return selective_scan_fn


def mamba_ssm_available() -> bool:
    """Whether ``mamba_ssm``'s fused selective-scan kernel can be imported.

    Returns
    -------
    bool
        True when ``mamba_ssm.ops.selective_scan_interface.selective_scan_fn`` imports.

    References
    ----------
    state-spaces/mamba (``mamba_ssm`` package), the CUDA kernel of Gu & Dao, arXiv:2312.00752.
    """
    return _mamba_ssm_scan() is not None


def selective_scan(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None = None,
                   z: Tensor | None = None, delta_bias: Tensor | None = None,
                   delta_softplus: bool = False, return_last_state: bool = False,
                   backend: str = "auto", chunk_size: int | None = None) -> Tensor | tuple[Tensor, Tensor]:
    """Selective scan with a choice of implementation.

    ``backend="auto"`` uses ``mamba_ssm``'s fused kernel for CUDA tensors of float32/float16/bfloat16
    when it imports, and :func:`selective_scan_chunked` otherwise (CPU, float64, no ``mamba_ssm``).

    Parameters
    ----------{shapes}
    backend : {{"auto", "chunked", "sequential", "mamba_ssm"}}
        Implementation; ``"sequential"`` is :func:`selective_scan_ref`.
    chunk_size : int, optional
        Chunk length of the torch scan (default ``round(sqrt(length))``).

    Returns
    -------
    y : Tensor, shape (batch, d, length)
        Scan output.
    last_state : Tensor, shape (batch, d, n)
        Only with ``return_last_state``.

    Raises
    ------
    ValueError
        Unknown backend, inconsistent shapes, or ``backend="mamba_ssm"`` where it cannot run.

    References
    ----------
    A. Gu, T. Dao, "Mamba", arXiv:2312.00752, Algorithm 2.
    """
    if backend not in SCAN_BACKENDS:
        raise ValueError(f"unknown scan backend {backend!r}; choose one of {SCAN_BACKENDS}")
    kwargs = dict(D=D, z=z, delta_bias=delta_bias, delta_softplus=delta_softplus,
                  return_last_state=return_last_state)
    if backend == "sequential":
        return selective_scan_ref(u, delta, A, B, C, **kwargs)
    fused_ok = u.is_cuda and u.dtype in (torch.float32, torch.float16, torch.bfloat16)
    if backend == "mamba_ssm" or (backend == "auto" and fused_ok and mamba_ssm_available()):
        fn = _mamba_ssm_scan()
        if fn is None or not fused_ok:
            raise ValueError("the mamba_ssm backend needs the mamba_ssm package and CUDA float32/16 tensors")
        _check_shapes(u, delta, A, B, C)
        return fn(u.contiguous(), delta.contiguous(), A.contiguous(), B.contiguous(), C.contiguous(),
                  **kwargs)
    return selective_scan_chunked(u, delta, A, B, C, chunk_size=chunk_size, **kwargs)


_document_shapes(selective_scan)


def _at_least_fp32(t: Tensor) -> Tensor:
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


class Mamba(nn.Module):
    """The Mamba block (selective SSM with gating), input and output ``(batch, length, d_model)``.

    ``x, z = in_proj(x)``; ``x = silu(causal_depthwise_conv1d(x))``; ``delta, B, C`` are linear
    functions of ``x`` (``delta`` through a rank-``dt_rank`` bottleneck and a softplus);
    ``y = selective_scan(x, delta, A, B, C, D) * silu(z)``; ``out = out_proj(y)``.

    Parameters
    ----------
    d_model : int
        Token width.
    d_state : int
        SSM state size ``n`` per channel (paper: 16).
    d_conv : int
        Kernel of the causal depthwise convolution (paper: 4).
    expand : int
        Inner width ``d_inner = expand * d_model`` (paper: 2).
    dt_rank : int or "auto"
        Rank of the ``delta`` projection; ``"auto"`` is ``ceil(d_model / 16)`` (paper).
    dt_min, dt_max : float
        Range of the log-uniform initial step size (paper: 0.001, 0.1).
    dt_init_floor : float
        Lower clamp of the initial step size.
    conv_bias, bias : bool
        Bias of the convolution / of the in and out projections.
    scan_backend : str
        :func:`selective_scan` backend (``"auto"``: mamba_ssm on CUDA when importable, else torch).
    chunk_size : int, optional
        Chunk length of the torch scan (default ``round(sqrt(length))``).
    recompute_scan : bool
        When gradients are recorded, keep only the scan's inputs and recompute its states in the
        backward pass (``torch.utils.checkpoint``), as the fused kernel does: activation memory of
        the torch scan drops from ``O(length d_inner d_state)`` to ``O(length d_inner)`` per sequence
        for about one extra scan in backward.
    device, dtype : optional
        Factory arguments of the parameters.

    Raises
    ------
    ValueError
        Non-positive sizes or an unknown scan backend.

    References
    ----------
    A. Gu, T. Dao, "Mamba: Linear-Time Sequence Modeling with Selective State Spaces",
    arXiv:2312.00752, Section 3.4 and Figure 3 (block), Section 3.6 (S4D-real initialisation of A,
    step-size initialisation).
    """

    def __init__(self, d_model: int, d_state: int = 16, d_conv: int = 4, expand: int = 2,
                 dt_rank: int | str = "auto", dt_min: float = 1e-3, dt_max: float = 0.1,
                 dt_init_floor: float = 1e-4, conv_bias: bool = True, bias: bool = False,
                 scan_backend: str = "auto", chunk_size: int | None = None, recompute_scan: bool = False,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        if min(d_model, d_state, d_conv, expand) < 1:
            raise ValueError("d_model, d_state, d_conv and expand must be >= 1")
        if scan_backend not in SCAN_BACKENDS:
            raise ValueError(f"unknown scan backend {scan_backend!r}; choose one of {SCAN_BACKENDS}")
        fk = {"device": device, "dtype": dtype}
        self.d_model, self.d_state, self.d_conv = d_model, d_state, d_conv
        self.d_inner = expand * d_model
        self.dt_rank = math.ceil(d_model / 16) if dt_rank == "auto" else int(dt_rank)
        self.scan_backend, self.chunk_size, self.recompute_scan = scan_backend, chunk_size, recompute_scan
        self.in_proj = nn.Linear(d_model, 2 * self.d_inner, bias=bias, **fk)
        self.conv1d = nn.Conv1d(self.d_inner, self.d_inner, d_conv, groups=self.d_inner,
                                padding=d_conv - 1, bias=conv_bias, **fk)
        self.x_proj = nn.Linear(self.d_inner, self.dt_rank + 2 * d_state, bias=False, **fk)
        self.dt_proj = nn.Linear(self.dt_rank, self.d_inner, bias=True, **fk)
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=bias, **fk)
        # S4D-real initialisation: A[d, n] = -(n + 1); stored as log for positivity of -A
        a = torch.arange(1, d_state + 1, dtype=torch.float32, device=device).repeat(self.d_inner, 1)
        self.A_log = nn.Parameter(torch.log(a).to(dtype or torch.float32))
        self.D = nn.Parameter(torch.ones(self.d_inner, **fk))
        with torch.no_grad():
            std = self.dt_rank ** -0.5
            nn.init.uniform_(self.dt_proj.weight, -std, std)
            dt = torch.exp(torch.rand(self.d_inner, device=device) * (math.log(dt_max) - math.log(dt_min))
                           + math.log(dt_min)).clamp(min=dt_init_floor)
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # inverse softplus

    def forward(self, x: Tensor) -> Tensor:
        """Apply the block.

        Parameters
        ----------
        x : Tensor, shape (batch, length, d_model)
            Token sequence (causal: output ``t`` depends on inputs ``<= t`` only).

        Returns
        -------
        Tensor, shape (batch, length, d_model)
        """
        length = x.shape[1]
        xz = self.in_proj(x).transpose(1, 2)                                   # (batch, 2 d_inner, L)
        u, z = xz.chunk(2, dim=1)
        u = F.silu(self.conv1d(u)[..., :length])
        dbc = self.x_proj(u.transpose(1, 2))                                   # (batch, L, r + 2n)
        dt, b_mat, c_mat = torch.split(dbc, [self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = (dt @ self.dt_proj.weight.T).transpose(1, 2)                   # bias goes in the scan
        args = (u, delta, -torch.exp(_at_least_fp32(self.A_log)), b_mat.transpose(1, 2),
                c_mat.transpose(1, 2), _at_least_fp32(self.D), z, _at_least_fp32(self.dt_proj.bias))
        fused = self.scan_backend == "mamba_ssm" or (self.scan_backend == "auto" and u.is_cuda
                                                     and mamba_ssm_available())
        if self.recompute_scan and torch.is_grad_enabled() and not fused:  # fused kernel: recomputes itself
            y = torch.utils.checkpoint.checkpoint(self._scan, *args, use_reentrant=False)
        else:
            y = self._scan(*args)
        return self.out_proj(y.transpose(1, 2))

    def _scan(self, u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor, z: Tensor,
              delta_bias: Tensor) -> Tensor:
        return selective_scan(u, delta, A, B, C, D=D, z=z, delta_bias=delta_bias, delta_softplus=True,
                              backend=self.scan_backend, chunk_size=self.chunk_size)


class BiMamba(nn.Module):
    """Bidirectional Mamba: a forward block plus a block over the reversed sequence, summed.

    Parameters
    ----------
    d_model : int
        Token width.
    **mamba_kwargs
        Passed to both :class:`Mamba` blocks (``d_state``, ``d_conv``, ``expand``, ``scan_backend``...).

    References
    ----------
    L. Zhu et al., "Vision Mamba", ICML 2024, Section 3.3 (forward and backward SSMs on one token
    sequence); A. Gu, T. Dao, arXiv:2312.00752.
    """

    def __init__(self, d_model: int, **mamba_kwargs) -> None:
        super().__init__()
        self.forward_scan = Mamba(d_model, **mamba_kwargs)
        self.backward_scan = Mamba(d_model, **mamba_kwargs)

    def forward(self, x: Tensor) -> Tensor:
        """Apply both scans.

        Parameters
        ----------
        x : Tensor, shape (batch, length, d_model)

        Returns
        -------
        Tensor, shape (batch, length, d_model)
            ``forward_scan(x) + flip(backward_scan(flip(x)))`` (flip along ``length``).
        """
        return self.forward_scan(x) + self.backward_scan(x.flip(1)).flip(1)
