"""Every cube kind on every back end: a simulated target lands in its predicted bins; back ends agree;
files carry their axes; workers give identical files; AWR1843AOP geometry."""

from __future__ import annotations

import dataclasses
import json

import h5py
import numpy as np
import pytest

from radarkit.config.presets import get_preset
from radarkit.coords import spherical_to_cartesian
from radarkit.dsp.axes import CUBE_KINDS
from radarkit.dsp.backends import available_backends, get_backend
from radarkit.dsp.cubes import CubeParams, cube_axes, make_cube, write_cube
from radarkit.io.recording import Recording
from radarkit.io.writer import write_recording
from radarkit.sim.point_targets import simulate_point_targets
from tests.conftest import assert_same_cube

CFG3 = get_preset("iwr1843-3tx").replace(n_samples=128, sample_rate_hz=5e6, n_loops=32)
CFG2 = CFG3.replace(tx_order=(0, 2))
BACKENDS = available_backends()
R_TRUE, AZ_TRUE, EL_TRUE = 6.0, 0.3, 0.25
N_AZ, N_EL = 32, 8


def _target_raw(cfg, az=AZ_TRUE, el=EL_TRUE, n_frames=1, noise=0.5):
    pos = spherical_to_cartesian(R_TRUE, az, el)
    v_radial = 4.5 * cfg.velocity_resolution_mps  # Doppler bin +4.5 from zero: never on a bin edge
    vel = v_radial * pos / np.linalg.norm(pos)
    raw = simulate_point_targets(cfg, pos, vel, n_frames=n_frames, noise_std=noise, seed=1)
    return raw, v_radial  # the simulator applies the board's RX polarity (AWR1843AOP)


def _expected(cfg, v_radial, az=AZ_TRUE, el=EL_TRUE):
    return {
        "range": R_TRUE,
        "doppler": v_radial,
        "azimuth": np.arcsin(np.sin(az) * np.cos(el)),  # the azimuth-row phase is sin(az) cos(el)
        "elevation": el,
    }


def _tolerance(axis_values):
    return 1.01 * np.max(np.abs(np.diff(axis_values)))  # one bin


def _check_peak(cube, axes, expected, skip=()):
    mag = np.abs(cube[0]) if np.iscomplexobj(cube) else cube[0]
    if "virtual_antenna" in [a.dim for a in axes]:
        mag = (mag.astype(np.float64) if mag.dtype.kind == "f" else mag).sum(axis=axes[1:].index(
            next(a for a in axes[1:] if a.dim == "virtual_antenna")))
        axes = [a for a in axes if a.dim != "virtual_antenna"]
    idx = np.unravel_index(np.argmax(mag), mag.shape)
    for axis, i in zip(axes[1:], idx, strict=True):
        if axis.dim in skip or axis.dim not in expected:
            continue
        got = axis.values[i]
        assert abs(got - expected[axis.dim]) <= _tolerance(axis.values), (axis.dim, got, expected)


KIND_PARAMS = {
    "rd": dict(),
    "rd-video": dict(),
    "ra": dict(n_azimuth=N_AZ),
    "ra-video": dict(n_azimuth=N_AZ),
    "rad": dict(n_azimuth=N_AZ),
    "rae": dict(n_azimuth=N_AZ, n_elevation=N_EL),
    "vrdae": dict(n_azimuth=N_AZ, n_elevation=N_EL, doppler_bins=12),
    "range": dict(),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("cfg", [CFG2, CFG3], ids=["2tx", "3tx"])
@pytest.mark.parametrize("kind", [k for k in CUBE_KINDS if k != "range"])
def test_target_lands_in_predicted_bins(kind, cfg, backend):
    raw, v = _target_raw(cfg)
    params = CubeParams(kind=kind, backend=backend, **KIND_PARAMS[kind])
    b = get_backend(backend)
    cube = b.to_numpy(make_cube(raw, cfg, params))
    axes = cube_axes(cfg, params, (0, 1))
    assert cube.shape == tuple(len(a) for a in axes) and cube.dtype == params.dtype
    skip = ("elevation",) if cfg.n_tx == 2 else ()  # one row of antennas: no elevation information
    _check_peak(cube, axes, _expected(cfg, v), skip)


@pytest.mark.parametrize("kind", [k for k in CUBE_KINDS if k != "range"])
def test_backends_agree(kind):
    raw, _ = _target_raw(CFG3, noise=20.0)
    ref = make_cube(raw, CFG3, CubeParams(kind=kind, backend="numpy", **KIND_PARAMS[kind]))
    for name in BACKENDS:
        b = get_backend(name)
        out = b.to_numpy(make_cube(raw, CFG3, CubeParams(kind=kind, backend=name, **KIND_PARAMS[kind])))
        if CubeParams(kind=kind, **KIND_PARAMS[kind]).output == "db":  # compare linear power
            out, ref_ = 10 ** (out.astype(np.float64) / 10), 10 ** (ref.astype(np.float64) / 10)
        else:
            ref_ = ref
        # FFT rounding errors scale with the signal's total energy: relative to the cube's maximum
        assert np.abs(out - ref_).max() <= 1e-5 * np.abs(ref_).max(), name


def test_rae_and_vrdae_resolve_elevation_sign():
    up, v = _target_raw(CFG3, el=0.3)
    down, _ = _target_raw(CFG3, el=-0.3)
    params = CubeParams(kind="rae", n_azimuth=N_AZ, n_elevation=N_EL)
    axes = cube_axes(CFG3, params, (0, 1))
    for raw, el in ((up, 0.3), (down, -0.3)):
        cube = make_cube(raw, CFG3, params)
        _check_peak(cube, axes, _expected(CFG3, v, el=el))


def test_awr1843aop_grid_gives_azimuth_and_elevation():
    cfg = CFG3.replace(board="AWR1843AOP")
    assert set(map(tuple, cfg.virtual_positions.astype(int).tolist())) == {
        (a, e) for a in range(4) for e in range(4)} - {(2, 0), (3, 0), (2, 1), (3, 1)}
    raw, v = _target_raw(cfg, az=-0.35, el=0.3)
    params = CubeParams(kind="vrdae", n_azimuth=N_AZ, n_elevation=N_EL, doppler_bins=12)
    cube = make_cube(raw, cfg, params)
    _check_peak(cube, cube_axes(cfg, params, (0, 1)), _expected(cfg, v, az=-0.35, el=0.3))
    # without the RX polarity correction (data left as a BOOST would give it) the elevation is wrong
    wrong = np.abs(make_cube(raw * cfg.rx_phase[None, None, None, :, None], cfg, params)[0])
    el_axis = cube_axes(cfg, params, (0, 1))[2].values
    e_wrong = np.unravel_index(np.argmax(wrong), wrong.shape)[1]
    assert abs(e_wrong - np.argmin(np.abs(el_axis - 0.3))) >= 2  # bins away


@pytest.mark.parametrize("cfg", [CFG2, CFG3], ids=["2tx", "3tx"])
def test_rad_keeps_doppler_bins_and_axes_agree(cfg):
    raw, v = _target_raw(cfg)
    params = CubeParams(kind="rad", n_azimuth=N_AZ, doppler_bins=12)
    cube = make_cube(raw, cfg, params)
    axes = cube_axes(cfg, params, (0, 1))
    assert cube.shape == tuple(len(a) for a in axes) and cube.shape[1] == 12
    _check_peak(cube, axes, _expected(cfg, v))


def test_vrdae_keeps_doppler_bins_around_zero():
    params = CubeParams(kind="vrdae", n_azimuth=N_AZ)
    axes = cube_axes(CFG3, params, (0, 1))
    vel = axes[1].values
    assert len(vel) == 8 and params.doppler_bins == 8
    dv = CFG3.velocity_resolution_mps
    np.testing.assert_allclose(vel, np.arange(-4, 4) * dv)
    assert [a.dim for a in axes] == ["frame", "doppler", "elevation", "azimuth", "range"]


def test_invalid_combinations_are_refused():
    with pytest.raises(ValueError, match="complex ra"):
        CubeParams(kind="ra", output="complex")
    with pytest.raises(ValueError, match="hupr.*vrdae"):
        CubeParams(kind="rad", mode="hupr")
    with pytest.raises(ValueError, match="fixes range_window"):
        CubeParams(kind="vrdae", mode="hupr", range_window="hann")
    with pytest.raises(ValueError, match="dB video"):
        CubeParams(kind="rd-video", output="power")
    with pytest.raises(ValueError, match="unknown backend"):
        CubeParams(backend="cupy")


@pytest.fixture(scope="module")
def recording_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("kinds")
    raw, _ = _target_raw(CFG3, n_frames=6, noise=3.0)
    path = write_recording(root / "adc_data.bin", raw, CFG3)[0]
    return root, path


@pytest.mark.parametrize("kind", ["rad", "vrdae", "ra-video"])
def test_files_carry_axes_and_parameters(recording_file, kind):
    root, path = recording_file
    params = CubeParams(kind=kind, **KIND_PARAMS[kind])
    out = root / f"{kind}.h5"
    with Recording(path, CFG3) as rec:
        write_cube(rec, out, params, chunk=4, force=True)
    with h5py.File(out) as f:
        dims = json.loads(f["cube"].attrs["dims"])
        axes = cube_axes(CFG3, params, (0, 6))
        assert dims == [a.dim for a in axes] and f["cube"].shape == tuple(len(a) for a in axes)
        for i, axis in enumerate(axes):
            np.testing.assert_allclose(f["cube"].dims[i][0][()], axis.values)
        assert json.loads(f.attrs["processing"])["kind"] == kind
        assert f.attrs["kind"] == kind
        with Recording(path, CFG3) as rec:
            expected = make_cube(rec.read(0, 6), CFG3, params)
        assert_same_cube(f["cube"][()], expected, params.units)


def test_two_workers_write_the_same_file(recording_file):
    root, path = recording_file
    params = CubeParams(kind="rad", n_azimuth=N_AZ)
    cubes = []
    for workers in (1, 2):
        out = root / f"w{workers}.h5"
        with Recording(path, CFG3) as rec:
            write_cube(rec, out, params, chunk=1, force=True, workers=workers)
        with h5py.File(out) as f:
            cubes.append(f["cube"][()])
    np.testing.assert_array_equal(cubes[0], cubes[1])


@pytest.mark.parametrize("backend", [b for b in ("scipy", "fftw") if b in BACKENDS])
@pytest.mark.parametrize("iq_order", ["iq", "qi"])
@pytest.mark.parametrize("n_loops", [32, 6])  # 6: the clutter sum's loop remainder (4 at a time)
def test_rd_hot_path_equals_generic_chain(backend, iq_order, n_loops):
    from radarkit.dsp.plan import RDPlan
    from radarkit.io.layout import decode_frames, encode_frames

    cfg = CFG3.replace(iq_order=iq_order, n_loops=n_loops)
    raw, _ = _target_raw(cfg, n_frames=3, noise=5.0)
    raw = raw + 300.0  # a large static (DC) component that clutter removal must cancel
    words = encode_frames(raw, cfg)
    decoded = decode_frames(words, cfg)
    plan = RDPlan(cfg, backend=backend)
    ref = make_cube(decoded, cfg, CubeParams(kind="rd", output="complex", per_antenna=True, backend="numpy"))
    out = plan(words)
    assert out.shape == ref.shape == (3, cfg.n_loops, cfg.n_virtual, cfg.n_samples)
    assert np.abs(out - ref).max() <= 1e-5 * np.abs(ref).max()
    shifted = np.empty(words.size + 1, dtype=np.int16)  # words 2 bytes off an 8-byte boundary
    shifted[1:] = words.reshape(-1)
    np.testing.assert_array_equal(plan(shifted[1:]), out)
    power = plan.power(words)
    ref_p = make_cube(decoded, cfg, CubeParams(kind="rd", output="power", backend="numpy"))
    assert np.abs(power - ref_p).max() <= 1e-5 * ref_p.max()


@pytest.mark.parametrize("row", [1, 7, 8, 9, 16, 24, 3072, 3073, 12 * 128])
def test_padded_loop_stride_spans_an_odd_number_of_cache_lines(row):
    from radarkit.dsp.plan import padded_loop_stride

    stride = padded_loop_stride(row, itemsize=8, line=64)
    lines, rem = divmod(stride * 8, 64)
    assert rem == 0 and lines % 2 == 1 and stride >= row
    assert stride - row < 16  # at most one whole line beyond the rounded-up row
    if (row * 8) % 64 == 0 and (row * 8 // 64) % 2 == 1:
        assert stride == row  # already odd: no padding
    assert padded_loop_stride(3072) == 3080  # the HuPR frame: 384 lines -> 385
    with pytest.raises(ValueError, match="row >= 1"):
        padded_loop_stride(0)
    with pytest.raises(ValueError, match="multiple of itemsize"):
        padded_loop_stride(8, itemsize=8, line=60)


@pytest.mark.skipif("fftw" not in BACKENDS, reason="pyFFTW is not installed (optional extra 'fftw')")
@pytest.mark.parametrize("streaming", [True, False])
def test_rd_fftw_plan_into_a_misaligned_output_equals_the_aligned_one(streaming, monkeypatch):
    """The FFTW path copies through its own buffer when ``out`` is not SIMD-aligned: same cube as
    an aligned output, and an earlier call's output (the plan's last target) is not written; with
    streaming stores (x86-64: every frame through the buffer) and without (the range FFT writes
    an aligned output directly)."""
    import radarkit.dsp.plan as plan_module
    from radarkit.dsp.plan import RDPlan
    from radarkit.io.layout import encode_frames

    if streaming and not plan_module.STREAMING_STORES:
        pytest.skip("streaming stores are x86-64 only")
    monkeypatch.setattr(plan_module, "STREAMING_STORES", streaming)

    cfg = CFG3.replace(iq_order="qi")
    raw, _ = _target_raw(cfg, n_frames=3, noise=5.0)
    words = encode_frames(raw, cfg)
    words2 = encode_frames(raw[::-1] * 0.5, cfg)  # other frames for the second call
    plan = RDPlan(cfg, backend="fftw")
    expected = plan(words2)
    aligned = plan(words)  # leaves the range plan pointing at this output
    kept = aligned.copy()
    n = aligned.size
    buf = np.zeros(n * 8 + 16, dtype=np.uint8)
    start = next(o for o in range(8, 72, 8) if (buf.ctypes.data + o) % 16)  # 8 bytes off 16
    misaligned = buf[start:start + n * 8].view(np.complex64).reshape(aligned.shape)
    assert misaligned.ctypes.data % 16 != 0
    assert plan(words2, out=misaligned) is misaligned
    np.testing.assert_array_equal(misaligned, expected)
    np.testing.assert_array_equal(aligned, kept)  # the earlier call's output is left alone


@pytest.mark.parametrize("board", ["IWR1843BOOST", "AWR1843AOP"])
def test_row_factorisation_equals_the_dense_angle_matrix(board):
    from radarkit.dsp.angle import virtual_angle_matrix, virtual_row_matrices

    cfg = CFG3.replace(board=board)
    dense = virtual_angle_matrix(cfg, 16, 8, "hann", "hamming").reshape(8, 16, cfg.n_virtual)
    a, e = virtual_row_matrices(cfg, 16, 8, "hann", "hamming")
    rows = a.reshape(e.shape[1], 16, cfg.n_virtual)
    composed = np.einsum("ki,iav->kav", e, rows)
    np.testing.assert_allclose(composed, dense, rtol=0, atol=1e-5)


def test_torch_backend_inside_a_dataloader():
    """Cubes computed on the fly in a torch Dataset, batched by a DataLoader, equal numpy's."""
    torch = pytest.importorskip("torch")
    raw, _ = _target_raw(CFG3, n_frames=4, noise=3.0)
    params = CubeParams(kind="vrdae", backend="torch", n_azimuth=N_AZ, doppler_bins=4)

    class Frames(torch.utils.data.Dataset):
        def __len__(self):
            return len(raw)

        def __getitem__(self, i):
            return make_cube(torch.from_numpy(raw[i:i + 1]), CFG3, params)[0]

    batches = list(torch.utils.data.DataLoader(Frames(), batch_size=2))
    got = torch.cat(batches).numpy()
    ref = make_cube(raw, CFG3, CubeParams(kind="vrdae", backend="numpy", n_azimuth=N_AZ, doppler_bins=4))
    assert got.shape == ref.shape == (4, 4, 8, N_AZ, CFG3.n_samples)
    assert np.abs(got - ref).max() <= 1e-5 * np.abs(ref).max()


@pytest.mark.parametrize("backend", [b for b in ("scipy", "fftw") if b in BACKENDS])
@pytest.mark.parametrize("board", ["IWR1843BOOST", "AWR1843AOP"])
def test_vrdae_plan_equals_generic_chain(backend, board):
    """The planned 4-D cube (per-frame buffers, TDM phase folded into the row matrices, fused
    elevation combine) equals make_cube, and CubeTransform routes full-mode vrdae through it."""
    from radarkit.dsp.cubes import CubeTransform
    from radarkit.dsp.plan_vrdae import VRDAEPlan
    from radarkit.io.layout import decode_frames, encode_frames

    cfg = CFG3.replace(board=board, iq_order="qi")
    raw, v = _target_raw(cfg, n_frames=3, noise=5.0)
    raw = raw + 300.0  # static (DC) component: clutter removal must cancel it
    words = encode_frames(raw, cfg)
    params = CubeParams(kind="vrdae", backend=backend, n_azimuth=N_AZ, n_elevation=N_EL, doppler_bins=12,
                        range_bins=(4, 100), angle_window="hann")
    ref = make_cube(decode_frames(words, cfg), cfg, params)
    plan = VRDAEPlan(cfg, params)
    out = np.full(ref.shape, np.nan, dtype=np.complex64)
    assert plan(words, out=out) is out
    assert np.abs(out - ref).max() <= 1e-5 * np.abs(ref).max()
    transform = CubeTransform(cfg, params)
    assert transform.vrdae_plan is not None
    np.testing.assert_array_equal(transform(words), out)
    plain = dataclasses.replace(params, angle_window="none")  # a 2-row Hann window zeroes a row
    _check_peak(CubeTransform(cfg, plain)(words), cube_axes(cfg, plain, (0, 1)), _expected(cfg, v))
    db = CubeTransform(cfg, dataclasses.replace(params, output="db"))(words)
    np.testing.assert_allclose(db, 10 * np.log10(np.maximum(np.abs(out) ** 2, 1e-12)), atol=1e-3)
    with pytest.raises(ValueError, match="whole number of frames"):
        plan(words[:-2])
    with pytest.raises(ValueError, match="C-contiguous complex64"):
        plan(words, out=np.empty((3,) + plan.frame_shape, dtype=np.complex128))
    with pytest.raises(ValueError, match="VRDAEPlan needs"):
        VRDAEPlan(cfg, dataclasses.replace(params, n_doppler=2 * cfg.n_loops))
