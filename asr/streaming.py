"""Streaming recognition: audio arrives in chunks of any size and rate; partial text while an utterance goes on,
a final result (words with times from the start of the stream) when a pause ends it or the stream ends.

The models are bidirectional, so they cannot emit a word before they have heard what follows it. The open
utterance is therefore re-decoded from its start whenever :attr:`StreamConfig.partial_seconds` of new audio has
come, and once more when it ends; the final result is exactly what ``transcribe`` gives for that stretch of
audio. An utterance opens on the first loud frame (with :attr:`~StreamConfig.pre_roll_seconds` of the audio
before it), ends after :attr:`~StreamConfig.end_silence_seconds` of quiet frames, and is cut at
:attr:`~StreamConfig.max_utterance_seconds`, so memory and the cost of a re-decode stay bounded however long the
stream runs. Quiet audio between utterances is dropped. "Loud" follows the level of the stream's own quiet
frames (an adaptive noise floor), so a noisy line does not hold an utterance open.

Works with either recogniser (PyTorch or onnxruntime) and imports no PyTorch itself.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from asr.decode import Transcript, Word
from asr.errors import AsrError
from asr.inference import BaseRecognizer

#: Level analysis step: 10 ms blocks.
BLOCK_SECONDS = 0.010


@dataclass
class StreamConfig:
    """How a stream is cut into utterances and how often partial text is computed."""

    partial_seconds: float = 0.3  # re-decode the open utterance after at most this much new audio
    end_silence_seconds: float = 0.5  # quiet this long ends an utterance
    max_utterance_seconds: float = 15.0  # an utterance is cut here (bounded memory and decoding time)
    pre_roll_seconds: float = 0.3  # audio kept from before the first loud frame (soft word onsets)
    tail_seconds: float = 0.2  # audio decoded after the last loud frame (the rest of the pause is not: long
    # stretches of digital silence at the end throw the models trained on trimmed recordings)
    speech_margin_db: float = 12.0  # a block is loud this far above the noise floor ...
    min_speech_dbfs: float = -50.0  # ... and above this level (dB re full scale)

    def __post_init__(self) -> None:
        if min(self.partial_seconds, self.end_silence_seconds, self.max_utterance_seconds) <= 0:
            raise AsrError("partial_seconds, end_silence_seconds and max_utterance_seconds must be positive")
        if self.pre_roll_seconds < 0:
            raise AsrError("pre_roll_seconds cannot be negative")


@dataclass
class StreamEvent:
    """What a chunk of audio produced: a partial (the open utterance so far) or a final result."""

    final: bool
    text: str
    words: list[Word] = field(default_factory=list)

    def to_vosk(self) -> dict[str, Any]:
        """The Vosk server's JSON: ``{"partial": ...}`` or ``{"text": ..., "result": [{word, start, end, conf}]}``."""
        if not self.final:
            return {"partial": self.text}
        return {"text": self.text, "result": [{"word": w.word, "start": round(w.start, 3), "end": round(w.end, 3),
                                               "conf": round(w.confidence, 4)} for w in self.words]}


def merge_finals(events: list[StreamEvent]) -> StreamEvent:
    """Several final results as one (a long chunk may end more than one utterance)."""
    words = [w for e in events for w in e.words]
    return StreamEvent(True, " ".join(e.text for e in events if e.text), words)


class NoiseFloor:
    """Loud or quiet, per 10 ms block, against a floor that follows the stream's quiet blocks: it drops at once
    to a quieter block and rises slowly (1 dB a second), so speech never pulls it up within an utterance."""

    RISE_DB_PER_BLOCK = 0.01

    def __init__(self, config: StreamConfig) -> None:
        self.config = config
        self.floor: float | None = None

    def is_loud(self, level_db: float) -> bool:
        self.floor = level_db if self.floor is None else min(level_db, self.floor + self.RISE_DB_PER_BLOCK)
        return level_db > max(self.config.min_speech_dbfs, self.floor + self.config.speech_margin_db)


class StreamingRecognizer:
    """One audio stream through a recogniser. Feed chunks with :meth:`accept` (float samples in [-1, 1], or
    int16) or :meth:`accept_pcm16` (bytes), then call :meth:`finish`.

    >>> stream = StreamingRecognizer(asr.load_model(), sample_rate=16000)   # doctest: +SKIP
    >>> for chunk in chunks: print(stream.accept(chunk))                     # doctest: +SKIP
    >>> print(stream.finish())                                               # doctest: +SKIP
    """

    def __init__(self, recognizer: BaseRecognizer, sample_rate: int, config: StreamConfig | None = None) -> None:
        if not 1000 <= sample_rate <= 384000:
            raise AsrError(f"sample rate {sample_rate} Hz is not a rate audio is recorded at (1000-384000)")
        self.recognizer = recognizer
        self.config = config or StreamConfig()
        self.input_rate = int(sample_rate)
        self.rate = recognizer.sample_rate
        self._resampler = None
        if self.input_rate != self.rate:
            import soxr

            self._resampler = soxr.ResampleStream(self.input_rate, self.rate, 1, dtype="float32")
        self.block = max(1, round(BLOCK_SECONDS * self.rate))
        self._pending = np.zeros(0, dtype=np.float32)  # samples short of a whole block
        self._pre_roll: deque[np.ndarray] = deque(maxlen=max(1, round(self.config.pre_roll_seconds / BLOCK_SECONDS)))
        self._utterance: list[np.ndarray] = []  # blocks of the open utterance
        self._utterance_start = 0  # its first sample, counted from the start of the stream
        self._quiet_blocks = 0  # since the last loud block of the open utterance
        self._since_decode = 0  # samples added since the last partial decode
        self._samples_seen = 0  # at the model's rate, whole blocks only
        self._partial = ""
        self._floor = NoiseFloor(self.config)
        self.finished = False

    @property
    def seconds(self) -> float:
        """Audio received so far, in seconds."""
        return self._samples_seen / self.rate

    @property
    def buffered_samples(self) -> int:
        """Samples held in memory (the open utterance, the pre-roll and a part block): bounded by the config."""
        return sum(len(b) for b in self._utterance) + sum(len(b) for b in self._pre_roll) + len(self._pending)

    def accept_pcm16(self, data: bytes) -> StreamEvent:
        """Raw 16-bit little-endian mono PCM (the Vosk protocol's audio messages)."""
        if len(data) % 2:
            raise AsrError(f"16-bit PCM comes in whole samples of 2 bytes; got {len(data)} bytes")
        return self.accept(np.frombuffer(data, dtype="<i2"))

    def accept(self, samples: np.ndarray) -> StreamEvent:
        """A chunk of mono audio at the stream's rate -> a final result if an utterance ended in it (several
        merged into one), else the open utterance's partial text (``""`` between utterances)."""
        if self.finished:
            raise AsrError("this stream has finished; start a new one")
        finals = [self._close(e) for e in self._blocks(self._to_model_rate(samples, last=False))]
        if finals:
            return merge_finals(finals)
        return StreamEvent(False, self._update_partial())

    def finish(self) -> StreamEvent:
        """End of stream: the final result of what remains (``text`` ``""`` if nothing was said)."""
        if self.finished:
            raise AsrError("this stream has finished already")
        tail = self._to_model_rate(np.zeros(0, dtype=np.float32), last=True)
        finals = [self._close(e) for e in self._blocks(tail)]
        if len(self._pending):  # the last part block belongs to the utterance, if one is open
            if self._utterance:
                self._utterance.append(self._pending)
            self._pending = np.zeros(0, dtype=np.float32)
        if self._utterance:
            finals.append(self._close(self._take_utterance()))
        self.finished = True
        return merge_finals(finals) if finals else StreamEvent(True, "")

    def _to_model_rate(self, samples: np.ndarray, last: bool) -> np.ndarray:
        samples = np.asarray(samples)
        if samples.ndim != 1:
            raise AsrError(f"a stream takes mono audio, one sample per item; got an array of shape {samples.shape}")
        if samples.dtype == np.int16:
            samples = samples.astype(np.float32) / 32768.0
        elif samples.dtype.kind not in "fiu":
            raise AsrError(f"audio samples must be numbers, got {samples.dtype}")
        samples = samples.astype(np.float32, copy=False)
        if not np.isfinite(samples).all():
            raise AsrError("the audio has NaN or infinite samples")
        if self._resampler is not None:
            samples = self._resampler.resample_chunk(samples, last=last)
        return samples

    def _blocks(self, samples: np.ndarray) -> list[tuple[np.ndarray, int]]:
        """Run whole 10 ms blocks through the endpointer; returns the utterances that ended, with their start."""
        if len(self._pending):
            samples = np.concatenate([self._pending, samples])
        whole = len(samples) - len(samples) % self.block
        self._pending = samples[whole:].copy()
        ended = []
        for start in range(0, whole, self.block):
            block = samples[start : start + self.block]
            loud = self._floor.is_loud(10.0 * np.log10(float(np.mean(block.astype(np.float64) ** 2)) + 1e-12))
            self._samples_seen += len(block)
            if not self._utterance:
                if loud:  # an utterance opens, with the pre-roll before it
                    self._utterance = [*self._pre_roll, block.copy()]
                    self._utterance_start = self._samples_seen - sum(len(b) for b in self._utterance)
                    self._pre_roll.clear()
                    self._quiet_blocks = 0
                    self._since_decode = len(block)
                else:
                    self._pre_roll.append(block.copy())
                continue
            self._utterance.append(block.copy())
            self._since_decode += len(block)
            self._quiet_blocks = 0 if loud else self._quiet_blocks + 1
            length = sum(len(b) for b in self._utterance)
            if (self._quiet_blocks * BLOCK_SECONDS >= self.config.end_silence_seconds
                    or length >= self.config.max_utterance_seconds * self.rate):
                ended.append(self._take_utterance())
        return ended

    def _take_utterance(self) -> tuple[np.ndarray, int]:
        audio, start = self._utterance_audio(), self._utterance_start
        self._utterance, self._quiet_blocks, self._since_decode, self._partial = [], 0, 0, ""
        return audio, start

    def _utterance_audio(self) -> np.ndarray:
        """The open utterance up to :attr:`~StreamConfig.tail_seconds` after its last loud block."""
        tail_blocks = round(self.config.tail_seconds / BLOCK_SECONDS)
        drop = max(0, self._quiet_blocks - tail_blocks)
        return np.concatenate(self._utterance[: len(self._utterance) - drop] or self._utterance[:1])

    def _decode(self, audio: np.ndarray) -> Transcript:
        return self.recognizer.transcribe_waveforms([audio])[0]

    def _close(self, utterance: tuple[np.ndarray, int]) -> StreamEvent:
        audio, start = utterance
        result = self._decode(audio)
        offset = start / self.rate
        words = [Word(w.word, w.start + offset, w.end + offset, w.confidence) for w in result.words]
        return StreamEvent(True, result.text, words)

    def _update_partial(self) -> str:
        if self._utterance and self._since_decode >= self.config.partial_seconds * self.rate:
            self._partial = self._decode(self._utterance_audio()).text
            self._since_decode = 0
        return self._partial
