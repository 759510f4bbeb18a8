"""The benchmarks' shared test material: connected-digit strings joined from FSDD recordings."""

from __future__ import annotations

from pathlib import Path

from asr.manifest import Utterance
from data_prep.connected import ConnectedConfig, make_connected
from data_prep.fsdd import prepare_fsdd


def connected_digit_strings(data_dir: str, count: int, work: Path) -> list[Utterance]:
    """``count`` strings of 3-7 digits at 8 kHz under ``work``; the same strings for the same count (seed 2024)."""
    recordings = [u for split in prepare_fsdd(data_dir, work / "data").splits.values() for u in split]
    return make_connected(recordings, count, work / "connected", 8000, ConnectedConfig(3, 7), seed=2024)
