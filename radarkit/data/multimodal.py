"""Simulated multi-modal pose data for AWC: radar point clouds, camera keypoints, LiDAR-like clouds.

Built from a dataset of ``radarkit simulate`` (layout in :mod:`radarkit.sim.dataset`), one sample
per radar frame, with the modality names of :class:`radarkit.models.awc.AWCPoseModel`:

* ``"mmwave"``: the CFAR point cloud of the horizontal radar's recording, ``(N, 5)`` float32 with
  the columns x, y, z (m), radial velocity (m/s), SNR (dB) -- MM-Fi's (x, y, z, Doppler,
  intensity) layout -- from :func:`radarkit.data.mmjoints.load_sim_sequences` (``N`` varies,
  typically 10-30 points, sometimes 0);
* ``"rgb"``: the camera's 2-D keypoints of the annotated skeleton, ``(J, 2)`` float32 pixels of
  the simulator's 256 x 256 image, as a 2-D keypoint detector would give them: Gaussian pixel
  noise, occasional missed joints and whole missed frames; a missed keypoint is reported at
  pixel ``(0, 0)`` (the OpenPose convention for an undetected joint);
* ``"lidar"``: a depth/LiDAR-like body-surface point cloud, ``(N, 3)`` float32 in metres in the
  radar frame: points sampled on capsules around the skeleton's bones (cylinders for limbs and
  torso, a sphere for the head), kept only where the surface faces the sensor (self-occlusion),
  with range noise along the line of sight, a small isotropic jitter, per-point drop-outs and
  occasional frames with most of the cloud missing (a depth camera losing the person);
* target: the 3-D joints of the ``hupr14`` skeleton (14 joints, HuPR order:
  :data:`radarkit.skeleton.HUPR14`), ``(J, 3)`` float32 metres in the radar frame (x right,
  y boresight, z up). ``coco13`` (13 joints) is the other skeleton the simulator stores; MM-Fi's
  17-joint COCO ground truth comes from :mod:`radarkit.data.mmfi` instead.

Any subset of the three modalities can be loaded; :class:`MultiModalDataset` and
:func:`collate_multimodal` give batches ``(inputs, target)`` ready for ``AWCPoseModel`` and
:func:`radarkit.train.awc.train_awc` (point clouds as ``(points, mask)`` from
:func:`radarkit.models.awc.pad_point_sets`).

References
----------
.. [1] M. Qi et al., "Towards Balanced Multi-Modal Learning in 3D Human Pose Estimation"
   (``awc-balanced-multimodal.txt``), Sec. 4.1 (MM-Fi modalities: RGB keypoints, LiDAR and mmWave
   point clouds).
.. [2] J. Yang et al., "MM-Fi: Multi-Modal Non-Intrusive 4D Human Dataset", NeurIPS 2023
   (modalities and their array layouts).
.. [3] Z. Cao et al., "OpenPose", IEEE TPAMI 2019 (undetected keypoints reported as (0, 0)).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from radarkit.errors import StoreError
from radarkit.skeleton import get_skeleton

__all__ = [
    "SIM_MODALITIES",
    "MultiModalParams",
    "MultiModalSet",
    "noisy_keypoints",
    "body_surface_cloud",
    "load_multimodal",
    "MultiModalDataset",
    "collate_multimodal",
    "parse_modalities",
]

#: Modalities the simulated set provides (names of :data:`radarkit.models.awc.MODALITIES`).
SIM_MODALITIES: tuple[str, ...] = ("mmwave", "rgb", "lidar")

# capsule radii (m): torso bones (between hips, shoulders, neck) and the head sphere
_TORSO_RADIUS = 0.14
_HEAD_RADIUS = 0.10


@dataclass(frozen=True)
class MultiModalParams:
    """Noise and drop-out settings of the simulated camera and LiDAR modalities.

    Parameters
    ----------
    keypoint_noise_px : float
        Standard deviation of the Gaussian error of each 2-D keypoint coordinate (pixels of the
        256 x 256 image; a 2-D detector on a person ~100 px tall errs by a few pixels).
    keypoint_dropout : float
        Probability that one joint is missed (reported at (0, 0)).
    keypoint_frame_dropout : float
        Probability that the detector misses the whole frame (every joint at (0, 0)).
    lidar_points : int
        Candidate surface points sampled per frame before visibility and drop-out.
    lidar_range_noise_m : float
        Standard deviation of the range error along the line of sight (m).
    lidar_jitter_m : float
        Standard deviation of an isotropic position error (m).
    lidar_dropout : float
        Probability that a visible point is missing (dark clothing, edge returns).
    lidar_frame_dropout : float
        Probability of a frame in which only ``lidar_frame_keep`` of the points survive.
    lidar_frame_keep : float
        Fraction of points kept in such a frame.
    limb_radius_m : float
        Capsule radius of arm and leg bones (m); the torso uses 0.14 m and the head a 0.10 m sphere.
    sensor_position_m : tuple of float
        LiDAR position in the radar frame (m); default: co-located with the radar.
    max_mmwave_points, max_lidar_points : int
        Points kept per cloud when batching (evenly thinned; :func:`pad_point_sets`).
    seed : int
        Seed of the noise (the same seed gives the same data).

    References
    ----------
    MM-Fi (Yang et al. 2023) Sec. 3 (sensors); OpenPose (missed keypoints at (0, 0)).
    """

    keypoint_noise_px: float = 3.0
    keypoint_dropout: float = 0.05
    keypoint_frame_dropout: float = 0.03
    lidar_points: int = 384
    lidar_range_noise_m: float = 0.03
    lidar_jitter_m: float = 0.01
    lidar_dropout: float = 0.3
    lidar_frame_dropout: float = 0.03
    lidar_frame_keep: float = 0.1
    limb_radius_m: float = 0.06
    sensor_position_m: tuple[float, float, float] = (0.0, 0.0, 0.0)
    max_mmwave_points: int = 64
    max_lidar_points: int = 256
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("keypoint_dropout", "keypoint_frame_dropout", "lidar_dropout", "lidar_frame_dropout",
                     "lidar_frame_keep"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {getattr(self, name)}")
        for name in ("keypoint_noise_px", "lidar_range_noise_m", "lidar_jitter_m", "limb_radius_m"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("lidar_points", "max_mmwave_points", "max_lidar_points"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


@dataclass(frozen=True)
class MultiModalSet:
    """Frames of one or more simulated sequences with the requested modalities.

    Parameters
    ----------
    modalities : tuple of str
        Modalities present (a subset of :data:`SIM_MODALITIES`, in the requested order).
    poses : ndarray, shape (F, J, 3), float32
        Ground-truth joints (m, radar frame).
    skeleton : str
        Joint naming of ``poses`` and ``keypoints`` (``hupr14`` or ``coco13``).
    subject : ndarray, shape (F,), int64
        Subject id of each frame.
    sequence : ndarray, shape (F,), str
        Sequence name of each frame.
    keypoints : ndarray, shape (F, J, 2), float32, optional
        Noisy camera keypoints (pixels), when ``"rgb"`` is loaded.
    mmwave : tuple of ndarray (N_f, 5) float32, optional
        Radar point clouds, when ``"mmwave"`` is loaded.
    lidar : tuple of ndarray (N_f, 3) float32, optional
        Body-surface point clouds, when ``"lidar"`` is loaded.
    image_size : (int, int)
        Camera image ``(width, height)`` in pixels.
    params : MultiModalParams
        Settings the camera and LiDAR modalities were simulated with (and batching limits).
    """

    modalities: tuple[str, ...]
    poses: np.ndarray
    skeleton: str
    subject: np.ndarray
    sequence: np.ndarray
    keypoints: np.ndarray | None = None
    mmwave: tuple[np.ndarray, ...] | None = None
    lidar: tuple[np.ndarray, ...] | None = None
    image_size: tuple[int, int] = (256, 256)
    params: MultiModalParams = field(default_factory=MultiModalParams)

    def __len__(self) -> int:
        return int(self.poses.shape[0])

    def subset(self, subjects: Sequence[int]) -> MultiModalSet:
        """The frames of the given subjects.

        Parameters
        ----------
        subjects : sequence of int
            Subject ids kept.

        Returns
        -------
        MultiModalSet
        """
        keep = np.flatnonzero(np.isin(self.subject, np.asarray(list(subjects), dtype=np.int64)))
        return MultiModalSet(
            self.modalities, self.poses[keep], self.skeleton, self.subject[keep], self.sequence[keep],
            None if self.keypoints is None else self.keypoints[keep],
            None if self.mmwave is None else tuple(self.mmwave[i] for i in keep),
            None if self.lidar is None else tuple(self.lidar[i] for i in keep),
            self.image_size, self.params)


def parse_modalities(text: str | Sequence[str]) -> tuple[str, ...]:
    """Modality names from ``"mmwave,rgb,lidar"`` (or a sequence), checked and de-duplicated.

    Parameters
    ----------
    text : str or sequence of str
        Comma-separated names or a sequence of names.

    Returns
    -------
    tuple of str
        The names in the given order.

    Raises
    ------
    ValueError
        Empty, repeated or unknown names (known: :data:`SIM_MODALITIES`).
    """
    names = [t.strip() for t in (text.split(",") if isinstance(text, str) else text) if t.strip()]
    unknown = [n for n in names if n not in SIM_MODALITIES]
    if not names or unknown or len(set(names)) != len(names):
        raise ValueError(f"modalities must be distinct names from {SIM_MODALITIES}, got {text!r}")
    return tuple(names)


def noisy_keypoints(keypoints: np.ndarray, rng: np.random.Generator, noise_px: float = 3.0,
                    dropout: float = 0.05, frame_dropout: float = 0.03) -> np.ndarray:
    """2-D keypoints as a detector would report them: pixel noise, missed joints and frames.

    Parameters
    ----------
    keypoints : ndarray, shape (F, J, 2)
        True projected keypoints (pixels).
    rng : numpy.random.Generator
        Noise source.
    noise_px : float
        Standard deviation of each coordinate's error (pixels).
    dropout : float
        Per-joint miss probability.
    frame_dropout : float
        Per-frame probability that every joint is missed.

    Returns
    -------
    ndarray, shape (F, J, 2), float32
        Noisy keypoints; missed ones at ``(0, 0)``.

    References
    ----------
    OpenPose (Cao et al. 2019): undetected keypoints are reported as (0, 0) with zero confidence.
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    out = kp + rng.normal(0.0, noise_px, kp.shape)
    missed = rng.random(kp.shape[:2]) < dropout
    missed |= (rng.random(kp.shape[0]) < frame_dropout)[:, None]
    out[missed] = 0.0
    return out.astype(np.float32)


def _bone_radius(a: str, b: str, limb_radius: float) -> float:
    torso = {"Neck", "R_Hip", "L_Hip", "L_Shoulder", "R_Shoulder"}
    neck_shoulder = "Neck" in (a, b) and "Shoulder" in a + b
    return _TORSO_RADIUS if a in torso and b in torso and not neck_shoulder else limb_radius


def _perpendicular_frame(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors (..., 3) orthogonal to the unit vectors ``d`` and to each other."""
    ref = np.where(np.abs(d[..., 2:3]) < 0.9, np.array([0.0, 0.0, 1.0]), np.array([1.0, 0.0, 0.0]))
    u = np.cross(d, ref)
    u /= np.linalg.norm(u, axis=-1, keepdims=True)
    return u, np.cross(d, u)


def body_surface_cloud(poses: np.ndarray, skeleton: str, rng: np.random.Generator,
                       params: MultiModalParams = MultiModalParams()) -> list[np.ndarray]:
    """LiDAR/depth-like points on the body surface seen from the sensor, one cloud per frame.

    The body is approximated by capsules around the skeleton's bones (limb radius
    ``params.limb_radius_m``, torso bones 0.14 m) and a 0.10 m sphere around the head joint
    (COCO: the nose). ``params.lidar_points`` surface points are drawn per frame, spread over the
    parts in proportion to their mean lateral area; a point is seen when its outward normal faces
    the sensor. Seen points get a range error along the line of sight and a small isotropic
    jitter, then drop out independently; in a few frames most points are lost.

    Parameters
    ----------
    poses : ndarray, shape (F, J, 3)
        Joints (m, radar frame).
    skeleton : str
        Skeleton of ``poses`` (its bones define the capsules).
    rng : numpy.random.Generator
        Noise source.
    params : MultiModalParams
        Point count, noise and drop-out settings.

    Returns
    -------
    list of ndarray, each (N_f, 3) float32
        Points (m, radar frame); ``N_f`` varies (it can be 0).

    Raises
    ------
    ValueError
        ``poses`` does not match the skeleton.

    References
    ----------
    MM-Fi (Yang et al. 2023): LiDAR point clouds of the subject; the capsule body is the usual
    approximation of limb surfaces (e.g. SMPL-free synthetic depth in pose-estimation studies).
    """
    sk = get_skeleton(skeleton)
    poses = np.asarray(poses, dtype=np.float64)
    if poses.ndim != 3 or poses.shape[1:] != (len(sk.joints), 3):
        raise ValueError(f"poses must be (F, {len(sk.joints)}, 3) for {sk.name}, got {poses.shape}")
    n_frames = poses.shape[0]
    head = sk.index("Head") if "Head" in sk.joints else sk.index("nose")
    bones = [(sk.index(a), sk.index(b), _bone_radius(a, b, params.limb_radius_m)) for a, b in sk.bones]
    lengths = np.array([np.linalg.norm(poses[:, i] - poses[:, j], axis=-1).mean() for i, j, _ in bones])
    areas = np.append(2 * np.pi * np.array([r for *_, r in bones]) * lengths, 4 * np.pi * _HEAD_RADIUS ** 2)
    counts = rng.multinomial(params.lidar_points, areas / areas.sum())
    sensor = np.asarray(params.sensor_position_m, dtype=np.float64)
    parts_p, parts_n = [], []
    for (i, j, radius), k in zip(bones, counts[:-1], strict=True):
        if k == 0:
            continue
        a, b = poses[:, i, None, :], poses[:, j, None, :]                      # (F, 1, 3)
        axis = b - a
        d = axis / np.maximum(np.linalg.norm(axis, axis=-1, keepdims=True), 1e-9)
        u, v = _perpendicular_frame(d)
        t = rng.random((n_frames, k, 1))
        ang = rng.uniform(0, 2 * np.pi, (n_frames, k, 1))
        normal = np.cos(ang) * u + np.sin(ang) * v                             # (F, k, 3)
        parts_p.append(a + t * axis + radius * normal)
        parts_n.append(normal)
    if counts[-1]:
        normal = rng.normal(size=(n_frames, counts[-1], 3))
        normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
        parts_p.append(poses[:, head, None, :] + _HEAD_RADIUS * normal)
        parts_n.append(normal)
    points = np.concatenate(parts_p, axis=1)                                   # (F, P, 3)
    normals = np.concatenate(parts_n, axis=1)
    sight = points - sensor
    dist = np.linalg.norm(sight, axis=-1, keepdims=True)
    sight = sight / np.maximum(dist, 1e-9)
    seen = np.einsum("fpc,fpc->fp", normals, sight) < 0.0                     # faces the sensor
    noisy = points + sight * rng.normal(0.0, params.lidar_range_noise_m, dist.shape)
    noisy += rng.normal(0.0, params.lidar_jitter_m, noisy.shape)
    keep = seen & (rng.random(seen.shape) >= params.lidar_dropout)
    bad = rng.random(n_frames) < params.lidar_frame_dropout
    keep[bad] &= rng.random((int(bad.sum()), seen.shape[1])) < params.lidar_frame_keep
    return [noisy[f, keep[f]].astype(np.float32) for f in range(n_frames)]


def load_multimodal(dataset_dir: str | os.PathLike, modalities: str | Sequence[str] = SIM_MODALITIES,
                    params: MultiModalParams = MultiModalParams(), skeleton: str = "hupr14",
                    names: Sequence[str] | None = None) -> MultiModalSet:
    """Load a simulated dataset as multi-modal frames.

    Parameters
    ----------
    dataset_dir : str or os.PathLike
        Folder written by ``radarkit simulate`` (needs the ``hori`` radar for ``"mmwave"``).
    modalities : str or sequence of str
        Subset of :data:`SIM_MODALITIES` (``"mmwave,rgb"`` or a sequence).
    params : MultiModalParams
        Noise, drop-out and point-count settings.
    skeleton : str
        ``hupr14`` (14 joints, default) or ``coco13`` (13 joints).
    names : sequence of str, optional
        Sequence folders (default: all of ``dataset.json``).

    Returns
    -------
    MultiModalSet
        All frames of the sequences, in order; with ``"mmwave"`` a sequence is cut to the frames of
        its recording.

    Raises
    ------
    StoreError
        Not a simulated dataset or a missing annotation.
    ValueError
        Unknown modalities.

    References
    ----------
    :func:`radarkit.data.mmjoints.load_sim_sequences` (radar point clouds, CFAR detection).
    """
    from radarkit.data.mmjoints import load_sim_sequences
    from radarkit.sim.dataset import load_annotations

    mods = parse_modalities(modalities)
    root = Path(dataset_dir)
    try:
        meta = json.loads((root / "dataset.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StoreError("no dataset.json: not a simulated dataset (radarkit simulate)",
                         source=root) from None
    if names is None:
        names = [s["name"] for s in meta["sequences"]]
    radar = ({s.name: s for s in load_sim_sequences(root, names, skeleton=skeleton)} if "mmwave" in mods
             else {})
    poses, kps, subj, seqn, mm, lid = [], [], [], [], [], []
    image_size = (256, 256)
    for k, name in enumerate(names):
        ann = load_annotations(root / name)
        if skeleton not in ann["joints3d"]:
            raise StoreError(f"no {skeleton!r} joints (have {sorted(ann['joints3d'])})",
                             source=root / name / "annot" / "radarkit.json")
        image_size = tuple(int(v) for v in ann.get("image_size", image_size))
        p = ann["joints3d"][skeleton]
        n = len(radar[name].clouds) if name in radar else len(p)
        p = p[:n]
        rng = np.random.default_rng(np.random.SeedSequence(params.seed, spawn_key=(k,)))
        kp_rng, lidar_rng = rng.spawn(2)
        poses.append(p)
        subj.append(ann["subject_id"][:n])
        seqn.append(np.full(n, name))
        if "rgb" in mods:
            kps.append(noisy_keypoints(ann["keypoints2d"][skeleton][:n], kp_rng, params.keypoint_noise_px,
                                       params.keypoint_dropout, params.keypoint_frame_dropout))
        if "mmwave" in mods:
            mm.extend(radar[name].clouds[:n])
        if "lidar" in mods:
            lid.extend(body_surface_cloud(p, skeleton, lidar_rng, params))
    if not poses:
        raise StoreError("no sequences to load", source=root)
    return MultiModalSet(
        mods, np.concatenate(poses).astype(np.float32), skeleton, np.concatenate(subj).astype(np.int64),
        np.concatenate(seqn), np.concatenate(kps) if kps else None, tuple(mm) if mm else None,
        tuple(lid) if lid else None, image_size, params)


class MultiModalDataset(torch.utils.data.Dataset):
    """Torch view of a :class:`MultiModalSet`: one ``(inputs, target)`` pair per frame.

    Parameters
    ----------
    data : MultiModalSet
        Loaded frames.
    modalities : sequence of str, optional
        Modalities served (default: all of ``data``); must be loaded in ``data``.

    Raises
    ------
    ValueError
        A requested modality is not in ``data``.

    Notes
    -----
    An item is ``({"rgb": (J, 2) float32 pixels, "mmwave": (N, 5) float32, "lidar": (N, 3)
    float32}, target (J, 3) float32 m)`` with only the served modalities; batch it with
    :func:`collate_multimodal`.
    """

    def __init__(self, data: MultiModalSet, modalities: Sequence[str] | None = None) -> None:
        mods = tuple(data.modalities if modalities is None else parse_modalities(modalities))
        missing = [m for m in mods if m not in data.modalities]
        if missing:
            raise ValueError(f"modalities {missing} were not loaded (have {data.modalities})")
        self.data = data
        self.modalities = mods

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
        d = self.data
        item: dict[str, np.ndarray] = {}
        for m in self.modalities:
            item[m] = d.keypoints[i] if m == "rgb" else (d.mmwave[i] if m == "mmwave" else d.lidar[i])
        return item, d.poses[i]


def collate_multimodal(samples: Sequence[tuple[Mapping[str, np.ndarray], np.ndarray]],
                       max_points: Mapping[str, int] | None = None
                       ) -> tuple[dict[str, Tensor | tuple[Tensor, Tensor]], Tensor]:
    """Batch items of :class:`MultiModalDataset` for ``AWCPoseModel``.

    Parameters
    ----------
    samples : sequence of (dict, ndarray)
        Items (same modalities in each).
    max_points : mapping of str to int, optional
        Per point-cloud modality, the points kept per cloud (default: 64 mmWave, 256 LiDAR).

    Returns
    -------
    inputs : dict
        ``"rgb"``: Tensor (B, J, 2) float32 pixels; ``"mmwave"`` / ``"lidar"``: ``(points (B, N, C)
        float32, mask (B, N) bool)``.
    target : Tensor, shape (B, J, 3), float32
        Joints in metres.

    Raises
    ------
    ValueError
        An empty batch.
    """
    if not samples:
        raise ValueError("empty batch")
    limits = {"mmwave": 64, "lidar": 256, **(max_points or {})}
    from radarkit.models.awc import pad_point_sets

    inputs: dict[str, Tensor | tuple[Tensor, Tensor]] = {}
    for m in samples[0][0]:
        values = [s[0][m] for s in samples]
        if m in ("mmwave", "lidar"):
            inputs[m] = pad_point_sets(values, max_points=limits[m])
        else:
            inputs[m] = torch.from_numpy(np.stack(values).astype(np.float32))
    target = torch.from_numpy(np.stack([s[1] for s in samples]).astype(np.float32))
    return inputs, target
