"""Streaming recognition: audio arrives in chunks of any size and rate; partial text while an utterance goes on,
a final result (words with times from the start of the stream) when a pause ends it or the stream ends.

The models are bidirectional, so they cannot emit a word before they have heard what follows it. The open
utterance is therefore re-decoded from its start whenever :attr:`StreamConfig.partial_seconds` of new audio has
come, and once more when it ends; the final result is exactly what ``transcribe`` gives for that stretch of
audio. Utterances are found by :class:`asr.speech_detect.UtteranceCutter`, the same cutter that offline
transcription uses, so a file gives the same words streamed or not; memory and the cost of a re-decode stay
bounded however long the stream runs, and quiet audio between utterances is dropped.

Works with either recogniser (PyTorch or onnxruntime) and imports no PyTorch itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from asr.audio import check_sample_rate, to_float32
from asr.decode import Transcript, Word
from asr.errors import AsrError
from asr.speech_detect import SpeechConfig, UtteranceCutter


@dataclass
class StreamConfig(SpeechConfig):
    """How a stream is cut into utterances (:class:`~asr.speech_detect.SpeechConfig`) and how often partial
    text is computed."""

    partial_seconds: float = 0.3  # re-decode the open utterance after at most this much new audio

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.partial_seconds <= 0:
            raise AsrError("partial_seconds must be positive")


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


class UtteranceDecoder(Protocol):
    """What a stream needs of a recogniser (:class:`asr.inference.BaseRecognizer`, or the server's shared one):
    its rate, and the network and decoder for utterances already cut."""

    sample_rate: int

    def decode_waveforms(self, waveforms: list[np.ndarray]) -> list[Transcript]: ...


class StreamingRecognizer:
    """One audio stream through a recogniser. Feed chunks with :meth:`accept` (float samples in [-1, 1], or
    integer PCM of any width, scaled by :func:`asr.audio.to_float32`) or :meth:`accept_pcm16` (bytes), then call
    :meth:`finish`. The rate is checked by :func:`asr.audio.check_sample_rate`.

    >>> stream = StreamingRecognizer(asr.load_model(), sample_rate=16000)   # doctest: +SKIP
    >>> for chunk in chunks: print(stream.accept(chunk))                     # doctest: +SKIP
    >>> print(stream.finish())                                               # doctest: +SKIP
    """

    def __init__(self, recognizer: UtteranceDecoder, sample_rate: int, config: StreamConfig | None = None) -> None:
        self.input_rate = check_sample_rate(sample_rate)
        self.recognizer = recognizer
        self.config = config or StreamConfig()
        self.rate = recognizer.sample_rate
        self._resampler = None
        if self.input_rate != self.rate:
            import soxr

            self._resampler = soxr.ResampleStream(self.input_rate, self.rate, 1, dtype="float32")
        self._cutter = UtteranceCutter(self.rate, self.config)
        self._decoded_at = 0  # open utterance's length at its last partial decode
        self._partial = ""
        self.finished = False

    @property
    def seconds(self) -> float:
        """Audio received so far, in seconds."""
        return self._cutter.samples_seen / self.rate

    @property
    def buffered_samples(self) -> int:
        """Samples held in memory (the open utterance, the pre-roll and a part block): bounded by the config."""
        return self._cutter.buffered_samples

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
        ended = self._cutter.accept(self._to_model_rate(samples, last=False))
        if ended:
            self._decoded_at, self._partial = 0, ""
            return merge_finals([self._close(u) for u in ended])
        return StreamEvent(False, self._update_partial())

    def finish(self) -> StreamEvent:
        """End of stream: the final result of what remains (``text`` ``""`` if nothing was said)."""
        if self.finished:
            raise AsrError("this stream has finished already")
        ended = self._cutter.accept(self._to_model_rate(np.zeros(0, dtype=np.float32), last=True))
        ended += self._cutter.finish()
        self.finished = True
        return merge_finals([self._close(u) for u in ended]) if ended else StreamEvent(True, "")

    def _to_model_rate(self, samples: np.ndarray, last: bool) -> np.ndarray:
        samples = to_float32(samples)  # any dtype, as every other path converts it
        if samples.ndim != 1:
            raise AsrError(f"a stream takes mono audio, one sample per item; got an array of shape {samples.shape}")
        if self._resampler is not None:
            samples = self._resampler.resample_chunk(samples, last=last)
        return samples

    def _decode(self, audio: np.ndarray) -> Transcript:
        """One utterance, already cut: the network and decoder only (no second search for speech)."""
        return self.recognizer.decode_waveforms([audio])[0]

    def _close(self, utterance: tuple[np.ndarray, int]) -> StreamEvent:
        audio, start = utterance
        result = self._decode(audio)
        offset = start / self.rate
        words = [Word(w.word, w.start + offset, w.end + offset, w.confidence) for w in result.words]
        return StreamEvent(True, result.text, words)

    def _update_partial(self) -> str:
        if not self._cutter.is_open:
            self._decoded_at, self._partial = 0, ""
        elif self._cutter.open_samples - self._decoded_at >= self.config.partial_seconds * self.rate:
            self._partial = self._decode(self._cutter.open_audio()).text
            self._decoded_at = self._cutter.open_samples
        return self._partial
