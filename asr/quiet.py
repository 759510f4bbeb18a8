"""Silence what C and C++ libraries print straight to the process's stderr, for a ``with`` block.

KenLM prints a note on every ARPA load and PyTorch's ONNX exporter three shape-inference warnings on every
export: noise a user can do nothing about. Python exceptions still propagate; only file descriptor 2 is muted.
"""

from __future__ import annotations

import os
import sys


class quiet_stderr:  # noqa: N801 (used like a function: ``with quiet_stderr():``)
    """Point file descriptor 2 at /dev/null inside the block, and back afterwards."""

    def __enter__(self) -> None:
        sys.stderr.flush()
        self._saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)

    def __exit__(self, *_: object) -> None:
        sys.stderr.flush()
        os.dup2(self._saved, 2)
        os.close(self._saved)
