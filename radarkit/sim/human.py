"""Kinematic human model: body proportions, forward kinematics, joint sets and radar scatterers.

A body is a tree of rigid segments hung from the pelvis. Its pose at each instant is a handful of
numbers (:data:`POSE_KEYS`): the pelvis position on the floor plane, the facing direction (yaw),
the forward lean of the trunk and, for each of the eight limb segments (:data:`LIMB_SEGMENTS`),
a direction given by two angles in the body frame:

``d(theta, phi) = -cos(theta) z + sin(theta) (cos(phi) s + sin(phi) f)``

with ``f`` the facing direction, ``s`` the side of the limb (the person's right for R_ limbs, left
for L_ limbs) and ``z`` up: ``theta = 0`` hangs straight down, ``theta = pi/2, phi = 0`` points
sideways (lateral raise), ``theta = pi/2, phi = pi/2`` points forward (forward raise, a kick),
negative ``theta`` with ``phi = pi/2`` points backward. The pelvis height follows from the legs:
the lower ankle stays ``ankle_height`` above the floor (squats and kicks keep a foot on the floor).

Segment lengths are fractions of the standing height from D. A. Winter's anthropometric table
[1]_ (shoulder 0.818 H, hip 0.530 H, knee 0.285 H, ankle 0.039 H, upper arm 0.186 H, forearm
0.146 H, shoulder width 0.259 H, hip width 0.191 H). Per-subject variation scales height, widths
and limb lengths (:meth:`BodyShape.random`).

Joints are computed for an internal superset (:data:`JOINT_NAMES`) and picked by name into HuPR's
14 joints (``Head`` = top of the head, ``Neck`` = base of the neck between the shoulders) or
MAEPose's COCO-13 joints (``nose`` in front of the face) with :func:`to_skeleton`.

Radar scatterers are patches on the body surface: rings of points around each segment (torso,
head, arms, legs), each with an outward normal and an RCS. :func:`patch_positions` moves them
with the skeleton; :func:`patch_rcs` applies specular sparsity: a patch reflects towards the
radar only while its normal faces it, and each patch drops out at random from frame to frame
(human returns are a few specular glints, not the whole silhouette [2]_).

All positions are metres in the scene frame of :mod:`radarkit.sim` (x right, y along the
reference radar's boresight, z up).

References
----------
.. [1] D. A. Winter, "Biomechanics and Motor Control of Human Movement", 4th ed., Wiley, 2009,
   fig. 4.1 (segment lengths as fractions of body height).
.. [2] V. C. Chen, "The Micro-Doppler Effect in Radar", Artech House, 2011, ch. 5 (human body
   models: point scatterers on body segments, Boulic walking model).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from radarkit.skeleton import Skeleton, get_skeleton

__all__ = [
    "BodyShape",
    "JOINT_NAMES",
    "LIMB_SEGMENTS",
    "POSE_KEYS",
    "PatchSet",
    "body_patches",
    "forward_kinematics",
    "patch_positions",
    "patch_rcs",
    "segment_direction",
    "to_skeleton",
]

#: Internal joints, a superset of HuPR-14 and COCO-13 (``pelvis`` is the midpoint of the hips).
JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "R_Hip", "R_Knee", "R_Ankle", "L_Hip", "L_Knee", "L_Ankle", "Neck", "Head", "nose",
    "L_Shoulder", "L_Elbow", "L_Wrist", "R_Shoulder", "R_Elbow", "R_Wrist", "head_centre",
)
_J = {name: i for i, name in enumerate(JOINT_NAMES)}

#: Limb segments whose directions a pose sets, in the order of the ``angles`` pose array.
LIMB_SEGMENTS: tuple[str, ...] = (
    "R_upper_arm", "R_forearm", "L_upper_arm", "L_forearm", "R_thigh", "R_shank", "L_thigh",
    "L_shank",
)

#: Pose arrays (leading axis: time): ``root_xy`` (T, 2) pelvis position on the floor plane (m),
#: ``yaw`` (T,) facing angle (rad, 0 faces the radar, positive turns towards +x... see
#: :func:`facing_vectors`), ``lean`` (T,) forward trunk lean (rad), ``angles`` (T, 8, 2) the
#: ``(theta, phi)`` of each limb segment (rad).
POSE_KEYS: tuple[str, ...] = ("root_xy", "yaw", "lean", "angles")


@dataclass(frozen=True)
class BodyShape:
    """Segment lengths and widths of one person (m).

    Parameters
    ----------
    height_m : float
        Standing height (top of the head above the floor).
    width_scale : float
        Factor on shoulder and hip widths and on limb radii.
    arm_scale, leg_scale : float
        Factors on the arm and leg segment lengths.

    References
    ----------
    D. A. Winter, "Biomechanics and Motor Control of Human Movement", fig. 4.1.
    """

    height_m: float = 1.72
    width_scale: float = 1.0
    arm_scale: float = 1.0
    leg_scale: float = 1.0

    @property
    def upper_arm(self) -> float:
        """Shoulder-elbow length, 0.186 H."""
        return 0.186 * self.height_m * self.arm_scale

    @property
    def forearm(self) -> float:
        """Elbow-wrist length, 0.146 H."""
        return 0.146 * self.height_m * self.arm_scale

    @property
    def thigh(self) -> float:
        """Hip-knee length, (0.530 - 0.285) H."""
        return 0.245 * self.height_m * self.leg_scale

    @property
    def shank(self) -> float:
        """Knee-ankle length, (0.285 - 0.039) H."""
        return 0.246 * self.height_m * self.leg_scale

    @property
    def ankle_height(self) -> float:
        """Ankle above the floor, 0.039 H."""
        return 0.039 * self.height_m

    @property
    def trunk(self) -> float:
        """Pelvis (hip level) to neck (shoulder level), (0.818 - 0.530) H."""
        return 0.288 * self.height_m

    @property
    def head(self) -> float:
        """Neck (shoulder level) to the top of the head, (1 - 0.818) H."""
        return 0.182 * self.height_m

    @property
    def shoulder_width(self) -> float:
        """Distance between the shoulder joints, 0.259 H."""
        return 0.259 * self.height_m * self.width_scale

    @property
    def hip_width(self) -> float:
        """Distance between the hip joints, 0.191 H."""
        return 0.191 * self.height_m * self.width_scale

    @classmethod
    def random(cls, rng: np.random.Generator) -> BodyShape:
        """A random adult: height ~ N(1.70 m, 0.08 m) clipped to 1.50..1.95 m, widths and limb
        lengths within about +-5 %.

        Parameters
        ----------
        rng : numpy.random.Generator

        Returns
        -------
        BodyShape
        """
        h = float(np.clip(rng.normal(1.70, 0.08), 1.50, 1.95))
        w, a, g = np.clip(rng.normal(1.0, 0.05, 3), 0.88, 1.12)
        return cls(h, float(w), float(a), float(g))


def facing_vectors(yaw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Body-frame axes for facing angles ``yaw``.

    ``yaw = 0`` faces the radar (``f = -y``); positive yaw turns the person towards +x
    (``f = (sin yaw, -cos yaw, 0)``). The person's left is ``l = z x f``.

    Parameters
    ----------
    yaw : ndarray of float, shape (T,)
        Facing angles (rad).

    Returns
    -------
    f, l : ndarray of float64, shape (T, 3)
        Forward and left unit vectors (scene frame).
    """
    yaw = np.asarray(yaw, dtype=np.float64)
    zero = np.zeros_like(yaw)
    f = np.stack([np.sin(yaw), -np.cos(yaw), zero], axis=-1)
    left = np.stack([np.cos(yaw), np.sin(yaw), zero], axis=-1)  # z x f
    return f, left


def segment_direction(theta: np.ndarray, phi: np.ndarray, side: np.ndarray,
                      forward: np.ndarray) -> np.ndarray:
    """Unit direction ``-cos(theta) z + sin(theta) (cos(phi) side + sin(phi) forward)``.

    Parameters
    ----------
    theta, phi : ndarray of float, shape (T,)
        Swing angle from hanging down and its azimuth from the side towards the front (rad).
    side, forward : ndarray of float, shape (T, 3)
        Unit vectors of the limb's side and the facing direction (horizontal).

    Returns
    -------
    ndarray of float64, shape (T, 3)
    """
    st = np.sin(theta)[:, None]
    horiz = np.cos(phi)[:, None] * side + np.sin(phi)[:, None] * forward
    d = st * horiz
    d[:, 2] -= np.cos(theta)
    return d


def forward_kinematics(body: BodyShape, pose: dict[str, np.ndarray], floor_z: float) -> np.ndarray:
    """Joint positions of a body in a sequence of poses.

    Parameters
    ----------
    body : BodyShape
        Segment lengths.
    pose : dict of ndarray
        :data:`POSE_KEYS` arrays with a common leading time axis ``T``.
    floor_z : float
        Height of the floor in the scene frame (m), e.g. minus the radar's mounting height.

    Returns
    -------
    ndarray of float64, shape (T, len(JOINT_NAMES), 3)
        Joint positions (m, scene frame), in :data:`JOINT_NAMES` order.
    """
    root = np.asarray(pose["root_xy"], dtype=np.float64)
    n = len(root)
    f, left = facing_vectors(pose["yaw"])
    up = np.zeros((n, 3))
    up[:, 2] = 1.0
    ang = np.asarray(pose["angles"], dtype=np.float64)
    dirs = {name: segment_direction(ang[:, i, 0], ang[:, i, 1], -left if name[0] == "R" else left, f)
            for i, name in enumerate(LIMB_SEGMENTS)}
    # Pelvis height: the lower ankle rests ankle_height above the floor.
    drop = np.maximum(-(body.thigh * dirs["R_thigh"][:, 2] + body.shank * dirs["R_shank"][:, 2]),
                      -(body.thigh * dirs["L_thigh"][:, 2] + body.shank * dirs["L_shank"][:, 2]))
    pelvis = np.zeros((n, 3))
    pelvis[:, :2] = root
    pelvis[:, 2] = floor_z + body.ankle_height + drop
    lean = np.asarray(pose["lean"], dtype=np.float64)[:, None]
    trunk_dir = np.cos(lean) * up + np.sin(lean) * f
    j = np.empty((n, len(JOINT_NAMES), 3))
    j[:, _J["pelvis"]] = pelvis
    neck = pelvis + body.trunk * trunk_dir
    j[:, _J["Neck"]] = neck
    j[:, _J["head_centre"]] = neck + 0.55 * body.head * trunk_dir
    j[:, _J["Head"]] = neck + body.head * trunk_dir
    j[:, _J["nose"]] = neck + 0.5 * body.head * trunk_dir + 0.055 * body.height_m * f
    for s, sign in (("R", -1.0), ("L", 1.0)):
        hip = pelvis + sign * 0.5 * body.hip_width * left
        knee = hip + body.thigh * dirs[f"{s}_thigh"]
        shoulder = neck + sign * 0.5 * body.shoulder_width * left
        elbow = shoulder + body.upper_arm * dirs[f"{s}_upper_arm"]
        j[:, _J[f"{s}_Hip"]] = hip
        j[:, _J[f"{s}_Knee"]] = knee
        j[:, _J[f"{s}_Ankle"]] = knee + body.shank * dirs[f"{s}_shank"]
        j[:, _J[f"{s}_Shoulder"]] = shoulder
        j[:, _J[f"{s}_Elbow"]] = elbow
        j[:, _J[f"{s}_Wrist"]] = elbow + body.forearm * dirs[f"{s}_forearm"]
    return j


def to_skeleton(joints: np.ndarray, skeleton: str | Skeleton) -> np.ndarray:
    """Pick a named joint set out of :func:`forward_kinematics` output.

    Parameters
    ----------
    joints : ndarray, shape (..., len(JOINT_NAMES), D)
        Internal joints.
    skeleton : str or Skeleton
        ``"hupr14"`` or ``"coco13"`` (any skeleton whose joints are in :data:`JOINT_NAMES`).

    Returns
    -------
    ndarray of float32, shape (..., n_joints, D)
        In the skeleton's joint order.

    Raises
    ------
    KeyError
        The skeleton names a joint the body model does not have (e.g. COCO-17's eyes).
    """
    sk = get_skeleton(skeleton)
    missing = [name for name in sk.joints if name not in _J]
    if missing:
        raise KeyError(f"skeleton {sk.name}: the body model has no joint(s) {', '.join(missing)}")
    return np.asarray(joints)[..., [_J[name] for name in sk.joints], :].astype(np.float32)


@dataclass(frozen=True)
class PatchSet:
    """Reflecting patches on a body, as rings of points around segments.

    Attributes
    ----------
    joint_a, joint_b : ndarray of int64, shape (P,)
        Segment end joints (:data:`JOINT_NAMES` indices); a patch sits at
        ``a + s (b - a) + radius n``.
    s : ndarray of float64, shape (P,)
        Position along the segment (0 at ``a``).
    radius : ndarray of float64, shape (P,)
        Distance from the segment axis (m).
    angle : ndarray of float64, shape (P,)
        Angle of the outward normal around the segment, from the body's forward side (rad).
    rcs : ndarray of float64, shape (P,)
        Radar cross-section of the patch when it faces the radar (m^2).
    """

    joint_a: np.ndarray
    joint_b: np.ndarray
    s: np.ndarray
    radius: np.ndarray
    angle: np.ndarray
    rcs: np.ndarray

    def __len__(self) -> int:
        return len(self.s)


#: (segment end a, end b, points along, points around, radius as a fraction of H, total RCS m^2).
_PATCH_LAYOUT = (
    ("pelvis", "Neck", 4, 5, 0.085, 0.60),
    ("Neck", "Head", 2, 3, 0.050, 0.10),
    ("R_Shoulder", "R_Elbow", 2, 3, 0.024, 0.06),
    ("R_Elbow", "R_Wrist", 3, 3, 0.020, 0.05),
    ("L_Shoulder", "L_Elbow", 2, 3, 0.024, 0.06),
    ("L_Elbow", "L_Wrist", 3, 3, 0.020, 0.05),
    ("R_Hip", "R_Knee", 3, 3, 0.035, 0.10),
    ("R_Knee", "R_Ankle", 3, 3, 0.027, 0.06),
    ("L_Hip", "L_Knee", 3, 3, 0.035, 0.10),
    ("L_Knee", "L_Ankle", 3, 3, 0.027, 0.06),
)


def body_patches(body: BodyShape) -> PatchSet:
    """The reflecting patches of a body (about 100 per person).

    Parameters
    ----------
    body : BodyShape
        Sets the segment radii (fractions of the height times ``width_scale``).

    Returns
    -------
    PatchSet
        Rings of patches around the torso, head, arms and legs; the total RCS facing the radar is
        about 1 m^2 (an adult at 77 GHz, [2]_ of the module docstring).
    """
    cols: dict[str, list] = {k: [] for k in ("a", "b", "s", "radius", "angle", "rcs")}
    for a, b, n_along, n_around, radius, total in _PATCH_LAYOUT:
        s = (np.arange(n_along) + 0.5) / n_along
        # rings around the segment, offset so that one patch faces forward
        ang = 2 * np.pi * np.arange(n_around) / n_around
        ss, aa = np.meshgrid(s, ang, indexing="ij")
        n = ss.size
        cols["a"] += [_J[a]] * n
        cols["b"] += [_J[b]] * n
        cols["s"] += list(ss.ravel())
        cols["angle"] += list(aa.ravel())
        cols["radius"] += [radius * body.height_m * body.width_scale] * n
        cols["rcs"] += [total / n] * n
    return PatchSet(np.array(cols["a"], np.int64), np.array(cols["b"], np.int64),
                    np.array(cols["s"]), np.array(cols["radius"]), np.array(cols["angle"]),
                    np.array(cols["rcs"]))


def patch_positions(joints: np.ndarray, patches: PatchSet, yaw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions and outward normals of the patches for a sequence of joint sets.

    The normal of a patch at angle ``alpha`` is ``cos(alpha) n1 + sin(alpha) n2`` with ``n1`` the
    body's forward direction made perpendicular to the segment (the left direction where the
    segment points forward) and ``n2 = u x n1`` (``u`` the segment's unit vector).

    Parameters
    ----------
    joints : ndarray of float, shape (T, len(JOINT_NAMES), 3)
        :func:`forward_kinematics` output.
    patches : PatchSet
    yaw : ndarray of float, shape (T,)
        Facing angles (rad), for the forward direction.

    Returns
    -------
    positions : ndarray of float64, shape (T, P, 3)
        Patch positions (m, scene frame).
    normals : ndarray of float64, shape (T, P, 3)
        Unit outward normals.
    """
    a = joints[:, patches.joint_a]  # (T, P, 3)
    b = joints[:, patches.joint_b]
    seg = b - a
    u = seg / np.maximum(np.linalg.norm(seg, axis=-1, keepdims=True), 1e-9)
    f, left = facing_vectors(yaw)
    ref = np.broadcast_to(f[:, None, :], u.shape)
    n1 = ref - np.sum(ref * u, axis=-1, keepdims=True) * u
    norm1 = np.linalg.norm(n1, axis=-1, keepdims=True)
    alt = np.broadcast_to(left[:, None, :], u.shape)
    alt = alt - np.sum(alt * u, axis=-1, keepdims=True) * u
    n1 = np.where(norm1 > 0.3, n1, alt)
    n1 /= np.maximum(np.linalg.norm(n1, axis=-1, keepdims=True), 1e-9)
    n2 = np.cross(u, n1)
    normal = np.cos(patches.angle)[:, None] * n1 + np.sin(patches.angle)[:, None] * n2
    pos = a + patches.s[:, None] * seg + patches.radius[:, None] * normal
    return pos, normal


def patch_rcs(positions: np.ndarray, normals: np.ndarray, patches: PatchSet,
              rng: np.random.Generator, keep_probability: float = 0.6,
              diffuse: float = 0.05, radar_position: np.ndarray | None = None) -> np.ndarray:
    """Per-frame RCS of the patches with specular sparsity and self-occlusion.

    A patch reflects ``rcs * max(cos(angle between normal and the direction to the radar), 0)^2
    + diffuse * rcs`` and is dropped in a frame with probability ``1 - keep_probability``
    (independently per frame and patch).

    Parameters
    ----------
    positions, normals : ndarray of float, shape (T, P, 3)
        :func:`patch_positions` output.
    patches : PatchSet
    rng : numpy.random.Generator
        Source of the drop-outs.
    keep_probability : float
        Probability that a patch reflects in a frame.
    diffuse : float
        Fraction of the RCS returned whatever the orientation (rough clothing, edges).
    radar_position : ndarray of float, shape (3,), optional
        Where the radar is (m, scene frame); default the origin.

    Returns
    -------
    ndarray of float64, shape (T, P)
        RCS (m^2); 0 for dropped patches.
    """
    origin = np.zeros(3) if radar_position is None else np.asarray(radar_position, float)
    to_radar = origin - positions
    to_radar /= np.maximum(np.linalg.norm(to_radar, axis=-1, keepdims=True), 1e-9)
    facing = np.clip(np.sum(to_radar * normals, axis=-1), 0.0, None) ** 2
    rcs = patches.rcs * (facing + diffuse)
    keep = rng.random(rcs.shape) < keep_probability
    return np.where(keep, rcs, 0.0)
