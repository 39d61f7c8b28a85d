"""Chains of radarkit stages, and the runs that train and score the learned estimators
(installed as :mod:`radarkit.pipelines`).

* :mod:`radarkit.pipelines.stages` -- the streaming stages read -> cube -> detect -> pose -> describe;
* :mod:`radarkit.pipelines.runner` -- TOML pipelines (``radarkit run``), one HDF5 result with a group
  per stage and provenance; the built-in ``hupr``, ``maepose`` and ``pointcloud`` pipelines live in
  ``builtin/*.toml``;
* :mod:`radarkit.pipelines.demo` -- ``radarkit demo``, the whole chain on simulated data;
* :mod:`radarkit.pipelines.bench` -- ``radarkit bench``, the cube throughput comparison;
* acceptance runs on simulated data: :mod:`~radarkit.pipelines.train_hupr_sim`,
  :mod:`~radarkit.pipelines.maepose_lopo`, :mod:`~radarkit.pipelines.mmjoints_sim`,
  :mod:`~radarkit.pipelines.awc_sim`, :mod:`~radarkit.pipelines.millimamba_vs_hupr`.
"""
