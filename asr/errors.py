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
