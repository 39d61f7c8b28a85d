"""Helpers shared by the ``radarkit`` sub-commands: configuration options and the progress bar."""

from __future__ import annotations

import sys
import time

import click

__all__ = ["load_config_option", "Progress"]


def load_config_option(config: str | None, preset: str | None, **overrides):
    """The :class:`~radarkit.config.RadarConfig` named by ``--config FILE`` or ``--preset NAME``.

    Raises
    ------
    click.UsageError
        Neither or both given, or an unknown preset.
    ConfigError
        The file cannot be parsed (names the file and the field).
    """
    from radarkit.config import load_config
    from radarkit.config.presets import get_preset

    if (config is None) == (preset is None):
        raise click.UsageError("give exactly one of --config FILE or --preset NAME")
    if config is not None:
        return load_config(config, **overrides)
    try:
        cfg = get_preset(preset)
    except KeyError as err:
        raise click.UsageError(str(err.args[0])) from None
    return cfg.replace(**overrides) if overrides else cfg


class Progress:
    """Progress bar on stderr with frames and MB/s."""

    def __init__(self, n_frames: int, label: str) -> None:
        self.start = time.perf_counter()
        self.mb_s = 0.0
        self.done = 0
        self.bar = click.progressbar(length=n_frames, label=label, file=sys.stderr, show_pos=True,
                                     item_show_func=lambda _: f"{self.mb_s:.0f} MB/s")

    def __enter__(self) -> Progress:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.bar.__exit__(*exc)

    def __call__(self, frames_done: int, bytes_done: int) -> None:
        self.mb_s = bytes_done / 1e6 / max(time.perf_counter() - self.start, 1e-9)
        self.bar.update(frames_done - self.done, current_item=frames_done)
        self.done = frames_done
