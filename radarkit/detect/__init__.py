"""Detection: CFAR, peak grouping, point clouds with angles, clustering.

Layer above :mod:`radarkit.dsp` (``architecture.md``): pure functions on numpy arrays (numba
kernels for CFAR), no torch. :mod:`radarkit.detect.cluster` imports scikit-learn when called.

>>> from radarkit.detect import CfarParams, PointCloudParams, point_cloud
>>> cloud = point_cloud(raw, config, PointCloudParams(cfar=CfarParams(kind="os")))  # doctest: +SKIP
>>> cloud.frame(0)["x"]                                                              # doctest: +SKIP
"""

from radarkit.detect.cfar import (
    CFAR_KINDS,
    CfarParams,
    cfar,
    cfar_1d,
    cfar_2d,
    db_to_power,
    threshold_factor,
)
from radarkit.detect.cluster import cluster_points, dbscan_labels
from radarkit.detect.peaks import detection_list, group_peaks
from radarkit.detect.pointcloud import (
    POINT_COLUMNS,
    POINT_DTYPE,
    PointCloud,
    PointCloudParams,
    detect_rd,
    load_point_cloud,
    point_cloud,
    points_from_power,
    points_from_rad,
    points_from_rd,
    save_point_cloud,
)

__all__ = [
    "CFAR_KINDS",
    "POINT_COLUMNS",
    "POINT_DTYPE",
    "CfarParams",
    "PointCloud",
    "PointCloudParams",
    "cfar",
    "cfar_1d",
    "cfar_2d",
    "cluster_points",
    "db_to_power",
    "dbscan_labels",
    "detect_rd",
    "detection_list",
    "group_peaks",
    "load_point_cloud",
    "point_cloud",
    "points_from_power",
    "points_from_rad",
    "points_from_rd",
    "save_point_cloud",
    "threshold_factor",
]
