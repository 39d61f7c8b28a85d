"""MM-Fi reader on a small fake tree in the public layout, written by the test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.io import savemat

from radarkit.data.mmfi import (
    MMFiDataset,
    collate_mmfi,
    find_sequences,
    read_csi_frame,
    read_ground_truth,
    read_mmwave_frame,
)
from radarkit.errors import RecordingError

N_FRAMES = 4  # the public release has 297; the reader takes the count from ground_truth.npy


def _write_sequence(seq: Path, rng: np.random.Generator, n_frames: int = N_FRAMES) -> dict:
    """Write one sequence folder; return what was written, for comparison."""
    truth = {"gt": rng.normal(0, 0.5, (n_frames, 17, 3)), "mmwave": [], "lidar": [], "rgb": [], "csi": []}
    seq.mkdir(parents=True)
    np.save(seq / "ground_truth.npy", truth["gt"])
    for d in ("rgb", "lidar", "mmwave", "wifi-csi"):
        (seq / d).mkdir()
    for f in range(n_frames):
        name = f"frame{f + 1:03d}"
        pts = rng.normal(0, 1, (int(rng.integers(0, 9)) if f else 0, 5))  # frame 0 has no points
        pts.astype("<f8").tofile(seq / "mmwave" / f"{name}.bin")
        lid = rng.normal(0, 1, (int(rng.integers(20, 40)), 3))
        lid.astype("<f8").tofile(seq / "lidar" / f"{name}.bin")
        kp = rng.uniform(0, 640, (17, 2))
        np.save(seq / "rgb" / f"{name}.npy", kp)
        csi = rng.uniform(0, 40, (3, 114, 10))
        savemat(seq / "wifi-csi" / f"{name}.mat", {"CSIamp": csi, "CSIphase": csi * 0})
        for k, v in (("mmwave", pts), ("lidar", lid), ("rgb", kp), ("csi", csi)):
            truth[k].append(v)
    return truth


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, dict]:
    rng = np.random.default_rng(0)
    written = {}
    for env, subj, act in (("E01", "S01", "A01"), ("E01", "S01", "A02"), ("E02", "S11", "A01")):
        written[f"{env}/{subj}/{act}"] = _write_sequence(tmp_path / env / subj / act, rng)
    (tmp_path / "E01" / "S01" / "notes.txt").write_text("not a sequence")
    return tmp_path, written


def test_find_sequences_and_filters(tree):
    root, written = tree
    seqs = find_sequences(root)
    assert [s.name for s in seqs] == sorted(written)
    assert [s.name for s in find_sequences(root, subjects=["S11"])] == ["E02/S11/A01"]
    assert [s.name for s in find_sequences(root, actions=["A02"])] == ["E01/S01/A02"]
    with pytest.raises(RecordingError, match="no MM-Fi sequence"):
        find_sequences(root, subjects=["S40"])


def test_dataset_returns_exactly_what_was_written(tree):
    root, written = tree
    ds = MMFiDataset(root, ["rgb", "lidar", "mmwave", "wifi-csi"])
    assert len(ds) == 3 * N_FRAMES
    inputs, target = ds[N_FRAMES + 2]  # second sequence (E01/S01/A02), frame index 2
    w = written["E01/S01/A02"]
    np.testing.assert_array_equal(inputs["mmwave"], w["mmwave"][2])
    np.testing.assert_array_equal(inputs["lidar"], w["lidar"][2])
    np.testing.assert_allclose(inputs["rgb"], w["rgb"][2], rtol=1e-6)
    np.testing.assert_allclose(inputs["wifi-csi"], w["csi"][2], rtol=1e-6)
    np.testing.assert_allclose(target, w["gt"][2], rtol=1e-6)
    assert inputs["mmwave"].shape[1] == 5 and target.shape == (17, 3) and target.dtype == np.float32
    first, _ = ds[0]
    assert first["mmwave"].shape == (0, 5)  # an empty .bin is a frame without points


def test_keypoint_window_repeats_the_edge_frame(tree):
    root, written = tree
    ds = MMFiDataset(root, ["rgb"], subjects=["S11"], keypoint_window=3)
    inputs, _ = ds[0]
    kp = written["E02/S11/A01"]["rgb"]
    np.testing.assert_allclose(inputs["rgb"], np.stack([kp[0], kp[0], kp[1]]), rtol=1e-6)


def test_collate_pads_point_clouds_and_feeds_the_model(tree):
    from radarkit.models.awc import AWCPoseModel

    root, _ = tree
    ds = MMFiDataset(root, ["rgb", "mmwave", "wifi-csi"])
    batch = [ds[i] for i in range(N_FRAMES)]
    inputs, target = collate_mmfi(batch, max_points={"mmwave": 6})
    points, mask = inputs["mmwave"]
    counts = [min(len(b[0]["mmwave"]), 6) for b in batch]
    assert mask.sum(dim=1).tolist() == counts
    assert points.shape == (N_FRAMES, max(counts), 5) and target.shape == (N_FRAMES, 17, 3)
    assert inputs["wifi-csi"].shape == (N_FRAMES, 3, 114, 10)
    torch.manual_seed(0)
    model = AWCPoseModel(("rgb", "mmwave", "wifi-csi"), feature_dim=16, keypoint_image_size=(640, 480))
    assert model(inputs).shape == (N_FRAMES, 17, 3)


def test_truncated_mmwave_file_is_named(tree):
    root, _ = tree
    bad = root / "E01" / "S01" / "A01" / "mmwave" / "frame002.bin"
    bad.write_bytes(np.arange(7, dtype="<f8").tobytes())  # 56 bytes: not a multiple of 40
    with pytest.raises(RecordingError, match="frame002.bin.*40 bytes"):
        read_mmwave_frame(bad)
    ds = MMFiDataset(root, ["mmwave"], actions=["A01"])
    with pytest.raises(RecordingError, match="frame002.bin"):
        ds[1]


def test_missing_frame_and_count_mismatch_are_named(tree):
    root, _ = tree
    seq = root / "E01" / "S01" / "A02"
    (seq / "lidar" / "frame003.bin").unlink()
    with pytest.raises(RecordingError, match=r"lidar.*frame 3 missing.*frame003\.bin"):
        MMFiDataset(root, ["lidar"])
    seq2 = root / "E02" / "S11" / "A01"
    (seq2 / "rgb" / f"frame{N_FRAMES:03d}.npy").unlink()  # last frame gone: count mismatch
    with pytest.raises(RecordingError, match=r"S11/A01/rgb.*3 frame files but the ground truth has 4"):
        MMFiDataset(root, ["rgb"], subjects=["S11"])


def test_bad_ground_truth_and_csi_are_named(tree):
    root, _ = tree
    gt = root / "E02" / "S11" / "A01" / "ground_truth.npy"
    np.save(gt, np.zeros((4, 14, 3)))
    with pytest.raises(RecordingError, match=r"ground_truth\.npy.*\(frames, 17, 3\)"):
        read_ground_truth(gt)
    mat = root / "E01" / "S01" / "A01" / "wifi-csi" / "frame001.mat"
    csi = np.ones((3, 114, 10))
    csi[1, 5, 2] = np.inf
    csi[1, 0, 0] = 3.0
    savemat(mat, {"CSIamp": csi})
    fixed = read_csi_frame(mat)
    assert np.isfinite(fixed).all()
    assert fixed[1, 5, 2] == pytest.approx(np.mean(np.r_[np.ones(1140 - 2), 3.0]))
    savemat(mat, {"other": csi})
    with pytest.raises(RecordingError, match="frame001.mat.*CSIamp"):
        read_csi_frame(mat)
    with pytest.raises(RecordingError, match="not found"):
        read_mmwave_frame(root / "nope.bin")
