"""HDF5 and CSV storage of per-frame, variable-length point tables (radar point clouds).

Layout of a radarkit points file (readable with plain h5py, pandas or MATLAB):

* group ``points``: one 1-D dataset per column (``range_m``, ``velocity_mps``, ``x``, ...), all of
  the total number of points, frame after frame, each with a ``units`` attribute; chunked and
  resizable so that frames can be appended while streaming;
* dataset ``frame_offsets`` (int64, ``n_frames + 1``): the points of frame ``f`` are rows
  ``frame_offsets[f]:frame_offsets[f + 1]``; dataset ``frame_time_s`` (capture time of each frame);
* root attributes: ``format`` (``"radarkit-points"``), ``format_version``, ``radarkit_version``,
  ``radar_config`` (JSON), ``processing`` (JSON: detection parameters), ``sources`` (JSON list of
  ``{name, size, sha256}``), ``n_frames``, ``n_points``, ``frame_start``, ``columns`` (JSON list of
  the column order), ``command``, ``created_utc`` (the
  provenance attributes of :mod:`radarkit.io.store`).

This module stores any numpy structured table; the point-cloud type and its columns are defined
in :mod:`radarkit.detect.pointcloud` (a layer above). Writing is atomic
(:func:`radarkit.atomic.atomic_output`): the file appears complete or not at all.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from radarkit._version import __version__
from radarkit.atomic import atomic_output
from radarkit.config.radar import RadarConfig
from radarkit.errors import ConfigError, StoreError
from radarkit.io.store import open_hdf5

__all__ = ["POINTS_FORMAT", "POINTS_FORMAT_VERSION", "PointsWriter", "StoredPoints", "read_points",
           "write_points", "export_csv", "is_points_file"]

POINTS_FORMAT = "radarkit-points"
POINTS_FORMAT_VERSION = 1
_JSON_ATTRS = ("radar_config", "processing", "sources", "capture")
_CHUNK_ROWS = 4096


class PointsWriter:
    """Stream a per-frame point table into a new HDF5 file, frame chunk by frame chunk, atomically.

    Use as a context manager; the file is renamed into place only if the block exits normally.

    Parameters
    ----------
    path : str or os.PathLike
        Output ``.h5`` file.
    dtype : numpy structured dtype
        Columns of the table (one dataset each).
    units : dict of str
        Units per column (``"m"``, ``"m/s"``, ``"rad"``, ``"dB"``, ``"1"``).
    config : RadarConfig, optional
        Stored as JSON in ``radar_config``.
    attrs : dict, optional
        More root attributes (``processing``, ``sources``, ``command``, ...); dicts and lists are
        stored as JSON strings.
    frame_period_s : float, optional
        Frame period for the ``frame_time_s`` dataset (default the config's).
    frame_start : int
        Index of the first frame in the source recording or cube.
    force : bool
        Replace an existing file.

    Raises
    ------
    StoreError
        Output exists (without ``force``), folder missing or not writable, write failure, or a
        chunk whose columns do not match.
    """

    def __init__(self, path: str | os.PathLike, dtype: np.dtype, units: dict[str, str] | None = None,
                 config: RadarConfig | None = None, attrs: dict[str, Any] | None = None,
                 frame_period_s: float | None = None, frame_start: int = 0, force: bool = False) -> None:
        self.path = Path(path)
        self.dtype = np.dtype(dtype)
        if self.dtype.names is None:
            raise StoreError("the point table needs a structured dtype (named columns)", source=path)
        self.units = dict(units or {})
        self.config = config
        self.attrs = dict(attrs or {})
        period = frame_period_s if frame_period_s is not None else (
            config.frame_period_s if config is not None else 0.0)
        self.frame_period_s = float(period)
        self.frame_start = int(frame_start)
        self.force = force
        self._stack: contextlib.ExitStack | None = None
        self._file: h5py.File | None = None
        self._offsets = [0]

    def __enter__(self) -> PointsWriter:
        stack = contextlib.ExitStack()
        try:
            tmp = stack.enter_context(atomic_output(self.path, self.force))
            try:
                f = h5py.File(tmp, "w")
            except OSError as err:
                raise StoreError(f"cannot create HDF5 file: {err}", source=self.path) from None
            stack.callback(f.close)
            group = f.create_group("points")
            for name in self.dtype.names:
                ds = group.create_dataset(name, shape=(0,), maxshape=(None,), chunks=(_CHUNK_ROWS,),
                                          dtype=self.dtype[name])
                ds.attrs["units"] = self.units.get(name, "")
        except BaseException:
            stack.close()
            raise
        self._stack, self._file = stack, f
        return self

    @property
    def n_frames(self) -> int:
        """Frames written so far."""
        return len(self._offsets) - 1

    def append(self, table: np.ndarray, offsets: np.ndarray) -> None:
        """Append frames: ``table`` rows of ``len(offsets) - 1`` frames.

        Parameters
        ----------
        table : structured ndarray, shape (n_points,)
            Rows of the new frames, frame after frame (same columns as the writer's dtype).
        offsets : ndarray of int, shape (n_new_frames + 1,)
            Frame offsets into ``table`` (starting at 0 and ending at ``len(table)``).

        Raises
        ------
        StoreError
            Writer not open, columns or offsets that do not match.
        """
        if self._file is None:
            raise StoreError("writer is not open", source=self.path)
        table = np.asarray(table)
        offsets = np.asarray(offsets, dtype=np.int64)
        if table.dtype.names is None or set(table.dtype.names) != set(self.dtype.names):
            raise StoreError(f"table columns {table.dtype.names} do not match {self.dtype.names}",
                             source=self.path)
        if offsets.ndim != 1 or len(offsets) < 1 or offsets[0] != 0 or offsets[-1] != len(table) \
                or np.any(np.diff(offsets) < 0):
            raise StoreError("frame offsets must rise from 0 to the number of rows", source=self.path)
        group = self._file["points"]
        start = self._offsets[-1]
        for name in self.dtype.names:
            ds = group[name]
            ds.resize((start + len(table),))
            ds[start:] = table[name].astype(self.dtype[name], copy=False)
        self._offsets.extend((start + offsets[1:]).tolist())

    def __exit__(self, exc_type, exc, tb) -> None:
        stack, f = self._stack, self._file
        self._stack = self._file = None
        if stack is None:
            return
        if exc_type is None:
            try:
                self._finish(f)
            except BaseException as err:  # the temporary file goes, the error stays
                stack.__exit__(type(err), err, err.__traceback__)
                raise
        stack.__exit__(exc_type, exc, tb)

    def _finish(self, f: h5py.File) -> None:
        f.create_dataset("frame_offsets", data=np.asarray(self._offsets, dtype=np.int64))
        times = (self.frame_start + np.arange(self.n_frames)) * self.frame_period_s
        f.create_dataset("frame_time_s", data=times).attrs["units"] = "s"
        root = f.attrs
        root["format"] = POINTS_FORMAT
        root["format_version"] = POINTS_FORMAT_VERSION
        root["radarkit_version"] = __version__
        if self.config is not None:
            root["radar_config"] = json.dumps(self.config.to_dict())
        root["n_frames"] = self.n_frames
        root["n_points"] = self._offsets[-1]
        root["frame_start"] = self.frame_start
        root["columns"] = json.dumps(list(self.dtype.names))
        root["created_utc"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        for key, value in self.attrs.items():
            root[key] = json.dumps(value) if isinstance(value, (dict, list, tuple)) else value
        f.flush()


def write_points(path: str | os.PathLike, table: np.ndarray, offsets: np.ndarray,
                 units: dict[str, str] | None = None, config: RadarConfig | None = None,
                 attrs: dict[str, Any] | None = None, frame_start: int = 0,
                 force: bool = False) -> Path:
    """Write a whole point table to a new HDF5 points file, atomically (see :class:`PointsWriter`).

    Parameters
    ----------
    path : str or os.PathLike
        Output file.
    table : structured ndarray, shape (n_points,)
    offsets : ndarray of int, shape (n_frames + 1,)
    units, config, attrs, frame_start, force
        As :class:`PointsWriter`.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    StoreError
        As :class:`PointsWriter`.
    """
    with PointsWriter(path, np.asarray(table).dtype, units, config, attrs, frame_start=frame_start,
                      force=force) as writer:
        writer.append(table, offsets)
    return Path(path)


@dataclass(frozen=True)
class StoredPoints:
    """Contents of a points file.

    Attributes
    ----------
    table : structured ndarray, shape (n_points,)
        All points, frame after frame.
    offsets : ndarray of int64, shape (n_frames + 1,)
        Frame offsets.
    units : dict of str
        Units per column.
    config : RadarConfig or None
        Radar configuration of the source.
    attrs : dict
        Root attributes (JSON ones decoded).
    frame_time_s : ndarray of float64, shape (n_frames,)
    """

    table: np.ndarray
    offsets: np.ndarray
    units: dict
    config: RadarConfig | None
    attrs: dict
    frame_time_s: np.ndarray


def is_points_file(path: str | os.PathLike) -> bool:
    """True if ``path`` is an HDF5 file with the ``radarkit-points`` format attribute."""
    try:
        with h5py.File(path, "r") as f:
            return f.attrs.get("format") == POINTS_FORMAT
    except OSError:
        return False


def read_points(path: str | os.PathLike) -> StoredPoints:
    """Read a points file written by :class:`PointsWriter`.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    StoredPoints

    Raises
    ------
    StoreError
        Missing file, not HDF5, not a radarkit points file, inconsistent offsets.
    """
    path = Path(path)
    with open_hdf5(path) as f:
        if f.attrs.get("format") != POINTS_FORMAT or "points" not in f or "frame_offsets" not in f:
            raise StoreError("not a radarkit points file (no 'points' group / format attribute)",
                             source=path)
        attrs = {}
        for key, value in f.attrs.items():
            if isinstance(value, bytes):
                value = value.decode()
            if key in _JSON_ATTRS and isinstance(value, str):
                value = json.loads(value)
            attrs[key] = value
        group = f["points"]
        names = list(group.keys())
        order = json.loads(attrs["columns"]) if "columns" in attrs else names
        names = [n for n in order if n in group] + [n for n in names if n not in order]
        dtype = np.dtype([(n, group[n].dtype) for n in names])
        n_points = group[names[0]].shape[0] if names else 0
        table = np.empty(n_points, dtype=dtype)
        units = {}
        for n in names:
            table[n] = group[n][()]
            u = group[n].attrs.get("units", "")
            units[n] = u.decode() if isinstance(u, bytes) else str(u)
        offsets = f["frame_offsets"][()].astype(np.int64)
        times = f["frame_time_s"][()] if "frame_time_s" in f else np.zeros(len(offsets) - 1)
    if offsets[0] != 0 or offsets[-1] != n_points or np.any(np.diff(offsets) < 0):
        raise StoreError("frame_offsets do not match the point table", source=path)
    config = None
    if "radar_config" in attrs:
        try:
            config = RadarConfig.from_dict(attrs["radar_config"], source=path)
        except ConfigError as err:
            raise StoreError(f"bad radar_config attribute: {err}", source=path) from None
    return StoredPoints(table, offsets, units, config, attrs, times)


def export_csv(path: str | os.PathLike, table: np.ndarray, offsets: np.ndarray, frame_start: int = 0,
               force: bool = False) -> Path:
    """Write a point table as CSV (one row per point, a leading ``frame`` column), atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Output ``.csv`` file.
    table : structured ndarray, shape (n_points,)
    offsets : ndarray of int, shape (n_frames + 1,)
    frame_start : int
        Number of the first frame (the ``frame`` column is ``frame_start + f``).
    force : bool
        Replace an existing file.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    StoreError
        Output exists (without ``force``) or cannot be written.
    """
    table = np.asarray(table)
    offsets = np.asarray(offsets, dtype=np.int64)
    frames = frame_start + np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    names = list(table.dtype.names)
    with atomic_output(path, force) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["frame", *names])
        cols = [frames] + [table[n] for n in names]
        for row in zip(*cols, strict=True):
            writer.writerow([f"{v:.6g}" if isinstance(v, (float, np.floating)) else int(v) for v in row])
    return Path(path)
