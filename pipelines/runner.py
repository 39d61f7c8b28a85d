"""Declarative pipelines: a small TOML file -> frozen stage parameters -> one HDF5 result file.

A pipeline file names its radars and the stages it runs, one TOML table per stage (all optional
but ``[pipeline]``; the stages run in the fixed order read -> cube -> detect -> pose -> describe)::

    [pipeline]
    name = "pointcloud"
    description = "raw -> Range-Doppler -> CFAR -> points"
    radars = ["radar"]          # one INPUT per radar, in this order
    chunk = 16                  # frames read at a time (bounds memory)

    [read]
    iq_order = "auto"           # optional: "iq", "qi" or "auto" (default: the configuration's)

    [cube]                      # any radarkit.dsp.cubes.CubeParams field, plus:
    kind = "rd"
    per_antenna = true
    output = "complex"
    save = "map"                # "none", "map" (a dB map per frame) or "cube"
    radars = ["radar"]          # default: all

    [detect]
    input = "cube"              # or "raw" (its own per-antenna RD cube, Hann windows)
    radar = "radar"
    cfar = "ca"                 # ca, go, so, os
    pfa = 1e-4                  # or threshold_db = 12.0
    guard = [2, 2]              # (doppler, range) cells
    train = [8, 4]
    os_rank = 0.75
    peak_size = [3, 3]
    angle_method = "fft"        # or "capon"
    max_angle_peaks = 1
    clutter_removal = false     # input = "raw" only

    [pose]
    model = "hupr"              # or "maepose"
    checkpoint = "hupr.ckpt"    # relative to the pipeline file; or radarkit run --checkpoint pose=FILE
    batch = 8
    device = "cpu"

    [describe]
    model = "mmjoints"
    checkpoint = "mmjoints.ckpt"

Errors name the file and the key (``ConfigError``: ``hupr.toml: [cube] n_azimuth: ...``). Built-in
pipelines (``hupr``, ``maepose``, ``pointcloud``) live in ``pipelines/builtin/*.toml`` and are found
by name (:func:`load_pipeline`).

:func:`run_pipeline` opens the recordings, streams them chunk by chunk through the stages
(:mod:`radarkit.pipelines.stages`) and writes one HDF5 file atomically: a group per stage and
root attributes ``format = "radarkit-pipeline"``, ``format_version``, ``pipeline`` (name),
``pipeline_toml`` (the file's text), ``parameters`` (JSON of every stage's parameters),
``radarkit_version``, ``numpy_version``, ``torch_version``, ``h5py_version``, ``sources`` (JSON
``{radar, name, size, sha256}`` per recording and configuration file), ``checkpoints`` (JSON
``{stage, path, size, sha256}``), ``n_frames``, ``frame_start``, ``stages`` (JSON list),
``command``, ``created_utc``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import importlib.metadata
import importlib.resources
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from radarkit.config.radar import RadarConfig
from radarkit.detect.cfar import CfarParams
from radarkit.detect.pointcloud import PointCloudParams
from radarkit.dsp.cubes import CubeParams
from radarkit.errors import ConfigError, RecordingError
from radarkit.pipelines.stages import (
    Block,
    CubeStage,
    CubeStageParams,
    DescribeStage,
    DescribeStageParams,
    DetectStage,
    DetectStageParams,
    HuPRPoseStage,
    MAEPosePoseStage,
    PoseStageParams,
    ReadStage,
    RunContext,
    Stage,
    checkpoint_path,
    stage_summary_attrs,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["PIPELINE_FORMAT", "PIPELINE_FORMAT_VERSION", "STAGE_ORDER", "Pipeline", "builtin_pipelines",
           "load_pipeline", "parse_pipeline", "resolve_inputs", "run_pipeline"]

PIPELINE_FORMAT = "radarkit-pipeline"
PIPELINE_FORMAT_VERSION = 1
#: Stages in the order they run.
STAGE_ORDER: tuple[str, ...] = ("read", "cube", "detect", "pose", "describe")
_BUILTIN = "builtin"


@dataclass(frozen=True)
class Pipeline:
    """A parsed pipeline file.

    Parameters
    ----------
    name : str
        Pipeline name.
    radars : tuple of str
        Radar names; one input recording each, in this order.
    chunk : int
        Frames read at a time.
    description : str
        One line.
    iq_order : str or None
        ``[read] iq_order`` (None: the configuration's).
    cube, detect, pose, describe : stage parameters or None
        The stages run (None: not run).
    source : str
        Where the pipeline came from (file path or ``builtin:NAME``).
    text : str
        The TOML text (stored as provenance).
    """

    name: str
    radars: tuple[str, ...]
    chunk: int = 16
    description: str = ""
    iq_order: str | None = None
    cube: CubeStageParams | None = None
    detect: DetectStageParams | None = None
    pose: PoseStageParams | None = None
    describe: DescribeStageParams | None = None
    source: str = ""
    text: str = ""

    @property
    def stages(self) -> tuple[str, ...]:
        """Names of the stages run, in order."""
        return ("read",) + tuple(s for s in STAGE_ORDER[1:] if getattr(self, s) is not None)

    def parameters(self) -> dict[str, Any]:
        """JSON-ready parameters of every stage."""
        out: dict[str, Any] = {"pipeline": {"name": self.name, "radars": list(self.radars),
                                            "chunk": self.chunk},
                               "read": {"iq_order": self.iq_order}}
        for s in STAGE_ORDER[1:]:
            params = getattr(self, s)
            if params is not None:
                out[s] = params.to_dict()
        return out

    def with_checkpoints(self, checkpoints: dict[str, str]) -> Pipeline:
        """A copy with the ``pose`` / ``describe`` checkpoints replaced.

        Raises
        ------
        ConfigError
            A checkpoint for a stage the pipeline does not run, or a stage without a model.
        """
        changes: dict[str, Any] = {}
        for stage, path in checkpoints.items():
            if stage not in ("pose", "describe"):
                raise ConfigError(f"--checkpoint {stage}=...: only the pose and describe stages take "
                                  "checkpoints")
            params = getattr(self, stage)
            if params is None:
                raise ConfigError(f"--checkpoint {stage}=...: pipeline {self.name!r} has no {stage} stage",
                                  source=self.source or None)
            changes[stage] = dataclasses.replace(params, checkpoint=str(path))
        return dataclasses.replace(self, **changes)


# ------------------------------------------------------------------------------------------------
# parsing
# ------------------------------------------------------------------------------------------------
class _Section:
    """One TOML table with typed access; every error names the file, table and key."""

    def __init__(self, doc: dict, name: str, source: str | None) -> None:
        value = doc.get(name, {})
        if not isinstance(value, dict):
            raise ConfigError(f"[{name}] must be a table", source=source)
        self.values, self.name, self.source = dict(value), name, source
        self.used: set[str] = set()

    def error(self, key: str, what: str) -> ConfigError:
        return ConfigError(f"[{self.name}] {key}: {what}", source=self.source)

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        self.used.add(key)
        if key not in self.values:
            return default
        value = self.values[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) and bool not in kinds:
            raise self.error(key, f"expected {_kind_names(kinds)}, got {value!r}")
        if not isinstance(value, kinds):
            raise self.error(key, f"expected {_kind_names(kinds)}, got {type(value).__name__} {value!r}")
        return value

    def ints(self, key: str, n: int | None, default: Any = None) -> tuple[int, ...] | None:
        value = self.get(key, (list, int), default)
        if value is None:
            return None
        if isinstance(value, int):
            value = [value] * (n or 1)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in value) or \
                (n is not None and len(value) != n):
            raise self.error(key, f"expected {n or 'some'} integers, got {value!r}")
        return tuple(value)

    def strings(self, key: str, default: Any = ()) -> tuple[str, ...]:
        value = self.get(key, (list, str), default)
        if isinstance(value, str):
            value = [value]
        if not all(isinstance(v, str) for v in value):
            raise self.error(key, f"expected a list of strings, got {value!r}")
        return tuple(value)

    def check_unused(self, extra: Sequence[str] = ()) -> None:
        unknown = sorted(set(self.values) - self.used - set(extra))
        if unknown:
            known = ", ".join(sorted(self.used | set(extra)))
            raise ConfigError(f"[{self.name}] unknown key {unknown[0]!r} (known: {known})",
                              source=self.source)


def _kind_names(kinds: tuple[type, ...]) -> str:
    names = {bool: "true/false", int: "an integer", float: "a number", str: "a string", list: "a list"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


_CUBE_FIELDS = {f.name: f for f in dataclasses.fields(CubeParams)}


def _parse_cube(doc: dict, source: str | None) -> CubeStageParams:
    sec = _Section(doc, "cube", source)
    kwargs: dict[str, Any] = {}
    for name in _CUBE_FIELDS:
        if name in ("range_bins",):
            value = sec.ints(name, 2)
        elif name in ("per_antenna", "tdm_compensation", "clutter_removal"):
            value = sec.get(name, bool)
        elif name in ("n_range", "n_doppler", "n_azimuth", "n_elevation", "doppler_bins"):
            value = sec.get(name, int)
        else:
            value = sec.get(name, str)
        if value is not None:
            kwargs[name] = value
    radars = sec.strings("radars")
    save = sec.get("save", str, "map")
    sec.check_unused()
    try:
        return CubeStageParams(CubeParams(**kwargs), radars, save)
    except ValueError as err:
        raise ConfigError(f"[cube] {err}", source=source) from None


def _parse_detect(doc: dict, source: str | None) -> DetectStageParams:
    sec = _Section(doc, "detect", source)
    try:
        cfar = CfarParams(kind=sec.get("cfar", str, "ca"), guard=sec.ints("guard", 2, [2, 2]),
                          train=sec.ints("train", 2, [8, 4]), pfa=sec.get("pfa", float, 1e-4),
                          threshold_db=sec.get("threshold_db", float), rank=sec.get("os_rank", float, 0.75))
        points = PointCloudParams(cfar=cfar, peak_size=sec.ints("peak_size", 2, [3, 3]),
                                  angle_method=sec.get("angle_method", str, "fft"),
                                  max_angle_peaks=sec.get("max_angle_peaks", int, 1),
                                  n_azimuth_fft=sec.get("n_azimuth_fft", int, 64),
                                  n_elevation_fft=sec.get("n_elevation_fft", int, 32))
        params = DetectStageParams(points, sec.get("input", str, "raw"), sec.get("radar", str),
                                   sec.get("clutter_removal", bool, False))
    except ValueError as err:
        raise ConfigError(f"[detect] {err}", source=source) from None
    sec.check_unused()
    return params


def _parse_pose(doc: dict, source: str | None, base: Path | None) -> PoseStageParams:
    sec = _Section(doc, "pose", source)
    try:
        params = PoseStageParams(
            model=sec.get("model", str, "hupr"),
            checkpoint=checkpoint_path(sec.get("checkpoint", str), base),
            batch=sec.get("batch", int, 8), device=sec.get("device", str, "cpu"),
            radars=sec.strings("radars"), stride=sec.get("stride", int),
            camera_position_m=tuple(float(v) for v in sec.get("camera_position_m", list, [-0.10, 0.0, 0.0])),
            image_size=sec.ints("image_size", 2, [256, 256]),
            camera_fov_deg=sec.get("camera_fov_deg", float, 70.0))
    except (ValueError, TypeError) as err:
        raise ConfigError(f"[pose] {err}", source=source) from None
    if len(params.camera_position_m) != 3:
        raise sec.error("camera_position_m", "expected three numbers (x, y, z) in m")
    sec.check_unused()
    return params


def _parse_describe(doc: dict, source: str | None, base: Path | None) -> DescribeStageParams:
    sec = _Section(doc, "describe", source)
    try:
        params = DescribeStageParams(model=sec.get("model", str, "mmjoints"),
                                     checkpoint=checkpoint_path(sec.get("checkpoint", str), base),
                                     batch=sec.get("batch", int, 64), device=sec.get("device", str, "cpu"),
                                     default_depth_m=sec.get("default_depth_m", float, 3.0))
    except ValueError as err:
        raise ConfigError(f"[describe] {err}", source=source) from None
    sec.check_unused()
    return params


def parse_pipeline(text: str, source: str | None = None, base: Path | None = None) -> Pipeline:
    """Parse pipeline TOML text into a :class:`Pipeline`.

    Parameters
    ----------
    text : str
        TOML (module docstring).
    source : str, optional
        Name used in error messages and stored as provenance (a path, ``builtin:NAME``).
    base : pathlib.Path, optional
        Folder that relative checkpoint paths are relative to.

    Returns
    -------
    Pipeline

    Raises
    ------
    ConfigError
        Invalid TOML, an unknown table or key, a wrong type or value, or stages whose inputs are
        missing (e.g. ``describe`` without ``pose`` and ``detect``); the message names the file,
        the table and the key.
    """
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"not valid TOML: {err}", source=source) from None
    unknown = sorted(set(doc) - {"pipeline", *STAGE_ORDER})
    if unknown:
        raise ConfigError(f"unknown table [{unknown[0]}] (known: pipeline, {', '.join(STAGE_ORDER)})",
                          source=source)
    if "pipeline" not in doc:
        raise ConfigError("missing [pipeline] table (name, radars)", source=source)
    head = _Section(doc, "pipeline", source)
    name = head.get("name", str)
    if not name:
        raise head.error("name", "required")
    radars = head.strings("radars", ("radar",))
    if not radars or len(set(radars)) != len(radars):
        raise head.error("radars", f"expected distinct radar names, got {list(radars)}")
    chunk = head.get("chunk", int, 16)
    if chunk < 1:
        raise head.error("chunk", f"must be >= 1, got {chunk}")
    description = head.get("description", str, "")
    head.check_unused()
    read = _Section(doc, "read", source)
    iq_order = read.get("iq_order", str)
    if iq_order not in (None, "iq", "qi", "auto"):
        raise read.error("iq_order", f"expected 'iq', 'qi' or 'auto', got {iq_order!r}")
    read.check_unused()
    pipe = Pipeline(
        name=name, radars=radars, chunk=chunk, description=description, iq_order=iq_order,
        cube=_parse_cube(doc, source) if "cube" in doc else None,
        detect=_parse_detect(doc, source) if "detect" in doc else None,
        pose=_parse_pose(doc, source, base) if "pose" in doc else None,
        describe=_parse_describe(doc, source, base) if "describe" in doc else None,
        source=source or "", text=text)
    _check_graph(pipe, source)
    return pipe


def _check_graph(p: Pipeline, source: str | None) -> None:
    """Static checks of what each stage needs from the earlier ones."""
    def need(cond: bool, table: str, what: str) -> None:
        if not cond:
            raise ConfigError(f"[{table}] {what}", source=source)

    cube_radars = (p.cube.radars or p.radars) if p.cube is not None else ()
    if p.cube is not None:
        extra = [r for r in p.cube.radars if r not in p.radars]
        need(not extra, "cube", f"radars {extra} are not in [pipeline] radars {list(p.radars)}")
    if p.detect is not None:
        radar = p.detect.radar or p.radars[0]
        need(radar in p.radars, "detect", f"radar {radar!r} is not in [pipeline] radars {list(p.radars)}")
        if p.detect.input == "cube":
            need(radar in cube_radars, "detect", f"input = 'cube' needs a [cube] stage over radar {radar!r}")
    if p.pose is not None:
        need(p.cube is not None, "pose", "needs a [cube] stage (vrdae for hupr, rd-video for maepose)")
        if p.pose.model == "hupr":
            radars = p.pose.radars or p.radars[:2]
            need(len(radars) == 2 and all(r in cube_radars for r in radars), "pose",
                 f"hupr needs two radars with a [cube] stage, got {list(radars)}")
            need(p.cube.cube.kind == "vrdae", "pose",
                 f"hupr needs [cube] kind = 'vrdae', got {p.cube.cube.kind!r}")
        else:
            need(p.cube.cube.kind in ("rd-video", "ra-video"), "pose",
                 f"maepose needs [cube] kind = 'rd-video' or 'ra-video', got {p.cube.cube.kind!r}")
    if p.describe is not None:
        need(p.pose is not None and p.detect is not None, "describe", "needs [pose] and [detect] stages")


def builtin_pipelines() -> dict[str, str]:
    """Names and TOML texts of the built-in pipelines (``pipelines/builtin/*.toml``)."""
    folder = importlib.resources.files("radarkit.pipelines").joinpath(_BUILTIN)
    out = {}
    for item in sorted(folder.iterdir(), key=lambda t: t.name):
        if item.name.endswith(".toml"):
            out[item.name[:-5]] = item.read_text(encoding="utf-8")
    return out


def load_pipeline(spec: str | os.PathLike) -> Pipeline:
    """A pipeline from a TOML file, or a built-in one by name (``hupr``, ``maepose``, ``pointcloud``).

    Parameters
    ----------
    spec : str or os.PathLike
        Path of a ``.toml`` file, or a built-in name.

    Returns
    -------
    Pipeline

    Raises
    ------
    ConfigError
        Unknown name, unreadable file, or invalid content (see :func:`parse_pipeline`).
    """
    path = Path(spec)
    if path.suffix.lower() == ".toml" or path.exists():
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError("pipeline file not found", source=path) from None
        except (OSError, UnicodeDecodeError) as err:
            raise ConfigError(f"cannot read the pipeline file ({err})", source=path) from None
        return parse_pipeline(text, str(path), path.resolve().parent)
    known = builtin_pipelines()
    if str(spec) not in known:
        raise ConfigError(f"unknown pipeline {str(spec)!r}: give a .toml file or a built-in name "
                          f"({', '.join(known)})")
    return parse_pipeline(known[str(spec)], f"builtin:{spec}", Path.cwd())


# ------------------------------------------------------------------------------------------------
# inputs
# ------------------------------------------------------------------------------------------------
def resolve_inputs(inputs: Sequence[str | os.PathLike], radars: Sequence[str],
                   config: RadarConfig | None = None) -> dict[str, tuple[list[Path], RadarConfig]]:
    """Recording parts and configuration of every radar of a pipeline.

    ``inputs`` is either one sequence folder holding one sub-folder per radar (``SEQ/hori``,
    ``SEQ/vert``: the ``radarkit simulate`` and HuPR layout), or one input per radar, each a radar
    folder (recording + configuration file, :func:`radarkit.dsp.sequences.radar_files`) or a
    recording file (with ``config``). A single-radar pipeline also takes several files of one
    recording (``*_Raw_0.bin *_Raw_1.bin``).

    Parameters
    ----------
    inputs : sequence of path
    radars : sequence of str
        The pipeline's radar names.
    config : RadarConfig, optional
        Configuration of recording files (``--config`` / ``--preset``); overrides the radar
        folders' files.

    Returns
    -------
    dict
        radar -> (parts, configuration).

    Raises
    ------
    RecordingError
        Wrong number of inputs or a missing recording.
    ConfigError
        A recording file without a configuration.
    """
    from radarkit.config.loaders import load_config
    from radarkit.dsp.sequences import radar_files

    paths = [Path(p) for p in inputs]
    if not paths:
        raise RecordingError("no input recording given")

    def from_folder(folder: Path) -> tuple[list[Path], RadarConfig]:
        parts, cfg_path = radar_files(folder)
        if config is not None:
            return parts, config
        if cfg_path is None:
            raise ConfigError("no configuration file in the radar folder; pass --config or --preset",
                              source=folder)
        return parts, load_config(cfg_path)

    if len(paths) == 1 and paths[0].is_dir() and all((paths[0] / r).is_dir() for r in radars):
        return {r: from_folder(paths[0] / r) for r in radars}
    if len(radars) == 1 and len(paths) >= 1 and not any(p.is_dir() for p in paths[1:]):
        if paths[0].is_dir():
            if len(paths) > 1:
                raise RecordingError("give one radar folder, or the recording files")
            return {radars[0]: from_folder(paths[0])}
        if config is None:
            raise ConfigError("a recording file needs --config or --preset (or give its radar folder)",
                              source=paths[0])
        for p in paths:
            if not p.exists():
                raise RecordingError("file not found", source=p)
        return {radars[0]: (paths, config)}
    if len(paths) != len(radars):
        raise RecordingError(f"the pipeline reads {len(radars)} radars ({', '.join(radars)}): give one "
                             f"input per radar, or a sequence folder with sub-folders {', '.join(radars)}")
    out = {}
    for radar, p in zip(radars, paths, strict=True):
        if p.is_dir():
            out[radar] = from_folder(p)
        elif config is None:
            raise ConfigError("a recording file needs --config or --preset (or give its radar folder)",
                              source=p)
        elif not p.exists():
            raise RecordingError("file not found", source=p)
        else:
            out[radar] = ([p], config)
    return out


# ------------------------------------------------------------------------------------------------
# running
# ------------------------------------------------------------------------------------------------
def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _file_records(files: list[tuple[str, Path]]) -> list[dict[str, Any]]:
    from radarkit.atomic import sha256_file

    return [{"role": role, "name": p.name, "path": str(p), "size": p.stat().st_size, "sha256": sha256_file(p)}
            for role, p in files]


def _build_stages(p: Pipeline, recordings: dict) -> list[Stage]:
    stages: list[Stage] = [ReadStage(recordings)]
    if p.cube is not None:
        stages.append(CubeStage(p.cube))
    if p.detect is not None:
        stages.append(DetectStage(p.detect))
    if p.pose is not None:
        stages.append(HuPRPoseStage(p.pose) if p.pose.model == "hupr" else MAEPosePoseStage(p.pose))
    if p.describe is not None:
        stages.append(DescribeStage(p.describe))
    return stages


def _through(stages: list[Stage], block: Block | None) -> None:
    for stage in stages:
        if block is None or block.n == 0:
            return
        block = stage.process(block)


def run_pipeline(
    pipeline: Pipeline,
    inputs: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    config: RadarConfig | None = None,
    frames: tuple[int, int] | None = None,
    force: bool = False,
    progress: Callable[[int, int], None] | None = None,
    on_open: Callable[[int], None] | None = None,
    command: str | None = None,
) -> dict[str, Any]:
    """Run ``pipeline`` on the recordings ``inputs`` and write the result file ``out`` atomically.

    Parameters
    ----------
    pipeline : Pipeline
        From :func:`load_pipeline` (checkpoints set, e.g. with :meth:`Pipeline.with_checkpoints`).
    inputs : sequence of path
        Recordings (:func:`resolve_inputs`).
    out : str or os.PathLike
        Output ``.h5`` file.
    config : RadarConfig, optional
        Configuration of recording files given directly.
    frames : (int, int), optional
        Frames ``start:stop`` of the recordings (default all; radars of different lengths are cut
        to the shortest).
    force : bool
        Replace an existing output file.
    progress : callable, optional
        ``progress(frames_done, bytes_done)`` after every chunk.
    on_open : callable, optional
        ``on_open(n_frames)`` once the recordings are open (e.g. to size a progress bar).
    command : str, optional
        Stored as the ``command`` attribute (default ``sys.argv``).

    Returns
    -------
    dict
        ``out``, ``n_frames``, ``stages`` and each stage's summary, ``seconds``.

    Raises
    ------
    ConfigError, RecordingError, StoreError, CheckpointError
        Bad pipeline, inputs, output or checkpoints (raised before any output is written where
        possible; a failed run leaves no partial file).
    """
    import h5py

    from radarkit.atomic import atomic_output, check_output_path
    from radarkit.io.recording import Recording

    t0 = time.perf_counter()
    resolved = resolve_inputs(inputs, pipeline.radars, config)
    files = [(f"recording:{r}", p) for r, (parts, _) in resolved.items() for p in parts]
    ckpts = [(s, Path(getattr(pipeline, s).checkpoint)) for s in ("pose", "describe")
             if getattr(pipeline, s) is not None and getattr(pipeline, s).checkpoint]
    for stage, path in ckpts:
        if not path.exists():
            from radarkit.errors import CheckpointError

            raise CheckpointError(f"{stage} checkpoint not found", source=path)
    out = check_output_path(out, force, inputs=[p for _, p in files] + [p for _, p in ckpts])
    with contextlib.ExitStack() as stack:
        recordings = {r: stack.enter_context(Recording(parts, cfg, iq_order=pipeline.iq_order))
                      for r, (parts, cfg) in resolved.items()}
        total = min(rec.n_frames for rec in recordings.values())
        start, stop = (0, total) if frames is None else frames
        start, stop = max(0, start), min(stop, total)
        if stop <= start:
            raise RecordingError(f"no frames to process (frames {start}:{stop} of {total})")
        ctx = RunContext(tuple(pipeline.radars), {r: rec.config for r, rec in recordings.items()},
                         stop - start, start, pipeline.chunk)
        stages = _build_stages(pipeline, recordings)
        pool = stack.enter_context(ThreadPoolExecutor(max_workers=1))
        hashes = pool.submit(_file_records, files)
        ckpt_hashes = pool.submit(_file_records, [(f"checkpoint:{s}", p) for s, p in ckpts])
        tmp = stack.enter_context(atomic_output(out, force))
        f = stack.enter_context(h5py.File(tmp, "w"))
        groups = {}
        for stage in stages:
            groups[stage.name] = f.create_group(stage.name)
            groups[stage.name].attrs["stage"] = stage.name
            params = pipeline.parameters().get(stage.name, {})
            groups[stage.name].attrs["parameters"] = json.dumps(params)
            stage.open(groups[stage.name], ctx)
        read = stages[0]
        if on_open is not None:
            on_open(ctx.n_frames)
        bytes_per_frame = sum(rec.config.bytes_per_frame for rec in recordings.values())
        done = 0
        for first in range(0, ctx.n_frames, ctx.chunk):
            last = min(first + ctx.chunk, ctx.n_frames)
            _through(stages[1:], read.read(first, last, start))
            done = last
            if progress is not None:
                progress(done, done * bytes_per_frame)
        for i, stage in enumerate(stages):
            _through(stages[i + 1:], stage.flush())
        summaries = {}
        for stage in stages:
            summaries[stage.name] = stage.close()
            stage_summary_attrs(groups[stage.name], summaries[stage.name])
        root = f.attrs
        root["format"] = PIPELINE_FORMAT
        root["format_version"] = PIPELINE_FORMAT_VERSION
        root["pipeline"] = pipeline.name
        root["pipeline_source"] = pipeline.source
        root["pipeline_toml"] = pipeline.text
        root["parameters"] = json.dumps(pipeline.parameters())
        root["stages"] = json.dumps(list(pipeline.stages))
        from radarkit._version import __version__

        root["radarkit_version"] = __version__
        root["numpy_version"] = np.__version__
        root["h5py_version"] = h5py.__version__
        root["torch_version"] = _version("torch")
        root["n_frames"] = ctx.n_frames
        root["frame_start"] = start
        root["sources"] = json.dumps(hashes.result())
        root["checkpoints"] = json.dumps(ckpt_hashes.result())
        root["command"] = command if command is not None else " ".join(sys.argv)
        root["created_utc"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    return {"out": str(out), "n_frames": ctx.n_frames, "stages": list(pipeline.stages),
            "summaries": summaries, "seconds": time.perf_counter() - t0}
