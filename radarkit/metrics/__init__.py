"""Evaluation metrics on numpy arrays (no torch): pose errors, keypoint AP, descriptor errors.

Modules: :mod:`~radarkit.metrics.keypoints` (OKS, COCO keypoint AP), :mod:`~radarkit.metrics.joints`
(MPJPE, PCK), :mod:`~radarkit.metrics.procrustes` (aligned pose errors),
:mod:`~radarkit.metrics.descriptors` (mmJoints descriptors, sMAPE/wMAPE).
"""

from radarkit.metrics.keypoints import (
    OKS_THRESHOLDS,
    KeypointAP,
    evaluate_keypoints,
    keypoint_ap,
    oks,
    per_joint_ap,
    write_coco_results,
)

__all__ = [
    "OKS_THRESHOLDS",
    "KeypointAP",
    "oks",
    "keypoint_ap",
    "per_joint_ap",
    "evaluate_keypoints",
    "write_coco_results",
]
