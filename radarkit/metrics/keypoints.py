"""COCO keypoint evaluation: object keypoint similarity (OKS) and OKS-based average precision.

A numpy implementation of the COCO keypoint protocol as HuPR uses it (``learned-models.md``, HuPR
evaluation): OKS per detection/ground-truth pair, greedy matching per image at each OKS threshold,
precision interpolated at 101 recall points, AP averaged over the thresholds ``.50:.05:.95``. With
the same inputs the numbers equal ``pycocotools.cocoeval.COCOeval(iouType="keypoints")`` (the tests
compare them to 1e-6); pycocotools is not needed at run time.

Conventions
-----------
* Keypoints are pixel coordinates of a stated image size (HuPR: 256 x 256 px), arrays
  ``(person, joint, 3)`` with ``(x, y, visibility)`` for ground truth (``v > 0``: labelled) and
  ``(person, joint, 2)`` or ``(..., 3)`` for predictions (a third column is ignored).
* One category (person). Images are named by integer ids; several people per image are allowed.
* Ground-truth area: HuPR uses half the keypoint bounding-box area (``area_mode="bbox_half"``);
  ``"bbox"`` uses the full box; explicit areas can be given.

References
----------
.. [1] T.-Y. Lin et al., "Microsoft COCO: Common Objects in Context", ECCV 2014; COCO keypoint
   evaluation, https://cocodataset.org/#keypoints-eval (OKS definition, AP over OKS thresholds).
.. [2] S.-P. Lee et al., "HuPR: A Benchmark for Human Pose Estimation Using Millimeter Wave Radar",
   WACV 2023, section 5.1 (AP, AP50, AP75 over 14 keypoints; per-joint AP, Table 3).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from radarkit.atomic import atomic_output

__all__ = [
    "OKS_THRESHOLDS",
    "RECALL_THRESHOLDS",
    "KeypointAP",
    "keypoint_bboxes",
    "keypoint_areas",
    "oks",
    "keypoint_ap",
    "per_joint_ap",
    "evaluate_keypoints",
    "coco_results",
    "write_coco_results",
]

#: OKS thresholds .50:.05:.95 (COCO).
OKS_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
#: Recall points 0:.01:1 at which precision is sampled (COCO).
RECALL_THRESHOLDS = np.linspace(0.0, 1.0, int(np.round((1.0 - 0.0) / 0.01)) + 1, endpoint=True)
_ALL_AREAS = (0.0, 1e10)
_EPS = np.spacing(1)


@dataclass(frozen=True)
class KeypointAP:
    """Result of :func:`keypoint_ap`.

    Attributes
    ----------
    ap : float
        Mean precision over all OKS thresholds and recall points (COCO "AP"), in [0, 1];
        -1 when there is no ground truth to evaluate.
    ap50, ap75 : float
        AP at OKS 0.50 and 0.75.
    ar : float
        Maximum recall averaged over the thresholds (COCO "AR" at ``max_dets``).
    precision : ndarray, float64, shape (n_thresholds, 101)
        Interpolated precision per OKS threshold and recall point (-1 where undefined).
    recall : ndarray, float64, shape (n_thresholds,)
        Maximum recall per OKS threshold.
    thresholds : ndarray, float64, shape (n_thresholds,)
        The OKS thresholds.
    """

    ap: float
    ap50: float
    ap75: float
    ar: float
    precision: np.ndarray = field(repr=False)
    recall: np.ndarray = field(repr=False)
    thresholds: np.ndarray = field(repr=False)


def keypoint_bboxes(keypoints: np.ndarray, visible_only: bool = True) -> np.ndarray:
    """Bounding boxes ``(x0, y0, width, height)`` of keypoint sets.

    Parameters
    ----------
    keypoints : array_like, shape (n, joint, 2|3)
        Pixel coordinates, with visibility in the third column when ``visible_only``.
    visible_only : bool
        Use only keypoints with visibility > 0 (people without any get a zero box at the origin).

    Returns
    -------
    ndarray, float64, shape (n, 4)
        ``x0, y0, x1 - x0, y1 - y0`` in pixels.
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    out = np.zeros((kp.shape[0], 4))
    for i, person in enumerate(kp):
        if visible_only and kp.shape[-1] > 2:
            person = person[person[:, 2] > 0]
        if len(person) == 0:
            continue
        x0, y0 = person[:, 0].min(), person[:, 1].min()
        out[i] = (x0, y0, person[:, 0].max() - x0, person[:, 1].max() - y0)
    return out


def keypoint_areas(keypoints: np.ndarray, area_mode: str = "bbox_half") -> np.ndarray:
    """Object areas of ground-truth people for OKS (pixels^2).

    Parameters
    ----------
    keypoints : array_like, shape (n, joint, 3)
        Ground-truth keypoints with visibility.
    area_mode : {"bbox_half", "bbox"}
        ``"bbox_half"``: half the area of the visible keypoints' bounding box (HuPR's official
        evaluation); ``"bbox"``: the full box area.

    Returns
    -------
    ndarray, float64, shape (n,)

    Raises
    ------
    ValueError
        Unknown ``area_mode``.
    """
    if area_mode not in ("bbox_half", "bbox"):
        raise ValueError(f"area_mode must be 'bbox_half' or 'bbox', got {area_mode!r}")
    box = keypoint_bboxes(keypoints)
    area = box[:, 2] * box[:, 3]
    return area / 2.0 if area_mode == "bbox_half" else area


def oks(pred: np.ndarray, gt: np.ndarray, areas: np.ndarray, sigmas: Sequence[float],
        bboxes: np.ndarray | None = None) -> np.ndarray:
    """Object keypoint similarity between predicted and ground-truth people.

    ``OKS = mean_{j: v_j > 0} exp(-d_j^2 / (2 s^2 k_j^2))`` with ``s^2`` the object area and
    ``k_j = 2 sigma_j``. A ground truth without labelled keypoints is compared through the distance
    of each predicted keypoint to its box enlarged by the box size on every side (COCO rule).

    Parameters
    ----------
    pred : array_like, shape (n_pred, joint, 2|3)
        Predicted keypoints in pixels (a third column is ignored).
    gt : array_like, shape (n_gt, joint, 3)
        Ground-truth keypoints in pixels with visibility.
    areas : array_like, shape (n_gt,)
        Ground-truth areas in pixels^2 (see :func:`keypoint_areas`).
    sigmas : sequence of float, length joint
        Per-joint OKS constants (already divided by 10, e.g. ``radarkit.skeleton.HUPR14.sigmas``).
    bboxes : array_like, shape (n_gt, 4), optional
        Ground-truth boxes ``(x0, y0, w, h)``; only used for people without labelled keypoints.
        Default: :func:`keypoint_bboxes` of ``gt``.

    Returns
    -------
    ndarray, float64, shape (n_pred, n_gt)
        OKS in [0, 1].

    Raises
    ------
    ValueError
        Shapes that do not agree with ``sigmas``.

    References
    ----------
    COCO keypoint evaluation, "Object Keypoint Similarity" (https://cocodataset.org/#keypoints-eval).
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    sigmas = np.asarray(sigmas, dtype=np.float64)
    k = sigmas.shape[0]
    if pred.ndim != 3 or gt.ndim != 3 or pred.shape[1] != k or gt.shape[1] != k or gt.shape[2] < 3:
        raise ValueError(f"pred {pred.shape} and gt {gt.shape} must be (n, {k}, 2|3) and (n, {k}, 3)")
    areas = np.asarray(areas, dtype=np.float64).reshape(-1)
    boxes = keypoint_bboxes(gt) if bboxes is None else np.asarray(bboxes, dtype=np.float64)
    variances = (sigmas * 2) ** 2
    out = np.zeros((pred.shape[0], gt.shape[0]))
    xd, yd = pred[:, :, 0], pred[:, :, 1]  # (n_pred, k)
    for j in range(gt.shape[0]):
        xg, yg, vg = gt[j, :, 0], gt[j, :, 1], gt[j, :, 2]
        labelled = vg > 0
        if labelled.any():
            dx, dy = xd - xg, yd - yg
        else:
            bx, by, bw, bh = boxes[j]
            x0, x1, y0, y1 = bx - bw, bx + 2 * bw, by - bh, by + 2 * bh
            dx = np.maximum(0.0, x0 - xd) + np.maximum(0.0, xd - x1)
            dy = np.maximum(0.0, y0 - yd) + np.maximum(0.0, yd - y1)
        e = (dx ** 2 + dy ** 2) / variances / (areas[j] + _EPS) / 2
        if labelled.any():
            e = e[:, labelled]
        out[:, j] = np.exp(-e).sum(axis=1) / e.shape[1]
    return out


def _match_image(ious: np.ndarray, gt_ignore: np.ndarray, gt_crowd: np.ndarray,
                 thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Greedy COCO matching of score-sorted detections to ground truth at each threshold.

    ``ious`` is (n_det, n_gt) with ground truth already sorted non-ignored first. Returns the matched
    ground-truth index per (threshold, detection) (-1: unmatched) and whether each detection
    matched an ignored ground truth.
    """
    n_t, (n_d, n_g) = len(thresholds), ious.shape
    det_match = -np.ones((n_t, n_d), dtype=np.int64)
    det_ignore = np.zeros((n_t, n_d), dtype=bool)
    if n_d == 0 or n_g == 0:
        return det_match, det_ignore
    for t, thr in enumerate(thresholds):
        gt_taken = np.zeros(n_g, dtype=bool)
        for d in range(n_d):
            best, m = min(thr, 1 - 1e-10), -1
            for g in range(n_g):
                if gt_taken[g] and not gt_crowd[g]:
                    continue
                # once matched to a regular ground truth, ignored ones (sorted last) cannot win
                if m > -1 and not gt_ignore[m] and gt_ignore[g]:
                    break
                if ious[d, g] < best:
                    continue
                best, m = ious[d, g], g
            if m == -1:
                continue
            det_match[t, d] = m
            det_ignore[t, d] = gt_ignore[m]
            gt_taken[m] = True
    return det_match, det_ignore


def _interpolated_precision(tp: np.ndarray, fp: np.ndarray, n_pos: int,
                            recall_thresholds: np.ndarray) -> tuple[np.ndarray, float]:
    """Precision at the recall points from cumulative TP/FP of score-sorted detections."""
    tp_sum = np.cumsum(tp).astype(np.float64)
    fp_sum = np.cumsum(fp).astype(np.float64)
    n = len(tp_sum)
    rc = tp_sum / n_pos
    pr = tp_sum / (fp_sum + tp_sum + _EPS)
    max_recall = float(rc[-1]) if n else 0.0
    # make precision monotonically non-increasing in recall (running maximum from the right)
    pr = np.maximum.accumulate(pr[::-1])[::-1] if n else pr
    idx = np.searchsorted(rc, recall_thresholds, side="left")
    q = np.zeros(len(recall_thresholds))
    ok = idx < n
    q[ok] = pr[idx[ok]]
    return q, max_recall


def keypoint_ap(
    gt_keypoints: np.ndarray,
    gt_image_ids: Sequence[int],
    pred_keypoints: np.ndarray,
    pred_scores: Sequence[float],
    pred_image_ids: Sequence[int],
    sigmas: Sequence[float],
    gt_areas: np.ndarray | None = None,
    area_mode: str = "bbox_half",
    gt_bboxes: np.ndarray | None = None,
    gt_crowd: Sequence[bool] | None = None,
    image_ids: Sequence[int] | None = None,
    thresholds: Sequence[float] = OKS_THRESHOLDS,
    max_dets: int = 20,
    area_range: tuple[float, float] = _ALL_AREAS,
) -> KeypointAP:
    """COCO keypoint average precision over OKS thresholds (one category, "person").

    Follows the COCO protocol step by step: per image, detections sorted by score (stable) and cut
    to ``max_dets``; OKS to every ground truth; greedy matching at each threshold (ground truth
    without labelled keypoints, crowd or outside ``area_range`` is ignored, and so are the
    detections it absorbs); over all images, detections sorted by score, precision made monotone
    and sampled at recall 0:.01:1; AP is the mean over thresholds and recall points.

    Parameters
    ----------
    gt_keypoints : array_like, shape (n_gt, joint, 3)
        Ground-truth ``(x, y, visibility)`` in pixels.
    gt_image_ids : sequence of int, length n_gt
        Image of each ground-truth person.
    pred_keypoints : array_like, shape (n_pred, joint, 2|3)
        Predicted keypoints in pixels.
    pred_scores : sequence of float, length n_pred
        Detection confidences (higher first).
    pred_image_ids : sequence of int, length n_pred
        Image of each prediction; must be one of the evaluated images.
    sigmas : sequence of float, length joint
        OKS constants per joint (e.g. ``HUPR14.sigmas``).
    gt_areas : array_like, shape (n_gt,), optional
        Areas in pixels^2; default :func:`keypoint_areas` with ``area_mode``.
    area_mode : {"bbox_half", "bbox"}
        Area rule when ``gt_areas`` is not given (HuPR: ``"bbox_half"``).
    gt_bboxes : array_like, shape (n_gt, 4), optional
        Ground-truth boxes ``(x0, y0, w, h)``; default: box of the visible keypoints.
    gt_crowd : sequence of bool, optional
        COCO ``iscrowd`` flags (default all False).
    image_ids : sequence of int, optional
        Images to evaluate (default: those of the ground truth); images without ground truth count
        their detections as false positives.
    thresholds : sequence of float
        OKS thresholds (default .50:.05:.95).
    max_dets : int
        Detections kept per image (HuPR and COCO keypoints: 20).
    area_range : (float, float)
        Ground truth with an area outside is ignored (default: all areas).

    Returns
    -------
    KeypointAP

    Raises
    ------
    ValueError
        Inconsistent shapes, or predictions on images that are not evaluated.

    References
    ----------
    COCO keypoint evaluation (https://cocodataset.org/#keypoints-eval); HuPR, section 5.1.
    """
    gt = np.asarray(gt_keypoints, dtype=np.float64).reshape(-1, len(sigmas), 3)
    pred = np.asarray(pred_keypoints, dtype=np.float64)
    pred = pred.reshape(-1, len(sigmas), pred.shape[-1] if pred.ndim == 3 else 2)
    scores = np.asarray(pred_scores, dtype=np.float64).reshape(-1)
    gt_img = np.asarray(gt_image_ids, dtype=np.int64).reshape(-1)
    pred_img = np.asarray(pred_image_ids, dtype=np.int64).reshape(-1)
    if len(gt_img) != len(gt) or len(pred_img) != len(pred) or len(scores) != len(pred):
        raise ValueError("keypoints, scores and image ids must have the same number of people")
    areas = keypoint_areas(gt, area_mode) if gt_areas is None else np.asarray(gt_areas, np.float64)
    boxes = keypoint_bboxes(gt) if gt_bboxes is None else np.asarray(gt_bboxes, np.float64)
    crowd = np.zeros(len(gt), bool) if gt_crowd is None else np.asarray(gt_crowd, bool).reshape(-1)
    images = np.unique(gt_img if image_ids is None else np.asarray(image_ids, np.int64))
    unknown = np.setdiff1d(pred_img, images)
    if unknown.size:
        raise ValueError(f"predictions on images that are not evaluated: {unknown[:5].tolist()}")
    thresholds = np.asarray(thresholds, dtype=np.float64)
    # predicted areas as COCO's loadRes: box of all predicted keypoints
    pred_area = (np.ptp(pred[:, :, 0], axis=1) * np.ptp(pred[:, :, 1], axis=1) if len(pred)
                 else np.zeros(0))
    ignore_all = (np.count_nonzero(gt[:, :, 2] > 0, axis=1) == 0) | crowd
    lo, hi = area_range

    all_scores, all_tp, all_fp, n_pos = [], [], [], 0
    for img in images:
        g_idx = np.flatnonzero(gt_img == img)
        d_idx = np.flatnonzero(pred_img == img)
        if len(g_idx) == 0 and len(d_idx) == 0:
            continue
        d_idx = d_idx[np.argsort(-scores[d_idx], kind="mergesort")][:max_dets]
        g_ignore = ignore_all[g_idx] | (areas[g_idx] < lo) | (areas[g_idx] > hi)
        order = np.argsort(g_ignore, kind="mergesort")
        g_idx, g_ignore = g_idx[order], g_ignore[order]
        ious = oks(pred[d_idx], gt[g_idx], areas[g_idx], sigmas, boxes[g_idx])
        match, d_ignore = _match_image(ious, g_ignore, crowd[g_idx], thresholds)
        d_out = (pred_area[d_idx] < lo) | (pred_area[d_idx] > hi)
        d_ignore |= (match < 0) & d_out[None, :]
        matched = match >= 0
        all_scores.append(scores[d_idx])
        all_tp.append(matched & ~d_ignore)
        all_fp.append(~matched & ~d_ignore)
        n_pos += int(np.count_nonzero(~g_ignore))

    n_t, n_r = len(thresholds), len(RECALL_THRESHOLDS)
    precision = -np.ones((n_t, n_r))
    recall = -np.ones(n_t)
    if n_pos > 0:
        s = np.concatenate(all_scores) if all_scores else np.zeros(0)
        order = np.argsort(-s, kind="mergesort")
        tp = np.concatenate(all_tp, axis=1)[:, order] if all_tp else np.zeros((n_t, 0), bool)
        fp = np.concatenate(all_fp, axis=1)[:, order] if all_fp else np.zeros((n_t, 0), bool)
        for t in range(n_t):
            precision[t], recall[t] = _interpolated_precision(tp[t], fp[t], n_pos, RECALL_THRESHOLDS)

    def mean_valid(x: np.ndarray) -> float:
        valid = x[x > -1]
        return float(np.mean(valid)) if valid.size else -1.0

    def at(thr: float) -> float:
        hit = np.flatnonzero(np.isclose(thresholds, thr))
        return mean_valid(precision[hit]) if hit.size else float("nan")

    return KeypointAP(ap=mean_valid(precision), ap50=at(0.5), ap75=at(0.75), ar=mean_valid(recall),
                      precision=precision, recall=recall, thresholds=thresholds)


def per_joint_ap(gt_keypoints: np.ndarray, gt_image_ids: Sequence[int], pred_keypoints: np.ndarray,
                 pred_scores: Sequence[float], pred_image_ids: Sequence[int], sigmas: Sequence[float],
                 gt_areas: np.ndarray | None = None, area_mode: str = "bbox_half",
                 **kwargs) -> np.ndarray:
    """AP of each joint on its own (HuPR Table 3, per-joint columns).

    Joint ``j`` is scored as if the skeleton had that joint only: OKS is ``exp(-d_j^2 / (2 s^2
    k_j^2))`` with the person's whole-body area ``s^2`` (computed from all joints before
    selecting); a person whose joint ``j`` is not labelled has no labelled keypoint in that
    evaluation and is ignored, as COCO ignores people without labelled keypoints. This equals
    running the COCO evaluation joint by joint on single-keypoint annotations
    (``num_keypoints = 1 if v_j > 0 else 0``) with the same boxes and areas.

    Parameters
    ----------
    gt_keypoints, gt_image_ids, pred_keypoints, pred_scores, pred_image_ids, sigmas,
    gt_areas, area_mode
        As :func:`keypoint_ap`.
    **kwargs
        Further :func:`keypoint_ap` arguments (``thresholds``, ``max_dets``, ``image_ids`` ...).

    Returns
    -------
    ndarray, float64, shape (joint,)
        AP per joint in [0, 1] (-1 where the joint has no ground truth to evaluate).
    """
    gt = np.asarray(gt_keypoints, dtype=np.float64)
    pred = np.asarray(pred_keypoints, dtype=np.float64)
    sig = np.asarray(sigmas, dtype=np.float64)
    areas = keypoint_areas(gt, area_mode) if gt_areas is None else np.asarray(gt_areas, np.float64)
    boxes = kwargs.pop("gt_bboxes", None)
    boxes = keypoint_bboxes(gt) if boxes is None else np.asarray(boxes, np.float64)
    out = np.empty(len(sig))
    for j in range(len(sig)):
        res = keypoint_ap(gt[:, j:j + 1], gt_image_ids, pred[:, j:j + 1], pred_scores,
                          pred_image_ids, sig[j:j + 1], gt_areas=areas, gt_bboxes=boxes, **kwargs)
        out[j] = res.ap
    return out


def evaluate_keypoints(gt_keypoints: np.ndarray, gt_image_ids: Sequence[int],
                       pred_keypoints: np.ndarray, pred_scores: Sequence[float],
                       pred_image_ids: Sequence[int], sigmas: Sequence[float],
                       joint_names: Sequence[str] | None = None, **kwargs) -> dict[str, float]:
    """AP, AP50, AP75, AR and per-joint AP as one flat dictionary (values in [0, 1]).

    Parameters
    ----------
    gt_keypoints, gt_image_ids, pred_keypoints, pred_scores, pred_image_ids, sigmas
        As :func:`keypoint_ap`.
    joint_names : sequence of str, optional
        Names for the per-joint entries ``"AP_<name>"`` (default ``"AP_j<index>"``), e.g.
        ``HUPR14.joints``.
    **kwargs
        Further :func:`keypoint_ap` arguments (``area_mode``, ``gt_areas``, ``max_dets`` ...).

    Returns
    -------
    dict of str to float
        Keys ``AP``, ``AP50``, ``AP75``, ``AR`` and one ``AP_<joint>`` per joint.
    """
    total = keypoint_ap(gt_keypoints, gt_image_ids, pred_keypoints, pred_scores, pred_image_ids,
                        sigmas, **kwargs)
    joints = per_joint_ap(gt_keypoints, gt_image_ids, pred_keypoints, pred_scores, pred_image_ids,
                          sigmas, **kwargs)
    names = joint_names if joint_names is not None else [f"j{j}" for j in range(len(joints))]
    out = {"AP": total.ap, "AP50": total.ap50, "AP75": total.ap75, "AR": total.ar}
    out.update({f"AP_{name}": float(v) for name, v in zip(names, joints, strict=True)})
    return out


def coco_results(pred_keypoints: np.ndarray, pred_scores: Sequence[float],
                 pred_image_ids: Sequence[int], category_id: int = 1) -> list[dict]:
    """Predictions as a COCO keypoint results list.

    Parameters
    ----------
    pred_keypoints : array_like, shape (n, joint, 2|3)
        Keypoints in pixels; a third column is written as the per-keypoint confidence, else 1.
    pred_scores : sequence of float, length n
        Person scores.
    pred_image_ids : sequence of int, length n
        Image ids.
    category_id : int
        COCO category (1 = person).

    Returns
    -------
    list of dict
        ``{"image_id", "category_id", "keypoints": [x1, y1, c1, ...], "score"}`` per person.
    """
    kp = np.asarray(pred_keypoints, dtype=np.float64)
    if kp.shape[-1] == 2:
        kp = np.concatenate([kp, np.ones(kp.shape[:-1] + (1,))], axis=-1)
    return [{"image_id": int(i), "category_id": int(category_id),
             "keypoints": [float(v) for v in p.reshape(-1)], "score": float(s)}
            for p, s, i in zip(kp, np.asarray(pred_scores).reshape(-1),
                               np.asarray(pred_image_ids).reshape(-1), strict=True)]


def write_coco_results(path: str | os.PathLike, pred_keypoints: np.ndarray,
                       pred_scores: Sequence[float], pred_image_ids: Sequence[int],
                       category_id: int = 1, force: bool = False) -> None:
    """Write predictions as a COCO keypoint results JSON file (atomically).

    The file loads with ``pycocotools.coco.COCO.loadRes``.

    Parameters
    ----------
    path : str or os.PathLike
        Output ``.json`` file.
    pred_keypoints, pred_scores, pred_image_ids, category_id
        As :func:`coco_results`.
    force : bool
        Replace an existing file.

    Raises
    ------
    StoreError
        The file exists (without ``force``) or its folder is not writable.
    """
    results = coco_results(pred_keypoints, pred_scores, pred_image_ids, category_id)
    with atomic_output(path, force=force) as tmp, open(tmp, "w") as fh:
        json.dump(results, fh)
