"""HuPR acceptance run: simulate two radars, build VRDAEMap cubes, train ``small`` on CPU, score AP.

Steps (``python -m radarkit.pipelines.train_hupr_sim --out DIR``):

1. Simulate a two-radar dataset with :func:`radarkit.sim.dataset.write_dataset` (``hupr`` preset,
   scene ``hupr``: static poses, one- and two-hand waving, walking while waving; 10 s segments),
   ``--subjects`` people of ``--seconds`` each. ``--hold-out first`` (default): the first subject
   of ``splits.json``'s test split is held out and every other subject trains (at least 3);
   ``--hold-out test-split``: every subject of the test split is held out, each is scored on its
   own and all together (one subject is a noisy yardstick: its actions decide much of the AP);
   ``--hold-out 3,5,7,20``: those subjects (the first subjects of a larger dataset of the same
   seed are those of a smaller one, so a held-out set can stay fixed while training people are
   added).
2. Write the float16 VRDAEMap cube of every radar (:func:`radarkit.data.hupr.ensure_cubes`),
   keeping ``--doppler-bins`` Doppler bins around zero velocity (HuPR: 8; the model reads the same),
   and read every training frame into the windows' in-memory cache (float16, elevation averaged),
   so that disk reads neither count against the training budget nor slow the first epoch, whose
   pace plans the run.
3. Train the ``small`` preset (HuPR loss, Adam) for whole epochs while the next one still fits in
   ``--budget-min`` minutes of wall time (the first epoch always runs), on ``--threads`` CPU
   threads (default 1; see :func:`run`). The first epoch's wall time fixes how many epochs fit the
   budget; the learning rate is held for half of them (at least the first) and decays linearly to
   zero over the rest (:func:`plan_epochs`, ``HuPRTrainConfig(lr_schedule="linear")``;
   ``--no-lr-decay``: the paper's step decay, in effect constant over so few iterations). After
   each later epoch the plan is checked at that epoch's pace: when fewer epochs fit (the machine
   slowed down), the decay is shortened to reach zero at the end of the last epoch that still fits
   (:meth:`~radarkit.train.hupr.HuPRTrainConfig.shorten_decay`, without a jump in the rate).
4. Score the last checkpoint on every ``--eval-step``-th frame of the test subject(s): AP, AP50,
   AP75, per-joint AP with HuPR's OKS sigmas, area = box / 2 (:func:`radarkit.train.hupr.
   score_predictions`), on the refined heatmaps (the model's output, as the paper) and, for
   diagnosis, on the 2-D decoder's initial heatmaps.
5. Score the **mean-pose baseline** on the same frames: the mean of the 14 keypoints (256 x 256
   image pixels) over all training frames, predicted unchanged for every test frame with score 1.
   It is what a model that ignores the radar would do best on average; the acceptance asks for
   an AP at least 20 points above it (with several held-out subjects: on all of them together).
6. Print and save ``DIR/summary.json`` (timings in wall and CPU seconds, per-epoch losses, both
   scores, the command).

Deviations from the paper's optimiser settings, to fit a 30-minute CPU budget: batch 2 (paper
20), for more updates per CPU second; learning rate 2.5e-4 (paper 1e-4); the linear decay within
the budget. All are options. The rate was chosen on a 10-minute proxy; with it the 30-minute runs
with 56 training people (seeds 1 and 2, 16 held-out people each) gained 22.5 and 27.1 AP points
over the mean pose, against 14.0 and 17.2 at 1e-3 (``docs/hupr_simulated_runs.md`` has the
commands, the proxy and the per-person numbers).

References
----------
.. [1] S.-P. Lee et al., "HuPR: A Benchmark for Human Pose Estimation Using Millimeter Wave Radar",
   WACV 2023 (sections 5.1-5.2).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["HOLD_OUT_RULES", "mean_pose_baseline", "plan_epochs", "simulated_split",
           "score_by_subject", "run", "main"]


def plan_epochs(epoch_s: float, left_s: float, done: int, max_epochs: int) -> tuple[int, int]:
    """How many epochs fit the budget, and how many of them keep the full learning rate.

    Parameters
    ----------
    epoch_s : float
        Wall time of the last epoch (s).
    left_s : float
        Training budget left (s).
    done : int
        Epochs done (>= 1).
    max_epochs : int
        Upper bound on epochs.

    Returns
    -------
    planned : int
        Epochs in the run: those done and the whole epochs of ``epoch_s`` that fit in ``left_s``.
    hold : int
        Epochs at the full rate: half of ``planned`` rounded down, at least ``done``. The rate
        then decays linearly to zero over epochs ``hold + 1 .. planned`` (none when equal).
    """
    planned = max(done, min(max_epochs, done + int(max(left_s, 0.0) // max(epoch_s, 1e-9))))
    return planned, max(done, planned // 2)


def mean_pose_baseline(train_keypoints: np.ndarray, n: int) -> np.ndarray:
    """The mean-pose baseline: the mean training pose repeated for ``n`` test frames.

    Parameters
    ----------
    train_keypoints : array_like, shape (F, J, 2)
        Training keypoints in image pixels.
    n : int
        Test frames.

    Returns
    -------
    ndarray, float32, shape (n, J, 2)
    """
    mean = np.asarray(train_keypoints, dtype=np.float64).reshape(-1, *np.shape(train_keypoints)[-2:])
    return np.repeat(mean.mean(axis=0)[None].astype(np.float32), n, axis=0)


#: ``hold_out`` rules of :func:`simulated_split`.
HOLD_OUT_RULES = ("first", "test-split")


def simulated_split(data: str | os.PathLike, subjects: int = 6, seconds: float = 20.0, seed: int = 0,
                    hold_out: str | Sequence[int] = "first"
                    ) -> tuple[dict, list[str], list[str], list[int]]:
    """The simulated two-radar HuPR dataset of the acceptance runs, and its train/test sequences.

    Simulates ``data`` (``hupr`` preset and scene, both radars) unless ``data/dataset.json``
    exists. The held-out test subjects follow ``hold_out``; every other subject trains.

    Parameters
    ----------
    data : str or os.PathLike
        Dataset folder (reused when present).
    subjects, seconds, seed : int, float, int
        People, seconds per person and seed of a new simulation.
    hold_out : {"first", "test-split"} or sequence of int
        ``"first"``: the first subject of ``splits.json``'s test split; ``"test-split"``: every
        subject of it; subject ids: those subjects (for instance the held-out set of a smaller
        dataset of the same seed, whose subjects are the first ones of a larger one).

    Returns
    -------
    meta : dict
        ``dataset.json``.
    train_sequences, test_sequences : list of str
        Sequence folder names.
    test_subjects : list of int
        The held-out subject ids, in ``splits.json`` order (or as given, repeats dropped).

    Raises
    ------
    ValueError
        Fewer than 4 subjects for a new dataset; an unknown ``hold_out`` rule or subject id; fewer
        than 3 training subjects left.
    """
    if isinstance(hold_out, str) and hold_out not in HOLD_OUT_RULES:
        raise ValueError(f"hold_out must be one of {HOLD_OUT_RULES} or subject ids, got "
                         f"{hold_out!r}")
    from radarkit.config.presets import get_preset
    from radarkit.sim.dataset import write_dataset

    data = Path(data)
    if not (data / "dataset.json").exists():
        if subjects < 4:
            raise ValueError("need at least 4 subjects (3 to train, 1 to test)")
        write_dataset(data, get_preset("hupr"), scene="hupr", n_subjects=subjects, seconds=seconds,
                      radars=("hori", "vert"), seed=seed)
    meta = json.loads((data / "dataset.json").read_text())
    splits = json.loads((data / "splits.json").read_text())
    seq_subject = {q["name"]: q["subject_id"] for q in meta["sequences"]}
    if isinstance(hold_out, str):
        test_subjects = list(splits["subjects"]["test"])
        if hold_out == "first":
            test_subjects = test_subjects[:1]
    else:
        test_subjects = list(dict.fromkeys(int(i) for i in hold_out))
        unknown = sorted(set(test_subjects) - set(seq_subject.values()))
        if unknown or not test_subjects:
            raise ValueError(f"{data}: no subject(s) {unknown or test_subjects} to hold out")
    test_seqs = [n for sid in test_subjects for n, s in seq_subject.items() if s == sid]
    train_seqs = [n for n, s in seq_subject.items() if s not in test_subjects]
    if len({seq_subject[n] for n in train_seqs}) < 3:
        raise ValueError(f"{data}: holding out subjects {test_subjects} leaves fewer than 3 "
                         "training subjects")
    return meta, train_seqs, test_seqs, test_subjects


def score_by_subject(subsets: Sequence[tuple[int, Any]], predictions: dict[str, np.ndarray],
                     baseline_keypoints: np.ndarray) -> dict[str, dict[str, float]]:
    """Score pooled test predictions subject by subject.

    Parameters
    ----------
    subsets : sequence of (int, HuPRWindows)
        Each held-out subject's id and test windows, in the order in which their windows follow
        each other in ``predictions``.
    predictions : dict
        :func:`radarkit.train.hupr.predict_hupr` output on all the subsets' windows together:
        ``keypoints`` float ``(N, J, 2)`` image pixels, ``scores`` float ``(N,)``, ``image_ids``
        int ``(N,)``.
    baseline_keypoints : ndarray, shape (N, J, 2)
        The mean-pose baseline's keypoints for the same windows.

    Returns
    -------
    dict
        ``{str(subject): {"windows", "AP", "AP50", "AP75", "mean_pose_AP"}}``, AP in points
        (0-100, rounded to 0.01), in ``subsets`` order.

    Raises
    ------
    RuntimeError
        The subsets' image ids, concatenated, are not ``predictions["image_ids"]`` (a reordering
        would otherwise score the wrong frames).
    """
    from radarkit.train.hupr import score_predictions

    ids = np.concatenate([sub.ground_truth()["image_ids"] for _, sub in subsets])
    if not np.array_equal(ids, predictions["image_ids"]):
        raise RuntimeError("the subjects' test windows are not the predictions' windows in order")
    out, start = {}, 0
    for sid, sub in subsets:
        part = slice(start, start + len(sub))
        start += len(sub)
        m = score_predictions(sub, predictions["keypoints"][part], predictions["scores"][part])
        b = score_predictions(sub, baseline_keypoints[part])
        out[str(sid)] = {"windows": len(sub), "AP": round(100 * m["AP"], 2),
                         "AP50": round(100 * m["AP50"], 2), "AP75": round(100 * m["AP75"], 2),
                         "mean_pose_AP": round(100 * b["AP"], 2)}
    return out


def _cpu() -> float:
    return time.process_time()


def run(out: str | os.PathLike, subjects: int = 6, seconds: float = 20.0, seed: int = 0,
        budget_min: float = 24.0, max_epochs: int = 50, batch_size: int = 2, lr: float = 2.5e-4,
        step: int = 2, eval_step: int = 2, threads: int = 1, prior_init: bool = True,
        lr_decay: bool = True, hold_out: str | Sequence[int] = "first", doppler_bins: int = 8,
        precision: str = "fp32", echo=print) -> dict[str, Any]:
    """Run the acceptance chain into ``out`` (see the module docstring); returns the summary.

    Parameters
    ----------
    out : str or os.PathLike
        Work folder: ``data/`` (simulated dataset, reused when present), ``data/cubes_vrdae/``
        (``data/cubes_vrdae_k<K>/`` for ``doppler_bins`` K != 8), ``run/`` (checkpoints,
        metrics), ``test_predictions.json``, ``summary.json``.
    subjects : int
        Simulated people (one is held out for testing; needs >= 4).
    seconds : float
        Length of each person's sequence (s; 10 frames/s).
    seed : int
        Simulation and training seed.
    budget_min : float
        Wall-clock minutes for training epochs.
    max_epochs : int
        Upper bound on epochs.
    batch_size : int
        Windows per batch.
    lr : float
        Adam learning rate (weight decay 1e-4 and the x0.999 / 2000 iterations decay as the paper).
    step : int
        Every ``step``-th training frame is a window centre (all frames still feed the windows).
    eval_step : int
        Every ``eval_step``-th test frame is scored.
    threads : int
        torch CPU threads. Default 1: on the shared 2-core machine a training step of batch 2
        took 0.75 s with 1 thread and 10-16 s with 2 (threads waiting on each other while other
        processes hold the cores).
    prior_init : bool
        Start the output heatmaps at the mean training heatmap (:func:`radarkit.train.hupr.
        init_heatmap_prior`). Not in the paper; without it, a 30-minute CPU budget is mostly spent
        learning where joints are on average.
    lr_decay : bool
        Hold ``lr`` for half the epochs that fit the budget (planned from the first epoch's wall
        time, :func:`plan_epochs`), then decay it linearly to zero at the end of the last one (not
        in the paper). False: the paper's step decay.
    hold_out : {"first", "test-split"} or sequence of int
        Which subjects are held out (:func:`simulated_split`).
    doppler_bins : int
        Doppler bins K around zero velocity in the cubes and the model's input (HuPR: 8, which
        covers -0.52..+0.39 m/s with the ``hupr`` chirp's 0.13 m/s bins; HuPR's stored frames keep
        16). Not a preset change: the ``small`` preset with ``n_doppler`` overridden.
    precision : {"fp32", "bf16"}
        Training forward pass in float32 or under bfloat16 autocast
        (:class:`radarkit.train.hupr.HuPRTrainConfig` ``precision``; not in the paper).
    echo : callable
        Progress lines.

    Returns
    -------
    dict
        The summary written to ``out/summary.json``.

    Raises
    ------
    ValueError
        Fewer than 4 subjects, fewer than 3 left to train, or an odd ``doppler_bins``.
    """
    import torch

    from radarkit.atomic import atomic_output
    from radarkit.data.hupr import ensure_cubes, hupr_cube_dataset
    from radarkit.metrics.keypoints import write_coco_results
    from radarkit.models.hupr import get_config
    from radarkit.train.hupr import HuPRTrainConfig, evaluate_hupr, score_predictions, train_hupr

    if subjects < 4:
        raise ValueError("need at least 4 subjects (3 to train, 1 to test)")
    model_cfg = get_config("small", n_doppler=doppler_bins)  # checks K before any work
    torch.set_num_threads(threads)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data = out / "data"
    t0, c0 = time.perf_counter(), _cpu()
    timings: dict[str, dict[str, float]] = {}

    def mark(name: str, t: float, c: float) -> None:
        timings[name] = {"wall_s": round(time.perf_counter() - t, 2), "cpu_s": round(_cpu() - c, 2)}
        echo(f"[{name}] {timings[name]['wall_s']:.1f} s wall, {timings[name]['cpu_s']:.1f} s CPU")

    meta, train_seqs, test_seqs, test_subjects = simulated_split(data, subjects, seconds, seed,
                                                                 hold_out)
    seq_subject = {q["name"]: q["subject_id"] for q in meta["sequences"]}
    train_subjects = sorted({seq_subject[n] for n in train_seqs})
    mark("simulate", t0, c0)

    t1, c1 = time.perf_counter(), _cpu()
    cubes = ensure_cubes(data, workers=1, doppler_bins=doppler_bins)  # default_cube_dir(data, K)
    mark("cubes", t1, c1)

    n_train_frames = sum(q["n_frames"] for q in meta["sequences"] if q["name"] in train_seqs)
    train_set = hupr_cube_dataset(data, train_seqs, cubes, build=False, step=step,
                                  n_doppler=doppler_bins, cache_frames=n_train_frames, cache_dtype=np.float16,
                                  mean_elevation=True)
    test_set = hupr_cube_dataset(data, test_seqs, cubes, build=False, step=eval_step,
                                 n_doppler=doppler_bins, cache_frames=16, mean_elevation=True)
    tcfg = HuPRTrainConfig(lr=lr, batch_size=batch_size, step=step, eval_step=eval_step,
                           prior_init=prior_init, lr_schedule="linear" if lr_decay else "step",
                           precision=precision)
    echo(f"train subjects {train_subjects} ({len(train_set)} windows), test subject "
         f"{test_subjects} ({len(test_set)} windows)")
    t1, c1 = time.perf_counter(), _cpu()
    for i in range(len(train_set)):  # read every training frame into the cache, off the clock
        train_set[i]
    mark("load", t1, c1)

    t2, c2 = time.perf_counter(), _cpu()
    run_dir = out / "run"
    rows: list[dict] = []
    epoch_s = 0.0
    planned = max_epochs
    replans: list[dict] = []
    info = {"data": str(data), "train_sequences": train_seqs, "test_sequences": test_seqs}
    for epoch in range(1, max_epochs + 1):
        elapsed = time.perf_counter() - t2
        if epoch > planned or (epoch > 1 and elapsed + epoch_s > 60.0 * budget_min):
            break
        te = time.perf_counter()
        model, rows = train_hupr(train_set, run_dir, model_cfg, tcfg, epochs=epoch, resume=epoch > 1,
                                 seed=seed, device="cpu", data_info=info, progress=False,
                                 echo=echo)
        epoch_s = time.perf_counter() - te
        left = 60.0 * budget_min - (time.perf_counter() - t2)
        if lr_decay and epoch == 1:
            planned, hold = plan_epochs(epoch_s, left, epoch, max_epochs)
            if planned > hold:
                tcfg = tcfg.with_linear_decay(len(train_set), hold, planned)
                span = f"epoch {planned}" if planned == hold + 1 else f"epochs {hold + 1}-{planned}"
                echo(f"{planned} epochs fit: the learning rate decays linearly to 0 over {span}")
        elif lr_decay and epoch < planned and tcfg.decay_end is not None:
            # a slower epoch than the first: if the plan no longer fits, end the decay with the
            # last epoch that does, so that the rate still reaches zero
            fits, _ = plan_epochs(epoch_s, left, epoch, planned)
            if fits < planned:
                planned = fits
                replans.append({"after_epoch": epoch, "epoch_s": round(epoch_s, 1),
                                "planned_epochs": planned})
                if planned > epoch:
                    steps = tcfg.iterations_per_epoch(len(train_set))
                    tcfg = tcfg.shorten_decay(epoch * steps, planned * steps)
                    echo(f"epoch {epoch} took {epoch_s:.0f} s: {planned} epochs fit, the learning "
                         f"rate now reaches 0 at the end of epoch {planned}")
                else:
                    echo(f"epoch {epoch} took {epoch_s:.0f} s: no further epoch fits the budget")
    mark("train", t2, c2)

    t3, c3 = time.perf_counter(), _cpu()
    metrics, preds = evaluate_hupr(model, test_set, "cpu", batch_size=8)
    initial_metrics, _ = evaluate_hupr(model, test_set, "cpu", batch_size=8, heatmaps="initial")
    write_coco_results(out / "test_predictions.json", preds["keypoints"], preds["scores"],
                       preds["image_ids"], force=True)
    train_kp = np.concatenate([s.keypoints for s in train_set.sequences])
    base_kp = mean_pose_baseline(train_kp, len(test_set))
    baseline = score_predictions(test_set, base_kp)
    per_subject = {}
    if len(test_subjects) > 1:  # the same predictions, scored subject by subject
        subsets = [(sid, hupr_cube_dataset(data, [n for n in test_seqs if seq_subject[n] == sid],
                                           cubes, build=False, step=eval_step,
                                           n_doppler=doppler_bins, cache_frames=1,
                                           mean_elevation=True))
                   for sid in test_subjects]
        per_subject = score_by_subject(subsets, preds, base_kp)
        for sid, row in per_subject.items():
            echo(f"subject {sid}: AP {row['AP']:.1f} (mean pose {row['mean_pose_AP']:.1f})")
    mark("evaluate", t3, c3)

    gain = 100.0 * (metrics["AP"] - baseline["AP"])
    summary = {
        "command": " ".join(["python", "-m", "radarkit.pipelines.train_hupr_sim", *sys.argv[1:]]),
        "dataset": {"subjects": subjects, "seconds": seconds, "seed": seed, "scene": "hupr",
                    "hold_out": hold_out if isinstance(hold_out, str) else list(hold_out),
                    "train_subjects": train_subjects, "test_subject": test_subjects,
                    "train_windows": len(train_set), "test_windows": len(test_set)},
        "training": {"preset": "small", "doppler_bins": doppler_bins, "epochs": len(rows),
                     "planned_epochs": planned, "replans": replans,
                     **tcfg.to_dict(),
                     "torch_threads": threads, "budget_min": budget_min,
                     "per_epoch": [{k: r[k] for k in ("epoch", "train_loss", "seconds") if k in r}
                                   for r in rows]},
        "timings": timings,
        "total": {"wall_s": round(time.perf_counter() - t0, 1), "cpu_s": round(_cpu() - c0, 1),
                  "cpu_count": os.cpu_count(), "loadavg_end": list(os.getloadavg())},
        "model": {k: round(100 * v, 2) for k, v in metrics.items()},
        "model_initial_heatmaps": {k: round(100 * v, 2) for k, v in initial_metrics.items()},
        "mean_pose_baseline": {k: round(100 * v, 2) for k, v in baseline.items()},
        "per_test_subject": per_subject,
        "ap_gain_points": round(gain, 2),
        "accepted": bool(gain >= 20.0),
    }
    with atomic_output(out / "summary.json", force=True) as tmp:
        tmp.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    echo(f"model AP {summary['model']['AP']:.1f} (AP50 {summary['model']['AP50']:.1f}, AP75 "
         f"{summary['model']['AP75']:.1f}; initial heatmaps AP "
         f"{summary['model_initial_heatmaps']['AP']:.1f}); mean-pose baseline AP "
         f"{summary['mean_pose_baseline']['AP']:.1f};"
         f" gain {gain:.1f} points; total {summary['total']['wall_s']:.0f} s wall, "
         f"{summary['total']['cpu_s']:.0f} s CPU")
    return summary


def _hold_out_arg(text: str) -> str | list[int]:
    if text in HOLD_OUT_RULES:
        return text
    try:
        return [int(t) for t in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected {' or '.join(HOLD_OUT_RULES)} or comma-separated subject ids, got {text!r}"
        ) from None


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns 0 when the AP gain is at least 20 points."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True, type=Path, help="work folder")
    p.add_argument("--subjects", type=int, default=6)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--budget-min", type=float, default=24.0, help="wall-clock minutes of training")
    p.add_argument("--max-epochs", type=int, default=50)
    p.add_argument("--batch-size", type=int, default=2)
    p.add_argument("--lr", type=float, default=2.5e-4,
                   help="Adam learning rate (paper: 1e-4)")
    p.add_argument("--step", type=int, default=2)
    p.add_argument("--eval-step", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-prior-init", dest="prior_init", action="store_false",
                   help="start from the plain initialisation (as the paper)")
    p.add_argument("--no-lr-decay", dest="lr_decay", action="store_false",
                   help="the paper's step decay instead of the linear decay within the budget")
    p.add_argument("--doppler-bins", type=int, default=8,
                   help="Doppler bins around zero velocity in the cubes and the model input "
                        "(HuPR: 8)")
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                   help="training forward pass in float32 or under bfloat16 autocast (not in the "
                        "paper; weights, optimiser and loss stay float32)")
    p.add_argument("--hold-out", type=_hold_out_arg, default="first",
                   help="'first': the first subject of the test split; 'test-split': all of it "
                        "(each scored on its own and together); or subject ids, e.g. 3,5,7")
    a = p.parse_args(argv)
    summary = run(a.out, a.subjects, a.seconds, a.seed, a.budget_min, a.max_epochs, a.batch_size,
                  a.lr, a.step, a.eval_step, a.threads, a.prior_init, a.lr_decay, a.hold_out,
                  a.doppler_bins, a.precision)
    return 0 if summary["accepted"] else 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
