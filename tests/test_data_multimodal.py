"""Simulated multi-modal data for AWC: camera keypoints, LiDAR-like clouds, radar clouds, batching."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from radarkit.config.presets import get_preset
from radarkit.data.mmjoints import load_sim_sequences
from radarkit.data.multimodal import (
    MultiModalDataset,
    MultiModalParams,
    body_surface_cloud,
    collate_multimodal,
    load_multimodal,
    noisy_keypoints,
    parse_modalities,
)
from radarkit.models.awc import AWCPoseModel
from radarkit.sim.dataset import load_annotations, write_dataset
from radarkit.skeleton import get_skeleton

torch.set_num_threads(1)
SK = get_skeleton("hupr14")


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    out = tmp_path_factory.mktemp("mmsim")
    write_dataset(out, get_preset("hupr"), scene="walk_wave", n_subjects=2, seconds=1.0, radars=("hori",),
                  seed=5)
    return out


def _standing(n=50, seed=0):
    """Poses of the annotated simulator: a person about 3 m in front of the radar."""
    rng = np.random.default_rng(seed)
    base = np.array([[0.1, 3, -0.1], [0.1, 3, -0.5], [0.1, 3, -0.9], [-0.1, 3, -0.1], [-0.1, 3, -0.5],
                     [-0.1, 3, -0.9], [0, 3, 0.45], [0, 3, 0.7], [-0.2, 3, 0.4], [-0.25, 3, 0.1],
                     [-0.3, 3, -0.15], [0.2, 3, 0.4], [0.25, 3, 0.1], [0.3, 3, -0.15]])
    return base + rng.normal(0, 0.02, (n, SK.n_joints, 3)) + rng.normal(0, 0.3, (n, 1, 3))


def _segment_distance(p, a, b):
    """Distance of points p (N, 3) to segments a-b (S, 3): (N, S)."""
    ab = b - a
    t = np.clip(np.einsum("nsc,sc->ns", p[:, None] - a, ab) / np.einsum("sc,sc->s", ab, ab), 0, 1)
    return np.linalg.norm(p[:, None] - (a + t[..., None] * ab), axis=-1)


def test_keypoint_noise_and_dropouts_match_their_settings():
    rng = np.random.default_rng(0)
    truth = rng.uniform(20, 230, (4000, 14, 2))
    out = noisy_keypoints(truth, rng, noise_px=4.0, dropout=0.1, frame_dropout=0.05)
    missed = (out == 0).all(-1)
    whole = missed.all(-1)
    assert 0.03 < whole.mean() < 0.07                              # frames missed as a whole
    assert 0.08 < missed[~whole].mean() < 0.12                     # single joints missed
    err = (out - truth)[~missed]
    assert abs(err.std() - 4.0) < 0.1 and abs(err.mean()) < 0.1    # pixel noise
    clean = noisy_keypoints(truth, rng, noise_px=0.0, dropout=0.0, frame_dropout=0.0)
    np.testing.assert_allclose(clean, truth, atol=1e-4)


def test_lidar_points_lie_on_the_visible_body_surface():
    poses = _standing()
    params = MultiModalParams(lidar_range_noise_m=0.0, lidar_jitter_m=0.0, lidar_dropout=0.0,
                              lidar_frame_dropout=0.0, lidar_points=400)
    clouds = body_surface_cloud(poses, "hupr14", np.random.default_rng(1), params)
    assert len(clouds) == len(poses)
    bones = np.array([(SK.index(a), SK.index(b)) for a, b in SK.bones])
    radii = np.array([0.14 if {a, b} <= {"R_Hip", "L_Hip", "Neck"} else 0.06 for a, b in SK.bones])
    counts = []
    for pose, cloud in zip(poses, clouds, strict=True):
        counts.append(len(cloud))
        d_bone = _segment_distance(cloud, pose[bones[:, 0]], pose[bones[:, 1]]) - radii
        d_head = np.linalg.norm(cloud - pose[SK.index("Head")], axis=-1) - 0.10
        # every point is on some capsule or the head sphere (possibly inside another part)
        on_surface = np.isclose(np.column_stack([d_bone, d_head]), 0, atol=1e-6).any(axis=1)
        assert on_surface.all()
        # only the side facing the radar at the origin is seen: points in front of the body's centre
        assert np.median(cloud[:, 1]) < pose[:, 1].mean() - 0.03
    # about half of the surface faces the sensor
    assert 0.35 * 400 < np.mean(counts) < 0.65 * 400


def test_lidar_noise_and_dropout():
    poses = _standing(200)
    clean = body_surface_cloud(poses, "hupr14", np.random.default_rng(2), MultiModalParams(
        lidar_range_noise_m=0.0, lidar_jitter_m=0.0, lidar_dropout=0.0, lidar_frame_dropout=0.0))
    dropped = body_surface_cloud(poses, "hupr14", np.random.default_rng(2), MultiModalParams(
        lidar_range_noise_m=0.0, lidar_jitter_m=0.0, lidar_dropout=0.5, lidar_frame_dropout=0.0))
    ratio = sum(map(len, dropped)) / sum(map(len, clean))
    assert 0.45 < ratio < 0.55
    frames = body_surface_cloud(poses, "hupr14", np.random.default_rng(3), MultiModalParams(
        lidar_dropout=0.0, lidar_frame_dropout=0.2, lidar_frame_keep=0.0))
    empty = np.mean([len(c) == 0 for c in frames])
    assert 0.1 < empty < 0.3
    noisy = body_surface_cloud(poses[:1], "hupr14", np.random.default_rng(2), MultiModalParams(
        lidar_range_noise_m=0.05, lidar_jitter_m=0.0, lidar_dropout=0.0, lidar_frame_dropout=0.0))[0]
    # range noise moves points along the line of sight: the bearing is unchanged
    ref = body_surface_cloud(poses[:1], "hupr14", np.random.default_rng(2), MultiModalParams(
        lidar_range_noise_m=0.0, lidar_jitter_m=0.0, lidar_dropout=0.0, lidar_frame_dropout=0.0))[0]
    np.testing.assert_allclose(noisy / np.linalg.norm(noisy, axis=1, keepdims=True),
                               ref / np.linalg.norm(ref, axis=1, keepdims=True), atol=1e-5)
    assert 0.03 < np.std(np.linalg.norm(noisy, axis=1) - np.linalg.norm(ref, axis=1)) < 0.07
    with pytest.raises(ValueError, match="hupr14"):
        body_surface_cloud(poses[:, :13], "hupr14", np.random.default_rng(0))


def test_parse_modalities():
    assert parse_modalities("mmwave, rgb") == ("mmwave", "rgb")
    assert parse_modalities(["lidar"]) == ("lidar",)
    for bad in ("", "mmwave,mmwave", "rgb,wifi-csi", "depth"):
        with pytest.raises(ValueError):
            parse_modalities(bad)
    with pytest.raises(ValueError, match="must lie in"):
        MultiModalParams(lidar_dropout=1.5)


def test_load_all_modalities_of_a_simulated_dataset(sim):
    data = load_multimodal(sim, "mmwave,rgb,lidar", MultiModalParams(seed=4))
    seqs = load_sim_sequences(sim)
    n = sum(len(s.clouds) for s in seqs)
    assert len(data) == n and data.poses.shape == (n, 14, 3) and data.skeleton == "hupr14"
    np.testing.assert_array_equal(data.poses, np.concatenate([s.poses for s in seqs]))
    for got, want in zip(data.mmwave, [c for s in seqs for c in s.clouds], strict=True):
        np.testing.assert_array_equal(got, want)
    assert sorted(set(data.subject.tolist())) == [1, 2]
    truth = np.concatenate([load_annotations(sim / s.name)["keypoints2d"]["hupr14"][:len(s.clouds)]
                            for s in seqs])
    seen = ~(data.keypoints == 0).all(-1)
    err = (data.keypoints - truth)[seen]
    assert np.abs(err).max() < 6 * 3.0 and 2.7 < err.std() < 3.3     # default noise: 3 px
    # LiDAR clouds lie around the person (within the body's extent plus noise)
    for pose, cloud in zip(data.poses, data.lidar, strict=True):
        if len(cloud):
            assert np.linalg.norm(cloud.mean(0)[:2] - pose.mean(0)[:2]) < 0.4
    # the same seed gives the same data; a subset keeps only the subject's frames
    again = load_multimodal(sim, ("rgb", "lidar"), MultiModalParams(seed=4))
    np.testing.assert_array_equal(again.keypoints, data.keypoints)
    assert again.mmwave is None and again.modalities == ("rgb", "lidar")
    one = data.subset([2])
    assert len(one) == int((data.subject == 2).sum()) and set(one.subject.tolist()) == {2}
    assert len(one.lidar) == len(one.mmwave) == len(one)


def test_batches_feed_the_awc_model(sim):
    data = load_multimodal(sim, "rgb,mmwave,lidar")
    ds = MultiModalDataset(data, ("mmwave", "lidar"))
    items = [ds[i] for i in range(6)]
    inputs, target = collate_multimodal(items, {"lidar": 32})
    assert set(inputs) == {"mmwave", "lidar"} and target.shape == (6, 14, 3)
    pts, mask = inputs["mmwave"]
    assert mask.sum(1).tolist() == [min(len(it[0]["mmwave"]), 64) for it in items]
    assert inputs["lidar"][1].sum(1).max() <= 32
    torch.manual_seed(0)
    model = AWCPoseModel(("rgb", "mmwave", "lidar"), n_joints=14, feature_dim=16,
                         keypoint_image_size=data.image_size, point_attention_layers=0)
    full, _ = collate_multimodal([MultiModalDataset(data)[i] for i in range(6)])
    assert full["rgb"].shape == (6, 14, 2)
    out = model(full)
    assert out.shape == (6, 14, 3) and torch.isfinite(out).all()
    # a model over a subset of modalities accepts batches of that subset
    assert AWCPoseModel(("mmwave", "lidar"), n_joints=14, feature_dim=16)(inputs).shape == (6, 14, 3)
    with pytest.raises(ValueError, match="not loaded"):
        MultiModalDataset(load_multimodal(sim, "rgb"), ("lidar",))
