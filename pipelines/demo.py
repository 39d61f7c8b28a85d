"""``radarkit demo``: the whole chain on a fresh machine, from simulated raw ADC to described poses.

Steps (everything is simulated and trained on the spot; no data or checkpoint is downloaded):

1. simulate a small training set -- two people in front of HuPR's two radars (``hupr`` preset,
   scene ``hupr``: standing, waving, walking while waving) -- and, separately, the short demo
   recording of a third person (``n_frames`` frames, both radars; :func:`radarkit.sim.dataset.
   write_dataset`);
2. train a tiny HuPR (:func:`demo_hupr_config`: 2 base filters, no CSAM, no PRGCN, output started
   at the mean training heatmap) on the training set's VRDAEMap windows for a wall-clock budget, and mmJoints
   (narrow widths, stage epochs scaled down) on its point clouds with a noisy stand-in estimator
   (:func:`radarkit.data.mmjoints.noisy_estimator`);
3. run the built-in ``pointcloud`` pipeline on the horizontal radar and the built-in ``hupr``
   pipeline (VRDAEMap -> HuPR -> mmJoints) on the demo recording
   (:func:`radarkit.pipelines.runner.run_pipeline`);
4. write the figures: ``rd_map.png``, ``ra_map.png``, ``point_cloud.png``, ``skeleton.png``
   (predicted vs true keypoints), ``descriptors.png`` (the predicted skeleton coloured by xi and
   kappa) and ``sequence.gif`` (every frame; skipped with a note without Pillow).

The models see a few minutes of CPU at most, so the poses are rough: the demo shows the chain
and the file formats, not HuPR's accuracy (``radarkit.pipelines.train_hupr_sim`` measures that).
The whole demo takes about two minutes on two cores with the defaults.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from radarkit.config.presets import get_preset

__all__ = ["demo_hupr_config", "DemoSettings", "simulate_demo_data", "train_demo_models", "demo_figures",
           "run_demo"]


def demo_hupr_config():
    """The demo's HuPR: 2 base filters, no CSAM, no PRGCN, a per-pixel heatmap bias (0.17 M
    parameters), the paper's input and output sizes (:class:`radarkit.models.hupr.HuPRConfig`). The
    bias starts at the training set's mean heatmap (:func:`radarkit.train.hupr.init_heatmap_prior`),
    so a few seconds of training already give a plausible skeleton."""
    from radarkit.models.hupr import HuPRConfig

    return HuPRConfig(n_filters=2, csam_scales=(), use_gcn=False, heatmap_bias=True)


@dataclass(frozen=True)
class DemoSettings:
    """Sizes and budgets of the demo.

    Parameters
    ----------
    train_subjects : int
        Simulated people of the training set.
    train_seconds : float
        Recording length per training person (s).
    hupr_seconds : float
        Wall-clock budget of HuPR training (whole epochs of at least one step; s).
    hupr_lr : float
        Adam learning rate (HuPR: 1e-4; larger for a short budget).
    hupr_batch : int
        Windows per step.
    hupr_step : int
        Every ``hupr_step``-th training frame is a window centre.
    mmjoints_epochs : float
        Scale of mmJoints' per-stage epoch counts.
    mmjoints_basis : int
        mmJoints pose basis size ``D_p``.
    mmjoints_gmm_poses : int
        Training poses whose signal mixture is fitted (the distribution stage's data).
    seed : int
        Seed of the simulation and of the training.
    gif : bool
        Write ``sequence.gif``.
    """

    train_subjects: int = 2
    train_seconds: float = 6.0
    hupr_seconds: float = 30.0
    hupr_lr: float = 2e-3
    hupr_batch: int = 4
    hupr_step: int = 2
    mmjoints_epochs: float = 0.05
    mmjoints_basis: int = 8
    mmjoints_gmm_poses: int = 32
    seed: int = 0
    gif: bool = True


def simulate_demo_data(out: Path, n_frames: int, settings: DemoSettings, force: bool = False
                       ) -> tuple[Path, Path]:
    """Write the training set ``out/train`` and the demo recording ``out/recording``.

    Returns
    -------
    (Path, Path)
        The training dataset folder and the demo sequence folder (``recording/single_1`` with
        ``hori/`` and ``vert/``).
    """
    from radarkit.sim.dataset import write_dataset

    cfg = get_preset("hupr")
    write_dataset(out / "train", cfg, scene="hupr", n_subjects=settings.train_subjects,
                  seconds=settings.train_seconds, seed=settings.seed, force=force)
    # the demo person: a different seed, so a body and script the models have not seen
    write_dataset(out / "recording", cfg, scene="walk_wave", n_subjects=1,
                  seconds=n_frames * cfg.frame_period_s, seed=settings.seed + 1000, force=force)
    return out / "train", out / "recording" / "single_1"


def train_demo_models(train_dir: Path, out: Path, settings: DemoSettings,
                      echo: Callable[[str], Any] = print) -> tuple[Path, Path, dict]:
    """Train the demo's HuPR and mmJoints; return their checkpoints and training figures.

    Returns
    -------
    hupr_ckpt, mmjoints_ckpt : Path
    info : dict
        ``hupr_steps``, ``hupr_loss`` (first and last epoch), ``hupr_seconds``, ``mmjoints_seconds``.
    """
    import dataclasses

    import torch

    from radarkit.data.hupr import hupr_cube_dataset
    from radarkit.data.mmjoints import POINT_FEATURES, load_sim_sequences, noisy_estimator
    from radarkit.pipelines.mmjoints_sim import MMJointsSettings, train_mmjoints
    from radarkit.train.checkpoint import save_checkpoint
    from radarkit.train.hupr import (
        MODEL_NAME,
        HuPRTrainConfig,
        hupr_step,
        init_heatmap_prior,
        make_optimizer,
        mean_target_heatmaps,
    )
    from radarkit.train.loop import seed_everything
    from radarkit.train.mmjoints import save_mmjoints

    info: dict[str, Any] = {}
    names = [s["name"] for s in json.loads((train_dir / "dataset.json").read_text())["sequences"]]
    # --- HuPR: a plain loop with a wall-clock budget (train_hupr runs whole epochs) ---
    t0 = time.perf_counter()
    data = hupr_cube_dataset(train_dir, names, step=settings.hupr_step, cache_frames=10_000,
                              mean_elevation=True)
    seed_everything(settings.seed)
    cfg = demo_hupr_config()
    from radarkit.models.hupr import HuPR

    model = HuPR(cfg)
    init_heatmap_prior(model, mean_target_heatmaps(data))
    tcfg = HuPRTrainConfig(lr=settings.hupr_lr, batch_size=settings.hupr_batch, prior_init=True)
    optimizer, scheduler = make_optimizer(model, tcfg)
    loader = torch.utils.data.DataLoader(data, batch_size=settings.hupr_batch, shuffle=True,
                                         generator=torch.Generator().manual_seed(settings.seed))
    losses: list[float] = []
    steps, start = 0, time.perf_counter()
    model.train()
    while steps == 0 or time.perf_counter() - start < settings.hupr_seconds:
        for batch in loader:
            loss, _ = hupr_step(model, batch, torch.device("cpu"), tcfg.alpha)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            losses.append(float(loss.detach()))
            steps += 1
            if time.perf_counter() - start >= settings.hupr_seconds:
                break
    data.close()
    hupr_ckpt = out / "hupr_demo.ckpt"
    save_checkpoint(hupr_ckpt, model, name=MODEL_NAME, epoch=0,
                    config={"model": cfg.to_dict(), "train": tcfg.to_dict(), "seed": settings.seed,
                            "data": {"dataset": str(train_dir), "note": "radarkit demo"}},
                    metrics={"steps": steps, "loss_first": losses[0], "loss_last": losses[-1]})
    info.update(hupr_steps=steps, hupr_loss_first=losses[0], hupr_loss_last=float(np.mean(losses[-5:])),
                hupr_seconds=time.perf_counter() - t0)
    echo(f"trained HuPR (tiny, {sum(p.numel() for p in model.parameters()):,} parameters): {steps} steps in "
         f"{info['hupr_seconds']:.0f} s, loss {losses[0]:.4f} -> {info['hupr_loss_last']:.4f}")
    # --- mmJoints on the training set's point clouds, a noisy stand-in estimator ---
    t0 = time.perf_counter()
    seqs = load_sim_sequences(train_dir, names, skeleton="hupr14")
    gt = [s.poses for s in seqs]
    pred = [noisy_estimator(p, 0.05, seed=settings.seed + i) for i, p in enumerate(gt)]
    base = MMJointsSettings(seed=settings.seed, n_basis=settings.mmjoints_basis, dim=32, n_anchors=8)
    scaled = {k: max(1, round(v * settings.mmjoints_epochs)) for k, v in base.epochs.items()}
    n = sum(len(p) for p in gt)
    mset = dataclasses.replace(base, epochs=scaled, gmm_poses=min(settings.mmjoints_gmm_poses, n))
    mm, stats, minfo = train_mmjoints([s.clouds for s in seqs], gt, pred, "hupr14", mset, "cpu",
                                      lambda msg: None)
    mm_ckpt = out / "mmjoints_demo.ckpt"
    save_mmjoints(mm, mm_ckpt, metrics={k: v for k, v in minfo.items() if isinstance(v, float)},
                  skeleton="hupr14", estimator="noisy", point_features=list(POINT_FEATURES),
                  descriptor_stats=dataclasses.asdict(stats), dataset=str(train_dir), sequences=names,
                  k=mset.k, max_points=mset.max_points, command="radarkit demo")
    info["mmjoints_seconds"] = time.perf_counter() - t0
    echo(f"trained mmJoints on {n} frames in {info['mmjoints_seconds']:.0f} s")
    return hupr_ckpt, mm_ckpt, info


def demo_figures(points_h5: Path, hupr_h5: Path, sequence_dir: Path, out: Path, gif: bool = True,
                 echo: Callable[[str], Any] = print) -> list[Path]:
    """The demo's PNGs (and GIF) from the two pipeline results and the recording's ground truth.

    Returns
    -------
    list of Path
        Files written.
    """
    from radarkit.atomic import atomic_output
    from radarkit.sim.dataset import load_annotations
    from radarkit.viz import pipeline as vp

    written = []

    def save(fig, name: str) -> None:
        path = out / name
        with atomic_output(path, force=True) as tmp:
            fig.savefig(tmp, format="png", dpi=100)
        written.append(path)

    pts = vp.load_result(points_h5)
    res = vp.load_result(hupr_h5)
    truth = load_annotations(sequence_dir)
    n = res.n_frames
    mid = n // 2
    save(vp.plot_result_map(pts, "radar", mid), "rd_map.png")
    save(vp.plot_result_map(res, "hori", mid), "ra_map.png")
    save(vp.plot_result_points(res, mid), "point_cloud.png")
    true_kp = truth["keypoints2d"]["hupr14"][:n]
    save(vp.plot_keypoints_vs_truth(res.pose["keypoints"][mid], true_kp[mid], res.skeleton,
                                    title=f"HuPR keypoints, frame {mid}"), "skeleton.png")
    save(vp.plot_descriptors(res.describe["poses"][mid], res.describe["xi"][mid], res.describe["kappa"][mid],
                             res.skeleton, title=f"mmJoints descriptors, frame {mid}"), "descriptors.png")
    if gif:
        path = out / "sequence.gif"
        ok, note = vp.write_sequence_gif(res, path, truth_keypoints=true_kp, force=True)
        if ok:
            written.append(path)
        else:
            echo(f"no GIF: {note}")
    return written


def run_demo(out: str | Path, n_frames: int = 20, force: bool = False,
             echo: Callable[[str], Any] = print, settings: DemoSettings | None = None) -> dict[str, Any]:
    """Run the demo into folder ``out`` (which must exist); see the module docstring.

    Parameters
    ----------
    out : str or pathlib.Path
        Output folder.
    n_frames : int
        Frames of the demo recording (at least 8: one HuPR window).
    force : bool
        Replace existing outputs.
    echo : callable
        Receives one line of report at a time.
    settings : DemoSettings, optional
        Sizes and training budgets (tests use smaller ones).

    Returns
    -------
    dict
        ``ok`` (every stage wrote its documented shapes), ``files``, ``seconds`` per step,
        ``keypoint_error_px`` (mean distance of predicted to true keypoints) and
        ``mean_pose_error_px`` (the training mean pose's, for reference), training figures.

    Raises
    ------
    StoreError
        Outputs exist (without ``force``) or cannot be written.
    ValueError
        ``n_frames`` below 8.
    """
    from radarkit.pipelines.runner import load_pipeline, run_pipeline

    if n_frames < 8:
        raise ValueError(f"the demo needs at least 8 frames (one HuPR window), got {n_frames}")
    settings = settings or DemoSettings()
    out = Path(out)
    times: dict[str, float] = {}
    t = time.perf_counter()
    train_dir, seq_dir = simulate_demo_data(out, n_frames, settings, force)
    times["simulate_s"] = time.perf_counter() - t
    echo(f"simulated {settings.train_subjects} training people x {settings.train_seconds:g} s and the demo "
         f"recording ({n_frames} frames, radars hori + vert) in {times['simulate_s']:.0f} s -> {out}")
    t = time.perf_counter()
    hupr_ckpt, mm_ckpt, info = train_demo_models(train_dir, out, settings, echo)
    times["train_s"] = time.perf_counter() - t
    t = time.perf_counter()
    points_h5, hupr_h5 = out / "pointcloud.h5", out / "hupr.h5"
    run_pipeline(load_pipeline("pointcloud"), [seq_dir / "hori"], points_h5, force=force,
                 command="radarkit demo")
    echo(f"radarkit run pointcloud {seq_dir / 'hori'} --out {points_h5}")
    pipe = load_pipeline("hupr").with_checkpoints({"pose": str(hupr_ckpt), "describe": str(mm_ckpt)})
    summary = run_pipeline(pipe, [seq_dir], hupr_h5, force=force, command="radarkit demo")
    times["pipelines_s"] = time.perf_counter() - t
    echo(f"radarkit run hupr {seq_dir} --checkpoint pose={hupr_ckpt.name} --checkpoint "
         f"describe={mm_ckpt.name} --out {hupr_h5}: {summary['n_frames']} frames, stages "
         f"{' -> '.join(summary['stages'])}")
    report = _check_result(hupr_h5, seq_dir, train_dir, n_frames)
    echo(f"keypoint error {report['keypoint_error_px']:.1f} px (mean training pose: "
         f"{report['mean_pose_error_px']:.1f} px); mean xi {report['mean_xi']:.3f}, "
         f"mean kappa {report['mean_kappa']:.3f}")
    t = time.perf_counter()
    files = [points_h5, hupr_h5, hupr_ckpt, mm_ckpt]
    try:
        files += demo_figures(points_h5, hupr_h5, seq_dir, out, settings.gif, echo)
    except ImportError as err:  # matplotlib is a dependency, but the demo must not fail on a figure
        echo(f"no figures: {err}")
    times["figures_s"] = time.perf_counter() - t
    report.update(files=[str(p) for p in files], seconds=times, training=info)
    echo("wrote " + ", ".join(p.name for p in files if p.suffix in (".png", ".gif")))
    return report


def _check_result(hupr_h5: Path, seq_dir: Path, train_dir: Path, n_frames: int) -> dict[str, Any]:
    """Documented shapes of every stage, and the keypoint errors against the truth."""
    from radarkit.io.store import open_hdf5
    from radarkit.sim.dataset import load_annotations

    with open_hdf5(hupr_h5, "radarkit-pipeline") as f:
        kp = f["pose/keypoints"][()]
        ok = (kp.shape == (n_frames, 14, 2) and f["describe/poses"].shape == (n_frames, 14, 3)
              and f["describe/xi"].shape == (n_frames, 14) and f["cube/hori/map"].shape == (n_frames, 64, 64)
              and f["detect/frame_offsets"].shape == (n_frames + 1,))
        xi, kappa = f["describe/xi"][()], f["describe/kappa"][()]
    truth = load_annotations(seq_dir)["keypoints2d"]["hupr14"][:n_frames]
    names = [s["name"] for s in json.loads((train_dir / "dataset.json").read_text())["sequences"]]
    train = np.concatenate([load_annotations(train_dir / s)["keypoints2d"]["hupr14"] for s in names])
    err = float(np.linalg.norm(kp - truth, axis=-1).mean())
    base = float(np.linalg.norm(train.mean(axis=0)[None] - truth, axis=-1).mean())
    return {"ok": bool(ok), "keypoint_error_px": err, "mean_pose_error_px": base,
            "mean_xi": float(xi.mean()), "mean_kappa": float(kappa.mean())}
