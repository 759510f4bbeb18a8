"""Writing files atomically: the one way this toolkit replaces a file (models, training state, manifests, LMs,
settings), so that a crash or a failing writer at any moment leaves the old file or the new one, never half of one.

The data goes to a temporary file in the target's folder, with a unique name (``.NAME.XXXXXXXX.tmp``, so two
writers never share one, and :func:`remove_stale_temporaries` knows what a killed writer left), is flushed and
fsynced, and is then renamed over the target (``os.replace``, atomic on POSIX and Windows). On any failure the
temporary file is removed and the target is untouched. Imports no PyTorch.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, BinaryIO

#: Temporary files are named ``.{target name}.{random}`` with this suffix.
TEMP_SUFFIX = ".tmp"


def _read_umask() -> int:
    mask = os.umask(0)  # the only portable way to read it is to set it, once, at import
    os.umask(mask)
    return mask


_UMASK = _read_umask()


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """A handle on a temporary file beside ``path`` that replaces ``path`` when the ``with`` block ends without
    an exception (else it is deleted, and ``path`` is left as it was). ``mode`` is ``"w"`` (text, in
    ``encoding``) or ``"wb"``. The folder is made if missing; the file gets the usual permissions (umask)."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes a new file: mode 'w' or 'wb', not {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(mode, encoding=None if mode == "wb" else encoding, dir=path.parent,
                                         prefix=f".{path.name}.", suffix=TEMP_SUFFIX, delete=False)
    try:
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(handle.name, 0o666 & ~_UMASK)  # NamedTemporaryFile makes 0600; these are ordinary files
        os.replace(handle.name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(handle.name)
        raise
    _sync_folder(path.parent)


def atomic_write(path: str | os.PathLike[str], write: Callable[[BinaryIO], object]) -> Path:
    """Replace ``path`` atomically with what ``write(handle)`` writes to a binary handle. Returns the path."""
    with atomic_open(path, "wb") as handle:
        write(handle)
    return Path(path)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Replace ``path`` atomically with ``data``."""
    return atomic_write(path, lambda handle: handle.write(data))


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    """Replace ``path`` atomically with ``text``."""
    with atomic_open(path, "w", encoding=encoding) as handle:
        handle.write(text)
    return Path(path)


def remove_stale_temporaries(folder: str | os.PathLike[str]) -> list[Path]:
    """Delete the temporary files that a writer killed mid-write (SIGKILL, power loss) left in ``folder``.

    Only files named like :func:`atomic_open`'s temporaries (``.*.tmp``) are touched. Call it before a run
    writes into ``folder`` again, never while another process may be writing there. Returns what was removed.
    """
    removed = []
    for leftover in Path(folder).glob(f".*{TEMP_SUFFIX}"):
        if leftover.is_file():
            leftover.unlink(missing_ok=True)
            removed.append(leftover)
    return removed


def _sync_folder(folder: Path) -> None:
    """fsync the folder, so the rename itself survives a power loss (where the platform allows it)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
