"""Ground-truth mmJoints descriptors (eq. 1-3), dataset statistics, sMAPE and wMAPE on hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from radarkit.metrics.descriptors import (
    PAPER_D0_M,
    DescriptorStats,
    descriptor_statistics,
    ground_truth_descriptors,
    reliability_score,
    sensing_score,
    signal_strength,
    signal_strengths,
    smape,
    torso_length,
    wmape,
)
from radarkit.skeleton import COCO17, HUPR14


def _hupr_pose(neck_z: float = 1.5, hip_z: float = 1.0, y: float = 3.0) -> np.ndarray:
    pose = np.zeros((HUPR14.n_joints, 3))
    pose[:, 1] = y
    pose[HUPR14.index("Neck")] = (0.0, y, neck_z)
    pose[HUPR14.index("L_Hip")] = (-0.1, y, hip_z)
    pose[HUPR14.index("R_Hip")] = (0.1, y, hip_z)
    return pose


def test_signal_strength_hand_computed():
    pose = np.array([[0.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    # intensity 1 at 0.5 m and 3 at 2 m from joint 0
    points = np.array([[0.5, 0.0, 0.0, 1.0], [0.0, 0.0, 2.0, 3.0]])
    psi = signal_strength(points, pose)
    assert psi[0] == pytest.approx(1.0 / 0.25 + 3.0 / 4.0)
    d1a, d1b = 0.25 + 4.0, 4.0 + 4.0  # squared distances to joint 1
    assert psi[1] == pytest.approx(1.0 / d1a + 3.0 / d1b)


def test_signal_strength_floor_empty_cloud_and_intensity_column():
    pose = np.zeros((1, 3))
    on_joint = np.array([[0.0, 0.0, 0.0, 2.0]])
    assert signal_strength(on_joint, pose, min_distance_m=0.1)[0] == pytest.approx(2.0 / 0.01)
    assert signal_strength(np.zeros((0, 4)), pose)[0] == 0.0
    # MM-Fi layout: x, y, z, Doppler, intensity
    mmfi = np.array([[1.0, 0.0, 0.0, -0.7, 5.0]])
    assert signal_strength(mmfi, pose, intensity_column=4)[0] == pytest.approx(5.0)
    with pytest.raises(ValueError):
        signal_strength(np.zeros((3, 3)), pose)


def test_signal_strengths_per_frame():
    poses = np.zeros((2, 1, 3))
    clouds = [np.array([[1.0, 0.0, 0.0, 1.0]]), np.array([[2.0, 0.0, 0.0, 8.0], [0.0, 1.0, 0.0, 1.0]])]
    np.testing.assert_allclose(signal_strengths(clouds, poses), [[1.0], [2.0 + 1.0]])
    with pytest.raises(ValueError):
        signal_strengths(clouds[:1], poses)


def test_sensing_score_eq1():
    assert sensing_score(7.0, 7.0) == pytest.approx(0.5)
    assert sensing_score(7.0 + math.log(3.0), 7.0) == pytest.approx(0.75)
    assert sensing_score(7.0 + 2 * math.log(3.0), 7.0, scale=2.0) == pytest.approx(0.75)
    xi = sensing_score(np.linspace(0, 20, 50), 10.0)
    assert np.all(np.diff(xi) > 0) and np.all((xi > 0) & (xi < 1))


def test_reliability_score_eq2_eq3():
    d0 = 0.5
    assert reliability_score(0.0, d0) == 1.0
    d = np.linspace(0.0, 1.0, 101)
    kappa = reliability_score(d, d0)
    assert np.all(np.diff(kappa) < 0), "kappa must fall as D grows"
    # at half the torso length: f = 1 - sigmoid(0) = 0.5, f(0) = 1 - sigmoid(-25) (distances in cm)
    assert reliability_score(0.25, d0) == pytest.approx(0.5 / (1.0 - 1.0 / (1.0 + math.exp(25.0))))
    # hand-computed at D = 30 cm: f = 1 - sigmoid(5)
    expected = (1.0 - 1.0 / (1.0 + math.exp(-5.0))) / (1.0 - 1.0 / (1.0 + math.exp(25.0)))
    assert reliability_score(0.30, d0) == pytest.approx(expected, rel=1e-12)
    far = reliability_score(100.0, d0)
    assert 0.0 <= far < 1e-100 and np.isfinite(far)
    # the paper's D0 = 20 (cm): kappa(10 cm) = 0.5 / f(0)
    assert reliability_score(0.10, PAPER_D0_M) == pytest.approx(0.5 / (1.0 - 1.0 / (1.0 + math.exp(10.0))))


def test_torso_length_hupr_and_coco():
    assert torso_length(_hupr_pose(), HUPR14) == pytest.approx(0.5)
    coco = np.zeros((COCO17.n_joints, 3))
    coco[COCO17.index("L_Shoulder")] = (-0.2, 0.0, 1.6)
    coco[COCO17.index("R_Shoulder")] = (0.2, 0.0, 1.4)
    coco[COCO17.index("L_Hip")] = (-0.1, 0.0, 1.0)
    coco[COCO17.index("R_Hip")] = (0.1, 0.0, 1.0)
    assert torso_length(coco[None], "coco17")[0] == pytest.approx(0.5)
    with pytest.raises(ValueError):
        torso_length(np.zeros((3, 3)), HUPR14)


def test_descriptor_statistics_and_ground_truth():
    poses = np.stack([_hupr_pose(neck_z=1.5), _hupr_pose(neck_z=1.7)])  # torso 0.5 and 0.7 m
    clouds = [np.array([[0.0, 3.0, 1.5, 1.0]]), np.zeros((0, 4))]
    stats = descriptor_statistics(clouds, poses, HUPR14)
    psi = signal_strengths(clouds, poses)
    assert stats.mean_psi == pytest.approx(psi.mean())
    assert stats.std_psi == pytest.approx(psi.std())
    assert stats.d0_m == pytest.approx(0.6)

    gt = poses[0]
    pred = gt.copy()
    wrist = HUPR14.index("R_Wrist")
    pred[wrist] += (0.0, 0.0, 0.30)
    xi, kappa = ground_truth_descriptors(clouds[0], pred, gt, stats)
    np.testing.assert_allclose(xi, sensing_score(psi[0], stats.mean_psi))  # from the ground-truth joints
    expected = reliability_score(0.30, 0.6)
    assert kappa[wrist] == pytest.approx(expected)
    assert np.all(np.delete(kappa, wrist) == 1.0)
    with pytest.raises(ValueError):
        ground_truth_descriptors(clouds[0], pred[:3], gt, stats)


def test_descriptor_stats_is_frozen():
    stats = DescriptorStats(1.0, 0.5, 0.5)
    with pytest.raises(AttributeError):
        stats.d0_m = 1.0  # type: ignore[misc]


def test_smape_wmape_hand_computed():
    pred, target = np.array([1.0, 2.0]), np.array([2.0, 2.0])
    assert smape(pred, target) == pytest.approx(100.0 / 2 * (1.0 / 1.5))
    assert wmape(pred, target) == pytest.approx(25.0)
    assert smape(np.zeros(3), np.zeros(3)) == 0.0
    assert smape(np.array([0.0]), np.array([1.0])) == pytest.approx(200.0)
    rng = np.random.default_rng(0)
    a, b = rng.random((4, 5)), rng.random((4, 5))
    assert smape(a, b) == pytest.approx(smape(b, a))  # symmetric
    np.testing.assert_allclose(smape(a, b, axis=0), [smape(a[:, j], b[:, j]) for j in range(5)])
    np.testing.assert_allclose(wmape(a, b, axis=1),
                               [100 * np.abs(a[i] - b[i]).sum() / b[i].sum() for i in range(4)])
