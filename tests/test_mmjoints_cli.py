"""``radarkit train mmjoints`` and ``radarkit describe`` on a tiny simulated dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from radarkit.cli.main import cli
from radarkit.config.presets import get_preset
from radarkit.data.mmjoints import read_descriptors, write_poses
from radarkit.sim.dataset import load_annotations, write_dataset
from radarkit.train.mmjoints import load_mmjoints

torch.set_num_threads(1)


def run_cli(args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def ok(result) -> None:
    assert result.exception is None, repr(result.exception)
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("mmj")
    sim = root / "sim"
    write_dataset(sim, get_preset("hupr"), scene="wave", n_subjects=2, seconds=1.5, radars=("hori",), seed=1)
    model = root / "m.ckpt"
    res = run_cli(["train", "mmjoints", sim, "--out", model, "--epochs", "0.05", "--pose-basis", "4",
                   "--device", "cpu", "-q"])
    ok(res)
    return sim, model, res.output


def test_train_writes_a_loadable_model_with_its_statistics(trained):
    sim, model_path, output = trained
    assert "30 frames" in output
    model, meta = load_mmjoints(model_path)
    assert meta["skeleton"] == "hupr14" and meta["estimator"] == "noisy" and meta["k"] == 5
    assert meta["sequences"] == ["single_1", "single_2"]
    stats = meta["descriptor_stats"]
    assert float(model.mean_psi) == pytest.approx(stats["mean_psi"]) and stats["mean_psi"] > 0
    assert float(model.d0_m) == pytest.approx(stats["d0_m"])
    assert 0.3 < stats["d0_m"] < 0.7  # a person's torso length, m
    res = run_cli(["train", "mmjoints", sim, "--out", model_path, "--epochs", "0.05", "-q"])
    assert res.exit_code == 1 and "exists" in res.output


def _points(sim: Path, out: Path) -> None:
    ok(run_cli(["detect", sim / "single_1" / "hori" / "adc_data.bin", "--config",
                sim / "single_1" / "hori" / "radar.cfg", "--out", out, "--pfa", "1e-3", "--no-peak-grouping",
                "--max-angle-peaks", "2", "--clutter-removal", "-q"]))


def test_describe_adds_xi_and_kappa_to_every_joint(trained, tmp_path):
    sim, model_path, _ = trained
    gt = load_annotations(sim / "single_1")["joints3d"]["hupr14"]
    poses = write_poses(tmp_path / "p.h5", gt, "hupr14")
    points = tmp_path / "pts.h5"
    _points(sim, points)
    out = tmp_path / "d.h5"
    res = run_cli(["describe", "--poses", poses, "--points", points, "--model", model_path, "--out", out])
    ok(res)
    d = read_descriptors(out)
    assert d["xi"].shape == d["kappa"].shape == (15, 14)
    np.testing.assert_array_equal(d["joints5"][..., :3], gt)
    assert np.all((d["xi"] > 0) & (d["xi"] < 1)) and np.all((d["kappa"] > 0) & (d["kappa"] < 1))
    assert "m.ckpt" in d["attrs"]["model"] and "sha256" in d["attrs"]["sources"]
    # the CLI gives the same descriptors as the model called directly (CFAR points + K-frame windows)
    from radarkit.data.mmjoints import cloud_arrays
    from radarkit.io.points import read_points
    from radarkit.train.mmjoints import collate_point_windows, point_windows

    model, _ = load_mmjoints(model_path)
    stored = read_points(points)
    pts, valid = collate_point_windows(point_windows(cloud_arrays(stored.table, stored.offsets), 5), 48)
    with torch.no_grad():
        direct = model(torch.as_tensor(gt), pts, valid)
    np.testing.assert_allclose(d["xi"], direct.xi.numpy(), atol=1e-5)
    res = run_cli(["describe", "--poses", poses, "--points", points, "--model", model_path, "--out", out])
    assert res.exit_code == 1 and "exists" in res.output


def test_describe_rejects_mismatched_inputs(trained, tmp_path):
    sim, model_path, _ = trained
    points = tmp_path / "pts.h5"
    _points(sim, points)
    short = write_poses(tmp_path / "short.h5", load_annotations(sim / "single_1")["joints3d"]["hupr14"][:5],
                        "hupr14")
    res = run_cli(["describe", "--poses", short, "--points", points, "--model", model_path, "--out",
                   tmp_path / "d.h5"])
    assert res.exit_code == 1 and "15 point-cloud frames for 5 poses" in res.output
    coco_gt = load_annotations(sim / "single_1")["joints3d"]["coco13"]
    coco = write_poses(tmp_path / "coco.h5", coco_gt, "coco13")
    res = run_cli(["describe", "--poses", coco, "--points", points, "--model", model_path, "--out",
                   tmp_path / "d.h5"])
    assert res.exit_code == 1 and "joints" in res.output
    res = run_cli(["describe", "--poses", points, "--points", points, "--model", model_path, "--out",
                   tmp_path / "d.h5"])
    assert res.exit_code == 1 and "radarkit-poses" in res.output
    assert not (tmp_path / "d.h5").exists()


def test_describe_lifts_2d_keypoints_of_a_camera_space_estimator(trained, tmp_path):
    """HuPR/MAEPose-style 2-D keypoints (camera pixels) are lifted to 3-D with the radar points."""
    from radarkit.data.mmjoints import write_keypoints
    from radarkit.sim.camera import PinholeCamera

    sim, model_path, _ = trained
    ann = load_annotations(sim / "single_1")
    gt3d = ann["joints3d"]["hupr14"]
    camera = PinholeCamera()  # the simulator's camera (dataset.json)
    kp = camera.project(gt3d)
    np.testing.assert_allclose(kp, ann["keypoints2d"]["hupr14"], atol=0.05)
    keypoints = write_keypoints(tmp_path / "k.h5", kp, "hupr14", camera)
    points = tmp_path / "pts.h5"
    _points(sim, points)
    out = tmp_path / "d.h5"
    ok(run_cli(["describe", "--poses", keypoints, "--points", points, "--model", model_path, "--out", out]))
    lifted = read_descriptors(out)["joints5"][..., :3]
    assert lifted.shape == gt3d.shape
    # each frame's depth comes from the person's radar points: the body lands within 0.4 m of the
    # truth along boresight, and reprojects exactly onto the keypoints
    depth_err = np.abs(np.median(lifted[..., 1], axis=1) - np.median(gt3d[..., 1], axis=1))
    assert np.all(depth_err < 0.4), depth_err
    np.testing.assert_allclose(camera.project(lifted), kp, atol=0.05)


def test_unproject_inverts_project():
    from radarkit.sim.camera import PinholeCamera

    cam = PinholeCamera(position_m=(-0.1, 0.05, 0.2))
    pts = np.random.default_rng(0).uniform([-1, 1.5, -1], [1, 5, 1], size=(20, 3))
    back = cam.unproject(cam.project(pts), pts[:, 1] - 0.05)
    np.testing.assert_allclose(back, pts, atol=1e-4)
    with pytest.raises(ValueError, match="positive"):
        cam.unproject(np.zeros((1, 2)), 0.0)
