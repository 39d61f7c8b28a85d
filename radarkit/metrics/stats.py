"""Statistical comparison of methods over cross-validation folds, and a per-fold table.

The procedure of MAEPose ([1]_ section 4.4), built on :mod:`scipy.stats`:

1. Friedman omnibus test (non-parametric repeated-measures ANOVA) over all methods, the folds being
   the blocks ([2]_). Post-hoc tests follow only when its p-value is below ``alpha`` (or when there are
   only two methods, for which the Friedman test is not defined).
2. Normality of each method's per-fold values by the Shapiro-Wilk test (the paper's practical proxy for
   normality of the paired differences). When every method passes (p >= ``normality_alpha``):
   paired t-tests with Cohen's d_z (mean difference / standard deviation of the differences) as the
   effect size; otherwise two-sided Wilcoxon signed-rank tests with ``r = Z / sqrt(n)``, ``Z`` the
   standard-normal quantile of the two-sided p-value.
3. Bonferroni correction: each pairwise p-value is multiplied by the number of comparisons ``m``
   (capped at 1). Comparisons are every pair of methods, or, with a ``reference`` method, the
   reference against each other method (as the paper's tables report p-values against MAEPose).

Effect sizes are labelled after Cohen ([3]_): d 0.2 / 0.5 / 0.8 and r 0.1 / 0.3 / 0.5 separate
negligible / small / medium / large.

References
----------
.. [1] "MAEPose: Self-Supervised Spatiotemporal Learning for Human Pose Estimation on mmWave Video"
   (``shared/papers/maepose.txt``), section 4.4.
.. [2] M. Friedman, "The use of ranks to avoid the assumption of normality implicit in the analysis of
   variance", JASA 32(200), 1937.
.. [3] J. Cohen, "Statistical Power Analysis for the Behavioral Sciences", 2nd ed., 1988.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["PairwiseTest", "Comparison", "compare_methods", "effect_label", "fold_table"]


@dataclass(frozen=True)
class PairwiseTest:
    """One post-hoc comparison of two methods over the same folds.

    Attributes
    ----------
    method_a, method_b : str
        Compared methods (``method_a`` is the reference when one is given).
    test : str
        ``"paired-t"`` or ``"wilcoxon"``.
    statistic : float
        t statistic, or the Wilcoxon signed-rank statistic.
    p_value : float
        Uncorrected two-sided p-value.
    p_corrected : float
        Bonferroni-corrected p-value ``min(1, m p)``.
    effect_size : float
        Cohen's d_z (signed, ``a - b``) for t-tests, ``r = Z / sqrt(n)`` (>= 0) for Wilcoxon.
    effect : str
        ``"negligible"``, ``"small"``, ``"medium"`` or ``"large"``.
    mean_difference : float
        Mean over folds of ``a - b``.
    """

    method_a: str
    method_b: str
    test: str
    statistic: float
    p_value: float
    p_corrected: float
    effect_size: float
    effect: str
    mean_difference: float


@dataclass(frozen=True)
class Comparison:
    """Result of :func:`compare_methods`.

    Attributes
    ----------
    methods : tuple of str
        Methods in column order.
    friedman_statistic, friedman_p : float
        Friedman chi-square and p-value (NaN with fewer than three methods).
    shapiro_p : dict of str to float
        Shapiro-Wilk p-value of each method's per-fold values (NaN with fewer than 3 folds).
    parametric : bool
        Whether the post-hoc tests are paired t-tests (all methods passed the normality check).
    pairwise : tuple of PairwiseTest
        Post-hoc comparisons; empty when the Friedman test is not significant.
    """

    methods: tuple[str, ...]
    friedman_statistic: float
    friedman_p: float
    shapiro_p: dict[str, float]
    parametric: bool
    pairwise: tuple[PairwiseTest, ...]


def effect_label(value: float, kind: str) -> str:
    """Cohen's category of an effect size ([3]_).

    Parameters
    ----------
    value : float
        Effect size (its absolute value is used).
    kind : {"d", "r"}
        Cohen's d (thresholds 0.2, 0.5, 0.8) or correlation r (0.1, 0.3, 0.5).

    Returns
    -------
    str
        ``"negligible"``, ``"small"``, ``"medium"`` or ``"large"``.

    Raises
    ------
    ValueError
        Unknown ``kind``.
    """
    cuts = {"d": (0.2, 0.5, 0.8), "r": (0.1, 0.3, 0.5)}
    if kind not in cuts:
        raise ValueError(f"kind must be 'd' or 'r', got {kind!r}")
    v = abs(value)
    if not np.isfinite(v):
        return "large" if v == np.inf else "negligible"
    small, medium, large = cuts[kind]
    return "large" if v >= large else "medium" if v >= medium else "small" if v >= small else "negligible"


def _scores(per_fold: Mapping[str, Sequence[float]]) -> tuple[tuple[str, ...], np.ndarray]:
    methods = tuple(per_fold)
    if len(methods) < 2:
        raise ValueError(f"need at least two methods to compare, got {len(methods)}")
    cols = [np.asarray(per_fold[m], dtype=np.float64).ravel() for m in methods]
    n = {c.size for c in cols}
    if len(n) != 1:
        raise ValueError(f"every method needs the same folds; fold counts {sorted(n)}")
    scores = np.stack(cols, axis=1)
    if scores.shape[0] < 2:
        raise ValueError("need at least two folds")
    if not np.all(np.isfinite(scores)):
        raise ValueError("per-fold values must be finite")
    return methods, scores


def compare_methods(per_fold: Mapping[str, Sequence[float]], reference: str | None = None,
                    alpha: float = 0.05, normality_alpha: float = 0.05) -> Comparison:
    """Friedman test, then Bonferroni-corrected paired t or Wilcoxon tests ([1]_ section 4.4).

    Parameters
    ----------
    per_fold : mapping of str to sequence of float
        Per-method metric values, one per fold, the folds in the same order for every method
        (e.g. MPJPE in m of each leave-one-person-out fold).
    reference : str, optional
        Compare this method against each other one (``m = k - 1`` comparisons); all pairs
        (``m = k (k - 1) / 2``) when omitted.
    alpha : float
        Significance level of the Friedman test gating the post-hoc tests.
    normality_alpha : float
        Shapiro-Wilk level: all methods with p >= this use paired t-tests, else Wilcoxon.

    Returns
    -------
    Comparison
        Omnibus and post-hoc results.

    Raises
    ------
    ValueError
        Fewer than two methods or two folds, unequal fold counts, non-finite values, unknown reference.
    """
    methods, scores = _scores(per_fold)
    if reference is not None and reference not in methods:
        raise ValueError(f"reference {reference!r} is not one of {methods}")
    n_folds, k = scores.shape
    if k >= 3:
        fr = stats.friedmanchisquare(*scores.T)
        f_stat, f_p = float(fr.statistic), float(fr.pvalue)
    else:
        f_stat, f_p = float("nan"), float("nan")
    shapiro = {}
    for m, col in zip(methods, scores.T, strict=True):
        # Shapiro-Wilk needs 3 values; a constant column is as normal as it gets for this purpose.
        shapiro[m] = (float(stats.shapiro(col).pvalue) if n_folds >= 3 and np.ptp(col) > 0
                      else float("nan") if n_folds < 3 else 1.0)
    parametric = all(np.isfinite(p) and p >= normality_alpha for p in shapiro.values())
    if k >= 3 and not f_p < alpha:
        return Comparison(methods, f_stat, f_p, shapiro, parametric, ())
    if reference is None:
        pairs = list(itertools.combinations(range(k), 2))
    else:
        r = methods.index(reference)
        pairs = [(r, j) for j in range(k) if j != r]
    out = []
    for i, j in pairs:
        a, b = scores[:, i], scores[:, j]
        diff = a - b
        if parametric:
            res = stats.ttest_rel(a, b)
            sd = diff.std(ddof=1)
            if sd > 0:
                d = float(diff.mean() / sd)
            else:  # identical differences in every fold
                d = 0.0 if diff.mean() == 0 else float(np.sign(diff.mean()) * np.inf)
            test, stat, p, eff, kind = "paired-t", float(res.statistic), float(res.pvalue), d, "d"
        else:
            if np.all(diff == 0):
                stat, p = 0.0, 1.0
            else:
                res = stats.wilcoxon(a, b, alternative="two-sided")
                stat, p = float(res.statistic), float(res.pvalue)
            z = float(stats.norm.isf(p / 2.0))
            eff, test, kind = z / np.sqrt(n_folds), "wilcoxon", "r"
        if not np.isfinite(p):
            p = 1.0
        out.append(PairwiseTest(methods[i], methods[j], test, stat, p, min(1.0, p * len(pairs)), eff,
                                effect_label(eff, kind), float(diff.mean())))
    return Comparison(methods, f_stat, f_p, shapiro, parametric, tuple(out))


def fold_table(per_fold: Mapping[str, Sequence[float]], fold_names: Sequence[str] | None = None,
               fmt: str = "{:.4f}", title: str = "fold") -> str:
    """Markdown table of per-fold values with a mean +- standard deviation row.

    Parameters
    ----------
    per_fold : mapping of str to sequence of float
        Per-method (columns) values, one per fold (rows).
    fold_names : sequence of str, optional
        Row labels (e.g. the left-out person); ``0, 1, ...`` when omitted.
    fmt : str
        Format of each value.
    title : str
        Header of the first column.

    Returns
    -------
    str
        Markdown table; the last row is ``mean +- sd`` with the sample standard deviation (ddof 1).

    Raises
    ------
    ValueError
        Unequal fold counts or a ``fold_names`` of the wrong length.
    """
    methods = tuple(per_fold)
    cols = [np.asarray(per_fold[m], dtype=np.float64).ravel() for m in methods]
    n = {c.size for c in cols}
    if len(n) != 1:
        raise ValueError(f"every method needs the same folds; fold counts {sorted(n)}")
    n_folds = n.pop()
    names = [str(i) for i in range(n_folds)] if fold_names is None else [str(f) for f in fold_names]
    if len(names) != n_folds:
        raise ValueError(f"{len(names)} fold names for {n_folds} folds")
    lines = ["| " + " | ".join((title, *methods)) + " |", "|" + "---|" * (len(methods) + 1)]
    for r, name in enumerate(names):
        lines.append("| " + " | ".join([name] + [fmt.format(c[r]) for c in cols]) + " |")
    summary = []
    for c in cols:
        sd = c.std(ddof=1) if c.size > 1 else 0.0
        summary.append(f"{fmt.format(c.mean())} +- {fmt.format(sd)}")
    lines.append("| " + " | ".join(["mean +- sd", *summary]) + " |")
    return "\n".join(lines)
