"""Load a :class:`RadarConfig` from any supported file, detected by content; save TOML/JSON.

Kinds, in the order they are recognised:

1. radarkit JSON (``{ ... }`` with the fields of :meth:`RadarConfig.to_dict`);
2. mmWave Studio ``LogFile.txt`` API log (lines containing ``API:<Name>,``);
3. mmWave Studio Lua script (calls ``ar1.ProfileConfig(...)``);
4. mmWave SDK CLI ``.cfg`` (a ``profileCfg`` command line);
5. radarkit TOML (the fields of :meth:`RadarConfig.to_dict`, at top level or under ``[radar]``).
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from radarkit.atomic import atomic_output
from radarkit.config.radar import RadarConfig
from radarkit.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["load_config", "parse_config_text", "detect_config_kind", "save_config", "to_toml"]

CONFIG_KINDS = ("json", "studio-log", "studio-lua", "sdk-cfg", "toml")


def detect_config_kind(text: str) -> str | None:
    """Return the kind of configuration ``text`` holds (one of ``CONFIG_KINDS``) or ``None``."""
    stripped = text.lstrip()
    if stripped.startswith("{"):
        return "json"
    if re.search(r"API:\w+,", text):
        return "studio-log"
    if re.search(r"\bar1\.\w+\s*\(", text):
        return "studio-lua"
    if re.search(r"^\s*profileCfg\b", text, re.MULTILINE):
        return "sdk-cfg"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return None
    if "n_samples" in data or "n_samples" in data.get("radar", {}):
        return "toml"
    return None


def parse_config_text(text: str, source: str | os.PathLike | None = None,
                      **overrides: Any) -> RadarConfig:
    """Parse configuration ``text`` of any supported kind (see module docstring).

    Parameters
    ----------
    text : str
        File content.
    source : str or os.PathLike, optional
        File name used in error messages.
    **overrides
        :class:`RadarConfig` fields replacing what the text says (e.g. ``iq_order="auto"``).

    Raises
    ------
    ConfigError
        If the kind is not recognised or the content is invalid.
    """
    kind = detect_config_kind(text)
    if kind is None:
        raise ConfigError("not a recognised radar configuration (expected an mmWave SDK .cfg, a "
                          "Studio LogFile.txt or Lua script, or radarkit TOML/JSON)", source=source)
    if kind == "sdk-cfg":
        from radarkit.config.sdk_cfg import parse_sdk_cfg

        return parse_sdk_cfg(text, source, **overrides)
    if kind in ("studio-log", "studio-lua"):
        from radarkit.config import studio

        parse = studio.parse_studio_log if kind == "studio-log" else studio.parse_studio_lua
        return parse(text, source, **overrides)
    try:
        data = json.loads(text) if kind == "json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(f"invalid {kind.upper()}: {err}", source=source) from None
    if kind == "toml" and "radar" in data:
        data = data["radar"]
    data.update(overrides)
    return RadarConfig.from_dict(data, source=source)


def load_config(path: str | os.PathLike, **overrides: Any) -> RadarConfig:
    """Load a radar configuration file of any supported kind.

    Parameters
    ----------
    path : str or os.PathLike
        ``.cfg``, ``LogFile.txt``, ``.lua``, ``.toml`` or ``.json`` file (the kind is decided by
        content, not by the suffix).
    **overrides
        :class:`RadarConfig` fields replacing what the file says.

    Returns
    -------
    RadarConfig

    Raises
    ------
    ConfigError
        If the file is missing, unreadable, of unknown kind or inconsistent; the message names the
        file and the field.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise ConfigError("configuration file not found", source=path) from None
    except IsADirectoryError:
        raise ConfigError("is a directory, expected a configuration file", source=path) from None
    except OSError as err:
        raise ConfigError(f"cannot read: {err.strerror}", source=path) from None
    return parse_config_text(text, path, **overrides)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def to_toml(config: RadarConfig) -> str:
    """The configuration as TOML text (top-level keys of :meth:`RadarConfig.to_dict`)."""
    lines = ["# radarkit radar configuration (SI units)"]
    lines += [f"{key} = {_toml_value(value)}" for key, value in config.to_dict().items()]
    return "\n".join(lines) + "\n"


def save_config(config: RadarConfig, path: str | os.PathLike, force: bool = False) -> Path:
    """Save ``config`` atomically as TOML (``.toml``), JSON (``.json``) or SDK ``.cfg``.

    Raises
    ------
    StoreError
        If the file exists and ``force`` is false, or its folder is not writable.
    ConfigError
        If the suffix is not one of ``.toml``, ``.json``, ``.cfg``.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".toml":
        text = to_toml(config)
    elif suffix == ".json":
        text = json.dumps(config.to_dict(), indent=2) + "\n"
    elif suffix == ".cfg":
        from radarkit.config.sdk_cfg import format_sdk_cfg

        text = format_sdk_cfg(config)
    else:
        raise ConfigError("unknown configuration suffix (use .toml, .json or .cfg)", source=path)
    with atomic_output(path, force=force) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path
