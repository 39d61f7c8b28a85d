"""MM-Fi reader: the public multi-modal human dataset in the layout of its toolbox.

Layout (one folder per sequence: environment ``E01``-``E04``, subject ``S01``-``S40``, action
``A01``-``A27``)::

    <root>/E01/S01/A01/ground_truth.npy        (297, 17, 3) float, 3-D joints in metres
    <root>/E01/S01/A01/rgb/frame001.npy        (17, 2) 2-D keypoints of the RGB camera, pixels
    <root>/E01/S01/A01/lidar/frame001.bin      float64, (N, 3) x, y, z in metres
    <root>/E01/S01/A01/mmwave/frame001.bin     float64, (N, 5) x, y, z (m), Doppler (m/s), intensity
    <root>/E01/S01/A01/wifi-csi/frame001.mat   MATLAB file with CSIamp / CSIphase (3, 114, 10)

Frame files are numbered from 1 (``frame001`` is ground-truth row 0). The ``.bin`` files are
raw little-endian float64 with no header, so their size must be a multiple of 24 (LiDAR) or 40
(mmWave) bytes; an empty file is a frame without points. The joints follow the COCO-17 order
(``radarkit.skeleton.COCO17``). Only the modalities AWC uses are read (``rgb``, ``lidar``,
``mmwave``, ``wifi-csi``); ``depth``, ``infra1`` and ``infra2`` are not.

Every error names the file (or folder) at fault: :class:`radarkit.errors.RecordingError`.

References
----------
.. [1] J. Yang et al., "MM-Fi: Multi-Modal Non-Intrusive 4D Human Dataset for Versatile Wireless
   Sensing", NeurIPS 2023 Datasets and Benchmarks (data layout of the public release and
   toolbox).
.. [2] M. Qi et al., ``awc-balanced-multimodal.txt`` Sec. 3.1 (mmWave points (x, y, z, D, I)) and
   ``learned-models.md`` (GT (297, 17, 3) m; point clouds (N, 5)).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from radarkit.errors import RecordingError

__all__ = [
    "MMFI_MODALITIES",
    "MMFI_JOINTS",
    "MMFI_FRAMES",
    "MMFiSequence",
    "read_ground_truth",
    "read_keypoints_frame",
    "read_lidar_frame",
    "read_mmwave_frame",
    "read_csi_frame",
    "find_sequences",
    "MMFiDataset",
    "collate_mmfi",
]

#: Readable modalities and the extension of their frame files.
MMFI_MODALITIES: dict[str, str] = {"rgb": ".npy", "lidar": ".bin", "mmwave": ".bin", "wifi-csi": ".mat"}
#: Joints of the MM-Fi ground truth (COCO-17 order).
MMFI_JOINTS = 17
#: Frames per sequence in the public release.
MMFI_FRAMES = 297

_FRAME_RE = re.compile(r"^frame(\d+)(\.[A-Za-z0-9]+)$")


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise RecordingError("file not found", source=path) from None
    except OSError as err:
        raise RecordingError(f"cannot read ({err.strerror})", source=path) from None


def _read_points(path: str | os.PathLike, width: int, what: str) -> np.ndarray:
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) % (8 * width):
        raise RecordingError(f"{len(raw)} bytes is not a whole number of {what} points "
                             f"({width} float64 = {8 * width} bytes each); truncated file?", source=path)
    pts = np.frombuffer(raw, dtype="<f8").reshape(-1, width).astype(np.float64)
    if not np.all(np.isfinite(pts)):
        raise RecordingError(f"non-finite values in {what} points", source=path)
    return pts


def read_mmwave_frame(path: str | os.PathLike) -> np.ndarray:
    """Read one MM-Fi mmWave point-cloud frame.

    Parameters
    ----------
    path : str or os.PathLike
        ``.../mmwave/frameNNN.bin``: raw little-endian float64, 5 values per point.

    Returns
    -------
    ndarray of float64, shape (N, 5)
        x, y, z (m), Doppler velocity (m/s), intensity per point; N may be 0.

    Raises
    ------
    RecordingError
        Missing or unreadable file, a size that is not a multiple of 40 bytes, non-finite values.

    References
    ----------
    .. [1] Yang et al., MM-Fi, NeurIPS 2023; Qi et al. Sec. 3.1 (point = (x, y, z, D, I)).
    """
    return _read_points(path, 5, "mmWave")


def read_lidar_frame(path: str | os.PathLike) -> np.ndarray:
    """Read one MM-Fi LiDAR point-cloud frame.

    Parameters
    ----------
    path : str or os.PathLike
        ``.../lidar/frameNNN.bin``: raw little-endian float64, 3 values per point.

    Returns
    -------
    ndarray of float64, shape (N, 3)
        x, y, z in metres.

    Raises
    ------
    RecordingError
        Missing or unreadable file, a size that is not a multiple of 24 bytes, non-finite values.
    """
    return _read_points(path, 3, "LiDAR")


def _load_npy(path: Path) -> np.ndarray:
    if not path.is_file():
        raise RecordingError("file not found", source=path)
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise RecordingError(f"not a readable .npy array ({err})", source=path) from None


def read_ground_truth(path: str | os.PathLike) -> np.ndarray:
    """Read a sequence's 3-D ground truth.

    Parameters
    ----------
    path : str or os.PathLike
        ``ground_truth.npy`` of a sequence folder.

    Returns
    -------
    ndarray of float32, shape (F, 17, 3)
        Joint positions in metres, COCO-17 order (F = 297 in the public release).

    Raises
    ------
    RecordingError
        Missing or unreadable file, a shape other than ``(F, 17, 3)``, non-finite values.
    """
    path = Path(path)
    gt = _load_npy(path)
    if gt.ndim != 3 or gt.shape[1:] != (MMFI_JOINTS, 3) or gt.shape[0] == 0:
        raise RecordingError(f"ground truth must have shape (frames, {MMFI_JOINTS}, 3), got {gt.shape}",
                             source=path)
    if not np.all(np.isfinite(gt)):
        raise RecordingError("non-finite values in the ground truth", source=path)
    return gt.astype(np.float32)


def read_keypoints_frame(path: str | os.PathLike) -> np.ndarray:
    """Read one frame of the RGB modality: the camera's 2-D keypoints.

    Parameters
    ----------
    path : str or os.PathLike
        ``.../rgb/frameNNN.npy``.

    Returns
    -------
    ndarray of float32, shape (17, 2)
        Keypoint pixel coordinates in the camera image (COCO-17 order).

    Raises
    ------
    RecordingError
        Missing or unreadable file, or a shape other than ``(17, 2)`` (a leading axis of length 1
        is accepted).
    """
    path = Path(path)
    kp = _load_npy(path)
    if kp.ndim == 3 and kp.shape[0] == 1:
        kp = kp[0]
    if kp.shape != (MMFI_JOINTS, 2):
        raise RecordingError(f"keypoints must have shape ({MMFI_JOINTS}, 2), got {kp.shape}", source=path)
    return kp.astype(np.float32)


def read_csi_frame(path: str | os.PathLike, key: str = "CSIamp") -> np.ndarray:
    """Read one WiFi CSI frame (MATLAB file).

    Parameters
    ----------
    path : str or os.PathLike
        ``.../wifi-csi/frameNNN.mat``.
    key : {"CSIamp", "CSIphase"}
        Variable to read: amplitude (default, what AWC uses) or phase (rad).

    Returns
    -------
    ndarray of float32, shape (antenna, subcarrier, packet)
        ``(3, 114, 10)`` in the public release. Non-finite entries (the release has some
        infinite amplitudes) are replaced by the mean of the finite values of the same antenna.

    Raises
    ------
    RecordingError
        Missing or unreadable file, missing variable, not 3-D, or an antenna with no finite value.
    """
    from scipy.io import loadmat

    path = Path(path)
    if not path.is_file():
        raise RecordingError("file not found", source=path)
    try:
        mat = loadmat(path, variable_names=[key])
    except (ValueError, OSError, TypeError) as err:
        raise RecordingError(f"not a readable MATLAB file ({err})", source=path) from None
    if key not in mat:
        raise RecordingError(f"no variable {key!r} in the file", source=path)
    csi = np.asarray(mat[key], dtype=np.float64)
    if csi.ndim != 3:
        raise RecordingError(f"{key} must be (antenna, subcarrier, packet), got shape {csi.shape}",
                             source=path)
    bad = ~np.isfinite(csi)
    if bad.any():
        for a in range(csi.shape[0]):
            good = csi[a][~bad[a]]
            if good.size == 0:
                raise RecordingError(f"{key} of antenna {a} has no finite value", source=path)
            csi[a][bad[a]] = good.mean()
    return csi.astype(np.float32)


_READERS = {"rgb": read_keypoints_frame, "lidar": read_lidar_frame, "mmwave": read_mmwave_frame,
            "wifi-csi": read_csi_frame}


@dataclass(frozen=True)
class MMFiSequence:
    """One MM-Fi sequence folder ``<root>/Exx/Syy/Azz``.

    Parameters
    ----------
    path : pathlib.Path
        The sequence folder.
    environment, subject, action : str
        ``"E01"``, ``"S01"``, ``"A01"`` (the folder names).
    """

    path: Path
    environment: str
    subject: str
    action: str

    @property
    def name(self) -> str:
        """``"E01/S01/A01"``."""
        return f"{self.environment}/{self.subject}/{self.action}"

    def ground_truth(self) -> np.ndarray:
        """The sequence's joints, ``(F, 17, 3)`` float32 metres (:func:`read_ground_truth`)."""
        return read_ground_truth(self.path / "ground_truth.npy")

    def frame_files(self, modality: str, n_frames: int | None = None) -> list[Path]:
        """Frame files of one modality, in frame order.

        Parameters
        ----------
        modality : str
            One of :data:`MMFI_MODALITIES`.
        n_frames : int, optional
            Expected number of frames (the ground truth's); checked when given.

        Returns
        -------
        list of pathlib.Path
            ``frame001.ext``, ``frame002.ext``, ... (numbered from 1 without gaps).

        Raises
        ------
        RecordingError
            Unknown modality, missing folder, a gap in the numbering (naming the missing file) or
            a frame count other than ``n_frames``.
        """
        if modality not in MMFI_MODALITIES:
            raise RecordingError(f"unknown MM-Fi modality {modality!r} (readable: {sorted(MMFI_MODALITIES)})",
                                 source=self.path)
        folder = self.path / modality
        if not folder.is_dir():
            raise RecordingError(f"no {modality} folder in this sequence", source=folder)
        ext = MMFI_MODALITIES[modality]
        numbered = {}
        for entry in os.listdir(folder):
            match = _FRAME_RE.match(entry)
            if match and match.group(2) == ext:
                numbered[int(match.group(1))] = folder / entry
        count = len(numbered)
        for k in range(1, count + 1):
            if k not in numbered:
                raise RecordingError(f"frame {k} missing (expected frame{k:03d}{ext}; "
                                     f"{count} frame files found)", source=folder)
        if count == 0:
            raise RecordingError(f"no frame*{ext} files", source=folder)
        if n_frames is not None and count != n_frames:
            raise RecordingError(f"{count} frame files but the ground truth has {n_frames} frames",
                                 source=folder)
        return [numbered[k] for k in range(1, count + 1)]


def find_sequences(root: str | os.PathLike, subjects: Iterable[str] | None = None,
                   actions: Iterable[str] | None = None) -> list[MMFiSequence]:
    """All sequence folders under an MM-Fi root, sorted by environment, subject, action.

    Parameters
    ----------
    root : str or os.PathLike
        The dataset root (holding ``E01`` ... ``E04``).
    subjects, actions : iterable of str, optional
        Keep only these subjects (``"S01"``) / actions (``"A01"``).

    Returns
    -------
    list of MMFiSequence
        Folders ``E??/S??/A??`` that contain ``ground_truth.npy``.

    Raises
    ------
    RecordingError
        The root is not a folder, or no sequence matches.
    """
    root = Path(root)
    if not root.is_dir():
        raise RecordingError("MM-Fi root is not a folder", source=root)
    want_s = None if subjects is None else set(subjects)
    want_a = None if actions is None else set(actions)
    found = []
    for gt in sorted(root.glob("E[0-9]*/S[0-9]*/A[0-9]*/ground_truth.npy")):
        seq = gt.parent
        env, subj, act = seq.parent.parent.name, seq.parent.name, seq.name
        if (want_s is None or subj in want_s) and (want_a is None or act in want_a):
            found.append(MMFiSequence(seq, env, subj, act))
    if not found:
        raise RecordingError("no MM-Fi sequence (E??/S??/A??/ground_truth.npy) matches"
                             + (f" subjects {sorted(want_s)}" if want_s else "")
                             + (f" actions {sorted(want_a)}" if want_a else ""), source=root)
    return found


class MMFiDataset(Dataset):
    """Frame-level torch Dataset over MM-Fi sequences, any subset of modalities.

    Parameters
    ----------
    root : str or os.PathLike
        Dataset root.
    modalities : sequence of str
        Modalities to read, from :data:`MMFI_MODALITIES`.
    subjects, actions : iterable of str, optional
        Restrict to these subjects / actions (e.g. a protocol's action set and a split's
        subjects).
    keypoint_window : int
        Frames of 2-D keypoints per sample, centred on the target frame (odd; sequence edges
        repeat the edge frame). 1 gives ``(17, 2)``, more gives ``(T, 17, 2)``.

    Raises
    ------
    RecordingError
        As :func:`find_sequences` and :meth:`MMFiSequence.frame_files` (all folders are checked
        when the dataset is built, so a bad file tree fails at once, naming the folder).
    ValueError
        Unknown modality or an even ``keypoint_window``.

    Notes
    -----
    ``dataset[i]`` is ``(inputs, target)``: ``inputs`` maps modality to a numpy array
    (``rgb`` float32 ``(17, 2)`` or ``(T, 17, 2)`` pixels; ``lidar`` float64 ``(N, 3)``;
    ``mmwave`` float64 ``(N, 5)``; ``wifi-csi`` float32 ``(3, 114, 10)``), ``target`` is float32
    ``(17, 3)`` metres. Use :func:`collate_mmfi` as the DataLoader's ``collate_fn``.
    """

    def __init__(self, root: str | os.PathLike, modalities: Sequence[str],
                 subjects: Iterable[str] | None = None, actions: Iterable[str] | None = None,
                 keypoint_window: int = 1):
        modalities = tuple(modalities)
        unknown = [m for m in modalities if m not in MMFI_MODALITIES]
        if unknown or not modalities:
            raise ValueError(f"modalities must be from {sorted(MMFI_MODALITIES)}, got {modalities}")
        if keypoint_window < 1 or keypoint_window % 2 == 0:
            raise ValueError(f"keypoint_window must be odd and >= 1, got {keypoint_window}")
        self.modalities = modalities
        self.keypoint_window = keypoint_window
        self.sequences = find_sequences(root, subjects, actions)
        self._gt: list[np.ndarray] = []
        self._files: list[dict[str, list[Path]]] = []
        index = []
        for s, seq in enumerate(self.sequences):
            gt = seq.ground_truth()
            self._gt.append(gt)
            self._files.append({m: seq.frame_files(m, n_frames=len(gt)) for m in modalities})
            index += [(s, f) for f in range(len(gt))]
        self._index = np.asarray(index, dtype=np.int64).reshape(-1, 2)

    def __len__(self) -> int:
        return len(self._index)

    def __getitem__(self, i: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
        s, f = (int(v) for v in self._index[i])
        files = self._files[s]
        inputs = {}
        for m in self.modalities:
            if m == "rgb" and self.keypoint_window > 1:
                half = self.keypoint_window // 2
                n = len(files[m])
                frames = np.clip(np.arange(f - half, f + half + 1), 0, n - 1)
                inputs[m] = np.stack([read_keypoints_frame(files[m][k]) for k in frames])
            else:
                inputs[m] = _READERS[m](files[m][f])
        return inputs, self._gt[s][f]


def collate_mmfi(samples: Sequence[tuple[Mapping[str, np.ndarray], np.ndarray]],
                 max_points: Mapping[str, int] | int | None = None,
                 ) -> tuple[dict[str, torch.Tensor | tuple[torch.Tensor, torch.Tensor]], torch.Tensor]:
    """Batch MM-Fi samples for :class:`radarkit.models.awc.AWCPoseModel`.

    Parameters
    ----------
    samples : sequence of (inputs, target)
        Items of :class:`MMFiDataset` (or any source with the same layout).
    max_points : int or mapping of str to int, optional
        Cap on points per cloud (per modality with a mapping); larger clouds are thinned
        evenly. None: pad to the largest cloud of the batch.

    Returns
    -------
    inputs : dict
        ``rgb`` and ``wifi-csi`` as stacked float32 tensors; ``lidar`` and ``mmwave`` as
        ``(points (B, N, C) float32, mask (B, N) bool)`` (:func:`radarkit.models.awc.pad_point_sets`).
    target : Tensor of float32, shape (B, 17, 3)
        Joints in metres.
    """
    from radarkit.models.awc import pad_point_sets

    if not samples:
        raise ValueError("empty batch")
    inputs: dict[str, torch.Tensor | tuple[torch.Tensor, torch.Tensor]] = {}
    for m in samples[0][0]:
        values = [s[0][m] for s in samples]
        if m in ("lidar", "mmwave"):
            cap = max_points.get(m) if isinstance(max_points, Mapping) else max_points
            inputs[m] = pad_point_sets(values, cap)
        else:
            inputs[m] = torch.from_numpy(np.stack(values).astype(np.float32))
    target = torch.from_numpy(np.stack([s[1] for s in samples]).astype(np.float32))
    return inputs, target
