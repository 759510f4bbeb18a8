"""The one exception type users see from this toolkit."""

from __future__ import annotations

import os


class AsrError(Exception):
    """A user-facing error: bad input, a malformed file or an impossible setting.

    The message names the file (when there is one) and the reason, so the command line can print it
    on one line without a traceback.
    """

    def __init__(self, reason: str, path: str | os.PathLike[str] | None = None) -> None:
        self.reason = reason
        self.path = None if path is None else os.fspath(path)
        super().__init__(f"{self.path}: {reason}" if self.path else reason)


def require_training_packages(what: str) -> None:
    """Exit with one line (status 2) where the ``[train]`` extra is not installed: for scripts, such as the
    recipes, that import PyTorch before any of their own code could catch the ImportError."""
    import importlib.util
    import sys

    def installed(name: str) -> bool:
        try:
            return importlib.util.find_spec(name) is not None
        except ImportError:
            return False

    missing = [name for name in ("torch", "torchaudio") if not installed(name)]
    if missing:
        print(f"error: {what} needs {' and '.join(missing)}, which the runtime install leaves out: "
              'pip install -e ".[train]"', file=sys.stderr)
        raise SystemExit(2)
