"""milliMamba training data: long two-radar windows of complex RAD cubes with multi-frame keypoints.

milliMamba [1]_ takes, per radar, the lighter range x Doppler x angle representation over a long
frame sequence (16-32 frames instead of HuPR's 8) and predicts the joints of several frames at once
(:mod:`radarkit.models.millimamba`). This module supplies those samples from a radarkit dataset
folder (``radarkit simulate`` layout, as HuPR's: ``dataset.json``, ``splits.json``,
``single_<n>/{hori,vert}/`` recordings, ``single_<n>/annot/hrnet_annot.json``).

**Cubes.** One ``rad`` cube file per radar, ``CUBES/single_<n>/{hori,vert}.h5`` (default
``DATA/cubes_rad``), written on first use by :func:`ensure_rad_cubes` through
:func:`radarkit.dsp.sequences.write_sequence_cubes` (float16 storage, only the missing files):
complex ``(frame, doppler, azimuth, range)`` after static clutter removal (mean over chirp loops),
Hann range and Doppler windows, the zero-elevation cut of the angle spectrum (64 bins, every
virtual antenna contributing), and range bins 31..94 -- the 64 bins HuPR keeps (about 1.3-4.0 m
with the ``hupr`` preset), in ascending range. The horizontal radar's angle axis is azimuth. The
vertical radar is the same board rolled by 90 degrees about its boresight
(:func:`radarkit.sim.scene.hupr_radars`; HuPR section 3.1), so its own azimuth axis points up and
the same ``rad`` processing resolves **elevation** (positive up) -- the convention of
:class:`radarkit.models.millimamba.MilliMamba`. HuPR's VRDAEMap handles the pair the same way
(one processing for both boards).

All chirp loops' Doppler bins are stored; the ``n_doppler`` central ones (around zero velocity) are
cropped when frames are read, so the number kept can change without rebuilding the cubes. (At the
time of writing :func:`radarkit.dsp.cubes.make_cube` ignores ``CubeParams.doppler_bins`` for
``rad`` while :func:`radarkit.dsp.axes.axes` applies it, so cropping at write time is not possible.)

**Windows** (:class:`MilliMambaWindows`). A sample is identified by its first *output* frame
``s``: the model predicts frames ``s .. s + n_out - 1``, the central ones of the input window
``s - (T - n_out) // 2 .. s - (T - n_out) // 2 + T - 1``. Indices outside the sequence are clamped
(edge frames repeated, as HuPR's loader does); output frames repeated at the end of a sequence get
visibility 0, so they neither count in the loss nor are predicted twice. With ``step = n_out`` the
windows predict every frame exactly once (evaluation).

Per-frame standardisation happens in the model; frames are returned as cube values (complex64).

References
----------
.. [1] N. P. Kini et al., "milliMamba: Specular-Aware Human Pose Estimation via Dual mmWave Radar
   with Multi-Frame Mamba Fusion", WACV 2026, arXiv:2512.20128 (abstract).
.. [2] S.-P. Lee et al., "HuPR: A Benchmark for Human Pose Estimation Using Millimeter Wave Radar",
   WACV 2023, sections 3.1, 4.1 (radar pair, range bins, edge-frame repetition).
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from radarkit.data.hupr import (
    RADARS,
    HuPRSequence,
    central_doppler,
    cube_sequences,
    split_sequences,
)
from radarkit.errors import StoreError

__all__ = [
    "RAD_RANGE_BINS",
    "rad_cube_params",
    "default_rad_cube_dir",
    "ensure_rad_cubes",
    "millimamba_window_frames",
    "MilliMambaWindows",
    "load_camera",
    "millimamba_cube_dataset",
]

#: Range bins kept in the RAD cubes (HuPR's 31..94, ascending).
RAD_RANGE_BINS: tuple[int, int] = (31, 95)
_RAD_DIMS = ("frame", "doppler", "azimuth", "range")


def rad_cube_params(range_bins: tuple[int, int] = RAD_RANGE_BINS, n_azimuth: int = 64):
    """Cube parameters of milliMamba's per-radar input: complex RAD after static clutter removal.

    Parameters
    ----------
    range_bins : (int, int)
        Range bins ``start:stop`` kept (default HuPR's 31..94, 64 bins).
    n_azimuth : int
        Angle bins (zero-padded DFT length; 64 as HuPR's azimuth).

    Returns
    -------
    radarkit.dsp.cubes.CubeParams
        ``kind="rad"``, ``output="complex"``, Hann range/Doppler windows, clutter removal on.

    References
    ----------
    milliMamba (arXiv:2512.20128): range x Doppler x angle per radar; HuPR section 4.1 (range bins).
    """
    from radarkit.dsp.cubes import CubeParams

    return CubeParams(kind="rad", output="complex", range_bins=tuple(range_bins), n_azimuth=n_azimuth,
                      clutter_removal=True)


def default_rad_cube_dir(data_dir: str | os.PathLike) -> Path:
    """Default RAD cube folder of a dataset: ``DATA/cubes_rad``."""
    return Path(data_dir) / "cubes_rad"


def ensure_rad_cubes(data_dir: str | os.PathLike, cubes_dir: str | os.PathLike | None = None,
                     sequences: Sequence[str] | None = None, workers: int = 1,
                     progress: Callable[[int, int], None] | None = None) -> Path:
    """Write the missing RAD cube files ``CUBES/single_<n>/{hori,vert}.h5`` (float16 storage).

    Parameters
    ----------
    data_dir : str or os.PathLike
        Dataset folder with ``single_<n>/{hori,vert}/`` recordings and configurations.
    cubes_dir : str or os.PathLike, optional
        Output folder (default :func:`default_rad_cube_dir`).
    sequences : sequence of str, optional
        Only these sequence folders (default all).
    workers : int
        Threads per cube (:func:`radarkit.dsp.cubes.write_cube`).
    progress : callable, optional
        ``progress(frames_done, bytes_done)`` over the files written.

    Returns
    -------
    Path
        ``cubes_dir``.

    Raises
    ------
    RecordingError, ConfigError, StoreError
        Bad dataset layout, configuration or output.
    """
    from radarkit.dsp.sequences import write_sequence_cubes

    out = Path(cubes_dir) if cubes_dir is not None else default_rad_cube_dir(data_dir)
    write_sequence_cubes(data_dir, out, rad_cube_params(), workers=workers, storage="float16",
                         progress=progress, command="radarkit.data.millimamba.ensure_rad_cubes",
                         only_missing=True, sequences=None if sequences is None else set(sequences))
    return out


def millimamba_window_frames(first_out: int, n_frames: int, length: int = 16,
                             n_out: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Input and output frame indices of the window whose first predicted frame is ``first_out``.

    Parameters
    ----------
    first_out : int
        First output frame ``s`` (``0 <= s < n_frames``).
    n_frames : int
        Frames in the sequence.
    length : int
        Input window length ``T``.
    n_out : int
        Frames predicted per window (the central ones, :meth:`MilliMamba.output_frames`).

    Returns
    -------
    inputs : ndarray, int64, shape (length,)
        ``s - (T - n_out) // 2 + [0 .. T - 1]`` clamped to ``[0, n_frames - 1]`` (edge frames repeated).
    outputs : ndarray, int64, shape (n_out,)
        ``inputs[(T - n_out) // 2 :][:n_out]`` = ``s + [0 .. n_out - 1]`` clamped.

    Raises
    ------
    IndexError
        ``first_out`` outside the sequence.
    ValueError
        ``n_out`` not in ``1 .. length``.
    """
    if not 0 <= first_out < n_frames:
        raise IndexError(f"frame {first_out} outside a sequence of {n_frames} frames")
    if not 1 <= n_out <= length:
        raise ValueError(f"n_out must be in 1..{length}, got {n_out}")
    offset = (length - n_out) // 2
    inputs = np.clip(np.arange(length) + (first_out - offset), 0, n_frames - 1).astype(np.int64)
    return inputs, inputs[offset:offset + n_out].copy()


def load_camera(data_dir: str | os.PathLike):
    """The annotation camera of a simulated dataset (``dataset.json``), or None.

    Returns
    -------
    radarkit.sim.camera.PinholeCamera or None
        None when ``dataset.json`` or its camera is absent (e.g. a recorded dataset).
    """
    from radarkit.sim.camera import PinholeCamera

    try:
        cam = json.loads((Path(data_dir) / "dataset.json").read_text(encoding="utf-8"))["setup"]["camera"]
        return PinholeCamera(tuple(cam["position_m"]), tuple(cam["image_size"]), float(cam["fov_rad"]))
    except (FileNotFoundError, KeyError, TypeError, json.JSONDecodeError):
        return None


class MilliMambaWindows(Dataset):
    """Torch dataset of milliMamba samples: two T-frame RAD windows and the keypoints of the output frames.

    Parameters
    ----------
    sequences : sequence of HuPRSequence
        Annotated sequences; ``sources`` are RAD cube files (``{"hori": ..., "vert": ...}``).
    n_frames : int
        Input window length ``T`` (default 16).
    n_out_frames : int
        Frames predicted per window (the central ones).
    n_doppler : int
        Central Doppler bins kept.
    step : int
        Distance between the first output frames of consecutive windows (``n_out_frames``:
        every frame predicted once; 1: every frame starts a window, for training).
    joints3d : sequence of (ndarray or None), optional
        Per sequence, 3-D joints ``(F, J, 3)`` in metres (scene frame), for errors in metres.
    camera : radarkit.sim.camera.PinholeCamera, optional
        The camera the keypoints were projected with (needed with ``joints3d``).
    cache_frames : int
        Cropped frames per radar kept in an LRU cache (0: none). Each frame feeds ``T / step``
        windows; one holding every frame makes later epochs read nothing. Memory per frame and
        radar: ``n_doppler x A x R x 4`` bytes (float16 storage; 128 KiB at 8 x 64 x 64).

    Notes
    -----
    ``__getitem__(i)`` returns a dict: ``hori``, ``vert`` complex64 ``(T, n_doppler, A, R)``;
    ``keypoints`` float32 ``(n_out, J, 2)`` image pixels (256 x 256 for HuPR); ``visible`` float32
    ``(n_out, J)`` (0 for output frames repeated at a sequence end); ``frames`` int64 ``(n_out,)``;
    ``image_ids`` int64 ``(n_out,)``; ``sequence`` and ``index`` int64 scalars.

    Raises
    ------
    ValueError
        No sequences, or bad sizes.
    StoreError
        A cube that is missing, not a RAD cube, with too few Doppler bins, or shorter than the
        annotation (on first read).

    References
    ----------
    milliMamba (arXiv:2512.20128); HuPR official ``HuPR3D_horivert`` (edge-frame repetition).
    """

    def __init__(self, sequences: Sequence[HuPRSequence], n_frames: int = 16, n_out_frames: int = 4,
                 n_doppler: int = 8, step: int = 1, joints3d: Sequence[np.ndarray | None] | None = None,
                 camera=None, cache_frames: int = 0) -> None:
        if not sequences:
            raise ValueError("no sequences")
        if min(n_frames, n_out_frames, n_doppler, step) < 1 or n_out_frames > n_frames:
            raise ValueError("need 1 <= n_out_frames <= n_frames, n_doppler >= 1 and step >= 1")
        self.sequences = list(sequences)
        self.n_frames, self.n_out_frames, self.n_doppler = n_frames, n_out_frames, n_doppler
        self.step, self.cache_frames = step, cache_frames
        self.joints3d = list(joints3d) if joints3d is not None else [None] * len(self.sequences)
        if len(self.joints3d) != len(self.sequences):
            raise ValueError("joints3d needs one entry per sequence")
        self.camera = camera
        self.index = np.asarray([(s, f) for s, seq in enumerate(self.sequences)
                                 for f in range(0, seq.n_frames, step)], dtype=np.int64).reshape(-1, 2)
        self._handles: dict = {}
        self._pid: int | None = None
        self._cache: OrderedDict = OrderedDict()

    def __len__(self) -> int:
        return len(self.index)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_handles"], state["_pid"], state["_cache"] = {}, None, OrderedDict()
        return state

    @property
    def has_3d(self) -> bool:
        """Every sequence has 3-D joints and the camera is known (errors in metres possible)."""
        return self.camera is not None and all(j is not None for j in self.joints3d)

    # --- frame access -------------------------------------------------------------------------
    def _cube(self, seq: HuPRSequence, radar: str):
        from radarkit.io.store import open_cube

        if self._pid != os.getpid():  # a new process (DataLoader worker) reopens the files
            self._handles, self._pid = {}, os.getpid()
        key = (seq.name, radar)
        if key not in self._handles:
            cube = open_cube(seq.sources[radar])
            dims = tuple(cube.dims[:4])
            problem = None
            if dims != _RAD_DIMS:
                problem = f"not a RAD cube (axes {dims})"
            elif cube.shape[1] < self.n_doppler:
                problem = f"cube has {cube.shape[1]} Doppler bins, {self.n_doppler} are asked for"
            elif cube.shape[0] < seq.n_frames:
                problem = f"cube has {cube.shape[0]} frames, the annotation {seq.n_frames}"
            elif not cube.is_float16 and cube.cube.dtype.kind != "c":
                problem = "RAD cube is not complex (write it with output='complex')"
            if problem:
                cube.close()
                raise StoreError(problem, source=seq.sources[radar])
            self._handles[key] = cube
        return self._handles[key]

    def _read(self, seq: HuPRSequence, radar: str, lo: int, hi: int) -> list:
        """Frames ``lo .. hi - 1``, Doppler-cropped: per frame ``(values, scale)`` with values
        float16 re/im pairs ``(K, A, R, 2)`` (float16 storage) or complex64 ``(K, A, R)``."""
        cube = self._cube(seq, radar)
        dop = central_doppler(cube.shape[1], self.n_doppler)
        data = cube.cube[lo:hi, dop]
        if cube.is_float16:
            scale = cube.cube.file["frame_scale"][lo:hi].astype(np.float32).reshape(-1)
            return [(data[i], float(scale[i])) for i in range(len(data))]
        return [(data[i].astype(np.complex64), 1.0) for i in range(len(data))]

    @staticmethod
    def _to_complex(values: np.ndarray, scale: float) -> np.ndarray:
        if values.dtype == np.complex64:
            return values
        v = values.astype(np.float32)
        return ((v[..., 0] + 1j * v[..., 1]) * scale).astype(np.complex64)

    def radar_window(self, seq_index: int, frames: np.ndarray, radar: str) -> np.ndarray:
        """Cube values of ``frames`` of one radar, complex64 ``(len(frames), n_doppler, A, R)``.

        Parameters
        ----------
        seq_index : int
            Sequence index.
        frames : ndarray of int
            Non-decreasing frame indices (repeats allowed).
        radar : {"hori", "vert"}

        Returns
        -------
        ndarray, complex64
        """
        seq = self.sequences[seq_index]
        lo, hi = int(frames[0]), int(frames[-1]) + 1
        if self.cache_frames <= 0:
            got = self._read(seq, radar, lo, hi)
            return np.stack([self._to_complex(*got[f - lo]) for f in frames])
        missing = [int(f) for f in frames if (seq_index, radar, int(f)) not in self._cache]
        if missing:
            a, b = min(missing), max(missing) + 1
            for f, item in zip(range(a, b), self._read(seq, radar, a, b), strict=True):
                self._cache[(seq_index, radar, f)] = item
        out = []
        for f in frames:
            key = (seq_index, radar, int(f))
            self._cache.move_to_end(key)
            out.append(self._to_complex(*self._cache[key]))
        while len(self._cache) > self.cache_frames * len(RADARS):
            self._cache.popitem(last=False)
        return np.stack(out)

    # --- samples ------------------------------------------------------------------------------
    def window(self, i: int) -> tuple[int, np.ndarray, np.ndarray]:
        """``(sequence index, input frames (T,), output frames (n_out,))`` of sample ``i``."""
        s, first = (int(v) for v in self.index[i])
        inputs, outputs = millimamba_window_frames(first, self.sequences[s].n_frames, self.n_frames,
                                                   self.n_out_frames)
        return s, inputs, outputs

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        s, inputs, outputs = self.window(i)
        seq = self.sequences[s]
        visible = np.ones((len(outputs), seq.keypoints.shape[1]), dtype=np.float32)
        visible[1:][outputs[1:] == outputs[:-1]] = 0.0  # repeated end frames
        return {
            "hori": torch.from_numpy(self.radar_window(s, inputs, RADARS[0])),
            "vert": torch.from_numpy(self.radar_window(s, inputs, RADARS[1])),
            "keypoints": torch.from_numpy(np.ascontiguousarray(seq.keypoints[outputs], dtype=np.float32)),
            "visible": torch.from_numpy(visible),
            "frames": torch.from_numpy(outputs),
            "image_ids": torch.from_numpy(seq.image_ids[outputs]),
            "sequence": torch.tensor(s),
            "index": torch.tensor(i),
        }

    # --- per-frame ground truth ---------------------------------------------------------------
    def frame_offsets(self) -> np.ndarray:
        """Row of each sequence's first frame in the per-frame arrays, int64 ``(S + 1,)``."""
        return np.concatenate([[0], np.cumsum([q.n_frames for q in self.sequences])]).astype(np.int64)

    def ground_truth(self) -> dict[str, np.ndarray]:
        """COCO-style ground truth of **every frame** of every sequence (sequence, then frame order).

        Returns
        -------
        dict
            ``keypoints`` float64 ``(N, J, 3)`` (visibility 2), ``image_ids`` int64 ``(N,)``,
            ``bboxes`` float64 ``(N, 4)`` as ``(x0, y0, w, h)``, ``areas`` float64 ``(N,)`` = box
            area / 2 (HuPR's OKS area) -- the layout of :meth:`radarkit.data.hupr.HuPRWindows.
            ground_truth`, so :func:`radarkit.train.hupr.score_predictions` applies.
        """
        kp = np.concatenate([q.keypoints for q in self.sequences]).astype(np.float64)
        kp = np.concatenate([kp, np.full(kp.shape[:-1] + (1,), 2.0)], axis=-1)
        xyxy = np.concatenate([q.bboxes for q in self.sequences]).astype(np.float64).reshape(-1, 4)
        wh = xyxy[:, 2:] - xyxy[:, :2]
        return {"keypoints": kp, "image_ids": np.concatenate([q.image_ids for q in self.sequences]),
                "bboxes": np.concatenate([xyxy[:, :2], wh], axis=1), "areas": wh[:, 0] * wh[:, 1] / 2.0}

    def close(self) -> None:
        """Close open cube files."""
        for h in self._handles.values():
            h.close()
        self._handles = {}


def millimamba_cube_dataset(data_dir: str | os.PathLike, split: str | Sequence[str] = "train",
                            cubes_dir: str | os.PathLike | None = None, build: bool = True,
                            workers: int = 1, progress: Callable[[int, int], None] | None = None,
                            **kwargs) -> MilliMambaWindows:
    """:class:`MilliMambaWindows` of a radarkit dataset folder from RAD cube files.

    Parameters
    ----------
    data_dir : str or os.PathLike
        Dataset folder: ``splits.json``, ``single_<n>/annot/hrnet_annot.json`` (and, when present,
        ``annot/radarkit.json`` with 3-D joints and ``dataset.json`` with the camera), and for
        building cubes the ``single_<n>/{hori,vert}/`` recordings.
    split : str or sequence of str
        Split name(s) (:func:`radarkit.data.hupr.split_sequences`) or sequence folder names.
    cubes_dir : str or os.PathLike, optional
        Cube folder (default :func:`default_rad_cube_dir`).
    build : bool
        Write missing cube files first (:func:`ensure_rad_cubes`); otherwise a missing one raises.
    workers, progress
        Passed to :func:`ensure_rad_cubes`.
    **kwargs
        :class:`MilliMambaWindows` options (``n_frames``, ``n_out_frames``, ``step`` ...).

    Returns
    -------
    MilliMambaWindows

    Raises
    ------
    StoreError
        Missing split, annotations or cube files.
    """
    from radarkit.sim.dataset import load_annotations

    data_dir = Path(data_dir)
    names = split_sequences(data_dir, split)
    cubes = Path(cubes_dir) if cubes_dir is not None else default_rad_cube_dir(data_dir)
    if build:
        ensure_rad_cubes(data_dir, cubes, names, workers, progress)
    seqs = cube_sequences(data_dir, names, cubes, "build it with radarkit.data.millimamba."
                          "ensure_rad_cubes or 'radarkit train millimamba'")
    joints3d = []
    for seq in seqs:
        j3 = None
        if (data_dir / seq.name / "annot" / "radarkit.json").exists():
            j3 = load_annotations(data_dir / seq.name)["joints3d"].get("hupr14")
            if j3 is not None and j3.shape[:2] != seq.keypoints.shape[:2]:
                j3 = None
        joints3d.append(j3)
    kwargs.setdefault("joints3d", joints3d)
    kwargs.setdefault("camera", load_camera(data_dir))
    return MilliMambaWindows(seqs, **kwargs)
