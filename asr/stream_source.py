"""``transcribe --stream``: raw PCM from standard input, or a file played through the streaming path, printed as
it is recognised (see :mod:`asr.streaming`)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from typing import IO

import numpy as np

from asr.audio import audio_info, read_audio
from asr.errors import AsrError
from asr.inference import BaseRecognizer
from asr.streaming import StreamEvent, StreamingRecognizer


class PcmChunks:
    """16-bit little-endian mono PCM from ``stream``, ``chunk_ms`` at a time, as int16 arrays (iterate it).

    A pipe may split a sample between reads; that half is kept for the next read. After the end of the stream,
    ``leftover`` is the number of bytes of a half sample that no read completed (1 when the stream's length is
    odd, which 16-bit PCM never is), and :meth:`check_complete` says so as an error.
    """

    def __init__(self, stream: IO[bytes], rate: int, chunk_ms: int) -> None:
        self.stream, self.size, self.leftover = stream, max(2, rate * chunk_ms // 1000 * 2), 0
        self.total = 0

    def __iter__(self) -> Iterator[np.ndarray]:
        carry = b""
        while True:
            data = self.stream.read(self.size)
            if not data:
                break
            self.total += len(data)
            data = carry + data
            whole = len(data) - len(data) % 2
            carry = data[whole:]
            if whole:
                yield np.frombuffer(data[:whole], dtype="<i2")
        self.leftover = len(carry)

    def check_complete(self) -> None:
        if self.leftover:
            raise AsrError(f"standard input ended inside a sample: {self.total} bytes is an odd count, and 16-bit "
                           "PCM has 2 bytes a sample (is it 16-bit little-endian mono PCM?); the last byte was "
                           "not used")


def pcm_chunks(stream: IO[bytes], rate: int, chunk_ms: int) -> Iterator[np.ndarray]:
    """16-bit little-endian mono PCM from ``stream``, ``chunk_ms`` at a time, as int16 arrays."""
    return iter(PcmChunks(stream, rate, chunk_ms))


def file_chunks(path: str, chunk_ms: int, realtime: bool) -> tuple[int, Iterator[np.ndarray]]:
    """A file's mono samples at its own rate, ``chunk_ms`` at a time (at the pace of speech with ``realtime``)."""
    rate = audio_info(path).sample_rate
    samples = read_audio(path, rate)
    size = max(1, rate * chunk_ms // 1000)

    def chunks() -> Iterator[np.ndarray]:
        started = time.perf_counter()
        for start in range(0, len(samples), size):
            if realtime:
                time.sleep(max(0.0, start / rate - (time.perf_counter() - started)))
            yield samples[start : start + size]

    return rate, chunks()


def run_stream(recognizer: BaseRecognizer, source: str, rate: int, chunk_ms: int, realtime: bool,
               as_json: bool) -> int:
    """Recognise ``source`` ('-' for PCM on standard input, else a file) and print as results come."""
    pcm = None
    if source == "-":
        pcm = PcmChunks(sys.stdin.buffer, rate, chunk_ms)
        chunks: Iterator[np.ndarray] | PcmChunks = pcm
    else:
        rate, chunks = file_chunks(source, chunk_ms, realtime)
    stream = StreamingRecognizer(recognizer, rate)
    printer = Printer(as_json, sys.stdout.isatty())
    for chunk in chunks:
        printer.show(stream.accept(chunk))
    printer.show(stream.finish())
    if pcm is not None:
        pcm.check_complete()  # after the last result: what was heard is printed, then the error
    return 0


class Printer:
    """Finals one per line; partials rewrite one line, and only on a terminal (a pipe or file gets finals only)."""

    def __init__(self, as_json: bool, terminal: bool) -> None:
        self.as_json, self.terminal, self.shown = as_json, terminal, 0

    def show(self, event: StreamEvent) -> None:
        if event.final:
            self._clear()
            if event.text:
                print(json.dumps(event.to_vosk(), ensure_ascii=False) if self.as_json else event.text, flush=True)
        elif self.terminal and not self.as_json and event.text:
            self._clear()
            sys.stdout.write(event.text)
            sys.stdout.flush()
            self.shown = len(event.text)

    def _clear(self) -> None:
        if self.shown:
            sys.stdout.write("\r" + " " * self.shown + "\r")
            self.shown = 0
