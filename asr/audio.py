"""Reading audio through soundfile (asr.segment also opens files with it, to read long ones block by block).

Every reader returns mono float32 samples in [-1, 1] at the requested sample rate:
multi-channel audio is mixed down by averaging the channels, integer PCM is scaled by soundfile,
and any other sample rate is resampled with libsoxr's band-limited resampler (the ``soxr`` package).

Reading and resampling need no PyTorch (:func:`read_audio` returns NumPy), which keeps the start-up of ONNX
inference short; PyTorch is imported only to hand out tensors.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import soundfile as sf

from asr.errors import AsrError

if TYPE_CHECKING:
    import torch

#: Refuse to load more than this many samples (all channels) at once: 2**27 float32 samples are 512 MiB,
#: 70 minutes of 32 kHz mono. Longer recordings are transcribed in pieces (asr.segment).
MAX_SAMPLES = 2**27
#: Sample rates accepted from files, callers, streams and the server (:func:`check_sample_rate`): every path.
MIN_RATE, MAX_RATE = 1000, 768_000
#: Raw samples given as ``(channels, samples)`` are recognised by a first axis of at most this many channels
#: (and a second axis longer than it); anything else two-dimensional is ``(samples, channels)``.
MAX_CHANNELS_FIRST = 8
#: Frames read per block: memory follows the data actually in the file, never a header's claim.
_BLOCK_FRAMES = 1 << 20


@dataclass(frozen=True)
class AudioInfo:
    """What a file's header says, read without decoding the samples."""

    sample_rate: int
    channels: int
    frames: int

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate


def open_audio(path: str | os.PathLike[str]) -> sf.SoundFile:
    """An audio file (WAV, FLAC, OGG, SPHERE, ...) opened for reading, its header checked: one open parses the
    header and reads the samples (each open parses it again)."""
    _check_exists(path)
    if os.path.getsize(path) == 0:
        raise AsrError("audio file is empty (0 bytes)", path)
    try:
        handle = sf.SoundFile(os.fspath(path))
    except Exception as error:  # soundfile raises several types for unreadable files
        raise AsrError(f"not a readable audio file ({_short(error)})", path) from None
    if handle.samplerate <= 0 or handle.channels <= 0:
        handle.close()
        raise AsrError("audio header declares no channels or a zero sample rate", path)
    return handle


def audio_info(path: str | os.PathLike[str]) -> AudioInfo:
    """Read the header of an audio file (WAV, FLAC, OGG, SPHERE, ...) without decoding it."""
    with open_audio(path) as handle:
        return AudioInfo(sample_rate=int(handle.samplerate), channels=int(handle.channels),
                         frames=int(handle.frames))


def load_audio(path: str | os.PathLike[str], sample_rate: int) -> torch.Tensor:
    """:func:`read_audio` as a tensor of shape ``(samples,)``."""
    import torch

    return torch.from_numpy(read_audio(path, sample_rate))


def read_audio(path: str | os.PathLike[str], sample_rate: int) -> np.ndarray:
    """Read an audio file as mono float32 samples at ``sample_rate``.

    Returns:
        Array of shape ``(samples,)``.

    Raises:
        AsrError: the file is missing, not audio, empty, too long, or holds NaN/infinite samples.
    """
    blocks, total = [], 0
    with open_audio(path) as handle:
        if handle.channels > 64:
            raise AsrError(f"declares {handle.channels} channels; at most 64 are supported", path)
        rate = int(handle.samplerate)
        try:
            while True:
                block = handle.read(_BLOCK_FRAMES, dtype="float32", always_2d=True)
                if len(block) == 0:
                    break
                total += block.size
                if total > MAX_SAMPLES:
                    raise AsrError(f"holds more than {MAX_SAMPLES} samples, too long to load at once "
                                   "(transcribe long files with Recognizer.transcribe_long)", path)
                blocks.append(block.mean(axis=1) if block.shape[1] > 1 else block[:, 0])
        except AsrError:
            raise
        except Exception as error:
            raise AsrError(f"audio data could not be decoded ({_short(error)})", path) from None
    data = np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)
    return prepare_samples(data, rate, sample_rate, source=path)


def prepare_waveform(
    samples: np.ndarray | torch.Tensor,
    input_rate: int,
    sample_rate: int,
    source: str | os.PathLike[str] | None = None,
) -> torch.Tensor:
    """:func:`prepare_samples` as a tensor of shape ``(samples,)``."""
    import torch

    return torch.from_numpy(prepare_samples(samples, input_rate, sample_rate, source))


def prepare_samples(
    samples: np.ndarray | torch.Tensor,
    input_rate: int,
    sample_rate: int,
    source: str | os.PathLike[str] | None = None,
) -> np.ndarray:
    """Turn raw samples into mono float32 at ``sample_rate``.

    Args:
        samples: ``(samples,)``, ``(samples, channels)`` (soundfile's layout) or ``(channels, samples)``
            (PyTorch's and librosa's): a 2-D array whose first axis has at most :data:`MAX_CHANNELS_FIRST`
            entries and whose second is longer is taken as channels first. Channels are averaged to mono.
            Integer arrays are scaled to [-1, 1].
        input_rate: sample rate of ``samples`` in Hz.
        sample_rate: wanted sample rate in Hz.
        source: named in error messages.

    Returns:
        Array of shape ``(samples,)``.
    """
    input_rate = check_sample_rate(input_rate, source)
    array = to_float32(samples, source)
    if array.ndim == 2:
        rows, columns = array.shape
        channels_first = rows <= MAX_CHANNELS_FIRST and columns > rows
        if not channels_first and columns > rows:  # (samples, channels) with more channels than samples
            raise AsrError(f"audio of shape {array.shape}: more than {MAX_CHANNELS_FIRST} rows is read as (samples, "
                           "channels), which would give more channels than samples; give (samples, channels), or "
                           f"(channels, samples) with at most {MAX_CHANNELS_FIRST} channels", source)
        array = array.mean(axis=0 if channels_first else 1)  # mix channels down to mono
    elif array.ndim != 1:
        raise AsrError(f"audio must be (samples,), (samples, channels) or (channels, samples), got shape "
                       f"{array.shape}", source)
    if array.size == 0:
        raise AsrError("audio is empty (zero samples)", source)
    array = np.ascontiguousarray(array, dtype=np.float32)
    return resample_samples(array, input_rate, sample_rate)


def check_sample_rate(rate: object, source: str | os.PathLike[str] | None = None) -> int:
    """``rate`` as an ``int`` if it is a whole number of Hz from :data:`MIN_RATE` to :data:`MAX_RATE`; else the
    one error every path gives (files, arrays, streams, the server's ``/stream``)."""
    whole = isinstance(rate, int | np.integer) and not isinstance(rate, bool)
    if not whole or not MIN_RATE <= rate <= MAX_RATE:  # type: ignore[operator]
        shown = int(rate) if whole else repr(rate)  # type: ignore[call-overload]
        raise AsrError(f"sample rate must be a whole number of Hz from {MIN_RATE} to {MAX_RATE}, got {shown}",
                       source)
    return int(rate)  # type: ignore[call-overload]


def to_float32(samples: np.ndarray | torch.Tensor, source: str | os.PathLike[str] | None = None) -> np.ndarray:
    """Samples of any numeric dtype (array, tensor or sequence), any shape -> float32, full scale [-1, 1]: the one
    sample conversion of every path (files, arrays, streams).

    Integer PCM is scaled as soundfile reads it from files: signed types by ``2**(bits-1)`` (int16 32767 ->
    0.99997, int32 2**30 -> 0.5), unsigned ones about their midpoint (uint8 128 -> 0.0, 0 -> -1.0). Floats are
    taken as they are (1.0 is full scale). NaN or infinite samples (a float64 beyond float32's range included)
    are refused."""
    array = samples.detach().cpu().numpy() if hasattr(samples, "detach") else np.asarray(samples)
    if array.dtype.kind in "iu":
        info = np.iinfo(array.dtype)
        array = (array.astype(np.float64) - (info.max + info.min + 1) / 2) / ((info.max - info.min + 1) / 2)
    elif array.dtype.kind != "f":
        raise AsrError(f"audio samples must be numbers, got dtype {array.dtype}", source)
    with np.errstate(over="ignore"):
        array = array.astype(np.float32, copy=False)
    if not np.isfinite(array).all():
        raise AsrError("audio contains NaN or infinite samples", source)
    return array


def resample_samples(samples: np.ndarray, input_rate: int, output_rate: int) -> np.ndarray:
    """Band-limited resampling (libsoxr, high quality) ``(samples,)`` float32 -> ``(round(samples * output_rate
    / input_rate),)``, at least one sample for non-empty input. Any pair of rates is exact, in memory
    proportional to the audio."""
    if input_rate == output_rate:
        return samples
    import soxr

    resampled = soxr.resample(samples, input_rate, output_rate, quality="HQ").astype(np.float32, copy=False)
    if resampled.size == 0 and samples.size > 0:
        # less than one output sample's worth (1 sample at 32001 Hz -> 16 kHz): keep its mean, so that
        # non-empty audio never becomes empty audio downstream
        return np.array([samples.mean()], dtype=np.float32)
    return resampled


def resample(waveform: torch.Tensor, input_rate: int, output_rate: int) -> torch.Tensor:
    """:func:`resample_samples` on a tensor ``(samples,)``."""
    if input_rate == output_rate:
        return waveform
    import torch

    array = np.ascontiguousarray(waveform.detach().cpu().numpy(), dtype=np.float32)
    return torch.from_numpy(resample_samples(array, input_rate, output_rate))


def write_audio(path: str | os.PathLike[str], waveform: torch.Tensor | np.ndarray, sample_rate: int) -> None:
    """Write mono float samples ``(samples,)`` as 16-bit PCM WAV (or the format the extension names)."""
    array = waveform.detach().cpu().numpy() if hasattr(waveform, "detach") else np.asarray(waveform)
    sf.write(os.fspath(path), np.clip(array, -1.0, 1.0), sample_rate, subtype="PCM_16")


def _check_exists(path: str | os.PathLike[str]) -> None:
    if not os.path.exists(path):
        raise AsrError("file not found", path)
    if os.path.isdir(path):
        raise AsrError("is a directory, not an audio file", path)


def _short(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[-1] if text else type(error).__name__
