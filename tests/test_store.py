"""HDF5 store: layout readable with plain h5py, lazy reader, atomic writes."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from radarkit.dsp.axes import axes
from radarkit.errors import StoreError
from radarkit.io.store import CubeWriter, open_cube


def _write(path, cfg, data, **kw):
    ax = axes(cfg, "rd", (0, len(data)))
    with CubeWriter(path, ax, np.float32, "rd", cfg, attrs={"processing": {"window": "hann"}},
                    units="dB", **kw) as w:
        w.write(0, data[:1])
        w.write(1, data[1:])
    return ax


def test_roundtrip_plain_h5py_layout(tmp_path, small_config):
    data = np.random.default_rng(0).random((3, 16, 64), dtype=np.float32)
    path = tmp_path / "rd.h5"
    ax = _write(path, small_config, data)
    with h5py.File(path, "r") as f:  # what any h5py user sees, without radarkit
        cube = f["cube"]
        assert cube.chunks == (1, 16, 64) and cube.compression is None
        np.testing.assert_array_equal(cube[()], data)
        assert json.loads(cube.attrs["dims"]) == ["frame", "doppler", "range"]
        assert [d.label for d in cube.dims] == ["frame", "doppler", "range"]
        np.testing.assert_allclose(cube.dims[2][0][()], ax[2].values)
        assert cube.dims[2][0].name == "/range_m" and cube.dims[1][0].name == "/velocity_mps"
        assert f["range_m"].attrs["units"] == "m"
        assert f.attrs["kind"] == "rd" and "radarkit_version" in f.attrs
        assert json.loads(f.attrs["radar_config"])["n_samples"] == small_config.n_samples
    with open_cube(path) as f:
        assert f.config == small_config and f.kind == "rd" and f.dims == ("frame", "doppler", "range")
        assert f.attrs["processing"] == {"window": "hann"}
        np.testing.assert_array_equal(f.cube[1], data[1])
        np.testing.assert_allclose(f.axis("doppler").values, ax[1].values)


def test_compression_option(tmp_path, small_config):
    data = np.zeros((3, 16, 64), np.float32)
    _write(tmp_path / "c.h5", small_config, data, compression="gzip")
    with h5py.File(tmp_path / "c.h5", "r") as f:
        assert f["cube"].compression == "gzip"


def test_refuses_overwrite_and_failed_write_leaves_nothing(tmp_path, small_config):
    data = np.ones((3, 16, 64), np.float32)
    path = tmp_path / "rd.h5"
    _write(path, small_config, data)
    before = path.read_bytes()
    with pytest.raises(StoreError, match="output exists"):
        _write(path, small_config, data * 2)
    assert path.read_bytes() == before
    with pytest.raises(StoreError, match="does not fit"):
        with CubeWriter(tmp_path / "bad.h5", axes(small_config, "rd", (0, 2)), np.float32, "rd",
                        small_config) as w:
            w.write(1, data)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rd.h5"]
    _write(path, small_config, data * 2, force=True)
    with open_cube(path) as f:
        assert f.cube[0, 0, 0] == 2


def test_reader_errors(tmp_path):
    with pytest.raises(StoreError, match="file not found"):
        open_cube(tmp_path / "none.h5")
    (tmp_path / "text.h5").write_text("hello")
    with pytest.raises(StoreError, match="not an HDF5 file"):
        open_cube(tmp_path / "text.h5")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = 1
    with pytest.raises(StoreError, match="not a radarkit cube file"):
        open_cube(tmp_path / "other.h5")


def test_unwritable_folder_refused_before_work(tmp_path, small_config, monkeypatch):
    """The permission check itself (the chmod variant in test_bad_inputs needs a non-root user)."""
    import radarkit.atomic as atomic

    real_access = atomic.os.access
    monkeypatch.setattr(atomic.os, "access",
                        lambda p, mode: False if str(p) == str(tmp_path) else real_access(p, mode))
    with pytest.raises(StoreError, match="rd.h5: output folder .* is not writable"):
        _write(tmp_path / "rd.h5", small_config, np.zeros((3, 16, 64), np.float32))
    assert list(tmp_path.iterdir()) == []
