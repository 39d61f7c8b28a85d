"""mmWave Studio configurations (``LogFile.txt`` API logs, Lua scripts) into :class:`RadarConfig`.

**LogFile.txt.** mmWave Studio logs every mmWaveLink API call it makes as one line
``DD-Mon-YYYY HH:MM:SS: API:<Name>,<v1>,<v2>,...,`` (a trailing comma is usual); every other line
is ignored. The values are mmWaveLink register units, in the field order of the mmWaveLink
structures (TI mmWaveLink API documentation, ``rlChanCfg_t``, ``rlAdcOutCfg_t``,
``rlDevDataFmtCfg_t``, ``rlProfileCfg_t``, ``rlChirpCfg_t``, ``rlFrameCfg_t``):

* ``ChannelConfig,rxMask,txMask,cascade``
* ``AdcOutConfig,bits(0 12, 1 14, 2 16),format(0 real, 1 complex1x, 2 complex2x),...``
* ``DataFmtConfig,rxMask,bits,format,iqSwap(0 I first, 1 Q first),chanInterleave``
  (chanInterleave must be 1, non-interleaved)
* ``ProfileConfig,id,startFreqConst,idleTimeConst,adcStartTimeConst,rampEndTime,txPowerBackoff,
  txPhaseShifter,freqSlopeConst,txStartTime,numAdcSamples,digOutSampleRate(ksps),hpf1,hpf2,rxGain``
* ``ChirpConfig,startIdx,endIdx,profileId,startFreqVar,slopeVar,idleVar,adcStartVar,txEnableMask``
* ``FrameConfig,chirpStartIdx,chirpEndIdx,numFrames,numLoops,periodicity,...`` (numFrames comes
  *before* numLoops, unlike the SDK ``frameCfg``)

Register units (77 GHz devices): start frequency :data:`START_FREQ_LSB_HZ` (3.6 GHz / 2^26,
53.644 Hz); idle, ADC start, ramp end and TX start times :data:`TIME_LSB_S` (10 ns); slope
:data:`SLOPE_LSB_HZ_PER_S` (3.6e6 * 900 / 2^26 kHz/us = 48.2797 kHz/us), a signed 16-bit value
(like the TX start time); frame periodicity :data:`FRAME_PERIOD_LSB_S` (5 ns).

**Lua scripts.** The ``ar1.*`` calls of mmWave Studio scripts take human units (TI mmWave Studio
User Guide, "Lua API"):

* ``ar1.ChanNAdcConfig(tx0En, tx1En, tx2En, rx0En, rx1En, rx2En, rx3En, bits, fmt, iqSwap, ...)``
* ``ar1.ProfileConfig(id, startFreqGHz, idleUs, adcStartUs, rampEndUs, tx0Backoff, tx1Backoff,
  tx2Backoff, tx0Phase, tx1Phase, tx2Phase, slopeMHzPerUs, txStartUs, numAdcSamples,
  sampleRateKsps, hpf1, hpf2, rxGain)``
* ``ar1.ChirpConfig(startIdx, endIdx, profileId, startFreqVar, slopeVar, idleVar, adcStartVar,
  tx0Enable, tx1Enable, tx2Enable)``
* ``ar1.FrameConfig(chirpStartIdx, chirpEndIdx, frameCount, loopCount, periodicityMs,
  triggerDelay, triggerSelect)``
* ``ar1.LvdsLaneConfig(0, lane1En, lane2En, lane3En, lane4En, msbFirst, packetSeq, ...)``

Only literal numbers are read: scripts that compute arguments from Lua variables are refused
(radarkit does not run Lua). Comments (``--`` to the end of the line, ``--[[ ... ]]``) are skipped.

In both kinds the last ProfileConfig and FrameConfig win, chirp definitions accumulate by chirp
index (a later one replaces an earlier one for the same index), and the TDM order is the TX of the
chirps ``chirpStartIdx..chirpEndIdx`` of the frame, each of which must enable exactly one TX that
the channel configuration enables (the rules of :mod:`radarkit.config.sdk_cfg`).

References
----------
.. [1] Texas Instruments, "mmWave Studio User Guide" (mmWave Studio 2.x), Lua API and log file.
.. [2] Texas Instruments, "mmWaveLink API documentation" (mmWave DFP, ``ti/control/mmwavelink``),
   ``rlProfileCfg_t``, ``rlChirpCfg_t``, ``rlFrameCfg_t``, ``rlDevDataFmtCfg_t``.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
from typing import Any

from radarkit.config.radar import RadarConfig
from radarkit.config.sdk_cfg import _BITS, _FORMATS, _tdm_order, mask_to_indices
from radarkit.errors import ConfigError

__all__ = [
    "parse_studio_log",
    "format_studio_log",
    "parse_studio_lua",
    "format_studio_lua",
    "START_FREQ_LSB_HZ",
    "TIME_LSB_S",
    "SLOPE_LSB_HZ_PER_S",
    "FRAME_PERIOD_LSB_S",
]

#: mmWaveLink ``startFreqConst`` LSB of 77 GHz devices: 3.6 GHz / 2^26 (about 53.644 Hz).
START_FREQ_LSB_HZ = 3.6e9 / 2**26
#: mmWaveLink LSB of ``idleTimeConst``, ``adcStartTimeConst``, ``rampEndTime``, ``txStartTime``.
TIME_LSB_S = 10e-9
#: mmWaveLink ``freqSlopeConst`` LSB of 77 GHz devices: 3.6e6 * 900 / 2^26 kHz/us, in Hz/s
#: (1 kHz/us = 1e9 Hz/s).
SLOPE_LSB_HZ_PER_S = 3.6e6 * 900 / 2**26 * 1e9
#: mmWaveLink frame ``periodicity`` LSB.
FRAME_PERIOD_LSB_S = 5e-9

_DEFAULTS = {"device": "IWR1843", "board": "IWR1843BOOST", "lvds_lanes": 2}
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_API_LINE = re.compile(r"API:(\w+),(.*)$")
_LUA_CALL = re.compile(r"\bar1\.(\w+)\s*\(")
_LUA_NUMBER = re.compile(r"[+-]?(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)")
_LUA_LONG_OPEN = re.compile(r"\[(=*)\[")


# ---------------------------------------------------------------------------------------- shared
def _adc_codes(bits_code: int, fmt_code: int, api: str,
               source: str | None) -> tuple[int, str]:
    """ADC resolution and sample format of mmWaveLink codes (0/1/2 = 12/14/16 bits, ...)."""
    try:
        return _BITS[bits_code], _FORMATS[fmt_code]
    except KeyError:
        raise ConfigError(f"unknown ADC bits/format codes {bits_code}, {fmt_code} (bits 0 12, "
                          "1 14, 2 16; format 0 real, 1 complex1x, 2 complex2x)", field=api,
                          source=source) from None


def _build(fields: dict[str, Any], overrides: dict[str, Any], source: str | None) -> RadarConfig:
    """``RadarConfig(**fields)`` with ``overrides`` applied; errors name ``source``."""
    fields = {**_DEFAULTS, **fields, **overrides}
    try:
        return RadarConfig(**fields)
    except ConfigError as err:
        raise err.with_source(source) if source else err from None


def _register(value: float, lsb: float, name: str, lo: int, hi: int) -> int:
    """``value`` in register units of ``lsb``, rounded, checked against ``lo..hi``."""
    code = round(value / lsb)
    if not lo <= code <= hi:
        raise ConfigError(f"{value:g} is {code} register units, outside the mmWaveLink range "
                          f"{lo}..{hi}", field=name)
    return code


# ---------------------------------------------------------------------------------------- log
def _signed16(value: int, api: str, name: str, source: str | None) -> int:
    """Two's-complement reading of a signed 16-bit register (65535 is -1; -1 stays -1)."""
    if not -32768 <= value <= 65535:
        raise ConfigError(f"{name} {value} is not a 16-bit value", field=api, source=source)
    return value - 65536 if value >= 32768 else value


def _log_values(tokens: list[str], api: str, count: int, source: str | None) -> list[int]:
    if len(tokens) < count:
        raise ConfigError(f"expects at least {count} values, got {len(tokens)}", field=api,
                          source=source)
    try:
        return [int(t, 16 if "x" in t.lower() else 10) for t in tokens]
    except ValueError:
        raise ConfigError(f"non-integer register value in {','.join(tokens)!r}", field=api,
                          source=source) from None


def parse_studio_log(text: str, source: str | os.PathLike | None = None,
                     **overrides: Any) -> RadarConfig:
    """Parse the text of an mmWave Studio ``LogFile.txt`` (mmWaveLink API calls, register units).

    Parameters
    ----------
    text : str
        File content. Lines without ``API:<Name>,`` are ignored.
    source : str or os.PathLike, optional
        File name used in error messages.
    **overrides
        :class:`RadarConfig` fields that replace what the log says. The log does not record the
        device, board or LVDS lane count: they default to ``IWR1843``, ``IWR1843BOOST`` and 2.

    Returns
    -------
    RadarConfig

    Raises
    ------
    ConfigError
        On a missing API call (ChannelConfig, ProfileConfig, ChirpConfig, FrameConfig), a
        non-integer register value, unknown ADC codes, AdcOutConfig and DataFmtConfig disagreeing,
        a channel-interleaved data format, a chirp that enables no or several TX antennas, a TX
        not enabled in ChannelConfig, or any value :class:`RadarConfig` rejects (a negative
        ``freqSlopeConst`` gives a negative ``slope_hz_per_s``, for example). The message names
        the API call or field and the file.

    References
    ----------
    TI mmWaveLink API documentation (``rlProfileCfg_t``, ``rlChirpCfg_t``, ``rlFrameCfg_t``,
    ``rlDevDataFmtCfg_t``, ``rlAdcOutCfg_t``, ``rlChanCfg_t``) for the field order and units; TI
    mmWave Studio User Guide for the log file.
    """
    src = None if source is None else os.fspath(source)
    calls: dict[str, list[list[str]]] = {}
    for raw in text.splitlines():
        match = _API_LINE.search(raw)
        if match:
            tokens = [t.strip() for t in match.group(2).split(",")]
            while tokens and not tokens[-1]:
                tokens.pop()
            calls.setdefault(match.group(1), []).append(tokens)

    def last(api: str, count: int, required: bool = True) -> list[int] | None:
        if api not in calls:
            if required:
                raise ConfigError(f"API call missing from the log (no 'API:{api},...' line)",
                                  field=api, source=src)
            return None
        return _log_values(calls[api][-1], api, count, src)

    channel = last("ChannelConfig", 2)
    profile = last("ProfileConfig", 11)
    frame = last("FrameConfig", 5)
    last("ChirpConfig", 8)
    adc_out = last("AdcOutConfig", 2, required=False)
    data_fmt = last("DataFmtConfig", 5, required=False)

    rx_mask = channel[0]
    adc_bits, sample_format = 16, "complex1x"
    if adc_out is not None:
        adc_bits, sample_format = _adc_codes(adc_out[0], adc_out[1], "AdcOutConfig", src)
    iq_order = "iq"
    if data_fmt is not None:
        fmt_bits, fmt_format = _adc_codes(data_fmt[1], data_fmt[2], "DataFmtConfig", src)
        if adc_out is not None and (fmt_bits, fmt_format) != (adc_bits, sample_format):
            raise ConfigError(f"DataFmtConfig says {fmt_bits}-bit {fmt_format} but AdcOutConfig "
                              f"says {adc_bits}-bit {sample_format}", field="DataFmtConfig",
                              source=src)
        adc_bits, sample_format = fmt_bits, fmt_format
        if data_fmt[0] != rx_mask:
            raise ConfigError(f"DataFmtConfig rxMask {data_fmt[0]} differs from ChannelConfig "
                              f"rxMask {rx_mask}", field="DataFmtConfig", source=src)
        iq_order = "qi" if data_fmt[3] == 1 else "iq"
        if data_fmt[4] == 0:
            raise ConfigError("channel-interleaved data (chanInterleave 0) is not produced by "
                              "DCA1000 LVDS captures; use DataFmtConfig chanInterleave 1 "
                              "(non-interleaved)", field="DataFmtConfig", source=src)

    chirp_defs = []
    for tokens in calls["ChirpConfig"]:
        values = _log_values(tokens, "ChirpConfig", 8, src)
        chirp_defs.append((values[0], values[1], values[7]))
    tx_order = _tdm_order(chirp_defs, frame[0], frame[1], channel[1], src,
                          frame_cmd="FrameConfig", chirp_cmd="ChirpConfig",
                          channel_cmd="ChannelConfig")
    slope = _signed16(profile[7], "ProfileConfig", "freqSlopeConst", src)
    tx_start = _signed16(profile[8], "ProfileConfig", "txStartTime", src)

    fields = dict(
        n_samples=profile[9], n_loops=frame[3], n_frames=frame[2], tx_order=tx_order,
        rx_channels=mask_to_indices(rx_mask), sample_rate_hz=profile[10] * 1e3,
        slope_hz_per_s=slope * SLOPE_LSB_HZ_PER_S, start_freq_hz=profile[1] * START_FREQ_LSB_HZ,
        idle_time_s=profile[2] * TIME_LSB_S, adc_start_time_s=profile[3] * TIME_LSB_S,
        ramp_end_time_s=profile[4] * TIME_LSB_S, tx_start_time_s=tx_start * TIME_LSB_S,
        frame_period_s=frame[4] * FRAME_PERIOD_LSB_S, sample_format=sample_format,
        iq_order=iq_order, adc_bits=adc_bits,
    )
    return _build(fields, overrides, src)


def format_studio_log(config: RadarConfig) -> str:
    """Write ``config`` as an mmWave Studio ``LogFile.txt`` that :func:`parse_studio_log` reads.

    Values are rounded (``round()``) to mmWaveLink register units, so they read back within half
    a register LSB (the sample rate to 1 ksps). The log also holds a few unrelated lines, as a real
    one does. The device, board and LVDS lane count are not part of the log.

    Parameters
    ----------
    config : RadarConfig
        Configuration to write.

    Returns
    -------
    str
        Log text, one line per API call, with fixed (plausible) timestamps.

    Raises
    ------
    ConfigError
        If a value does not fit its mmWaveLink register (a slope above 32767 LSB, for example).

    References
    ----------
    TI mmWaveLink API documentation (``rlProfileCfg_t``, ``rlChirpCfg_t``, ``rlFrameCfg_t``).
    """
    rx_mask = sum(1 << r for r in config.rx_channels)
    tx_mask = sum(1 << t for t in set(config.tx_order))
    bits = {v: k for k, v in _BITS.items()}[config.adc_bits]
    fmt = {v: k for k, v in _FORMATS.items()}[config.sample_format]
    start = _register(config.start_freq_hz, START_FREQ_LSB_HZ, "start_freq_hz", 0, 2**32 - 1)
    idle = _register(config.idle_time_s, TIME_LSB_S, "idle_time_s", 0, 2**32 - 1)
    adc_start = _register(config.adc_start_time_s, TIME_LSB_S, "adc_start_time_s", 0, 65535)
    ramp_end = _register(config.ramp_end_time_s, TIME_LSB_S, "ramp_end_time_s", 0, 65535)
    slope = _register(config.slope_hz_per_s, SLOPE_LSB_HZ_PER_S, "slope_hz_per_s", -32768, 32767)
    tx_start = _register(config.tx_start_time_s, TIME_LSB_S, "tx_start_time_s", -32768, 32767)
    rate = _register(config.sample_rate_hz, 1e3, "sample_rate_hz", 1, 65535)
    period = _register(config.frame_period_s, FRAME_PERIOD_LSB_S, "frame_period_s", 1, 2**32 - 1)
    entries = [
        "Connecting to the RS232 port COM4 at 115200 baud",
        "SOP mode 2 set, firmware download started",
        f"API:ChannelConfig,{rx_mask},{tx_mask},0,",
        f"API:AdcOutConfig,{bits},{fmt},",
        f"API:DataFmtConfig,{rx_mask},{bits},{fmt},{1 if config.iq_order == 'qi' else 0},1,",
        "API:LowPowerConfig,0,0,",
        f"API:ProfileConfig,0,{start},{idle},{adc_start},{ramp_end},0,0,{slope & 0xFFFF},"
        f"{tx_start & 0xFFFF},{config.n_samples},{rate},0,0,30,",
    ]
    entries += [f"API:ChirpConfig,{slot},{slot},0,0,0,0,0,{1 << tx},"
                for slot, tx in enumerate(config.tx_order)]
    entries += [
        f"API:FrameConfig,0,{config.n_tx - 1},{config.n_frames},{config.n_loops},{period},0,1,",
        "Status: Passed",
        "Starting DCA1000 capture, waiting for frames...",
    ]
    t0 = _dt.datetime(2024, 3, 14, 10, 21, 5)
    lines = []
    for i, entry in enumerate(entries):
        t = t0 + _dt.timedelta(seconds=i // 3)
        lines.append(f"{t.day:02d}-{_MONTHS[t.month - 1]}-{t.year} {t:%H:%M:%S}: {entry}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------- Lua
def _long_bracket_end(text: str, pos: int) -> tuple[int, int] | None:
    """If a Lua long bracket ``[==[`` opens at ``pos``, return (content start, end after close)."""
    match = _LUA_LONG_OPEN.match(text, pos)
    if not match:
        return None
    close = "]" + match.group(1) + "]"
    end = text.find(close, match.end())
    return match.end(), len(text) if end < 0 else end + len(close)


def _quoted_end(text: str, pos: int) -> int:
    """Index after the Lua short string that opens at ``pos`` (backslash escapes honoured)."""
    quote, i = text[pos], pos + 1
    while i < len(text) and text[i] not in (quote, "\n"):
        i += 2 if text[i] == "\\" else 1
    return min(i + 1, len(text))


def _strip_lua_comments(text: str) -> str:
    """``text`` with Lua comments replaced by spaces (strings are left alone)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if text.startswith("--", i):
            long = _long_bracket_end(text, i + 2)
            if long is not None:
                i = long[1]
            else:
                newline = text.find("\n", i)
                i = len(text) if newline < 0 else newline
            out.append(" ")
        elif ch in "'\"":
            end = _quoted_end(text, i)
            out.append(text[i:end])
            i = end
        elif ch == "[" and _long_bracket_end(text, i) is not None:
            end = _long_bracket_end(text, i)[1]
            out.append(text[i:end])
            i = end
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _lua_arguments(text: str, start: int) -> list[str] | None:
    """Top-level comma-separated arguments of the call whose ``(`` is just before ``start``.

    Returns ``None`` if the parenthesis is never closed.
    """
    args: list[str] = []
    depth, i, begin = 0, start, start
    while i < len(text):
        ch = text[i]
        if ch in "'\"":
            i = _quoted_end(text, i)
            continue
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            if depth == 0:
                args.append(text[begin:i].strip())
                return [] if args == [""] else args
            depth -= 1
        elif ch == "," and depth == 0:
            args.append(text[begin:i].strip())
            begin = i + 1
        i += 1
    return None


def _lua_number(arg: str) -> float:
    if arg.lstrip("+-").lower().startswith("0x"):
        return float(int(arg, 16))
    return float(arg)


def parse_studio_lua(text: str, source: str | os.PathLike | None = None,
                     **overrides: Any) -> RadarConfig:
    """Parse an mmWave Studio Lua script (``ar1.*`` API calls with literal numbers, human units).

    Parameters
    ----------
    text : str
        Script content. Calls other than ``ar1.ChanNAdcConfig``, ``ar1.ProfileConfig``,
        ``ar1.ChirpConfig``, ``ar1.FrameConfig`` and ``ar1.LvdsLaneConfig`` are ignored, as are
        comments.
    source : str or os.PathLike, optional
        File name used in error messages.
    **overrides
        :class:`RadarConfig` fields that replace what the script says. The device and board
        default to ``IWR1843`` and ``IWR1843BOOST``; the LVDS lane count is the number of lanes
        ``ar1.LvdsLaneConfig`` enables (2 without one).

    Returns
    -------
    RadarConfig

    Raises
    ------
    ConfigError
        On a missing call (ChanNAdcConfig, ProfileConfig, ChirpConfig, FrameConfig), an argument
        that is not a literal number (Lua variables and expressions are not evaluated), an
        unclosed call, unknown ADC codes, a chirp that enables no or several TX antennas, a TX not
        enabled in ChanNAdcConfig, or any value :class:`RadarConfig` rejects. The message names
        the call or field and the file.

    References
    ----------
    TI mmWave Studio User Guide, Lua API (``ar1.ChanNAdcConfig``, ``ar1.ProfileConfig``,
    ``ar1.ChirpConfig``, ``ar1.FrameConfig``, ``ar1.LvdsLaneConfig``).
    """
    src = None if source is None else os.fspath(source)
    wanted = {"ChanNAdcConfig": 10, "ProfileConfig": 15, "ChirpConfig": 10, "FrameConfig": 5,
              "LvdsLaneConfig": 5}
    code = _strip_lua_comments(text)
    calls: dict[str, list[list[float]]] = {}
    for match in _LUA_CALL.finditer(code):
        name = match.group(1)
        if name not in wanted:
            continue
        api = f"ar1.{name}"
        args = _lua_arguments(code, match.end())
        if args is None:
            raise ConfigError("call is never closed with ')'", field=api, source=src)
        if len(args) < wanted[name]:
            raise ConfigError(f"expects at least {wanted[name]} arguments, got {len(args)}",
                              field=api, source=src)
        values = []
        for pos, arg in enumerate(args, start=1):
            if not _LUA_NUMBER.fullmatch(arg):
                raise ConfigError(f"argument {pos} ({arg!r}) is not a literal number: Lua "
                                  "variables and expressions are not evaluated; write the value",
                                  field=api, source=src)
            values.append(_lua_number(arg))
        calls.setdefault(name, []).append(values)

    def last(name: str) -> list[float]:
        if name not in calls:
            raise ConfigError("call missing from the script", field=f"ar1.{name}", source=src)
        return calls[name][-1]

    chan = last("ChanNAdcConfig")
    profile = last("ProfileConfig")
    frame = last("FrameConfig")
    last("ChirpConfig")
    tx_mask = sum(1 << i for i in range(3) if chan[i])
    rx_channels = tuple(r for r in range(4) if chan[3 + r])
    adc_bits, sample_format = _adc_codes(int(chan[7]), int(chan[8]), "ar1.ChanNAdcConfig", src)
    lanes = _DEFAULTS["lvds_lanes"]
    if "LvdsLaneConfig" in calls:
        lanes = sum(1 for v in calls["LvdsLaneConfig"][-1][1:5] if v)

    chirp_defs = [(int(v[0]), int(v[1]), sum(1 << i for i in range(3) if v[7 + i]))
                  for v in calls["ChirpConfig"]]
    tx_order = _tdm_order(chirp_defs, int(frame[0]), int(frame[1]), tx_mask, src,
                          frame_cmd="ar1.FrameConfig", chirp_cmd="ar1.ChirpConfig",
                          channel_cmd="ar1.ChanNAdcConfig")
    fields = dict(
        n_samples=profile[13], n_loops=frame[3], n_frames=frame[2], tx_order=tx_order,
        rx_channels=rx_channels, sample_rate_hz=profile[14] * 1e3,
        slope_hz_per_s=profile[11] * 1e12, start_freq_hz=profile[1] * 1e9,
        idle_time_s=profile[2] * 1e-6, adc_start_time_s=profile[3] * 1e-6,
        ramp_end_time_s=profile[4] * 1e-6, tx_start_time_s=profile[12] * 1e-6,
        frame_period_s=frame[4] * 1e-3, sample_format=sample_format,
        iq_order="qi" if int(chan[9]) == 1 else "iq", adc_bits=adc_bits, lvds_lanes=lanes,
    )
    return _build(fields, overrides, src)


def format_studio_lua(config: RadarConfig) -> str:
    """Write ``config`` as an mmWave Studio Lua script that :func:`parse_studio_lua` reads back.

    Values are written with up to 12 significant digits in the units of the Lua API (GHz, us,
    MHz/us, ksps, ms). A few unrelated calls and comments are included, as in a real script.

    Parameters
    ----------
    config : RadarConfig
        Configuration to write.

    Returns
    -------
    str
        Lua script text.

    Raises
    ------
    ConfigError
        If the configuration uses a TX antenna above TX2 or an RX above RX3 (the Lua API has
        three TX and four RX enables).

    References
    ----------
    TI mmWave Studio User Guide, Lua API.
    """
    def num(x: float) -> str:
        return f"{x:.12g}"

    if max(config.tx_order) > 2:
        raise ConfigError("ar1.ChanNAdcConfig enables TX0..TX2 only", field="tx_order")
    if max(config.rx_channels) > 3:
        raise ConfigError("ar1.ChanNAdcConfig enables RX0..RX3 only", field="rx_channels")
    tx = [int(t in config.tx_order) for t in range(3)]
    rx = [int(r in config.rx_channels) for r in range(4)]
    bits = {v: k for k, v in _BITS.items()}[config.adc_bits]
    fmt = {v: k for k, v in _FORMATS.items()}[config.sample_format]
    lanes = [1, 1, 0, 0] if config.lvds_lanes == 2 else [1, 1, 1, 1]

    def flags(values: list[int]) -> str:
        return ", ".join(str(v) for v in values)

    lines = [
        "-- radarkit-generated mmWave Studio script",
        f"-- device {config.device}, board {config.board}",
        "ar1.FullReset()",
        "RSTD.Sleep(1000)",
        f"ar1.ChanNAdcConfig({flags(tx)}, {flags(rx)}, {bits}, {fmt}, "
        f"{1 if config.iq_order == 'qi' else 0}, 0)",
        "ar1.LPModConfig(0, 0)",
        "ar1.DataPathConfig(1, 1, 0)",
        "ar1.LvdsClkConfig(1, 1)",
        f"ar1.LvdsLaneConfig(0, {flags(lanes)}, 1, 0, 0)  -- lanes enabled",
        "-- profile: id, f0 (GHz), idle, ADC start, ramp end (us), TX backoff/phase, slope "
        "(MHz/us), TX start (us), samples, ksps, HPF1, HPF2, RX gain",
        f"ar1.ProfileConfig(0, {num(config.start_freq_hz / 1e9)}, {num(config.idle_time_s * 1e6)}, "
        f"{num(config.adc_start_time_s * 1e6)}, {num(config.ramp_end_time_s * 1e6)}, "
        f"0, 0, 0, 0, 0, 0, {num(config.slope_hz_per_s / 1e12)}, "
        f"{num(config.tx_start_time_s * 1e6)}, {config.n_samples}, "
        f"{num(config.sample_rate_hz / 1e3)}, 0, 0, 30)",
    ]
    for slot, t in enumerate(config.tx_order):
        enables = flags([int(t == i) for i in range(3)])
        lines.append(f"ar1.ChirpConfig({slot}, {slot}, 0, 0, 0, 0, 0, {enables})")
    lines += [
        f"ar1.FrameConfig(0, {config.n_tx - 1}, {config.n_frames}, {config.n_loops}, "
        f"{num(config.frame_period_s * 1e3)}, 0, 1)",
        "ar1.SelectCaptureDevice(\"DCA1000\")",
        "ar1.CaptureCardConfig_StartRecord(\"C:\\\\ti\\\\adc_data.bin\", 1)",
        "ar1.StartFrame()",
        "",
    ]
    return "\n".join(lines)
