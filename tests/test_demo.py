"""``radarkit demo`` (:func:`radarkit.pipelines.demo.run_demo`): the whole chain on a fresh machine --
simulation, on-the-spot training, the ``pointcloud`` and ``hupr`` pipelines, figures -- at a
reduced size (fewer training frames, one HuPR step, a fraction of mmJoints' epochs)."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from radarkit.atomic import sha256_file
from radarkit.errors import StoreError
from radarkit.pipelines.demo import DemoSettings, run_demo

torch.set_num_threads(1)

SMALL = DemoSettings(train_subjects=1, train_seconds=2.0, hupr_seconds=0.0, mmjoints_epochs=0.02,
                     mmjoints_basis=4, mmjoints_gmm_poses=8, gif=False)  # GIFs: test_pipelines_run


pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, dict, list[str]]:
    out = tmp_path_factory.mktemp("demo")
    lines: list[str] = []
    report = run_demo(out, n_frames=10, settings=SMALL, echo=lines.append)
    return out, report, lines


def test_demo_runs_every_stage_with_the_documented_shapes(demo):
    out, report, lines = demo
    assert report["ok"]
    with h5py.File(out / "hupr.h5") as f:
        assert json.loads(f.attrs["stages"]) == ["read", "cube", "detect", "pose", "describe"]
        assert f["pose/keypoints"].shape == (10, 14, 2) and f["describe/joints5"].shape == (10, 14, 5)
        ck = {c["role"]: c["sha256"] for c in json.loads(f.attrs["checkpoints"])}
        assert ck["checkpoint:pose"] == sha256_file(out / "hupr_demo.ckpt")
        assert ck["checkpoint:describe"] == sha256_file(out / "mmjoints_demo.ckpt")
        kp = f["pose/keypoints"][()]
    with h5py.File(out / "pointcloud.h5") as f:
        assert f["cube/radar/map"].shape == (10, 64, 256)  # hupr preset: 64 loops, 256 samples
    # the reported error is the mean distance to the simulated truth
    from radarkit.sim.dataset import load_annotations

    truth = load_annotations(out / "recording" / "single_1")["keypoints2d"]["hupr14"][:10]
    assert report["keypoint_error_px"] == pytest.approx(np.linalg.norm(kp - truth, axis=-1).mean(), rel=1e-5)
    assert any(line.startswith("radarkit run hupr") for line in lines)
    # the demo's checkpoints load with the training modules' loaders (small enough to ship: < 5 MB)
    from radarkit.train.hupr import load_hupr
    from radarkit.train.mmjoints import load_mmjoints

    load_hupr(out / "hupr_demo.ckpt")
    load_mmjoints(out / "mmjoints_demo.ckpt")
    assert (out / "hupr_demo.ckpt").stat().st_size < 5e6


def test_demo_writes_every_figure(demo):
    out, report, _ = demo
    for name in ("rd_map.png", "ra_map.png", "point_cloud.png", "skeleton.png", "descriptors.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert str(out / name) in report["files"]
    assert not (out / "sequence.gif").exists()  # gif=False


def test_demo_refuses_to_overwrite_and_short_recordings(demo):
    out, _, _ = demo
    with pytest.raises(StoreError, match="exists"):
        run_demo(out, n_frames=10, settings=SMALL, echo=lambda s: None)
    with pytest.raises(ValueError, match="at least 8 frames"):
        run_demo(out, n_frames=4, settings=SMALL)
