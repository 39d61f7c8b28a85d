"""Motion library: actions as pose trajectories, subjects, and scripted sequences of actions.

An action maps time to the pose arrays of :mod:`radarkit.sim.human` (pelvis position on the floor
plane, facing angle, trunk lean, limb-segment angles). The library (:data:`ACTIONS`):

* ``static``: a held pose (:data:`STATIC_POSES`: standing, T-pose, arms up, hands on hips, ...)
  with millimetre sway, as HuPR's static actions (held for at least 10 s);
* ``wave_right``, ``wave_left``, ``wave_both``: standing and waving one or both hands (upper arm
  raised sideways, forearm swinging at the subject's waving rate, about 1.5-2.5 Hz);
* ``walk``: walking back and forth between two points with alternating leg swing, knee flexion
  during the swing phase and counter-swinging arms; ``walk_wave`` walks while waving
  (``variant``: right, left or both hands);
* ``squat``, ``arm_raise`` (both arms forward up), ``lateral_raise`` (both arms sideways up),
  ``kick`` (alternating legs): periodic exercises.

A :class:`Subject` carries its body proportions and personal rates (walking speed, cadence, waving
rate). A script is a list of :class:`Segment` (action, start, duration, path); consecutive segments
join continuously (the pelvis starts where the previous segment left it and the joint angles
cross-fade over 0.5 s). :func:`make_script` builds scripts for the scenes of
:data:`SCENE_ACTIONS`; :func:`evaluate_script` turns a script into pose arrays and per-frame
action labels.

Angles are radians, positions metres, times seconds, in the scene frame of :mod:`radarkit.sim`.

References
----------
.. [1] S.-P. Lee et al., "HuPR: A Benchmark for Human Pose Estimation Using Millimeter Wave Radar",
   WACV 2023, sec. 3.2 (static actions, standing and waving, walking while waving).
.. [2] R. Boulic, N. Magnenat-Thalmann and D. Thalmann, "A global human walking model with
   real-time kinematic personification", The Visual Computer 6, 1990 (sinusoidal hip swing, knee
   flexion in the swing phase, cadence and speed scaling with the subject).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from radarkit.sim.human import LIMB_SEGMENTS, BodyShape

__all__ = [
    "ACTIONS",
    "ACTION_ORDERS",
    "check_action_order",
    "SCENE_ACTIONS",
    "SCENE_AREAS",
    "STATIC_POSES",
    "Segment",
    "Subject",
    "action_pose",
    "evaluate_script",
    "make_script",
]

#: Action labels of the motion library.
ACTIONS: tuple[str, ...] = ("static", "wave_right", "wave_left", "wave_both", "walk", "walk_wave",
                            "squat", "arm_raise", "lateral_raise", "kick")

#: Actions a scene's script draws from (``radarkit simulate --scene``).
SCENE_ACTIONS: dict[str, tuple[str, ...]] = {
    "static": ("static",),
    "wave": ("wave_right", "wave_left", "wave_both"),
    "walk_wave": ("walk_wave",),
    "walk": ("walk",),
    "exercise": ("squat", "arm_raise", "lateral_raise", "kick"),
    "hupr": ("static", "wave_right", "wave_left", "wave_both", "walk_wave"),
    "mixed": ACTIONS,
}

_S = {name: i for i, name in enumerate(LIMB_SEGMENTS)}
_HALF_PI = np.pi / 2

#: Held poses of ``static``: ``{segment: (theta, phi)}``; unnamed segments hang relaxed.
STATIC_POSES: dict[str, dict[str, tuple[float, float]]] = {
    "stand": {},
    "t_pose": {"R_upper_arm": (_HALF_PI, 0.0), "R_forearm": (_HALF_PI, 0.0),
               "L_upper_arm": (_HALF_PI, 0.0), "L_forearm": (_HALF_PI, 0.0)},
    "arms_up": {"R_upper_arm": (2.9, 0.2), "R_forearm": (3.0, 0.2),
                "L_upper_arm": (2.9, 0.2), "L_forearm": (3.0, 0.2)},
    "hands_on_hips": {"R_upper_arm": (0.6, -0.3), "R_forearm": (1.9, 2.6),
                      "L_upper_arm": (0.6, -0.3), "L_forearm": (1.9, 2.6)},
    "right_arm_forward": {"R_upper_arm": (_HALF_PI, _HALF_PI), "R_forearm": (_HALF_PI, _HALF_PI)},
    "left_arm_up": {"L_upper_arm": (2.9, 0.3), "L_forearm": (3.0, 0.3)},
    "right_hand_on_head": {"R_upper_arm": (2.2, 0.4), "R_forearm": (2.4, 2.9)},
    "wide_stance": {"R_thigh": (0.25, 0.0), "R_shank": (0.25, 0.0),
                    "L_thigh": (0.25, 0.0), "L_shank": (0.25, 0.0)},
}

#: Relaxed standing: arms hang slightly away from the body, forearms slightly forward.
_RELAXED = {"R_upper_arm": (0.12, 0.0), "R_forearm": (0.2, _HALF_PI),
            "L_upper_arm": (0.12, 0.0), "L_forearm": (0.2, _HALF_PI)}

_CROSSFADE_S = 0.5
#: Walking area in front of the radar: x (m) and y (m) limits of the pelvis.
DEFAULT_AREA: tuple[tuple[float, float], tuple[float, float]] = ((-1.2, 1.2), (2.0, 4.5))
#: Walking areas of scenes that need a smaller one. ``hupr``: HuPR's VRDAEMap keeps range bins
#: 31..94 (1.3-4.0 m with HuPR's chirp), so the pelvis stays within 3.6 m of the radar (arms and
#: a 0.3 m body depth included, every scatterer stays inside the window) and within +-0.8 m
#: sideways (a T-pose stays inside the camera's 70 degree field of view at 2 m).
SCENE_AREAS: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    "hupr": ((-0.8, 0.8), (2.0, 3.5)),
}


@dataclass(frozen=True)
class Subject:
    """One simulated person.

    Parameters
    ----------
    subject_id : int
        Identifier (1, 2, ...), stored with every frame.
    body : BodyShape
        Proportions.
    walk_speed_mps : float
        Mean walking speed (m/s).
    cadence_hz : float
        Strides (two steps) per second.
    wave_hz : float
        Hand waves per second.
    exercise_period_s : float
        Period of one repetition of an exercise (s).
    """

    subject_id: int
    body: BodyShape = field(default_factory=BodyShape)
    walk_speed_mps: float = 1.0
    cadence_hz: float = 0.9
    wave_hz: float = 2.0
    exercise_period_s: float = 3.0

    @classmethod
    def random(cls, subject_id: int, rng: np.random.Generator) -> Subject:
        """A subject with random proportions (:meth:`BodyShape.random`) and rates.

        Parameters
        ----------
        subject_id : int
        rng : numpy.random.Generator

        Returns
        -------
        Subject
        """
        body = BodyShape.random(rng)
        speed = float(rng.uniform(0.7, 1.2))
        return cls(subject_id, body, walk_speed_mps=speed, cadence_hz=float(0.75 + 0.2 * speed),
                   wave_hz=float(rng.uniform(1.5, 2.5)),
                   exercise_period_s=float(rng.uniform(2.5, 3.5)))


@dataclass(frozen=True)
class Segment:
    """One action of a script.

    Parameters
    ----------
    action : str
        One of :data:`ACTIONS`.
    start_s, duration_s : float
        Time span (s).
    start_xy : tuple of float
        Pelvis position on the floor plane at the start (m).
    target_xy : tuple of float
        Turning point of walking actions (m); ignored by the others.
    yaw : float
        Facing angle of standing actions (rad, 0 faces the radar).
    variant : str
        Static pose name (:data:`STATIC_POSES`) or waving hand (``right``, ``left``, ``both``).
    """

    action: str
    start_s: float
    duration_s: float
    start_xy: tuple[float, float] = (0.0, 3.0)
    target_xy: tuple[float, float] = (0.0, 3.0)
    yaw: float = 0.0
    variant: str = ""

    @property
    def end_s(self) -> float:
        """End time (s)."""
        return self.start_s + self.duration_s


def _smooth(x: np.ndarray) -> np.ndarray:
    """Smoothstep of ``x`` clipped to [0, 1]."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _walk_path(seg: Segment, subject: Subject, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pelvis position (T, 2) and yaw (T,) walking back and forth from start to target."""
    a = np.asarray(seg.start_xy, float)
    b = np.asarray(seg.target_xy, float)
    dist = max(float(np.linalg.norm(b - a)), 1e-3)
    leg_s = dist / subject.walk_speed_mps
    p = np.maximum(t, 0.0) / leg_s
    k = np.floor(p)
    frac = p - k
    s = 0.5 * (1.0 - np.cos(np.pi * frac))  # eased: slow at the turning points
    s = np.where(k % 2 == 0, s, 1.0 - s)
    xy = a + s[:, None] * (b - a)
    fwd = (b - a) / dist
    yaw0 = np.arctan2(fwd[0], -fwd[1])
    turn = min(0.5, 0.6 / leg_s)  # fraction of a leg spent turning round (about 0.6 s)
    yaw = yaw0 + np.pi * (k + _smooth((frac - (1.0 - turn)) / turn))
    return xy, yaw


def _relaxed(n: int) -> np.ndarray:
    ang = np.zeros((n, len(LIMB_SEGMENTS), 2))
    for name, (th, ph) in _RELAXED.items():
        ang[:, _S[name]] = th, ph
    return ang


def _wave_arms(ang: np.ndarray, t: np.ndarray, hands: str, rate_hz: float) -> None:
    """Set waving arms in ``ang`` (in place): upper arm raised sideways, forearm swinging."""
    w = 2 * np.pi * rate_hz * t
    for side in ("R", "L"):
        if hands not in ("both", {"R": "right", "L": "left"}[side]):
            continue
        sign = 1.0 if side == "R" else -1.0
        ang[:, _S[f"{side}_upper_arm"], 0] = 1.75 + 0.05 * np.sin(w)
        ang[:, _S[f"{side}_upper_arm"], 1] = 0.3
        ang[:, _S[f"{side}_forearm"], 0] = 2.55 + 0.38 * np.sin(w)
        ang[:, _S[f"{side}_forearm"], 1] = 0.35 + 0.45 * np.sin(w + sign * 0.6)


def _walk_legs(ang: np.ndarray, t: np.ndarray, cadence_hz: float, swing_arms: bool) -> None:
    """Set walking legs (and counter-swinging arms) in ``ang`` (in place)."""
    w = 2 * np.pi * cadence_hz * t
    amp = 0.42
    for side, phase in (("R", 0.0), ("L", np.pi)):
        thigh = amp * np.sin(w + phase)
        knee = 0.9 * np.clip(np.cos(w + phase), 0.0, None) + 0.08
        ang[:, _S[f"{side}_thigh"]] = np.stack([thigh, np.full_like(t, _HALF_PI)], axis=-1)
        ang[:, _S[f"{side}_shank"]] = np.stack([thigh - knee, np.full_like(t, _HALF_PI)], axis=-1)
        if swing_arms:
            arm = -0.35 * np.sin(w + phase)
            ang[:, _S[f"{side}_upper_arm"]] = np.stack([arm, np.full_like(t, _HALF_PI)], axis=-1)
            ang[:, _S[f"{side}_forearm"]] = np.stack([arm + 0.3, np.full_like(t, _HALF_PI)], axis=-1)


def action_pose(seg: Segment, subject: Subject, t: np.ndarray) -> dict[str, np.ndarray]:
    """Pose arrays of one segment's action at times ``t`` since the segment's start.

    Parameters
    ----------
    seg : Segment
    subject : Subject
    t : ndarray of float, shape (T,)
        Local times (s); any value (the action's pattern continues outside its span).

    Returns
    -------
    dict of ndarray
        ``root_xy`` (T, 2), ``yaw`` (T,), ``lean`` (T,), ``angles`` (T, 8, 2); see
        :data:`radarkit.sim.human.POSE_KEYS`.

    Raises
    ------
    ValueError
        Unknown action or static pose.
    """
    t = np.asarray(t, dtype=np.float64)
    n = len(t)
    ang = _relaxed(n)
    root = np.broadcast_to(np.asarray(seg.start_xy, float), (n, 2)).copy()
    yaw = np.full(n, seg.yaw)
    lean = np.zeros(n)
    q = 0.5 * (1.0 - np.cos(2 * np.pi * t / subject.exercise_period_s))  # 0 -> 1 -> 0
    if seg.action == "static":
        if seg.variant and seg.variant not in STATIC_POSES:
            raise ValueError(f"unknown static pose {seg.variant!r} (known: {', '.join(STATIC_POSES)})")
        for name, (th, ph) in STATIC_POSES.get(seg.variant or "stand", {}).items():
            ang[:, _S[name]] = th, ph
        root += 0.004 * np.stack([np.sin(2 * np.pi * 0.21 * t), np.sin(2 * np.pi * 0.13 * t)], -1)
        lean += 0.01 * np.sin(2 * np.pi * 0.25 * t)  # breathing / balance sway
    elif seg.action in ("wave_right", "wave_left", "wave_both"):
        _wave_arms(ang, t, seg.action.split("_")[1], subject.wave_hz)
        root += 0.004 * np.stack([np.sin(2 * np.pi * 0.21 * t), np.sin(2 * np.pi * 0.13 * t)], -1)
    elif seg.action in ("walk", "walk_wave"):
        root, yaw = _walk_path(seg, subject, t)
        _walk_legs(ang, t, subject.cadence_hz, swing_arms=seg.action == "walk")
        if seg.action == "walk_wave":
            _wave_arms(ang, t, seg.variant or "both", subject.wave_hz)
        lean += 0.06
    elif seg.action == "squat":
        for side in ("R", "L"):
            ang[:, _S[f"{side}_thigh"]] = np.stack([1.4 * q, np.full(n, _HALF_PI)], -1)
            ang[:, _S[f"{side}_shank"]] = np.stack([-0.8 * q, np.full(n, _HALF_PI)], -1)
            ang[:, _S[f"{side}_upper_arm"]] = np.stack([0.12 + 1.4 * q, 0.12 + (_HALF_PI - 0.12) * q], -1)
            ang[:, _S[f"{side}_forearm"]] = np.stack([0.2 + 1.35 * q, np.full(n, _HALF_PI)], -1)
        lean += 0.5 * q
    elif seg.action == "arm_raise":
        for side in ("R", "L"):
            ang[:, _S[f"{side}_upper_arm"]] = np.stack([0.1 + 2.8 * q, np.full(n, _HALF_PI)], -1)
            ang[:, _S[f"{side}_forearm"]] = np.stack([0.2 + 2.75 * q, np.full(n, _HALF_PI)], -1)
    elif seg.action == "lateral_raise":
        for side in ("R", "L"):
            ang[:, _S[f"{side}_upper_arm"]] = np.stack([0.12 + 1.45 * q, np.zeros(n)], -1)
            ang[:, _S[f"{side}_forearm"]] = np.stack([0.2 + 1.4 * q, 0.2 * (1 - q)], -1)
    elif seg.action == "kick":
        period = subject.exercise_period_s * 0.7
        k = np.floor(t / period)
        lift = np.sin(np.pi * (t / period - k)) ** 2
        for side, parity in (("R", 0), ("L", 1)):
            on = (k % 2 == parity) * lift
            ang[:, _S[f"{side}_thigh"]] = np.stack([1.2 * on, np.full(n, _HALF_PI)], -1)
            knee = 0.5 * np.sin(np.pi * on)  # bent while lifting and lowering, straight at the top
            ang[:, _S[f"{side}_shank"]] = np.stack([1.2 * on - knee, np.full(n, _HALF_PI)], -1)
        ang[:, _S["R_upper_arm"]] = 0.5, 0.0  # arms out for balance
        ang[:, _S["L_upper_arm"]] = 0.5, 0.0
        lean -= 0.1 * lift
    else:
        raise ValueError(f"unknown action {seg.action!r} (known: {', '.join(ACTIONS)})")
    return {"root_xy": root, "yaw": yaw, "lean": lean, "angles": ang}


def _end_xy(seg: Segment, subject: Subject) -> tuple[float, float]:
    xy = action_pose(seg, subject, np.array([seg.duration_s]))["root_xy"][0]
    return float(xy[0]), float(xy[1])


#: How :func:`make_script` orders a scene's actions over the segments of a sequence.
ACTION_ORDERS: tuple[str, ...] = ("random", "cycle")


def check_action_order(action_order: str) -> None:
    """Raise ``ValueError`` unless ``action_order`` is one of :data:`ACTION_ORDERS`."""
    if action_order not in ACTION_ORDERS:
        raise ValueError(f"action_order must be one of {', '.join(ACTION_ORDERS)}, got {action_order!r}")


def make_script(scene: str, duration_s: float, subject: Subject, rng: np.random.Generator,
                segment_s: float = 10.0,
                area: tuple[tuple[float, float], tuple[float, float]] | None = None,
                action_order: str = "random") -> list[Segment]:
    """A random script of actions for one sequence of a scene.

    Parameters
    ----------
    scene : str
        Key of :data:`SCENE_ACTIONS`, or a single action name.
    duration_s : float
        Sequence length (s).
    subject : Subject
    rng : numpy.random.Generator
        Draws the actions, static poses, waving hands, start point and walking targets.
    segment_s : float
        Length of each action segment (s); HuPR holds static poses for at least 10 s.
    area : ((x_min, x_max), (y_min, y_max)), optional
        Region of the floor plane the pelvis stays in (m). Default: the scene's entry in
        :data:`SCENE_AREAS`, else :data:`DEFAULT_AREA`.
    action_order : {"random", "cycle"}
        ``"random"`` (default): each segment's action drawn independently from the scene's
        actions, so a short sequence may miss some. ``"cycle"``: the actions in random
        permutations, one after another, so every ``len(actions)`` consecutive segments hold each
        action once: every subject performs every action once the sequence has that many
        segments, like a recording protocol in which each person performs the whole action set.

    Returns
    -------
    list of Segment
        Consecutive segments covering ``[0, duration_s]``.

    Raises
    ------
    ValueError
        Unknown scene or action order, or a non-positive duration.
    """
    check_action_order(action_order)
    if scene in SCENE_ACTIONS:
        choices = SCENE_ACTIONS[scene]
    elif scene in ACTIONS:
        choices = (scene,)
    else:
        raise ValueError(f"unknown scene {scene!r} (known: {', '.join([*SCENE_ACTIONS, *ACTIONS])})")
    if duration_s <= 0:
        raise ValueError(f"duration must be positive, got {duration_s}")
    (x0, x1), (y0, y1) = SCENE_AREAS.get(scene, DEFAULT_AREA) if area is None else area
    xy = (float(rng.uniform(x0, x1)), float(rng.uniform(y0 + 0.3, y1 - 0.3)))
    script: list[Segment] = []
    t = 0.0
    queue: list[str] = []
    while t < duration_s - 1e-9:
        if action_order == "cycle":
            if not queue:
                queue = [str(a) for a in rng.permutation(choices)]
            action = queue.pop(0)
        else:
            action = str(rng.choice(choices))
        dur = min(segment_s, duration_s - t)
        variant, target, yaw = "", xy, float(rng.normal(0.0, 0.2))
        if action == "static":
            variant = str(rng.choice(list(STATIC_POSES)))
        elif action == "walk_wave":
            variant = str(rng.choice(["right", "left", "both"]))
        if action in ("walk", "walk_wave"):
            for _ in range(20):  # a target at least 1 m away
                target = (float(rng.uniform(x0, x1)), float(rng.uniform(y0, y1)))
                if np.hypot(target[0] - xy[0], target[1] - xy[1]) >= 1.0:
                    break
        seg = Segment(action, t, dur, xy, target, yaw, variant)
        script.append(seg)
        xy = _end_xy(seg, subject)
        t += dur
    return script


def evaluate_script(script: list[Segment], subject: Subject,
                    times: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Pose arrays and action labels of a script at absolute times.

    Each segment's pose cross-fades from the previous segment's final pose over 0.5 s.

    Parameters
    ----------
    script : list of Segment
        :func:`make_script` output (consecutive segments).
    subject : Subject
    times : ndarray of float, shape (T,)
        Times (s); times before the first or after the last segment use that segment.

    Returns
    -------
    pose : dict of ndarray
        :data:`radarkit.sim.human.POSE_KEYS` arrays with leading axis ``T``.
    labels : ndarray of int64, shape (T,)
        Index of each time's segment in ``script`` (its action is ``script[i].action``).
    """
    times = np.asarray(times, dtype=np.float64)
    starts = np.array([s.start_s for s in script])
    idx = np.clip(np.searchsorted(starts, times, side="right") - 1, 0, len(script) - 1)
    n = len(times)
    pose = {"root_xy": np.zeros((n, 2)), "yaw": np.zeros(n), "lean": np.zeros(n),
            "angles": np.zeros((n, len(LIMB_SEGMENTS), 2))}
    for i, seg in enumerate(script):
        sel = np.flatnonzero(idx == i)
        if not sel.size:
            continue
        local = times[sel] - seg.start_s
        cur = action_pose(seg, subject, local)
        if i > 0:
            prev_seg = script[i - 1]
            prev = action_pose(prev_seg, subject, np.array([prev_seg.duration_s]))
            w = _smooth(local / _CROSSFADE_S)
            for key in ("yaw", "lean", "angles"):
                p = prev[key][0]
                if key == "yaw":  # turn the short way round
                    p = cur[key] + np.angle(np.exp(1j * (p - cur[key])))
                shape = (-1,) + (1,) * (cur[key].ndim - 1)
                cur[key] = p + w.reshape(shape) * (cur[key] - p)
        for key in pose:
            pose[key][sel] = cur[key]
    return pose, idx
