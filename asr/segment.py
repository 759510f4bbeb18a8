"""Long recordings in bounded memory: read a file block by block and cut it at pauses.

Each block holds at most ``max_seconds`` of audio; the cut goes at the quietest stretch of the block's
second half (10 ms frame energy averaged over ``pause_seconds``), and whatever follows the cut is carried
into the next block, so no audio is lost or read twice.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import soundfile as sf

from asr.audio import audio_info, prepare_samples
from asr.errors import AsrError


def quietest_cut(samples: np.ndarray, rate: int, pause_seconds: float) -> int:
    """Sample index in the second half of ``samples`` at the centre of its quietest ``pause_seconds``."""
    frame = max(1, rate // 100)
    half = len(samples) // 2
    tail = samples[half : half + (len(samples) - half) // frame * frame]
    energy = (tail.reshape(-1, frame) ** 2).mean(axis=1)
    width = max(1, int(pause_seconds * 100))
    if len(energy) <= width:
        return len(samples)
    smooth = np.convolve(energy, np.ones(width) / width, mode="valid")
    best = int(np.argmin(smooth))
    return half + (best + width // 2) * frame


def iter_segments(
    path: str | os.PathLike[str], sample_rate: int, max_seconds: float = 30.0, pause_seconds: float = 0.2
) -> Iterator[tuple[float, np.ndarray]]:
    """Yield ``(start_seconds, waveform (samples,))`` pieces of a file at ``sample_rate``, cut at pauses."""
    info = audio_info(path)
    rate = info.sample_rate
    block = max(int(rate * max_seconds), rate)
    carry = np.zeros(0, dtype=np.float32)
    start = 0  # first sample of ``carry`` in the file, at the file's rate
    try:
        handle = sf.SoundFile(os.fspath(path))
    except Exception as error:
        raise AsrError(f"not a readable audio file ({error})", path) from None
    with handle:
        while True:
            try:
                data = handle.read(block - len(carry), dtype="float32", always_2d=True).mean(axis=1)
            except Exception as error:
                raise AsrError(f"audio data could not be decoded ({error})", path) from None
            buffer = np.concatenate([carry, data])
            if len(buffer) == 0:
                if start == 0:
                    raise AsrError("audio is empty (zero samples)", path)
                return
            if len(buffer) < block:  # end of file
                yield start / rate, prepare_samples(buffer, rate, sample_rate, source=path)
                return
            cut = quietest_cut(buffer, rate, pause_seconds)
            yield start / rate, prepare_samples(buffer[:cut], rate, sample_rate, source=path)
            carry, start = buffer[cut:], start + cut
