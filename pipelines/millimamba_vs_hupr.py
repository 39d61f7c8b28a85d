"""milliMamba against HuPR on the simulated HuPR split, with the same training budget for each.

Steps (``python -m radarkit.pipelines.millimamba_vs_hupr --out DIR``):

1. The simulated two-radar dataset of the HuPR acceptance run (:mod:`radarkit.pipelines.
   train_hupr_sim`): the same :func:`radarkit.sim.dataset.write_dataset` call (``hupr`` preset and
   scene, ``--subjects`` people of ``--seconds`` each, ``--seed``), in ``DIR/data`` -- reused when
   it exists, so giving both scripts the same ``--out`` shares it -- or an existing ``--data``
   folder. The test subject is the first of ``splits.json``'s test subjects; all others train.
2. Cubes: HuPR's float16 VRDAEMaps (``DATA/cubes_vrdae``) and milliMamba's float16 complex RAD
   cubes (``DATA/cubes_rad``), written when missing.
3. Three models trained on one CPU thread (``torch.set_num_threads``; the machine is shared), each
   for whole epochs while the next epoch still fits in ``--budget-min`` minutes of wall time (the
   first always runs): milliMamba ``small`` with the velocity loss (weight ``--velocity-weight``),
   milliMamba ``small`` without it (weight 0), and HuPR ``small`` (output started at the mean
   training heatmap, as in :mod:`radarkit.pipelines.train_hupr_sim`).
4. Every frame of the test subject is predicted by each model (milliMamba: windows of 16 frames
   predicting their 4 central frames, stride 4; HuPR: one 8-frame window per frame) and scored
   the same way: OKS AP and AP50 with HuPR's sigmas (:func:`radarkit.train.hupr.score_predictions`),
   MPJPE and MPJVE in pixels and metres (:func:`radarkit.train.millimamba.pose_errors`). The
   mean-pose baseline (:func:`radarkit.pipelines.train_hupr_sim.mean_pose_baseline`) is scored too.
5. ``DIR/summary.json`` (settings, timings, per-epoch losses, the scores, the velocity loss's effect
   on MPJVE) and a printed table.

References
----------
.. [1] N. P. Kini et al., "milliMamba", WACV 2026, arXiv:2512.20128.
.. [2] S.-P. Lee et al., "HuPR", WACV 2023.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["train_within_budget", "run", "main"]

_KEYS = ("AP", "AP50", "AP75", "MPJPE_px", "MPJVE_px", "MPJPE_m", "MPJVE_m")


def train_within_budget(train_to: Callable[[int], list[dict]], budget_s: float,
                        max_epochs: int) -> tuple[list[dict], float]:
    """Train whole epochs while the next one still fits in the budget (the first always runs).

    Parameters
    ----------
    train_to : callable
        ``train_to(epoch)`` trains up to ``epoch`` epochs in total (resuming after the first)
        and returns the metric rows.
    budget_s : float
        Wall-clock budget (s).
    max_epochs : int
        Upper bound on epochs.

    Returns
    -------
    rows : list of dict
        The metric rows of the last call.
    seconds : float
        Wall time spent.
    """
    start, epoch_s, rows = time.perf_counter(), 0.0, []
    for epoch in range(1, max_epochs + 1):
        elapsed = time.perf_counter() - start
        if epoch > 1 and elapsed + epoch_s > budget_s:
            break
        t = time.perf_counter()
        rows = train_to(epoch)
        epoch_s = time.perf_counter() - t
    return rows, time.perf_counter() - start


def _rounded(metrics: dict[str, float]) -> dict[str, float]:
    out = {}
    for k, v in metrics.items():
        scale = 100.0 if k.startswith("AP") or k == "AR" else 1.0
        out[k] = round(scale * float(v), 4 if k.endswith("_m") else 2)
    return out


def run(out: str | os.PathLike, data: str | os.PathLike | None = None, subjects: int = 6,
        seconds: float = 20.0, seed: int = 0, budget_min: float = 15.0, max_epochs: int = 50,
        step: int = 2, mm_batch_size: int = 4, mm_lr: float = 5e-4, velocity_weight: float = 1.0,
        hupr_batch_size: int = 2, hupr_lr: float = 1e-3, threads: int = 1,
        echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the comparison into ``out`` (see the module docstring); returns the summary.

    Parameters
    ----------
    out : str or os.PathLike
        Work folder: ``data/`` (unless ``data`` is given), ``run_millimamba/``,
        ``run_millimamba_no_velocity/``, ``run_hupr/``, ``summary.json``.
    data : str or os.PathLike, optional
        An existing simulated dataset folder to use instead of ``out/data``.
    subjects, seconds, seed : int, float, int
        Simulation (as the HuPR acceptance run); ``seed`` also seeds the training.
    budget_min : float
        Wall-clock minutes of training for each model.
    max_epochs : int
        Upper bound on epochs per model.
    step : int
        Every ``step``-th training frame starts a window (both models).
    mm_batch_size, mm_lr : int, float
        milliMamba batch and Adam learning rate.
    velocity_weight : float
        Weight of the velocity loss of the first milliMamba run (> 0).
    hupr_batch_size, hupr_lr : int, float
        HuPR batch and learning rate (the HuPR acceptance run's 2 and 1e-3).
    threads : int
        torch CPU threads.
    echo : callable
        Progress lines.

    Returns
    -------
    dict
        The summary written to ``out/summary.json``.

    Raises
    ------
    ValueError
        Fewer than 4 subjects for a new dataset, or a non-positive velocity weight.
    """
    import torch

    from radarkit.atomic import atomic_output
    from radarkit.data.hupr import default_cube_dir, ensure_cubes, hupr_cube_dataset
    from radarkit.data.millimamba import default_rad_cube_dir, ensure_rad_cubes, millimamba_cube_dataset
    from radarkit.models.millimamba import PRESETS
    from radarkit.pipelines.train_hupr_sim import mean_pose_baseline, simulated_split
    from radarkit.train.hupr import HuPRTrainConfig, evaluate_hupr, score_predictions, train_hupr
    from radarkit.train.millimamba import (
        MilliMambaTrainConfig,
        evaluate_millimamba,
        pose_errors,
        train_millimamba,
        with_overrides,
    )

    if velocity_weight <= 0:
        raise ValueError("velocity_weight must be > 0 (the second milliMamba run has none)")
    torch.set_num_threads(threads)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data = Path(data) if data is not None else out / "data"
    t0 = time.perf_counter()
    timings: dict[str, float] = {}

    def mark(name: str, t: float) -> None:
        timings[name] = round(time.perf_counter() - t, 1)
        echo(f"[{name}] {timings[name]:.1f} s")

    meta, train_seqs, test_seqs, _ = simulated_split(data, subjects, seconds, seed)
    mark("simulate", t0)

    t = time.perf_counter()
    vrdae = ensure_cubes(data, default_cube_dir(data))
    rad = ensure_rad_cubes(data, default_rad_cube_dir(data))
    mark("cubes", t)

    n_train_frames = sum(q["n_frames"] for q in meta["sequences"] if q["name"] in train_seqs)
    cfg = PRESETS["small"]
    window = dict(n_frames=cfg.n_frames, n_out_frames=cfg.n_out_frames, n_doppler=cfg.n_doppler)
    mm_train = millimamba_cube_dataset(data, train_seqs, rad, build=False, step=step,
                                       cache_frames=n_train_frames, **window)
    mm_test = millimamba_cube_dataset(data, test_seqs, rad, build=False, step=cfg.n_out_frames,
                                      cache_frames=cfg.n_frames, **window)
    hupr_train = hupr_cube_dataset(data, train_seqs, vrdae, build=False, step=step,
                                   cache_frames=n_train_frames, cache_dtype=np.float16, mean_elevation=True)
    hupr_test = hupr_cube_dataset(data, test_seqs, vrdae, build=False, step=1, cache_frames=16,
                                  mean_elevation=True)
    echo(f"train {train_seqs} ({len(mm_train)} milliMamba / {len(hupr_train)} HuPR windows), test "
         f"{test_seqs} ({len(hupr_test)} frames)")

    budget_s = 60.0 * budget_min
    info = {"data": str(data), "train_sequences": train_seqs, "test_sequences": test_seqs}
    mm_tcfg = MilliMambaTrainConfig(lr=mm_lr, batch_size=mm_batch_size, step=step)
    hupr_tcfg = HuPRTrainConfig(lr=hupr_lr, batch_size=hupr_batch_size, step=step, eval_step=1,
                                prior_init=True)  # as train_hupr_sim
    results: dict[str, dict[str, Any]] = {}
    models: dict[str, Any] = {}

    for name, weight in (("millimamba", velocity_weight), ("millimamba_no_velocity", 0.0)):
        mcfg = with_overrides("small", velocity_weight=weight)

        def train_to(epoch: int, mcfg=mcfg, name=name) -> list[dict]:
            models[name], rows = train_millimamba(mm_train, out / f"run_{name}", mcfg, mm_tcfg, epochs=epoch,
                                                  resume=epoch > 1, seed=seed, device="cpu",
                                                  data_info=info, progress=False, echo=echo)
            return rows

        echo(f"training {name} (velocity weight {weight:g}) for {budget_min:g} min")
        rows, spent = train_within_budget(train_to, budget_s, max_epochs)
        t = time.perf_counter()
        metrics, _ = evaluate_millimamba(models[name], mm_test, "cpu", batch_size=4)
        results[name] = {"velocity_weight": weight, "epochs": len(rows), "train_s": round(spent, 1),
                         "eval_s": round(time.perf_counter() - t, 1),
                         "per_epoch": [{k: r[k] for k in ("epoch", "train_loss", "train_loss_keypoint",
                                                          "train_loss_velocity", "seconds") if k in r}
                                       for r in rows],
                         "metrics": _rounded(metrics)}

    def hupr_to(epoch: int) -> list[dict]:
        models["hupr"], rows = train_hupr(hupr_train, out / "run_hupr", "small", hupr_tcfg, epochs=epoch,
                                          resume=epoch > 1, seed=seed, device="cpu", data_info=info,
                                          progress=False, echo=echo)
        return rows

    echo(f"training hupr for {budget_min:g} min")
    rows, spent = train_within_budget(hupr_to, budget_s, max_epochs)
    t = time.perf_counter()
    hupr_metrics, hupr_preds = evaluate_hupr(models["hupr"], hupr_test, "cpu", batch_size=8)
    if not np.array_equal(hupr_preds["image_ids"], mm_test.ground_truth()["image_ids"]):
        raise RuntimeError("HuPR and milliMamba test frames differ")  # same sequences, every frame
    hupr_metrics.update(pose_errors(mm_test, hupr_preds["keypoints"]))
    results["hupr"] = {"epochs": len(rows), "train_s": round(spent, 1),
                       "eval_s": round(time.perf_counter() - t, 1),
                       "per_epoch": [{k: r[k] for k in ("epoch", "train_loss", "seconds") if k in r}
                                     for r in rows],
                       "metrics": _rounded(hupr_metrics)}

    train_kp = np.concatenate([s.keypoints for s in mm_train.sequences])
    base_kp = mean_pose_baseline(train_kp, int(mm_test.frame_offsets()[-1]))
    baseline = score_predictions(mm_test, base_kp)
    baseline.update(pose_errors(mm_test, base_kp))
    results["mean_pose_baseline"] = {"metrics": _rounded(baseline)}

    with_v = results["millimamba"]["metrics"]["MPJVE_px"]
    without = results["millimamba_no_velocity"]["metrics"]["MPJVE_px"]
    summary = {
        "command": " ".join(["python", "-m", "radarkit.pipelines.millimamba_vs_hupr", *sys.argv[1:]]),
        "dataset": {"folder": str(data), "subjects": meta.get("n_subjects", subjects),
                    "seconds": seconds, "seed": seed, "train_sequences": train_seqs,
                    "test_sequences": test_seqs, "test_frames": int(mm_test.frame_offsets()[-1])},
        "training": {"budget_min": budget_min, "max_epochs": max_epochs, "torch_threads": threads,
                     "step": step, "millimamba": mm_tcfg.to_dict(), "hupr": hupr_tcfg.to_dict()},
        "results": results,
        "velocity_loss_effect": {"MPJVE_px_with": with_v, "MPJVE_px_without": without,
                                 "change_px": round(with_v - without, 2),
                                 "change_percent": round(100.0 * (with_v - without) / without, 1)
                                 if without else None},
        "timings_s": {**timings, "total": round(time.perf_counter() - t0, 1)},
        "machine": {"cpu_count": os.cpu_count(), "loadavg_end": list(os.getloadavg())},
    }
    with atomic_output(out / "summary.json", force=True) as tmp:
        tmp.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    echo(format_table(summary))
    return summary


def format_table(summary: dict[str, Any]) -> str:
    """The comparison as a text table (one row per model; AP in %, errors in px and cm).

    Parameters
    ----------
    summary : dict
        :func:`run`'s summary.

    Returns
    -------
    str
    """
    lines = [f"{'model':24s} {'epochs':>6s} {'train s':>8s} {'AP':>6s} {'AP50':>6s} {'MPJPE px':>9s} "
             f"{'MPJVE px':>9s} {'MPJPE cm':>9s} {'MPJVE cm':>9s}"]
    for name, r in summary["results"].items():
        m = r["metrics"]
        cm = [f"{100 * m[k]:9.2f}" if k in m else f"{'-':>9s}" for k in ("MPJPE_m", "MPJVE_m")]
        lines.append(f"{name:24s} {r.get('epochs', '-')!s:>6s} {r.get('train_s', '-')!s:>8s} {m['AP']:6.1f} "
                     f"{m['AP50']:6.1f} {m['MPJPE_px']:9.2f} {m['MPJVE_px']:9.2f} {cm[0]} {cm[1]}")
    v = summary["velocity_loss_effect"]
    lines.append(f"velocity loss: MPJVE {v['MPJVE_px_without']:.2f} -> {v['MPJVE_px_with']:.2f} px/frame "
                 f"({v['change_percent']}%)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns 0 on completion."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True, type=Path, help="work folder")
    p.add_argument("--data", type=Path, default=None, help="existing dataset folder [default: OUT/data]")
    p.add_argument("--subjects", type=int, default=6)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--budget-min", type=float, default=15.0, help="wall-clock minutes per model")
    p.add_argument("--max-epochs", type=int, default=50)
    p.add_argument("--step", type=int, default=2)
    p.add_argument("--mm-batch-size", type=int, default=4)
    p.add_argument("--mm-lr", type=float, default=5e-4)
    p.add_argument("--velocity-weight", type=float, default=1.0)
    p.add_argument("--hupr-batch-size", type=int, default=2)
    p.add_argument("--hupr-lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args(argv)
    run(a.out, a.data, a.subjects, a.seconds, a.seed, a.budget_min, a.max_epochs, a.step, a.mm_batch_size,
        a.mm_lr, a.velocity_weight, a.hupr_batch_size, a.hupr_lr, a.threads)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
