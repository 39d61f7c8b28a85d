"""Model checkpoints: one self-checking file per save, written atomically.

File layout (format 1)::

    b"RADARKIT-CKPT\\n"                      magic line
    <JSON header>\\n                          one line, UTF-8
    <payload>                                 torch.save() bytes

The JSON header holds ``format``, ``payload_bytes``, ``sha256`` (of the payload), ``model`` (a
name such as ``"hupr"``), ``epoch``, ``config`` (the model/training configuration as a plain
dictionary), ``metrics`` (a dictionary of numbers), ``radarkit_version`` and ``created``. It can be
read without torch (:func:`read_header`). The payload is a dictionary of state dictionaries
(``model``, ``optimizer``, ``scheduler``, and any ``extra`` ones), loaded with
``torch.load(weights_only=True)``, so a checkpoint cannot execute code.

Any damage (truncation, flipped bytes, a different file) or a mismatch with the model being loaded
raises :class:`radarkit.errors.CheckpointError` naming the file.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from radarkit._version import __version__
from radarkit.atomic import atomic_output
from radarkit.errors import CheckpointError

__all__ = ["MAGIC", "FORMAT_VERSION", "Checkpoint", "save_checkpoint", "read_header",
           "load_checkpoint"]

MAGIC = b"RADARKIT-CKPT\n"
FORMAT_VERSION = 1
_MAX_HEADER = 1 << 20


@dataclass
class Checkpoint:
    """Contents of a checkpoint file.

    Attributes
    ----------
    path : pathlib.Path
        The file.
    model : str
        Model name recorded at save time.
    epoch : int
        Epochs completed.
    config : dict
        Configuration dictionary recorded at save time.
    metrics : dict
        Metrics recorded at save time.
    states : dict of str to dict
        State dictionaries (``"model"``, and ``"optimizer"``/``"scheduler"``/extras when saved).
    header : dict
        The whole JSON header.
    """

    path: Path
    model: str
    epoch: int
    config: dict
    metrics: dict
    states: dict[str, Any] = field(repr=False)
    header: dict = field(repr=False)


def _json_safe(obj: Any) -> Any:
    """Convert tuples, numpy scalars and paths so that ``json.dumps`` round-trips the values."""
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if hasattr(obj, "item") and callable(obj.item):  # numpy / torch scalars
        return obj.item()
    return obj


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    *,
    name: str,
    epoch: int = 0,
    config: dict | None = None,
    metrics: dict | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any | None = None,
    extra: dict[str, Any] | None = None,
    force: bool = True,
) -> Path:
    """Save a model (and optionally its optimiser and scheduler) as a checkpoint file.

    The file is written beside ``path`` and renamed into place (``radarkit.atomic``), so a crash
    or Ctrl-C never leaves a partial checkpoint; an existing checkpoint is replaced only when the
    new one is complete.

    Parameters
    ----------
    path : str or os.PathLike
        Output file (conventionally ``*.ckpt``).
    model : torch.nn.Module
        Model whose ``state_dict()`` is saved (tensors are moved to the CPU).
    name : str
        Model name stored in the header and checked on load (e.g. ``"hupr"``).
    epoch : int
        Epochs completed.
    config : dict, optional
        JSON-serialisable configuration (model hyper-parameters, training options).
    metrics : dict, optional
        JSON-serialisable metrics (losses, AP ...).
    optimizer : torch.optim.Optimizer, optional
        Saved for resuming.
    scheduler : object with ``state_dict()``, optional
        Learning-rate scheduler, saved for resuming.
    extra : dict of str to object, optional
        Further state (tensors, numbers, strings, containers of them), e.g. RNG states.
    force : bool
        Replace an existing file (default True: per-epoch checkpoints overwrite).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    CheckpointError
        ``config`` or ``metrics`` cannot be written as JSON.
    StoreError
        The folder does not exist or is not writable, or the file exists and ``force`` is False.
    """
    states: dict[str, Any] = {"model": {k: v.detach().cpu() for k, v in model.state_dict().items()}}
    if optimizer is not None:
        states["optimizer"] = optimizer.state_dict()
    if scheduler is not None:
        states["scheduler"] = scheduler.state_dict()
    for key, value in (extra or {}).items():
        if key in states:
            raise ValueError(f"extra state {key!r} clashes with a reserved name")
        states[key] = value
    buf = io.BytesIO()
    torch.save(states, buf)
    payload = buf.getvalue()
    header = {
        "format": FORMAT_VERSION,
        "model": name,
        "epoch": int(epoch),
        "config": _json_safe(config or {}),
        "metrics": _json_safe(metrics or {}),
        "payload_bytes": len(payload),
        "sha256": hashlib.sha256(payload).hexdigest(),
        "radarkit_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    try:
        header_line = json.dumps(header, allow_nan=True).encode("utf-8")
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"config/metrics are not JSON-serialisable: {err}", source=path) from None
    with atomic_output(path, force=force) as tmp, open(tmp, "wb") as fh:
        fh.write(MAGIC)
        fh.write(header_line + b"\n")
        fh.write(payload)
    return Path(path)


def _read(path: Path) -> tuple[dict, int]:
    """Header dictionary and payload offset; raises CheckpointError on anything unexpected."""
    try:
        with open(path, "rb") as fh:
            magic = fh.read(len(MAGIC))
            if magic != MAGIC:
                raise CheckpointError("not a radarkit checkpoint (bad magic bytes)", source=path)
            line = fh.readline(_MAX_HEADER)
    except FileNotFoundError:
        raise CheckpointError("checkpoint file not found", source=path) from None
    except IsADirectoryError:
        raise CheckpointError("is a directory, expected a checkpoint file", source=path) from None
    if not line.endswith(b"\n"):
        raise CheckpointError("corrupt checkpoint: header truncated or too long", source=path)
    try:
        header = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CheckpointError("corrupt checkpoint: header is not valid JSON", source=path) from None
    if not isinstance(header, dict) or not {"format", "sha256", "payload_bytes"} <= header.keys():
        raise CheckpointError("corrupt checkpoint: header lacks format/sha256/payload_bytes",
                              source=path)
    if header["format"] != FORMAT_VERSION:
        raise CheckpointError(f"checkpoint format {header['format']} is not supported by this "
                              f"radarkit (reads format {FORMAT_VERSION})", source=path)
    return header, len(MAGIC) + len(line)


def read_header(path: str | os.PathLike) -> dict:
    """The JSON header of a checkpoint (model name, epoch, config, metrics), without torch work.

    Parameters
    ----------
    path : str or os.PathLike
        Checkpoint file.

    Returns
    -------
    dict

    Raises
    ------
    CheckpointError
        Missing file, not a checkpoint, damaged header or unsupported format.
    """
    return _read(Path(path))[0]


def load_checkpoint(
    path: str | os.PathLike,
    model: nn.Module | None = None,
    *,
    name: str | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any | None = None,
    map_location: str | torch.device = "cpu",
    strict: bool = True,
) -> Checkpoint:
    """Read and verify a checkpoint; optionally restore a model, optimiser and scheduler.

    Parameters
    ----------
    path : str or os.PathLike
        Checkpoint file written by :func:`save_checkpoint`.
    model : torch.nn.Module, optional
        Receives the saved weights (``load_state_dict``).
    name : str, optional
        Expected model name; a different one raises.
    optimizer : torch.optim.Optimizer, optional
        Receives the saved optimiser state (the checkpoint must have one).
    scheduler : object with ``load_state_dict``, optional
        Receives the saved scheduler state (the checkpoint must have one).
    map_location : str or torch.device
        Where tensors are loaded (``load_state_dict`` then copies into the model's own device).
    strict : bool
        Require the saved and the model's parameter names and shapes to agree exactly.

    Returns
    -------
    Checkpoint

    Raises
    ------
    CheckpointError
        Missing or damaged file (magic, header, length or sha256 mismatch), a different model
        name, or weights/optimiser state that do not fit the given objects. The message names the
        file.
    """
    path = Path(path)
    header, offset = _read(path)
    with open(path, "rb") as fh:
        fh.seek(offset)
        payload = fh.read()
    if len(payload) != header["payload_bytes"]:
        raise CheckpointError(f"corrupt checkpoint: payload is {len(payload)} bytes, header says "
                              f"{header['payload_bytes']} (truncated or appended to)", source=path)
    if hashlib.sha256(payload).hexdigest() != header["sha256"]:
        raise CheckpointError("corrupt checkpoint: sha256 of the payload does not match the header",
                              source=path)
    saved_name = header.get("model", "")
    if name is not None and saved_name != name:
        raise CheckpointError(f"checkpoint is for model {saved_name!r}, expected {name!r}", source=path)
    try:
        states = torch.load(io.BytesIO(payload), map_location=map_location, weights_only=True)
    except Exception as err:  # the payload passed its checksum, so this is a writer/version problem
        raise CheckpointError(f"cannot unpickle checkpoint payload: {err}", source=path) from None
    if model is not None:
        try:
            result = model.load_state_dict(states["model"], strict=strict)
        except RuntimeError as err:
            first = str(err).strip().splitlines()
            detail = " ".join(s.strip() for s in first[1:4]) if len(first) > 1 else first[0]
            raise CheckpointError(f"weights do not fit the model ({saved_name}, config "
                                  f"{header.get('config')}): {detail}", source=path) from None
        del result
    for obj, key in ((optimizer, "optimizer"), (scheduler, "scheduler")):
        if obj is None:
            continue
        if key not in states:
            raise CheckpointError(f"checkpoint has no {key} state (cannot resume)", source=path)
        try:
            obj.load_state_dict(states[key])
        except (ValueError, KeyError, RuntimeError) as err:
            raise CheckpointError(f"{key} state does not fit: {err}", source=path) from None
    return Checkpoint(path=path, model=saved_name, epoch=int(header.get("epoch", 0)),
                      config=header.get("config", {}), metrics=header.get("metrics", {}),
                      states=states, header=header)
