"""mmWave Studio LogFile.txt and Lua script parsing (radarkit.config.studio)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from radarkit.config import RadarConfig, detect_config_kind, load_config, parse_config_text, studio
from radarkit.config.studio import (
    format_studio_log,
    format_studio_lua,
    parse_studio_log,
    parse_studio_lua,
)
from radarkit.errors import ConfigError

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CRUW_CFG = SHARED_DATA / "cruw_awr1843_2tx" / "cruw_awr1843.cfg"

# Register LSBs, from the documented mmWaveLink units (independent of radarkit.config.studio).
FREQ_LSB_HZ = 3.6e9 / 2**26                    # startFreqConst
TIME_LSB_S = 10e-9                             # idle / adcStart / rampEnd / txStart
SLOPE_LSB_HZ_PER_S = 3.6e6 * 900 / 2**26 * 1e9  # freqSlopeConst, kHz/us -> Hz/s
PERIOD_LSB_S = 5e-9                            # frame periodicity
RATE_LSB_HZ = 1e3                              # digOutSampleRate in ksps

REGISTER_TOLERANCE = {
    "start_freq_hz": FREQ_LSB_HZ,
    "slope_hz_per_s": SLOPE_LSB_HZ_PER_S,
    "idle_time_s": TIME_LSB_S,
    "adc_start_time_s": TIME_LSB_S,
    "ramp_end_time_s": TIME_LSB_S,
    "tx_start_time_s": TIME_LSB_S,
    "frame_period_s": PERIOD_LSB_S,
    "sample_rate_hz": RATE_LSB_HZ,
}


def assert_same_config(got: RadarConfig, want: RadarConfig, tolerance: dict[str, float]) -> None:
    """Integer/str/tuple fields equal; float fields within ``tolerance[name]`` (absolute)."""
    for f in dataclasses.fields(RadarConfig):
        a, b = getattr(got, f.name), getattr(want, f.name)
        if isinstance(b, float):
            assert a == pytest.approx(b, abs=tolerance[f.name], rel=0), f.name
        else:
            assert a == b, f.name


@pytest.fixture
def cruw() -> RadarConfig:
    if not CRUW_CFG.is_file():
        pytest.skip(f"shared CRUW configuration not found at {CRUW_CFG} (shared data folder "
                    "beside the repository)")
    return load_config(CRUW_CFG)


@pytest.fixture
def three_tx() -> RadarConfig:
    """A config exercising non-default fields: 3 TX (0, 2, 1), Q first, real, 12-bit, 4 lanes."""
    return RadarConfig(
        n_samples=256, n_loops=64, tx_order=(0, 2, 1), sample_rate_hz=5.0e6,
        slope_hz_per_s=61.5566e12, start_freq_hz=77.3e9, idle_time_s=7e-6,
        adc_start_time_s=6.4e-6, ramp_end_time_s=58e-6, frame_period_s=0.1,
        rx_channels=(0, 1, 3), n_frames=600, sample_format="real", iq_order="qi",
        lvds_lanes=4, adc_bits=12, tx_start_time_s=-0.5e-6,
    )


# ------------------------------------------------------------------------------- LogFile.txt
LOG_3TX = """\
05-Feb-2024 14:02:11: Connecting to the RS232 port COM7 at 115200 baud
05-Feb-2024 14:02:12: RS232 connected, SOP mode 2, BSS firmware version 2.2.2
05-Feb-2024 14:02:15: API:ChannelConfig,15,7,0,
05-Feb-2024 14:02:15: API:AdcOutConfig,2,1,
05-Feb-2024 14:02:15: API:DataFmtConfig,15,2,1,0,1,
05-Feb-2024 14:02:16: API:ProfileConfig,0,1439117143,500,600,6000,0,0,1243,0,256,5000,0,0,30,
05-Feb-2024 14:02:16: Status: Passed
05-Feb-2024 14:02:17: API:ProfileConfig,0,1435384036,700,600,5800,0,0,1275,100,256,5000,0,0,30,
05-Feb-2024 14:02:17: API:ChirpConfig,0,0,0,0,0,0,0,1,
05-Feb-2024 14:02:17: API:ChirpConfig,1,1,0,0,0,0,0,4,
05-Feb-2024 14:02:17: API:ChirpConfig,2,2,0,0,0,0,0,2,
05-Feb-2024 14:02:18: API:FrameConfig,0,2,600,64,20000000,0,1,
05-Feb-2024 14:02:18: Frame started, 600 frames
"""


def _expected_log_3tx() -> dict[str, object]:
    """Fields LOG_3TX describes (last ProfileConfig), from the documented register units."""
    return dict(
        n_samples=256, n_loops=64, n_frames=600, tx_order=(0, 2, 1), rx_channels=(0, 1, 2, 3),
        start_freq_hz=1435384036 * FREQ_LSB_HZ, idle_time_s=700 * TIME_LSB_S,
        adc_start_time_s=600 * TIME_LSB_S, ramp_end_time_s=5800 * TIME_LSB_S,
        slope_hz_per_s=1275 * SLOPE_LSB_HZ_PER_S, tx_start_time_s=100 * TIME_LSB_S,
        sample_rate_hz=5000e3, frame_period_s=20000000 * PERIOD_LSB_S,
        sample_format="complex1x", iq_order="iq", adc_bits=16, lvds_lanes=2,
        device="IWR1843", board="IWR1843BOOST",
    )


def _check_fields(config: RadarConfig, expected: dict[str, object]) -> None:
    for name, value in expected.items():
        if isinstance(value, float):
            assert getattr(config, name) == pytest.approx(value, rel=1e-12), name
        else:
            assert getattr(config, name) == value, name


def test_register_constants_match_documented_values():
    assert studio.START_FREQ_LSB_HZ == pytest.approx(53.644, abs=1e-3)
    assert studio.SLOPE_LSB_HZ_PER_S / 1e9 == pytest.approx(48.2797, abs=1e-4)  # kHz/us
    assert studio.TIME_LSB_S == 10e-9
    assert studio.FRAME_PERIOD_LSB_S == 5e-9


def test_handwritten_log_gives_documented_numbers():
    config = parse_studio_log(LOG_3TX, "LogFile.txt")
    _check_fields(config, _expected_log_3tx())
    # sanity of the unit conversion itself: 77 GHz start, 61.56 MHz/us, 100 ms frames
    assert config.start_freq_hz == pytest.approx(77e9, abs=FREQ_LSB_HZ)
    assert config.slope_hz_per_s / 1e12 == pytest.approx(61.5566, abs=1e-3)
    assert config.frame_period_s == pytest.approx(0.1)


def test_log_without_trailing_commas():
    text = re.sub(r",$", "", LOG_3TX, flags=re.MULTILINE)
    assert text.count("API:") == LOG_3TX.count("API:") and ",\n" not in text
    _check_fields(parse_studio_log(text), _expected_log_3tx())


def test_log_chirp_ranges_accumulate_and_later_lines_replace():
    chirps = ("API:ChirpConfig,0,0,0,0,0,0,0,1,\n"
              "05-Feb-2024 14:02:17: API:ChirpConfig,1,1,0,0,0,0,0,4,\n"
              "05-Feb-2024 14:02:17: API:ChirpConfig,2,2,0,0,0,0,0,2,\n")
    assert chirps in LOG_3TX
    # one range line for chirps 0..2 (all TX0), then 1 and 2 redefined
    replaced = LOG_3TX.replace(chirps, "API:ChirpConfig,0,2,0,0,0,0,0,1,\n"
                                       "API:ChirpConfig,1,2,0,0,0,0,0,4,\n"
                                       "API:ChirpConfig,2,2,0,0,0,0,0,2,\n")
    assert parse_studio_log(replaced).tx_order == (0, 2, 1)


def test_log_frame_selects_chirp_range():
    text = LOG_3TX.replace("API:FrameConfig,0,2,", "API:FrameConfig,1,2,")
    config = parse_studio_log(text)
    assert config.tx_order == (2, 1)
    assert config.n_loops == 64 and config.n_frames == 600


def test_log_data_format_iq_swap_and_adc_codes():
    text = (LOG_3TX.replace("API:AdcOutConfig,2,1,", "API:AdcOutConfig,0,2,")
            .replace("API:DataFmtConfig,15,2,1,0,1,", "API:DataFmtConfig,15,0,2,1,1,"))
    config = parse_studio_log(text)
    assert (config.adc_bits, config.sample_format, config.iq_order) == (12, "complex2x", "qi")


def test_log_overrides_replace_fields():
    config = parse_studio_log(LOG_3TX, board="ULA", device="IWR1642", lvds_lanes=4)
    assert (config.board, config.device, config.lvds_lanes) == ("ULA", "IWR1642", 4)
    assert config.tx_positions == ((0.0, 0.0), (8.0, 0.0), (4.0, 0.0))


def test_log_round_trip_cruw(cruw, tmp_path):
    path = tmp_path / "LogFile.txt"
    path.write_text(format_studio_log(cruw), encoding="utf-8")
    assert detect_config_kind(path.read_text()) == "studio-log"
    assert_same_config(load_config(path), cruw, REGISTER_TOLERANCE)


def test_log_round_trip_three_tx(three_tx):
    text = format_studio_log(three_tx)
    # the log does not hold the lane count: give it back as an override
    assert_same_config(parse_studio_log(text, lvds_lanes=4), three_tx, REGISTER_TOLERANCE)


def test_format_studio_log_line_format(three_tx):
    lines = format_studio_log(three_tx).splitlines()
    stamp = r"\d{2}-(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)-\d{4} \d{2}:\d{2}:\d{2}: "
    assert all(re.match(stamp, line) for line in lines)
    api = [line for line in lines if "API:" in line]
    assert all(re.fullmatch(stamp + r"API:\w+(,\d+)+,", line) for line in api)
    assert len(api) < len(lines)  # unrelated log lines too
    assert any("Connecting" in line for line in lines)
    # negative TX start is written as a 16-bit two's-complement register value
    profile = next(line for line in api if "API:ProfileConfig," in line).split("API:")[1]
    assert int(profile.split(",")[9]) == 65536 - 50


def test_format_studio_log_rejects_register_overflow(three_tx):
    steep = three_tx.replace(slope_hz_per_s=2000e12)  # 41425 LSB > int16
    with pytest.raises(ConfigError) as info:
        format_studio_log(steep)
    assert info.value.field == "slope_hz_per_s"


# ------------------------------------------------------------------------------- Lua
LUA_3TX = """\
--[[ HuPR-style capture script.
     ar1.FrameConfig(0, 0, 1, 1, 1, 0, 1) in this block comment must be ignored ]]
ar1.FullReset()
ar1.ChanNAdcConfig(1, 1, 1, 1, 1, 1, 1, 2, 1, 0, 0)
ar1.LvdsLaneConfig(0, 1, 1, 0, 0, 1, 0, 0)
ar1.ProfileConfig(0, 60.25, 100, 6, 60, 0, 0, 0, 0, 0, 0, 29.982, 0, 256, 10000, 0, 0, 30)
ar1.ProfileConfig(0, 77, 7, 6, 58, 0, 0, 0, 0, 0, 0, 61.5566, 1, 256, 5000, 0, 0, 30) -- last wins
--ar1.ProfileConfig(0, 60, 100, 6, 60, 0, 0, 0, 0, 0, 0, 10, 0, 128, 4000, 0, 0, 30)
ar1.ChirpConfig(0, 0, 0, 0, 0, 0, 0, 1, 0, 0)
ar1.ChirpConfig(1, 1, 0, 0, 0, 0, 0, 0, 0, 1)   -- TX2 second
ar1.ChirpConfig(2, 2, 0, 0, 0, 0, 0,
                0, 1, 0)                         -- TX1 third, call spans two lines
print("--> frame"); ar1.FrameConfig(0, 2, 600, 64, 100, 0, 1)
ar1.CaptureCardConfig_StartRecord("C:\\\\ti\\\\adc_data.bin", 1)
ar1.StartFrame()
"""


def _expected_lua_3tx() -> dict[str, object]:
    return dict(
        n_samples=256, n_loops=64, n_frames=600, tx_order=(0, 2, 1), rx_channels=(0, 1, 2, 3),
        start_freq_hz=77e9, idle_time_s=7e-6, adc_start_time_s=6e-6, ramp_end_time_s=58e-6,
        slope_hz_per_s=61.5566e12, tx_start_time_s=1e-6, sample_rate_hz=5e6,
        frame_period_s=0.1, sample_format="complex1x", iq_order="iq", adc_bits=16,
        lvds_lanes=2, device="IWR1843", board="IWR1843BOOST",
    )


def test_handwritten_lua_gives_expected_numbers():
    _check_fields(parse_studio_lua(LUA_3TX, "capture.lua"), _expected_lua_3tx())


@pytest.mark.parametrize(("lane_args", "lanes"), [("1, 1, 0, 0", 2), ("1, 1, 1, 1", 4), (None, 2)])
def test_lua_lvds_lane_config(lane_args, lanes):
    old = "ar1.LvdsLaneConfig(0, 1, 1, 0, 0, 1, 0, 0)\n"
    new = "" if lane_args is None else f"ar1.LvdsLaneConfig(0, {lane_args}, 1, 0, 0)\n"
    assert old in LUA_3TX
    assert parse_studio_lua(LUA_3TX.replace(old, new)).lvds_lanes == lanes


def test_lua_channel_and_format_flags():
    text = LUA_3TX.replace("ar1.ChanNAdcConfig(1, 1, 1, 1, 1, 1, 1, 2, 1, 0, 0)",
                           "ar1.ChanNAdcConfig(1, 1, 1, 1, 0, 1, 1, 1, 0, 1, 0)")
    config = parse_studio_lua(text)
    assert config.rx_channels == (0, 2, 3)
    assert (config.adc_bits, config.sample_format, config.iq_order) == (14, "real", "qi")


def test_lua_comment_handling_is_what_makes_it_parse():
    # Un-commenting the trailing ProfileConfig changes the result: comments really are skipped.
    text = LUA_3TX.replace("--ar1.ProfileConfig(0, 60,", "ar1.ProfileConfig(0, 60,")
    assert parse_studio_lua(text).start_freq_hz == pytest.approx(60e9)


def test_lua_round_trip_cruw(cruw, tmp_path):
    path = tmp_path / "capture.lua"
    path.write_text(format_studio_lua(cruw), encoding="utf-8")
    assert detect_config_kind(path.read_text()) == "studio-lua"
    tight = {name: 1e-9 * abs(getattr(cruw, name)) + 1e-15 for name in REGISTER_TOLERANCE}
    assert_same_config(load_config(path), cruw, tight)


def test_lua_round_trip_three_tx(three_tx):
    tight = {name: 1e-9 * abs(getattr(three_tx, name)) + 1e-15 for name in REGISTER_TOLERANCE}
    assert_same_config(parse_studio_lua(format_studio_lua(three_tx)), three_tx, tight)


def test_lua_variable_argument_is_refused():
    text = LUA_3TX.replace("ar1.FrameConfig(0, 2, 600, 64, 100, 0, 1)",
                           "ar1.FrameConfig(0, 2, 600, loops, 100, 0, 1)")
    with pytest.raises(ConfigError) as info:
        parse_studio_lua(text, "capture.lua")
    message = str(info.value)
    assert "ar1.FrameConfig" in message and "capture.lua" in message
    assert "variables" in message and "'loops'" in message


def test_lua_hex_literals():
    text = LUA_3TX.replace("ar1.FrameConfig(0, 2, 600, 64,", "ar1.FrameConfig(0, 2, 600, 0x40,")
    assert parse_studio_lua(text).n_loops == 64


# ------------------------------------------------------------------------------- detection
def test_detect_and_load_handwritten_files(tmp_path):
    assert detect_config_kind(LOG_3TX) == "studio-log"
    assert detect_config_kind(LUA_3TX) == "studio-lua"
    log_path = tmp_path / "LogFile.txt"
    lua_path = tmp_path / "capture.lua"
    log_path.write_text(LOG_3TX, encoding="utf-8")
    lua_path.write_text(LUA_3TX, encoding="utf-8")
    _check_fields(load_config(log_path), _expected_log_3tx())
    _check_fields(load_config(lua_path), _expected_lua_3tx())
    assert load_config(log_path, iq_order="auto").iq_order == "auto"


# ------------------------------------------------------------------------------- errors
def _load_error(tmp_path: Path, text: str, name: str = "LogFile.txt") -> ConfigError:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert name in str(info.value)
    return info.value


@pytest.mark.parametrize("api", ["ProfileConfig", "FrameConfig", "ChannelConfig", "ChirpConfig"])
def test_log_missing_api_names_it_and_the_file(tmp_path, api):
    text = "\n".join(line for line in LOG_3TX.splitlines() if f"API:{api}," not in line)
    assert "API:" in text
    err = _load_error(tmp_path, text)
    assert api in str(err) and err.field == api


@pytest.mark.parametrize("call", ["ProfileConfig", "FrameConfig", "ChanNAdcConfig", "ChirpConfig"])
def test_lua_missing_call_names_it_and_the_file(tmp_path, call):
    text, removed = re.subn(rf"ar1\.{call}\([^)]*\)", "", LUA_3TX)
    assert removed >= 1 and "ar1." in text
    err = _load_error(tmp_path, text, "capture.lua")
    assert f"ar1.{call}" in str(err) and err.field == f"ar1.{call}"


def test_log_chirp_enabling_two_tx(tmp_path):
    text = LOG_3TX.replace("API:ChirpConfig,2,2,0,0,0,0,0,2,", "API:ChirpConfig,2,2,0,0,0,0,0,3,")
    err = _load_error(tmp_path, text)
    assert err.field == "ChirpConfig" and "exactly one TX" in str(err)


def test_lua_chirp_enabling_two_tx(tmp_path):
    text = LUA_3TX.replace("ar1.ChirpConfig(1, 1, 0, 0, 0, 0, 0, 0, 0, 1)",
                           "ar1.ChirpConfig(1, 1, 0, 0, 0, 0, 0, 1, 0, 1)")
    err = _load_error(tmp_path, text, "capture.lua")
    assert err.field == "ar1.ChirpConfig" and "exactly one TX" in str(err)


def test_log_chirp_using_tx_the_channel_disables(tmp_path):
    text = LOG_3TX.replace("API:ChannelConfig,15,7,0,", "API:ChannelConfig,15,5,0,")
    err = _load_error(tmp_path, text)
    assert "TX1" in str(err) and "ChannelConfig" in str(err)


def test_log_frame_using_undefined_chirp(tmp_path):
    text = LOG_3TX.replace("API:FrameConfig,0,2,", "API:FrameConfig,0,3,")
    err = _load_error(tmp_path, text)
    assert "chirp 3" in str(err)


def test_log_adc_sampling_longer_than_ramp(tmp_path):
    # ramp end 40 us < ADC start 6 us + 256 samples / 5 Msps = 57.2 us
    text = LOG_3TX.replace(",0,1435384036,700,600,5800,", ",0,1435384036,700,600,4000,")
    err = _load_error(tmp_path, text)
    assert err.field == "ramp_end_time_s" and "ramp_end_time_s" in str(err)


def test_lua_adc_sampling_longer_than_ramp(tmp_path):
    text = LUA_3TX.replace("ar1.ProfileConfig(0, 77, 7, 6, 58,", "ar1.ProfileConfig(0, 77, 7, 6, 40,")
    err = _load_error(tmp_path, text, "capture.lua")
    assert err.field == "ramp_end_time_s"


@pytest.mark.parametrize("register", ["64261", "-1275"])  # both -1275 as int16
def test_log_negative_slope_register(tmp_path, register):
    text = LOG_3TX.replace(",0,0,1275,100,", f",0,0,{register},100,")
    err = _load_error(tmp_path, text)
    assert err.field == "slope_hz_per_s" and "slope_hz_per_s" in str(err)
    assert "got -" in str(err)


def test_log_channel_interleaved_data_is_refused(tmp_path):
    text = LOG_3TX.replace("API:DataFmtConfig,15,2,1,0,1,", "API:DataFmtConfig,15,2,1,0,0,")
    err = _load_error(tmp_path, text)
    assert err.field == "DataFmtConfig" and "chanInterleave" in str(err)


def test_log_adc_and_data_format_disagreeing(tmp_path):
    text = LOG_3TX.replace("API:DataFmtConfig,15,2,1,0,1,", "API:DataFmtConfig,15,2,0,0,1,")
    err = _load_error(tmp_path, text)
    assert err.field == "DataFmtConfig" and "AdcOutConfig" in str(err)


def test_log_non_integer_register(tmp_path):
    text = LOG_3TX.replace("API:FrameConfig,0,2,600,64,", "API:FrameConfig,0,2,600,abc,")
    err = _load_error(tmp_path, text)
    assert err.field == "FrameConfig"


def test_parse_config_text_dispatches_to_studio():
    assert parse_config_text(LOG_3TX) == parse_studio_log(LOG_3TX)
    assert parse_config_text(LUA_3TX) == parse_studio_lua(LUA_3TX)
