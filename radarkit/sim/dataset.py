"""Synthetic pose datasets: sequences of raw recordings with per-frame ground truth, and splits.

Folder layout written by :func:`write_dataset` (and ``radarkit simulate``)::

    DIR/
      dataset.json                 scene (radar mounts, camera, clutter), radar configuration,
                                   subjects (body proportions, rates), sequences, seed
      splits.json                  leave-subjects-out train/val/test sequence lists and
                                   leave-one-person-out folds (:func:`subject_splits`, :func:`lopo_folds`)
      hrnet_annot_train.json       HuPR's annotation layout: one list per sequence of the split (in
      hrnet_annot_val.json         splits.json "hupr" order) of per-frame blocks {"image":
      hrnet_annot_test.json        "000000000.jpg", "joints": [[u, v] x 14], "bbox": [x0, y0, x1, y1]}
      single_1/                    one sequence (HuPR naming, numbered from 1)
        hori/adc_data.bin          DCA1000 recording of the horizontal radar (int16, the config's layout)
        hori/radar.cfg             matching mmWave SDK configuration
        vert/adc_data.bin, vert/radar.cfg     the vertical radar (when recorded)
        annot/hrnet_annot.json     HuPR's per-sequence list of blocks (as above)
        annot/radarkit.json        radarkit ground truth (see below)
      single_2/ ...

``annot/radarkit.json`` holds, per frame ``f`` (frame time ``f * frame_period_s``; the pose is
taken at the centre of the frame's chirps): ``joints3d[skeleton]`` (F, J, 3) metres in the scene
frame (= the horizontal radar's frame: x right, y boresight, z up), ``keypoints2d[skeleton]``
(F, J, 2) camera pixels of a 256 x 256 image, ``bbox_xyxy`` (F, 4) pixels, ``action`` (F,) labels,
``subject_id`` (F,), for the skeletons ``hupr14`` and ``coco13``, plus the script's segments and,
with a bystander, the bystander's joints. :func:`load_annotations` returns them as float32 arrays.

Randomness is keyed, not sequential: every sequence, person and radar draws from its own
``SeedSequence(seed, spawn_key=...)`` stream, so the same seed gives the same bytes whatever the
order of work, and adding a radar does not change the other radar's samples.

References
----------
.. [1] S.-P. Lee et al., "HuPR", WACV 2023, sec. 3.2 and 5.1; official code
   robert80203/HuPR-A-Benchmark-for-Human-Pose-Estimation-Using-Millimeter-Wave-Radar
   (``hrnet_annot_<phase>.json`` layout, ``single_<n>`` sequence folders).
.. [2] MAEPose (``shared/papers/maepose.txt``): leave-one-person-out cross-validation.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from radarkit.atomic import atomic_output
from radarkit.config.radar import RadarConfig
from radarkit.config.sdk_cfg import format_sdk_cfg
from radarkit.errors import StoreError
from radarkit.io.writer import write_recording
from radarkit.sim.camera import keypoint_bbox
from radarkit.sim.human import to_skeleton
from radarkit.sim.motions import ACTIONS, Segment, Subject, check_action_order, make_script
from radarkit.sim.scatterers import noise_std_for_snr
from radarkit.sim.scene import RADAR_NAMES, Scene, actor_scatterers, iter_radar_frames, make_scene
from radarkit.skeleton import get_skeleton

__all__ = [
    "SKELETON_NAMES",
    "load_annotations",
    "lopo_folds",
    "simulate_sequence",
    "subject_splits",
    "write_dataset",
]

#: Skeletons stored per frame.
SKELETON_NAMES: tuple[str, ...] = ("hupr14", "coco13")
_FORMAT = "radarkit-sim-annotations"
_VERSION = 1
# spawn-key streams of a sequence
_STREAM_SCRIPT, _STREAM_DROPOUT, _STREAM_BYSTANDER, _STREAM_NOISE = 0, 1, 2, 3


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def _write_json(path: Path, data: Any, force: bool) -> None:
    with atomic_output(path, force) as tmp:
        tmp.write_text(json.dumps(data, separators=(",", ":")) + "\n", encoding="utf-8")


def _hupr_blocks(keypoints: np.ndarray, bbox: np.ndarray) -> list[dict]:
    """HuPR's per-frame annotation blocks (14 joints, [x0, y0, x1, y1] box)."""
    kp = np.round(keypoints.astype(np.float64), 2)
    bb = np.round(bbox.astype(np.float64), 2)
    return [{"image": f"{f:09d}.jpg", "joints": kp[f].tolist(), "bbox": bb[f].tolist()}
            for f in range(len(kp))]


def simulate_sequence(
    out_dir: str | os.PathLike,
    config: RadarConfig,
    scene: Scene,
    subject: Subject,
    script: list[Segment],
    n_frames: int,
    seed: int = 0,
    sequence_index: int = 0,
    bystander: Subject | None = None,
    gain: float = 2000.0,
    noise_std: float = 0.0,
    keep_probability: float = 0.6,
    progress: Callable[[int, int], None] | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Simulate one sequence: a recording per radar and its annotations.

    Parameters
    ----------
    out_dir : str or os.PathLike
        Sequence folder (created): ``<radar>/adc_data.bin``, ``<radar>/radar.cfg``,
        ``annot/radarkit.json``, ``annot/hrnet_annot.json``.
    config : RadarConfig
        Configuration of every radar (HuPR's radars share it); ``n_frames`` is set.
    scene : Scene
        Radars, camera and clutter.
    subject : Subject
        The annotated person.
    script : list of Segment
        What the subject does (:func:`radarkit.sim.motions.make_script`).
    n_frames : int
        Frames to record.
    seed : int
        Dataset seed; with ``sequence_index`` it keys the drop-out, bystander and noise streams.
    sequence_index : int
        Index of the sequence in its dataset.
    bystander : Subject, optional
        A second, unannotated person walking in the background.
    gain : float
        Amplitude (counts) of a 1 m^2 scatterer at 1 m.
    noise_std : float
        Complex thermal-noise standard deviation (counts).
    keep_probability : float
        Per-frame probability that a body patch reflects (specular sparsity).
    progress : callable, optional
        Called as ``progress(frames_done, bytes_done)`` with cumulative counts over the radars.
    force : bool
        Replace existing files.

    Returns
    -------
    dict
        Summary: name, subject id, frames, radars, file paths, action labels used.

    Raises
    ------
    StoreError
        An output exists (without ``force``) or cannot be written.
    """
    out = Path(out_dir)
    config = config.replace(n_frames=n_frames)
    actor = actor_scatterers(subject, script, config, n_frames, scene.floor_z,
                             _rng(seed, sequence_index, _STREAM_DROPOUT), keep_probability)
    actors = [actor]
    by_joints = None
    if bystander is not None:
        brng = _rng(seed, sequence_index, _STREAM_BYSTANDER)
        duration = n_frames * config.frame_period_s
        by_script = make_script("walk", duration + 1.0, bystander, brng, segment_s=duration + 1.0,
                                area=((-2.0, 2.0), (4.6, 5.5)))
        by = actor_scatterers(bystander, by_script, config, n_frames, scene.floor_z, brng,
                              keep_probability)
        actors.append(by)
        by_joints = by.joints
    files: list[str] = []
    done_frames = done_bytes = 0
    for radar in scene.radars:
        folder = out / radar.name
        folder.mkdir(parents=True, exist_ok=True)
        noise_seed = np.random.SeedSequence(
            seed, spawn_key=(sequence_index, _STREAM_NOISE, RADAR_NAMES.index(radar.name)))

        def counted(chunks):
            nonlocal done_frames, done_bytes
            for c in chunks:
                yield c
                done_frames += len(c)
                done_bytes += len(c) * config.bytes_per_frame
                if progress is not None:
                    progress(done_frames, done_bytes)

        frames = iter_radar_frames(config, scene, radar.name, actors, gain, noise_std, noise_seed)
        write_recording(folder / "adc_data.bin", counted(frames), config, force=force)
        with atomic_output(folder / "radar.cfg", force) as tmp:
            tmp.write_text(format_sdk_cfg(config), encoding="utf-8")
        files += [str(folder / "adc_data.bin"), str(folder / "radar.cfg")]

    annot = out / "annot"
    annot.mkdir(parents=True, exist_ok=True)
    labels = [script[i].action for i in actor.segment]
    truth: dict[str, Any] = {
        "format": _FORMAT, "version": _VERSION, "sequence": out.name,
        "subject_id": subject.subject_id, "n_frames": n_frames,
        "frame_period_s": config.frame_period_s,
        "pose_time_offset_s": 0.5 * config.n_chirps * config.chirp_time_s,
        "frame": "scene frame = horizontal radar frame: x right, y boresight, z up (m)",
        "image_size": list(scene.camera.image_size),
        "skeletons": {}, "joints3d": {}, "keypoints2d": {},
        "action": labels, "subject_id_per_frame": [subject.subject_id] * n_frames,
        "segments": [{"action": s.action, "variant": s.variant, "start_s": s.start_s,
                      "duration_s": s.duration_s} for s in script],
    }
    hupr_kp = None
    for name in SKELETON_NAMES:
        j3 = to_skeleton(actor.joints, name)
        kp = scene.camera.project(j3)
        truth["skeletons"][name] = list(get_skeleton(name).joints)
        truth["joints3d"][name] = np.round(j3.astype(np.float64), 4).tolist()
        truth["keypoints2d"][name] = np.round(kp.astype(np.float64), 2).tolist()
        if name == "hupr14":
            hupr_kp = kp
    # box around all body-model joints (head top, feet) with a small margin
    all_kp = scene.camera.project(actor.joints)
    hupr_box = keypoint_bbox(all_kp, 0.05, scene.camera.image_size)
    truth["bbox_xyxy"] = np.round(hupr_box.astype(np.float64), 2).tolist()
    if by_joints is not None:
        truth["bystander_joints3d"] = {"hupr14": np.round(
            to_skeleton(by_joints, "hupr14").astype(np.float64), 4).tolist()}
    _write_json(annot / "radarkit.json", truth, force)
    _write_json(annot / "hrnet_annot.json", _hupr_blocks(hupr_kp, hupr_box), force)
    files += [str(annot / "radarkit.json"), str(annot / "hrnet_annot.json")]
    return {"name": out.name, "subject_id": subject.subject_id, "n_frames": n_frames,
            "radars": [r.name for r in scene.radars], "files": files,
            "actions": sorted(set(labels), key=ACTIONS.index)}


def load_annotations(sequence_dir: str | os.PathLike) -> dict[str, Any]:
    """Read a sequence's ``annot/radarkit.json`` into arrays.

    Parameters
    ----------
    sequence_dir : str or os.PathLike
        Sequence folder.

    Returns
    -------
    dict
        ``joints3d`` and ``keypoints2d``: dicts of float32 arrays ``(F, J, 3)`` / ``(F, J, 2)``
        per skeleton; ``bbox_xyxy`` float32 ``(F, 4)``; ``action`` ndarray of str ``(F,)``;
        ``subject_id`` int64 ``(F,)``; the other keys as stored.

    Raises
    ------
    StoreError
        Missing file or not a radarkit simulation annotation.
    """
    path = Path(sequence_dir) / "annot" / "radarkit.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StoreError("no annotation file", source=path) from None
    except json.JSONDecodeError as err:
        raise StoreError(f"not valid JSON ({err})", source=path) from None
    if data.get("format") != _FORMAT:
        raise StoreError(f"not a radarkit simulation annotation (format {data.get('format')!r})",
                         source=path)
    for key in ("joints3d", "keypoints2d"):
        data[key] = {k: np.asarray(v, dtype=np.float32) for k, v in data[key].items()}
    data["bbox_xyxy"] = np.asarray(data["bbox_xyxy"], dtype=np.float32)
    data["action"] = np.asarray(data["action"])
    data["subject_id"] = np.asarray(data.pop("subject_id_per_frame"), dtype=np.int64)
    return data


def subject_splits(subject_ids: list[int], n_val: int | None = None, n_test: int | None = None,
                   seed: int = 0) -> dict[str, list[int]]:
    """Leave-subjects-out split: each subject's sequences go to exactly one of train/val/test.

    Parameters
    ----------
    subject_ids : list of int
        Distinct subject identifiers.
    n_val, n_test : int, optional
        Subjects held out for validation and test; default ``round(0.2 n)`` each, at least one
        test subject from 2 subjects on and one validation subject from 3 on.
    seed : int
        Shuffles the subjects.

    Returns
    -------
    dict
        ``{"train": [...], "val": [...], "test": [...]}`` subject ids (sorted).

    Raises
    ------
    ValueError
        Repeated ids, or more held-out subjects than subjects minus one.
    """
    ids = list(subject_ids)
    if len(set(ids)) != len(ids):
        raise ValueError(f"repeated subject ids in {ids}")
    n = len(ids)
    if n_test is None:
        n_test = max(1, round(0.2 * n)) if n >= 2 else 0
    if n_val is None:
        n_val = max(1, round(0.2 * n)) if n >= 3 else 0
    if n and n_val + n_test > n - 1:
        raise ValueError(f"{n_val} validation + {n_test} test subjects leave none of {n} to train")
    order = list(np.random.default_rng(seed).permutation(ids)) if n else []
    test, val, train = order[:n_test], order[n_test:n_test + n_val], order[n_test + n_val:]
    return {"train": sorted(int(i) for i in train), "val": sorted(int(i) for i in val),
            "test": sorted(int(i) for i in test)}


def lopo_folds(subject_ids: list[int]) -> list[dict[str, Any]]:
    """Leave-one-person-out folds: fold ``k`` tests on subject ``k`` and trains on the others.

    Parameters
    ----------
    subject_ids : list of int

    Returns
    -------
    list of dict
        ``{"test_subject": id, "train_subjects": [...]}`` per subject, in sorted id order.
    """
    ids = sorted(int(i) for i in subject_ids)
    return [{"test_subject": s, "train_subjects": [i for i in ids if i != s]} for s in ids]


def write_dataset(
    out: str | os.PathLike,
    config: RadarConfig,
    scene: str = "walk_wave",
    n_subjects: int = 3,
    seconds: float = 60.0,
    radars: tuple[str, ...] = RADAR_NAMES,
    seed: int = 0,
    sequences_per_subject: int = 1,
    bystander: bool = False,
    clutter: bool = True,
    snr_db: float = 10.0,
    gain: float = 2000.0,
    progress: Callable[[int, int], None] | None = None,
    force: bool = False,
    segment_s: float = 10.0,
    action_order: str = "random",
) -> dict[str, Any]:
    """Simulate a whole dataset (see the module docstring for the layout).

    Parameters
    ----------
    out : str or os.PathLike
        Dataset folder (created).
    config : RadarConfig
        Radar configuration (e.g. preset ``iwr1843-3tx``, HuPR's chirp).
    scene : str
        Scene name (:data:`radarkit.sim.motions.SCENE_ACTIONS`) or a single action.
    n_subjects : int
        Simulated people, ids 1..n.
    seconds : float
        Length of each sequence (s).
    radars : tuple of str
        Radars to record (subset of ``("hori", "vert")``).
    seed : int
        Seed of everything (same seed, same bytes).
    sequences_per_subject : int
        Sequences recorded per subject.
    bystander : bool
        Add a walking, unannotated bystander behind the subject.
    clutter : bool
        Walls and furniture.
    snr_db : float
        Per-sample SNR of a 1 m^2 scatterer at 5 m (:func:`radarkit.sim.scatterers.noise_std_for_snr`).
    gain : float
        Amplitude (counts) of a 1 m^2 scatterer at 1 m.
    progress : callable, optional
        ``progress(frames_done, bytes_done)`` over all radars and sequences (total
        ``n_subjects * sequences_per_subject * len(radars) * frames``).
    force : bool
        Replace existing files.
    segment_s : float
        Length of each action segment of a sequence's script (s).
    action_order : {"random", "cycle"}
        How a script orders the scene's actions (:func:`radarkit.sim.motions.make_script`):
        ``"cycle"`` makes every subject perform every action when the sequence holds at least
        that many segments (e.g. scene ``exercise``, 20 s, ``segment_s=5``).

    Returns
    -------
    dict
        The content of ``dataset.json``.

    Raises
    ------
    ValueError
        Bad counts, durations, scene, action order or radar names.
    StoreError
        Outputs exist (without ``force``) or cannot be written.
    """
    if n_subjects < 1 or sequences_per_subject < 1:
        raise ValueError("need at least one subject and one sequence per subject")
    if not segment_s > 0:
        raise ValueError(f"segment_s must be positive, got {segment_s}")
    check_action_order(action_order)  # before anything is written
    n_frames = int(round(seconds / config.frame_period_s))
    if n_frames < 1:
        raise ValueError(f"{seconds} s is shorter than one frame ({config.frame_period_s} s)")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if not force:
        for name in ("dataset.json", "splits.json"):
            if (out / name).exists():
                raise StoreError("output exists; pass --force (force=True) to replace it",
                                 source=out / name)
    the_scene = make_scene(_rng(seed, 1_000_000), tuple(radars), clutter)
    subjects = [Subject.random(i + 1, _rng(seed, 2_000_000 + i)) for i in range(n_subjects)]
    noise_std = noise_std_for_snr(snr_db, gain)
    sequences = []
    done = [0, 0]
    per_seq = n_frames * len(the_scene.radars)
    for s in range(n_subjects * sequences_per_subject):
        subject = subjects[s // sequences_per_subject]
        script = make_script(scene, n_frames * config.frame_period_s, subject,
                             _rng(seed, s, _STREAM_SCRIPT), segment_s=segment_s, action_order=action_order)
        other = None
        if bystander:
            other = Subject.random(0, _rng(seed, s, _STREAM_BYSTANDER, 1))

        def seq_progress(frames: int, nbytes: int, base=s) -> None:
            if progress is not None:
                progress(base * per_seq + frames, done[1] + nbytes)

        summary = simulate_sequence(out / f"single_{s + 1}", config, the_scene, subject, script,
                                    n_frames, seed, s, other, gain, noise_std,
                                    progress=seq_progress, force=force)
        done[1] += per_seq * config.bytes_per_frame
        summary.pop("files")
        sequences.append(summary)

    splits = subject_splits([sj.subject_id for sj in subjects], seed=seed)
    by_subject: dict[int, list[str]] = {}
    for q in sequences:
        by_subject.setdefault(q["subject_id"], []).append(q["name"])
    split_seqs = {k: [n for sid in v for n in by_subject[sid]] for k, v in splits.items()}
    folds = [{**f, "train": [n for sid in f["train_subjects"] for n in by_subject[sid]],
              "test": by_subject[f["test_subject"]]} for f in lopo_folds(list(by_subject))]
    split_doc = {
        "subjects": splits, "sequences": split_seqs,
        "hupr": {k: [int(n.split("_")[1]) for n in v] for k, v in split_seqs.items()},
        "lopo_folds": folds,
    }
    for phase, names in split_seqs.items():
        blocks = [json.loads((out / n / "annot" / "hrnet_annot.json").read_text()) for n in names]
        _write_json(out / f"hrnet_annot_{phase}.json", blocks, force)
    meta = {
        "format": "radarkit-sim-dataset", "version": _VERSION, "seed": seed, "scene": scene,
        "seconds": seconds, "n_frames": n_frames, "sequences_per_subject": sequences_per_subject,
        "segment_s": segment_s, "action_order": action_order,
        "bystander": bystander, "snr_db": snr_db, "noise_std_counts": noise_std, "gain": gain,
        "config": config.replace(n_frames=n_frames).to_dict(), "setup": the_scene.to_dict(),
        "subjects": [{"subject_id": sj.subject_id, "height_m": sj.body.height_m,
                      "width_scale": sj.body.width_scale, "arm_scale": sj.body.arm_scale,
                      "leg_scale": sj.body.leg_scale, "walk_speed_mps": sj.walk_speed_mps,
                      "cadence_hz": sj.cadence_hz, "wave_hz": sj.wave_hz,
                      "exercise_period_s": sj.exercise_period_s} for sj in subjects],
        "sequences": sequences, "skeletons": list(SKELETON_NAMES),
    }
    _write_json(out / "splits.json", split_doc, force)
    _write_json(out / "dataset.json", meta, force)
    return meta
