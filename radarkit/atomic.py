"""Atomic output files: write beside the target, rename on success, leave nothing on failure.

Every radarkit writer goes through :func:`atomic_output`, so an exception or Ctrl-C (which Python
raises as ``KeyboardInterrupt``) during a write leaves the filesystem exactly as it was: the
temporary file is removed and the target, if it existed, is untouched.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from radarkit.errors import StoreError

__all__ = ["atomic_output", "check_output_path", "sha256_file"]


def check_output_path(path: str | os.PathLike, force: bool = False,
                      inputs: Iterable[str | os.PathLike] = ()) -> Path:
    """Check that ``path`` may be written, before any work starts.

    Parameters
    ----------
    path : str or os.PathLike
        The output file.
    force : bool
        Allow replacing an existing file.
    inputs : iterable of paths
        Input files of the run: the output may never be one of them, even with ``force``.

    Returns
    -------
    pathlib.Path
        ``path`` as a :class:`~pathlib.Path`.

    Raises
    ------
    StoreError
        If the file exists and ``force`` is false, if it is one of ``inputs``, if it is a
        directory, or if its folder does not exist or is not writable.
    """
    path = Path(path)
    if path.is_dir():
        raise StoreError("is a directory, expected an output file name", source=path)
    for src in inputs:
        if path.exists() and Path(src).exists() and os.path.samefile(path, src):
            raise StoreError("output is one of the input files; choose another --out", source=path)
    if path.exists() and not force:
        raise StoreError("output exists; pass --force (force=True) to replace it", source=path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise StoreError(f"output folder {str(folder)!r} does not exist", source=path)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StoreError(f"output folder {str(folder)!r} is not writable", source=path)
    return path


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, force: bool = False) -> Iterator[Path]:
    """Context manager yielding a temporary path to write instead of ``path``.

    On normal exit the temporary file is renamed to ``path`` (atomic on POSIX, same folder); on
    any exception, ``KeyboardInterrupt`` included, it is deleted and the exception propagates.

    Parameters
    ----------
    path : str or os.PathLike
        Final output file.
    force : bool
        Replace ``path`` if it exists.

    Yields
    ------
    pathlib.Path
        Temporary file in the same folder (not yet created).

    Raises
    ------
    StoreError
        As :func:`check_output_path`.
    """
    path = check_output_path(path, force)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual permissions
    try:
        yield tmp
        if path.exists() and not force:  # appeared while we worked
            raise StoreError("output appeared while writing; not replaced (use --force)", source=path)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def sha256_file(path: str | os.PathLike, block: int = 1 << 22) -> str:
    """SHA-256 hex digest of a file, read in ``block``-byte pieces (bounded memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(block):
            digest.update(chunk)
    return digest.hexdigest()
