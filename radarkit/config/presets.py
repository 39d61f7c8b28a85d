"""Named example configurations, embedded so that radarkit runs without any external file.

* ``"iwr1843-3tx"``: IWR1843BOOST, TDM order TX0, TX2, TX1 (12 virtual antennas, the elevated TX1
  row included), 256 complex samples at 10 Msps, 30 MHz/us, 64 loops, 10 frames/s. The chirp
  shape of HuPR's captures (256 samples, 64 loops x 3 TX, 10 fps; ``shared/specs/raw-format.md``).
* ``"hupr"``: HuPR's capture shape (256 samples, 64 loops x 3 TX, 10 frames/s) in HuPR's TDM order
  TX0, TX1, TX2 (chirp 1 is the elevated TX1, as the official preprocessing's de-multiplexing
  assumes), with a wide-band profile -- 60 MHz/us, 4.4 Msps, 3.5 GHz sampled, 4.3 cm range bins --
  so that HuPR's kept range bins 31..94 span about 1.3-4.0 m, where its subjects stand. The slope
  and sample rate are plausible values for such a layout, not HuPR's published profile. Use it for
  ``radarkit cube --kind vrdae --mode hupr`` and ``radarkit simulate``.
* ``"demo"``: the same chirp with 128 samples and 32 loops, for quick demonstrations.
"""

from __future__ import annotations

from radarkit.config.radar import RadarConfig

__all__ = ["PRESETS", "get_preset"]

_BASE = dict(
    n_samples=256, n_loops=64, tx_order=(0, 2, 1), sample_rate_hz=10e6, slope_hz_per_s=30e12,
    start_freq_hz=77e9, idle_time_s=10e-6, adc_start_time_s=6e-6, ramp_end_time_s=40e-6,
    frame_period_s=0.1, iq_order="iq",
)

PRESETS: dict[str, RadarConfig] = {
    "iwr1843-3tx": RadarConfig(**_BASE),
    "hupr": RadarConfig(**{**_BASE, "tx_order": (0, 1, 2), "slope_hz_per_s": 60e12,
                           "sample_rate_hz": 4.4e6, "ramp_end_time_s": 66e-6}),
    "demo": RadarConfig(**{**_BASE, "n_samples": 128, "n_loops": 32, "sample_rate_hz": 5e6}),
}


def get_preset(name: str) -> RadarConfig:
    """Return the preset configuration ``name`` (see module docstring).

    Raises
    ------
    KeyError
        Unknown preset (the message lists the known ones).
    """
    try:
        return PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown preset {name!r} (known: {', '.join(PRESETS)})") from None
