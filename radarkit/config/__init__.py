"""Radar configuration: :class:`RadarConfig`, board geometry and file loaders.

>>> from radarkit.config import load_config
>>> cfg = load_config("capture.cfg")          # doctest: +SKIP
>>> cfg.range_resolution_m, cfg.max_velocity_mps  # doctest: +SKIP
"""

from radarkit.config.boards import BOARDS, Board, get_board
from radarkit.config.loaders import detect_config_kind, load_config, parse_config_text, save_config
from radarkit.config.radar import IQ_ORDERS, SAMPLE_FORMATS, SPEED_OF_LIGHT, RadarConfig

__all__ = [
    "BOARDS",
    "Board",
    "IQ_ORDERS",
    "RadarConfig",
    "SAMPLE_FORMATS",
    "SPEED_OF_LIGHT",
    "detect_config_kind",
    "get_board",
    "load_config",
    "parse_config_text",
    "save_config",
]
