"""The Vosk WebSocket protocol over :mod:`asr.streaming`, without the web framework (the server wires it to
``/stream``; tests drive it directly too).

A client sends an optional first text message ``{"config": {"sample_rate": 16000}}``, which gets no answer
(as from Vosk's own server: its clients read one reply per audio message and one for ``eof``, so a reply to the
config would leave them a reply behind), then binary messages of 16-bit little-endian mono PCM, then
``{"eof": 1}``. Every audio message is answered with one JSON message, ``{"partial": "..."}`` or, when an
utterance has ended, ``{"text": "...", "result": [{word, start, end, conf}]}``; ``eof`` is answered with the
final ``{"text": ...}``, and the stream closes. Anything else (malformed JSON, a silly rate, text where audio
belongs, an odd byte count, a stream over the server's length limit) is answered with ``{"error": "..."}`` and
the stream closes; the server and other streams go on.

The config may also hold ``"phrase_list": ["yes", "no", "[unk]"]``: the stream then decodes with that grammar
(:mod:`asr.grammar`), and ``"words": false`` leaves the word times out of the results, both as Vosk's server
reads them, so that a Vosk client that sends a phrase list works unchanged.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import numpy as np

from asr.audio import check_sample_rate
from asr.decode import Transcript
from asr.errors import AsrError
from asr.inference import BaseRecognizer
from asr.streaming import StreamConfig, StreamingRecognizer

#: Sample rate assumed when the client sends no config (any other is checked by asr.audio.check_sample_rate).
DEFAULT_RATE = 16000


class SharedRecognizer:
    """A recogniser shared by every stream and request of a server: one network call at a time."""

    def __init__(self, recognizer: BaseRecognizer, lock: threading.Lock) -> None:
        self.recognizer, self.lock = recognizer, lock
        self.sample_rate = recognizer.sample_rate

    def transcribe_waveforms(self, waveforms: list[np.ndarray]) -> list[Transcript]:
        with self.lock:
            return self.recognizer.transcribe_waveforms(waveforms)

    def decode_waveforms(self, waveforms: list[np.ndarray]) -> list[Transcript]:
        with self.lock:
            return self.recognizer.decode_waveforms(waveforms)

    def with_grammar(self, phrases: object) -> SharedRecognizer:
        """The same network behind the same lock, decoding with a phrase list (a Vosk client's
        ``phrase_list``): exactly one of its phrases per utterance, ``[unk]`` for anything else."""
        from asr.grammar import client_grammar

        served = self.recognizer.decoding  # the server's own --rejection / --reject apply to a client's grammar
        grammar = client_grammar(phrases)
        return SharedRecognizer(self.recognizer.with_grammar(grammar, rejection=served.rejection,
                                                             reject=served.reject), self.lock)


class StreamSession:
    """One WebSocket stream. :meth:`handle` takes a message (text or bytes) and returns the reply (``None``
    for a config message, which is not answered) and whether the stream is over; it never raises for anything
    the client sent."""

    def __init__(self, recognizer: SharedRecognizer, max_seconds: float, config: StreamConfig | None = None) -> None:
        self.recognizer, self.max_seconds, self.config = recognizer, max_seconds, config
        self.rate = DEFAULT_RATE
        self.stream: StreamingRecognizer | None = None  # made at the first audio message
        self.words = True  # word times in final results (Vosk's "words" config)

    def handle(self, text: str | None, data: bytes | None) -> tuple[dict[str, Any] | None, bool]:
        try:
            if data is not None:
                return self._audio(data), False
            return self._text(text or "")
        except AsrError as error:
            return {"error": str(error)}, True

    def _text(self, text: str) -> tuple[dict[str, Any] | None, bool]:
        try:
            message = json.loads(text)
        except ValueError:
            raise AsrError("a text message must be JSON: {\"config\": {\"sample_rate\": N}} first, or "
                           "{\"eof\": 1} at the end; audio goes in binary messages") from None
        if not isinstance(message, dict):
            raise AsrError("a text message must be a JSON object")
        if "eof" in message:
            stream = self.stream or self._start()
            return self._reply(stream.finish().to_vosk()), True
        if "config" in message:
            if self.stream is not None:
                raise AsrError("config comes before the audio, in the first message")
            self._configure(message["config"])
            return None, False  # Vosk's server answers nothing to the config
        raise AsrError(f"unknown message {text[:80]!r}: audio goes in binary messages (16-bit PCM)")

    def _configure(self, config: object) -> None:
        if not isinstance(config, dict):
            raise AsrError("config must be an object, such as {\"sample_rate\": 16000}")
        rate = config.get("sample_rate", DEFAULT_RATE)
        if isinstance(rate, float) and rate.is_integer():
            rate = int(rate)  # JSON's 16000.0 is 16000
        self.rate = check_sample_rate(rate)
        if config.get("phrase_list") is not None:  # Vosk's grammar: exactly one of these phrases per utterance
            self.recognizer = self.recognizer.with_grammar(config["phrase_list"])
        words = config.get("words", True)
        if not isinstance(words, bool):
            raise AsrError("config's \"words\" must be true or false")
        self.words = words

    def _start(self) -> StreamingRecognizer:
        self.stream = StreamingRecognizer(self.recognizer, self.rate, self.config)
        return self.stream

    def _audio(self, data: bytes) -> dict[str, Any]:
        stream = self.stream or self._start()
        if stream.seconds + len(data) / 2 / self.rate > self.max_seconds:
            raise AsrError(f"the stream is over this server's limit of {self.max_seconds:g} s of audio")
        return self._reply(stream.accept_pcm16(data).to_vosk())

    def _reply(self, message: dict[str, Any]) -> dict[str, Any]:
        """Word times and confidences (``result``) unless the config said ``"words": false``, as Vosk's."""
        if not self.words:
            message.pop("result", None)
        return message
