"""MAEPose clips: map preparation, joint targets, clip/target alignment, on-the-fly maps = cube files."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from radarkit.config import RadarConfig
from radarkit.data.clips import (
    ClipSpec,
    RadarClips,
    SequenceData,
    clip_dynamic_range,
    clip_starts,
    joint_targets,
    load_dataset,
    normalise_clip,
    prepare_maps,
    target_frame_indices,
)
from radarkit.train.maepose import denormalise_joints

TINY = RadarConfig(n_samples=64, n_loops=8, tx_order=(0, 2, 1), sample_rate_hz=5e6,
                   slope_hz_per_s=40e12, start_freq_hz=77e9, idle_time_s=10e-6,
                   adc_start_time_s=5e-6, ramp_end_time_s=20e-6, frame_period_s=0.1)


def test_prepare_maps_crops_and_averages_power() -> None:
    maps = np.full((2, 4, 12), -100.0, np.float32)
    maps[0, 1, 5] = 30.0  # one hot cell: 1000 power units
    out = prepare_maps(maps, range_bins=(4, 12), size=(2, 4))
    assert out.shape == (2, 2, 4)
    # the hot cell (row 1, range bin 5 -> cropped bin 1) lands in block (0, 0) of 2 x 2 cells
    assert out[0, 0, 0] == pytest.approx(10 * np.log10(1000 / 4), abs=1e-3)
    assert out[0, 1, 1] == pytest.approx(-100.0, abs=1e-3)
    with pytest.raises(ValueError, match="multiple"):
        prepare_maps(maps, size=(3, 5))
    with pytest.raises(ValueError, match="outside"):
        prepare_maps(maps, range_bins=(4, 40))


def test_normalise_clip_per_channel() -> None:
    rng = np.random.default_rng(0)
    clip = np.stack([rng.normal(80, 5, (4, 3, 3)), rng.normal(20, 1, (4, 3, 3))]).astype(np.float32)
    z = normalise_clip(clip, "zscore")
    assert np.allclose(z.mean(axis=(1, 2, 3)), 0, atol=1e-5)
    assert np.allclose(z.std(axis=(1, 2, 3)), 1, atol=1e-5)
    m = normalise_clip(clip, "minmax")
    assert np.allclose(m.min(axis=(1, 2, 3)), 0) and np.allclose(m.max(axis=(1, 2, 3)), 1)


def test_noise_floor_makes_noise_only_maps_constant() -> None:
    rng = np.random.default_rng(1)
    noise = (84.5 + rng.normal(0, 0.7, (2, 20, 16, 16))).astype(np.float32)  # thermal noise, dB
    noise[1] += 20.0  # a second channel on another level: floors are per channel
    floored = clip_dynamic_range(noise, noise_margin_db=6.0)  # > 8 sigma above the median
    assert np.all(np.ptp(floored.reshape(2, -1), axis=1) == 0)
    assert np.allclose(floored[:, 0, 0, 0], np.median(noise, axis=(1, 2, 3)) + 6.0)
    for method in ("zscore", "minmax"):  # a constant map normalises to zeros
        assert np.all(normalise_clip(floored, method) == 0)
    person = noise.copy()
    person[:, :, 8, 5] += 30.0  # a return 30 dB above the noise keeps its value
    out = clip_dynamic_range(person, noise_margin_db=6.0)
    assert np.array_equal(out[:, :, 8, 5], person[:, :, 8, 5])
    assert np.unique(np.delete(out[0].reshape(20, -1), 8 * 16 + 5, axis=1)).size == 1
    # peak-relative floor: dynamic range of 10 dB below each channel's peak
    dr = clip_dynamic_range(person, dynamic_range_db=10.0)
    assert np.allclose(dr.min(axis=(1, 2, 3)), person.max(axis=(1, 2, 3)) - 10.0)
    assert np.array_equal(clip_dynamic_range(person), person)
    with pytest.raises(ValueError, match="> 0"):
        clip_dynamic_range(person, dynamic_range_db=0.0)


def test_clip_spec_floor_is_applied_to_served_clips() -> None:
    rng = np.random.default_rng(2)
    maps = (84.5 + rng.normal(0, 0.7, (1, 25, 4, 8))).astype(np.float32)
    maps[0, :, 1, 3] += 25.0
    spec = ClipSpec(num_frames=20, stride=5, normalise="minmax", noise_margin_db=6.0)
    ds = RadarClips([SequenceData("n", maps)], spec, labels=False)
    clip = ds.clip(0)[0]
    assert np.all(np.delete(clip.reshape(20, -1), 1 * 8 + 3, axis=1) == 0)  # noise -> the minimum
    assert clip[:, 1, 3].max() == pytest.approx(1.0)
    assert ClipSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(ValueError, match="dynamic_range_db"):
        ClipSpec(dynamic_range_db=-3)


def test_joint_targets_in_metres_round_trip() -> None:
    j = np.zeros((1, 13, 3))
    j[0, 7] = (0.9, 3.0, 0.0)   # left hip
    j[0, 8] = (1.1, 3.0, 0.0)   # right hip: mid-hip x = 1.0
    j[0, 0] = (1.55, 3.2, 0.55)  # nose 0.55 m right of the mid-hip, 0.55 m above the radar
    j[0, 3] = (1.0, 3.0, 2.0)   # wrist above the extent
    j[0, 5] = np.nan
    ext = (-1.1, 1.1, 1.1, -1.1)
    uv, w = joint_targets(j, "xz", root_relative=True, extent=ext)
    assert uv[0, 0] == pytest.approx([0.75, 0.25])
    assert w[0, 0] == 1 and w[0, 3] == 0 and w[0, 5] == 0
    metres = denormalise_joints(uv, ext)
    assert metres[0, 0] == pytest.approx([0.55, 0.55])
    uv_abs, _ = joint_targets(j, "xz", root_relative=False, extent=(0.0, 2.0, 1.0, -1.0))
    assert uv_abs[0, 0] == pytest.approx([0.775, 0.225])
    uv_side, _ = joint_targets(j, "yz", root_relative=False, extent=(2.0, 4.0, 1.0, -1.0))
    assert uv_side[0, 0, 0] == pytest.approx(0.6)


def test_target_frames_and_clip_starts() -> None:
    assert target_frame_indices(20, 5).tolist() == [2, 6, 10, 14, 18]
    assert clip_starts(30, 20, 5).tolist() == [0, 5, 10]
    assert clip_starts(10, 20, 5).size == 0
    with pytest.raises(ValueError):
        ClipSpec(num_frames=20, n_target_frames=3)


def _seq(name: str, subject: int, n: int = 30) -> SequenceData:
    maps = np.arange(n, dtype=np.float32)[None, :, None, None] + np.zeros((1, n, 4, 8), np.float32)
    maps[:, :, 1, 2] += 7.0 * np.arange(n)[None, :]  # something that varies inside a frame
    joints = np.tile(np.linspace(0, 1, n, dtype=np.float32)[:, None, None], (1, 13, 2))
    return SequenceData(name, maps, subject, joints, np.ones((n, 13), np.float32))


def test_clips_align_frames_and_targets() -> None:
    spec = ClipSpec(num_frames=20, stride=5)
    ds = RadarClips([_seq("a", 1), _seq("b", 2)], spec)
    assert len(ds) == 6 and ds.subjects.tolist() == [1, 1, 1, 2, 2, 2]
    clip, joints, weight = ds[1]  # sequence a, frames 5..24
    assert clip.shape == (1, 20, 4, 8) and clip.dtype == torch.float32
    assert abs(float(clip.mean())) < 1e-5 and float(clip.std(unbiased=False)) == pytest.approx(1, abs=1e-4)
    expected = normalise_clip(ds.sequences[0].maps[:, 5:25])
    assert np.allclose(clip.numpy(), expected)
    assert joints.shape == (5, 13, 2) and weight.shape == (5, 13)
    assert np.allclose(joints[:, 0, 0].numpy(), np.linspace(0, 1, 30)[[7, 11, 15, 19, 23]])
    sub = ds.subset([2], labels=False)
    assert len(sub) == 3 and isinstance(sub[0], torch.Tensor)
    shifted = ds.with_range_shift(2)
    torch.manual_seed(0)
    c2, j2, _ = shifted[1]
    assert torch.equal(j2, joints)  # range roll leaves x/z joints unchanged
    assert any(torch.equal(c2, torch.roll(clip, s, dims=-1)) for s in range(-2, 3))
    with pytest.raises(ValueError, match="unlabelled"):
        RadarClips([SequenceData("u", np.zeros((1, 30, 4, 8), np.float32))], spec)
    assert len(RadarClips([SequenceData("u", np.zeros((1, 30, 4, 8), np.float32))], spec, labels=False)) == 3


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    from radarkit.dsp.cubes import CubeParams
    from radarkit.dsp.sequences import write_sequence_cubes
    from radarkit.sim.dataset import write_dataset

    root = tmp_path_factory.mktemp("clips")
    data = root / "sim"
    write_dataset(data, TINY, "exercise", n_subjects=2, seconds=2.4, radars=("hori",), seed=3)
    for kind, sub in (("rd-video", "rd"), ("ra-video", "ra")):
        write_sequence_cubes(data, root / "cubes" / sub, CubeParams(kind=kind, n_azimuth=16))
    return data, root / "cubes"


def test_cube_files_equal_on_the_fly_maps(tiny_dataset) -> None:
    data, cubes = tiny_dataset
    spec = ClipSpec(kind="rd", num_frames=8, n_target_frames=2, stride=4, size=(8, 16))
    from_files = load_dataset(data, spec, cubes / "rd")
    on_the_fly = load_dataset(data, spec)
    assert [s.subject for s in from_files] == [1, 2]
    for a, b in zip(from_files, on_the_fly, strict=True):
        assert a.maps.shape == (1, 24, 8, 16)
        assert np.allclose(a.maps, b.maps, atol=1e-3)
        assert np.array_equal(a.joints, b.joints)
    ds = RadarClips(from_files, spec)
    assert len(ds.subset([2])) == len(clip_starts(24, 8, 4))


def test_dual_clips_stack_rd_and_ra(tiny_dataset) -> None:
    data, cubes = tiny_dataset
    spec = ClipSpec(kind="dual", num_frames=8, n_target_frames=2, stride=8, size=(8, 16))
    seqs = load_dataset(data, spec, cubes, subjects=[1])
    ds = RadarClips(seqs, spec, labels=False)
    assert spec.in_chans == 2 and ds[0].shape == (2, 8, 8, 16)
    rd = load_dataset(data, ClipSpec(kind="rd", num_frames=8, n_target_frames=2, size=(8, 16)),
                      cubes / "rd", subjects=[1])[0]
    assert np.array_equal(seqs[0].maps[0], rd.maps[0])
