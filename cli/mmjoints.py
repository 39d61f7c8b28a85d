"""``radarkit train mmjoints`` and ``radarkit describe``: mmJoints joint descriptors (sensing score
``xi`` and reliability score ``kappa``) for any pose estimator's output."""

from __future__ import annotations

import sys
from pathlib import Path

import click

__all__ = ["register"]


@click.command("mmjoints")
@click.argument("dataset", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--out", "out", required=True, type=click.Path(path_type=Path),
              help="Output checkpoint (.ckpt).")
@click.option("--estimator", type=click.Choice(["noisy", "legs-ignored"]), default="noisy", show_default=True,
              help="Stand-in black-box estimator whose poses are described: ground truth plus correlated "
                   "noise, or one that ignores the legs.")
@click.option("--noise-m", type=click.FloatRange(min=0), default=0.03, show_default=True,
              help="noisy: error per coordinate (m).")
@click.option("--skeleton", type=click.Choice(["hupr14", "coco13"]), default="hupr14", show_default=True)
@click.option("--sequences", default=None, help="Comma-separated sequence folders [default: all].")
@click.option("--epochs", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              help="Scale of the per-stage epoch counts (0.1 for a quick run).")
@click.option("--pose-basis", type=click.IntRange(min=2), default=32, show_default=True,
              help="D_p: pose latent size and basis clusters (32 in the paper).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--force", is_flag=True, help="Replace an existing checkpoint.")
@click.option("--quiet", "-q", is_flag=True, help="No stage messages.")
def train_mmjoints(dataset, out, estimator, noise_m, skeleton, sequences, epochs, pose_basis, device, seed,
                   force, quiet) -> None:
    """Train mmJoints on a simulated DATASET ('radarkit simulate') for one estimator's poses.

    Point clouds are detected from each sequence's hori recording (CFAR, clutter removal); all
    stages are trained in the paper's order and the model, with its descriptor statistics
    (mean psi, D0), is written to OUT.
    """
    import dataclasses

    import numpy as np

    from radarkit.atomic import check_output_path
    from radarkit.data.mmjoints import (
        POINT_FEATURES,
        legs_ignored_estimator,
        load_sim_sequences,
        noisy_estimator,
    )
    from radarkit.pipelines.mmjoints_sim import MMJointsSettings, train_mmjoints
    from radarkit.train.mmjoints import save_mmjoints

    check_output_path(out, force)
    names = [s.strip() for s in sequences.split(",") if s.strip()] if sequences else None
    seqs = load_sim_sequences(dataset, names, skeleton=skeleton)
    gt = [s.poses for s in seqs]
    if estimator == "noisy":
        pred = [noisy_estimator(p, noise_m, seed=seed + i) for i, p in enumerate(gt)]
    else:
        pred = [legs_ignored_estimator(p, np.concatenate(gt), skeleton) for p in gt]
    base = MMJointsSettings(seed=seed, n_basis=pose_basis)
    scaled = {k: max(1, round(v * epochs)) for k, v in base.epochs.items()}
    settings = dataclasses.replace(base, epochs=scaled,
                                   gmm_poses=min(base.gmm_poses, sum(len(p) for p in gt)))
    n_frames = sum(len(p) for p in gt)
    if n_frames < 2 * settings.n_basis:
        raise click.UsageError(f"{n_frames} frames are too few to cluster {settings.n_basis} basis poses")
    echo = (lambda msg: None) if quiet else (lambda msg: click.echo(msg, err=True))
    model, stats, info = train_mmjoints([s.clouds for s in seqs], gt, pred, skeleton, settings, device, echo)
    save_mmjoints(model, out, metrics={k: v for k, v in info.items() if isinstance(v, float)},
                  force=force, skeleton=skeleton, estimator=estimator, point_features=list(POINT_FEATURES),
                  descriptor_stats=dataclasses.asdict(stats), dataset=str(dataset),
                  sequences=[s.name for s in seqs], k=settings.k, max_points=settings.max_points,
                  command=" ".join(sys.argv))
    click.echo(f"wrote {out} ({n_frames} frames, {len(seqs)} sequences, estimator {estimator})")


@click.command()
@click.option("--poses", "poses_path", required=True, type=click.Path(path_type=Path),
              help="Poses file (HDF5: dataset 'poses' (frame, joint, 3) m, attribute 'skeleton').")
@click.option("--points", "points_path", required=True, type=click.Path(path_type=Path),
              help="Points file of the same frames ('radarkit detect').")
@click.option("--model", "model_path", required=True, type=click.Path(path_type=Path),
              help="mmJoints checkpoint ('radarkit train mmjoints').")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path),
              help="Output descriptors file (HDF5).")
@click.option("--batch", type=click.IntRange(min=1), default=64, show_default=True, help="Frames per pass.")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or auto.")
@click.option("--force", is_flag=True, help="Replace an existing output file.")
def describe(poses_path, points_path, model_path, out, batch, device, force) -> None:
    """Add mmJoints' sensing score xi and reliability score kappa to every joint of a pose file.

    The poses file holds 3-D poses (metres, radar frame), or 2-D keypoints of a camera-space
    estimator with their camera (radarkit.data.mmjoints.write_keypoints), which are lifted to 3-D
    at the depth of the person's radar points.

    Frame f of the poses is described with point-cloud frames f-K+1..f of the points file (the
    first frame repeated at the start). Writes poses, xi, kappa and joints5 = (x, y, z, xi,
    kappa) with provenance.
    """
    from radarkit.atomic import check_output_path
    from radarkit.data.mmjoints import (
        POINT_FEATURES,
        cloud_arrays,
        lift_keypoints,
        read_keypoints,
        read_poses,
        write_descriptors,
    )
    from radarkit.dsp.cubes import source_records
    from radarkit.errors import CheckpointError, StoreError
    from radarkit.io.points import read_points
    from radarkit.pipelines.mmjoints_sim import describe_poses
    from radarkit.train.loop import select_device
    from radarkit.train.mmjoints import collate_point_windows, load_mmjoints, point_windows

    check_output_path(out, force, inputs=[poses_path, points_path, model_path])
    stored = read_points(points_path)
    try:
        poses, skeleton, _ = read_poses(poses_path)
    except StoreError as err:
        if "no 'poses' dataset" not in str(err):
            raise
        # 2-D keypoints of a camera-space estimator (HuPR, MAEPose): lift them with the points
        keypoints, skeleton, camera = read_keypoints(poses_path)
        xyz = cloud_arrays(stored.table, stored.offsets, ("x", "y", "z"))
        if len(xyz) != len(keypoints):
            raise StoreError(f"{len(xyz)} point-cloud frames for {len(keypoints)} keypoint frames",
                             source=points_path) from None
        poses = lift_keypoints(keypoints, xyz, camera)
    dev = select_device(device)
    model, meta = load_mmjoints(model_path, map_location=dev)
    if model.hparams["n_joints"] != poses.shape[1]:
        raise CheckpointError(f"model describes {model.hparams['n_joints']} joints, the poses have "
                              f"{poses.shape[1]} ({skeleton})", source=model_path)
    if meta.get("skeleton") not in (None, skeleton):
        raise CheckpointError(f"model was trained on {meta['skeleton']} poses, got {skeleton}",
                              source=model_path)
    columns = meta.get("point_features", list(POINT_FEATURES))
    try:
        clouds = cloud_arrays(stored.table, stored.offsets, columns)
    except ValueError as err:
        raise StoreError(str(err), source=points_path) from None
    if len(clouds) != len(poses):
        raise StoreError(f"{len(clouds)} point-cloud frames for {len(poses)} poses", source=points_path)
    if not clouds:
        raise StoreError("no frames to describe", source=poses_path)
    k = int(meta.get("k", 5))
    points, valid = collate_point_windows(point_windows(clouds, k), int(meta.get("max_points", 48)))
    xi, kappa = describe_poses(model, points, valid, poses, batch)
    write_descriptors(out, poses, xi, kappa, skeleton, force=force, attrs={
        "command": " ".join(sys.argv), "model": str(model_path), "k_frames": k,
        "sources": source_records([Path(poses_path), Path(points_path), Path(model_path)])})
    click.echo(f"wrote {out} ({len(poses)} frames x {poses.shape[1]} joints; mean xi {xi.mean():.3f}, "
               f"mean kappa {kappa.mean():.3f})")


def register(cli: click.Group) -> None:
    """Add ``train mmjoints`` (under the ``train`` group) and the top-level ``describe``."""
    cli.commands["train"].add_command(train_mmjoints)
    cli.add_command(describe)
