"""Scenes: radars (HuPR's horizontal + vertical pair), camera, static clutter and moving people.

The scene frame is the frame of the reference (horizontal) radar: origin at its antenna centre,
x right, y along its boresight, z up (``architecture.md``); the floor lies at
``z = -radar_height_m``. Every other sensor is a :class:`RadarMount` placed in that frame.
HuPR's vertical radar is the same board rolled by 90 degrees about its boresight and mounted a
few centimetres away [1]_: its azimuth axis points up, so its azimuth FFT resolves elevation and
its (two-row) elevation resolves the horizontal angle.

A sequence's scatterers are the patches of each person (:mod:`radarkit.sim.human`, moving,
with per-frame specular drop-out) plus static clutter (walls and furniture, fixed per scene).
:func:`actor_scatterers` samples a person at each frame: patch positions at the first chirp,
velocities held over the frame (central differences over +-5 ms about the frame's active centre,
which gives the Doppler progression), RCS per frame, and the ground-truth joints at the frame's
active centre.

References
----------
.. [1] S.-P. Lee et al., "HuPR", WACV 2023, sec. 3.1 (two IWR1843BOOST radars, one rotated by 90
   degrees on the antenna plane, kept about 3 cm apart; a camera on the same plane).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from radarkit.config.radar import RadarConfig
from radarkit.sim.camera import PinholeCamera
from radarkit.sim.human import body_patches, forward_kinematics, patch_positions, patch_rcs
from radarkit.sim.motions import Segment, Subject, evaluate_script
from radarkit.sim.scatterers import iter_scatterer_frames

__all__ = [
    "ActorSamples",
    "RADAR_NAMES",
    "RadarMount",
    "Scene",
    "actor_scatterers",
    "hupr_radars",
    "iter_radar_frames",
    "make_scene",
    "static_clutter",
]

#: Radar names of HuPR's pair, in the order used to key random streams.
RADAR_NAMES: tuple[str, ...] = ("hori", "vert")


@dataclass(frozen=True)
class RadarMount:
    """Where a radar sits in the scene and how it is rolled about its boresight.

    Parameters
    ----------
    name : str
        Folder name of its recordings (``hori``, ``vert``).
    position_m : tuple of float
        Antenna centre in the scene frame (m).
    roll_rad : float
        Rotation about the boresight (+y): the radar's own x axis (its azimuth direction) is
        ``(cos roll, 0, sin roll)`` in the scene frame; ``pi/2`` points it up (HuPR's vertical
        radar), and its own z axis is then ``(-1, 0, 0)``.
    """

    name: str
    position_m: tuple[float, float, float] = (0.0, 0.0, 0.0)
    roll_rad: float = 0.0

    @property
    def rotation(self) -> np.ndarray:
        """Rows: the radar's x, y, z axes in scene coordinates, float64 ``(3, 3)``."""
        c, s = np.cos(self.roll_rad), np.sin(self.roll_rad)
        return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])

    def to_radar(self, points: np.ndarray) -> np.ndarray:
        """Scene-frame points (..., 3) in this radar's frame (m)."""
        return (np.asarray(points, float) - np.asarray(self.position_m)) @ self.rotation.T

    def vectors_to_radar(self, vectors: np.ndarray) -> np.ndarray:
        """Scene-frame vectors (velocities, ..., 3) in this radar's frame."""
        return np.asarray(vectors, float) @ self.rotation.T

    def to_dict(self) -> dict:
        """JSON-ready description."""
        return {"name": self.name, "position_m": list(self.position_m), "roll_rad": self.roll_rad}


def hupr_radars(separation_m: float = 0.03) -> tuple[RadarMount, RadarMount]:
    """HuPR's radar pair: ``hori`` at the origin and ``vert`` rolled by 90 degrees beside it.

    Parameters
    ----------
    separation_m : float
        Offset of the vertical radar along +x (m).

    Returns
    -------
    tuple of RadarMount
        ``(hori, vert)``.
    """
    return RadarMount("hori"), RadarMount("vert", (float(separation_m), 0.0, 0.0), np.pi / 2)


def static_clutter(rng: np.random.Generator, floor_z: float = -1.0, room_depth_m: float = 6.0,
                   room_half_width_m: float = 2.5, n_furniture: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Static reflectors of a room: back wall, side walls and furniture.

    Parameters
    ----------
    rng : numpy.random.Generator
        Places the furniture and jitters the wall patches.
    floor_z : float
        Floor height in the scene frame (m).
    room_depth_m : float
        Distance of the back wall along y (m).
    room_half_width_m : float
        Distance of the side walls from the boresight plane (m).
    n_furniture : int
        Pieces of furniture (4 corner reflectors each) placed outside the walking area.

    Returns
    -------
    positions : ndarray of float64, shape (K, 3)
        Scene-frame positions (m).
    rcs : ndarray of float64, shape (K,)
        Radar cross-sections (m^2).
    """
    pts, rcs = [], []
    xs = np.linspace(-room_half_width_m + 0.3, room_half_width_m - 0.3, 6)
    zs = floor_z + np.array([0.4, 1.2, 2.0])
    for x in xs:
        for z in zs:
            pts.append((x + rng.normal(0, 0.05), room_depth_m + rng.normal(0, 0.02), z))
            rcs.append(rng.uniform(0.2, 0.8))
    for side in (-1.0, 1.0):
        for y in np.linspace(1.5, room_depth_m - 0.5, 4):
            pts.append((side * room_half_width_m, y + rng.normal(0, 0.05), floor_z + rng.uniform(0.3, 2.0)))
            rcs.append(rng.uniform(0.1, 0.4))
    for _ in range(n_furniture):
        side = rng.choice([-1.0, 1.0])
        cx = side * rng.uniform(1.4, room_half_width_m - 0.3)
        cy = rng.uniform(1.5, room_depth_m - 0.6)
        height = rng.uniform(0.4, 1.0)
        for dx, dy in ((-0.25, -0.2), (0.25, -0.2), (-0.25, 0.2), (0.25, 0.2)):
            pts.append((cx + dx, cy + dy, floor_z + height))
            rcs.append(rng.uniform(0.3, 1.5))
    return np.asarray(pts, dtype=np.float64), np.asarray(rcs, dtype=np.float64)


@dataclass(frozen=True)
class Scene:
    """Static set-up of a recording room.

    Parameters
    ----------
    radars : tuple of RadarMount
        The radars that record (one or two).
    camera : PinholeCamera
        The annotation camera.
    radar_height_m : float
        Height of the reference radar above the floor (m); the floor is at ``z = -radar_height_m``.
    clutter_xyz : ndarray of float64, shape (K, 3)
        Static reflectors (m, scene frame).
    clutter_rcs : ndarray of float64, shape (K,)
        Their radar cross-sections (m^2).
    """

    radars: tuple[RadarMount, ...]
    camera: PinholeCamera = field(default_factory=PinholeCamera)
    radar_height_m: float = 1.0
    clutter_xyz: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)), compare=False)
    clutter_rcs: np.ndarray = field(default_factory=lambda: np.zeros(0), compare=False)

    @property
    def floor_z(self) -> float:
        """Floor height in the scene frame (m)."""
        return -self.radar_height_m

    def radar(self, name: str) -> RadarMount:
        """The mount called ``name``; ``KeyError`` lists the known ones."""
        for r in self.radars:
            if r.name == name:
                return r
        raise KeyError(f"no radar {name!r} in the scene (have {', '.join(r.name for r in self.radars)})")

    def to_dict(self) -> dict:
        """JSON-ready description (radars, camera, height, clutter)."""
        return {
            "frame": "scene frame = frame of the reference (horizontal) radar: x right, "
                     "y boresight, z up (m); floor at z = -radar_height_m",
            "radars": [r.to_dict() for r in self.radars],
            "camera": {"position_m": list(self.camera.position_m),
                       "image_size": list(self.camera.image_size),
                       "fov_rad": self.camera.fov_rad, "focal_px": self.camera.focal_px,
                       "looks_along": [0.0, 1.0, 0.0]},
            "radar_height_m": self.radar_height_m,
            "clutter_xyz": np.round(self.clutter_xyz, 4).tolist(),
            "clutter_rcs": np.round(self.clutter_rcs, 4).tolist(),
        }


def make_scene(rng: np.random.Generator, radars: tuple[str, ...] = RADAR_NAMES,
               clutter: bool = True, radar_height_m: float = 1.0,
               separation_m: float = 0.03) -> Scene:
    """A room with HuPR's radar pair (or one of them), a camera beside them and clutter.

    Parameters
    ----------
    rng : numpy.random.Generator
        Places the clutter.
    radars : tuple of str
        Subset of :data:`RADAR_NAMES` to record with.
    clutter : bool
        Add walls and furniture (:func:`static_clutter`).
    radar_height_m : float
        Mounting height of the radars (m).
    separation_m : float
        Offset of the vertical radar (m).

    Returns
    -------
    Scene

    Raises
    ------
    ValueError
        Unknown or repeated radar names, or none.
    """
    mounts = dict(zip(RADAR_NAMES, hupr_radars(separation_m), strict=True))
    if not radars or len(set(radars)) != len(radars) or any(r not in mounts for r in radars):
        raise ValueError(f"radars must be distinct names from {', '.join(RADAR_NAMES)}, got {radars}")
    xyz, rcs = (static_clutter(rng, -radar_height_m) if clutter
                else (np.zeros((0, 3)), np.zeros(0)))
    return Scene(tuple(mounts[r] for r in radars), PinholeCamera(), radar_height_m, xyz, rcs)


@dataclass(frozen=True)
class ActorSamples:
    """A person sampled at every frame.

    Attributes
    ----------
    positions : ndarray of float64, shape (F, P, 3)
        Patch positions at each frame's first chirp (m, scene frame).
    velocities : ndarray of float64, shape (F, P, 3)
        Patch velocities held over each frame (m/s).
    rcs : ndarray of float64, shape (F, P)
        Per-frame RCS (m^2), 0 where a patch dropped out.
    joints : ndarray of float64, shape (F, len(JOINT_NAMES), 3)
        Ground-truth joints at each frame's active centre (m, scene frame).
    segment : ndarray of int64, shape (F,)
        Index of the script segment of each frame.
    """

    positions: np.ndarray
    velocities: np.ndarray
    rcs: np.ndarray
    joints: np.ndarray
    segment: np.ndarray


def actor_scatterers(subject: Subject, script: list[Segment], config: RadarConfig, n_frames: int,
                     floor_z: float, rng: np.random.Generator, keep_probability: float = 0.6,
                     first_frame: int = 0, step_s: float = 5e-3) -> ActorSamples:
    """Sample a scripted person at the frames of a capture.

    Parameters
    ----------
    subject : Subject
    script : list of Segment
    config : RadarConfig
        Frame period and chirp timing (the active part of a frame is
        ``n_chirps * chirp_time_s``).
    n_frames : int
        Frames to sample.
    floor_z : float
        Floor height (m, scene frame).
    rng : numpy.random.Generator
        Specular drop-outs (:func:`radarkit.sim.human.patch_rcs`).
    keep_probability : float
        Probability that a patch reflects in a frame.
    first_frame : int
        Index of the first frame (time ``first_frame * frame_period_s``).
    step_s : float
        Half-step of the central difference giving the velocities (s).

    Returns
    -------
    ActorSamples
    """
    active = config.n_chirps * config.chirp_time_s
    t_mid = (first_frame + np.arange(n_frames)) * config.frame_period_s + 0.5 * active
    patches = body_patches(subject.body)
    out = []
    for t in (t_mid, t_mid - step_s, t_mid + step_s):
        pose, seg = evaluate_script(script, subject, t)
        joints = forward_kinematics(subject.body, pose, floor_z)
        pos, normal = patch_positions(joints, patches, pose["yaw"])
        out.append((pos, normal, joints, seg))
    (p_mid, n_mid, joints, seg), (p_lo, *_), (p_hi, *_) = out
    vel = (p_hi - p_lo) / (2 * step_s)
    rcs = patch_rcs(p_mid, n_mid, patches, rng, keep_probability)
    return ActorSamples(p_mid - 0.5 * active * vel, vel, rcs, joints, seg)


def iter_radar_frames(config: RadarConfig, scene: Scene, radar: str, actors: list[ActorSamples],
                      gain: float = 2000.0, noise_std: float = 0.0,
                      seed: int | np.random.SeedSequence | None = 0, chunk: int = 8,
                      ) -> Iterator[np.ndarray]:
    """Quantised raw frames one radar of the scene records.

    Parameters
    ----------
    config : RadarConfig
        The radar's configuration.
    scene : Scene
        Mounts and static clutter.
    radar : str
        Name of the mount.
    actors : list of ActorSamples
        People sampled at the same frames (:func:`actor_scatterers`).
    gain : float
        Amplitude (counts) of a 1 m^2 scatterer at 1 m.
    noise_std : float
        Complex thermal-noise standard deviation (counts).
    seed : int, SeedSequence or None
        Noise seed.
    chunk : int
        Frames per yielded array.

    Yields
    ------
    ndarray of complex64, shape (<= chunk, n_loops, n_tx, n_rx, n_samples)
        Integer-valued samples (see :func:`radarkit.sim.scatterers.iter_scatterer_frames`).
    """
    mount = scene.radar(radar)
    n_frames = len(actors[0].positions) if actors else 1
    n_clutter = len(scene.clutter_xyz)
    pos = [np.broadcast_to(scene.clutter_xyz, (n_frames, n_clutter, 3))]
    vel = [np.zeros((n_frames, n_clutter, 3))]
    rcs = [np.broadcast_to(scene.clutter_rcs, (n_frames, n_clutter))]
    for a in actors:
        pos.append(a.positions)
        vel.append(a.velocities)
        rcs.append(a.rcs)
    yield from iter_scatterer_frames(
        config, mount.to_radar(np.concatenate(pos, axis=1)),
        mount.vectors_to_radar(np.concatenate(vel, axis=1)), np.concatenate(rcs, axis=1),
        gain=gain, noise_std=noise_std, quantise=True, seed=seed, chunk=chunk)
