"""mmJoints data: point clouds of simulated sequences, stand-in estimators, descriptor targets,
activity windows and the poses / descriptors files."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from radarkit.config.presets import get_preset
from radarkit.data.mmjoints import (
    INTENSITY_COLUMN,
    LEG_JOINTS,
    POINT_FEATURES,
    activity_windows,
    cloud_arrays,
    descriptor_targets,
    legs_ignored_estimator,
    load_sim_sequences,
    noisy_estimator,
    read_descriptors,
    read_poses,
    write_descriptors,
    write_poses,
)
from radarkit.detect.pointcloud import POINT_DTYPE, PointCloud
from radarkit.errors import StoreError
from radarkit.metrics.descriptors import DescriptorStats, ground_truth_descriptors
from radarkit.sim.dataset import write_dataset
from radarkit.skeleton import get_skeleton

SK = get_skeleton("hupr14")


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    write_dataset(out, get_preset("hupr"), scene="walk_wave", n_subjects=1, seconds=1.0, radars=("hori",),
                  seed=3)
    return out


def _poses(n=40, seed=0):
    rng = np.random.default_rng(seed)
    base = np.zeros((SK.n_joints, 3), np.float32)
    base[:, 1] = 3.0
    base[:, 2] = np.linspace(-0.9, 0.8, SK.n_joints)
    return (base + rng.normal(0, 0.1, (n, SK.n_joints, 3))).astype(np.float32)


def test_point_clouds_of_a_simulated_sequence_lie_on_the_body(sim):
    (seq,) = load_sim_sequences(sim)
    assert len(seq.clouds) == len(seq.poses) == len(seq.actions) == 10
    assert seq.poses.shape == (10, SK.n_joints, 3) and seq.subject_id == 1
    counts = np.array([len(c) for c in seq.clouds])
    assert counts.sum() > 20 and all(c.shape[1] == len(POINT_FEATURES) for c in seq.clouds)
    near = []
    for cloud, pose in zip(seq.clouds, seq.poses, strict=True):
        if len(cloud):
            near.append(np.linalg.norm(cloud[:, None, :3] - pose[None], axis=-1).min(axis=1))
    near = np.concatenate(near)
    assert np.median(near) < 0.3  # clutter removal keeps the moving body, not the walls
    assert np.all(np.concatenate(seq.clouds)[:, INTENSITY_COLUMN] > 0)  # SNR in dB above the CFAR noise


def test_cloud_arrays_split_by_frame_offsets():
    table = np.zeros(5, POINT_DTYPE)
    table["x"] = np.arange(5)
    table["snr_db"] = 10 + np.arange(5)
    pc = PointCloud(table, np.array([0, 2, 2, 5]))
    frames = cloud_arrays(pc)
    assert [len(f) for f in frames] == [2, 0, 3]
    np.testing.assert_array_equal(frames[2][:, 0], [2, 3, 4])
    np.testing.assert_array_equal(frames[2][:, INTENSITY_COLUMN], [12, 13, 14])
    assert [len(f) for f in cloud_arrays(table, np.array([0, 5]), ["x"])] == [5]
    with pytest.raises(ValueError, match="offsets"):
        cloud_arrays(table)
    with pytest.raises(ValueError, match="lacks"):
        cloud_arrays(pc, columns=["nope"])


def test_legs_ignored_estimator_keeps_the_body_and_uses_the_mean_legs():
    train, poses = _poses(200, 1), _poses(30, 2)
    est = legs_ignored_estimator(poses, train, SK)
    legs = [SK.index(n) for n in LEG_JOINTS]
    others = [j for j in range(SK.n_joints) if j not in legs]
    np.testing.assert_array_equal(est[:, others], poses[:, others])
    hip = lambda p: 0.5 * (p[:, SK.index("L_Hip")] + p[:, SK.index("R_Hip")])  # noqa: E731
    offsets = est[:, legs] - hip(est)[:, None]
    mean_offset = (train[:, legs] - hip(train)[:, None]).mean(axis=0)
    np.testing.assert_allclose(offsets, np.broadcast_to(mean_offset, offsets.shape), atol=1e-5)
    assert np.linalg.norm(est[:, legs] - poses[:, legs], axis=-1).mean() > 0.05
    # a subject whose legs are always the mean legs is estimated exactly
    np.testing.assert_allclose(legs_ignored_estimator(est, est, SK), est, atol=1e-5)
    with pytest.raises(ValueError):
        legs_ignored_estimator(poses[:, :5], train, SK)


def test_noisy_estimator_has_the_requested_spread_and_correlation():
    poses = np.zeros((4000, 2, 3), np.float32)
    est = noisy_estimator(poses, noise_m=0.03, correlation=0.8, seed=5)
    err = est - poses
    assert err.std() == pytest.approx(0.03, rel=0.1)
    lag1 = np.corrcoef(err[1:].ravel(), err[:-1].ravel())[0, 1]
    assert lag1 == pytest.approx(0.8, abs=0.05)
    np.testing.assert_array_equal(est, noisy_estimator(poses, 0.03, 0.8, seed=5))
    assert not np.array_equal(est, noisy_estimator(poses, 0.03, 0.8, seed=6))
    with pytest.raises(ValueError):
        noisy_estimator(poses, correlation=1.0)


def test_descriptor_targets_follow_eq_1_to_3():
    rng = np.random.default_rng(0)
    gt = _poses(6, 3)
    pred = gt.copy()
    pred[:, 0] += [0.4, 0.0, 0.0]  # one joint 40 cm off
    clouds = [np.concatenate([rng.normal([0, 3, 0], 0.3, (n, 3)), rng.normal(0, 1, (n, 1)),
                              rng.uniform(10, 30, (n, 1))], axis=1).astype(np.float32)
              for n in (0, 3, 7, 1, 9, 4)]
    stats = DescriptorStats(mean_psi=500.0, std_psi=300.0, d0_m=0.5, psi_scale=300.0)
    xi, kappa = descriptor_targets(clouds, pred, gt, stats)
    assert xi.shape == kappa.shape == (6, SK.n_joints)
    np.testing.assert_allclose(kappa[:, 1:], 1.0)
    assert np.all(kappa[:, 0] < 0.01)
    for f in range(6):
        x_ref, k_ref = ground_truth_descriptors(clouds[f], pred[f], gt[f], stats,
                                                intensity_column=INTENSITY_COLUMN)
        np.testing.assert_allclose(xi[f], x_ref, rtol=1e-6)
        np.testing.assert_allclose(kappa[f], k_ref, rtol=1e-6)
    assert np.all(xi[0] < 0.5)  # an empty frame: psi = 0 below the mean
    with pytest.raises(ValueError):
        descriptor_targets(clouds[:3], pred, gt, stats)


def test_activity_windows_end_at_their_labelled_frame():
    joints = np.arange(10, dtype=np.float32)[:, None, None] * np.ones((10, 2, 5), np.float32)
    labels = np.array(list("aaaaabbbbb"))
    w, lab = activity_windows(joints, labels, length=5)
    assert w.shape == (6, 5, 2, 5)
    np.testing.assert_array_equal(w[:, :, 0, 0], np.arange(5)[None] + np.arange(6)[:, None])
    np.testing.assert_array_equal(lab, list("abbbbb"))
    w2, lab2 = activity_windows(joints, labels, length=5, stride=3)
    np.testing.assert_array_equal(w2[:, -1, 0, 0], [4, 7])
    assert activity_windows(joints[:3], labels[:3], 5)[0].shape == (0, 5, 2, 5)
    with pytest.raises(ValueError):
        activity_windows(joints, labels[:4])


def test_poses_and_descriptors_files_round_trip(tmp_path):
    poses = _poses(7)
    path = write_poses(tmp_path / "p.h5", poses, "hupr14", attrs={"command": "test", "sources": [1, 2]})
    back, name, attrs = read_poses(path)
    np.testing.assert_array_equal(back, poses)
    assert name == "hupr14" and attrs["command"] == "test" and attrs["radarkit_version"]
    with h5py.File(path) as f:
        assert f["poses"].dtype == np.float32 and f["poses"].attrs["units"] == "m"
    with pytest.raises(StoreError, match="exists"):
        write_poses(path, poses, "hupr14")
    with pytest.raises(ValueError):
        write_poses(tmp_path / "bad.h5", poses, "coco13")
    assert not (tmp_path / "bad.h5").exists()
    xi, kappa = np.full((7, 14), 0.25, np.float32), np.full((7, 14), 0.75, np.float32)
    d = read_descriptors(write_descriptors(tmp_path / "d.h5", poses, xi, kappa, "hupr14"))
    np.testing.assert_array_equal(d["joints5"][..., :3], poses)
    np.testing.assert_array_equal(d["joints5"][..., 3], xi)
    np.testing.assert_array_equal(d["kappa"], kappa)
    with pytest.raises(StoreError, match="radarkit-poses"):
        read_poses(tmp_path / "d.h5")
    with pytest.raises(StoreError, match="not found"):
        read_poses(tmp_path / "missing.h5")
