"""mmWave SDK CLI configuration files (``.cfg``): parse into and write from :class:`RadarConfig`.

Commands read (TI mmWave SDK 3.x User Guide, "Configuration (.cfg) File Format"):

* ``channelCfg rxMask txMask cascading``
* ``adcCfg numADCBits(0 12, 1 14, 2 16) adcOutputFmt(0 real, 1 complex1x, 2 complex2x)``
* ``adcbufCfg subFrameIdx adcOutputFmt(0 complex, 1 real) sampleSwap chanInterleave chirpThreshold``;
  sampleSwap 1 puts Q before I in the stream (IQ order ``qi``); chanInterleave must be 1
  (non-interleaved), the only layout the DCA1000 path of xWR16xx/18xx/68xx produces.
* ``profileCfg id startFreq(GHz) idle(us) adcStart(us) rampEnd(us) txOutPower txPhaseShifter
  slope(MHz/us) txStart(us) numAdcSamples sampleRate(ksps) hpf1 hpf2 rxGain``
* ``chirpCfg startIdx endIdx profileId startFreqVar slopeVar idleVar adcStartVar txMask``
* ``frameCfg chirpStartIdx chirpEndIdx numLoops numFrames period(ms) trigger triggerDelay``
* ``lvdsStreamCfg subFrameIdx enableHeader dataFmt enableSW`` (enableHeader 1 = HSI headers)

The TDM order is read from the chirps ``chirpStartIdx..chirpEndIdx`` of ``frameCfg``, each of which
must enable exactly one TX antenna.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from radarkit.config.radar import RadarConfig
from radarkit.errors import ConfigError

__all__ = ["parse_sdk_cfg", "format_sdk_cfg", "mask_to_indices"]

_BITS = {0: 12, 1: 14, 2: 16}
_FORMATS = {0: "real", 1: "complex1x", 2: "complex2x"}
_PLATFORMS = {  # "% Platform:" comment of the mmWave Visualizer -> (device, board, lanes)
    "xwr18xx": ("IWR1843", "IWR1843BOOST", 2),
    "xwr16xx": ("IWR1642", "ULA", 2),
    "xwr68xx": ("IWR6843", "ULA", 2),
    "xwr14xx": ("IWR1443", "ULA", 4),
}


def mask_to_indices(mask: int) -> tuple[int, ...]:
    """Antenna indices of the set bits of a TX/RX enable mask (bit 0 = antenna 0)."""
    return tuple(i for i in range(32) if mask >> i & 1)


def _tdm_order(chirp_defs: Iterable[tuple[int, int, int]], first: int, last: int, tx_mask: int,
               source: str | None, *, frame_cmd: str = "frameCfg", chirp_cmd: str = "chirpCfg",
               channel_cmd: str = "channelCfg") -> tuple[int, ...]:
    """TX antenna of each chirp ``first..last`` of a frame: the TDM-MIMO order.

    Shared by the SDK ``.cfg`` and the mmWave Studio parsers; the command names only change the
    error messages.

    Parameters
    ----------
    chirp_defs : iterable of (int, int, int)
        ``(startIdx, endIdx, txMask)`` of each chirp definition, in file order; a later definition
        of a chirp index replaces an earlier one.
    first, last : int
        ``chirpStartIdx`` and ``chirpEndIdx`` of the frame.
    tx_mask : int
        TX enable mask of the channel configuration.
    source : str, optional
        File name used in error messages.
    frame_cmd, chirp_cmd, channel_cmd : str
        Names of the frame, chirp and channel commands, for error messages.

    Returns
    -------
    tuple of int

    Raises
    ------
    ConfigError
        If ``last < first``, a chirp of the frame is undefined, enables no or several TX
        antennas, or enables one that ``tx_mask`` does not.
    """
    chirps: dict[int, int] = {}
    for start, end, mask in chirp_defs:
        for idx in range(start, end + 1):
            chirps[idx] = mask
    if last < first:
        raise ConfigError(f"chirpEndIdx {last} < chirpStartIdx {first}", field=frame_cmd,
                          source=source)
    tx_enabled = set(mask_to_indices(tx_mask))
    tx_order = []
    for idx in range(first, last + 1):
        if idx not in chirps:
            raise ConfigError(f"{frame_cmd} uses chirp {idx}, which no {chirp_cmd} defines",
                              field=chirp_cmd, source=source)
        txs = mask_to_indices(chirps[idx])
        if len(txs) != 1:
            raise ConfigError(f"chirp {idx} has txMask {chirps[idx]}: radarkit reads TDM-MIMO "
                              "chirps that enable exactly one TX", field=chirp_cmd, source=source)
        if txs[0] not in tx_enabled:
            raise ConfigError(f"chirp {idx} uses TX{txs[0]}, which {channel_cmd} txMask "
                              f"{tx_mask} does not enable", field=chirp_cmd, source=source)
        tx_order.append(txs[0])
    return tuple(tx_order)


def _numbers(tokens: list[str], command: str, count: int, source: str | None) -> list[float]:
    if len(tokens) < count:
        raise ConfigError(f"expects at least {count} values, got {len(tokens)}",
                          field=command, source=source)
    try:
        return [float(t) for t in tokens]
    except ValueError:
        raise ConfigError(f"non-numeric value in {' '.join(tokens)!r}", field=command,
                          source=source) from None


def parse_sdk_cfg(text: str, source: str | os.PathLike | None = None, **overrides) -> RadarConfig:
    """Parse the text of an mmWave SDK ``.cfg`` file.

    Parameters
    ----------
    text : str
        File content.
    source : str or os.PathLike, optional
        File name used in error messages.
    **overrides
        :class:`RadarConfig` fields that replace what the file says (e.g. ``board=``).

    Returns
    -------
    RadarConfig

    Raises
    ------
    ConfigError
        On a missing command (profileCfg, frameCfg, channelCfg, chirpCfg), a non-numeric value, an
        advanced-frame (sub-frame) configuration, a chirp that enables no or several TX antennas, a
        TX not enabled in ``channelCfg``, or any value :class:`RadarConfig` rejects. The message
        names the command or field and the file.
    """
    src = None if source is None else os.fspath(source)
    commands: dict[str, list[list[str]]] = {}
    device, board, lanes = "IWR1843", "IWR1843BOOST", 2
    for raw in text.splitlines():
        line, _, comment = raw.partition("%")
        if "Platform:" in comment:
            key = comment.split("Platform:", 1)[1].strip().lower()
            device, board, lanes = _PLATFORMS.get(key, (device, board, lanes))
        tokens = line.split()
        if tokens:
            commands.setdefault(tokens[0], []).append(tokens[1:])

    def last(name: str, count: int, required: bool = True) -> list[float] | None:
        if name not in commands:
            if required:
                raise ConfigError("command missing from the file", field=name, source=src)
            return None
        return _numbers(commands[name][-1], name, count, src)

    if "advancedFrameCfg" in commands or "subFrameCfg" in commands:
        raise ConfigError("advanced frame (sub-frame) configurations are not supported; use "
                          "dfeDataOutputMode 1 with frameCfg", field="advancedFrameCfg", source=src)
    channel = last("channelCfg", 2)
    profile = last("profileCfg", 11)
    frame = last("frameCfg", 5)
    adc = last("adcCfg", 2, required=False) or [2, 1]
    adcbuf = last("adcbufCfg", 4, required=False)
    lvds = last("lvdsStreamCfg", 2, required=False)

    rx_channels = mask_to_indices(int(channel[0]))
    try:
        sample_format = _FORMATS[int(adc[1])]
        adc_bits = _BITS[int(adc[0])]
    except KeyError:
        raise ConfigError(f"unknown adcCfg values {adc[:2]}", field="adcCfg", source=src) from None
    iq_order = "iq"
    if adcbuf is not None:
        if int(adcbuf[1]) == 1 and sample_format != "real":
            raise ConfigError("adcbufCfg says real output but adcCfg says complex", field="adcbufCfg",
                              source=src)
        iq_order = "qi" if int(adcbuf[2]) == 1 else "iq"
        if int(adcbuf[3]) == 0:
            raise ConfigError("channel-interleaved ADC buffer (chanInterleave 0) is not produced by "
                              "DCA1000 LVDS captures; use adcbufCfg ... 1 (non-interleaved)",
                              field="adcbufCfg", source=src)

    chirp_defs = []
    for args in commands.get("chirpCfg", []):
        values = _numbers(args, "chirpCfg", 8, src)
        chirp_defs.append((int(values[0]), int(values[1]), int(values[7])))
    tx_order = _tdm_order(chirp_defs, int(frame[0]), int(frame[1]), int(channel[1]), src)

    fields = dict(
        n_samples=profile[9], n_loops=frame[2], tx_order=tuple(tx_order),
        rx_channels=rx_channels, sample_rate_hz=profile[10] * 1e3,
        slope_hz_per_s=profile[7] * 1e12, start_freq_hz=profile[1] * 1e9,
        idle_time_s=profile[2] / 1e6, adc_start_time_s=profile[3] / 1e6,
        ramp_end_time_s=profile[4] / 1e6, tx_start_time_s=profile[8] / 1e6,
        frame_period_s=frame[4] / 1e3, n_frames=frame[3], sample_format=sample_format,
        iq_order=iq_order, adc_bits=adc_bits, lvds_lanes=lanes, device=device, board=board,
        hsi_header=bool(lvds is not None and int(lvds[1]) == 1),
    )
    fields.update(overrides)
    try:
        return RadarConfig(**fields)
    except ConfigError as err:
        raise err.with_source(src) if src else err from None


def format_sdk_cfg(config: RadarConfig) -> str:
    """Write ``config`` as an mmWave SDK ``.cfg`` text that :func:`parse_sdk_cfg` reads back.

    Values are written with up to 12 significant digits; times in us, frequencies in GHz,
    slope in MHz/us, sample rate in ksps and the frame period in ms, as the SDK expects.
    """
    def num(x: float) -> str:
        return f"{x:.12g}"

    rx_mask = sum(1 << r for r in config.rx_channels)
    tx_mask = sum(1 << t for t in set(config.tx_order))
    bits = {v: k for k, v in _BITS.items()}[config.adc_bits]
    fmt = {v: k for k, v in _FORMATS.items()}[config.sample_format]
    platform = next((k for k, (dev, _, _) in _PLATFORMS.items() if dev == config.device), None)
    lines = [
        "% radarkit-generated mmWave SDK configuration",
        f"% Platform:{platform}" if platform else f"% Device:{config.device}",
        "sensorStop",
        "flushCfg",
        "dfeDataOutputMode 1",
        f"channelCfg {rx_mask} {tx_mask} 0",
        f"adcCfg {bits} {fmt}",
        f"adcbufCfg -1 {1 if fmt == 0 else 0} {1 if config.iq_order == 'qi' else 0} 1 1",
        f"profileCfg 0 {num(config.start_freq_hz / 1e9)} {num(config.idle_time_s * 1e6)} "
        f"{num(config.adc_start_time_s * 1e6)} {num(config.ramp_end_time_s * 1e6)} 0 0 "
        f"{num(config.slope_hz_per_s / 1e12)} {num(config.tx_start_time_s * 1e6)} "
        f"{config.n_samples} {num(config.sample_rate_hz / 1e3)} 0 0 30",
    ]
    for slot, tx in enumerate(config.tx_order):
        lines.append(f"chirpCfg {slot} {slot} 0 0 0 0 0 {1 << tx}")
    lines += [
        f"frameCfg 0 {config.n_tx - 1} {config.n_loops} {config.n_frames} "
        f"{num(config.frame_period_s * 1e3)} 1 0",
        "lowPower 0 0",
        f"lvdsStreamCfg -1 {1 if config.hsi_header else 0} 1 0",
        "sensorStart",
        "",
    ]
    return "\n".join(lines)
