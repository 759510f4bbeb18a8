"""Long recordings in bounded memory: a file read block by block, mixed to mono and resampled as one stream.

The blocks are consecutive, so every sample is read once and resampling (libsoxr's streaming resampler) has
no seams; where the file is cut into utterances is :mod:`asr.speech_detect`'s business, not this module's.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import soundfile as sf

from asr.audio import audio_info, check_sample_rate
from asr.errors import AsrError


def iter_blocks(
    path: str | os.PathLike[str], sample_rate: int, block_seconds: float = 30.0
) -> Iterator[np.ndarray]:
    """Yield consecutive ``(samples,)`` mono float32 blocks of a file at ``sample_rate``, each about
    ``block_seconds`` long (the last one shorter)."""
    rate = check_sample_rate(audio_info(path).sample_rate, path)
    block = max(int(rate * block_seconds), rate)
    resampler = None
    if rate != sample_rate:
        import soxr

        resampler = soxr.ResampleStream(rate, sample_rate, 1, dtype="float32", quality="HQ")
    try:
        handle = sf.SoundFile(os.fspath(path))
    except Exception as error:
        raise AsrError(f"not a readable audio file ({error})", path) from None
    read = 0
    with handle:
        while True:
            try:
                data = handle.read(block, dtype="float32", always_2d=True).mean(axis=1)
            except Exception as error:
                raise AsrError(f"audio data could not be decoded ({error})", path) from None
            last = len(data) < block
            if read == 0 and len(data) == 0:
                raise AsrError("audio is empty (zero samples)", path)
            if not np.isfinite(data).all():
                raise AsrError("audio contains NaN or infinite samples", path)
            read += len(data)
            out = resampler.resample_chunk(data, last=last) if resampler is not None else data
            if len(out):
                yield np.ascontiguousarray(out, dtype=np.float32)
            if last:
                return
