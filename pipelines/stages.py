"""Pipeline stages: read -> cube -> detect -> pose -> describe, streaming frames in chunks.

A pipeline run (:mod:`radarkit.pipelines.runner`) reads ``chunk`` frames of every radar at a time
and passes them through the stages as a :class:`Block`: consecutive frames ``start .. start + n - 1``
with named fields whose first axis is the frame (``raw``, ``cube``, ``points``, ``keypoints``,
...). Each stage adds its fields, writes its results into its own HDF5 group of the output file as
it goes, and hands the block on. Memory is bounded by the chunk: stages that need frames around
the current one (HuPR's 8-frame windows, MAEPose's 20-frame clips, mmJoints' last ``K`` point
clouds) keep a small buffer of frames and hand frames on with that lag; :meth:`Stage.flush` empties
the buffer at the end of the recording.

Groups and datasets (``F`` frames of the run, ``J`` joints):

========== ================================================================================
group      contents
========== ================================================================================
read       ``frame_time_s`` (F,) s; attributes ``radars``, ``radar_config_<radar>`` (JSON),
           ``capture_<radar>`` (JSON capture report), ``n_frames``, ``frame_start``
cube       per radar ``cube/<radar>/``: ``map`` (F, Y, X) float32 dB (``save = "map"``: power
           summed non-coherently over every axis but (doppler, range) or (azimuth, range)) or
           ``cube`` (F, ...) as computed (``save = "cube"``), with one axis dataset per
           dimension (``units`` attribute) and the ``dims`` attribute
detect     ``points/<column>`` (P,) per point column of
           :data:`radarkit.detect.pointcloud.POINT_COLUMNS` and ``frame_offsets`` (F + 1,) int64
           (the layout of a radarkit points file, in a group)
pose       HuPR: ``keypoints`` (F, J, 2) float32 image pixels, ``joint_scores`` (F, J),
           ``scores`` (F,); MAEPose: ``joints_plane`` (F, J, 2) float32 m in the clip
           specification's plane (``plane``, ``root_relative`` attributes)
describe   ``poses`` (F, J, 3) float32 m (radar frame), ``xi`` and ``kappa`` (F, J) in (0, 1),
           ``joints5`` (F, J, 5)
========== ================================================================================

Every group carries ``stage`` and ``parameters`` (JSON) attributes.

References
----------
TI mmWave SDK object detection (CFAR, AoA); S.-P. Lee et al., "HuPR", WACV 2023, sec. 4-5;
"MAEPose" (``maepose.txt``), sec. 3.2; Z. Wang et al., "mmJoints", sec. 2-4.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from radarkit.axis import Axis
from radarkit.config.radar import RadarConfig
from radarkit.detect.pointcloud import POINT_DTYPE, POINT_UNITS, PointCloud, PointCloudParams
from radarkit.dsp.cubes import CubeParams, CubeTransform, cube_axes
from radarkit.errors import ConfigError

__all__ = [
    "Block",
    "RunContext",
    "CubeStageParams",
    "DetectStageParams",
    "PoseStageParams",
    "DescribeStageParams",
    "Stage",
    "ReadStage",
    "CubeStage",
    "DetectStage",
    "HuPRPoseStage",
    "MAEPosePoseStage",
    "DescribeStage",
    "map_dims",
    "cube_map_db",
    "plane_to_3d",
]


# ------------------------------------------------------------------------------------------------
# blocks of frames
# ------------------------------------------------------------------------------------------------
@dataclass
class Block:
    """Consecutive frames flowing through the stages.

    Parameters
    ----------
    start : int
        Index of the first frame within the run (0-based).
    n : int
        Number of frames.
    data : dict
        Fields. Arrays have the frame as first axis (length ``n``); ``raw`` and ``cube`` are dicts
        radar -> array; ``points`` is a list of ``n`` structured arrays of
        :data:`radarkit.detect.pointcloud.POINT_DTYPE`.
    """

    start: int
    n: int
    data: dict[str, Any] = field(default_factory=dict)

    def frames(self) -> list[dict[str, Any]]:
        """The block as one dict of fields per frame (array rows, list items)."""
        out = [{} for _ in range(self.n)]
        for key, value in self.data.items():
            for i in range(self.n):
                if isinstance(value, dict):
                    out[i][key] = {k: v[i] for k, v in value.items()}
                else:
                    out[i][key] = value[i]
        return out

    @classmethod
    def from_frames(cls, start: int, frames: list[dict[str, Any]]) -> Block:
        """Inverse of :meth:`frames` (arrays stacked, ``points`` kept as a list)."""
        data: dict[str, Any] = {}
        if frames:
            for key, first in frames[0].items():
                items = [f[key] for f in frames]
                if key == "points":
                    data[key] = items
                elif isinstance(first, dict):
                    data[key] = {k: np.stack([it[k] for it in items]) for k in first}
                else:
                    data[key] = np.stack([np.asarray(it) for it in items])
        return cls(start, len(frames), data)


@dataclass
class RunContext:
    """What every stage may know about the run.

    Parameters
    ----------
    radars : tuple of str
        Radar names, in input order.
    configs : dict of str to RadarConfig
        Configuration of each radar's recording (IQ order resolved).
    n_frames : int
        Frames processed.
    frame_start : int
        First frame of the recordings processed.
    chunk : int
        Frames read at a time.
    info : dict
        Results stages publish for later stages (e.g. the pose stage's camera and skeleton).
    """

    radars: tuple[str, ...]
    configs: dict[str, RadarConfig]
    n_frames: int
    frame_start: int = 0
    chunk: int = 16
    info: dict[str, Any] = field(default_factory=dict)


class _Appender:
    """A resizable HDF5 dataset that grows along its first (frame) axis."""

    def __init__(self, group: h5py.Group, name: str, shape: tuple[int, ...], dtype: Any, units: str = "",
                 dims: list[str] | None = None) -> None:
        dtype = np.dtype(dtype)
        row = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        rows = int(max(1, min(1024, (1 << 20) // max(row, 1))))
        self.ds = group.create_dataset(name, shape=(0, *shape), maxshape=(None, *shape), dtype=dtype,
                                       chunks=(rows, *shape) if shape else (rows,))
        self.ds.attrs["units"] = units
        if dims is not None:
            self.ds.attrs["dims"] = json.dumps(dims)

    def append(self, values: np.ndarray) -> None:
        values = np.asarray(values)
        n0 = self.ds.shape[0]
        self.ds.resize((n0 + len(values), *self.ds.shape[1:]))
        self.ds[n0:] = values.astype(self.ds.dtype, copy=False)


def _axis_dataset(group: h5py.Group, axis: Axis) -> None:
    ds = group.create_dataset(axis.scale, data=np.asarray(axis.values))
    ds.attrs["units"] = axis.units
    ds.attrs["dim"] = axis.dim


# ------------------------------------------------------------------------------------------------
# stage parameters (frozen; built by radarkit.pipelines.runner from TOML)
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CubeStageParams:
    """Parameters of the cube stage.

    Parameters
    ----------
    cube : CubeParams
        Cube kind and processing (:class:`radarkit.dsp.cubes.CubeParams`).
    radars : tuple of str
        Radars cubed (empty: all).
    save : {"none", "map", "cube"}
        What the ``cube`` group keeps: nothing, a dB map per frame (:func:`cube_map_db`; a few
        tens of kB per frame) or the whole cube (MB per frame for the 4-D kinds).
    """

    cube: CubeParams = field(default_factory=CubeParams)
    radars: tuple[str, ...] = ()
    save: str = "map"

    def __post_init__(self) -> None:
        if self.save not in ("none", "map", "cube"):
            raise ValueError(f"save must be 'none', 'map' or 'cube', got {self.save!r}")
        if self.save == "map":
            map_dims(self.cube.kind)  # raises for kinds without a 2-D map

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {"cube": self.cube.to_dict(), "radars": list(self.radars), "save": self.save}


@dataclass(frozen=True)
class DetectStageParams:
    """Parameters of the detect stage (CFAR -> point cloud).

    Parameters
    ----------
    points : PointCloudParams
        CFAR, peak grouping and angle settings.
    input : {"raw", "cube"}
        Detect on the cube stage's output (a per-antenna complex RD cube gives angles; summed RD
        maps give range and velocity only; RAD cubes their own angles) or on a per-antenna RD cube
        computed here from the raw frames (Hann windows).
    radar : str or None
        The radar detected on (None: the first).
    clutter_removal : bool
        ``input = "raw"``: static clutter removal before the Doppler FFT.
    """

    points: PointCloudParams = field(default_factory=PointCloudParams)
    input: str = "raw"
    radar: str | None = None
    clutter_removal: bool = False

    def __post_init__(self) -> None:
        if self.input not in ("raw", "cube"):
            raise ValueError(f"input must be 'raw' or 'cube', got {self.input!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {"points": self.points.to_dict(), "input": self.input, "radar": self.radar,
                "clutter_removal": self.clutter_removal}


@dataclass(frozen=True)
class PoseStageParams:
    """Parameters of the pose stage.

    Parameters
    ----------
    model : {"hupr", "maepose"}
        Estimator: HuPR on both radars' VRDAE cubes (2-D keypoints in camera pixels) or MAEPose on
        an ``rd-video`` / ``ra-video`` cube (joints on a vertical plane, m).
    checkpoint : str or None
        Checkpoint file (``radarkit train hupr`` / ``radarkit train maepose``).
    batch : int
        Windows or clips per forward pass.
    device : str
        ``cpu``, ``cuda`` or ``auto``.
    radars : tuple of str
        HuPR: (horizontal, vertical) radar names (empty: the first two); MAEPose: the radar of the
        clips (empty: the first).
    stride : int or None
        MAEPose: frames between clip starts (None: the checkpoint's clip stride).
    camera_position_m : (float, float, float)
        HuPR: optical centre of the annotation camera in the radar frame (m), for lifting the
        keypoints to 3-D (:func:`radarkit.data.mmjoints.lift_keypoints`).
    image_size : (int, int)
        HuPR: keypoint image ``(width, height)`` in pixels.
    camera_fov_deg : float
        HuPR: horizontal field of view of the camera (degrees).
    """

    model: str = "hupr"
    checkpoint: str | None = None
    batch: int = 8
    device: str = "cpu"
    radars: tuple[str, ...] = ()
    stride: int | None = None
    camera_position_m: tuple[float, float, float] = (-0.10, 0.0, 0.0)
    image_size: tuple[int, int] = (256, 256)
    camera_fov_deg: float = 70.0

    def __post_init__(self) -> None:
        if self.model not in ("hupr", "maepose"):
            raise ValueError(f"model must be 'hupr' or 'maepose', got {self.model!r}")
        if self.batch < 1 or (self.stride is not None and self.stride < 1):
            raise ValueError("batch and stride must be positive")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return asdict(self)


@dataclass(frozen=True)
class DescribeStageParams:
    """Parameters of the describe stage (mmJoints sensing and reliability scores).

    Parameters
    ----------
    model : {"mmjoints"}
        Descriptor model.
    checkpoint : str or None
        ``radarkit train mmjoints`` checkpoint.
    batch : int
        Frames per forward pass.
    device : str
        ``cpu``, ``cuda`` or ``auto``.
    default_depth_m : float
        Depth (m along boresight) of a person in frames without radar points.
    """

    model: str = "mmjoints"
    checkpoint: str | None = None
    batch: int = 64
    device: str = "cpu"
    default_depth_m: float = 3.0

    def __post_init__(self) -> None:
        if self.model != "mmjoints":
            raise ValueError(f"model must be 'mmjoints', got {self.model!r}")
        if self.batch < 1 or self.default_depth_m <= 0:
            raise ValueError("batch and default_depth_m must be positive")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return asdict(self)


# ------------------------------------------------------------------------------------------------
# array helpers
# ------------------------------------------------------------------------------------------------
def map_dims(kind: str) -> tuple[str, str]:
    """The two axes of the 2-D map kept for a cube kind: ``(doppler, range)`` or ``(azimuth, range)``.

    Parameters
    ----------
    kind : str
        Cube kind (:data:`radarkit.dsp.axes.CUBE_KINDS`).

    Returns
    -------
    (str, str)

    Raises
    ------
    ValueError
        ``range`` cubes (no map: loops x antennas x range).
    """
    if kind in ("rd", "rd-video"):
        return ("doppler", "range")
    if kind in ("ra", "ra-video", "rad", "rae", "vrdae"):
        return ("azimuth", "range")
    raise ValueError(f"cube kind {kind!r} has no 2-D map; use save = 'cube' or 'none'")


def cube_map_db(block: np.ndarray, dims: tuple[str, ...], units: str, keep: tuple[str, str]) -> np.ndarray:
    """dB maps of cube frames: power summed non-coherently over every axis but ``keep``.

    Parameters
    ----------
    block : ndarray, shape (frame, ...)
        Cube frames (complex, power or dB).
    dims : tuple of str
        Axis names of ``block`` (frame first).
    units : {"complex", "power", "dB"}
        What the values are.
    keep : (str, str)
        The two axes kept, in output order.

    Returns
    -------
    ndarray of float32, shape (frame, len(keep[0]), len(keep[1]))
        ``10 log10`` of the summed power (floor 1e-12).
    """
    block = np.asarray(block)
    if np.iscomplexobj(block):
        power = block.real.astype(np.float32) ** 2 + block.imag.astype(np.float32) ** 2
    elif units == "dB":
        power = np.power(10.0, block.astype(np.float32) / 10.0, dtype=np.float32)
    else:
        power = block.astype(np.float32)
    other = tuple(i for i, d in enumerate(dims) if i > 0 and d not in keep)
    if other:
        power = power.sum(axis=other)
    rest = [d for i, d in enumerate(dims) if i == 0 or d in keep]
    if rest[1:] != list(keep):
        power = np.swapaxes(power, 1, 2)
    return (10.0 * np.log10(np.maximum(power, 1e-12))).astype(np.float32)


def plane_to_3d(joints_plane: np.ndarray, clouds: list[np.ndarray], plane: str = "xz",
                root_relative: bool = True, default_depth_m: float = 3.0) -> np.ndarray:
    """3-D joints from MAEPose's plane joints and the frame's radar points.

    A documented choice: plane ``xz`` gives ``(h, z)``; the depth ``y`` of every joint is the
    median ``y`` of the frame's points (``default_depth_m`` without points), and with
    ``root_relative`` the lateral ``x`` is ``h`` plus the median ``x`` of the points. Plane ``yz``
    gives ``(y, z)`` and ``x`` is the points' median ``x``.

    Parameters
    ----------
    joints_plane : ndarray, shape (F, J, 2)
        Plane coordinates (m).
    clouds : list of F ndarrays, shape (N_f, >= 3)
        Points with ``x, y, z`` (m) first.
    plane : {"xz", "yz"}
    root_relative : bool
        The horizontal coordinate is relative to the person (MAEPose's default).
    default_depth_m : float
        Depth of frames without points.

    Returns
    -------
    ndarray of float32, shape (F, J, 3)
        m, radar frame.
    """
    jp = np.asarray(joints_plane, dtype=np.float64)
    out = np.zeros(jp.shape[:2] + (3,), np.float64)
    for f, cloud in enumerate(clouds):
        xyz = np.asarray(cloud, dtype=np.float64)[:, :3]
        cx = float(np.median(xyz[:, 0])) if len(xyz) else 0.0
        cy = float(np.median(xyz[:, 1])) if len(xyz) else default_depth_m
        if plane == "xz":
            out[f, :, 0] = jp[f, :, 0] + (cx if root_relative else 0.0)
            out[f, :, 1] = cy
        else:
            out[f, :, 0] = cx
            out[f, :, 1] = jp[f, :, 0]
        out[f, :, 2] = jp[f, :, 1]
    return out.astype(np.float32)


# ------------------------------------------------------------------------------------------------
# stages
# ------------------------------------------------------------------------------------------------
class Stage:
    """Base class: a stage writes one group and transforms blocks (default: unchanged)."""

    #: Group name in the output file.
    name = "stage"

    def open(self, group: h5py.Group, ctx: RunContext) -> None:
        """Create the stage's datasets in ``group``; check what it needs from ``ctx``."""

    def process(self, block: Block) -> Block:
        """Add this stage's fields to ``block`` (and write them); may return fewer frames (lag)."""
        return block

    def flush(self) -> Block | None:
        """Frames still buffered at the end of the recording (None: none)."""
        return None

    def close(self) -> dict[str, Any]:
        """Finish the group; return a short summary (stored as the group's ``summary``)."""
        return {}


class ReadStage(Stage):
    """Raw frames of every radar (int16 words in file order), and the ``read`` group.

    Parameters
    ----------
    recordings : dict of str to Recording
        Open recordings, per radar.
    """

    name = "read"

    def __init__(self, recordings: dict) -> None:
        self.recordings = recordings

    def open(self, group: h5py.Group, ctx: RunContext) -> None:
        group.attrs["radars"] = json.dumps(list(ctx.radars))
        group.attrs["n_frames"] = ctx.n_frames
        group.attrs["frame_start"] = ctx.frame_start
        for radar, rec in self.recordings.items():
            group.attrs[f"radar_config_{radar}"] = json.dumps(rec.config.to_dict())
            group.attrs[f"capture_{radar}"] = json.dumps(asdict(rec.report))
        period = ctx.configs[ctx.radars[0]].frame_period_s
        ds = group.create_dataset("frame_time_s", data=(ctx.frame_start + np.arange(ctx.n_frames)) * period)
        ds.attrs["units"] = "s"

    def read(self, first: int, last: int, frame_start: int = 0) -> Block:
        """Frames ``first:last`` of the run (recording frames shifted by ``frame_start``)."""
        raw = {}
        for radar, rec in self.recordings.items():
            words = rec.words(frame_start + first, frame_start + last)
            raw[radar] = words.reshape(last - first, rec.config.bytes_per_frame // 2)
        return Block(first, last - first, {"raw": raw})


class CubeStage(Stage):
    """Raw words -> cube of one kind per radar (:class:`radarkit.dsp.cubes.CubeTransform`).

    Parameters
    ----------
    params : CubeStageParams
    """

    name = "cube"

    def __init__(self, params: CubeStageParams) -> None:
        self.params = params

    def open(self, group: h5py.Group, ctx: RunContext) -> None:
        p = self.params
        self.radars = p.radars or ctx.radars
        unknown = [r for r in self.radars if r not in ctx.radars]
        if unknown:
            raise ConfigError(f"[cube] radars {unknown} are not inputs of the pipeline ({list(ctx.radars)})")
        self.transforms, self.dims, self.writers = {}, {}, {}
        for radar in self.radars:
            cfg = ctx.configs[radar]
            self.transforms[radar] = CubeTransform(cfg, p.cube)
            axes = cube_axes(cfg, p.cube, (0, ctx.n_frames))
            self.dims[radar] = tuple(a.dim for a in axes)
            sub = group.create_group(radar)
            sub.attrs["kind"] = p.cube.kind
            sub.attrs["cube_dims"] = json.dumps(list(self.dims[radar]))
            if p.save == "map":
                keep = map_dims(p.cube.kind)
                kept = {a.dim: a for a in axes}
                for dim in keep:
                    _axis_dataset(sub, kept[dim])
                self.writers[radar] = _Appender(sub, "map", (len(kept[keep[0]]), len(kept[keep[1]])),
                                                np.float32, "dB", ["frame", *keep])
            elif p.save == "cube":
                for a in axes[1:]:
                    _axis_dataset(sub, a)
                self.writers[radar] = _Appender(sub, "cube", tuple(len(a) for a in axes[1:]), p.cube.dtype,
                                                p.cube.units, list(self.dims[radar]))
        ctx.info["cube"] = {"kind": p.cube.kind, "units": p.cube.units, "dims": self.dims,
                            "axes": {r: {a.dim: np.asarray(a.values) for a in cube_axes(
                                ctx.configs[r], p.cube, (0, 1))} for r in self.radars}}

    def process(self, block: Block) -> Block:
        cubes = {}
        for radar in self.radars:
            cube = self.transforms[radar](block.data["raw"][radar])
            cubes[radar] = cube
            writer = self.writers.get(radar)
            if writer is None:
                continue
            if self.params.save == "map":
                writer.append(cube_map_db(cube, self.dims[radar], self.params.cube.units,
                                          map_dims(self.params.cube.kind)))
            else:
                writer.append(cube)
        block.data["cube"] = cubes
        return block


class DetectStage(Stage):
    """CFAR point clouds of one radar, from its raw frames or from the cube stage's output.

    Parameters
    ----------
    params : DetectStageParams

    References
    ----------
    TI mmWave SDK object detection; :mod:`radarkit.detect.pointcloud`.
    """

    name = "detect"

    def __init__(self, params: DetectStageParams) -> None:
        self.params = params
        self.n_points = 0

    def open(self, group: h5py.Group, ctx: RunContext) -> None:
        from radarkit.dsp.plan import RDPlan, rd_plan_supports
        from radarkit.dsp.windows import get_window

        p = self.params
        self.radar = p.radar or ctx.radars[0]
        if self.radar not in ctx.radars:
            raise ConfigError(f"[detect] radar {self.radar!r} is not an input of the pipeline "
                              f"({list(ctx.radars)})")
        self.config = ctx.configs[self.radar]
        self.plan = self.window = None
        if p.input == "cube":
            cube = ctx.info.get("cube")
            if cube is None or self.radar not in cube["dims"]:
                raise ConfigError(f"[detect] input = 'cube' needs a cube stage over radar {self.radar!r}")
            self.dims = cube["dims"][self.radar]
            self.units = cube["units"]
            self.axes = cube["axes"][self.radar]
            ok = {("frame", "doppler", "virtual_antenna", "range"), ("frame", "doppler", "range"),
                  ("frame", "doppler", "azimuth", "range")}
            if self.dims not in ok:
                raise ConfigError(f"[detect] cannot detect on a cube with axes {self.dims}; use kind 'rd' "
                                  "(per_antenna = true, output = 'complex' for angles) or 'rad'")
            if self.dims[2] == "virtual_antenna" and self.units != "complex":
                raise ConfigError("[detect] a per-antenna RD cube must be complex to estimate angles")
        elif rd_plan_supports(self.config):
            self.plan = RDPlan(self.config, "hann", "hann", p.clutter_removal)
        else:
            self.window = get_window("hann", self.config.n_samples)
        pts = group.create_group("points")
        self.columns = {name: _Appender(pts, name, (), POINT_DTYPE[name], POINT_UNITS[name])
                        for name in POINT_DTYPE.names}
        self.offsets = _Appender(group, "frame_offsets", (), np.int64)
        self.offsets.append(np.zeros(1, np.int64))
        group.attrs["radar"] = self.radar
        group.attrs["columns"] = json.dumps(list(POINT_DTYPE.names))
        ctx.info["detect"] = {"radar": self.radar}

    def _cloud(self, block: Block) -> PointCloud:
        from radarkit.detect.cfar import db_to_power
        from radarkit.detect.pointcloud import (
            point_cloud,
            points_from_power,
            points_from_rad,
            points_from_rd,
        )
        from radarkit.io.layout import decode_frames

        p = self.params
        if p.input == "cube":
            cube = block.data["cube"][self.radar]
            ax = self.axes
            if self.dims[2] == "virtual_antenna":
                return points_from_rd(cube, self.config, p.points, ax["range"], ax["doppler"], block.start)
            if np.iscomplexobj(cube):
                power = (cube.real ** 2 + cube.imag ** 2).astype(np.float32)
            else:
                power = db_to_power(cube) if self.units == "dB" else cube.astype(np.float32)
            if self.dims[2] == "azimuth":
                return points_from_rad(power, ax["range"], ax["doppler"], ax["azimuth"], p.points,
                                       block.start)
            return points_from_power(power, ax["range"], ax["doppler"], p.points, block.start)
        words = block.data["raw"][self.radar]
        if self.plan is not None:
            return points_from_rd(self.plan(words), self.config, p.points, frame_start=block.start)
        raw = decode_frames(words.reshape(-1), self.config, window=self.window)
        return point_cloud(raw, self.config, p.points, clutter_removal=p.clutter_removal, range_window=None,
                           frame_start=block.start)

    def process(self, block: Block) -> Block:
        cloud = self._cloud(block)
        for name, writer in self.columns.items():
            writer.append(cloud.table[name])
        self.offsets.append(self.n_points + cloud.offsets[1:])
        self.n_points += len(cloud)
        block.data["points"] = [cloud.frame(i) for i in range(cloud.n_frames)]
        return block

    def close(self) -> dict[str, Any]:
        return {"n_points": self.n_points}


class _LagBuffer:
    """Frames waiting for a lagging stage, without the heavy ``raw`` and ``cube`` fields."""

    def __init__(self) -> None:
        self.frames: dict[int, dict[str, Any]] = {}

    def add(self, block: Block) -> None:
        light = Block(block.start, block.n, {k: v for k, v in block.data.items() if k not in ("raw", "cube")})
        for i, frame in enumerate(light.frames()):
            self.frames[block.start + i] = frame

    def pop(self, frames: list[int], fields: dict[str, np.ndarray]) -> Block | None:
        """Remove ``frames`` (consecutive, ascending), adding one row of each of ``fields`` to each."""
        if not frames:
            return None
        out = []
        for i, f in enumerate(frames):
            frame = self.frames.pop(f)
            for key, value in fields.items():
                frame[key] = value[i]
            out.append(frame)
        return Block.from_frames(frames[0], out)


class HuPRPoseStage(Stage):
    """HuPR keypoints of every frame from the two radars' VRDAE cubes (8-frame windows t-4..t+3).

    Each frame's VRDAE cube is normalised once (:func:`radarkit.data.hupr.vrdae_to_normalized_input`)
    and kept while a window needs it, so frame ``t`` leaves the stage when frame ``t + 3`` has
    arrived (at the end, windows are clamped to the last frame as in HuPR's loader).

    Parameters
    ----------
    params : PoseStageParams

    References
    ----------
    HuPR sec. 4-5; official ``HuPR3D_horivert`` (edge frames repeated).
    """

    name = "pose"

    def __init__(self, params: PoseStageParams) -> None:
        self.params = params

    def open(self, group: h5py.Group, ctx: RunContext) -> None:
        from radarkit.train.hupr import load_hupr

        p = self.params
        if p.checkpoint is None:
            raise ConfigError("[pose] HuPR needs a checkpoint (checkpoint = FILE or --checkpoint pose=FILE)")
        self.radars = tuple(p.radars) or tuple(ctx.radars[:2])
        cube = ctx.info.get("cube")
        if len(self.radars) != 2 or cube is None or cube["kind"] != "vrdae" or \
                any(r not in cube["dims"] for r in self.radars):
            raise ConfigError(f"[pose] HuPR needs a vrdae cube stage over two radars, got radars "
                              f"{list(self.radars)} and cube kind {cube and cube['kind']!r}")
        self.model, ckpt = load_hupr(p.checkpoint, p.device)
        self.device = next(self.model.parameters()).device
        cfg = self.model.config
        self.T, self.K = cfg.n_frames, cfg.n_doppler
        self.stride = p.image_size[0] / cfg.n_azimuth
        self.skeleton = "hupr14"  # HuPR's 14 joints (the model's adjacency)
        j = cfg.n_joints
        self.w_kp = _Appender(group, "keypoints", (j, 2), np.float32, "px", ["frame", "joint", "uv"])
        self.w_js = _Appender(group, "joint_scores", (j,), np.float32, "1", ["frame", "joint"])
        self.w_sc = _Appender(group, "scores", (), np.float32, "1", ["frame"])
        group.attrs["model"] = "hupr"
        group.attrs["skeleton"] = self.skeleton
        group.attrs["image_size"] = np.asarray(p.image_size, np.int64)
        group.attrs["model_config"] = json.dumps(cfg.to_dict())
        from radarkit.sim.camera import PinholeCamera

        camera = PinholeCamera(tuple(p.camera_position_m), tuple(p.image_size),
                               float(np.deg2rad(p.camera_fov_deg)))
        ctx.info["pose"] = {"model": "hupr", "skeleton": self.skeleton, "camera": camera, "n_joints": j}
        self.norm: dict[str, dict[int, np.ndarray]] = {r: {} for r in self.radars}
        self.lag = _LagBuffer()
        self.next_centre = 0
        self.last_seen = -1

    def _run(self, centres: list[int], n_total: int | None) -> Block | None:
        import torch

        if not centres:
            return None
        kps, jss = [], []
        for i in range(0, len(centres), self.params.batch):
            part = centres[i:i + self.params.batch]
            inputs = []
            for radar in self.radars:
                wins = []
                for t in part:
                    hi = self.last_seen if n_total is None else n_total - 1
                    frames = np.clip(np.arange(self.T) + t - self.T // 2, 0, hi)
                    wins.append(np.stack([self.norm[radar][int(f)] for f in frames]))
                inputs.append(torch.from_numpy(np.stack(wins)).to(self.device))
            with torch.inference_mode():
                _, refined = self.model(*inputs)
            from radarkit.data.heatmaps import decode_heatmaps

            xy, sc = decode_heatmaps(refined, stride=self.stride)
            kps.append(xy)
            jss.append(sc)
        kp, js = np.concatenate(kps).astype(np.float32), np.concatenate(jss).astype(np.float32)
        score = js.mean(axis=1)
        self.w_kp.append(kp)
        self.w_js.append(js)
        self.w_sc.append(score)
        keep_from = centres[-1] + 1 - self.T // 2
        for radar in self.radars:
            for f in [f for f in self.norm[radar] if f < keep_from]:
                del self.norm[radar][f]
        return self.lag.pop(centres, {"keypoints": kp, "joint_scores": js, "score": score})

    def process(self, block: Block) -> Block:
        from radarkit.data.hupr import vrdae_to_normalized_input

        for radar in self.radars:
            norm = vrdae_to_normalized_input(block.data["cube"][radar], self.K)
            for i in range(block.n):
                self.norm[radar][block.start + i] = norm[i]
        self.lag.add(block)
        self.last_seen = block.start + block.n - 1
        ahead = self.T - self.T // 2 - 1
        ready = list(range(self.next_centre, self.last_seen - ahead + 1))
        self.next_centre += len(ready)
        out = self._run(ready, None)
        return out if out is not None else Block(block.start, 0, {})

    def flush(self) -> Block | None:
        n_total = self.last_seen + 1
        ready = list(range(self.next_centre, n_total))
        self.next_centre = n_total
        return self._run(ready, n_total)

    def close(self) -> dict[str, Any]:
        return {"n_frames": int(self.w_kp.ds.shape[0])}


class MAEPosePoseStage(Stage):
    """MAEPose joints of every frame from ``rd-video`` (or ``ra-video``) maps of one radar.

    Clips of ``T`` frames start every ``stride`` frames; each gives joints at its ``F`` target
    frames (:func:`radarkit.data.clips.target_frame_indices`). A frame predicted by several clips
    gets their mean; frames between predicted ones are interpolated linearly in time, frames
    before the first (after the last) take the first (last) prediction. Joints are the clip
    specification's plane coordinates in metres (:mod:`radarkit.data.clips`).

    Parameters
    ----------
    params : PoseStageParams

    Raises
    ------
    ConfigError
        No checkpoint, a cube of the wrong kind, or (at the end) fewer frames than one clip.

    References
    ----------
    MAEPose sec. 3.2 and 4.4.
    """

    name = "pose"

    def __init__(self, params: PoseStageParams) -> None:
        self.params = params

    def open(self, group: h5py.Group, ctx: RunContext) -> None:
        from radarkit.data.clips import CLIP_KINDS, ClipSpec, target_frame_indices
        from radarkit.models.maepose import build_finetune, config_from_json
        from radarkit.train.checkpoint import load_checkpoint, read_header
        from radarkit.train.loop import select_device

        p = self.params
        if p.checkpoint is None:
            raise ConfigError("[pose] MAEPose needs a checkpoint (checkpoint = FILE or --checkpoint "
                              "pose=FILE)")
        header = read_header(p.checkpoint)
        if header.get("model") != "maepose":
            from radarkit.errors import CheckpointError

            raise CheckpointError(f"not a fine-tuned MAEPose checkpoint (model {header.get('model')!r})",
                                  source=p.checkpoint)
        cfg = header["config"]
        self.spec = ClipSpec.from_dict(cfg["clips"])
        kinds = CLIP_KINDS[self.spec.kind]
        self.radar = (p.radars or ctx.radars)[0]
        cube = ctx.info.get("cube")
        if len(kinds) != 1 or cube is None or cube["kind"] != kinds[0] or self.radar not in cube["dims"]:
            raise ConfigError(f"[pose] this MAEPose checkpoint needs a cube stage of kind "
                              f"{' + '.join(kinds)} over radar {self.radar!r} "
                              f"(got {cube and cube['kind']!r})")
        kw = config_from_json(cfg["model"])
        self.model = build_finetune(cfg["preset"], **kw)
        load_checkpoint(p.checkpoint, self.model, name="maepose")
        self.device = select_device(p.device)
        self.model.to(self.device).eval()
        self.T = self.spec.num_frames
        self.targets = target_frame_indices(self.T, self.spec.n_target_frames)
        self.stride = p.stride or self.spec.stride
        self.skeleton = self.spec.skeleton
        j = int(kw.get("n_joints", 13))
        self.w = _Appender(group, "joints_plane", (j, 2), np.float32, "m", ["frame", "joint", "plane"])
        group.attrs.update({"model": "maepose", "skeleton": self.skeleton, "plane": self.spec.plane,
                            "root_relative": self.spec.root_relative, "clip_stride": self.stride,
                            "clips": json.dumps(self.spec.to_dict())})
        ctx.info["pose"] = {"model": "maepose", "skeleton": self.skeleton, "plane": self.spec.plane,
                            "root_relative": self.spec.root_relative, "n_joints": j}
        self.maps: dict[int, np.ndarray] = {}
        self.sums: dict[int, np.ndarray] = {}
        self.counts: dict[int, int] = {}
        self.known: deque = deque()  # final (frame, joints), ascending
        self.lag = _LagBuffer()
        self.next_clip = 0
        self.final_below = 0
        self.last_seen = -1
        self.emitted = 0
        self.last_known: tuple[int, np.ndarray] | None = None

    def _clips(self, starts: list[int]) -> None:
        import torch

        from radarkit.models.maepose import heatmaps_to_joints
        from radarkit.train.maepose import denormalise_joints

        for i in range(0, len(starts), self.params.batch):
            part = starts[i:i + self.params.batch]
            clips = np.stack([self.spec.normalised(np.stack([self.maps[c + t] for t in range(self.T)])[None])
                              for c in part]).astype(np.float32)
            with torch.inference_mode():
                heat = self.model(torch.from_numpy(clips).to(self.device))
                joints = heatmaps_to_joints(heat).cpu().numpy()  # (B, F, J, 2) in [0, 1]
            metres = denormalise_joints(joints, self.spec.extent)
            for c, per_clip in zip(part, metres, strict=True):
                for t, jt in zip(self.targets, per_clip, strict=True):
                    f = c + int(t)
                    self.sums[f] = self.sums.get(f, 0.0) + jt
                    self.counts[f] = self.counts.get(f, 0) + 1
        if starts:
            self.final_below = starts[-1] + self.stride + int(self.targets.min())
            for f in [f for f in self.maps if f < starts[-1] + self.stride]:
                del self.maps[f]

    def _finalise(self, below: int) -> None:
        for f in sorted(k for k in self.sums if k < below):
            self.known.append((f, (self.sums.pop(f) / self.counts.pop(f)).astype(np.float32)))

    def _emit(self, upto: int) -> Block | None:
        """Emit frames ``emitted .. upto - 1`` (their joints are known or interpolable)."""
        frames = list(range(self.emitted, upto))
        if not frames:
            return None
        rows = []
        for f in frames:
            while self.known and self.known[0][0] <= f:
                self.last_known = self.known.popleft()
            if self.last_known is not None and self.last_known[0] == f:
                rows.append(self.last_known[1])
            elif self.last_known is None:
                rows.append(self.known[0][1])
            elif not self.known:
                rows.append(self.last_known[1])
            else:
                (f0, j0), (f1, j1) = self.last_known, self.known[0]
                w = (f - f0) / (f1 - f0)
                rows.append(((1 - w) * j0 + w * j1).astype(np.float32))
        joints = np.stack(rows)
        self.w.append(joints)
        self.emitted = upto
        return self.lag.pop(frames, {"joints_plane": joints})

    def process(self, block: Block) -> Block:
        from radarkit.data.clips import prepare_maps

        maps = prepare_maps(np.asarray(block.data["cube"][self.radar], np.float32), self.spec.range_bins,
                            self.spec.size)
        for i in range(block.n):
            self.maps[block.start + i] = maps[i]
        self.lag.add(block)
        self.last_seen = block.start + block.n - 1
        starts = []
        while self.next_clip + self.T - 1 <= self.last_seen:
            starts.append(self.next_clip)
            self.next_clip += self.stride
        self._clips(starts)
        self._finalise(self.final_below)
        # frames up to the newest final prediction can be interpolated now
        upto = self.known[-1][0] + 1 if self.known else self.emitted
        out = self._emit(max(upto, self.emitted))
        return out if out is not None else Block(block.start, 0, {})

    def flush(self) -> Block | None:
        n_total = self.last_seen + 1
        self._finalise(n_total)
        if self.last_known is None and not self.known:
            raise ConfigError(f"[pose] {n_total} frames are fewer than one MAEPose clip of {self.T} frames")
        return self._emit(n_total)

    def close(self) -> dict[str, Any]:
        return {"n_frames": int(self.w.ds.shape[0])}


class DescribeStage(Stage):
    """mmJoints descriptors (sensing score xi, reliability score kappa) of the pose stage's joints.

    The poses are made 3-D first: HuPR's image keypoints are lifted at the depth of the person's
    radar points (:func:`radarkit.data.mmjoints.lift_keypoints`), MAEPose's plane joints with
    :func:`plane_to_3d`. Frame ``f`` is described with the point clouds of frames ``f-K+1 .. f``
    (the first frame repeated at the start), as ``radarkit describe``.

    Parameters
    ----------
    params : DescribeStageParams

    References
    ----------
    mmJoints sec. 2-4 (5-D joints ``(x, y, z, xi, kappa)``).
    """

    name = "describe"

    def __init__(self, params: DescribeStageParams) -> None:
        self.params = params

    def open(self, group: h5py.Group, ctx: RunContext) -> None:
        from radarkit.data.mmjoints import POINT_FEATURES
        from radarkit.errors import CheckpointError
        from radarkit.train.loop import select_device
        from radarkit.train.mmjoints import load_mmjoints

        p = self.params
        if p.checkpoint is None:
            raise ConfigError("[describe] mmJoints needs a checkpoint (checkpoint = FILE or "
                              "--checkpoint describe=FILE)")
        self.pose = ctx.info.get("pose")
        if self.pose is None or "detect" not in ctx.info:
            raise ConfigError("[describe] needs a pose stage and a detect stage before it")
        self.model, meta = load_mmjoints(p.checkpoint, map_location=select_device(p.device))
        if self.model.hparams["n_joints"] != self.pose["n_joints"] or \
                meta.get("skeleton") not in (None, self.pose["skeleton"]):
            raise CheckpointError(f"model describes {self.model.hparams['n_joints']} joints of "
                                  f"{meta.get('skeleton')}, the poses are {self.pose['n_joints']} joints of "
                                  f"{self.pose['skeleton']}", source=p.checkpoint)
        self.k = int(meta.get("k", 5))
        self.max_points = int(meta.get("max_points", 48))
        self.columns = list(meta.get("point_features", POINT_FEATURES))
        self.history: deque = deque(maxlen=self.k)
        self.sum_xi = self.sum_kappa = 0.0
        j = self.pose["n_joints"]
        self.w_pose = _Appender(group, "poses", (j, 3), np.float32, "m", ["frame", "joint", "xyz"])
        self.w_xi = _Appender(group, "xi", (j,), np.float32, "1", ["frame", "joint"])
        self.w_kappa = _Appender(group, "kappa", (j,), np.float32, "1", ["frame", "joint"])
        self.w_j5 = _Appender(group, "joints5", (j, 5), np.float32, "", ["frame", "joint", "x_y_z_xi_kappa"])
        group.attrs.update({"model": "mmjoints", "skeleton": self.pose["skeleton"], "k_frames": self.k,
                            "joints": json.dumps(list(_skeleton_joints(self.pose["skeleton"])))})

    def process(self, block: Block) -> Block:
        from radarkit.data.mmjoints import cloud_arrays, lift_keypoints
        from radarkit.pipelines.mmjoints_sim import describe_poses
        from radarkit.train.mmjoints import collate_point_windows

        if block.n == 0:
            return block
        pts = block.data["points"]
        feats, xyz = [], []
        for table in pts:
            offsets = np.array([0, len(table)])
            feats.append(cloud_arrays(table, offsets, self.columns)[0])
            xyz.append(cloud_arrays(table, offsets, ("x", "y", "z"))[0])
        if self.pose["model"] == "hupr":
            poses = lift_keypoints(block.data["keypoints"], xyz, self.pose["camera"],
                                   self.params.default_depth_m)
        else:
            poses = plane_to_3d(block.data["joints_plane"], xyz, self.pose["plane"],
                                self.pose["root_relative"], self.params.default_depth_m)
        windows = []
        for cloud in feats:
            if not self.history:
                self.history.extend([cloud] * self.k)
            else:
                self.history.append(cloud)
            windows.append(list(self.history))
        points, valid = collate_point_windows(windows, self.max_points)
        xi, kappa = describe_poses(self.model, points, valid, poses, self.params.batch)
        poses = np.asarray(poses, np.float32)
        self.w_pose.append(poses)
        self.w_xi.append(xi)
        self.w_kappa.append(kappa)
        self.w_j5.append(np.concatenate([poses, xi[..., None], kappa[..., None]], axis=-1))
        self.sum_xi += float(xi.sum())
        self.sum_kappa += float(kappa.sum())
        block.data.update({"poses": poses, "xi": xi, "kappa": kappa})
        return block

    def close(self) -> dict[str, Any]:
        n = int(self.w_xi.ds.shape[0])
        if n == 0:
            return {"n_frames": 0}
        cells = n * self.w_xi.ds.shape[1]
        return {"n_frames": n, "mean_xi": self.sum_xi / cells, "mean_kappa": self.sum_kappa / cells}


def _skeleton_joints(name: str) -> tuple[str, ...]:
    from radarkit.skeleton import get_skeleton

    try:
        return tuple(get_skeleton(name).joints)
    except KeyError:
        return ()


def stage_summary_attrs(group: h5py.Group, summary: dict[str, Any]) -> None:
    """Store a stage's summary dictionary as the group's ``summary`` attribute (JSON)."""
    group.attrs["summary"] = json.dumps(summary)


def checkpoint_path(value: str | None, base: Path | None) -> str | None:
    """A checkpoint path from a pipeline file, relative to the file's folder."""
    if value is None or value == "":
        return None
    path = Path(value).expanduser()
    if not path.is_absolute() and base is not None:
        path = base / path
    return str(path)
