"""HuPR training data: 8-frame VRDAEMap windows of both radars with Gaussian heatmap targets.

One sample (HuPR section 5.2; official ``datasets/dataset.py``) is centred on frame ``t`` of a
sequence: frames ``t-4 .. t+3`` of the horizontal and the vertical radar's VRDAEMap, indices
clamped to the sequence (edge frames repeated), the 8 Doppler bins around zero velocity (relative
``-4 .. +3``), real and imaginary parts as separate channels, and the 14 keypoints of frame ``t``
(256 x 256 image pixels) as Gaussian heatmaps (sigma 2 on the 64 x 64 grid, stride 4).

Normalisation (official ``datasets/base.py``, ``Normalize``): every 2-D (range, azimuth) slice of
one frame, Doppler bin, real/imaginary part and elevation bin is min-max scaled to [0, 1] and then
z-scored with its own mean and (unbiased) standard deviation. It depends on nothing but the slice,
so a frame's scale (radarkit's float16 ``frame_scale``) cancels. A slice with no spread becomes 0.

Two frame sources feed the same :class:`HuPRWindows` dataset:

* radarkit cube files ``CUBES/single_<n>/{hori,vert}.h5`` (``radarkit cube DATASET --kind vrdae
  --mode hupr --storage float16``; :func:`ensure_cubes` writes the missing ones), read lazily: one
  contiguous HDF5 read of at most 8 frames per radar and sample, so memory stays bounded whatever
  the dataset size (plus an optional LRU cache of normalised frames);
* the official HuPR layout ``ROOT/single_<n>/{hori,vert}/<frame:09d>.npy`` (complex, ``(16 doppler,
  64 range, 64 azimuth, 8 elevation)``) with ``ROOT/hrnet_annot_<phase>.json`` (a list per
  sequence of ``{"image", "joints", "bbox"}`` blocks) -- :func:`hupr_official_dataset`.

Annotations of a radarkit dataset (``radarkit simulate``) come from ``single_<n>/annot/
hrnet_annot.json`` (the same blocks) and its splits from ``splits.json``. Image ids follow the
official code: ``frame + 100000 * n`` for sequence ``single_<n>``.

References
----------
.. [1] S.-P. Lee et al., "HuPR: A Benchmark for Human Pose Estimation Using Millimeter Wave Radar",
   WACV 2023, sections 3, 4.1 and 5.1-5.2; official repository
   robert80203/HuPR-A-Benchmark-for-Human-Pose-Estimation-Using-Millimeter-Wave-Radar
   (``datasets/dataset.py``, ``datasets/base.py``; read for understanding).
"""

from __future__ import annotations

import json
import os
import re
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numba
import numpy as np
import torch
from torch.utils.data import Dataset

from radarkit.data.heatmaps import gaussian_heatmaps
from radarkit.errors import StoreError

__all__ = [
    "RADARS",
    "IMAGE_ID_STRIDE",
    "window_frames",
    "normalize_slices",
    "central_doppler",
    "vrdae_to_normalized_input",
    "HuPRSequence",
    "load_hrnet_blocks",
    "read_splits",
    "split_sequences",
    "default_cube_dir",
    "ensure_cubes",
    "HuPRWindows",
    "cube_sequences",
    "hupr_cube_dataset",
    "hupr_official_dataset",
]

#: Radar folders / cube files of a sequence, in model input order (horizontal, vertical).
RADARS: tuple[str, str] = ("hori", "vert")
#: Image id of frame ``f`` of ``single_<n>``: ``f + IMAGE_ID_STRIDE * n`` (official code).
IMAGE_ID_STRIDE = 100_000


def window_frames(centre: int, n_frames: int, length: int = 8) -> np.ndarray:
    """Frame indices of the window centred on ``centre``: ``centre - length//2 .. centre +
    length - length//2 - 1`` clamped to ``[0, n_frames - 1]`` (edge frames repeated).

    Parameters
    ----------
    centre : int
        Annotated frame ``t``.
    n_frames : int
        Frames in the sequence.
    length : int
        Window length (HuPR: 8, giving ``t-4 .. t+3``).

    Returns
    -------
    ndarray, int64, shape (length,)

    Raises
    ------
    IndexError
        ``centre`` outside the sequence.

    References
    ----------
    HuPR official ``HuPR3D_horivert.__getitem__`` (boundary padding repeats the edge frame).
    """
    if not 0 <= centre < n_frames:
        raise IndexError(f"frame {centre} outside a sequence of {n_frames} frames")
    return np.clip(np.arange(length) + (centre - length // 2), 0, n_frames - 1).astype(np.int64)


def normalize_slices(x: np.ndarray, axes: tuple[int, int] = (-2, -1)) -> np.ndarray:
    """HuPR's per-slice normalisation: min-max to [0, 1], then z-score, over ``axes``.

    ``y = (u - mean(u)) / std(u)`` with ``u = (x - min x) / (max x - min x)``, statistics per slice
    and the standard deviation unbiased (``ddof=1``, as ``torch.std``). Slices with no spread
    (constant) give 0 instead of NaN.

    Parameters
    ----------
    x : array_like, real, shape (..., H, W)
        Values (e.g. the real or imaginary part of a VRDAEMap).
    axes : (int, int)
        The two slice axes (default the last two: range and azimuth in HuPR's layout).

    Returns
    -------
    ndarray, float32, same shape as ``x``

    References
    ----------
    HuPR official ``datasets/base.py`` (``Normalize``: per-channel min, max, ``std_mean``).
    """
    x = np.asarray(x, dtype=np.float32)
    lo = x.min(axis=axes, keepdims=True)
    u = x - lo
    hi = u.max(axis=axes, keepdims=True)
    ok = hi > 0
    u = u / np.where(ok, hi, 1.0)
    mean = u.mean(axis=axes, keepdims=True, dtype=np.float64)
    n = x.shape[axes[0]] * x.shape[axes[1]]
    var = ((u - mean) ** 2).sum(axis=axes, keepdims=True, dtype=np.float64) / max(n - 1, 1)
    std = np.sqrt(var)
    good = ok & (std > 0)
    out = (u - mean) / np.where(good, std, 1.0)
    return np.where(good, out, 0.0).astype(np.float32)


def central_doppler(n_bins: int, n_keep: int) -> slice:
    """The ``n_keep`` fftshifted Doppler bins around zero velocity (relative ``-n_keep//2 ..
    n_keep - n_keep//2 - 1``) of an axis of ``n_bins`` bins with zero at index ``n_bins // 2``.

    Parameters
    ----------
    n_bins, n_keep : int
        Bins on the axis and bins kept (HuPR: 16 stored, 8 kept -> indices 4..11).

    Returns
    -------
    slice

    Raises
    ------
    ValueError
        ``n_keep`` larger than ``n_bins``.
    """
    if n_keep > n_bins:
        raise ValueError(f"cannot keep {n_keep} Doppler bins of {n_bins}")
    start = n_bins // 2 - n_keep // 2
    return slice(start, start + n_keep)


@numba.njit(cache=True, nogil=True)
def _zscore_parts(x, out):  # pragma: no cover - compiled
    """x: float32 (N, K, E, A, R, 2) re/im last; out: float32 (N, K, 2, R, A, E)."""
    n_f, n_k, n_e, n_a, n_r, n_c = x.shape
    count = n_a * n_r
    mean = np.empty((n_e, n_c))
    scale = np.empty((n_e, n_c))
    for f in range(n_f):
        for k in range(n_k):
            for e in range(n_e):
                for c in range(n_c):
                    s = 0.0
                    for a in range(n_a):
                        for r in range(n_r):
                            s += x[f, k, e, a, r, c]
                    m = s / count
                    q = 0.0
                    for a in range(n_a):
                        for r in range(n_r):
                            d = x[f, k, e, a, r, c] - m
                            q += d * d
                    std = np.sqrt(q / max(count - 1, 1))
                    mean[e, c] = m
                    scale[e, c] = 1.0 / std if std > 0 else 0.0
            for c in range(n_c):
                for r in range(n_r):
                    for a in range(n_a):
                        for e in range(n_e):
                            out[f, k, c, r, a, e] = (x[f, k, e, a, r, c] - mean[e, c]) * scale[e, c]


def vrdae_to_normalized_input(cube: np.ndarray, n_doppler: int = 8) -> np.ndarray:
    """VRDAE frames (radarkit axis order) to HuPR's normalised per-radar model input.

    Min-max scaling is an affine map with a positive scale, which the following z-score undoes,
    so the result equals the plain per-slice z-score ``(x - mean) / std`` (``ddof=1``); it is
    computed that way in one compiled pass (float64 sums), and agrees with the literal two-step
    :func:`normalize_slices` to float32 rounding.

    Parameters
    ----------
    cube : array_like, shape (..., K, E, A, R) complex, or (..., K, E, A, R, 2) real
        ``(frame, doppler, elevation, azimuth, range)`` frames as stored in radarkit cube files:
        complex values, or real/imaginary pairs on a trailing axis (the float16 storage, whose
        per-frame scale the normalisation cancels). ``K >= n_doppler`` fftshifted Doppler bins.
    n_doppler : int
        Doppler bins kept around zero velocity (HuPR: 8; :func:`central_doppler`).

    Returns
    -------
    ndarray, float32, shape (..., n_doppler, 2, R, A, E)
        Real/imaginary parts as an axis, each (range, azimuth) slice normalised: the layout of
        :func:`radarkit.models.hupr.vrdae_to_input`.

    Raises
    ------
    ValueError
        Fewer than 4 axes, a real input without a trailing re/im axis, or ``n_doppler`` too large.

    References
    ----------
    HuPR section 4.1; official ``datasets/dataset.py`` and ``datasets/base.py`` (``Normalize``).
    """
    cube = np.asarray(cube)
    if np.iscomplexobj(cube):
        if cube.ndim < 4:
            raise ValueError(f"expected complex (..., doppler, elevation, azimuth, range), got {cube.shape}")
        cube = np.ascontiguousarray(cube, dtype=np.complex64).view(np.float32).reshape(cube.shape + (2,))
    elif cube.ndim < 5 or cube.shape[-1] != 2:
        raise ValueError(f"expected real (..., doppler, elevation, azimuth, range, 2), got {cube.shape}")
    lead = cube.shape[:-5]
    x = cube.reshape((-1,) + cube.shape[-5:])
    x = x[:, central_doppler(x.shape[1], n_doppler)].astype(np.float32, copy=False)
    n, k, e, a, r, _ = x.shape
    out = np.empty((n, k, 2, r, a, e), dtype=np.float32)
    _zscore_parts(x, out)
    return out.reshape(lead + out.shape[1:])


@dataclass
class HuPRSequence:
    """One annotated two-radar sequence and where its VRDAEMap frames are.

    Attributes
    ----------
    name : str
        Folder name (``single_<n>``).
    number : int
        ``n`` of ``single_<n>`` (image ids ``frame + IMAGE_ID_STRIDE * n``).
    keypoints : ndarray, float32, shape (F, J, 2)
        Keypoints ``(x, y)`` per frame in 256 x 256 image pixels.
    bboxes : ndarray, float32, shape (F, 4)
        Person boxes ``(x0, y0, x1, y1)`` in pixels (OKS area = box area / 2).
    sources : dict of str to Path
        ``{"hori": ..., "vert": ...}``: a cube file (``kind="cube"``) or a folder of per-frame
        ``.npy`` files (``kind="npy"``).
    kind : {"cube", "npy"}
        Frame source type.
    """

    name: str
    number: int
    keypoints: np.ndarray = field(repr=False)
    bboxes: np.ndarray = field(repr=False)
    sources: dict[str, Path]
    kind: str = "cube"

    @property
    def n_frames(self) -> int:
        """Annotated frames."""
        return len(self.keypoints)

    @property
    def image_ids(self) -> np.ndarray:
        """Image id per frame, int64 ``(F,)``."""
        return np.arange(self.n_frames, dtype=np.int64) + IMAGE_ID_STRIDE * self.number


def _sequence_number(name: str) -> int:
    m = re.fullmatch(r".*?(\d+)", name)
    if m is None:
        raise StoreError(f"sequence folder name {name!r} has no number (expected single_<n>)")
    return int(m.group(1))


def load_hrnet_blocks(blocks: list[dict] | str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints and boxes of HuPR annotation blocks (``hrnet_annot.json``).

    Parameters
    ----------
    blocks : list of dict, or path
        Per-frame ``{"image": "000000000.jpg", "joints": [[x, y] x 14], "bbox": [x0, y0, x1,
        y1]}`` blocks in frame order, or a JSON file holding them.

    Returns
    -------
    keypoints : ndarray, float32, shape (F, J, 2)
    bboxes : ndarray, float32, shape (F, 4)

    Raises
    ------
    StoreError
        Unreadable file, or blocks without joints/boxes of consistent shape.
    """
    source = None
    if not isinstance(blocks, list):
        source = Path(blocks)
        try:
            blocks = json.loads(source.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise StoreError("no annotation file", source=source) from None
        except json.JSONDecodeError as err:
            raise StoreError(f"not valid JSON ({err})", source=source) from None
    try:
        frames = [int(str(b["image"]).split(".")[0]) for b in blocks]
        kp = np.asarray([b["joints"] for b in blocks], dtype=np.float32)
        box = np.asarray([b["bbox"] for b in blocks], dtype=np.float32)
    except (KeyError, TypeError, ValueError) as err:
        raise StoreError(f"bad HuPR annotation blocks ({err})", source=source) from None
    if kp.ndim != 3 or kp.shape[-1] < 2 or box.shape != (len(kp), 4):
        raise StoreError(f"annotation shapes {kp.shape} / {box.shape} are not (F, J, 2) / (F, 4)",
                         source=source)
    if frames != list(range(len(frames))):
        raise StoreError("annotation blocks are not frames 0, 1, 2, ... in order", source=source)
    return np.ascontiguousarray(kp[..., :2]), box


def read_splits(data_dir: str | os.PathLike) -> dict[str, list[str]]:
    """Sequence names per split from ``DATA/splits.json`` (``radarkit simulate``).

    Returns
    -------
    dict
        ``{"train": [...], "val": [...], "test": [...]}`` sequence folder names.

    Raises
    ------
    StoreError
        Missing or malformed ``splits.json``.
    """
    path = Path(data_dir) / "splits.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return {k: [str(n) for n in v] for k, v in doc["sequences"].items()}
    except FileNotFoundError:
        raise StoreError("no splits.json (give the sequences explicitly)", source=path) from None
    except (json.JSONDecodeError, KeyError, AttributeError, TypeError) as err:
        raise StoreError(f"malformed splits file ({err})", source=path) from None


def split_sequences(data_dir: str | os.PathLike, split: str | Sequence[str]) -> list[str]:
    """Sequence names of a split name (``"train"``, ``"val"``, ``"test"``, ``"all"``, or several
    joined by ``+``) or an explicit list of names.

    Raises
    ------
    StoreError
        Unknown split, or a split without sequences.
    """
    if not isinstance(split, str):
        return [str(s) for s in split]
    splits = read_splits(data_dir)
    names: list[str] = []
    for part in split.split("+"):
        if part == "all":
            names += [n for v in splits.values() for n in v]
        elif part in splits:
            names += splits[part]
        else:
            raise StoreError(f"unknown split {part!r} (known: {', '.join(splits)}, all)",
                             source=Path(data_dir) / "splits.json")
    names = list(dict.fromkeys(names))
    if not names:
        raise StoreError(f"split {split!r} has no sequences", source=Path(data_dir) / "splits.json")
    return names


def default_cube_dir(data_dir: str | os.PathLike, doppler_bins: int = 8) -> Path:
    """Where :func:`ensure_cubes` puts a dataset's cubes by default.

    Parameters
    ----------
    data_dir : str or os.PathLike
        Dataset folder.
    doppler_bins : int
        Doppler bins the cubes keep.

    Returns
    -------
    Path
        ``DATA/cubes_vrdae`` for HuPR's 8 Doppler bins, ``DATA/cubes_vrdae_k<K>`` for others.
    """
    name = "cubes_vrdae" if doppler_bins == 8 else f"cubes_vrdae_k{doppler_bins}"
    return Path(data_dir) / name


def ensure_cubes(
    data_dir: str | os.PathLike,
    cubes_dir: str | os.PathLike | None = None,
    sequences: Sequence[str] | None = None,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
    doppler_bins: int = 8,
) -> Path:
    """Write the HuPR VRDAEMap cube file of every radar that does not have one yet.

    The same files as ``radarkit cube DATA --kind vrdae --mode hupr --storage float16
    --doppler-bins K --out CUBES``: ``CUBES/single_<n>/{hori,vert}.h5``, K = ``doppler_bins``
    Doppler bins, float16 storage.

    Parameters
    ----------
    data_dir : str or os.PathLike
        Dataset folder with ``single_<n>/{hori,vert}/`` recordings and configurations.
    cubes_dir : str or os.PathLike, optional
        Output folder (default :func:`default_cube_dir` of ``doppler_bins``).
    sequences : sequence of str, optional
        Only these sequence folders (default all).
    workers : int
        Threads per cube (see :func:`radarkit.dsp.cubes.write_cube`).
    progress : callable, optional
        ``progress(frames_done, bytes_done)`` over the files written.
    doppler_bins : int
        Doppler bins kept around zero velocity (HuPR's model reads 8; its stored frames keep 16,
        relative -8..+7). Existing cube files are not checked: a folder per value keeps them
        apart (:func:`default_cube_dir`).

    Returns
    -------
    Path
        ``cubes_dir``.

    Raises
    ------
    RecordingError, ConfigError, StoreError
        Bad dataset layout, configuration or output (see :func:`radarkit.dsp.sequences.
        plan_sequence_cubes`).
    """
    from radarkit.dsp.cubes import CubeParams
    from radarkit.dsp.sequences import write_sequence_cubes

    out = Path(cubes_dir) if cubes_dir is not None else default_cube_dir(data_dir, doppler_bins)
    params = CubeParams(kind="vrdae", mode="hupr", doppler_bins=doppler_bins)
    write_sequence_cubes(data_dir, out, params, workers=workers,
                         storage="float16", progress=progress, command="radarkit.data.hupr.ensure_cubes",
                         only_missing=True, sequences=None if sequences is None else set(sequences))
    return out


class HuPRWindows(Dataset):
    """Torch dataset of HuPR samples: two 8-frame VRDAEMap windows and heatmap targets.

    Parameters
    ----------
    sequences : list of HuPRSequence
        Annotated sequences with their frame sources.
    n_frames : int
        Window length T (HuPR: 8, frames ``t-4 .. t+3``).
    n_doppler : int
        Doppler bins kept (HuPR: 8).
    heatmap_size : int
        Heatmap side (HuPR: 64); ``stride = image_size / heatmap_size``.
    image_size : int
        Keypoint image side in pixels (HuPR: 256).
    sigma : float
        Gaussian sigma in heatmap pixels (HuPR: 2).
    step : int
        Use every ``step``-th frame as a window centre (HuPR's ``sampling_ratio``).
    cache_frames : int
        Normalised frames (per radar) kept in an LRU cache (0: none). Each frame is in 8
        windows, so a cache helps sequential passes (evaluation), and one holding every frame
        makes later epochs read nothing; memory is 2 MiB (float32) or 1 MiB (float16) per frame
        and radar at HuPR's size.
    cache_dtype : numpy dtype
        Storage type of cached frames: float32 (exact) or float16 (half the memory; normalised
        values then carry a relative rounding of about 5e-4).
    mean_elevation : bool
        Average the normalised windows over the elevation axis here (``E`` becomes 1). HuPR's
        model does this as its first step (official ``x.mean(dim=-1)``), so its outputs do not
        change, while a window holds, reads and caches 8 times less data (training on a CPU is
        then bound by the model, not by loading).

    Notes
    -----
    ``__getitem__(i)`` returns a dict: ``hori``, ``vert`` float32 tensors ``(T, K, 2, R, A, E)``
    (``E`` = 1 with ``mean_elevation``);
    ``heatmaps`` float32 ``(J, H, W)``; ``weights`` float32 ``(J,)`` (0 where a joint has no
    target); ``keypoints`` float32 ``(J, 2)`` image pixels; ``image_id`` int64; ``index`` int64.
    File handles are opened lazily in each process (safe with ``DataLoader`` workers).

    Raises
    ------
    ValueError
        No sequences, or bad sizes.
    StoreError
        A frame source that is missing, holds fewer frames than annotated or a cube file with
        fewer Doppler bins than ``n_doppler`` (on first read).

    References
    ----------
    HuPR sections 4.1 and 5.2; official ``HuPR3D_horivert``.
    """

    def __init__(self, sequences: Sequence[HuPRSequence], n_frames: int = 8, n_doppler: int = 8,
                 heatmap_size: int = 64, image_size: int = 256, sigma: float = 2.0, step: int = 1,
                 cache_frames: int = 0, cache_dtype: type | np.dtype = np.float32,
                 mean_elevation: bool = False) -> None:
        if not sequences:
            raise ValueError("no sequences")
        if n_frames < 1 or n_doppler < 1 or step < 1 or heatmap_size < 1:
            raise ValueError("n_frames, n_doppler, heatmap_size and step must be positive")
        self.sequences = list(sequences)
        self.n_frames = n_frames
        self.n_doppler = n_doppler
        self.heatmap_size = heatmap_size
        self.stride = image_size / heatmap_size
        self.sigma = sigma
        self.cache_frames = cache_frames
        self.cache_dtype = np.dtype(cache_dtype)
        self.mean_elevation = bool(mean_elevation)
        self.index = np.asarray([(s, f) for s, seq in enumerate(self.sequences)
                                 for f in range(0, seq.n_frames, step)], dtype=np.int64).reshape(-1, 2)
        self._handles: dict = {}
        self._pid = None
        self._cache: OrderedDict = OrderedDict()

    def __len__(self) -> int:
        return len(self.index)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_handles"], state["_pid"], state["_cache"] = {}, None, OrderedDict()
        return state

    # --- frame access -------------------------------------------------------------------------
    def _cube(self, seq: HuPRSequence, radar: str):
        from radarkit.io.store import open_cube

        if self._pid != os.getpid():  # new process (DataLoader worker): reopen files
            self._handles, self._pid = {}, os.getpid()
        key = (seq.name, radar)
        if key not in self._handles:
            cube = open_cube(seq.sources[radar])
            dims = tuple(cube.dims[:5])
            if dims != ("frame", "doppler", "elevation", "azimuth", "range"):
                cube.close()
                raise StoreError(f"not a VRDAE cube (axes {dims})", source=seq.sources[radar])
            if cube.shape[0] < seq.n_frames:
                cube.close()
                raise StoreError(f"cube has {cube.shape[0]} frames, the annotation {seq.n_frames}",
                                 source=seq.sources[radar])
            if cube.shape[1] < self.n_doppler:
                cube.close()
                raise StoreError(f"cube keeps {cube.shape[1]} Doppler bins, {self.n_doppler} are "
                                 "needed (rebuild it with a larger --doppler-bins)",
                                 source=seq.sources[radar])
            self._handles[key] = cube
        return self._handles[key]

    def _read_raw(self, seq: HuPRSequence, radar: str, lo: int, hi: int) -> np.ndarray:
        """Frames ``lo .. hi - 1`` in radarkit order, complex ``(n, K, E, A, R)`` or float
        re/im pairs ``(n, K, E, A, R, 2)`` (float16 cube storage, read without its scale)."""
        if seq.kind == "cube":
            cube = self._cube(seq, radar)
            return cube.cube[lo:hi] if cube.is_float16 else cube.read(lo, hi)
        frames = []
        for f in range(lo, hi):
            path = Path(seq.sources[radar]) / f"{f:09d}.npy"
            try:
                arr = np.load(path)
            except FileNotFoundError:
                raise StoreError("missing VRDAEMap frame", source=path) from None
            except ValueError as err:
                raise StoreError(f"unreadable .npy ({err})", source=path) from None
            if arr.ndim != 4 or not np.iscomplexobj(arr):
                raise StoreError(f"expected complex (doppler, range, azimuth, elevation), got "
                                 f"{arr.dtype} {arr.shape}", source=path)
            frames.append(arr.transpose(0, 3, 2, 1))  # -> (doppler, elevation, azimuth, range)
        return np.stack(frames).astype(np.complex64)

    def _normalized(self, seq: HuPRSequence, radar: str, lo: int, hi: int) -> np.ndarray:
        norm = vrdae_to_normalized_input(self._read_raw(seq, radar, lo, hi), self.n_doppler)
        return norm.mean(axis=-1, keepdims=True) if self.mean_elevation else norm

    def radar_window(self, seq_index: int, centre: int, radar: str) -> np.ndarray:
        """The normalised window of one radar, float32 ``(T, K, 2, R, A, E)`` (E = 1 with
        ``mean_elevation``)."""
        seq = self.sequences[seq_index]
        frames = window_frames(centre, seq.n_frames, self.n_frames)
        lo, hi = int(frames[0]), int(frames[-1]) + 1
        if self.cache_frames <= 0:
            return self._normalized(seq, radar, lo, hi)[frames - lo]
        out = [None] * len(frames)
        missing = [i for i, f in enumerate(frames) if (seq_index, radar, int(f)) not in self._cache]
        if missing:
            a, b = int(frames[missing[0]]), int(frames[missing[-1]]) + 1
            norm = self._normalized(seq, radar, a, b)
            for f in range(a, b):
                self._cache[(seq_index, radar, f)] = norm[f - a].astype(self.cache_dtype)
        for i, f in enumerate(frames):
            key = (seq_index, radar, int(f))
            self._cache.move_to_end(key)
            out[i] = self._cache[key]
        while len(self._cache) > self.cache_frames * len(RADARS):
            self._cache.popitem(last=False)
        return np.stack(out).astype(np.float32, copy=False)

    # --- samples ------------------------------------------------------------------------------
    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        s, t = (int(v) for v in self.index[i])
        seq = self.sequences[s]
        kp = seq.keypoints[t]
        maps, weights = gaussian_heatmaps(kp, self.heatmap_size, self.stride, self.sigma)
        return {
            "hori": torch.from_numpy(self.radar_window(s, t, RADARS[0])),
            "vert": torch.from_numpy(self.radar_window(s, t, RADARS[1])),
            "heatmaps": torch.from_numpy(maps),
            "weights": torch.from_numpy(weights),
            "keypoints": torch.from_numpy(np.ascontiguousarray(kp, dtype=np.float32)),
            "image_id": torch.tensor(int(seq.image_ids[t])),
            "index": torch.tensor(i),
        }

    def ground_truth(self) -> dict[str, np.ndarray]:
        """COCO-style ground truth of every sample, in dataset order.

        Returns
        -------
        dict
            ``keypoints`` float64 ``(N, J, 3)`` (visibility 2, as the official annotation),
            ``image_ids`` int64 ``(N,)``, ``bboxes`` float64 ``(N, 4)`` as ``(x0, y0, w, h)``,
            ``areas`` float64 ``(N,)`` = box area / 2 (HuPR's OKS area).
        """
        kp, ids, boxes = [], [], []
        for s, t in self.index:
            seq = self.sequences[s]
            kp.append(seq.keypoints[t])
            ids.append(seq.image_ids[t])
            boxes.append(seq.bboxes[t])
        kp = np.asarray(kp, dtype=np.float64)
        kp = np.concatenate([kp, np.full(kp.shape[:-1] + (1,), 2.0)], axis=-1)
        xyxy = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        wh = xyxy[:, 2:] - xyxy[:, :2]
        return {"keypoints": kp, "image_ids": np.asarray(ids, dtype=np.int64),
                "bboxes": np.concatenate([xyxy[:, :2], wh], axis=1),
                "areas": wh[:, 0] * wh[:, 1] / 2.0}

    def close(self) -> None:
        """Close open cube files."""
        for h in self._handles.values():
            h.close()
        self._handles = {}


def hupr_cube_dataset(data_dir: str | os.PathLike, split: str | Sequence[str] = "train",
                      cubes_dir: str | os.PathLike | None = None, build: bool = True,
                      workers: int = 1, progress: Callable[[int, int], None] | None = None,
                      **kwargs) -> HuPRWindows:
    """:class:`HuPRWindows` of a radarkit dataset (``radarkit simulate`` layout) from cube files.

    Parameters
    ----------
    data_dir : str or os.PathLike
        Dataset folder: ``splits.json``, ``single_<n>/annot/hrnet_annot.json`` and, for building
        cubes, ``single_<n>/{hori,vert}/`` recordings.
    split : str or sequence of str
        Split name(s) (:func:`split_sequences`) or sequence folder names.
    cubes_dir : str or os.PathLike, optional
        Cube folder ``CUBES/single_<n>/{hori,vert}.h5`` (default :func:`default_cube_dir` of
        ``n_doppler``).
    build : bool
        Write missing cube files first (:func:`ensure_cubes`, keeping ``n_doppler`` Doppler bins);
        otherwise a missing one raises.
    workers, progress
        Passed to :func:`ensure_cubes`.
    **kwargs
        :class:`HuPRWindows` options (``n_frames``, ``step``, ``cache_frames`` ...).

    Returns
    -------
    HuPRWindows

    Raises
    ------
    StoreError
        Missing split, annotations or cube files.
    """
    data_dir = Path(data_dir)
    names = split_sequences(data_dir, split)
    n_doppler = kwargs.get("n_doppler", 8)
    cubes = Path(cubes_dir) if cubes_dir is not None else default_cube_dir(data_dir, n_doppler)
    if build:
        ensure_cubes(data_dir, cubes, names, workers, progress, doppler_bins=n_doppler)
    k = "" if n_doppler == 8 else f" --doppler-bins {n_doppler}"
    seqs = cube_sequences(data_dir, names, cubes, "build it with radarkit cube ... --kind vrdae "
                          f"--mode hupr --storage float16{k}")
    return HuPRWindows(seqs, **kwargs)


def cube_sequences(data_dir: str | os.PathLike, names: Sequence[str], cubes_dir: str | os.PathLike,
                   hint: str = "") -> list[HuPRSequence]:
    """Annotated sequences whose frames come from per-radar cube files ``CUBES/<name>/<radar>.h5``.

    Parameters
    ----------
    data_dir : str or os.PathLike
        Dataset folder (``<name>/annot/hrnet_annot.json`` per sequence).
    names : sequence of str
        Sequence folder names (``single_<n>``).
    cubes_dir : str or os.PathLike
        Cube root.
    hint : str
        How to build a missing cube file (appended to the error).

    Returns
    -------
    list of HuPRSequence

    Raises
    ------
    StoreError
        Missing annotations or cube files, or a folder name without a number.
    """
    data_dir, cubes = Path(data_dir), Path(cubes_dir)
    seqs = []
    for name in names:
        kp, box = load_hrnet_blocks(data_dir / name / "annot" / "hrnet_annot.json")
        sources = {r: cubes / name / f"{r}.h5" for r in RADARS}
        for path in sources.values():
            if not path.exists():
                raise StoreError(f"cube file missing ({hint})" if hint else "cube file missing",
                                 source=path)
        seqs.append(HuPRSequence(name, _sequence_number(name), kp, box, sources, "cube"))
    return seqs


def hupr_official_dataset(root: str | os.PathLike, phase: str = "train",
                          sequences: Sequence[int] | None = None, **kwargs) -> HuPRWindows:
    """:class:`HuPRWindows` over the official HuPR layout (per-frame ``.npy`` VRDAEMaps).

    Layout: ``ROOT/hrnet_annot_<phase>.json`` (one list of frame blocks per sequence of the
    phase) and ``ROOT/single_<n>/{hori,vert}/<frame:09d>.npy``, each a complex array ``(16
    doppler, 64 range, 64 azimuth, 8 elevation)`` (the official preprocessing's output).

    Parameters
    ----------
    root : str or os.PathLike
        Dataset root.
    phase : {"train", "val", "test"}
        Which ``hrnet_annot_<phase>.json``.
    sequences : sequence of int, optional
        Sequence numbers ``n`` of the phase, in the annotation file's order (the official
        configuration's ``trainName``/``valName``/``testName``); default ``splits.json``'s
        ``"hupr"`` entry when present.
    **kwargs
        :class:`HuPRWindows` options.

    Returns
    -------
    HuPRWindows

    Raises
    ------
    StoreError
        Missing files, or a sequence list whose length differs from the annotation file's.
    """
    root = Path(root)
    path = root / f"hrnet_annot_{phase}.json"
    try:
        per_seq = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StoreError("no annotation file", source=path) from None
    except json.JSONDecodeError as err:
        raise StoreError(f"not valid JSON ({err})", source=path) from None
    if sequences is None:
        try:
            sequences = json.loads((root / "splits.json").read_text())["hupr"][phase]
        except (FileNotFoundError, KeyError, json.JSONDecodeError):
            raise StoreError("give the sequence numbers of the phase (the official configuration's "
                             f"{phase}Name): no splits.json with them", source=path) from None
    if len(sequences) != len(per_seq):
        raise StoreError(f"{len(per_seq)} sequences in the annotation file, {len(sequences)} "
                         "sequence numbers given", source=path)
    seqs = []
    for n, blocks in zip(sequences, per_seq, strict=True):
        name = f"single_{int(n)}"
        kp, box = load_hrnet_blocks(blocks)
        sources = {r: root / name / r for r in RADARS}
        for folder in sources.values():
            if not folder.is_dir():
                raise StoreError("missing radar folder of per-frame .npy files", source=folder)
        seqs.append(HuPRSequence(name, int(n), kp, box, sources, "npy"))
    return HuPRWindows(seqs, **kwargs)
