"""``radarkit simulate``: write a synthetic pose dataset (raw recordings + ground truth)."""

from __future__ import annotations

from pathlib import Path

import click

from radarkit.cli.common import Progress, load_config_option

__all__ = ["register"]


@click.command()
@click.option("--scene", default="walk_wave", show_default=True,
              help="Scene: static, wave, walk_wave, walk, exercise, hupr, mixed, or one action.")
@click.option("--subjects", "n_subjects", type=click.IntRange(min=1), default=3, show_default=True,
              help="Simulated people (subject ids 1..N).")
@click.option("--sequences-per-subject", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--seconds", type=click.FloatRange(min=0, min_open=True), default=60.0,
              show_default=True, help="Length of each sequence (s).")
@click.option("--segment-s", type=click.FloatRange(min=0, min_open=True), default=10.0, show_default=True,
              help="Length of each action segment of a sequence (s).")
@click.option("--action-order", type=click.Choice(["random", "cycle"]), default="random", show_default=True,
              help="Actions drawn at random per segment, or cycled in random permutations so every "
                   "person performs every action of the scene (given enough segments).")
@click.option("--radars", default="hori,vert", show_default=True,
              help="Comma-separated radars to record: hori, vert.")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same bytes.")
@click.option("--config", "config", type=click.Path(path_type=Path),
              help="Radar configuration file (default: --preset hupr).")
@click.option("--preset", help="Built-in configuration [default: hupr, HuPR's capture shape and TDM order].")
@click.option("--snr-db", type=float, default=10.0, show_default=True,
              help="Per-sample SNR of a 1 m^2 scatterer at 5 m.")
@click.option("--bystander", is_flag=True, help="Add a walking, unannotated bystander.")
@click.option("--no-clutter", is_flag=True, help="No walls or furniture.")
@click.option("--out", "out", required=True, type=click.Path(path_type=Path),
              help="Dataset folder (created).")
@click.option("--force", is_flag=True, help="Replace existing files.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def simulate(scene, n_subjects, sequences_per_subject, seconds, segment_s, action_order, radars, seed,
             config, preset, snr_db, bystander, no_clutter, out, force, quiet) -> None:
    """Simulate people in front of HuPR's radar pair and write a dataset to OUT.

    Writes OUT/single_<n>/{hori,vert}/adc_data.bin with radar.cfg, per-sequence annotations
    (annot/radarkit.json, annot/hrnet_annot.json), hrnet_annot_{train,val,test}.json,
    splits.json (leave-subjects-out and leave-one-person-out) and dataset.json.
    """
    from radarkit.sim.dataset import write_dataset
    from radarkit.sim.motions import ACTIONS, SCENE_ACTIONS
    from radarkit.sim.scene import RADAR_NAMES

    if config is None and preset is None:
        preset = "hupr"
    cfg = load_config_option(config, preset)
    names = tuple(r.strip() for r in radars.split(",") if r.strip())
    if not names or len(set(names)) != len(names) or any(r not in RADAR_NAMES for r in names):
        raise click.UsageError(f"--radars takes distinct names from {', '.join(RADAR_NAMES)}, "
                               f"got {radars!r}")
    if scene not in SCENE_ACTIONS and scene not in ACTIONS:
        raise click.UsageError(f"unknown scene {scene!r} (choose from "
                               f"{', '.join([*SCENE_ACTIONS, *ACTIONS])})")
    n_frames = round(seconds / cfg.frame_period_s)
    total = n_subjects * sequences_per_subject * len(names) * n_frames
    kwargs = dict(scene=scene, n_subjects=n_subjects, seconds=seconds, radars=names, seed=seed,
                  sequences_per_subject=sequences_per_subject, bystander=bystander,
                  clutter=not no_clutter, snr_db=snr_db, force=force, segment_s=segment_s,
                  action_order=action_order)
    if quiet:
        meta = write_dataset(out, cfg, **kwargs)
    else:
        with Progress(total, "simulate") as bar:
            meta = write_dataset(out, cfg, progress=bar, **kwargs)
    click.echo(f"wrote {out} ({len(meta['sequences'])} sequences x {len(names)} radars x "
               f"{meta['n_frames']} frames, scene {scene})")


def register(cli: click.Group) -> None:
    """Add ``simulate`` to the ``radarkit`` command group."""
    cli.add_command(simulate)
