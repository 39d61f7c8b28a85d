"""``RadarConfig``: everything needed to interpret DCA1000 bytes and cube axes.

Formulas (``shared/specs/raw-format.md``; TI SWRA553 "Introduction to mmWave Sensing: FMCW Radars"):

* sampled bandwidth ``B = S N / Fs``; range resolution ``c / (2 B)``;
* range-bin spacing of an ``N_fft``-point range FFT ``c Fs / (2 S N_fft)``;
* maximum range ``Fs c / (2 S)`` for complex sampling, ``Fs c / (4 S)`` for real sampling;
* loop time ``T_loop = n_tx (idle + ramp_end)``; ``v_max = lambda / (4 T_loop)``;
  ``dv = lambda / (2 L T_loop)``.

The wavelength radarkit uses is that of the centre of the *sampled* part of the chirp,
``f_c = f_0 + S (t_adc_start + N / (2 Fs))``: the Doppler phase a target adds from chirp to chirp is
``4 pi v T / lambda(f)`` averaged over the sampled frequencies, which is the centre value.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from radarkit.config.boards import get_board
from radarkit.errors import ConfigError

__all__ = ["RadarConfig", "SPEED_OF_LIGHT", "SAMPLE_FORMATS", "IQ_ORDERS"]

#: Speed of light in vacuum (m/s).
SPEED_OF_LIGHT = 299_792_458.0
#: ADC output formats (mmWave SDK ``adcCfg`` adcOutputFmt): complex1x, complex2x, real.
SAMPLE_FORMATS = ("complex1x", "complex2x", "real")
#: Order of the I and Q words in the DCA1000 stream: ``iq`` (I first, mmWave Studio default),
#: ``qi`` (Q first, SDK ``adcbufCfg`` SampleSwap 1), ``auto`` (decided from the data).
IQ_ORDERS = ("iq", "qi", "auto")
_FORMAT_VERSION = 1


@dataclass(frozen=True)
class RadarConfig:
    """Chirp, frame and capture settings of one TI xWR + DCA1000 recording.

    All quantities are SI (s, Hz, Hz/s). Derived quantities are properties.

    Parameters
    ----------
    n_samples : int
        ADC samples per chirp (``numAdcSamples``).
    n_loops : int
        Chirp loops per frame (``frameCfg`` numLoops): each loop sends one chirp per TX slot.
    tx_order : tuple of int
        TX antenna index of each TX slot, in chirp order within a loop (TDM-MIMO), e.g.
        ``(0, 2, 1)`` for the common IWR1843 three-TX order.
    sample_rate_hz : float
        ADC sample rate ``Fs`` (Hz).
    slope_hz_per_s : float
        Chirp frequency slope ``S`` (Hz/s).
    start_freq_hz : float
        Chirp start frequency ``f_0`` (Hz).
    idle_time_s, adc_start_time_s, ramp_end_time_s : float
        Chirp idle time, ADC start time and ramp end time (s).
    frame_period_s : float
        Frame periodicity (s).
    rx_channels : tuple of int
        Enabled RX antennas, in the order they appear in the data. Default all four.
    n_frames : int
        Frames in the capture; 0 means as many as the file holds.
    sample_format : {"complex1x", "complex2x", "real"}
        ADC output format.
    iq_order : {"iq", "qi", "auto"}
        Order of I and Q words in the file (see :data:`IQ_ORDERS`).
    lvds_lanes : {2, 4}
        LVDS lanes of the capture (2 for xWR16xx/18xx/68xx, 4 for xWR12xx/14xx).
    adc_bits : {12, 14, 16}
        ADC resolution; samples are stored as sign-extended int16 whatever it is.
    device : str
        Radar chip, e.g. ``"IWR1843"``.
    board : str
        Antenna board (see :mod:`radarkit.config.boards`).
    tx_start_time_s : float
        TX start time relative to the ramp start (s); informative.
    hsi_header : bool
        The SDK streamed with HSI headers (``lvdsStreamCfg`` enableHeader 1); such captures are
        refused by the reader.
    tx_positions, rx_positions : tuple of (float, float)
        ``(azimuth, elevation)`` in lambda/2 units of each TX slot and each RX channel. Empty means
        "from the board", and is filled in at construction.

    Raises
    ------
    ConfigError
        If a value is missing, out of range or inconsistent (ADC sampling longer than the ramp, an
        unknown TX antenna, zero samples, ...). The error names the field.
    """

    n_samples: int
    n_loops: int
    tx_order: tuple[int, ...]
    sample_rate_hz: float
    slope_hz_per_s: float
    start_freq_hz: float
    idle_time_s: float
    adc_start_time_s: float
    ramp_end_time_s: float
    frame_period_s: float
    rx_channels: tuple[int, ...] = (0, 1, 2, 3)
    n_frames: int = 0
    sample_format: str = "complex1x"
    iq_order: str = "iq"
    lvds_lanes: int = 2
    adc_bits: int = 16
    device: str = "IWR1843"
    board: str = "IWR1843BOOST"
    tx_start_time_s: float = 0.0
    hsi_header: bool = False
    tx_positions: tuple[tuple[float, float], ...] = field(default=())
    rx_positions: tuple[tuple[float, float], ...] = field(default=())

    # ------------------------------------------------------------------ validation
    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "tx_order", tuple(int(t) for t in self.tx_order))
        set_(self, "rx_channels", tuple(int(r) for r in self.rx_channels))
        for name in ("n_samples", "n_loops", "n_frames", "lvds_lanes", "adc_bits"):
            value = getattr(self, name)
            if isinstance(value, bool) or int(value) != value:
                raise ConfigError(f"must be an integer, got {value!r}", field=name)
            set_(self, name, int(value))
        for name in ("sample_rate_hz", "slope_hz_per_s", "start_freq_hz", "idle_time_s",
                     "adc_start_time_s", "ramp_end_time_s", "frame_period_s", "tx_start_time_s"):
            value = getattr(self, name)
            try:
                set_(self, name, float(value))
            except (TypeError, ValueError):
                raise ConfigError(f"must be a number, got {value!r}", field=name) from None
            if not np.isfinite(getattr(self, name)):
                raise ConfigError(f"must be finite, got {value!r}", field=name)
        self._check_values()
        board = get_board(self.board)
        if not self.tx_positions:
            set_(self, "tx_positions", tuple(board.tx_positions[t] for t in self.tx_order))
        if not self.rx_positions:
            set_(self, "rx_positions", tuple(board.rx_positions[r] for r in self.rx_channels))
        set_(self, "tx_positions", tuple((float(a), float(e)) for a, e in self.tx_positions))
        set_(self, "rx_positions", tuple((float(a), float(e)) for a, e in self.rx_positions))
        if len(self.tx_positions) != self.n_tx:
            raise ConfigError(f"{len(self.tx_positions)} positions for {self.n_tx} TX slots",
                              field="tx_positions")
        if len(self.rx_positions) != self.n_rx:
            raise ConfigError(f"{len(self.rx_positions)} positions for {self.n_rx} RX channels",
                              field="rx_positions")

    def _check_values(self) -> None:
        def fail(name: str, message: str) -> None:
            raise ConfigError(message, field=name)

        if self.n_samples <= 0:
            fail("n_samples", f"zero or negative ADC samples per chirp ({self.n_samples})")
        if self.n_loops <= 0:
            fail("n_loops", f"zero or negative chirp loops per frame ({self.n_loops})")
        if self.n_frames < 0:
            fail("n_frames", f"negative frame count ({self.n_frames})")
        board = get_board(self.board)
        if not self.tx_order:
            fail("tx_order", "no TX slot: the chirp configuration enables no transmitter")
        for t in self.tx_order:
            if not 0 <= t < board.n_tx:
                fail("tx_order", f"unknown TX antenna {t} (board {self.board} has TX0..TX{board.n_tx - 1})")
        if not self.rx_channels:
            fail("rx_channels", "no RX channel enabled")
        if len(set(self.rx_channels)) != len(self.rx_channels):
            fail("rx_channels", f"repeated RX channel in {self.rx_channels}")
        for r in self.rx_channels:
            if not 0 <= r < board.n_rx:
                fail("rx_channels",
                     f"unknown RX antenna {r} (board {self.board} has RX0..RX{board.n_rx - 1})")
        if self.sample_rate_hz <= 0:
            fail("sample_rate_hz", f"must be > 0 Hz, got {self.sample_rate_hz}")
        if self.slope_hz_per_s <= 0:
            fail("slope_hz_per_s", f"must be > 0 Hz/s, got {self.slope_hz_per_s}")
        if not 57e9 <= self.start_freq_hz <= 81e9:
            fail("start_freq_hz", f"{self.start_freq_hz / 1e9:g} GHz is outside 57..81 GHz")
        for name in ("idle_time_s", "adc_start_time_s"):
            if getattr(self, name) < 0:
                fail(name, f"negative time {getattr(self, name)} s")
        if self.ramp_end_time_s <= 0:
            fail("ramp_end_time_s", f"must be > 0 s, got {self.ramp_end_time_s}")
        sampling_end = self.adc_start_time_s + self.n_samples / self.sample_rate_hz
        if sampling_end > self.ramp_end_time_s * (1 + 1e-9):
            fail("ramp_end_time_s",
                 f"ADC sampling ends at {sampling_end * 1e6:.3f} us (ADC start "
                 f"{self.adc_start_time_s * 1e6:.3f} us + {self.n_samples} samples at "
                 f"{self.sample_rate_hz / 1e3:g} ksps), after the ramp ends at "
                 f"{self.ramp_end_time_s * 1e6:.3f} us")
        if self.frame_period_s <= 0:
            fail("frame_period_s", f"must be > 0 s, got {self.frame_period_s}")
        active = self.n_loops * self.n_tx * self.chirp_time_s
        if active > self.frame_period_s * (1 + 1e-9):
            fail("frame_period_s",
                 f"{self.frame_period_s * 1e3:g} ms is shorter than the frame's chirps "
                 f"({self.n_loops} loops x {self.n_tx} TX x {self.chirp_time_s * 1e6:g} us = "
                 f"{active * 1e3:g} ms)")
        if self.sample_format not in SAMPLE_FORMATS:
            fail("sample_format", f"{self.sample_format!r} is not one of {', '.join(SAMPLE_FORMATS)}")
        if self.iq_order not in IQ_ORDERS:
            fail("iq_order", f"{self.iq_order!r} is not one of {', '.join(IQ_ORDERS)}")
        if self.lvds_lanes not in (2, 4):
            fail("lvds_lanes", f"{self.lvds_lanes} lanes: radarkit reads 2- and 4-lane captures")
        if self.adc_bits not in (12, 14, 16):
            fail("adc_bits", f"{self.adc_bits}-bit ADC: expected 12, 14 or 16")
        if self.sample_format != "real" and self.lvds_lanes == 2 and self.n_samples % 2:
            fail("n_samples", f"{self.n_samples} is odd: 2-lane complex data pairs samples")
        if self.sample_format == "real" and self.n_samples % 2:
            fail("n_samples", f"{self.n_samples} is odd: a real-sampled chirp needs an even count")

    # ------------------------------------------------------------------ sizes
    @property
    def n_tx(self) -> int:
        """TX slots per loop (TDM-MIMO)."""
        return len(self.tx_order)

    @property
    def n_rx(self) -> int:
        """Enabled RX channels."""
        return len(self.rx_channels)

    @property
    def n_virtual(self) -> int:
        """Virtual antennas, ``n_tx * n_rx``, indexed ``tx_slot * n_rx + rx``."""
        return self.n_tx * self.n_rx

    @property
    def n_chirps(self) -> int:
        """Chirps per frame, ``n_loops * n_tx``."""
        return self.n_loops * self.n_tx

    @property
    def is_complex(self) -> bool:
        """True for complex1x/complex2x sampling."""
        return self.sample_format != "real"

    @property
    def bytes_per_sample(self) -> int:
        """Bytes per ADC sample of one RX channel (4 for complex, 2 for real int16)."""
        return 4 if self.is_complex else 2

    @property
    def bytes_per_chirp(self) -> int:
        """Bytes one chirp occupies in a DCA1000 file."""
        return self.n_rx * self.n_samples * self.bytes_per_sample

    @property
    def bytes_per_frame(self) -> int:
        """Bytes one frame occupies in a DCA1000 file."""
        return self.n_chirps * self.bytes_per_chirp

    @property
    def raw_shape(self) -> tuple[int, int, int, int]:
        """Shape of one parsed frame: ``(loop, tx_slot, rx, sample)``."""
        return (self.n_loops, self.n_tx, self.n_rx, self.n_samples)

    # ------------------------------------------------------------------ timing and frequency
    @property
    def chirp_time_s(self) -> float:
        """Chirp repetition time ``idle + ramp_end`` (s)."""
        return self.idle_time_s + self.ramp_end_time_s

    @property
    def loop_time_s(self) -> float:
        """Time between two chirps of the same TX slot, ``n_tx (idle + ramp_end)`` (s)."""
        return self.n_tx * self.chirp_time_s

    @property
    def adc_sampling_time_s(self) -> float:
        """Duration of the ADC sampling window, ``N / Fs`` (s)."""
        return self.n_samples / self.sample_rate_hz

    @property
    def sampled_bandwidth_hz(self) -> float:
        """Bandwidth swept while the ADC samples, ``B = S N / Fs`` (Hz)."""
        return self.slope_hz_per_s * self.adc_sampling_time_s

    @property
    def centre_freq_hz(self) -> float:
        """Centre of the sampled part of the chirp, ``f_0 + S (t_adc + N / (2 Fs))`` (Hz)."""
        return self.start_freq_hz + self.slope_hz_per_s * (
            self.adc_start_time_s + 0.5 * self.adc_sampling_time_s)

    @property
    def wavelength_m(self) -> float:
        """Wavelength at :attr:`centre_freq_hz` (m); used for velocity and angle."""
        return SPEED_OF_LIGHT / self.centre_freq_hz

    # ------------------------------------------------------------------ range
    @property
    def n_range_bins(self) -> int:
        """Range bins of an unpadded range FFT: ``N`` (complex) or ``N / 2`` (real)."""
        return self.n_samples if self.is_complex else self.n_samples // 2

    @property
    def range_resolution_m(self) -> float:
        """Range resolution ``c / (2 B)`` (m)."""
        return SPEED_OF_LIGHT / (2.0 * self.sampled_bandwidth_hz)

    def range_bin_spacing_m(self, n_fft: int | None = None) -> float:
        """Range-bin spacing ``c Fs / (2 S N_fft)`` (m) of an ``n_fft``-point range FFT.

        Parameters
        ----------
        n_fft : int, optional
            Range FFT length; default ``n_samples``.
        """
        n = self.n_samples if n_fft is None else int(n_fft)
        return SPEED_OF_LIGHT * self.sample_rate_hz / (2.0 * self.slope_hz_per_s * n)

    @property
    def max_range_m(self) -> float:
        """Maximum unambiguous range (m): ``Fs c / (2 S)`` complex, ``Fs c / (4 S)`` real."""
        factor = 2.0 if self.is_complex else 4.0
        return self.sample_rate_hz * SPEED_OF_LIGHT / (factor * self.slope_hz_per_s)

    def beat_frequency_hz(self, range_m: float) -> float:
        """IF (beat) frequency ``2 S R / c`` (Hz) of a target at ``range_m`` (m)."""
        return 2.0 * self.slope_hz_per_s * range_m / SPEED_OF_LIGHT

    # ------------------------------------------------------------------ velocity
    @property
    def max_velocity_mps(self) -> float:
        """Maximum unambiguous radial velocity ``lambda / (4 T_loop)`` (m/s)."""
        return self.wavelength_m / (4.0 * self.loop_time_s)

    @property
    def velocity_resolution_mps(self) -> float:
        """Velocity resolution ``lambda / (2 L T_loop)`` (m/s)."""
        return self.wavelength_m / (2.0 * self.n_loops * self.loop_time_s)

    # ------------------------------------------------------------------ antennas
    @property
    def virtual_positions(self) -> np.ndarray:
        """Virtual-array layout, shape ``(n_virtual, 2)`` float64, ``(azimuth, elevation)`` in
        lambda/2 units; row ``tx_slot * n_rx + rx``."""
        tx = np.asarray(self.tx_positions, dtype=np.float64)
        rx = np.asarray(self.rx_positions, dtype=np.float64)
        return (tx[:, None, :] + rx[None, :, :]).reshape(-1, 2)

    @property
    def rx_phase(self) -> np.ndarray:
        """Phase rotation (+1/-1) processing applies to each RX channel, float32 ``(n_rx,)``
        (the board's ``rx_phase``, TI ``antPhaseRot``; all +1 except on the AWR1843AOP)."""
        board = get_board(self.board)
        return np.array([board.rx_sign(r) for r in self.rx_channels], dtype=np.float32)

    # ------------------------------------------------------------------ conversion
    def replace(self, **changes: Any) -> RadarConfig:
        """Return a copy with ``changes`` applied (validated again).

        Antenna positions are recomputed from the board when ``tx_order``, ``rx_channels`` or
        ``board`` change and no positions are given.
        """
        if {"tx_order", "rx_channels", "board"} & changes.keys():
            changes.setdefault("tx_positions", ())
            changes.setdefault("rx_positions", ())
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON dictionary of every field (lists for tuples), with a format tag."""
        out: dict[str, Any] = {"format": "radarkit-radar-config", "version": _FORMAT_VERSION}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = [list(v) if isinstance(v, tuple) else v for v in value]
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str | os.PathLike | None = None) -> RadarConfig:
        """Build a config from :meth:`to_dict` output.

        Raises
        ------
        ConfigError
            On unknown or missing keys or bad values; names ``source`` if given.
        """
        try:
            data = dict(data)
            data.pop("format", None)
            version = data.pop("version", _FORMAT_VERSION)
            if version != _FORMAT_VERSION:
                raise ConfigError(f"unsupported config format version {version}", field="version")
            names = {f.name for f in dataclasses.fields(cls)}
            unknown = sorted(set(data) - names)
            if unknown:
                raise ConfigError(f"unknown key(s) {', '.join(unknown)}", field=unknown[0])
            required = [f.name for f in dataclasses.fields(cls)
                        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
            missing = [n for n in required if n not in data]
            if missing:
                raise ConfigError(f"missing key(s) {', '.join(missing)}", field=missing[0])
            for key in ("tx_order", "rx_channels"):
                if key in data:
                    data[key] = tuple(data[key])
            for key in ("tx_positions", "rx_positions"):
                if key in data:
                    data[key] = tuple(tuple(p) for p in data[key])
            return cls(**data)
        except ConfigError as err:
            raise (err.with_source(source) if source is not None else err) from None
        except (TypeError, ValueError) as err:
            raise ConfigError(f"bad value: {err}", source=source) from None

    @classmethod
    def load(cls, path: str | os.PathLike, **overrides: Any) -> RadarConfig:
        """Load a configuration file of any supported kind, detected from its content.

        Supported: mmWave SDK CLI ``.cfg``, mmWave Studio ``LogFile.txt`` API log, mmWave Studio
        Lua script, radarkit TOML or JSON. See :func:`radarkit.config.load_config`.
        """
        from radarkit.config.loaders import load_config

        return load_config(path, **overrides)

    def summary(self) -> dict[str, str]:
        """Human-readable derived quantities with units, for ``radarkit info``."""
        return {
            "device / board": f"{self.device} / {self.board}",
            "TX slots (chirp order)": ", ".join(f"TX{t}" for t in self.tx_order),
            "RX channels": ", ".join(f"RX{r}" for r in self.rx_channels),
            "virtual antennas": str(self.n_virtual),
            "samples x loops": f"{self.n_samples} x {self.n_loops}",
            "sample format / IQ order / lanes": f"{self.sample_format} / {self.iq_order} / {self.lvds_lanes}",
            "sample rate": f"{self.sample_rate_hz / 1e6:g} Msps",
            "slope": f"{self.slope_hz_per_s / 1e12:g} MHz/us",
            "start / centre frequency":
                f"{self.start_freq_hz / 1e9:.4f} / {self.centre_freq_hz / 1e9:.4f} GHz",
            "sampled bandwidth": f"{self.sampled_bandwidth_hz / 1e6:.2f} MHz",
            "range resolution": f"{self.range_resolution_m:.4f} m",
            "range-bin spacing": f"{self.range_bin_spacing_m():.4f} m",
            "max range": f"{self.max_range_m:.2f} m",
            "loop time": f"{self.loop_time_s * 1e6:.2f} us",
            "max velocity": f"+-{self.max_velocity_mps:.3f} m/s",
            "velocity resolution": f"{self.velocity_resolution_mps:.4f} m/s",
            "frame period": f"{self.frame_period_s * 1e3:g} ms",
            "bytes per frame": f"{self.bytes_per_frame:,}",
        }
