"""Exception hierarchy of radarkit.

Every error radarkit raises on purpose derives from :class:`RadarkitError`, so that callers (and the
``radarkit`` command, which turns them into one-line messages) can tell a bad input apart from a
bug. Each error carries the file it concerns (``source``) where one is known, and its message says
what is wrong and, where possible, how to fix it.
"""

from __future__ import annotations

import os

__all__ = [
    "RadarkitError",
    "ConfigError",
    "RecordingError",
    "StoreError",
    "CheckpointError",
    "RecordingWarning",
]


class RadarkitError(Exception):
    """Base class of every error radarkit raises on bad input.

    Parameters
    ----------
    message : str
        What is wrong, in one line.
    source : str or os.PathLike, optional
        The file the error concerns; prefixed to the message as ``"<file>: "``.
    """

    def __init__(self, message: str, source: str | os.PathLike | None = None) -> None:
        self.message = message
        self.source = None if source is None else os.fspath(source)
        super().__init__(self._format())

    def _format(self) -> str:
        return f"{self.source}: {self.message}" if self.source else self.message

    def with_source(self, source: str | os.PathLike) -> RadarkitError:
        """Return a copy of this error that names ``source`` (kept if one is already set)."""
        if self.source is not None:
            return self
        new = self.__class__.__new__(self.__class__)
        new.__dict__.update(self.__dict__)
        new.source = os.fspath(source)
        Exception.__init__(new, new._format())
        return new


class ConfigError(RadarkitError):
    """A radar configuration is unreadable, inconsistent or out of range.

    Parameters
    ----------
    message : str
        What is wrong.
    field : str, optional
        The configuration field (``RadarConfig`` attribute or file command) at fault.
    source : str or os.PathLike, optional
        The configuration file.
    """

    def __init__(
        self,
        message: str,
        field: str | None = None,
        source: str | os.PathLike | None = None,
    ) -> None:
        self.field = field
        super().__init__(message, source)

    def _format(self) -> str:
        body = f"{self.field}: {self.message}" if self.field else self.message
        return f"{self.source}: {body}" if self.source else body


class RecordingError(RadarkitError):
    """A raw recording (DCA1000 file, packet capture) cannot be read as the configuration says."""


class StoreError(RadarkitError):
    """An HDF5 store cannot be written or read (exists, unwritable folder, wrong layout)."""


class CheckpointError(RadarkitError):
    """A model checkpoint is missing, corrupt or does not match the model."""


class RecordingWarning(UserWarning):
    """A recording was readable but not clean (trailing partial frame, lost packets, guessed IQ
    order); the message says what was skipped or assumed."""
