"""Procrustes alignment and MPJPE / root-aligned MPJPE / PA-MPJPE in millimetres."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from radarkit.metrics.procrustes import (
    mpjpe_mm,
    pa_mpjpe_mm,
    procrustes_align,
    root_aligned_mpjpe_mm,
    similarity_transform,
)


def _poses(rng: np.random.Generator, n: int = 8, joints: int = 17) -> np.ndarray:
    """Random body-sized poses in metres: joints spread about 0.5 m around a point 3 m away."""
    return rng.normal(0.0, 0.3, (n, joints, 3)) + np.array([0.2, 3.0, 0.9])


def test_mpjpe_of_a_known_offset_is_that_offset_in_mm():
    rng = np.random.default_rng(0)
    target = _poses(rng)
    pred = target + np.array([0.03, 0.0, 0.04])  # 5 cm everywhere
    assert mpjpe_mm(pred, target) == pytest.approx(50.0, abs=1e-9)
    assert root_aligned_mpjpe_mm(pred, target, root=0) == pytest.approx(0.0, abs=1e-9)
    assert pa_mpjpe_mm(pred, target) == pytest.approx(0.0, abs=1e-9)


def test_pa_mpjpe_is_invariant_to_a_similarity_transform_of_the_prediction():
    rng = np.random.default_rng(1)
    target = _poses(rng)
    pred = target + rng.normal(0.0, 0.04, target.shape)  # a noisy estimate, about 60 mm off
    base = pa_mpjpe_mm(pred, target, reduce=False)
    assert np.all(base > 10.0)
    rot = Rotation.random(len(pred), random_state=2).as_matrix()  # (n, 3, 3), one per pose
    scale = rng.uniform(0.5, 2.0, len(pred))
    shift = rng.normal(0.0, 1.0, (len(pred), 1, 3))
    moved = scale[:, None, None] * np.einsum("njc,ndc->njd", pred, rot) + shift
    assert mpjpe_mm(moved, target) > 5 * mpjpe_mm(pred, target)  # the plain error does change
    np.testing.assert_allclose(pa_mpjpe_mm(moved, target, reduce=False), base, rtol=1e-9, atol=1e-9)


def test_alignment_recovers_the_transform_exactly():
    rng = np.random.default_rng(3)
    pred = _poses(rng, n=5)
    rot = Rotation.random(5, random_state=4).as_matrix()
    s = rng.uniform(0.3, 3.0, 5)
    t = rng.normal(0.0, 2.0, (5, 3))
    target = s[:, None, None] * (pred @ rot) + t[:, None, :]
    s_hat, rot_hat, t_hat = similarity_transform(pred, target)
    np.testing.assert_allclose(s_hat, s, rtol=1e-10)
    np.testing.assert_allclose(rot_hat, rot, atol=1e-10)
    np.testing.assert_allclose(t_hat, t, atol=1e-9)
    np.testing.assert_allclose(np.linalg.det(rot_hat), 1.0, atol=1e-12)


def test_a_mirror_image_is_not_aligned_by_a_reflection():
    rng = np.random.default_rng(5)
    target = _poses(rng, n=1)
    mirrored = target * np.array([-1.0, 1.0, 1.0])  # left-right mirror: not a rotation
    _, rot, _ = similarity_transform(mirrored, target)
    assert np.linalg.det(rot[0]) == pytest.approx(1.0)
    assert pa_mpjpe_mm(mirrored, target) > 1.0


def test_alignment_is_a_least_squares_optimum():
    """Small perturbations of the fitted scale, rotation or translation never lower the error."""
    rng = np.random.default_rng(6)
    target = _poses(rng, n=1)[0]
    pred = target + rng.normal(0.0, 0.05, target.shape)
    s, rot, t = similarity_transform(pred, target)

    def sse(s_, rot_, t_):
        return float(np.sum((s_ * pred @ rot_ + t_ - target) ** 2))

    best = sse(s, rot, t)
    assert np.sum((procrustes_align(pred, target) - target) ** 2) == pytest.approx(best)
    for k in range(20):
        d_rot = Rotation.from_rotvec(rng.normal(0, 0.01, 3)).as_matrix()
        assert sse(s * (1 + rng.normal(0, 0.01)), rot @ d_rot, t + rng.normal(0, 0.005, 3)) >= best
        assert sse(s, rot, t + rng.normal(0, 0.005, 3)) >= best, k


def test_root_alignment_removes_translation_only():
    rng = np.random.default_rng(7)
    target = _poses(rng)
    pred = target + rng.normal(0.0, 0.02, target.shape)
    moved = pred + rng.normal(0.0, 1.0, (len(pred), 1, 3))
    assert root_aligned_mpjpe_mm(moved, target, root=(11, 12)) == pytest.approx(
        root_aligned_mpjpe_mm(pred, target, root=(11, 12)))
    # A rotation about the root is not removed.
    rot = Rotation.from_euler("z", 30, degrees=True).as_matrix()
    turned = (pred - pred[:, :1]) @ rot + pred[:, :1]
    assert root_aligned_mpjpe_mm(turned, target, root=0) > root_aligned_mpjpe_mm(pred, target) + 20
    with pytest.raises(ValueError, match="out of range"):
        root_aligned_mpjpe_mm(pred, target, root=17)


def test_shape_errors_and_per_pose_output():
    rng = np.random.default_rng(8)
    target = _poses(rng, n=4)
    with pytest.raises(ValueError, match="differ"):
        mpjpe_mm(target[:, :16], target)
    with pytest.raises(ValueError, match="joint"):
        mpjpe_mm(target[..., :1], target[..., :1])
    per_pose = mpjpe_mm(target + 0.001, target, reduce=False)
    assert per_pose.shape == (4,)
    np.testing.assert_allclose(per_pose, 1000 * np.sqrt(3) * 0.001)
