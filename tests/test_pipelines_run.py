"""Pipelines (``radarkit.pipelines.runner`` / ``stages``) and ``radarkit run`` / ``radarkit plot``:
TOML errors, every built-in pipeline end to end on simulated recordings (documented shapes,
provenance), chunk-size independence of the streaming stages, agreement with direct calls of the
models and detectors, and the real CRUW recording."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from radarkit.atomic import sha256_file
from radarkit.cli.main import cli
from radarkit.config import save_config
from radarkit.config.presets import get_preset
from radarkit.coords import spherical_to_cartesian
from radarkit.errors import ConfigError, RecordingError
from radarkit.io import write_recording
from radarkit.pipelines.runner import builtin_pipelines, load_pipeline, parse_pipeline, run_pipeline
from radarkit.sim.point_targets import simulate_point_targets
from tests.conftest import CRUW_DIR, need

torch.set_num_threads(1)

CFG = get_preset("iwr1843-3tx").replace(n_samples=128, sample_rate_hz=5e6, n_loops=32)
N_SEQ = 10  # frames of the simulated two-radar sequence


def run_cli(args) -> object:
    return CliRunner().invoke(cli, [str(a) for a in args])


def ok(result) -> None:
    assert "Traceback" not in result.output
    assert result.exit_code == 0, result.output


# ------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def radar_folder(tmp_path_factory) -> Path:
    """A radar folder (recording + .cfg) with point targets at 3 m (static) and 6 m (receding 1 m/s)."""
    folder = tmp_path_factory.mktemp("pc") / "radar"
    folder.mkdir()
    pos = [spherical_to_cartesian(3.0, np.deg2rad(-20.0)), spherical_to_cartesian(6.0, np.deg2rad(15.0))]
    vel = [[0.0, 0.0, 0.0], np.asarray(pos[1]) / 6.0]
    raw = simulate_point_targets(CFG, pos, vel, amplitudes=[200.0, 200.0], n_frames=5, noise_std=4.0, seed=1)
    write_recording(folder / "adc_data.bin", raw, CFG)
    save_config(CFG.replace(n_frames=5), folder / "radar.cfg")
    return folder


@pytest.fixture(scope="module")
def sim_sequence(tmp_path_factory) -> Path:
    """A short two-radar sequence of one simulated person (hupr preset)."""
    from radarkit.sim.dataset import write_dataset

    root = tmp_path_factory.mktemp("sim")
    write_dataset(root, get_preset("hupr"), scene="walk_wave", n_subjects=1, seconds=N_SEQ * 0.1, seed=3)
    return root / "single_1"


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    """Untrained (seeded) HuPR, MAEPose and mmJoints checkpoints with the headers training writes."""
    from radarkit.data.clips import ClipSpec
    from radarkit.data.mmjoints import POINT_FEATURES
    from radarkit.metrics.descriptors import DescriptorStats
    from radarkit.models.hupr import HuPR
    from radarkit.models.maepose import build_finetune
    from radarkit.pipelines.demo import demo_hupr_config
    from radarkit.pipelines.mmjoints_sim import MMJointsSettings, build_model
    from radarkit.train.checkpoint import save_checkpoint
    from radarkit.train.mmjoints import save_mmjoints

    d = tmp_path_factory.mktemp("ckpt")
    torch.manual_seed(0)
    cfg = demo_hupr_config()
    save_checkpoint(d / "hupr.ckpt", HuPR(cfg), name="hupr", config={"model": cfg.to_dict()})
    spec = ClipSpec(kind="rd", num_frames=8, stride=2, n_target_frames=4, size=(32, 32))
    kw = {"num_frames": 8, "patch_size": (2, 8, 8), "n_target_frames": 4, "img_size": (32, 32)}
    save_checkpoint(d / "maepose.ckpt", build_finetune("small", **kw), name="maepose",
                    config={"preset": "small", "model": kw, "clips": spec.to_dict()})
    stats = DescriptorStats(mean_psi=1.0, std_psi=1.0, d0_m=0.5)
    settings = MMJointsSettings(n_basis=4, dim=32, n_anchors=8)
    for name, joints in (("hupr14", 14), ("coco13", 13)):
        model = build_model(joints, settings, stats, torch.device("cpu"))
        save_mmjoints(model, d / f"mm_{name}.ckpt", skeleton=name, k=3, max_points=32,
                      point_features=list(POINT_FEATURES))
    return {"pose_hupr": d / "hupr.ckpt", "pose_maepose": d / "maepose.ckpt",
            "mm_hupr14": d / "mm_hupr14.ckpt", "mm_coco13": d / "mm_coco13.ckpt"}


@pytest.fixture(scope="module")
def hupr_result(sim_sequence, checkpoints, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "hupr.h5"
    pipe = load_pipeline("hupr").with_checkpoints({"pose": checkpoints["pose_hupr"],
                                                   "describe": checkpoints["mm_hupr14"]})
    run_pipeline(pipe, [sim_sequence], out, command="test")
    return out


# ------------------------------------------------------------------------------------- parsing
BASE = '[pipeline]\nname = "t"\nradars = ["a"]\n'


@pytest.mark.parametrize("text, message", [
    (BASE + '[cube]\nkind = "rd"\nn_azimut = 3\n', "[cube] unknown key 'n_azimut'"),
    (BASE + '[cube]\nkind = "rdx"\n', "[cube] unknown cube kind 'rdx'"),
    (BASE + '[detect]\npfa = "small"\n', "[detect] pfa: expected a number"),
    (BASE + '[detect]\nguard = [1, 2, 3]\n', "[detect] guard: expected 2 integers"),
    (BASE + '[detector]\n', "unknown table [detector]"),
    (BASE + '[pose]\nmodel = "hupr"\n', "[pose] needs a [cube] stage"),
    (BASE + '[cube]\nkind = "rd"\n[detect]\n[describe]\n', "[describe] needs [pose] and [detect]"),
    (BASE + '[detect]\ninput = "cube"\n', "[detect] input = 'cube' needs a [cube] stage"),
    ('[pipeline]\nname = "t"\nradars = ["a", "a"]\n', "[pipeline] radars: expected distinct"),
    ('[read]\n', "missing [pipeline] table"),
    (BASE + "[cube\n", "not valid TOML"),
])
def test_parse_errors_name_the_file_table_and_key(text, message):
    with pytest.raises(ConfigError) as err:
        parse_pipeline(text, "my.toml")
    assert str(err.value).startswith("my.toml: ")
    assert message in str(err.value)


def test_builtin_pipelines_and_files(tmp_path):
    assert set(builtin_pipelines()) == {"hupr", "maepose", "pointcloud"}
    assert load_pipeline("hupr").stages == ("read", "cube", "detect", "pose", "describe")
    assert load_pipeline("pointcloud").stages == ("read", "cube", "detect")
    with pytest.raises(ConfigError, match="unknown pipeline 'nope'.*hupr, maepose, pointcloud"):
        load_pipeline("nope")
    with pytest.raises(ConfigError, match="pipeline file not found"):
        load_pipeline(tmp_path / "missing.toml")
    path = tmp_path / "sub" / "p.toml"
    path.parent.mkdir()
    path.write_text(BASE + '[cube]\nkind = "vrdae"\nmode = "hupr"\n[pose]\ncheckpoint = "m.ckpt"\n'
                    'radars = ["a", "a2"]\n')
    with pytest.raises(ConfigError, match="hupr needs two radars"):
        load_pipeline(path)
    path.write_text('[pipeline]\nname = "t"\nradars = ["a", "b"]\n[cube]\nkind = "vrdae"\nmode = "hupr"\n'
                    '[pose]\ncheckpoint = "m.ckpt"\n')
    assert load_pipeline(path).pose.checkpoint == str(path.parent.resolve() / "m.ckpt")  # relative to file


# ------------------------------------------------------------------------------------- pointcloud
def test_pointcloud_pipeline_finds_the_targets_like_detect(radar_folder, tmp_path):
    from radarkit.cli.detect import _raw_points
    from radarkit.detect.pointcloud import PointCloudParams
    from radarkit.io import Recording

    out = tmp_path / "pc.h5"
    summary = run_pipeline(load_pipeline("pointcloud"), [radar_folder], out)
    assert summary["stages"] == ["read", "cube", "detect"]
    with h5py.File(out) as f:
        offsets = f["detect/frame_offsets"][()]
        rng, vel = f["detect/points/range_m"][()], f["detect/points/velocity_mps"][()]
        az = f["detect/points/azimuth_rad"][()]
        assert f["cube/radar/map"].shape == (5, CFG.n_loops, CFG.n_samples)
        assert json.loads(f["cube/radar/map"].attrs["dims"]) == ["frame", "doppler", "range"]
        assert f["read/frame_time_s"].shape == (5,)
    assert offsets.shape == (6,) and offsets[-1] == len(rng)
    # the same points as radarkit detect on the raw recording (same CFAR, windows, no clutter removal)
    from radarkit.config import load_config

    with Recording(radar_folder / "adc_data.bin", load_config(radar_folder / "radar.cfg")) as rec:
        cloud, *_ = _raw_points(rec, PointCloudParams(), 0, rec.n_frames, 16, False, None)
    np.testing.assert_array_equal(offsets, cloud.offsets)
    np.testing.assert_allclose(rng, cloud["range_m"])
    np.testing.assert_allclose(az, cloud["azimuth_rad"], atol=1e-4)
    # each target is found in every frame at its range, velocity and azimuth
    dr = CFG.range_resolution_m
    for r, v, a in ((3.0, 0.0, -20.0), (6.0, 1.0, 15.0)):
        for fr in range(5):
            sel = slice(offsets[fr], offsets[fr + 1])
            r_now = r + v * fr * CFG.frame_period_s
            hit = (np.abs(rng[sel] - r_now) <= 1.5 * dr) & (np.abs(vel[sel] - v) < 0.5)
            assert hit.any(), (r, fr)
            assert np.abs(np.rad2deg(az[sel][hit]) - a).min() < 4.0


def test_chunk_size_does_not_change_the_result(radar_folder, tmp_path):
    pipe = load_pipeline("pointcloud")
    results = []
    for chunk in (1, 2, 16):
        out = tmp_path / f"c{chunk}.h5"
        run_pipeline(dataclasses.replace(pipe, chunk=chunk), [radar_folder], out)
        with h5py.File(out) as f:
            results.append((f["detect/frame_offsets"][()], f["detect/points/x"][()], f["cube/radar/map"][()]))
    for other in results[1:]:
        for a, b in zip(results[0], other, strict=True):
            np.testing.assert_array_equal(a, b)


def test_pointcloud_on_the_real_cruw_recording(tmp_path):
    folder = need(CRUW_DIR)
    need(folder / "adc_data.bin")
    out = tmp_path / "cruw.h5"
    with pytest.warns(Warning, match="partial frame"):
        run_pipeline(load_pipeline("pointcloud"), [folder], out)
    with h5py.File(out) as f:
        assert f["cube/radar/map"].shape == (4, 255, 128)  # 4 whole frames, 255 loops, 128 samples
        offsets = f["detect/frame_offsets"][()]
        rng = f["detect/points/range_m"][()]
        sources = json.loads(f.attrs["sources"])
    assert offsets.shape == (5,) and np.all(np.diff(offsets) > 0)  # points in every frame
    assert np.all((rng >= 0) & (rng < 28.6))  # within the 28.6 m unambiguous range
    rec = [s for s in sources if s["name"] == "adc_data.bin"][0]
    assert rec["sha256"] == "4b8527860388c194573c699f1a7a3042cb8d8a458ed3de8415c18197e9ccb371"


# ------------------------------------------------------------------------------------- hupr
def test_hupr_pipeline_end_to_end_shapes_and_provenance(hupr_result, sim_sequence, checkpoints):
    with h5py.File(hupr_result) as f:
        assert set(f) == {"read", "cube", "detect", "pose", "describe"}
        a = f.attrs
        assert a["format"] == "radarkit-pipeline" and a["pipeline"] == "hupr"
        assert a["n_frames"] == N_SEQ
        assert a["numpy_version"] == np.__version__
        assert a["torch_version"] == importlib.metadata.version("torch")
        assert a["radarkit_version"] and a["h5py_version"] == h5py.__version__
        ck = {c["role"]: c for c in json.loads(a["checkpoints"])}
        assert ck["checkpoint:pose"]["sha256"] == sha256_file(checkpoints["pose_hupr"])
        assert ck["checkpoint:describe"]["sha256"] == sha256_file(checkpoints["mm_hupr14"])
        src = {(s["role"], s["name"]): s for s in json.loads(a["sources"])}
        vert = sim_sequence / "vert" / "adc_data.bin"
        assert src[("recording:vert", "adc_data.bin")]["sha256"] == sha256_file(vert)
        params = json.loads(a["parameters"])
        assert params["cube"]["cube"]["mode"] == "hupr" and params["detect"]["points"]["cfar"]["pfa"] == 1e-3
        for g in ("cube", "detect", "pose", "describe"):
            assert f[g].attrs["stage"] == g and json.loads(f[g].attrs["parameters"]) == params[g]
        assert f["cube/hori/map"].shape == f["cube/vert/map"].shape == (N_SEQ, 64, 64)  # (azimuth, range)
        assert f["detect/frame_offsets"].shape == (N_SEQ + 1,)
        assert f["pose/keypoints"].shape == (N_SEQ, 14, 2) and f["pose/scores"].shape == (N_SEQ,)
        assert f["describe/poses"].shape == (N_SEQ, 14, 3)
        xi, kappa = f["describe/xi"][()], f["describe/kappa"][()]
        assert xi.shape == kappa.shape == (N_SEQ, 14)
        assert np.all((xi > 0) & (xi < 1) & (kappa > 0) & (kappa < 1))
        np.testing.assert_array_equal(f["describe/joints5"][()][..., 3], xi)


def test_hupr_keypoints_equal_the_model_on_hupr_windows(hupr_result, sim_sequence, checkpoints):
    """The streamed 8-frame windows (t-4..t+3, edges repeated) give HuPR's keypoints."""
    from radarkit.config import load_config
    from radarkit.data.heatmaps import decode_heatmaps
    from radarkit.data.hupr import vrdae_to_normalized_input, window_frames
    from radarkit.dsp.cubes import CubeParams, make_cube
    from radarkit.io import Recording
    from radarkit.train.hupr import load_hupr

    model, _ = load_hupr(checkpoints["pose_hupr"])
    norm = []
    for radar in ("hori", "vert"):
        folder = sim_sequence / radar
        with Recording(folder / "adc_data.bin", load_config(folder / "radar.cfg")) as r:
            cube = make_cube(r.read(), r.config, CubeParams(kind="vrdae", mode="hupr"))
        norm.append(vrdae_to_normalized_input(cube, 8))
    wins = [np.stack([n[window_frames(t, N_SEQ)] for t in range(N_SEQ)]) for n in norm]
    with torch.inference_mode():
        _, refined = model(torch.from_numpy(wins[0]), torch.from_numpy(wins[1]))
    expected, _ = decode_heatmaps(refined, stride=4.0)
    with h5py.File(hupr_result) as f:
        got = f["pose/keypoints"][()]
    assert np.mean(np.all(got == expected, axis=-1)) > 0.95


def test_hupr_pose_stage_is_chunk_independent(hupr_result, sim_sequence, checkpoints, tmp_path):
    pipe = load_pipeline("hupr").with_checkpoints({"pose": checkpoints["pose_hupr"],
                                                   "describe": checkpoints["mm_hupr14"]})
    out = tmp_path / "c3.h5"
    run_pipeline(dataclasses.replace(pipe, chunk=3), [sim_sequence / "hori", sim_sequence / "vert"], out)
    with h5py.File(out) as f, h5py.File(hupr_result) as g:
        for name in ("pose/keypoints", "describe/poses", "detect/frame_offsets"):
            np.testing.assert_allclose(f[name][()], g[name][()], atol=1e-5, err_msg=name)


# ------------------------------------------------------------------------------------- maepose
def test_maepose_pipeline_end_to_end(sim_sequence, checkpoints, tmp_path):
    out = tmp_path / "mae.h5"
    pipe = load_pipeline("maepose").with_checkpoints({"pose": checkpoints["pose_maepose"],
                                                      "describe": checkpoints["mm_coco13"]})
    summary = run_pipeline(pipe, [sim_sequence], out)
    assert summary["stages"] == ["read", "cube", "detect", "pose", "describe"]
    with h5py.File(out) as f:
        assert f["cube/hori/map"].shape == (N_SEQ, 64, 256)  # rd-video (doppler, range)
        joints = f["pose/joints_plane"][()]
        assert joints.shape == (N_SEQ, 13, 2) and np.all(np.isfinite(joints))
        # plane joints lie in the clip specification's extent (+-1.1 m)
        assert np.all(np.abs(joints) <= 1.1 + 1e-6)
        assert f["describe/xi"].shape == (N_SEQ, 13) and f["describe/poses"].shape == (N_SEQ, 13, 3)
    # chunk 1 (one frame at a time through the clip buffer) gives the same joints
    out1 = tmp_path / "mae1.h5"
    run_pipeline(dataclasses.replace(pipe, chunk=1), [sim_sequence], out1)
    with h5py.File(out1) as f:
        np.testing.assert_allclose(f["pose/joints_plane"][()], joints, atol=1e-6)


def test_maepose_needs_one_clip_of_frames(sim_sequence, checkpoints, tmp_path):
    pipe = load_pipeline("maepose").with_checkpoints({"pose": checkpoints["pose_maepose"],
                                                      "describe": checkpoints["mm_coco13"]})
    out = tmp_path / "short.h5"
    with pytest.raises(ConfigError, match="fewer than one MAEPose clip of 8 frames"):
        run_pipeline(pipe, [sim_sequence], out, frames=(0, 5))
    assert not out.exists() and not list(tmp_path.iterdir())  # no partial or temporary file


# ------------------------------------------------------------------------------------- CLI
def test_run_cli_and_errors(radar_folder, sim_sequence, checkpoints, tmp_path):
    out = tmp_path / "cli.h5"
    result = run_cli(["run", "pointcloud", radar_folder, "--out", out, "-q"])
    ok(result)
    assert f"wrote {out} (5 frames, stages read -> cube -> detect" in result.output
    result = run_cli(["run", "hupr", sim_sequence, "--out", tmp_path / "x.h5"])
    assert result.exit_code != 0 and "needs a checkpoint for pose, describe" in result.output
    result = run_cli(["run", "hupr", radar_folder, "--out", tmp_path / "x.h5", "--checkpoint",
                      checkpoints["pose_hupr"], "--checkpoint", checkpoints["mm_hupr14"]])
    assert result.exit_code == 1 and "reads 2 radars (hori, vert)" in result.output
    assert len(result.output.strip().splitlines()) == 1
    result = run_cli(["run", "hupr", sim_sequence, "--out", tmp_path / "x.h5", "--checkpoint",
                      f"pose={checkpoints['mm_hupr14']}", "--checkpoint",
                      f"describe={checkpoints['mm_hupr14']}"])
    assert result.exit_code == 1 and "expected 'hupr'" in result.output
    assert not (tmp_path / "x.h5").exists()
    with pytest.raises(RecordingError, match="one input per radar"):
        run_pipeline(load_pipeline("pointcloud"), [radar_folder, radar_folder], tmp_path / "y.h5")


def test_plot_handles_every_output_kind(hupr_result, radar_folder, tmp_path):
    from radarkit.data.mmjoints import write_descriptors, write_poses

    with h5py.File(hupr_result) as f:
        poses, xi, kappa = f["describe/poses"][()], f["describe/xi"][()], f["describe/kappa"][()]
    write_poses(tmp_path / "poses.h5", poses, "hupr14")
    write_descriptors(tmp_path / "desc.h5", poses, xi, kappa, "hupr14")
    ok(run_cli(["detect", radar_folder / "adc_data.bin", "--config", radar_folder / "radar.cfg",
                "--out", tmp_path / "pts.h5", "-q"]))
    ok(run_cli(["cube", radar_folder / "adc_data.bin", "--config", radar_folder / "radar.cfg",
                "--out", tmp_path / "ra.h5", "--kind", "ra", "-q"]))
    for name in ("pts.h5", "ra.h5", "poses.h5", "desc.h5", hupr_result):
        png = tmp_path / f"{Path(name).stem}.png"
        ok(run_cli(["plot", tmp_path / name, "--out", png, "--frame", "-1"]))
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    gif = tmp_path / "seq.gif"
    result = run_cli(["plot", hupr_result, "--gif", "--out", gif, "--max-frames", "3"])
    ok(result)
    assert "(3 frames)" in result.output and gif.read_bytes()[:6] == b"GIF89a"
    for name in ("ra.h5", "pts.h5"):
        ok(run_cli(["plot", tmp_path / name, "--gif", "--out", tmp_path / f"{name}.gif",
                    "--max-frames", "2"]))
