"""Cubes for whole sequence folders: one HDF5 file per radar, e.g. HuPR's VRDAEMap dataset export.

A *sequence folder* holds one sub-folder per radar (``hori``, ``vert``; HuPR's and
``radarkit simulate``'s layout), each with a DCA1000 recording (``adc_data.bin`` or
``*_Raw_N.bin`` parts) and its configuration (one ``.cfg``, ``.lua``, ``.toml`` or ``.json`` file,
or a Studio ``LogFile.txt``). A *dataset folder* holds sequence folders (``single_1``, ...).

:func:`write_sequence_cubes` writes, for a sequence folder ``SEQ`` and an output folder ``OUT``,
``OUT/<radar>.h5``; for a dataset folder, ``OUT/<sequence>/<radar>.h5``. With
``CubeParams(kind="vrdae", mode="hupr")`` and ``storage="float16"`` this is the compact form of
HuPR's per-frame ``.npy`` cache: per radar and frame, 8 Doppler x 8 elevation x 64 azimuth x 64
range complex values as float16 re/im pairs (1 MiB per frame instead of HuPR's 8 MiB complex128
with 16 Doppler bins), frame-normalised (``frame_scale``), chunked one frame per chunk so that the
8-frame windows HuPR's loader reads (frames t-4..t+3) are 8 chunk reads.

References
----------
S.-P. Lee et al., "HuPR", WACV 2023 (dataset layout: ``single_<n>/{hori,vert}``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection
from pathlib import Path

from radarkit.config.loaders import load_config
from radarkit.config.radar import RadarConfig
from radarkit.dsp.cubes import CubeParams, write_cube
from radarkit.errors import ConfigError, RecordingError
from radarkit.io.recording import Recording

__all__ = ["RADAR_FOLDERS", "find_sequences", "radar_files", "plan_sequence_cubes", "write_sequence_cubes"]

#: Radar sub-folder names of a sequence, in output order.
RADAR_FOLDERS = ("hori", "vert")
_CONFIG_SUFFIXES = (".cfg", ".lua", ".toml", ".json")


def _is_sequence(folder: Path) -> bool:
    return any((folder / r).is_dir() for r in RADAR_FOLDERS)


def find_sequences(root: str | os.PathLike) -> tuple[list[Path], bool]:
    """Sequence folders under ``root`` and whether ``root`` is a dataset folder.

    Returns
    -------
    sequences : list of Path
        ``[root]`` when ``root`` is itself a sequence folder, else its sequence sub-folders sorted
        by name (natural order: ``single_2`` before ``single_10``).
    is_dataset : bool

    Raises
    ------
    RecordingError
        ``root`` is not a folder, or holds no sequence.
    """
    root = Path(root)
    if not root.is_dir():
        raise RecordingError("not a folder", source=root)
    if _is_sequence(root):
        return [root], False
    subs = [p for p in root.iterdir() if p.is_dir() and _is_sequence(p)]
    if not subs:
        raise RecordingError(f"is a directory, but holds no sequence folder (one with "
                             f"{' or '.join(RADAR_FOLDERS)} radar sub-folders)", source=root)

    def natural(p: Path) -> tuple:
        head = p.name.rstrip("0123456789")
        tail = p.name[len(head):]
        return head, int(tail) if tail else -1

    return sorted(subs, key=natural), True


def radar_files(folder: str | os.PathLike) -> tuple[list[Path], Path | None]:
    """The recording parts and the configuration file of one radar folder.

    Returns
    -------
    parts : list of Path
        ``adc_data.bin``, or the ``*_Raw_N.bin`` parts in order.
    config : Path or None
        The single configuration file (``.cfg``, ``.lua``, ``.toml``, ``.json`` or
        ``LogFile.txt``), None if there is none.

    Raises
    ------
    RecordingError
        No recording, or several candidate configuration files.
    """
    folder = Path(folder)
    parts = sorted(folder.glob("*_Raw_*.bin"), key=lambda p: int(p.stem.rsplit("_", 1)[1]))
    if not parts:
        parts = sorted(folder.glob("*.bin"))
    if not parts:
        raise RecordingError("no DCA1000 recording (*.bin) in the radar folder", source=folder)
    configs = [p for p in folder.iterdir() if p.suffix.lower() in _CONFIG_SUFFIXES
               or p.name.lower() == "logfile.txt"]
    if len(configs) > 1:
        raise RecordingError(f"several configuration files ({', '.join(sorted(p.name for p in configs))}); "
                             "keep one or pass --config", source=folder)
    return parts, (configs[0] if configs else None)


def plan_sequence_cubes(root: str | os.PathLike, out_dir: str | os.PathLike,
                        config: RadarConfig | None = None, sequences: Collection[str] | None = None,
                        only_missing: bool = False) -> list[tuple[list[Path], RadarConfig, Path]]:
    """The ``(recording parts, configuration, output file)`` of every radar under ``root``.

    Parameters
    ----------
    root : str or os.PathLike
        Sequence folder or dataset folder.
    out_dir : str or os.PathLike
        Output folder of the cube files.
    config : RadarConfig, optional
        Configuration for every radar; default each radar folder's own configuration file.
    sequences : collection of str, optional
        Only these sequence folders (by name) of a dataset folder.
    only_missing : bool
        Only radars whose output file does not exist yet.

    Radar folders left out by ``sequences`` or ``only_missing`` are not read, so a recording
    deleted after its cube was written (to save disk) does not stop the planning of the others.

    Raises
    ------
    RecordingError
        Bad folder layout.
    ConfigError
        A radar folder without a configuration file and no ``config``; an unreadable one.
    """
    found, is_dataset = find_sequences(root)
    out_dir = Path(out_dir)
    jobs = []
    for seq in found:
        if sequences is not None and is_dataset and seq.name not in sequences:
            continue
        for radar in RADAR_FOLDERS:
            folder = seq / radar
            target = (out_dir / seq.name if is_dataset else out_dir) / f"{radar}.h5"
            if not folder.is_dir() or (only_missing and target.exists()):
                continue
            parts, cfg_path = radar_files(folder)
            if config is None and cfg_path is None:
                raise ConfigError("no configuration file in the radar folder; pass --config or "
                                  "--preset", source=folder)
            cfg = config if config is not None else load_config(cfg_path)
            jobs.append((parts, cfg, target))
    return jobs


def write_sequence_cubes(
    root: str | os.PathLike,
    out_dir: str | os.PathLike,
    params: CubeParams,
    config: RadarConfig | None = None,
    chunk: int = 16,
    force: bool = False,
    workers: int = 1,
    storage: str = "native",
    iq_order: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    command: str | None = None,
    only_missing: bool = False,
    sequences: Collection[str] | None = None,
) -> list[Path]:
    """Write one cube file per radar of every sequence under ``root`` (see module docstring).

    Parameters
    ----------
    root : str or os.PathLike
        Sequence folder or dataset folder.
    out_dir : str or os.PathLike
        Output folder (created).
    params : CubeParams
    config : RadarConfig, optional
        Configuration for every radar; default each radar folder's own configuration file.
    chunk, force, workers, storage, command
        As :func:`radarkit.dsp.cubes.write_cube`.
    iq_order : {"auto", "iq", "qi"}, optional
        Overrides the configurations' IQ order.
    progress : callable, optional
        ``progress(frames_done, bytes_done)`` over all files together.
    only_missing : bool
        Skip radars whose output file already exists (instead of refusing it).
    sequences : collection of str, optional
        Only these sequence folders (by name) of a dataset folder.

    Returns
    -------
    list of Path
        The files written, in sequence and radar order.

    Raises
    ------
    RecordingError
        Bad folder layout (names the folder).
    ConfigError
        A radar folder without a configuration and no ``config`` given, or one the parameters do
        not apply to.
    StoreError
        An output exists (without ``force``).
    """
    jobs = plan_sequence_cubes(root, out_dir, config, sequences, only_missing)
    done = [0, 0]
    written = []
    for parts, cfg, target in jobs:
        target.parent.mkdir(parents=True, exist_ok=True)
        base = tuple(done)

        def report(frames: int, nbytes: int, base=base) -> None:
            done[0], done[1] = base[0] + frames, base[1] + nbytes
            if progress is not None:
                progress(*done)

        with Recording(parts, cfg, iq_order=iq_order) as rec:
            write_cube(rec, target, params, chunk=chunk, force=force, progress=report,
                       command=command, workers=workers, storage=storage)
        written.append(target)
    return written
