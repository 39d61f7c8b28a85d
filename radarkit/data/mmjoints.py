"""mmJoints data: point clouds and poses of simulated sequences, stand-in pose estimators, descriptor
targets, K-frame windows, activity windows and the poses / descriptors HDF5 files.

mmJoints (:mod:`radarkit.models.mmjoints`) describes the joints of *any* black-box pose estimator.
On simulated data (``radarkit simulate``, layout in :mod:`radarkit.sim.dataset`) this module builds
everything its training and evaluation need:

* per-frame radar point clouds of a sequence, detected from the raw recording with
  :mod:`radarkit.detect` (:func:`sequence_point_cloud`), as ``(N, 5)`` float32 arrays with the
  columns :data:`POINT_FEATURES` = ``x, y, z`` (m), radial velocity (m/s) and SNR (dB), MM-Fi's
  ``(x, y, z, Doppler, intensity)`` layout. The SNR in dB is the intensity ``I_n`` of eq. 1, as in
  TI's point-cloud side information (linear power would let one strong return dominate ``psi``);
* ground-truth poses, action labels and subject ids (:func:`load_sim_sequences`);
* two stand-ins for black-box estimators: a deliberately biased one that ignores the legs
  (:func:`legs_ignored_estimator`: knees and ankles replaced by the training-mean legs, placed at
  the current hips) and a reasonable one (:func:`noisy_estimator`: ground truth plus temporally
  correlated Gaussian errors of a few centimetres);
* ground-truth descriptors of an estimator's poses (:func:`descriptor_targets`, eq. 1-3);
* windows of the last ``K`` point clouds per frame (:func:`radarkit.train.mmjoints.point_windows`)
  and windows of ``T`` consecutive 3-D or 5-D poses for the activity recogniser
  (:func:`activity_windows`);
* a small poses HDF5 layout (:func:`write_poses`, :func:`read_poses`) and the descriptors file of
  ``radarkit describe`` (:func:`write_descriptors`, :func:`read_descriptors`).

Poses are ``(frame, joint, 3)`` float32 in metres in the radar frame (x right, y boresight, z up).

References
----------
.. [1] Z. Wang, M. Monjur, S. Nirjon, "mmJoints: Expanding Joint Representations Beyond (x, y, z)
   in mmWave-Based 3D Pose Estimation", sections 2.2, 7.1 (estimators, data) and 8.
.. [2] TI mmWave SDK object detection DPU (point cloud with SNR side information).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from radarkit._version import __version__
from radarkit.atomic import atomic_output
from radarkit.detect.cfar import CfarParams
from radarkit.detect.pointcloud import PointCloud, PointCloudParams, points_from_rd
from radarkit.errors import StoreError
from radarkit.io.store import open_hdf5
from radarkit.metrics.descriptors import DescriptorStats, ground_truth_descriptors
from radarkit.sim.camera import PinholeCamera, keypoint_bbox
from radarkit.skeleton import Skeleton, get_skeleton

__all__ = [
    "POINT_FEATURES",
    "INTENSITY_COLUMN",
    "LEG_JOINTS",
    "POSES_FORMAT",
    "DESCRIPTORS_FORMAT",
    "SimSequence",
    "pose_point_params",
    "cloud_arrays",
    "sequence_point_cloud",
    "load_sim_sequences",
    "legs_ignored_estimator",
    "noisy_estimator",
    "lift_keypoints",
    "write_keypoints",
    "read_keypoints",
    "descriptor_targets",
    "activity_windows",
    "write_poses",
    "read_poses",
    "write_descriptors",
    "read_descriptors",
]

#: Point columns fed to mmJoints (MM-Fi order: x, y, z, Doppler, intensity).
POINT_FEATURES: tuple[str, ...] = ("x", "y", "z", "velocity_mps", "snr_db")
#: Column of the intensity ``I_n`` (eq. 1) in :data:`POINT_FEATURES`.
INTENSITY_COLUMN = 4
#: Joints a legs-ignoring estimator gets wrong.
LEG_JOINTS: tuple[str, ...] = ("L_Knee", "L_Ankle", "R_Knee", "R_Ankle")
POSES_FORMAT = "radarkit-poses"
DESCRIPTORS_FORMAT = "radarkit-joint-descriptors"


@dataclass(frozen=True)
class SimSequence:
    """One simulated sequence as mmJoints sees it.

    Parameters
    ----------
    name : str
        Sequence folder name (``single_<n>``).
    clouds : tuple of ndarray, each (N_f, 5) float32
        Point cloud of every frame, columns :data:`POINT_FEATURES`.
    poses : ndarray, shape (F, J, 3), float32
        Ground-truth joints, m.
    actions : ndarray of str, shape (F,)
        Action label of every frame.
    subject_id : int
        The subject.
    skeleton : str
        Joint naming of ``poses``.
    """

    name: str
    clouds: tuple[np.ndarray, ...]
    poses: np.ndarray
    actions: np.ndarray
    subject_id: int
    skeleton: str


def pose_point_params(pfa: float = 1e-3, max_angle_peaks: int = 2) -> PointCloudParams:
    """Detection settings for body point clouds: CA-CFAR, no peak grouping, two azimuth peaks per cell.

    A person is an extended target spread over neighbouring range and Doppler bins; the default
    3 x 3 peak grouping keeps about one point per body, so it is off here, and a looser ``Pfa`` (with
    static clutter removal) keeps about 15-20 points per frame on the simulated subjects.

    Parameters
    ----------
    pfa : float
        CFAR probability of false alarm.
    max_angle_peaks : int
        Points per detected cell.

    Returns
    -------
    PointCloudParams

    References
    ----------
    TI mmWave SDK object detection (CFAR, AoA); mmJoints section 7.1 (sparse point clouds).
    """
    return PointCloudParams(cfar=CfarParams(pfa=pfa), peak_size=(1, 1), max_angle_peaks=max_angle_peaks)


def cloud_arrays(cloud: PointCloud | np.ndarray, offsets: np.ndarray | None = None,
                 columns: Sequence[str] = POINT_FEATURES) -> list[np.ndarray]:
    """Split a point table into one ``(N_f, len(columns))`` float32 array per frame.

    Parameters
    ----------
    cloud : PointCloud or structured ndarray
        A :class:`~radarkit.detect.pointcloud.PointCloud`, or a point table (e.g.
        :attr:`radarkit.io.points.StoredPoints.table`) with ``offsets``.
    offsets : ndarray of int64, shape (F + 1,), optional
        Frame offsets (required with a plain table).
    columns : sequence of str
        Columns kept, in order.

    Returns
    -------
    list of ndarray
        ``F`` arrays.

    Raises
    ------
    ValueError
        A missing column or missing offsets.
    """
    if isinstance(cloud, PointCloud):
        table, offsets = cloud.table, cloud.offsets
    else:
        table = np.asarray(cloud)
        if offsets is None:
            raise ValueError("offsets are required with a plain point table")
    missing = [c for c in columns if c not in (table.dtype.names or ())]
    if missing:
        raise ValueError(f"point table lacks the columns {missing}")
    flat = np.stack([table[c].astype(np.float32) for c in columns], axis=1) if len(table) else \
        np.zeros((0, len(columns)), np.float32)
    offsets = np.asarray(offsets, dtype=np.int64)
    return [flat[offsets[f]:offsets[f + 1]] for f in range(len(offsets) - 1)]


def sequence_point_cloud(recording_dir: str | os.PathLike, params: PointCloudParams | None = None,
                         clutter_removal: bool = True, chunk: int = 16) -> PointCloud:
    """Point cloud of a recording folder (``adc_data.bin`` + ``radar.cfg``), as ``radarkit detect``.

    Uses the planned Range-Doppler path (:class:`radarkit.dsp.plan.RDPlan`, Hann windows) and
    :func:`radarkit.detect.pointcloud.points_from_rd`.

    Parameters
    ----------
    recording_dir : str or os.PathLike
        Folder with ``adc_data.bin`` and ``radar.cfg`` (e.g. ``DATASET/single_1/hori``).
    params : PointCloudParams, optional
        Detection settings (default :func:`pose_point_params`).
    clutter_removal : bool
        Static clutter removal before the Doppler FFT (keeps the moving body, drops walls).
    chunk : int
        Frames processed at a time.

    Returns
    -------
    PointCloud

    Raises
    ------
    RecordingError, ConfigError
        Missing or unreadable recording or configuration.
    """
    from radarkit.config import load_config
    from radarkit.dsp.plan import RDPlan, rd_plan_supports
    from radarkit.io.recording import Recording

    folder = Path(recording_dir)
    params = pose_point_params() if params is None else params
    cfg = load_config(folder / "radar.cfg")
    clouds = []
    with Recording([folder / "adc_data.bin"], cfg) as rec:
        plan = RDPlan(cfg, "hann", "hann", clutter_removal) if rd_plan_supports(cfg) else None
        for first in range(0, rec.n_frames, chunk):
            last = min(first + chunk, rec.n_frames)
            if plan is not None:
                rd = plan(rec.words(first, last))
                clouds.append(points_from_rd(rd, cfg, params, frame_start=first))
            else:
                from radarkit.detect.pointcloud import point_cloud

                clouds.append(point_cloud(rec.read(first, last), cfg, params, clutter_removal,
                                          frame_start=first))
    return PointCloud.concat(clouds) if clouds else PointCloud.empty(0)


def load_sim_sequences(dataset_dir: str | os.PathLike, names: Sequence[str] | None = None,
                       skeleton: str = "hupr14", radar: str = "hori",
                       params: PointCloudParams | None = None, clutter_removal: bool = True
                       ) -> list[SimSequence]:
    """Point clouds and ground truth of the sequences of a simulated dataset.

    Parameters
    ----------
    dataset_dir : str or os.PathLike
        Folder written by ``radarkit simulate``.
    names : sequence of str, optional
        Sequence folders to load (default: all in ``dataset.json``).
    skeleton : str
        ``hupr14`` or ``coco13``.
    radar : str
        Recording used for the point clouds (``hori`` or ``vert``; the poses are in the ``hori``
        radar's frame, so ``hori`` is the consistent choice).
    params : PointCloudParams, optional
        Detection settings (:func:`pose_point_params`).
    clutter_removal : bool
        Static clutter removal.

    Returns
    -------
    list of SimSequence

    Raises
    ------
    StoreError
        Not a simulated dataset, or a missing annotation or skeleton.
    """
    from radarkit.sim.dataset import load_annotations

    root = Path(dataset_dir)
    try:
        meta = json.loads((root / "dataset.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StoreError("no dataset.json: not a simulated dataset (radarkit simulate)",
                         source=root) from None
    if names is None:
        names = [s["name"] for s in meta["sequences"]]
    out = []
    for name in names:
        ann = load_annotations(root / name)
        if skeleton not in ann["joints3d"]:
            raise StoreError(f"no {skeleton!r} joints (have {sorted(ann['joints3d'])})",
                             source=root / name / "annot" / "radarkit.json")
        cloud = sequence_point_cloud(root / name / radar, params, clutter_removal)
        poses = ann["joints3d"][skeleton]
        clouds = cloud_arrays(cloud)[:len(poses)]
        out.append(SimSequence(name, tuple(clouds), poses[:len(clouds)], ann["action"][:len(clouds)],
                               int(ann["subject_id"][0]), skeleton))
    return out


def _leg_indices(sk: Skeleton) -> np.ndarray:
    return np.array([sk.index(n) for n in LEG_JOINTS if n in sk.joints], dtype=np.int64)


def _hip_centre(poses: np.ndarray, sk: Skeleton) -> np.ndarray:
    return 0.5 * (poses[..., sk.index("L_Hip"), :] + poses[..., sk.index("R_Hip"), :])


def legs_ignored_estimator(poses: np.ndarray, train_poses: np.ndarray, skeleton: Skeleton | str
                           ) -> np.ndarray:
    """A deliberately biased pose estimator: the legs are always the training-mean legs.

    Knees and ankles (:data:`LEG_JOINTS`) are replaced by their mean offset from the hip centre over
    ``train_poses``, added to the current hip centre; the other joints are exact. It stands in for an
    estimator that has not learned the legs (mmJoints' motivation: joints that are not sensed).

    Parameters
    ----------
    poses : ndarray, shape (F, J, 3)
        Ground-truth poses, m.
    train_poses : ndarray, shape (M, J, 3)
        Training poses defining the mean legs, m.
    skeleton : Skeleton or str
        Joint naming.

    Returns
    -------
    ndarray, shape (F, J, 3), float32
        The estimator's poses.

    Raises
    ------
    ValueError
        Shapes that do not fit the skeleton.
    """
    sk = get_skeleton(skeleton)
    poses = np.asarray(poses, dtype=np.float32)
    train_poses = np.asarray(train_poses, dtype=np.float32)
    for p in (poses, train_poses):
        if p.ndim != 3 or p.shape[1:] != (sk.n_joints, 3):
            raise ValueError(f"poses must be (F, {sk.n_joints}, 3) for {sk.name}, got {p.shape}")
    legs = _leg_indices(sk)
    mean_offset = (train_poses[:, legs] - _hip_centre(train_poses, sk)[:, None]).mean(axis=0)
    out = poses.copy()
    out[:, legs] = _hip_centre(poses, sk)[:, None] + mean_offset[None]
    return out


def noisy_estimator(poses: np.ndarray, noise_m: float = 0.03, correlation: float = 0.8,
                    seed: int = 0) -> np.ndarray:
    """A reasonable pose estimator: ground truth plus temporally correlated Gaussian errors.

    Every joint coordinate gets an AR(1) error ``e_f = rho e_{f-1} + sqrt(1 - rho^2) w_f`` with
    ``w_f ~ N(0, noise_m^2)``, so the error is stationary with standard deviation ``noise_m`` per
    coordinate (about ``1.6 noise_m`` MPJPE) and drifts smoothly, like a learned estimator's.

    Parameters
    ----------
    poses : ndarray, shape (F, J, 3)
        Ground-truth poses of one sequence, m.
    noise_m : float
        Standard deviation per coordinate, m.
    correlation : float
        ``rho`` in [0, 1): frame-to-frame correlation of the error.
    seed : int
        Random source.

    Returns
    -------
    ndarray, shape (F, J, 3), float32

    Raises
    ------
    ValueError
        Negative noise or a correlation outside [0, 1).
    """
    if noise_m < 0 or not 0 <= correlation < 1:
        raise ValueError(f"need noise_m >= 0 and 0 <= correlation < 1, got {noise_m}, {correlation}")
    poses = np.asarray(poses, dtype=np.float32)
    rng = np.random.default_rng(seed)
    w = rng.normal(0.0, noise_m, poses.shape)
    err = np.empty_like(w)
    err[0] = w[0]
    gain = np.sqrt(1.0 - correlation**2)
    for f in range(1, len(w)):
        err[f] = correlation * err[f - 1] + gain * w[f]
    return (poses + err).astype(np.float32)


def descriptor_targets(clouds: Sequence[np.ndarray], pred_poses: np.ndarray, gt_poses: np.ndarray,
                       stats: DescriptorStats, intensity_column: int = INTENSITY_COLUMN
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Ground-truth ``(xi, kappa)`` of an estimator's poses over a sequence (eq. 1-3).

    Parameters
    ----------
    clouds : sequence of ndarray, each (N_f, C)
        Point clouds (x, y, z in m; intensity in ``intensity_column``).
    pred_poses, gt_poses : ndarray, shape (F, J, 3)
        Estimated and ground-truth poses, m.
    stats : DescriptorStats
        Dataset statistics (:func:`radarkit.metrics.descriptors.descriptor_statistics`).
    intensity_column : int
        Column of ``I_n``.

    Returns
    -------
    xi, kappa : ndarray, shape (F, J), float32

    Raises
    ------
    ValueError
        Frame counts or shapes differ.

    References
    ----------
    mmJoints eq. 1-3.
    """
    pred_poses, gt_poses = np.asarray(pred_poses), np.asarray(gt_poses)
    if not len(clouds) == len(pred_poses) == len(gt_poses):
        raise ValueError(f"{len(clouds)} clouds, {len(pred_poses)} estimated and {len(gt_poses)} "
                         "ground-truth poses")
    xi = np.empty(pred_poses.shape[:2], np.float32)
    kappa = np.empty_like(xi)
    for f, cloud in enumerate(clouds):
        xi[f], kappa[f] = ground_truth_descriptors(cloud, pred_poses[f], gt_poses[f], stats,
                                                   intensity_column=intensity_column)
    return xi, kappa


def activity_windows(joints: np.ndarray, labels: np.ndarray, length: int = 5, stride: int = 1
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Windows of ``length`` consecutive frames of joints, labelled by their last frame.

    Parameters
    ----------
    joints : ndarray, shape (F, J, C)
        Per-frame joints of one sequence (``C = 3``: x, y, z; ``C = 5``: x, y, z, xi, kappa).
    labels : ndarray, shape (F,)
        Per-frame labels (any dtype).
    length : int
        ``T``, frames per window (5 in the paper).
    stride : int
        Step between window ends.

    Returns
    -------
    windows : ndarray, shape (W, T, J, C), float32
        ``W = len(range(T - 1, F, stride))`` windows (0 if ``F < T``).
    window_labels : ndarray, shape (W,)
        Label of each window's last frame.

    Raises
    ------
    ValueError
        ``length`` or ``stride`` < 1, or frame counts differ.

    References
    ----------
    mmJoints section 8.2 (LSTM over 5 frames).
    """
    joints, labels = np.asarray(joints, dtype=np.float32), np.asarray(labels)
    if length < 1 or stride < 1:
        raise ValueError(f"length and stride must be >= 1, got {length}, {stride}")
    if len(joints) != len(labels):
        raise ValueError(f"{len(joints)} frames of joints, {len(labels)} labels")
    ends = np.arange(length - 1, len(joints), stride)
    idx = ends[:, None] - np.arange(length - 1, -1, -1)[None, :]
    return joints[idx] if len(ends) else np.zeros((0, length, *joints.shape[1:]), np.float32), labels[ends]


# ----------------------------------------------------------------------------------------------------------
# files
# ----------------------------------------------------------------------------------------------------------

def _provenance(attrs: dict[str, Any] | None) -> dict[str, Any]:
    out = {"radarkit_version": __version__,
           "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    for key, value in (attrs or {}).items():
        out[key] = value if isinstance(value, (str, int, float, bool)) else json.dumps(value)
    return out


def _check_poses(poses: np.ndarray, skeleton: Skeleton | str) -> tuple[np.ndarray, Skeleton]:
    sk = get_skeleton(skeleton)
    poses = np.asarray(poses, dtype=np.float32)
    if poses.ndim != 3 or poses.shape[1:] != (sk.n_joints, 3):
        raise ValueError(f"poses must be (frame, {sk.n_joints}, 3) for {sk.name}, got {poses.shape}")
    return poses, sk


def write_poses(path: str | os.PathLike, poses: np.ndarray, skeleton: Skeleton | str,
                attrs: dict[str, Any] | None = None, force: bool = False) -> Path:
    """Write 3-D poses to a radarkit poses file (HDF5), atomically.

    Layout: dataset ``poses`` ``(frame, joint, 3)`` float32 (attribute ``units = "m"``, ``dims``);
    root attributes ``format = "radarkit-poses"``, ``skeleton`` (name), ``joints`` (JSON list of
    names), ``frame`` (the coordinate frame), ``radarkit_version``, ``created_utc`` and ``attrs``
    (non-scalar values as JSON: ``command``, ``sources``, ...).

    Parameters
    ----------
    path : str or os.PathLike
        Output ``.h5``.
    poses : ndarray, shape (F, J, 3)
        Poses in metres, radar frame.
    skeleton : Skeleton or str
        Joint naming (``J`` must match).
    attrs : dict, optional
        Extra provenance attributes.
    force : bool
        Replace an existing file.

    Returns
    -------
    Path

    Raises
    ------
    ValueError
        Shape does not fit the skeleton.
    StoreError
        Output exists (without ``force``) or cannot be written.
    """
    poses, sk = _check_poses(poses, skeleton)
    with atomic_output(path, force) as tmp, h5py.File(tmp, "w") as f:
        ds = f.create_dataset("poses", data=poses)
        ds.attrs["units"] = "m"
        ds.attrs["dims"] = json.dumps(["frame", "joint", "xyz"])
        f.attrs.update({"format": POSES_FORMAT, "format_version": 1, "skeleton": sk.name,
                        "joints": json.dumps(list(sk.joints)),
                        "frame": "radar frame: x right, y boresight, z up (m)", **_provenance(attrs)})
    return Path(path)


def _open(path: str | os.PathLike, fmt: str) -> h5py.File:
    return open_hdf5(path, fmt)


def read_poses(path: str | os.PathLike) -> tuple[np.ndarray, str, dict[str, Any]]:
    """Read a poses file written by :func:`write_poses`.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    poses : ndarray, shape (F, J, 3), float32
        Metres.
    skeleton : str
        Skeleton name.
    attrs : dict
        Root attributes.

    Raises
    ------
    StoreError
        Missing file, not a poses file, unknown skeleton or a shape that does not fit it.
    """
    with _open(path, POSES_FORMAT) as f:
        if "poses" not in f:
            raise StoreError("no 'poses' dataset", source=path)
        poses = f["poses"][()].astype(np.float32)
        attrs = dict(f.attrs)
    name = str(attrs.get("skeleton", ""))
    try:
        poses, sk = _check_poses(poses, name)
    except (KeyError, ValueError) as err:
        raise StoreError(f"skeleton {name!r} does not fit poses {poses.shape}: {err}", source=path) from None
    return poses, sk.name, attrs


def lift_keypoints(keypoints: np.ndarray, clouds: Sequence[np.ndarray], camera: PinholeCamera,
                   default_depth_m: float = 3.0) -> np.ndarray:
    """Lift 2-D keypoints (a camera-space pose estimator's output, e.g. HuPR or MAEPose) to 3-D.

    Each frame's depth (distance along boresight) is the median ``y`` of the radar points that
    project into the frame's keypoint box (the person's points), else of all the frame's points,
    else ``default_depth_m``; every joint of the frame is unprojected at that depth
    (:meth:`radarkit.sim.camera.PinholeCamera.unproject`). The camera and the radar share the scene
    frame (``radarkit.sim``: the horizontal radar's frame).

    Parameters
    ----------
    keypoints : ndarray, shape (F, J, 2)
        Pixel coordinates in the camera's image.
    clouds : sequence of F ndarrays, shape (N_f, >= 3)
        Per-frame points with ``x, y, z`` (m) first.
    camera : PinholeCamera
    default_depth_m : float
        Depth for frames without points.

    Returns
    -------
    ndarray of float32, shape (F, J, 3)
        Metres, radar frame.

    Raises
    ------
    ValueError
        Frame counts that differ, or a non-positive default depth.
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.ndim != 3 or kp.shape[-1] != 2 or len(clouds) != len(kp):
        raise ValueError(f"keypoints must be (F, J, 2) with one point cloud per frame, got {kp.shape} "
                         f"and {len(clouds)} clouds")
    if default_depth_m <= 0:
        raise ValueError("default_depth_m must be positive")
    boxes = keypoint_bbox(kp, margin=0.2)
    depth = np.full(len(kp), float(default_depth_m))
    for f, cloud in enumerate(clouds):
        xyz = np.asarray(cloud, dtype=np.float64)[:, :3]
        xyz = xyz[xyz[:, 1] > camera.position_m[1] + 0.1]  # in front of the camera
        if not len(xyz):
            continue
        uv = camera.project(xyz)
        x0, y0, x1, y1 = boxes[f]
        inside = (uv[:, 0] >= x0) & (uv[:, 0] <= x1) & (uv[:, 1] >= y0) & (uv[:, 1] <= y1)
        ys = xyz[inside, 1] if inside.any() else xyz[:, 1]
        depth[f] = float(np.median(ys)) - camera.position_m[1]
    return camera.unproject(kp, depth[:, None])


def write_keypoints(path: str | os.PathLike, keypoints: np.ndarray, skeleton: Skeleton | str,
                    camera: PinholeCamera, attrs: dict[str, Any] | None = None,
                    force: bool = False) -> Path:
    """Write 2-D keypoints with their camera to a radarkit poses file, atomically.

    Layout as :func:`write_poses`, with dataset ``keypoints`` ``(frame, joint, 2)`` float32 (pixels)
    instead of ``poses``, and root attributes ``camera_position_m``, ``image_size``,
    ``camera_fov_rad``. ``radarkit describe`` lifts them to 3-D with :func:`lift_keypoints`.

    Raises
    ------
    ValueError
        Shape does not fit the skeleton.
    StoreError
        Output exists (without ``force``) or cannot be written.
    """
    sk = get_skeleton(skeleton)
    kp = np.asarray(keypoints, dtype=np.float32)
    if kp.ndim != 3 or kp.shape[1:] != (sk.n_joints, 2):
        raise ValueError(f"keypoints must be (frame, {sk.n_joints}, 2) for {sk.name}, got {kp.shape}")
    with atomic_output(path, force) as tmp, h5py.File(tmp, "w") as f:
        ds = f.create_dataset("keypoints", data=kp)
        ds.attrs["units"] = "px"
        f.attrs.update({"format": POSES_FORMAT, "format_version": 1, "skeleton": sk.name,
                        "joints": json.dumps(list(sk.joints)),
                        "camera_position_m": np.asarray(camera.position_m, dtype=np.float64),
                        "image_size": np.asarray(camera.image_size, dtype=np.int64),
                        "camera_fov_rad": float(camera.fov_rad), **_provenance(attrs)})
    return Path(path)


def read_keypoints(path: str | os.PathLike) -> tuple[np.ndarray, str, PinholeCamera]:
    """Read a keypoints file written by :func:`write_keypoints`: ``(keypoints (F, J, 2) float32,
    skeleton name, camera)``.

    Raises
    ------
    StoreError
        Missing file, not a poses file, or no ``keypoints`` dataset.
    """
    with _open(path, POSES_FORMAT) as f:
        if "keypoints" not in f:
            raise StoreError("no 'keypoints' dataset", source=path)
        kp = f["keypoints"][()].astype(np.float32)
        a = dict(f.attrs)
    camera = PinholeCamera(tuple(float(v) for v in a["camera_position_m"]),
                           tuple(int(v) for v in a["image_size"]), float(a["camera_fov_rad"]))
    return kp, str(a.get("skeleton", "")), camera


def write_descriptors(path: str | os.PathLike, poses: np.ndarray, xi: np.ndarray, kappa: np.ndarray,
                      skeleton: Skeleton | str, attrs: dict[str, Any] | None = None,
                      force: bool = False) -> Path:
    """Write 5-D joints ``(x, y, z, xi, kappa)`` to HDF5, atomically (``radarkit describe``).

    Layout: datasets ``poses`` ``(frame, joint, 3)`` float32 (m), ``xi`` and ``kappa``
    ``(frame, joint)`` float32 in (0, 1), ``joints5`` ``(frame, joint, 5)`` float32; root attributes
    ``format = "radarkit-joint-descriptors"``, ``skeleton``, ``joints`` and provenance as
    :func:`write_poses`.

    Parameters
    ----------
    path : str or os.PathLike
    poses : ndarray, shape (F, J, 3)
        The described poses, m.
    xi, kappa : ndarray, shape (F, J)
        Sensing and reliability scores.
    skeleton : Skeleton or str
    attrs : dict, optional
        Extra provenance (model, sources, command).
    force : bool
        Replace an existing file.

    Returns
    -------
    Path

    Raises
    ------
    ValueError
        Shapes disagree.
    StoreError
        Output exists (without ``force``) or cannot be written.

    References
    ----------
    mmJoints section 3 (the 5-D joint representation).
    """
    poses, sk = _check_poses(poses, skeleton)
    xi, kappa = np.asarray(xi, np.float32), np.asarray(kappa, np.float32)
    if xi.shape != poses.shape[:2] or kappa.shape != poses.shape[:2]:
        raise ValueError(f"xi {xi.shape} and kappa {kappa.shape} must be {poses.shape[:2]}")
    with atomic_output(path, force) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("poses", data=poses).attrs["units"] = "m"
        f.create_dataset("xi", data=xi).attrs["units"] = "1"
        f.create_dataset("kappa", data=kappa).attrs["units"] = "1"
        f.create_dataset("joints5", data=np.concatenate([poses, xi[..., None], kappa[..., None]], -1))
        f.attrs.update({"format": DESCRIPTORS_FORMAT, "format_version": 1, "skeleton": sk.name,
                        "joints": json.dumps(list(sk.joints)), **_provenance(attrs)})
    return Path(path)


def read_descriptors(path: str | os.PathLike) -> dict[str, Any]:
    """Read a file written by :func:`write_descriptors`.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    dict
        ``poses`` (F, J, 3), ``xi`` and ``kappa`` (F, J), ``joints5`` (F, J, 5) float32 arrays,
        ``skeleton`` and ``attrs``.

    Raises
    ------
    StoreError
        Missing file or not a descriptors file.
    """
    with _open(path, DESCRIPTORS_FORMAT) as f:
        out = {k: f[k][()] for k in ("poses", "xi", "kappa", "joints5")}
        out["attrs"] = dict(f.attrs)
        out["skeleton"] = str(f.attrs.get("skeleton"))
    return out
