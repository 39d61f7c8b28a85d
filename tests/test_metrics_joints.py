"""MPJPE / PCK on hand-computed cases, and the Friedman + post-hoc statistics."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from radarkit.metrics.joints import joint_distances, mpjpe, mpjpe_per_joint, pck, pck_per_joint
from radarkit.metrics.stats import compare_methods, effect_label, fold_table

# Two frames of three 2-D joints; errors (3-4-5 triangles and axis offsets) are known by hand.
TARGET = np.zeros((2, 3, 2))
PRED = np.array([[[0.03, 0.04], [0.0, 0.0], [0.06, 0.08]],     # 0.05, 0.00, 0.10
                 [[0.0, 0.02], [0.0, 0.07], [0.0, -0.01]]])    # 0.02, 0.07, 0.01


def test_joint_distances_and_mpjpe_hand_computed():
    d = joint_distances(PRED, TARGET)
    np.testing.assert_allclose(d, [[0.05, 0.0, 0.10], [0.02, 0.07, 0.01]], atol=1e-12)
    assert mpjpe(PRED, TARGET) == pytest.approx((0.05 + 0.0 + 0.10 + 0.02 + 0.07 + 0.01) / 6)
    np.testing.assert_allclose(mpjpe_per_joint(PRED, TARGET), [0.035, 0.035, 0.055], atol=1e-12)


def test_mpjpe_3d_and_translation_invariance_of_the_error():
    target = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    pred = target + np.array([[0.1, 0.2, 0.2], [0.0, 0.0, -0.3]])  # |.| = 0.3 and 0.3
    assert mpjpe(pred, target) == pytest.approx(0.3)
    assert mpjpe(pred + 5.0, target + 5.0) == pytest.approx(0.3)


def test_pck_at_5cm_hand_computed():
    # errors 0.05 (on the threshold: correct), 0, 0.10, 0.02, 0.07, 0.01 -> 4 of 6 within 5 cm
    assert pck(PRED, TARGET, 0.05) == pytest.approx(4 / 6)
    assert pck(PRED, TARGET, 0.049) == pytest.approx(3 / 6)
    assert pck(PRED, TARGET, 0.10) == 1.0
    np.testing.assert_allclose(pck_per_joint(PRED, TARGET, 0.05), [1.0, 0.5, 0.5])


def test_visibility_mask_leaves_joints_out():
    vis = np.array([[True, True, False], [True, False, True]])
    assert mpjpe(PRED, TARGET, vis) == pytest.approx((0.05 + 0.0 + 0.02 + 0.01) / 4)
    assert pck(PRED, TARGET, 0.05, vis) == 1.0
    per = mpjpe_per_joint(PRED, TARGET, np.array([[True, True, False], [True, True, False]]))
    assert per[0] == pytest.approx(0.035) and np.isnan(per[2])
    assert np.isnan(mpjpe(PRED, TARGET, np.zeros((2, 3), bool)))


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="differ"):
        mpjpe(PRED, TARGET[:1])
    with pytest.raises(ValueError, match="joint, 2\\|3"):
        pck(np.zeros((3, 4)), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="visible"):
        mpjpe(PRED, TARGET, np.ones((2, 2), bool))
    with pytest.raises(ValueError, match="threshold"):
        pck(PRED, TARGET, -1.0)


# ------------------------------------------------------------------ statistics


def _folds(seed: int, n: int = 9) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    base = rng.normal(0.04, 0.005, n)  # per-person difficulty shared by all methods
    return {"ours": base - 0.008 + rng.normal(0, 0.001, n),
            "b1": base + rng.normal(0, 0.001, n),
            "b2": base + 0.002 + rng.normal(0, 0.001, n)}


def test_friedman_then_bonferroni_paired_t():
    per_fold = _folds(0)
    res = compare_methods(per_fold, reference="ours")
    fr = stats.friedmanchisquare(*per_fold.values())
    assert res.friedman_p == pytest.approx(fr.pvalue) and res.friedman_p < 0.05
    assert res.parametric and all(p >= 0.05 for p in res.shapiro_p.values())
    assert [(t.method_a, t.method_b) for t in res.pairwise] == [("ours", "b1"), ("ours", "b2")]
    for t in res.pairwise:
        diff = per_fold["ours"] - per_fold[t.method_b]
        assert t.test == "paired-t"
        assert t.p_value == pytest.approx(stats.ttest_rel(per_fold["ours"], per_fold[t.method_b]).pvalue)
        assert t.p_corrected == pytest.approx(min(1.0, 2 * t.p_value))  # two comparisons
        assert t.effect_size == pytest.approx(diff.mean() / diff.std(ddof=1))  # Cohen's d_z
        assert t.effect == "large" and t.mean_difference < 0
    all_pairs = compare_methods(per_fold)
    assert len(all_pairs.pairwise) == 3
    assert all(t.p_corrected == pytest.approx(min(1.0, 3 * t.p_value)) for t in all_pairs.pairwise)


def test_non_normal_folds_switch_to_wilcoxon():
    per_fold = _folds(1)
    per_fold["b1"] = per_fold["b1"].copy()
    per_fold["b1"][0] += 0.2  # one outlier fold: Shapiro-Wilk rejects normality
    res = compare_methods(per_fold, reference="ours")
    assert res.shapiro_p["b1"] < 0.05 and not res.parametric
    t = res.pairwise[0]
    w = stats.wilcoxon(per_fold["ours"], per_fold["b1"])
    assert t.test == "wilcoxon" and t.p_value == pytest.approx(w.pvalue)
    assert t.effect_size == pytest.approx(stats.norm.isf(w.pvalue / 2) / np.sqrt(9))


def test_no_posthoc_when_friedman_is_not_significant():
    rng = np.random.default_rng(3)
    per_fold = {m: rng.normal(0.04, 0.005, 6) for m in ("a", "b", "c")}
    res = compare_methods(per_fold)
    assert res.friedman_p >= 0.05 and res.pairwise == ()


def test_two_methods_go_straight_to_the_pairwise_test():
    per_fold = {k: v for k, v in _folds(2).items() if k in ("ours", "b1")}
    res = compare_methods(per_fold)
    assert np.isnan(res.friedman_p) and len(res.pairwise) == 1
    assert res.pairwise[0].p_corrected == pytest.approx(res.pairwise[0].p_value)


def test_effect_labels_and_bad_inputs():
    assert [effect_label(v, "d") for v in (0.1, 0.3, 0.6, -0.9)] == ["negligible", "small", "medium", "large"]
    assert [effect_label(v, "r") for v in (0.05, 0.2, 0.4, 0.7)] == ["negligible", "small", "medium", "large"]
    with pytest.raises(ValueError, match="same folds"):
        compare_methods({"a": [1, 2, 3], "b": [1, 2]})
    with pytest.raises(ValueError, match="reference"):
        compare_methods({"a": [1, 2, 3], "b": [1, 2, 4]}, reference="c")


def test_fold_table_mean_and_sd_row():
    table = fold_table({"MAEPose": [0.02, 0.03, 0.04], "HuPR": [0.03, 0.04, 0.05]},
                       fold_names=["P1", "P2", "P3"], title="left out")
    lines = table.splitlines()
    assert lines[0] == "| left out | MAEPose | HuPR |"
    assert lines[2] == "| P1 | 0.0200 | 0.0300 |"
    assert lines[-1] == "| mean +- sd | 0.0300 +- 0.0100 | 0.0400 +- 0.0100 |"
    with pytest.raises(ValueError, match="fold names"):
        fold_table({"a": [1.0, 2.0]}, fold_names=["x"])
