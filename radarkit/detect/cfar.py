"""Constant false-alarm rate (CFAR) detection, 1-D and 2-D: CA, GO, SO and OS.

Every cell under test (CUT) is compared with ``alpha * Z``, where ``Z`` is an estimate of the local
noise power from *training cells* around it, separated from the CUT by *guard cells* (which keep
a target's own spread out of the estimate). Per axis the window is ``train`` training cells, then
``guard`` guard cells, on both sides of the CUT; in 2-D the training cells are the rectangle of
half-widths ``guard + train`` less the guard rectangle of half-widths ``guard``.

Noise estimates ``Z`` (input: linear power of a square-law detector, ``|X|^2``):

* ``"ca"`` cell averaging: the mean of all training cells (Finn & Johnson 1968);
* ``"go"`` / ``"so"`` greatest-of / smallest-of: the larger / smaller of the means of the leading
  and lagging halves of the training cells along one axis (the *split axis*, range by default),
  cells at offset 0 along that axis belonging to neither (Hansen & Sawyers 1980; Trunk 1978);
* ``"os"`` ordered statistic: the ``k``-th smallest training cell, ``k = round(rank * N)``,
  ``rank = 3/4`` by default (Rohling 1983).

Threshold factor ``alpha`` from a requested probability of false alarm ``Pfa`` in independent,
identically distributed exponential noise (the square-law output of complex Gaussian noise, at any
noise level):

* CA: ``alpha = N (Pfa^(-1/N) - 1)`` (``Pfa = (1 + alpha/N)^-N``);
* OS: Rohling's ``Pfa = prod_{i=0}^{k-1} (N - i) / (N - i + alpha)``, solved for ``alpha``;
* GO/SO, halves of ``n1`` and ``n2`` cells, with ``r = n2/n1``::

      A   = sum_{i=0}^{n2-1} C(n1-1+i, i) r^i (1 + r + alpha/n1)^-(n1+i)
      SO: Pfa = A + B                     (B: the same with n1 and n2 swapped)
      GO: Pfa = (1 + alpha/n1)^-n1 + (1 + alpha/n2)^-n2 - Pfa_SO

  (the moment-generating function of the min / max of two Gamma-distributed half means; for
  ``n1 = n2 = n`` these are the expressions of Gandhi & Kassam 1988, eqs. 11-12), solved for
  ``alpha``. A half with no cell (at a truncated edge) leaves the other half's mean, i.e. CA.

All four are exact for exponential noise, so the false-alarm rate holds cell by cell, edges
included: the factor is computed for each cell's own number of training cells. Measured rates on
simulated unit exponential noise with the default 2-D windows (``guard=(2, 2)``, ``train=(8, 4)``,
610 maps of 64 Doppler x 256 range bins = 9,994,240 cells, Doppler wrapped, range truncated,
``numpy.random.default_rng(1)``; the count's own scatter is about 3 % at 1e-4):

=========  ========  ========  ========  ========
requested  CA        GO        SO        OS
=========  ========  ========  ========  ========
1e-3       1.002e-3  0.995e-3  1.010e-3  1.015e-3
1e-4       0.974e-4  1.042e-4  1.041e-4  0.969e-4
=========  ========  ========  ========  ========

(``tests/test_cfar.py`` checks the rates on fresh noise.)

Alternatively the factor is given directly in dB, ``alpha = 10^(threshold_db / 10)`` (threshold
``threshold_db`` above the noise estimate).

Edges: per axis either *wrapped* (circular; the Doppler axis, whose FFT is periodic) or
*truncated* (training cells outside the map are left out and ``N`` shrinks; the range axis).
Wrapped axes need at least ``2 (guard + train) + 1`` cells.

Implementation: CA, GO and SO use one numba kernel over a summed-area table (integral image,
float64) of each map: any rectangle sum costs four look-ups, so the cost per cell does not grow
with the window (``benchmarks/bench_cfar.py`` measures maps of 64 x 256 per second against
``scipy.ndimage.uniform_filter``). OS is a numba sliding rank filter: the map's values are replaced
by their ranks in the sorted map, and a two-level histogram of the ranks inside the training
window (counts per rank and per bucket of about ``sqrt(cells)`` ranks) is updated as the window
moves along the range axis, one column in and one out, so each step costs ``O(window height)``
updates plus one bucket scan for the ``k``-th smallest, exactly (Huang's sliding-histogram
median filter, generalised to any rank and to exact float values through the ranks). Measured on a
shared 2-core machine (thread CPU time, 64 x 256 maps, default windows): CA about 15,000 maps/s
(4.4x ``uniform_filter`` in the same run), OS about 160 maps/s. No Python loop runs per cell;
kernels are single-threaded (``shared/specs/performance.md``: several OpenMP runtimes in one
process contend; split frames across processes instead).

References
----------
H. M. Finn and R. S. Johnson, "Adaptive detection mode with threshold control as a function of
spatially sampled clutter-level estimates", RCA Review 29, 1968 (CA-CFAR).
V. G. Hansen and J. H. Sawyers, "Detectability loss due to greatest of selection in a cell-
averaging CFAR", IEEE Trans. AES-16(1), 1980 (GO-CFAR).
G. V. Trunk, "Range resolution of targets using automatic detectors", IEEE Trans. AES-14(5), 1978
(SO-CFAR).
H. Rohling, "Radar CFAR thresholding in clutter and multiple target situations", IEEE Trans.
AES-19(4), 608-621, 1983 (OS-CFAR, eq. for Pfa).
P. P. Gandhi and S. A. Kassam, "Analysis of CFAR processors in nonhomogeneous background", IEEE
Trans. AES-24(4), 427-445, 1988 (GO/SO false-alarm probability).
M. A. Richards, "Fundamentals of Radar Signal Processing", 2nd ed., McGraw-Hill 2014, ch. 7.
F. C. Crow, "Summed-area tables for texture mapping", SIGGRAPH 1984 (summed-area table).
T. S. Huang, G. J. Yang and G. Y. Tang, "A fast two-dimensional median filtering algorithm", IEEE
Trans. ASSP-27(1), 1979 (sliding-histogram rank filter).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numba
import numpy as np
from scipy.optimize import brentq
from scipy.special import gammaln

__all__ = [
    "CFAR_KINDS",
    "CfarParams",
    "cfar",
    "cfar_1d",
    "cfar_2d",
    "threshold_factor",
    "ca_threshold_factor",
    "os_threshold_factor",
    "go_so_threshold_factor",
    "pfa_ca",
    "pfa_os",
    "pfa_go",
    "pfa_so",
    "training_cell_counts",
    "os_rank",
    "db_to_power",
]

#: CFAR variants: cell averaging, greatest of, smallest of, ordered statistic.
CFAR_KINDS = ("ca", "go", "so", "os")
_KIND_CODE = {"ca": 0, "go": 1, "so": 2}
#: Rohling's recommended rank of the OS-CFAR statistic, as a fraction of the training cells.
DEFAULT_OS_RANK = 0.75


# ------------------------------------------------------------------------------------------------
# threshold factors
# ------------------------------------------------------------------------------------------------
def _check_pfa(pfa: float) -> float:
    pfa = float(pfa)
    if not 0.0 < pfa < 1.0:
        raise ValueError(f"pfa must be in (0, 1), got {pfa}")
    return pfa


def pfa_ca(alpha: float, n: int) -> float:
    """False-alarm probability of CA-CFAR, ``(1 + alpha / n)^-n``.

    Parameters
    ----------
    alpha : float
        Threshold factor on the mean of the training cells (>= 0).
    n : int
        Number of training cells (>= 1).

    Returns
    -------
    float
        Probability that a cell of i.i.d. exponential noise exceeds ``alpha`` times the mean.

    References
    ----------
    M. A. Richards, "Fundamentals of Radar Signal Processing", 2nd ed., 2014, sec. 7.2.
    """
    return float(np.exp(-n * np.log1p(alpha / n)))


def ca_threshold_factor(n: int, pfa: float) -> float:
    """CA-CFAR threshold factor ``alpha = n (Pfa^(-1/n) - 1)`` on the training-cell mean.

    Parameters
    ----------
    n : int
        Number of training cells (>= 1).
    pfa : float
        Requested probability of false alarm, in (0, 1).

    Returns
    -------
    float
        ``alpha`` (linear); the threshold is ``alpha * mean(training cells)``.

    Raises
    ------
    ValueError
        ``n < 1`` or ``pfa`` outside (0, 1).

    References
    ----------
    M. A. Richards, "Fundamentals of Radar Signal Processing", 2nd ed., 2014, eq. 7.19.
    """
    if n < 1:
        raise ValueError(f"need at least one training cell, got {n}")
    return float(n * np.expm1(-np.log(_check_pfa(pfa)) / n))


def pfa_os(alpha: float, n: int, k: int) -> float:
    """False-alarm probability of OS-CFAR (Rohling): ``prod_{i<k} (n - i) / (n - i + alpha)``.

    Parameters
    ----------
    alpha : float
        Threshold factor on the ``k``-th smallest training cell (>= 0).
    n : int
        Number of training cells.
    k : int
        Rank of the order statistic, ``1 <= k <= n`` (1 is the smallest).

    Returns
    -------
    float

    References
    ----------
    H. Rohling, IEEE Trans. AES-19(4), 1983, eq. (11).
    """
    i = np.arange(k, dtype=np.float64)
    return float(np.exp(np.sum(np.log(n - i) - np.log(n - i + alpha))))


def os_threshold_factor(n: int, k: int, pfa: float) -> float:
    """OS-CFAR threshold factor on the ``k``-th smallest of ``n`` training cells.

    Solves Rohling's :func:`pfa_os` ``= pfa`` for ``alpha`` (Brent's method; the function is
    monotone in ``alpha``).

    Parameters
    ----------
    n : int
        Number of training cells (>= 1).
    k : int
        Rank, ``1 <= k <= n``.
    pfa : float
        Requested probability of false alarm, in (0, 1).

    Returns
    -------
    float
        ``alpha``; the threshold is ``alpha * X_(k)``.

    Raises
    ------
    ValueError
        Bad ``n``, ``k`` or ``pfa``.

    References
    ----------
    H. Rohling, "Radar CFAR thresholding in clutter and multiple target situations", IEEE Trans.
    AES-19(4), 608-621, 1983.
    """
    if not 1 <= k <= n:
        raise ValueError(f"rank k must satisfy 1 <= k <= n, got k={k}, n={n}")
    target = np.log(_check_pfa(pfa))
    i = np.arange(k, dtype=np.float64)

    def f(log_alpha: float) -> float:
        a = np.exp(log_alpha)
        return float(np.sum(np.log(n - i) - np.log(n - i + a))) - target

    return float(np.exp(brentq(f, -40.0, 40.0, xtol=1e-13, rtol=1e-13)))


def _log_mgf_min_part(alpha: float, n1: int, n2: int) -> float:
    # log E[exp(-alpha X1/n1) 1{X1/n1 < X2/n2}] for X1 ~ Gamma(n1), X2 ~ Gamma(n2), see module doc
    r = n2 / n1
    i = np.arange(n2, dtype=np.float64)
    logs = (gammaln(n1 + i) - gammaln(n1) - gammaln(i + 1) + i * np.log(r)
            - (n1 + i) * np.log1p(r + alpha / n1))
    top = logs.max()
    return float(top + np.log(np.sum(np.exp(logs - top))))


def pfa_so(alpha: float, n1: int, n2: int) -> float:
    """False-alarm probability of SO-CFAR with halves of ``n1`` and ``n2`` training cells.

    Parameters
    ----------
    alpha : float
        Threshold factor on the smaller of the two half means.
    n1, n2 : int
        Cells in the leading and lagging halves (0 for an empty half: CA on the other).

    Returns
    -------
    float

    References
    ----------
    P. P. Gandhi and S. A. Kassam, IEEE Trans. AES-24(4), 1988, eq. (12) (``n1 = n2``); the
    unequal-halves form is derived in this module's docstring.
    """
    if n1 == 0 or n2 == 0:
        return pfa_ca(alpha, max(n1, n2))
    return float(np.exp(_log_mgf_min_part(alpha, n1, n2)) + np.exp(_log_mgf_min_part(alpha, n2, n1)))


def pfa_go(alpha: float, n1: int, n2: int) -> float:
    """False-alarm probability of GO-CFAR with halves of ``n1`` and ``n2`` training cells.

    ``Pfa_GO = (1 + alpha/n1)^-n1 + (1 + alpha/n2)^-n2 - Pfa_SO`` (for any ``Z1, Z2``:
    ``e^-a max + e^-a min = e^-a Z1 + e^-a Z2``).

    Parameters
    ----------
    alpha : float
        Threshold factor on the larger of the two half means.
    n1, n2 : int
        Cells in the leading and lagging halves (0 for an empty half: CA on the other).

    Returns
    -------
    float

    References
    ----------
    P. P. Gandhi and S. A. Kassam, IEEE Trans. AES-24(4), 1988, eq. (11); V. G. Hansen and
    J. H. Sawyers, IEEE Trans. AES-16(1), 1980.
    """
    if n1 == 0 or n2 == 0:
        return pfa_ca(alpha, max(n1, n2))
    return pfa_ca(alpha, n1) + pfa_ca(alpha, n2) - pfa_so(alpha, n1, n2)


def go_so_threshold_factor(kind: str, n1: int, n2: int, pfa: float) -> float:
    """GO- or SO-CFAR threshold factor for halves of ``n1`` and ``n2`` training cells.

    Solves :func:`pfa_go` or :func:`pfa_so` ``= pfa`` for ``alpha`` (Brent's method).

    Parameters
    ----------
    kind : {"go", "so"}
    n1, n2 : int
        Training cells in the two halves (``n1 + n2 >= 1``).
    pfa : float
        Requested probability of false alarm, in (0, 1).

    Returns
    -------
    float
        ``alpha``; the threshold is ``alpha * max`` (GO) or ``alpha * min`` (SO) of the half means.

    Raises
    ------
    ValueError
        Unknown kind, no training cell, ``pfa`` outside (0, 1).

    References
    ----------
    P. P. Gandhi and S. A. Kassam, IEEE Trans. AES-24(4), 1988.
    """
    if kind not in ("go", "so"):
        raise ValueError(f"kind must be 'go' or 'so', got {kind!r}")
    if n1 < 0 or n2 < 0 or n1 + n2 < 1:
        raise ValueError(f"need at least one training cell, got halves of {n1} and {n2}")
    target = np.log(_check_pfa(pfa))
    func = pfa_go if kind == "go" else pfa_so

    def f(log_alpha: float) -> float:
        value = func(np.exp(log_alpha), n1, n2)
        if not value > 0.0:  # underflow (or cancellation in GO) far beyond any useful threshold
            return -1e3
        return float(np.log(value)) - target

    return float(np.exp(brentq(f, -40.0, 40.0, xtol=1e-13, rtol=1e-13)))


def os_rank(n: int, rank: float = DEFAULT_OS_RANK) -> int:
    """Rank ``k = round(rank * n)`` of the OS statistic, clipped to ``[1, n]``.

    Parameters
    ----------
    n : int
        Number of training cells (>= 1).
    rank : float
        Fraction in (0, 1]; Rohling recommends about 3/4.

    Returns
    -------
    int
    """
    return int(min(max(int(np.floor(rank * n + 0.5)), 1), n))


def threshold_factor(kind: str, pfa: float, n: int, n_halves: tuple[int, int] | None = None,
                     rank: float = DEFAULT_OS_RANK) -> float:
    """Threshold factor of a CFAR variant for ``n`` training cells and a requested ``pfa``.

    Parameters
    ----------
    kind : {"ca", "go", "so", "os"}
    pfa : float
        Requested probability of false alarm, in (0, 1).
    n : int
        Training cells.
    n_halves : (int, int), optional
        GO/SO: cells in the leading and lagging halves (default ``n // 2`` each).
    rank : float
        OS: rank fraction (:func:`os_rank`).

    Returns
    -------
    float
        Linear ``alpha``.

    Raises
    ------
    ValueError
        Unknown kind or bad arguments.
    """
    if kind == "ca":
        return ca_threshold_factor(n, pfa)
    if kind == "os":
        return os_threshold_factor(n, os_rank(n, rank), pfa)
    if kind in ("go", "so"):
        n1, n2 = (n // 2, n // 2) if n_halves is None else n_halves
        return go_so_threshold_factor(kind, n1, n2, pfa)
    raise ValueError(f"unknown CFAR kind {kind!r} (choose from {', '.join(CFAR_KINDS)})")


def db_to_power(x_db: np.ndarray) -> np.ndarray:
    """Linear power ``10^(x / 10)`` of a map in dB (float32 in, float32 out; float64 kept).

    CFAR needs linear power (the square-law detector's output), never dB.
    """
    x = np.asarray(x_db)
    dtype = np.float64 if x.dtype == np.float64 else np.float32
    return np.power(dtype(10.0), x.astype(dtype, copy=False) / dtype(10.0))


# ------------------------------------------------------------------------------------------------
# parameters
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CfarParams:
    """CFAR detector settings (1-D with one value per tuple, 2-D with two).

    Parameters
    ----------
    kind : {"ca", "go", "so", "os"}
        Noise estimate (module docstring).
    guard : tuple of int
        Guard cells on each side of the CUT, per axis in the map's axis order (2-D RD maps:
        ``(doppler, range)``).
    train : tuple of int
        Training cells on each side beyond the guard cells, per axis.
    pfa : float
        Requested probability of false alarm (used when ``threshold_db`` is None).
    threshold_db : float, optional
        Threshold above the noise estimate in dB, instead of ``pfa``.
    wrap : tuple of bool, optional
        Per axis: circular (True) or truncated (False) edges. Default ``(True, False)`` in 2-D
        (Doppler wraps, range is truncated) and ``(False,)`` in 1-D.
    rank : float
        OS: rank of the order statistic as a fraction of the training cells (Rohling: 3/4).
    split_axis : int
        GO/SO: index into the window's axes along which the training cells are split into leading
        and lagging halves (default the last: range).

    Raises
    ------
    ValueError
        Unknown kind, mismatched tuple lengths, negative sizes, no training cell, ``pfa``
        outside (0, 1), ``rank`` outside (0, 1].
    """

    kind: str = "ca"
    guard: tuple[int, ...] = (2, 2)
    train: tuple[int, ...] = (8, 4)
    pfa: float = 1e-4
    threshold_db: float | None = None
    wrap: tuple[bool, ...] | None = None
    rank: float = DEFAULT_OS_RANK
    split_axis: int = -1

    def __post_init__(self) -> None:
        if self.kind not in CFAR_KINDS:
            raise ValueError(f"unknown CFAR kind {self.kind!r} (choose from {', '.join(CFAR_KINDS)})")
        guard = tuple(int(g) for g in np.atleast_1d(self.guard))
        train = tuple(int(t) for t in np.atleast_1d(self.train))
        object.__setattr__(self, "guard", guard)
        object.__setattr__(self, "train", train)
        if len(guard) not in (1, 2) or len(train) != len(guard):
            raise ValueError(f"guard and train need one value per axis (1 or 2 axes), got guard="
                             f"{guard}, train={train}")
        if min(guard) < 0 or min(train) < 0:
            raise ValueError(f"guard and train cells must be >= 0, got {guard} and {train}")
        wrap = self.wrap
        if wrap is None:
            wrap = (True, False) if len(guard) == 2 else (False,)
        wrap = tuple(bool(w) for w in np.atleast_1d(wrap))
        if len(wrap) != len(guard):
            raise ValueError(f"wrap needs one value per axis, got {wrap}")
        object.__setattr__(self, "wrap", wrap)
        if self.threshold_db is None:
            _check_pfa(self.pfa)
        if not 0.0 < self.rank <= 1.0:
            raise ValueError(f"rank must be in (0, 1], got {self.rank}")
        if not -len(guard) <= self.split_axis < len(guard):
            raise ValueError(f"split_axis {self.split_axis} out of range for {len(guard)} axes")
        if all(t == 0 for t in train):
            raise ValueError("no training cells: give train > 0 on at least one axis")
        if self.kind in ("go", "so") and train[self.split_axis] == 0:
            raise ValueError(f"{self.kind.upper()}-CFAR splits the training cells along axis "
                             f"{self.split_axis}, which has none (train={train})")

    @property
    def ndim(self) -> int:
        """Number of axes of the window (1 or 2)."""
        return len(self.guard)

    def to_dict(self) -> dict:
        """Plain dictionary (JSON-serialisable) of the settings."""
        return {"kind": self.kind, "guard": list(self.guard), "train": list(self.train),
                "pfa": self.pfa, "threshold_db": self.threshold_db, "wrap": list(self.wrap),
                "rank": self.rank, "split_axis": self.split_axis}


# ------------------------------------------------------------------------------------------------
# training-cell counts and per-cell factors
# ------------------------------------------------------------------------------------------------
def _axis_counts(n: int, lo: int, hi: int, wrap: bool) -> np.ndarray:
    """Per position ``i``: how many of the offsets ``lo..hi`` (inclusive) land inside ``0..n-1``."""
    if hi < lo:
        return np.zeros(n, dtype=np.int64)
    if wrap:
        return np.full(n, hi - lo + 1, dtype=np.int64)
    i = np.arange(n)
    return np.maximum(np.minimum(i + hi, n - 1) - np.maximum(i + lo, 0) + 1, 0).astype(np.int64)


def training_cell_counts(shape: tuple[int, int], guard: tuple[int, int], train: tuple[int, int],
                         wrap: tuple[bool, bool], split_axis: int = 1
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Number of training cells of every CUT of a 2-D map, in total and per GO/SO half.

    Parameters
    ----------
    shape : (int, int)
        Map shape ``(n0, n1)``.
    guard, train : (int, int)
        Guard and training cells per side, per axis.
    wrap : (bool, bool)
        Circular (True) or truncated (False) edges per axis.
    split_axis : {0, 1}
        Axis along which the leading and lagging halves are split.

    Returns
    -------
    n_total, n_lead, n_lag : ndarray of int64, shape ``shape``
        Training cells; cells of the leading half (negative offsets along ``split_axis``) and of
        the lagging half (positive offsets).
    """
    h = [g + t for g, t in zip(guard, train, strict=True)]
    outer = [_axis_counts(n, -hh, hh, w) for n, hh, w in zip(shape, h, wrap, strict=True)]
    inner = [_axis_counts(n, -g, g, w) for n, g, w in zip(shape, guard, wrap, strict=True)]
    total = np.outer(outer[0], outer[1]) - np.outer(inner[0], inner[1])
    s, o = split_axis, 1 - split_axis
    n_s, h_s, g_s, w_s = shape[s], h[s], guard[s], wrap[s]
    halves = []
    for lo_out, hi_out, lo_in, hi_in in ((-h_s, -1, -g_s, -1), (1, h_s, 1, g_s)):
        out_s = _axis_counts(n_s, lo_out, hi_out, w_s)
        in_s = _axis_counts(n_s, lo_in, hi_in, w_s)
        pair_out = (outer[o], out_s) if s == 1 else (out_s, outer[o])
        pair_in = (inner[o], in_s) if s == 1 else (in_s, inner[o])
        halves.append(np.outer(*pair_out) - np.outer(*pair_in))
    return total, halves[0], halves[1]


@functools.lru_cache(maxsize=64)
def _cell_factors(shape: tuple[int, int], guard: tuple[int, int], train: tuple[int, int],
                  wrap: tuple[bool, bool], split_axis: int, kind: str, pfa: float | None,
                  threshold_db: float | None, rank: float
                  ) -> tuple[np.ndarray, ...]:
    """Per-cell ``(alpha, 1/n_a, 1/n_b, k)`` maps and the padded-index maps of both axes (all
    read-only), cached per map shape and settings.

    CA/OS: ``1/n_a = 1/N`` and ``n_b`` unused; GO/SO: ``1/n1`` and ``1/n2`` (0 for an empty half).
    ``alpha`` is NaN where a cell has no training cell (never detected). ``k`` (OS rank) is 0 for
    the other kinds.
    """
    total, lead, lag = training_cell_counts(shape, guard, train, wrap, split_axis)
    alpha = np.full(shape, np.nan)
    k_map = np.zeros(shape, dtype=np.int64)
    if kind in ("go", "so"):
        keys, inverse = np.unique(np.stack([lead.ravel(), lag.ravel()], 1), axis=0, return_inverse=True)
        values = np.full(len(keys), np.nan)
        for i, (a, b) in enumerate(keys):
            if a + b > 0:
                values[i] = (10.0 ** (threshold_db / 10.0) if threshold_db is not None
                             else go_so_threshold_factor(kind, int(a), int(b), pfa))
        alpha = values[inverse.ravel()].reshape(shape)
        inv_a = np.where(lead > 0, 1.0 / np.maximum(lead, 1), 0.0)
        inv_b = np.where(lag > 0, 1.0 / np.maximum(lag, 1), 0.0)
    else:
        keys, inverse = np.unique(total.ravel(), return_inverse=True)
        values = np.full(len(keys), np.nan)
        ranks = np.zeros(len(keys), dtype=np.int64)
        for i, n in enumerate(keys):
            if n < 1:
                continue
            if kind == "os":
                ranks[i] = os_rank(int(n), rank)
            if threshold_db is not None:
                values[i] = 10.0 ** (threshold_db / 10.0)
            elif kind == "ca":
                values[i] = ca_threshold_factor(int(n), pfa)
            else:
                values[i] = os_threshold_factor(int(n), int(ranks[i]), pfa)
        alpha = values[inverse.ravel()].reshape(shape)
        k_map = ranks[inverse.ravel()].reshape(shape)
        inv_a = np.where(total > 0, 1.0 / np.maximum(total, 1), 0.0)
        inv_b = np.zeros(shape)
    h = [g + t for g, t in zip(guard, train, strict=True)]
    out = (alpha, inv_a, inv_b, k_map, _source_index(shape[0], h[0], wrap[0]),
           _source_index(shape[1], h[1], wrap[1]))
    for arr in out:
        arr.setflags(write=False)
    return out


# ------------------------------------------------------------------------------------------------
# numba kernels
# ------------------------------------------------------------------------------------------------
def _source_index(n: int, h: int, wrap: bool) -> np.ndarray:
    """Map padded index ``0..n+2h-1`` to the source index (-1: outside a truncated edge)."""
    p = np.arange(n + 2 * h) - h
    if wrap:
        return np.mod(p, n).astype(np.int64)
    return np.where((p >= 0) & (p < n), p, -1).astype(np.int64)


@numba.njit(cache=True, nogil=True)
def _sat_cfar_kernel(x, src0, src1, geom, alpha, inv_a, inv_b, mask, noise,
                     write_noise):  # pragma: no cover - compiled
    # x: (B, n0, n1) power. src0/src1: padded index -> source index (-1: outside a truncated
    # edge, zero). geom: (g0, h0, g1, h1, mode, split) with mode 0 CA, 1 GO, 2 SO and split the
    # axis of the GO/SO halves. alpha, inv_a, inv_b: (n0, n1) per-cell factors (module notes).
    g0, h0, g1, h1, mode, split = geom[0], geom[1], geom[2], geom[3], geom[4], geom[5]
    nb, n0, n1 = x.shape
    p0 = n0 + 2 * h0
    p1 = n1 + 2 * h1
    sat = np.zeros((p0 + 1, p1 + 1), dtype=np.float64)  # sat[i, j] = sum of padded [:i, :j]
    # per output row: sums over a band of padded rows, for every padded column prefix
    band_a = np.empty(p1 + 1, dtype=np.float64)
    band_b = np.empty(p1 + 1, dtype=np.float64)
    band_c = np.empty(p1 + 1, dtype=np.float64)
    band_d = np.empty(p1 + 1, dtype=np.float64)
    for b in range(nb):
        for i in range(p0):  # summed-area table of the padded map
            si = src0[i]
            acc = 0.0
            if si >= 0:
                for j in range(p1):
                    sj = src1[j]
                    if sj >= 0:
                        acc += x[b, si, sj]
                    sat[i + 1, j + 1] = sat[i, j + 1] + acc
            else:
                for j in range(p1 + 1):
                    sat[i + 1, j] = sat[i, j]
        for i in range(n0):
            ci = i + h0  # padded row of the CUT
            if mode == 0 or split == 1:
                # band_a: outer rows i..i+2h0, band_b: guard rows ci-g0..ci+g0 (prefix over columns)
                for j in range(p1 + 1):
                    band_a[j] = sat[i + 2 * h0 + 1, j] - sat[i, j]
                    band_b[j] = sat[ci + g0 + 1, j] - sat[ci - g0, j]
            else:
                # split along rows: band_a/band_b leading outer/guard rows, band_c/band_d lagging
                for j in range(p1 + 1):
                    band_a[j] = sat[ci, j] - sat[i, j]
                    band_b[j] = sat[ci, j] - sat[ci - g0, j]
                    band_c[j] = sat[i + 2 * h0 + 1, j] - sat[ci + 1, j]
                    band_d[j] = sat[ci + g0 + 1, j] - sat[ci + 1, j]
            if mode == 0:
                for j in range(n1):
                    cj = j + h1
                    s = (band_a[j + 2 * h1 + 1] - band_a[j]) - (band_b[cj + g1 + 1] - band_b[cj - g1])
                    z = max(s * inv_a[i, j], 0.0)  # max: table rounding on an all-zero window
                    mask[b, i, j] = x[b, i, j] > alpha[i, j] * z  # False where alpha is NaN
                    if write_noise:
                        noise[b, i, j] = z
                continue
            for j in range(n1):
                cj = j + h1
                if split == 1:
                    lead = (band_a[cj] - band_a[j]) - (band_b[cj] - band_b[cj - g1])
                    lag = ((band_a[j + 2 * h1 + 1] - band_a[cj + 1])
                           - (band_b[cj + g1 + 1] - band_b[cj + 1]))
                else:
                    lead = (band_a[j + 2 * h1 + 1] - band_a[j]) - (band_b[cj + g1 + 1] - band_b[cj - g1])
                    lag = (band_c[j + 2 * h1 + 1] - band_c[j]) - (band_d[cj + g1 + 1] - band_d[cj - g1])
                za = max(lead * inv_a[i, j], 0.0)
                zb = max(lag * inv_b[i, j], 0.0)
                if inv_a[i, j] == 0.0:
                    z = zb
                elif inv_b[i, j] == 0.0:
                    z = za
                elif mode == 1:
                    z = max(za, zb)
                else:
                    z = min(za, zb)
                mask[b, i, j] = x[b, i, j] > alpha[i, j] * z
                if write_noise:
                    noise[b, i, j] = z


@numba.njit(cache=True, nogil=True, inline="always")
def _hist_update(fine, coarse, r, shift, delta):  # pragma: no cover - compiled
    fine[r] += delta
    coarse[r >> shift] += delta


@numba.njit(cache=True, nogil=True)
def _hist_kth(fine, coarse, k, n, shift):  # pragma: no cover - compiled
    # index of the k-th smallest (1-based) of the n counted ranks; scans from the nearer end
    if 2 * k <= n:
        cum = 0
        c = 0
        while cum + coarse[c] < k:
            cum += coarse[c]
            c += 1
        r = c << shift
        while True:
            cum += fine[r]
            if cum >= k:
                return r
            r += 1
    kk = n - k + 1  # the kk-th largest
    cum = 0
    c = coarse.size - 1
    while cum + coarse[c] < kk:
        cum += coarse[c]
        c -= 1
    r = min(((c + 1) << shift), fine.size) - 1
    while True:
        cum += fine[r]
        if cum >= kk:
            return r
        r -= 1


@numba.njit(cache=True, nogil=True)
def _os_cfar_kernel(x, geom, alpha, k_map, mask, noise, write_noise):  # pragma: no cover - compiled
    # Sliding rank filter over frame-wide ranks: each map's values are replaced by their rank in
    # the sorted map (exact, ties broken by position), and a two-level histogram of the ranks in
    # the training window (fine counts + buckets of 2^shift ranks) is updated as the window slides
    # along axis 1, so a step costs O(window height) updates and the k-th smallest one bucket scan.
    g0, h0, g1, h1, wrap0, wrap1 = geom[0], geom[1], geom[2], geom[3], geom[4], geom[5]
    nb, n0, n1 = x.shape
    m = n0 * n1
    shift = 0
    while (1 << (2 * shift)) < m:
        shift += 1
    n_coarse = ((m - 1) >> shift) + 1
    fine = np.zeros(m, dtype=np.int32)
    coarse = np.zeros(n_coarse, dtype=np.int32)
    rank = np.empty((n0, n1), dtype=np.int64)
    values = np.empty(m, dtype=np.float64)
    flat = np.empty(m, dtype=np.float64)
    rows = np.empty(2 * h0 + 1, dtype=np.int64)
    is_guard = np.empty(2 * h0 + 1, dtype=np.bool_)
    for b in range(nb):
        for i in range(n0):
            for j in range(n1):
                flat[i * n1 + j] = x[b, i, j]
        order = np.argsort(flat, kind="mergesort")
        for r in range(m):
            q = order[r]
            rank[q // n1, q % n1] = r
            values[r] = flat[q]
        for i in range(n0):
            n_rows = 0
            for di in range(-h0, h0 + 1):
                ii = i + di
                if wrap0:
                    ii = ii % n0
                elif ii < 0 or ii >= n0:
                    continue
                rows[n_rows] = ii
                is_guard[n_rows] = -g0 <= di <= g0
                n_rows += 1
            count = 0
            for j in range(n1):
                if j == 0:  # fill the window of column 0
                    for q in range(n_rows):
                        for dj in range(-h1, h1 + 1):
                            if is_guard[q] and -g1 <= dj <= g1:
                                continue
                            jj = dj
                            if wrap1:
                                jj = jj % n1
                            elif jj < 0 or jj >= n1:
                                continue
                            _hist_update(fine, coarse, rank[rows[q], jj], shift, 1)
                            count += 1
                else:  # slide by one column: (column, rows, +-1) changes, see _os notes
                    for step in range(4):
                        if step == 0:
                            jj, delta, guard_only = j - 1 - h1, -1, False
                        elif step == 1:
                            jj, delta, guard_only = j + h1, 1, False
                        elif step == 2:
                            jj, delta, guard_only = j - 1 - g1, 1, True
                        else:
                            jj, delta, guard_only = j + g1, -1, True
                        if wrap1:
                            jj = jj % n1
                        elif jj < 0 or jj >= n1:
                            continue
                        for q in range(n_rows):
                            if guard_only and not is_guard[q]:
                                continue
                            _hist_update(fine, coarse, rank[rows[q], jj], shift, delta)
                            count += delta
                k = k_map[i, j]
                if k == 0 or k > count:
                    mask[b, i, j] = False
                    if write_noise:
                        noise[b, i, j] = np.nan
                    continue
                z = values[_hist_kth(fine, coarse, k, count, shift)]
                mask[b, i, j] = x[b, i, j] > alpha[i, j] * z
                if write_noise:
                    noise[b, i, j] = z
            # empty the histogram: remove the last window's cells
            for q in range(n_rows):
                for dj in range(-h1, h1 + 1):
                    if is_guard[q] and -g1 <= dj <= g1:
                        continue
                    jj = n1 - 1 + dj
                    if wrap1:
                        jj = jj % n1
                    elif jj < 0 or jj >= n1:
                        continue
                    _hist_update(fine, coarse, rank[rows[q], jj], shift, -1)


# ------------------------------------------------------------------------------------------------
# public detectors
# ------------------------------------------------------------------------------------------------
def _run(x3: np.ndarray, params: CfarParams, guard: tuple[int, int], train: tuple[int, int],
         wrap: tuple[bool, bool], split: int, return_noise: bool) -> tuple[np.ndarray, np.ndarray]:
    nb, n0, n1 = x3.shape
    for ax, (n, g, t, w) in enumerate(zip((n0, n1), guard, train, wrap, strict=True)):
        if w and n < 2 * (g + t) + 1:
            raise ValueError(f"a wrapped axis needs >= 2 (guard + train) + 1 = {2 * (g + t) + 1} "
                             f"cells, axis {ax} has {n}")
    alpha, inv_a, inv_b, k_map, src0, src1 = _cell_factors(
        (n0, n1), guard, train, wrap, split, params.kind,
        None if params.threshold_db is not None else float(params.pfa),
        None if params.threshold_db is None else float(params.threshold_db), float(params.rank))
    mask = np.empty(x3.shape, dtype=np.bool_)
    noise = np.empty(x3.shape if return_noise else (1, 1, 1), dtype=np.float32)
    h0, h1 = guard[0] + train[0], guard[1] + train[1]
    if params.kind == "os":
        geom = np.array([guard[0], h0, guard[1], h1, wrap[0], wrap[1]], np.int64)
        _os_cfar_kernel(x3, geom, alpha, k_map, mask, noise, return_noise)
    else:
        geom = np.array([guard[0], h0, guard[1], h1, _KIND_CODE[params.kind], split], np.int64)
        _sat_cfar_kernel(x3, src0, src1, geom, alpha, inv_a, inv_b, mask, noise, return_noise)
    return mask, noise


def _as_power(power: np.ndarray) -> np.ndarray:
    x = np.asarray(power)
    if np.iscomplexobj(x):
        raise ValueError("CFAR needs linear power |X|^2 (real), got a complex array")
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    return x


def cfar_2d(power: np.ndarray, params: CfarParams | None = None, axes: tuple[int, int] = (-2, -1),
            return_noise: bool = False, **kwargs) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """2-D CFAR detection over two axes of a power map (e.g. Doppler x range), any batch axes.

    Parameters
    ----------
    power : ndarray of float32 or float64, shape (..., n0, ..., n1, ...)
        Linear power ``|X|^2`` (square-law detector output; convert dB with :func:`db_to_power`).
    params : CfarParams, optional
        Settings with 2-axis ``guard``/``train``/``wrap`` in the order of ``axes``. Default
        ``CfarParams()``: CA, guard ``(2, 2)``, train ``(8, 4)``, Pfa 1e-4, wrap ``(True, False)``.
    axes : (int, int)
        The two map axes (default the last two: ``(doppler, range)`` of an RD cube); all other
        axes (frames) are independent maps.
    return_noise : bool
        Also return the noise estimate ``Z`` of every cell.
    **kwargs
        Overrides of ``params`` fields (``kind="os"``, ``pfa=1e-3``, ...).

    Returns
    -------
    mask : ndarray of bool, same shape as ``power``
        True where the cell exceeds ``alpha * Z``.
    noise : ndarray of float32, same shape (only with ``return_noise``)
        ``Z`` (linear power): the training mean (CA), the larger/smaller half mean (GO/SO) or the
        ``k``-th smallest training cell (OS); NaN (OS) or 0 where a cell has no training cell.
        The SNR of a detection is ``power / Z`` for CA/GO/SO.

    Raises
    ------
    ValueError
        Complex input, bad axes, a 1-D ``params``, or a wrapped axis shorter than the window.

    References
    ----------
    See the module docstring (Finn & Johnson 1968; Rohling 1983; Gandhi & Kassam 1988).

    Examples
    --------
    >>> rd_power = np.random.default_rng(0).exponential(size=(4, 64, 256))  # (frame, doppler, range)
    >>> mask = cfar_2d(rd_power, CfarParams(kind="ca", guard=(2, 2), train=(8, 4), pfa=1e-4))
    """
    params = CfarParams() if params is None else params
    if kwargs:
        params = CfarParams(**{**params.__dict__, **kwargs})
    if params.ndim != 2:
        raise ValueError(f"cfar_2d needs 2-axis guard/train, got guard={params.guard}")
    x = _as_power(power)
    if x.ndim < 2:
        raise ValueError(f"cfar_2d needs at least 2 axes, got shape {x.shape}")
    a0, a1 = (int(a) % x.ndim for a in axes)
    if a0 == a1:
        raise ValueError(f"axes must differ, got {axes}")
    moved = np.moveaxis(x, (a0, a1), (-2, -1))
    batch_shape = moved.shape[:-2]
    x3 = np.ascontiguousarray(moved.reshape(-1, *moved.shape[-2:]))
    split = params.split_axis % 2
    mask, noise = _run(x3, params, params.guard, params.train, params.wrap, split, return_noise)
    mask = np.moveaxis(mask.reshape(*batch_shape, *moved.shape[-2:]), (-2, -1), (a0, a1))
    if not return_noise:
        return mask
    noise = np.moveaxis(noise.reshape(*batch_shape, *moved.shape[-2:]), (-2, -1), (a0, a1))
    return mask, noise


def cfar_1d(power: np.ndarray, params: CfarParams | None = None, axis: int = -1,
            return_noise: bool = False, **kwargs) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """1-D CFAR detection along one axis (e.g. range profiles, or Doppler with ``wrap=(True,)``).

    Parameters
    ----------
    power : ndarray of float32 or float64
        Linear power ``|X|^2``; every 1-D line along ``axis`` is processed independently.
    params : CfarParams, optional
        1-axis settings; default ``CfarParams(guard=(2,), train=(8,))``: CA, Pfa 1e-4, truncated
        edges.
    axis : int
        The axis to detect along.
    return_noise : bool
        Also return the noise estimate ``Z`` (see :func:`cfar_2d`).
    **kwargs
        Overrides of ``params`` fields; ``guard``/``train``/``wrap`` may be scalars.

    Returns
    -------
    mask : ndarray of bool, same shape as ``power``
    noise : ndarray of float32, same shape (only with ``return_noise``)

    Raises
    ------
    ValueError
        Complex input, a 2-D ``params``, or a wrapped axis shorter than the window.

    References
    ----------
    See the module docstring; M. A. Richards, "Fundamentals of Radar Signal Processing", ch. 7.
    """
    base = CfarParams(guard=(2,), train=(8,)) if params is None else params
    if kwargs:
        base = CfarParams(**{**base.__dict__, **kwargs})
    if base.ndim != 1:
        raise ValueError(f"cfar_1d needs 1-axis guard/train, got guard={base.guard}")
    x = _as_power(power)
    ax = int(axis) % max(x.ndim, 1)
    moved = np.moveaxis(x, ax, -1)
    x3 = np.ascontiguousarray(moved.reshape(-1, 1, moved.shape[-1]))
    mask, noise = _run(x3, base, (0, base.guard[0]), (0, base.train[0]), (False, base.wrap[0]), 1,
                       return_noise)
    mask = np.moveaxis(mask.reshape(moved.shape), -1, ax)
    if not return_noise:
        return mask
    return mask, np.moveaxis(noise.reshape(moved.shape), -1, ax)


def cfar(power: np.ndarray, params: CfarParams | None = None, axes: tuple[int, ...] = (-2, -1),
         return_noise: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """CFAR with a :class:`CfarParams` of 1 or 2 axes: :func:`cfar_1d` or :func:`cfar_2d`.

    Parameters
    ----------
    power : ndarray
        Linear power.
    params : CfarParams, optional
        Default 2-D CA (``CfarParams()``).
    axes : tuple of int
        The map axes; for 1-D settings the last of them is used.
    return_noise : bool
        Also return the noise estimate.

    Returns
    -------
    mask or (mask, noise)
        As :func:`cfar_2d`.
    """
    params = CfarParams() if params is None else params
    if params.ndim == 1:
        return cfar_1d(power, params, axis=axes[-1], return_noise=return_noise)
    return cfar_2d(power, params, axes=tuple(axes[-2:]), return_noise=return_noise)
