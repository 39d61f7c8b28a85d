"""HDF5 cube store: one file per run, readable with plain h5py (or xarray's h5netcdf engine).

Layout of a radarkit cube file:

* dataset ``cube``: the cube, frame first, chunked one frame per chunk (compression optional,
  off by default: radar data barely compresses, ``shared/specs/performance.md``);
  attributes ``dims`` (axis names), ``units`` (``"dB"``, ``"power"``, ``"complex"``).
* one dimension-scale dataset per axis (``frame_time_s``, ``velocity_mps``, ``virtual_antenna``,
  ``range_m``, ...) attached to the cube's dimensions, each with a ``units`` attribute;
* root attributes: ``format`` (``"radarkit-cube"``), ``format_version``, ``kind``,
  ``radarkit_version``, ``radar_config`` (JSON of :meth:`RadarConfig.to_dict`), ``processing``
  (JSON of the processing parameters), ``sources`` (JSON list of ``{name, size, sha256}``),
  ``n_frames``, ``frame_start``, ``bytes_skipped``, ``capture`` (JSON capture report),
  ``command``, ``created_utc``.

Writing is atomic (:func:`radarkit.atomic.atomic_output`): the file appears complete or not at all.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from radarkit._version import __version__
from radarkit.atomic import atomic_output
from radarkit.axis import Axis
from radarkit.config.radar import RadarConfig
from radarkit.errors import ConfigError, StoreError

__all__ = ["CubeWriter", "CubeFile", "open_cube", "open_hdf5", "FORMAT", "FORMAT_VERSION"]

FORMAT = "radarkit-cube"
FORMAT_VERSION = 1
_JSON_ATTRS = ("radar_config", "processing", "sources", "capture")


def open_hdf5(path: str | os.PathLike, fmt: str | None = None) -> h5py.File:
    """Open a radarkit HDF5 file for reading, checking its ``format`` attribute.

    Parameters
    ----------
    path : str or os.PathLike
    fmt : str, optional
        Required value of the root ``format`` attribute (``"radarkit-cube"``, ``"radarkit-points"``,
        ...); None accepts any HDF5 file.

    Returns
    -------
    h5py.File
        Open read-only; the caller closes it.

    Raises
    ------
    StoreError
        Missing file, not HDF5, or another format (the message names the file).
    """
    path = Path(path)
    if not path.exists():
        raise StoreError("file not found", source=path)
    try:
        f = h5py.File(path, "r")
    except OSError:
        raise StoreError("not an HDF5 file (or unreadable)", source=path) from None
    if fmt is not None and f.attrs.get("format") != fmt:
        f.close()
        raise StoreError(f"not a {fmt} file (format attribute)", source=path)
    return f


class CubeWriter:
    """Stream a cube into a new HDF5 file, frame chunk by frame chunk, atomically.

    Use as a context manager; the file is renamed into place only if the block exits normally.

    Parameters
    ----------
    path : str or os.PathLike
        Output ``.h5`` file.
    axes : list of Axis
        The cube's axes in order (frame first); their lengths give the shape.
    dtype : numpy dtype
        Cube dtype (float32 or complex64).
    kind : str
        Cube kind (``"rd"``, ``"range"``, ...).
    config : RadarConfig
        Stored as JSON in ``radar_config``.
    attrs : dict, optional
        More root attributes; dicts and lists are stored as JSON strings.
    units : str
        Stored on the cube dataset.
    force : bool
        Replace an existing file.
    compression : str or None
        h5py compression filter for the cube (``"gzip"``, ``"lzf"``) or None.
    frame_scale : bool
        Also create the ``frame_scale`` dataset ``(frame,)`` float32 (normalised float16 storage:
        the stored values times ``frame_scale[f]`` are the cube values of frame ``f``).

    Raises
    ------
    StoreError
        Output exists (without ``force``), folder missing or not writable, write failure.
    """

    def __init__(self, path: str | os.PathLike, axes: Sequence[Axis], dtype: Any, kind: str,
                 config: RadarConfig, attrs: dict[str, Any] | None = None, units: str = "",
                 force: bool = False, compression: str | None = None,
                 frame_scale: bool = False) -> None:
        self.path = Path(path)
        self.frame_scale = frame_scale
        self.axes = list(axes)
        self.shape = tuple(len(a) for a in self.axes)
        self.dtype = np.dtype(dtype)
        self.kind = kind
        self.config = config
        self.attrs = dict(attrs or {})
        self.units = units
        self.force = force
        self.compression = compression
        self._stack: contextlib.ExitStack | None = None
        self._file: h5py.File | None = None
        self.frames_written = 0

    def __enter__(self) -> CubeWriter:
        stack = contextlib.ExitStack()
        try:
            tmp = stack.enter_context(atomic_output(self.path, self.force))
            chunk = (1, *self.shape[1:])
            chunk_bytes = int(np.prod(chunk)) * self.dtype.itemsize
            try:
                f = h5py.File(tmp, "w", rdcc_nbytes=max(1 << 20, 4 * chunk_bytes))
            except OSError as err:
                raise StoreError(f"cannot create HDF5 file: {err}", source=self.path) from None
            stack.callback(f.close)
            cube = f.create_dataset("cube", shape=self.shape, dtype=self.dtype, chunks=chunk,
                                    compression=self.compression)
            cube.attrs["dims"] = json.dumps([a.dim for a in self.axes])
            cube.attrs["units"] = self.units
            if self.frame_scale:
                scale_ds = f.create_dataset("frame_scale", shape=(self.shape[0],), dtype=np.float32)
                scale_ds.attrs["description"] = "cube value of frame f = stored value * frame_scale[f]"
            for i, axis in enumerate(self.axes):
                scale = f.create_dataset(axis.scale, data=np.asarray(axis.values))
                scale.attrs["units"] = axis.units
                scale.make_scale(axis.dim)
                cube.dims[i].attach_scale(scale)
                cube.dims[i].label = axis.dim
        except BaseException:
            stack.close()
            raise
        self._stack, self._file = stack, f
        return self

    @property
    def cube(self) -> h5py.Dataset:
        """The cube dataset being written."""
        if self._file is None:
            raise StoreError("writer is not open", source=self.path)
        return self._file["cube"]

    def write(self, start: int, block: np.ndarray, scale: np.ndarray | None = None) -> None:
        """Write frames ``start : start + len(block)`` of the cube (and their ``frame_scale``).

        Raises
        ------
        StoreError
            If the block's shape does not fit the cube, or ``scale`` is missing or unexpected.
        """
        block = np.asarray(block)
        if (scale is not None) != self.frame_scale:
            raise StoreError("frame_scale values must be given exactly when the file has a "
                             "frame_scale dataset", source=self.path)
        if scale is not None:
            self._file["frame_scale"][start:start + len(block)] = np.asarray(scale, np.float32)
        if block.shape[1:] != self.shape[1:] or start < 0 or start + len(block) > self.shape[0]:
            raise StoreError(f"block of shape {block.shape} at frame {start} does not fit the "
                             f"cube {self.shape}", source=self.path)
        self.cube[start:start + len(block)] = block.astype(self.dtype, copy=False)
        self.frames_written += len(block)

    def __exit__(self, exc_type, exc, tb) -> None:
        stack, f = self._stack, self._file
        self._stack = self._file = None
        if stack is None:
            return
        if exc_type is None:
            try:
                self._write_attrs(f)
            except BaseException as err:  # the temporary file goes, the error stays
                stack.__exit__(type(err), err, err.__traceback__)
                raise
        stack.__exit__(exc_type, exc, tb)

    def _write_attrs(self, f: h5py.File) -> None:
        root = f.attrs
        root["format"] = FORMAT
        root["format_version"] = FORMAT_VERSION
        root["kind"] = self.kind
        root["radarkit_version"] = __version__
        root["radar_config"] = json.dumps(self.config.to_dict())
        root["created_utc"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        for key, value in self.attrs.items():
            root[key] = json.dumps(value) if isinstance(value, (dict, list, tuple)) else value
        f.flush()


class CubeFile:
    """A radarkit cube file opened for reading; the cube stays on disk (lazy h5py dataset).

    Parameters
    ----------
    path : str or os.PathLike
        A file written by :class:`CubeWriter`.

    Attributes
    ----------
    cube : h5py.Dataset
        The cube; index it to read (``f.cube[0]`` reads one frame).
    config : RadarConfig
        The radar configuration of the source recording.
    dims : tuple of str
        Axis names.
    axes : list of Axis
        Axis values from the dimension scales.
    attrs : dict
        Root attributes, JSON ones decoded.

    Raises
    ------
    StoreError
        Missing file, not HDF5, not a radarkit cube file.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise StoreError("file not found", source=self.path)
        try:
            self._file = h5py.File(self.path, "r")
        except OSError:
            raise StoreError("not an HDF5 file (or unreadable)", source=self.path) from None
        try:
            if self._file.attrs.get("format") != FORMAT or "cube" not in self._file:
                raise StoreError("not a radarkit cube file (no 'cube' dataset / format "
                                 "attribute)", source=self.path)
            self.attrs = {}
            for key, value in self._file.attrs.items():
                if isinstance(value, bytes):
                    value = value.decode()
                if key in _JSON_ATTRS and isinstance(value, str):
                    value = json.loads(value)
                self.attrs[key] = value
            self.cube: h5py.Dataset = self._file["cube"]
            self.dims = tuple(json.loads(self.cube.attrs["dims"]))
            try:
                self.config = RadarConfig.from_dict(self.attrs["radar_config"], source=self.path)
            except (KeyError, ConfigError) as err:
                raise StoreError(f"bad radar_config attribute: {err}", source=self.path) from None
            self.axes = []
            for i, dim in enumerate(self.dims):
                scales = list(self.cube.dims[i].values())
                if not scales:
                    raise StoreError(f"axis {dim!r} has no dimension scale", source=self.path)
                scale = scales[0]
                units = scale.attrs.get("units", "")
                units = units.decode() if isinstance(units, bytes) else units
                self.axes.append(Axis(dim, scale.name.lstrip("/"), scale[()], units))
        except BaseException:
            self._file.close()
            raise

    @property
    def kind(self) -> str:
        """Cube kind (``"rd"``, ``"range"``, ...)."""
        return str(self.attrs["kind"])

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the cube."""
        return tuple(self.cube.shape)

    @property
    def is_float16(self) -> bool:
        """True for normalised float16 storage (a trailing ``component`` axis and ``frame_scale``)."""
        return "frame_scale" in self._file

    def read(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Frames ``start:stop`` as cube values: complex64 rebuilt from normalised float16
        storage (``component`` axis re/im times ``frame_scale``), else the stored array."""
        data = self.cube[start:stop]
        if not self.is_float16:
            return data
        scale = self._file["frame_scale"][start:stop].reshape((-1,) + (1,) * (data.ndim - 2))
        values = data.astype(np.float32)
        return ((values[..., 0] + 1j * values[..., 1]) * scale).astype(np.complex64)

    def axis(self, dim: str) -> Axis:
        """The axis called ``dim``; raises ``KeyError`` if absent."""
        for a in self.axes:
            if a.dim == dim:
                return a
        raise KeyError(dim)

    def close(self) -> None:
        """Close the file."""
        self._file.close()

    def __enter__(self) -> CubeFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_cube(path: str | os.PathLike) -> CubeFile:
    """Open a radarkit cube file for lazy reading (see :class:`CubeFile`)."""
    return CubeFile(path)
