"""MAEPose clips: 20-frame Range-Doppler / Range-Azimuth video clips with multi-frame joint targets.

A *sequence* is one radar's dB video -- ``rd-video`` ``(frame, doppler, range)`` or ``ra-video``
``(frame, azimuth, range)`` cubes (``architecture.md``) -- read from a radarkit cube file or computed
on the fly from the recording, plus, when annotated, its per-frame joints. :class:`RadarClips` cuts
the sequences into overlapping clips of ``num_frames`` frames and serves them as a
``torch.utils.data.Dataset``:

* unlabelled (pre-training, [1]_ section 3.1): item = clip ``(C, T, H, W)`` float32;
* labelled (fine-tuning, [1]_ section 3.2): item = ``(clip, joints, weight)`` with ``joints``
  ``(F, J, 2)`` float32 normalised plane coordinates in [0, 1] of the ``F`` target frames and
  ``weight`` ``(F, J)`` float32 (0 for a joint without a label or outside the plane extent). This is
  the batch layout of :mod:`radarkit.train.maepose`, whose loss renders the targets as 13 Gaussian
  joint heatmaps per target frame (:func:`radarkit.models.maepose.gaussian_heatmaps`), so the
  heatmaps are never stored.

Channels: ``kind="rd"`` one RD channel; ``"ra"`` one RA channel; ``"dual"`` RD and RA stacked as two
channels (the paper's dual stream; both maps are brought to the same ``size``).

Map preparation (:func:`prepare_maps`): optional crop to a range-bin interval, then block averaging
of the *power* (``10^(dB/10)``) by integer factors down to ``size`` and back to dB, so each output
cell is the mean power of the bins it covers. Per-clip display dynamic range
(:func:`clip_dynamic_range`, optional): every cell below a floor -- the clip's peak minus
``dynamic_range_db``, and/or its noise floor (median) plus ``noise_margin_db`` -- is raised to the
floor, the usual radar display practice; thermal-noise cells then become one constant that a
masked autoencoder can predict, and the reconstruction loss falls on the person's returns. Per-clip
normalisation (:func:`normalise_clip`): ``"zscore"`` (each channel to zero mean and unit variance over
the clip, the default), ``"minmax"`` (each channel to [0, 1]) or ``"none"``.
:meth:`ClipSpec.normalised` applies both, in that order.

Joint targets -- a documented choice
------------------------------------
MAEPose's labels are 2-D keypoints in the camera image plane, reported in metres ([1]_ sections
3.2.3 and 4.4: MPJPE in m, PCK@5cm). The simulator gives 3-D joints in metres (radar frame: x right,
y boresight, z up), so the targets here are the joints projected orthographically on a vertical
plane in metres, which keeps MPJPE and PCK@5cm in metres without a camera model:

* ``plane="xz"`` (default): the frontal plane the camera sees (x right, z up);
* ``plane="yz"``: the side plane (range y, z up).

A Range-Doppler map has no azimuth axis, so where a person stands laterally is not observable from
RD video; with ``root_relative=True`` (default) the horizontal coordinate is taken relative to the
mid-hip of the same frame, while the height z stays absolute (the radar height is fixed). The plane
rectangle ``extent = (h_min, h_max, z_top, z_bottom)`` metres maps to [0, 1] x [0, 1] with
normalised ``y = 0`` at the top (image convention); pass the same ``extent`` to
:func:`radarkit.train.maepose.evaluate` to get metres back. The default +-1.1 m square holds the
simulator's people (arms raised included) relative to their hips, with the radar at about 1 m
height.

Target frames: the clip's ``T`` frames are split into ``F`` equal segments (the heatmap decoder
merges the temporal tokens the same way) and segment ``i``'s target is its middle frame
``i T / F + T / (2F)`` (frames 2, 6, 10, 14, 18 of a 20-frame clip with 5 targets).

References
----------
.. [1] "MAEPose: Self-Supervised Spatiotemporal Learning for Human Pose Estimation on mmWave Video"
   (``shared/papers/maepose.txt``), sections 3.1-3.2, 4.1 and 4.4.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from radarkit.errors import StoreError
from radarkit.skeleton import get_skeleton

__all__ = [
    "CLIP_KINDS",
    "ClipSpec",
    "SequenceData",
    "RadarClips",
    "prepare_maps",
    "clip_dynamic_range",
    "normalise_clip",
    "joint_targets",
    "target_frame_indices",
    "clip_starts",
    "read_cube_maps",
    "compute_maps",
    "load_sequence",
    "load_dataset",
]

#: Clip kinds: cube kinds read per channel.
CLIP_KINDS: dict[str, tuple[str, ...]] = {"rd": ("rd-video",), "ra": ("ra-video",),
                                         "dual": ("rd-video", "ra-video")}
_NORMALISATIONS = ("zscore", "minmax", "none")
_CUBE_FILE_KIND = {"rd-video": "rd", "ra-video": "ra"}  # sub-folder name of a cube root per kind


@dataclass(frozen=True)
class ClipSpec:
    """How sequences become clips and targets.

    Parameters
    ----------
    kind : {"rd", "ra", "dual"}
        Input maps: Range-Doppler, Range-Azimuth, or both as two channels.
    num_frames : int
        Frames per clip ``T`` (20 in [1]_).
    stride : int
        Frames between the starts of consecutive clips of a sequence.
    n_target_frames : int
        Target frames ``F`` per clip (5 in [1]_); must divide ``num_frames``.
    range_bins : (int, int) or None
        Keep range bins ``start:stop`` of the cube (the region people occupy) before pooling.
    size : (int, int) or None
        Map size ``(H, W)`` after block-averaging the power by integer factors (e.g. 64 Doppler x
        128 range bins -> (32, 32)); None keeps the cube's size.
    normalise : {"zscore", "minmax", "none"}
        Per-clip, per-channel normalisation.
    dynamic_range_db : float or None
        Display dynamic range in dB below each clip channel's peak (cells below are raised to
        ``peak - dynamic_range_db``); None: no peak-relative floor.
    noise_margin_db : float or None
        Margin in dB above each clip channel's noise floor, estimated by its median cell (most
        cells of an RD/RA map hold only thermal noise); cells below are raised to it. None: no
        noise-relative floor. With both, the higher floor wins (:func:`clip_dynamic_range`).
    plane : {"xz", "yz"}
        Projection plane of the 3-D joints (module docstring).
    root_relative : bool
        Horizontal coordinate relative to the frame's mid-hip.
    extent : (float, float, float, float)
        ``(h_min, h_max, z_top, z_bottom)`` metres of the plane rectangle mapped to [0, 1]^2.
    skeleton : str
        Joint set of the labels (``"coco13"``, MAEPose's 13 joints).
    radar : str
        Radar sub-folder of a simulated sequence (``"hori"`` or ``"vert"``).

    Raises
    ------
    ValueError
        Unknown kind, normalisation or plane; sizes that do not fit.
    """

    kind: str = "rd"
    num_frames: int = 20
    stride: int = 5
    n_target_frames: int = 5
    range_bins: tuple[int, int] | None = None
    size: tuple[int, int] | None = None
    normalise: str = "zscore"
    dynamic_range_db: float | None = None
    noise_margin_db: float | None = None
    plane: str = "xz"
    root_relative: bool = True
    extent: tuple[float, float, float, float] = (-1.1, 1.1, 1.1, -1.1)
    skeleton: str = "coco13"
    radar: str = "hori"

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if self.kind not in CLIP_KINDS:
            raise ValueError(f"unknown clip kind {self.kind!r} (choose from {', '.join(CLIP_KINDS)})")
        if self.normalise not in _NORMALISATIONS:
            raise ValueError(f"unknown normalisation {self.normalise!r} "
                             f"(choose from {', '.join(_NORMALISATIONS)})")
        if self.plane not in ("xz", "yz"):
            raise ValueError(f"plane must be 'xz' or 'yz', got {self.plane!r}")
        if self.num_frames < 1 or self.stride < 1:
            raise ValueError("num_frames and stride must be positive")
        if self.n_target_frames < 1 or self.num_frames % self.n_target_frames:
            raise ValueError(f"{self.n_target_frames} target frames do not divide a "
                             f"{self.num_frames}-frame clip")
        for name in ("range_bins", "size"):
            v = getattr(self, name)
            if v is not None:
                set_(self, name, (int(v[0]), int(v[1])))
        if self.range_bins is not None and not 0 <= self.range_bins[0] < self.range_bins[1]:
            raise ValueError(f"range_bins must be START:STOP with 0 <= START < STOP, got {self.range_bins}")
        for name in ("dynamic_range_db", "noise_margin_db"):
            v = getattr(self, name)
            if v is not None:
                set_(self, name, float(v))
        if self.dynamic_range_db is not None and not self.dynamic_range_db > 0:
            raise ValueError(f"dynamic_range_db must be > 0, got {self.dynamic_range_db}")
        if self.noise_margin_db is not None and not np.isfinite(self.noise_margin_db):
            raise ValueError(f"noise_margin_db must be finite, got {self.noise_margin_db}")
        set_(self, "extent", tuple(float(v) for v in self.extent))
        h0, h1, z0, z1 = self.extent
        if h0 == h1 or z0 == z1:
            raise ValueError(f"extent {self.extent} spans no area")

    @property
    def in_chans(self) -> int:
        """Channels of a clip (1, or 2 for ``dual``)."""
        return len(CLIP_KINDS[self.kind])

    def normalised(self, clip: np.ndarray) -> np.ndarray:
        """A raw dB clip ``(C, T, H, W)`` floored (:func:`clip_dynamic_range`) and normalised.

        Parameters
        ----------
        clip : ndarray, shape (channel, frame, H, W)
            dB values of one clip (:attr:`SequenceData.maps` sliced to ``num_frames`` frames).

        Returns
        -------
        ndarray of float32, same shape
            The network input.
        """
        x = clip_dynamic_range(clip, self.dynamic_range_db, self.noise_margin_db)
        return normalise_clip(x, self.normalise)

    def to_dict(self) -> dict:
        """Plain dictionary (JSON-safe once tuples become lists), e.g. for a checkpoint header."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, data: dict) -> ClipSpec:
        """Inverse of :meth:`to_dict` (lists accepted for the tuple fields)."""
        kw = dict(data)
        for key in ("range_bins", "size", "extent"):
            if kw.get(key) is not None:
                kw[key] = tuple(kw[key])
        return cls(**kw)


# ---------------------------------------------------------------------------------------------------
# Array functions
# ---------------------------------------------------------------------------------------------------

def prepare_maps(maps_db: np.ndarray, range_bins: tuple[int, int] | None = None,
                 size: tuple[int, int] | None = None) -> np.ndarray:
    """Crop a dB video to a range-bin interval and block-average its power down to ``size``.

    Parameters
    ----------
    maps_db : ndarray, shape (frame, height, range)
        dB maps (``rd-video``: height = Doppler bins; ``ra-video``: azimuth bins).
    range_bins : (int, int), optional
        Keep range bins ``start:stop``.
    size : (int, int), optional
        Output ``(height, range)``; each must divide the (cropped) input size. Each output cell is
        ``10 log10`` of the mean power ``10^(dB/10)`` of the bins it covers.

    Returns
    -------
    ndarray of float32, shape (frame, H, W)
        dB maps.

    Raises
    ------
    ValueError
        Not 3-D, a range interval outside the map, or a size that does not divide the map.
    """
    x = np.asarray(maps_db, dtype=np.float32)
    if x.ndim != 3:
        raise ValueError(f"maps must be (frame, height, range), got shape {x.shape}")
    if range_bins is not None:
        start, stop = range_bins
        if not 0 <= start < stop <= x.shape[2]:
            raise ValueError(f"range_bins {range_bins} outside the {x.shape[2]} range bins")
        x = x[:, :, start:stop]
    if size is None or tuple(size) == x.shape[1:]:
        return np.ascontiguousarray(x)
    h, w = size
    fh, fw = x.shape[1] // h if h else 0, x.shape[2] // w if w else 0
    if h < 1 or w < 1 or fh * h != x.shape[1] or fw * w != x.shape[2]:
        raise ValueError(f"map size {x.shape[1:]} is not an integer multiple of the clip size {tuple(size)}")
    peak = float(np.max(x)) if x.size else 0.0  # scale before exponentiating: no overflow
    power = np.power(10.0, (x.astype(np.float64) - peak) / 10.0)
    pooled = power.reshape(x.shape[0], h, fh, w, fw).mean(axis=(2, 4))
    return (10.0 * np.log10(np.maximum(pooled, 1e-30)) + peak).astype(np.float32)


def clip_dynamic_range(clip: np.ndarray, dynamic_range_db: float | None = None,
                       noise_margin_db: float | None = None, axis: tuple[int, ...] = (1, 2, 3)) -> np.ndarray:
    """Raise every cell of a dB clip below a display floor to that floor (per channel).

    A radar map is mostly thermal noise: its cells scatter by about a dB around the noise floor, a
    pattern no model can predict from the neighbouring patches. Displays therefore show a fixed
    dynamic range -- the peak minus e.g. 40 dB -- or start a little above the noise floor. Applied
    before :func:`normalise_clip`, either floor turns the noise into one constant value and leaves the
    target's returns (body and limbs, micro-Doppler) as the only structure.

    Parameters
    ----------
    clip : ndarray, shape (channel, frame, H, W)
        dB values.
    dynamic_range_db : float, optional
        Floor at ``max - dynamic_range_db`` over ``axis`` (dB, > 0).
    noise_margin_db : float, optional
        Floor at ``median + noise_margin_db`` over ``axis``: the median cell estimates the noise
        floor when the target covers less than half of the cells (dB).
    axis : tuple of int
        Axes the peak and median are taken over (default: everything but the channel).

    Returns
    -------
    ndarray of float32, same shape
        ``max(clip, floor)``; the clip unchanged (as float32) when both floors are None. With both,
        the higher floor applies.

    Raises
    ------
    ValueError
        A dynamic range that is not positive.
    """
    x = np.asarray(clip, dtype=np.float32)
    if dynamic_range_db is None and noise_margin_db is None:
        return x
    floor = np.full([1 if a in axis else n for a, n in enumerate(x.shape)], -np.inf, np.float32)
    if dynamic_range_db is not None:
        if not dynamic_range_db > 0:
            raise ValueError(f"dynamic_range_db must be > 0, got {dynamic_range_db}")
        floor = np.maximum(floor, x.max(axis=axis, keepdims=True) - np.float32(dynamic_range_db))
    if noise_margin_db is not None:
        floor = np.maximum(floor, np.median(x, axis=axis, keepdims=True) + np.float32(noise_margin_db))
    return np.maximum(x, floor).astype(np.float32)


def normalise_clip(clip: np.ndarray, method: str = "zscore", axis: tuple[int, ...] = (1, 2, 3)) -> np.ndarray:
    """Per-clip, per-channel normalisation of a dB clip.

    Parameters
    ----------
    clip : ndarray, shape (channel, frame, H, W)
        dB values.
    method : {"zscore", "minmax", "none"}
        ``zscore``: ``(x - mean) / std`` over ``axis``; ``minmax``: ``(x - min) / (max - min)``; a
        constant channel becomes all zeros.
    axis : tuple of int
        Axes reduced (default: everything but the channel).

    Returns
    -------
    ndarray of float32, same shape

    Raises
    ------
    ValueError
        Unknown method.
    """
    x = np.asarray(clip, dtype=np.float32)
    if method == "none":
        return x
    if method == "zscore":  # float64 statistics: a constant channel gives exactly 0 (no rounding noise)
        x64 = x.astype(np.float64)
        mean = x64.mean(axis=axis, keepdims=True)
        std = x64.std(axis=axis, keepdims=True)
        return ((x64 - mean) / np.where(std > 1e-9 * np.maximum(1.0, np.abs(mean)), std, np.inf)
                ).astype(np.float32)
    if method == "minmax":
        lo, hi = x.min(axis=axis, keepdims=True), x.max(axis=axis, keepdims=True)
        return ((x - lo) / np.where(hi > lo, hi - lo, 1.0)).astype(np.float32)
    raise ValueError(f"unknown normalisation {method!r} (choose from {', '.join(_NORMALISATIONS)})")


def joint_targets(joints3d: np.ndarray, plane: str = "xz", root_relative: bool = True,
                  extent: tuple[float, float, float, float] = (-1.1, 1.1, 1.1, -1.1),
                  hips: tuple[int, int] = (7, 8)) -> tuple[np.ndarray, np.ndarray]:
    """Project 3-D joints on a vertical plane and normalise them to [0, 1] (module docstring).

    Parameters
    ----------
    joints3d : ndarray, shape (..., joint, 3)
        Joints in metres in the radar frame (x right, y boresight, z up); NaN for a missing label.
    plane : {"xz", "yz"}
        Frontal (x, z) or side (y, z) plane.
    root_relative : bool
        Subtract the mid-hip's horizontal coordinate of the same frame.
    extent : (h_min, h_max, z_top, z_bottom)
        Metres mapped to normalised ``x = 0 .. 1`` and ``y = 0 .. 1``.
    hips : (int, int)
        Indices of the left and right hip (COCO13: 7, 8).

    Returns
    -------
    joints : ndarray of float32, shape (..., joint, 2)
        ``(x, y)`` normalised, clipped to [0, 1].
    weight : ndarray of float32, shape (..., joint)
        1 for a finite joint inside the extent, else 0.

    Raises
    ------
    ValueError
        A trailing axis other than 3, or an unknown plane.
    """
    j = np.asarray(joints3d, dtype=np.float64)
    if j.ndim < 2 or j.shape[-1] != 3:
        raise ValueError(f"joints must be (..., joint, 3), got shape {j.shape}")
    if plane not in ("xz", "yz"):
        raise ValueError(f"plane must be 'xz' or 'yz', got {plane!r}")
    horiz = j[..., 0 if plane == "xz" else 1]
    if root_relative:
        horiz = horiz - 0.5 * (horiz[..., hips[0]] + horiz[..., hips[1]])[..., None]
    h0, h1, z0, z1 = extent
    u = (horiz - h0) / (h1 - h0)
    v = (j[..., 2] - z0) / (z1 - z0)
    uv = np.stack([u, v], axis=-1)
    ok = np.isfinite(uv).all(axis=-1) & (uv >= 0).all(axis=-1) & (uv <= 1).all(axis=-1)
    uv = np.clip(np.nan_to_num(uv, nan=0.5), 0.0, 1.0)
    return uv.astype(np.float32), ok.astype(np.float32)


def target_frame_indices(num_frames: int = 20, n_target_frames: int = 5) -> np.ndarray:
    """Frames of a clip whose poses are the targets: the middle frame of each of ``F`` equal segments.

    Parameters
    ----------
    num_frames : int
        Clip length ``T``.
    n_target_frames : int
        ``F``; must divide ``T``.

    Returns
    -------
    ndarray of int64, shape (F,)
        ``i T / F + T / (2 F)`` (floor), e.g. 2, 6, 10, 14, 18 for ``T = 20, F = 5``.

    Raises
    ------
    ValueError
        ``F`` does not divide ``T``.
    """
    if n_target_frames < 1 or num_frames % n_target_frames:
        raise ValueError(f"{n_target_frames} target frames do not divide {num_frames} frames")
    seg = num_frames // n_target_frames
    return np.arange(n_target_frames, dtype=np.int64) * seg + seg // 2


def clip_starts(n_frames: int, num_frames: int = 20, stride: int = 5) -> np.ndarray:
    """First frames of the clips of a sequence (every ``stride`` frames while a whole clip fits).

    Returns
    -------
    ndarray of int64
        ``0, stride, ...`` up to ``n_frames - num_frames``; empty when the sequence is too short.
    """
    if n_frames < num_frames:
        return np.zeros(0, dtype=np.int64)
    return np.arange(0, n_frames - num_frames + 1, stride, dtype=np.int64)


# ---------------------------------------------------------------------------------------------------
# Sequences: cube files or recordings -> maps
# ---------------------------------------------------------------------------------------------------

@dataclass
class SequenceData:
    """One radar sequence, prepared for clipping.

    Attributes
    ----------
    name : str
        Sequence name (e.g. ``"single_3"``).
    maps : ndarray of float32, shape (channel, frame, H, W)
        Prepared dB maps (not yet normalised).
    subject : int
        Person id (-1 when unknown).
    joints : ndarray of float32, shape (frame, joint, 2), or None
        Normalised plane joints (:func:`joint_targets`); None for an unlabelled recording.
    weight : ndarray of float32, shape (frame, joint), or None
        Joint weights.
    """

    name: str
    maps: np.ndarray
    subject: int = -1
    joints: np.ndarray | None = None
    weight: np.ndarray | None = None

    @property
    def n_frames(self) -> int:
        """Frames of the sequence."""
        return int(self.maps.shape[1])


def read_cube_maps(path: str | os.PathLike, cube_kind: str) -> np.ndarray:
    """The dB video of a radarkit cube file, checked to be of ``cube_kind``.

    Parameters
    ----------
    path : str or os.PathLike
        HDF5 cube (``radarkit cube --kind rd-video|ra-video``).
    cube_kind : {"rd-video", "ra-video"}
        Expected kind.

    Returns
    -------
    ndarray of float32, shape (frame, height, range)

    Raises
    ------
    StoreError
        Missing or unreadable file, or a cube of another kind.
    """
    from radarkit.io.store import open_cube

    cube = open_cube(path)
    try:
        if cube.kind != cube_kind:
            raise StoreError(f"is a {cube.kind!r} cube, expected {cube_kind!r} "
                             f"(radarkit cube --kind {cube_kind})", source=path)
        return np.asarray(cube.read(), dtype=np.float32)
    finally:
        cube.close()


def compute_maps(radar_folder: str | os.PathLike, cube_kind: str, chunk: int = 16) -> np.ndarray:
    """Compute a dB video on the fly from a radar folder's recording (no cube file written).

    Parameters
    ----------
    radar_folder : str or os.PathLike
        Folder with the DCA1000 recording and its configuration (:func:`radarkit.dsp.sequences.radar_files`).
    cube_kind : {"rd-video", "ra-video"}
        Map kind (default processing of :class:`radarkit.dsp.cubes.CubeParams`).
    chunk : int
        Frames processed at a time.

    Returns
    -------
    ndarray of float32, shape (frame, height, range)

    Raises
    ------
    RecordingError, ConfigError
        Bad folder, recording or configuration.
    """
    from radarkit.config.loaders import load_config
    from radarkit.dsp.cubes import CubeParams, CubeTransform
    from radarkit.dsp.sequences import radar_files
    from radarkit.errors import ConfigError
    from radarkit.io.recording import Recording

    parts, cfg_path = radar_files(radar_folder)
    if cfg_path is None:
        raise ConfigError("no configuration file in the radar folder", source=radar_folder)
    with Recording(parts, load_config(cfg_path)) as rec:
        transform = CubeTransform(rec.config, CubeParams(kind=cube_kind))
        out = [transform(rec.words(s, min(s + chunk, rec.n_frames)))
               for s in range(0, rec.n_frames, chunk)]
    return np.concatenate(out, axis=0).astype(np.float32)


def _sequence_folders(data: Path) -> list[Path]:
    from radarkit.dsp.sequences import find_sequences

    return find_sequences(data)[0]


def load_sequence(sequence_dir: str | os.PathLike, spec: ClipSpec, cubes: str | os.PathLike | None = None,
                  labels: bool = True) -> SequenceData:
    """Prepare one sequence: its maps (cube files or on the fly) and, if annotated, its joint targets.

    Parameters
    ----------
    sequence_dir : str or os.PathLike
        Sequence folder (``<radar>/`` recording sub-folders, ``annot/radarkit.json`` when labelled).
    spec : ClipSpec
        Clip specification.
    cubes : str or os.PathLike, optional
        Cube root: for ``kind="rd"`` the cube is ``CUBES/<sequence>/<radar>.h5`` (``radarkit cube
        DIR --kind rd-video --out CUBES``), likewise for ``"ra"``; for ``"dual"`` the RD and RA cubes
        are ``CUBES/rd/<sequence>/<radar>.h5`` and ``CUBES/ra/<sequence>/<radar>.h5``. None computes
        the maps from the recording.
    labels : bool
        Load the annotation (a missing one is an error); False gives an unlabelled sequence.

    Returns
    -------
    SequenceData

    Raises
    ------
    StoreError
        Missing cube or annotation, a cube of the wrong kind, or frame counts that disagree.
    RecordingError, ConfigError
        On-the-fly computation failed.
    """
    seq = Path(sequence_dir)
    channels = []
    for cube_kind in CLIP_KINDS[spec.kind]:
        if cubes is None:
            maps = compute_maps(seq / spec.radar, cube_kind)
        else:
            root = Path(cubes) / _CUBE_FILE_KIND[cube_kind] if spec.kind == "dual" else Path(cubes)
            maps = read_cube_maps(root / seq.name / f"{spec.radar}.h5", cube_kind)
        channels.append(prepare_maps(maps, spec.range_bins, spec.size))
    n = min(c.shape[0] for c in channels)
    if any(c.shape[1:] != channels[0].shape[1:] for c in channels):
        raise StoreError(f"RD and RA maps differ in size ({[c.shape[1:] for c in channels]}); set a "
                         "common ClipSpec.size", source=seq)
    data = SequenceData(seq.name, np.stack([c[:n] for c in channels]))
    if not labels:
        return data
    from radarkit.sim.dataset import load_annotations

    ann = load_annotations(seq)
    skel = get_skeleton(spec.skeleton)
    joints3d = ann["joints3d"].get(skel.name)
    if joints3d is None:
        raise StoreError(f"annotation has no {skel.name!r} joints", source=seq / "annot" / "radarkit.json")
    if len(joints3d) < n:
        raise StoreError(f"annotation has {len(joints3d)} frames, the radar maps {n}", source=seq)
    hips = (skel.index("L_Hip"), skel.index("R_Hip"))
    data.joints, data.weight = joint_targets(joints3d[:n], spec.plane, spec.root_relative, spec.extent, hips)
    sid = np.unique(ann["subject_id"])
    data.subject = int(sid[0]) if len(sid) == 1 else -1
    return data


def load_dataset(data: str | os.PathLike, spec: ClipSpec, cubes: str | os.PathLike | None = None,
                 labels: bool = True, subjects: Sequence[int] | None = None) -> list[SequenceData]:
    """Prepare every sequence of a dataset folder (or a single sequence folder).

    Parameters
    ----------
    data : str or os.PathLike
        Dataset folder of sequences (``radarkit simulate``'s layout) or one sequence folder.
    spec, cubes, labels
        As :func:`load_sequence`. Unlabelled loading still reads a sequence's subject id when its
        annotation exists (for person-wise splits).
    subjects : sequence of int, optional
        Keep only the sequences of these persons.

    Returns
    -------
    list of SequenceData
        In natural sequence order.

    Raises
    ------
    RecordingError
        No sequence folder under ``data``.
    StoreError, ConfigError
        As :func:`load_sequence`.
    """
    from radarkit.sim.dataset import load_annotations

    out = []
    for seq in _sequence_folders(Path(data)):
        sid = -1
        if (seq / "annot" / "radarkit.json").is_file():
            ids = np.unique(load_annotations(seq)["subject_id"])
            sid = int(ids[0]) if len(ids) == 1 else -1
        if subjects is not None and sid not in set(subjects):
            continue
        item = load_sequence(seq, spec, cubes, labels)
        item.subject = sid
        out.append(item)
    return out


# ---------------------------------------------------------------------------------------------------
# Dataset
# ---------------------------------------------------------------------------------------------------

class RadarClips(Dataset):
    """``torch.utils.data.Dataset`` of normalised clips (and targets) over prepared sequences.

    Parameters
    ----------
    sequences : sequence of SequenceData
        Prepared sequences (:func:`load_dataset`); all with the same map size and channels.
    spec : ClipSpec
        Clip length, stride, target frames and normalisation.
    labels : bool
        Serve ``(clip, joints, weight)`` (every sequence must be labelled) instead of the clip alone.
    range_shift : int
        Training augmentation: roll each served clip by a random whole number of range cells in
        ``[-range_shift, range_shift]`` (drawn from torch's global generator, so
        :func:`radarkit.train.loop.seed_everything` makes it reproducible): the same motion seen
        from another distance. The joints of plane ``"xz"`` do not depend on range, so they are
        unchanged; refused for labelled ``"yz"`` clips. 0 (default) serves clips unchanged.

    Attributes
    ----------
    index : ndarray of int64, shape (n_clips, 2)
        ``(sequence number, first frame)`` of each clip.
    subjects : ndarray of int64, shape (n_clips,)
        Person id of each clip (for :func:`radarkit.data.folds.fold_masks`).

    Raises
    ------
    ValueError
        Labels asked for an unlabelled sequence, or sequences of different map shapes.

    Notes
    -----
    ``dataset[i]``: clip ``(C, T, H, W)`` float32 (``C`` = ``spec.in_chans``), plus with labels
    ``joints`` ``(F, J, 2)`` and ``weight`` ``(F, J)`` float32 at :func:`target_frame_indices`.
    """

    def __init__(self, sequences: Sequence[SequenceData], spec: ClipSpec, labels: bool = True,
                 range_shift: int = 0) -> None:
        self.sequences = list(sequences)
        self.spec = spec
        self.labels = labels
        if range_shift < 0:
            raise ValueError(f"range_shift must be >= 0, got {range_shift}")
        if range_shift and labels and spec.plane == "yz":
            raise ValueError("a range shift moves the person in range: it would falsify plane 'yz' targets")
        self.range_shift = int(range_shift)
        shapes = {(s.maps.shape[0], *s.maps.shape[2:]) for s in self.sequences}
        if len(shapes) > 1:
            raise ValueError(f"sequences have different (channel, H, W) shapes: {sorted(shapes)}")
        if labels:
            bad = [s.name for s in self.sequences if s.joints is None]
            if bad:
                raise ValueError(f"labels requested but sequences {', '.join(bad)} are unlabelled")
        rows = [(k, int(t)) for k, s in enumerate(self.sequences)
                for t in clip_starts(s.n_frames, spec.num_frames, spec.stride)]
        self.index = np.array(rows, dtype=np.int64).reshape(-1, 2)
        self.subjects = np.array([self.sequences[k].subject for k, _ in rows], dtype=np.int64)
        self.targets = target_frame_indices(spec.num_frames, spec.n_target_frames)

    @property
    def map_size(self) -> tuple[int, int]:
        """``(H, W)`` of the clips (``(0, 0)`` without sequences)."""
        return tuple(self.sequences[0].maps.shape[2:]) if self.sequences else (0, 0)  # type: ignore[return-value]

    def __len__(self) -> int:
        return len(self.index)

    def clip(self, i: int) -> np.ndarray:
        """Normalised clip ``i`` as numpy ``(C, T, H, W)`` float32."""
        k, t = self.index[i]
        raw = self.sequences[k].maps[:, t:t + self.spec.num_frames]
        return self.spec.normalised(raw)

    def __getitem__(self, i: int):
        clip = self.clip(i)
        if self.range_shift:
            shift = int(torch.randint(-self.range_shift, self.range_shift + 1, ()).item())
            clip = np.roll(clip, shift, axis=-1)
        clip = torch.from_numpy(np.ascontiguousarray(clip))
        if not self.labels:
            return clip
        k, t = self.index[i]
        seq = self.sequences[k]
        frames = t + self.targets
        return clip, torch.from_numpy(seq.joints[frames]), torch.from_numpy(seq.weight[frames])

    def subset(self, subjects: Sequence[int], labels: bool | None = None) -> RadarClips:
        """The clips of the given persons' sequences (a new dataset sharing the arrays).

        Parameters
        ----------
        subjects : sequence of int
            Person ids kept.
        labels : bool, optional
            Override :attr:`labels` (e.g. False for pre-training on labelled recordings).

        Returns
        -------
        RadarClips
        """
        keep = set(int(s) for s in subjects)
        return RadarClips([s for s in self.sequences if s.subject in keep], self.spec,
                          self.labels if labels is None else labels, self.range_shift)

    def with_spec(self, **changes) -> RadarClips:
        """The same sequences with clip-level fields of the spec changed (stride, normalisation, floors).

        Raises
        ------
        ValueError
            A change of a field that alters the prepared maps or joints (kind, range_bins, size,
            plane, root_relative, extent, skeleton, radar).
        """
        fixed = {"kind", "range_bins", "size", "plane", "root_relative", "extent", "skeleton", "radar"}
        if fixed & changes.keys():
            raise ValueError(f"{sorted(fixed & changes.keys())} change the prepared sequences; reload them")
        return RadarClips(self.sequences, replace(self.spec, **changes), self.labels, self.range_shift)

    def with_range_shift(self, range_shift: int) -> RadarClips:
        """The same clips with another training range-shift augmentation (0 = none)."""
        return RadarClips(self.sequences, self.spec, self.labels, range_shift)
