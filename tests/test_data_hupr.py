"""HuPR data pipeline (radarkit.data.hupr): windows, normalisation, cube and official-layout readers."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from radarkit.config.presets import get_preset
from radarkit.data.hupr import (
    IMAGE_ID_STRIDE,
    central_doppler,
    ensure_cubes,
    hupr_cube_dataset,
    hupr_official_dataset,
    normalize_slices,
    vrdae_to_normalized_input,
    window_frames,
)
from radarkit.errors import StoreError
from radarkit.io.store import open_cube
from radarkit.models.hupr import vrdae_to_input
from radarkit.sim.dataset import write_dataset

torch.set_num_threads(1)


def official_normalize(x: torch.Tensor) -> torch.Tensor:
    """The official HuPR ``Normalize`` on a (C, H, W) tensor: per channel min-max, then z-score."""
    c = x.size(0)
    lo = torch.min(x.view(c, -1), 1)[0].view(c, 1, 1)
    z = x - lo
    hi = torch.max(z.view(c, -1), 1)[0].view(c, 1, 1)
    z = z / hi
    std, mean = torch.std_mean(z.view(c, -1), 1)
    return (z - mean.view(c, 1, 1)) / std.view(c, 1, 1)


def official_frame(arr: np.ndarray, n_keep: int = 8) -> torch.Tensor:
    """One official .npy frame (doppler, range, azimuth, elevation) -> (K, 2, R, A, E), as the official
    loader: ToTensor turns each (R, A, E) part into (E, R, A), Normalize, permute back."""
    n = arr.shape[0]
    out = []
    for k in range(n // 2 - n_keep // 2, n // 2 + n_keep // 2):
        parts = [official_normalize(torch.from_numpy(np.ascontiguousarray(p.transpose(2, 0, 1))))
                 .permute(1, 2, 0) for p in (arr[k].real, arr[k].imag)]
        out.append(torch.stack(parts))
    return torch.stack(out).float()


# --- pure functions ------------------------------------------------------------------------------

def test_window_frames_repeat_edges():
    assert window_frames(10, 30).tolist() == list(range(6, 14))  # t-4 .. t+3
    assert window_frames(0, 30).tolist() == [0, 0, 0, 0, 0, 1, 2, 3]
    assert window_frames(2, 30).tolist() == [0, 0, 0, 1, 2, 3, 4, 5]
    assert window_frames(29, 30).tolist() == [25, 26, 27, 28, 29, 29, 29, 29]
    assert window_frames(0, 1).tolist() == [0] * 8
    with pytest.raises(IndexError):
        window_frames(30, 30)


def test_normalize_slices_equals_official_normalize():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 5.0, (2, 3, 16, 12)).astype(np.float32)
    x[1, 2] = 7.0  # constant slice
    ours = normalize_slices(x)
    for i in range(2):
        ref = official_normalize(torch.from_numpy(x[i])).numpy()
        ok = np.isfinite(ref)
        np.testing.assert_allclose(ours[i][ok], ref[ok], atol=1e-5)
    assert np.all(ours[1, 2] == 0.0)  # official code gives NaN; we give 0
    np.testing.assert_allclose(ours[0].mean(axis=(-2, -1)), 0.0, atol=1e-6)
    np.testing.assert_allclose(ours[0].std(axis=(-2, -1), ddof=1), 1.0, atol=1e-5)


def test_central_doppler_bins():
    assert central_doppler(16, 8) == slice(4, 12)  # official: chirps 16//2 - 4 .. 16//2 + 4
    assert central_doppler(8, 8) == slice(0, 8)
    with pytest.raises(ValueError):
        central_doppler(4, 8)


def test_normalized_input_matches_literal_pipeline_and_ignores_frame_scale():
    rng = np.random.default_rng(1)
    shape = (3, 16, 4, 12, 10)
    cube = (rng.normal(size=shape) + 1j * rng.normal(size=shape)).astype(np.complex64)
    ours = vrdae_to_normalized_input(cube, n_doppler=8)
    assert ours.shape == (3, 8, 2, 10, 12, 4) and ours.dtype == np.float32
    # literal: keep Doppler 4..11, split re/im into (T, K, 2, R, A, E), normalise each (R, A) slice
    literal = normalize_slices(vrdae_to_input(cube[:, 4:12]), axes=(-3, -2))
    np.testing.assert_allclose(ours, literal, atol=2e-5)
    # float16 re/im pairs with a per-frame scale (radarkit's float16 storage) give the same input
    scale = np.array([1e-3, 1.0, 250.0])[:, None, None, None, None, None]
    pairs = np.stack([cube.real, cube.imag], axis=-1) / scale
    from16 = vrdae_to_normalized_input(pairs.astype(np.float16), n_doppler=8)
    np.testing.assert_allclose(from16, literal, atol=5e-3)
    with pytest.raises(ValueError):
        vrdae_to_normalized_input(cube.real)  # real input without a re/im axis


# --- radarkit cube dataset -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sim_dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hupr_sim") / "data"
    write_dataset(root, get_preset("hupr"), scene="hupr", n_subjects=2, seconds=1.0, seed=3)
    return root


def test_ensure_cubes_writes_missing_only(sim_dataset: Path, tmp_path: Path):
    cubes = tmp_path / "cubes"
    ensure_cubes(sim_dataset, cubes, sequences=["single_1"])
    assert sorted(p.name for p in (cubes / "single_1").iterdir()) == ["hori.h5", "vert.h5"]
    assert not (cubes / "single_2").exists()
    stamp = (cubes / "single_1" / "hori.h5").stat().st_mtime_ns
    ensure_cubes(sim_dataset, cubes)
    assert (cubes / "single_1" / "hori.h5").stat().st_mtime_ns == stamp  # not rewritten
    assert (cubes / "single_2" / "vert.h5").exists()
    with open_cube(cubes / "single_2" / "vert.h5") as c:
        assert c.shape[:5] == (10, 8, 8, 64, 64) and c.is_float16


def test_ensure_cubes_needs_no_recording_whose_cube_exists(sim_dataset: Path, tmp_path: Path):
    """Raw recordings deleted after their cubes were written (to save disk) do not stop the cubes
    of other sequences; a missing cube whose recording is gone still names the folder."""
    import shutil

    from radarkit.errors import RecordingError

    data = tmp_path / "data"
    shutil.copytree(sim_dataset, data, ignore=shutil.ignore_patterns("cubes_*"))
    cubes = tmp_path / "cubes"
    ensure_cubes(data, cubes, sequences=["single_1"])
    for radar in ("hori", "vert"):
        for raw in (data / "single_1" / radar).glob("*.bin"):
            raw.unlink()
    ensure_cubes(data, cubes)  # single_1 is skipped unread, single_2 is written
    assert (cubes / "single_2" / "hori.h5").exists() and (cubes / "single_2" / "vert.h5").exists()
    (cubes / "single_2" / "vert.h5").unlink()
    ensure_cubes(data, cubes, sequences=["single_2"])
    assert (cubes / "single_2" / "vert.h5").exists()
    (cubes / "single_1" / "hori.h5").unlink()
    with pytest.raises(RecordingError, match="single_1"):
        ensure_cubes(data, cubes)


def test_cubes_with_more_doppler_bins_hold_hupr_bins_in_the_centre(sim_dataset: Path, tmp_path: Path):
    """A 16-bin cube (HuPR's stored frames) holds the 8-bin cube as its central bins, goes to its
    own default folder, and a model input wider than a cube is refused naming the file."""
    from radarkit.data.hupr import default_cube_dir

    assert default_cube_dir(sim_dataset) == sim_dataset / "cubes_vrdae"
    assert default_cube_dir(sim_dataset, 16) == sim_dataset / "cubes_vrdae_k16"
    c8, c16 = tmp_path / "c8", tmp_path / "c16"
    ensure_cubes(sim_dataset, c8, sequences=["single_1"])
    ensure_cubes(sim_dataset, c16, sequences=["single_1"], doppler_bins=16)
    with open_cube(c8 / "single_1" / "hori.h5") as a, open_cube(c16 / "single_1" / "hori.h5") as b:
        assert b.shape[:5] == (10, 16, 8, 64, 64)
        x8, x16 = a.read(0, 10), b.read(0, 10)
    np.testing.assert_allclose(x16[:, 4:12], x8, rtol=2e-3, atol=2e-3 * np.abs(x8).max())
    assert np.abs(x16[:, :4]).max() > 0 and np.abs(x16[:, 12:]).max() > 0  # faster bins too
    ds16 = hupr_cube_dataset(sim_dataset, ["single_1"], c16, build=False, n_doppler=16,
                             mean_elevation=True)
    assert ds16[0]["hori"].shape == (8, 16, 2, 64, 64, 1)
    ds8 = hupr_cube_dataset(sim_dataset, ["single_1"], c16, build=False, n_doppler=8,
                            mean_elevation=True)
    ref = hupr_cube_dataset(sim_dataset, ["single_1"], c8, build=False, mean_elevation=True)
    torch.testing.assert_close(ds8[3]["vert"], ref[3]["vert"], atol=2e-2, rtol=0)
    wide = hupr_cube_dataset(sim_dataset, ["single_1"], c8, build=False, n_doppler=16)
    with pytest.raises(StoreError, match="keeps 8 Doppler bins, 16 are needed") as err:
        wide[0]
    assert "hori.h5" in str(err.value) or "vert.h5" in str(err.value)


def test_cube_dataset_samples(sim_dataset: Path, tmp_path: Path):
    cubes = tmp_path / "cubes"
    ds = hupr_cube_dataset(sim_dataset, "train+test", cubes)  # builds the cubes
    assert len(ds) == 20
    seq = ds.sequences[0]
    s = ds[0]
    assert s["hori"].shape == s["vert"].shape == (8, 8, 2, 64, 64, 8)
    assert s["hori"].dtype == torch.float32 and s["heatmaps"].shape == (14, 64, 64)
    # edge repetition: frames t-4 .. t at t = 0 are all frame 0
    for j in range(1, 5):
        assert torch.equal(s["hori"][j], s["hori"][0])
    assert not torch.equal(s["hori"][5], s["hori"][0])
    # the window equals the cube's frames, split and normalised literally
    t = 6
    sample = ds[t]
    with open_cube(seq.sources["vert"]) as c:
        frames = c.read(0, seq.n_frames)
    literal = normalize_slices(vrdae_to_input(frames), axes=(-3, -2))[window_frames(t, seq.n_frames)]
    np.testing.assert_allclose(sample["vert"].numpy(), literal, atol=5e-4)
    # heatmap target: peak 1 at the keypoint / 4, rounded
    kp = seq.keypoints[t]
    hm = sample["heatmaps"].numpy()
    for j in range(14):
        r, col = np.unravel_index(np.argmax(hm[j]), hm[j].shape)
        assert (col, r) == tuple(np.floor(kp[j] / 4 + 0.5).astype(int))
        assert hm[j, r, col] == pytest.approx(1.0)
    assert int(sample["image_id"]) == t + IMAGE_ID_STRIDE * seq.number
    gt = ds.ground_truth()
    x0, y0, x1, y1 = seq.bboxes[t]
    assert gt["areas"][t] == pytest.approx((x1 - x0) * (y1 - y0) / 2, rel=1e-6)
    np.testing.assert_allclose(gt["keypoints"][t, :, :2], kp)
    assert np.all(gt["keypoints"][:, :, 2] == 2)


def test_cube_dataset_cache_bounded_and_pickles(sim_dataset: Path, tmp_path: Path):
    cubes = tmp_path / "cubes"
    plain = hupr_cube_dataset(sim_dataset, "test", cubes)
    cached = hupr_cube_dataset(sim_dataset, "test", cubes, cache_frames=3)
    for i in (4, 5, 9, 4):
        assert torch.equal(cached[i]["hori"], plain[i]["hori"])
        assert len(cached._cache) <= 2 * 3
    clone = pickle.loads(pickle.dumps(cached))  # DataLoader workers: no open files travel
    assert clone._handles == {} and len(clone._cache) == 0
    assert torch.equal(clone[2]["vert"], plain[2]["vert"])
    cached.close()
    plain.close()


def test_cube_dataset_errors(sim_dataset: Path, tmp_path: Path):
    with pytest.raises(StoreError, match="cube file missing"):
        hupr_cube_dataset(sim_dataset, "test", tmp_path / "none", build=False)
    with pytest.raises(StoreError, match="unknown split"):
        hupr_cube_dataset(sim_dataset, "bogus", tmp_path / "none", build=False)


# --- official HuPR layout --------------------------------------------------------------------------

def _fake_official_tree(root: Path, seq_numbers=(3, 7), n_frames=5, shape=(16, 8, 6, 2)) -> None:
    rng = np.random.default_rng(5)
    per_seq = []
    for n in seq_numbers:
        for radar in ("hori", "vert"):
            (root / f"single_{n}" / radar).mkdir(parents=True)
            for f in range(n_frames):
                arr = rng.normal(size=shape) + 1j * rng.normal(size=shape)
                np.save(root / f"single_{n}" / radar / f"{f:09d}.npy", arr)
        per_seq.append([{"image": f"{f:09d}.jpg",
                         "joints": (rng.uniform(20, 230, (14, 2))).round(1).tolist(),
                         "bbox": [40.0, 30.0, 120.0 + f, 220.0]} for f in range(n_frames)])
    (root / "hrnet_annot_test.json").write_text(json.dumps(per_seq))


def test_official_layout_equals_official_loader(tmp_path: Path):
    _fake_official_tree(tmp_path)
    ds = hupr_official_dataset(tmp_path, "test", sequences=[3, 7], heatmap_size=64)
    assert len(ds) == 10
    sample = ds[5 + 1]  # sequence single_7, frame 1: window frames -3..4 clamped
    assert int(sample["image_id"]) == 1 + 7 * IMAGE_ID_STRIDE
    frames = [0, 0, 0, 0, 1, 2, 3, 4]
    for radar in ("hori", "vert"):
        want = torch.stack([official_frame(np.load(tmp_path / "single_7" / radar / f"{f:09d}.npy"))
                            for f in frames])
        assert sample[radar].shape == (8, 8, 2, 8, 6, 2)
        torch.testing.assert_close(sample[radar], want, atol=1e-4, rtol=1e-4)
    blocks = json.loads((tmp_path / "hrnet_annot_test.json").read_text())[1][1]
    np.testing.assert_allclose(sample["keypoints"].numpy(), np.asarray(blocks["joints"]), rtol=1e-6)


def test_official_layout_errors(tmp_path: Path):
    _fake_official_tree(tmp_path)
    with pytest.raises(StoreError, match="2 sequences in the annotation file, 1"):
        hupr_official_dataset(tmp_path, "test", sequences=[3])
    with pytest.raises(StoreError, match="sequence numbers"):
        hupr_official_dataset(tmp_path, "test")  # no splits.json to say which
    (tmp_path / "single_3" / "hori" / "000000002.npy").unlink()
    ds = hupr_official_dataset(tmp_path, "test", sequences=[3, 7])
    with pytest.raises(StoreError, match="000000002.npy"):
        ds[2]


def test_mean_elevation_windows_give_the_same_model_output(sim_dataset: Path, tmp_path: Path):
    """Averaging elevation in the dataset equals the model's own first step (HuPR: x.mean(-1))."""
    from radarkit.models.hupr import hupr

    cubes = tmp_path / "cubes"
    full = hupr_cube_dataset(sim_dataset, "test", cubes)
    mean = hupr_cube_dataset(sim_dataset, "test", cubes, mean_elevation=True, cache_frames=4,
                             cache_dtype=np.float16)
    a, b = full[3], mean[3]
    assert b["hori"].shape == (8, 8, 2, 64, 64, 1)
    np.testing.assert_allclose(b["vert"][..., 0].numpy(), a["vert"].numpy().mean(-1), atol=2e-3,
                               rtol=1e-3)  # float16 cache
    torch.manual_seed(0)
    model = hupr("small").eval()
    with torch.no_grad():
        out_full = model(a["hori"][None], a["vert"][None])[1]
        out_mean = model(b["hori"][None], b["vert"][None])[1]
    torch.testing.assert_close(out_mean, out_full, atol=2e-3, rtol=1e-2)
