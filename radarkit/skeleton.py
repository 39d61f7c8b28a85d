"""Named joint sets (skeletons) shared by the simulator, the metrics and the pose models.

A pose array is ``(frame, joint, 2|3)`` float32 (``architecture.md``); its joint order is named by a
:class:`Skeleton`. Three skeletons are defined:

* ``HUPR14``: HuPR's 14 joints, with HuPR's OKS sigmas (``learned-models.md``, HuPR evaluation);
* ``COCO13``: MAEPose's 13 joints (COCO without eyes and ears), in the MAEPose paper's order;
* ``COCO17``: the 17 COCO keypoints with the COCO OKS sigmas.

References
----------
.. [1] S.-P. Lee et al., "HuPR: A Benchmark for Human Pose Estimation Using Millimeter Wave Radar",
   WACV 2023 (joint order and OKS sigmas of the official evaluation).
.. [2] T.-Y. Lin et al., "Microsoft COCO: Common Objects in Context", ECCV 2014; COCO keypoint
   evaluation (OKS sigmas).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Skeleton", "HUPR14", "COCO13", "COCO17", "SKELETONS", "get_skeleton"]


@dataclass(frozen=True)
class Skeleton:
    """A named, ordered joint set with its bones.

    Parameters
    ----------
    name : str
        Skeleton name (``"hupr14"``, ``"coco13"``, ``"coco17"``).
    joints : tuple of str
        Joint names in array order.
    bones : tuple of (str, str)
        Bones as pairs of joint names (the kinematic tree, plus torso edges where useful).
    oks_sigmas : tuple of float or None
        Per-joint OKS constants (COCO convention, already divided by 10), or None.

    Raises
    ------
    ValueError
        Duplicate joint names, a bone naming an unknown joint, or sigmas of the wrong length.
    """

    name: str
    joints: tuple[str, ...]
    bones: tuple[tuple[str, str], ...]
    oks_sigmas: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if len(set(self.joints)) != len(self.joints):
            raise ValueError(f"skeleton {self.name}: duplicate joint names")
        for a, b in self.bones:
            if a not in self.joints or b not in self.joints:
                raise ValueError(f"skeleton {self.name}: bone ({a}, {b}) names an unknown joint")
        if self.oks_sigmas is not None and len(self.oks_sigmas) != len(self.joints):
            raise ValueError(f"skeleton {self.name}: {len(self.oks_sigmas)} OKS sigmas for "
                             f"{len(self.joints)} joints")

    @property
    def n_joints(self) -> int:
        """Number of joints."""
        return len(self.joints)

    def index(self, joint: str) -> int:
        """Array index of ``joint``; raises ``KeyError`` naming the skeleton if unknown."""
        try:
            return self.joints.index(joint)
        except ValueError:
            raise KeyError(f"skeleton {self.name} has no joint {joint!r}") from None

    @property
    def bone_index(self) -> np.ndarray:
        """Bones as joint indices, int64 of shape ``(n_bones, 2)``."""
        return np.array([(self.index(a), self.index(b)) for a, b in self.bones], dtype=np.int64)

    def adjacency(self, self_loops: bool = False) -> np.ndarray:
        """Symmetric joint adjacency matrix, float32 ``(n_joints, n_joints)``; ``A + I`` with
        ``self_loops`` (the graph PRGCN convolves over)."""
        a = np.zeros((self.n_joints, self.n_joints), dtype=np.float32)
        idx = self.bone_index
        a[idx[:, 0], idx[:, 1]] = 1.0
        a[idx[:, 1], idx[:, 0]] = 1.0
        if self_loops:
            a += np.eye(self.n_joints, dtype=np.float32)
        return a

    @property
    def sigmas(self) -> np.ndarray:
        """OKS sigmas, float64 ``(n_joints,)``; raises ``ValueError`` when the skeleton has none."""
        if self.oks_sigmas is None:
            raise ValueError(f"skeleton {self.name} has no OKS sigmas")
        return np.asarray(self.oks_sigmas, dtype=np.float64)


HUPR14 = Skeleton(
    "hupr14",
    ("R_Hip", "R_Knee", "R_Ankle", "L_Hip", "L_Knee", "L_Ankle", "Neck", "Head",
     "L_Shoulder", "L_Elbow", "L_Wrist", "R_Shoulder", "R_Elbow", "R_Wrist"),
    (("R_Hip", "R_Knee"), ("R_Knee", "R_Ankle"), ("L_Hip", "L_Knee"), ("L_Knee", "L_Ankle"),
     ("R_Hip", "L_Hip"), ("Neck", "R_Hip"), ("Neck", "L_Hip"), ("Neck", "Head"),
     ("Neck", "L_Shoulder"), ("L_Shoulder", "L_Elbow"), ("L_Elbow", "L_Wrist"),
     ("Neck", "R_Shoulder"), ("R_Shoulder", "R_Elbow"), ("R_Elbow", "R_Wrist")),
    tuple(s / 10.0 for s in (1.07, .87, .89, 1.07, .87, .89, 1.0, 1.0, .79, .72, .62, .79, .72, .62)),
)

COCO13 = Skeleton(
    "coco13",
    ("nose", "L_Shoulder", "L_Elbow", "L_Wrist", "R_Shoulder", "R_Elbow", "R_Wrist",
     "L_Hip", "R_Hip", "L_Knee", "R_Knee", "L_Ankle", "R_Ankle"),
    (("nose", "L_Shoulder"), ("nose", "R_Shoulder"), ("L_Shoulder", "R_Shoulder"),
     ("L_Shoulder", "L_Elbow"), ("L_Elbow", "L_Wrist"), ("R_Shoulder", "R_Elbow"),
     ("R_Elbow", "R_Wrist"), ("L_Shoulder", "L_Hip"), ("R_Shoulder", "R_Hip"), ("L_Hip", "R_Hip"),
     ("L_Hip", "L_Knee"), ("L_Knee", "L_Ankle"), ("R_Hip", "R_Knee"), ("R_Knee", "R_Ankle")),
    tuple(s / 10.0 for s in (.26, .79, .72, .62, .79, .72, .62, 1.07, 1.07, .87, .87, .89, .89)),
)

COCO17 = Skeleton(
    "coco17",
    ("nose", "L_Eye", "R_Eye", "L_Ear", "R_Ear", "L_Shoulder", "R_Shoulder", "L_Elbow",
     "R_Elbow", "L_Wrist", "R_Wrist", "L_Hip", "R_Hip", "L_Knee", "R_Knee", "L_Ankle", "R_Ankle"),
    (("nose", "L_Eye"), ("nose", "R_Eye"), ("L_Eye", "L_Ear"), ("R_Eye", "R_Ear"),
     ("L_Shoulder", "R_Shoulder"), ("L_Shoulder", "L_Elbow"), ("L_Elbow", "L_Wrist"),
     ("R_Shoulder", "R_Elbow"), ("R_Elbow", "R_Wrist"), ("L_Shoulder", "L_Hip"),
     ("R_Shoulder", "R_Hip"), ("L_Hip", "R_Hip"), ("L_Hip", "L_Knee"), ("L_Knee", "L_Ankle"),
     ("R_Hip", "R_Knee"), ("R_Knee", "R_Ankle")),
    tuple(s / 10.0 for s in (.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07,
                             .87, .87, .89, .89)),
)

#: Skeletons by name.
SKELETONS: dict[str, Skeleton] = {s.name: s for s in (HUPR14, COCO13, COCO17)}


def get_skeleton(name: str | Skeleton) -> Skeleton:
    """The skeleton called ``name`` (or ``name`` itself if already a :class:`Skeleton`).

    Raises
    ------
    KeyError
        Unknown name; the message lists the known ones.
    """
    if isinstance(name, Skeleton):
        return name
    try:
        return SKELETONS[name.lower()]
    except KeyError:
        raise KeyError(f"unknown skeleton {name!r} (choose from {', '.join(SKELETONS)})") from None
