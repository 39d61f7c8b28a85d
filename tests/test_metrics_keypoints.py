"""COCO keypoint OKS/AP: radarkit's numpy implementation against pycocotools (test dependency)."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest

from radarkit.metrics.keypoints import (
    evaluate_keypoints,
    keypoint_ap,
    keypoint_areas,
    keypoint_bboxes,
    oks,
    per_joint_ap,
    write_coco_results,
)
from radarkit.skeleton import HUPR14

pycocotools = pytest.importorskip("pycocotools")
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402

SIGMAS = HUPR14.sigmas
IMG = 256.0


def _random_problem(seed: int, n_images: int = 40):
    """GT people (some with unlabelled joints, some with none) and noisy predictions with extra,
    missing and off-target detections, including images without ground truth."""
    rng = np.random.default_rng(seed)
    gt, gt_img, pred, scores, pred_img = [], [], [], [], []
    for img in range(1, n_images + 1):
        n_gt = rng.choice([0, 1, 1, 1, 2, 3])
        people = []
        for _ in range(n_gt):
            centre = rng.uniform(60, 196, 2)
            scale = rng.uniform(20, 70)
            kp = np.concatenate([centre + rng.normal(0, scale, (14, 2)), np.full((14, 1), 2.0)], 1)
            kp[rng.random(14) < 0.15, 2] = 0  # unlabelled joints
            if rng.random() < 0.08:
                kp[:, 2] = 0  # nobody labelled: ignored person
            people.append(kp)
            gt.append(kp)
            gt_img.append(img)
        for person in people:
            for _ in range(rng.choice([0, 1, 1, 2])):
                noise = rng.normal(0, rng.choice([1.0, 4.0, 10.0, 25.0]), (14, 2))
                pred.append(person[:, :2] + noise)
                scores.append(rng.random())
                pred_img.append(img)
        for _ in range(rng.choice([0, 0, 1])):  # false positives anywhere
            pred.append(rng.uniform(0, IMG, (14, 2)))
            scores.append(rng.random())
            pred_img.append(img)
    return (np.array(gt), np.array(gt_img), np.array(pred), np.array(scores), np.array(pred_img),
            n_images)


def _coco_eval(gt, gt_img, pred, scores, pred_img, n_images, sigmas, areas, boxes):
    """Run stock pycocotools keypoint evaluation; returns (stats, precision array)."""
    k = gt.shape[1]
    anns = []
    for i, (kp, img) in enumerate(zip(gt, gt_img, strict=True)):
        anns.append({"id": i + 1, "image_id": int(img), "category_id": 1, "iscrowd": 0,
                     "area": float(areas[i]), "bbox": [float(v) for v in boxes[i]],
                     "num_keypoints": int(np.count_nonzero(kp[:, 2] > 0)),
                     "keypoints": [float(v) for v in kp.reshape(-1)]})
    dataset = {"images": [{"id": i, "width": 256, "height": 256} for i in range(1, n_images + 1)],
               "annotations": anns,
               "categories": [{"id": 1, "name": "person", "keypoints": [str(j) for j in range(k)],
                               "skeleton": []}]}
    results = [{"image_id": int(img), "category_id": 1, "score": float(s),
                "keypoints": [float(v) for v in np.concatenate([p, np.ones((k, 1))], 1).reshape(-1)]}
               for p, s, img in zip(pred, scores, pred_img, strict=True)]
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = dataset
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(results)
        ev = COCOeval(coco_gt, coco_dt, "keypoints")
        ev.params.kpt_oks_sigmas = np.asarray(sigmas)
        ev.params.maxDets = [20]
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats, ev.eval["precision"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ap_equals_pycocotools(seed):
    gt, gt_img, pred, scores, pred_img, n_images = _random_problem(seed)
    areas = keypoint_areas(gt, "bbox_half")
    boxes = keypoint_bboxes(gt)
    stats, precision = _coco_eval(gt, gt_img, pred, scores, pred_img, n_images, SIGMAS, areas, boxes)
    ours = keypoint_ap(gt, gt_img, pred, scores, pred_img, SIGMAS, area_mode="bbox_half",
                       image_ids=range(1, n_images + 1))
    assert 0.05 < ours.ap < 0.95  # a non-degenerate problem
    assert ours.ap == pytest.approx(stats[0], abs=1e-6)
    assert ours.ap50 == pytest.approx(stats[1], abs=1e-6)
    assert ours.ap75 == pytest.approx(stats[2], abs=1e-6)
    assert ours.ar == pytest.approx(stats[5], abs=1e-6)
    np.testing.assert_allclose(ours.precision, precision[:, :, 0, 0, 0], atol=1e-12)


def test_area_ranges_match_pycocotools():
    gt, gt_img, pred, scores, pred_img, n_images = _random_problem(7)
    # HuPR's area (half the box) makes most people "medium" (32^2..96^2) and some "large"
    areas, boxes = keypoint_areas(gt), keypoint_bboxes(gt)
    stats, _ = _coco_eval(gt, gt_img, pred, scores, pred_img, n_images, SIGMAS, areas, boxes)
    kwargs = dict(gt_areas=areas, gt_bboxes=boxes, image_ids=range(1, n_images + 1))
    medium = keypoint_ap(gt, gt_img, pred, scores, pred_img, SIGMAS, area_range=(32**2, 96**2), **kwargs)
    large = keypoint_ap(gt, gt_img, pred, scores, pred_img, SIGMAS, area_range=(96**2, 1e10), **kwargs)
    assert medium.ap == pytest.approx(stats[3], abs=1e-6)
    assert large.ap == pytest.approx(stats[4], abs=1e-6)


def test_max_dets_cut_matches_pycocotools():
    """An image with 25 people and 25 good detections: only the 20 best-scored count."""
    gt, gt_img, pred, scores, pred_img, n_images = _random_problem(8, n_images=6)
    rng = np.random.default_rng(8)
    crowd = np.concatenate([rng.uniform(0, 256, (25, 1, 2)) + rng.normal(0, 10, (25, 14, 2)),
                            np.full((25, 14, 1), 2.0)], -1)
    gt = np.concatenate([gt, crowd])
    gt_img = np.concatenate([gt_img, np.full(25, n_images + 1)])
    pred = np.concatenate([pred, crowd[:, :, :2] + rng.normal(0, 1.0, (25, 14, 2))])
    scores = np.concatenate([scores, rng.random(25)])
    pred_img = np.concatenate([pred_img, np.full(25, n_images + 1)])
    n_images += 1
    areas, boxes = keypoint_areas(gt), keypoint_bboxes(gt)
    stats, _ = _coco_eval(gt, gt_img, pred, scores, pred_img, n_images, SIGMAS, areas, boxes)
    ids = range(1, n_images + 1)
    ours = keypoint_ap(gt, gt_img, pred, scores, pred_img, SIGMAS, image_ids=ids)
    assert ours.ap == pytest.approx(stats[0], abs=1e-6)
    assert ours.ar == pytest.approx(stats[5], abs=1e-6)
    uncut = keypoint_ap(gt, gt_img, pred, scores, pred_img, SIGMAS, image_ids=ids, max_dets=100)
    assert uncut.ar > ours.ar + 0.01


def test_per_joint_ap_equals_pycocotools_joint_by_joint():
    gt, gt_img, pred, scores, pred_img, n_images = _random_problem(3)
    areas, boxes = keypoint_areas(gt), keypoint_bboxes(gt)  # whole-body area and box
    ours = per_joint_ap(gt, gt_img, pred, scores, pred_img, SIGMAS, image_ids=range(1, n_images + 1))
    for j in range(14):
        stats, _ = _coco_eval(gt[:, j:j + 1], gt_img, pred[:, j:j + 1], scores, pred_img, n_images,
                              SIGMAS[j:j + 1], areas, boxes)
        assert ours[j] == pytest.approx(stats[0], abs=1e-6), HUPR14.joints[j]
    # wrists (smallest sigma) are harder than hips with the same pixel noise
    assert ours[HUPR14.index("L_Wrist")] < ours[HUPR14.index("L_Hip")]


def test_oks_properties():
    rng = np.random.default_rng(0)
    gt = np.concatenate([rng.uniform(50, 200, (1, 14, 2)), np.full((1, 14, 1), 2.0)], -1)
    area = keypoint_areas(gt)
    assert oks(gt[:, :, :2], gt, area, SIGMAS)[0, 0] == pytest.approx(1.0)
    # one joint off by d: OKS = (13 + exp(-d^2 / (2 area (2 sigma)^2))) / 14
    d = 5.0
    shifted = gt[:, :, :2].copy()
    shifted[0, 10, 0] += d
    expected = (13 + np.exp(-d**2 / (2 * area[0] * (2 * SIGMAS[10]) ** 2))) / 14
    assert oks(shifted, gt, area, SIGMAS)[0, 0] == pytest.approx(expected, rel=1e-9)
    # unlabelled joints do not count
    gt2 = gt.copy()
    gt2[0, 10, 2] = 0
    assert oks(shifted, gt2, area, SIGMAS)[0, 0] == pytest.approx(1.0)


def test_perfect_and_shuffled_predictions():
    gt, gt_img, *_ , n_images = _random_problem(4)
    keep = np.count_nonzero(gt[:, :, 2] > 0, axis=1) > 0  # people with labelled joints
    perfect = keypoint_ap(gt[keep], gt_img[keep], gt[keep, :, :2], np.ones(keep.sum()), gt_img[keep],
                          SIGMAS)
    assert perfect.ap == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    far = gt[:, :, :2] + rng.choice([-1, 1], gt[:, :, :2].shape) * 80.0
    bad = keypoint_ap(gt[keep], gt_img[keep], far[keep], np.ones(keep.sum()), gt_img[keep], SIGMAS)
    assert bad.ap < 0.05


def test_evaluate_keypoints_and_results_json(tmp_path):
    gt, gt_img, pred, scores, pred_img, n_images = _random_problem(5)
    res = evaluate_keypoints(gt, gt_img, pred, scores, pred_img, SIGMAS, joint_names=HUPR14.joints,
                             image_ids=range(1, n_images + 1))
    assert set(res) >= {"AP", "AP50", "AP75", "AR", "AP_Head", "AP_R_Wrist"}
    assert res["AP50"] >= res["AP"] >= res["AP75"] - 1e-12
    path = tmp_path / "results.json"
    write_coco_results(path, pred, scores, pred_img)
    loaded = json.loads(path.read_text())
    assert len(loaded) == len(pred) and len(loaded[0]["keypoints"]) == 14 * 3
    np.testing.assert_allclose(np.array(loaded[3]["keypoints"]).reshape(14, 3)[:, :2], pred[3])
    from radarkit.errors import StoreError
    with pytest.raises(StoreError):
        write_coco_results(path, pred, scores, pred_img)


def test_predictions_on_unknown_image_rejected():
    gt, gt_img, pred, scores, pred_img, _ = _random_problem(6)
    with pytest.raises(ValueError, match="not evaluated"):
        keypoint_ap(gt, gt_img, pred, scores, pred_img + 1000, SIGMAS)
