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
from asr.inference import BaseRecognizer
from asr.streaming import StreamEvent, StreamingRecognizer


def pcm_chunks(stream: IO[bytes], rate: int, chunk_ms: int) -> Iterator[np.ndarray]:
    """16-bit little-endian mono PCM from ``stream``, ``chunk_ms`` at a time, as int16 arrays."""
    size = max(2, rate * chunk_ms // 1000 * 2)
    carry = b""
    while True:
        data = stream.read(size)
        if not data:
            break
        data = carry + data
        whole = len(data) - len(data) % 2  # a pipe may split a sample between reads
        carry = data[whole:]
        if whole:
            yield np.frombuffer(data[:whole], dtype="<i2")


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
    if source == "-":
        chunks: Iterator[np.ndarray] = pcm_chunks(sys.stdin.buffer, rate, chunk_ms)
    else:
        rate, chunks = file_chunks(source, chunk_ms, realtime)
    stream = StreamingRecognizer(recognizer, rate)
    printer = Printer(as_json, sys.stdout.isatty())
    for chunk in chunks:
        printer.show(stream.accept(chunk))
    printer.show(stream.finish())
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
