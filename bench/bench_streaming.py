"""Streaming against offline recognition on the same connected-digit strings, and how many live streams 2 cores hold.

    python bench/bench_streaming.py --data-dir ../shared/data [--model MODEL] [--speakers george hd_00] [--files 60]

Strings of 3-6 isolated recordings (FSDD and Heidelberg Digits) with pauses of 0.1-0.8 s over a faint noise floor.
Prints, in one run: offline and streaming WER (100 ms chunks); the share of strings with partial text before the end
of the audio; the latency of the final result after the end of the stream (wall time of the last chunk and
``finish``) and after the end of speech (audio time from the last loud frame to the final, plus its compute);
and, for 1-8 simultaneous streams paced in real time through one shared model (as the server runs them), how far
the slowest falls behind.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import threading
import time
from pathlib import Path

import jiwer
import numpy as np
import soundfile as sf
import soxr

import asr
from asr.report import markdown_table
from asr.stream_session import SharedRecognizer
from asr.streaming import StreamConfig, StreamingRecognizer

DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def recordings(data_dir: Path, speakers: list[str] | None) -> list[tuple[Path, str, str]]:
    """(path, word, speaker) of every FSDD and English Heidelberg Digits recording (of ``speakers`` if given)."""
    found = []
    for path in sorted((data_dir / "fsdd" / "recordings").glob("*_*_*.wav")):
        digit, speaker, _ = path.stem.split("_")
        found.append((path, DIGITS[int(digit)], speaker))
    for path in sorted((data_dir / "hd_digits" / "audio").glob("lang-english_speaker-*_digit-*.flac")):
        fields = dict(part.split("-", 1) for part in path.stem.split("_"))
        found.append((path, DIGITS[int(fields["digit"])], f"hd_{fields['speaker']}"))
    return [r for r in found if speakers is None or r[2] in speakers]


def make_strings(pool: list[tuple[Path, str, str]], count: int, rate: int) -> list[tuple[np.ndarray, str]]:
    rng = random.Random(0)
    strings = []
    for index in range(count):
        chosen = rng.sample(pool, rng.randint(3, 6))
        parts = [np.zeros(rate // 4, dtype=np.float32)]
        for path, _, _ in chosen:
            samples, source_rate = sf.read(path, dtype="float32", always_2d=True)
            parts += [soxr.resample(samples.mean(1), source_rate, rate),
                      np.zeros(int(rng.uniform(0.1, 0.8) * rate), dtype=np.float32)]
        audio = np.concatenate(parts).astype(np.float32)
        audio += np.random.default_rng(index).normal(0, 3e-4, len(audio)).astype(np.float32)
        strings.append((audio, " ".join(word for _, word, _ in chosen)))
    return strings


def stream_one(model, audio: np.ndarray, rate: int, chunk: int, config: StreamConfig) -> dict:  # noqa: ANN001
    """Feed one string as fast as it goes; what came out and when (audio time and wall time)."""
    recogniser = StreamingRecognizer(model, rate, config)
    finals, partial_before_end, speech_to_final = [], False, []
    last_loud = None
    starts = list(range(0, len(audio), chunk))
    for number, start in enumerate(starts):
        piece = audio[start : start + chunk]
        if np.sqrt(np.mean(piece.astype(np.float64) ** 2)) > 0.01:
            last_loud = (start + len(piece)) / rate
        began = time.perf_counter()
        event = recogniser.accept(piece)
        spent = time.perf_counter() - began
        if number < len(starts) - 1 and event.text:
            partial_before_end = True
        if event.final and event.text:
            finals.append(event.text)
            if last_loud is not None:
                speech_to_final.append((start + len(piece)) / rate - last_loud + spent)
    began = time.perf_counter()
    event = recogniser.finish()
    end_latency = time.perf_counter() - began + spent  # the last chunk's work and the final decode
    finals += [event.text] if event.text else []
    return {"text": " ".join(finals), "partial": partial_before_end, "end_latency": end_latency,
            "speech_to_final": speech_to_final}


def concurrent(model, audio: np.ndarray, rate: int, chunk: int, streams: int,  # noqa: ANN001
               config: StreamConfig) -> float:
    """``streams`` threads, each feeding ``audio`` in real time through one shared model; the worst lag (s)."""
    shared = SharedRecognizer(model, threading.Lock())
    lags = [0.0] * streams

    def run(index: int) -> None:
        recogniser = StreamingRecognizer(shared, rate, config)
        began = time.perf_counter()
        for start in range(0, len(audio), chunk):
            due = began + (start + chunk) / rate  # the chunk exists only once it has been spoken
            time.sleep(max(0.0, due - time.perf_counter()))
            recogniser.accept(audio[start : start + chunk])
            lags[index] = max(lags[index], time.perf_counter() - due)
        recogniser.finish()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(streams)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return max(lags)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True, help="folder holding fsdd/ and hd_digits/")
    parser.add_argument("--model", default=None, help="model file (default: the packaged digits model)")
    parser.add_argument("--speakers", nargs="*", default=None, help="only these speakers (george, hd_00, ...)")
    parser.add_argument("--files", type=int, default=60, help="connected-digit strings")
    parser.add_argument("--chunk-ms", type=int, default=100)
    parser.add_argument("--streams", type=int, nargs="*", default=[1, 2, 4, 8], help="simultaneous streams to try")
    parser.add_argument("--partial-seconds", type=float, default=StreamConfig.partial_seconds,
                        help="re-decode the open utterance after this much new audio")
    args = parser.parse_args()
    model = asr.load_model(args.model)
    config = StreamConfig(partial_seconds=args.partial_seconds)
    rate = model.sample_rate
    chunk = rate * args.chunk_ms // 1000
    strings = make_strings(recordings(Path(args.data_dir), args.speakers), args.files, rate)
    refs = [ref for _, ref in strings]
    seconds = sum(len(a) for a, _ in strings) / rate

    began = time.perf_counter()
    offline = [model.transcribe(audio, sample_rate=rate).text for audio, _ in strings]
    offline_seconds = time.perf_counter() - began
    began = time.perf_counter()
    streamed = [stream_one(model, audio, rate, chunk, config) for audio, _ in strings]
    streaming_seconds = time.perf_counter() - began
    ends = sorted(s["end_latency"] for s in streamed)
    speech = sorted(x for s in streamed for x in s["speech_to_final"])
    print(f"{len(strings)} strings, {seconds:.0f} s of audio, model at {rate} Hz, {args.chunk_ms} ms chunks, "
          f"partials every {args.partial_seconds} s; "
          f"speakers: {', '.join(args.speakers) if args.speakers else 'all'}\n")
    offline_wer, streaming_wer = jiwer.wer(refs, offline), jiwer.wer(refs, [s["text"] for s in streamed])
    print(markdown_table(["path", "WER", "compute / audio time"], [
        ["offline (whole string at once)", f"{100 * offline_wer:.2f}%", f"{offline_seconds / seconds:.4f}"],
        ["streaming (re-decoding the open utterance)", f"{100 * streaming_wer:.2f}%",
         f"{streaming_seconds / seconds:.4f}"],
    ]))
    early = sum(s["partial"] for s in streamed)
    print(f"\npartial text before the end of the audio: {early}/{len(streamed)} strings")
    print(f"final result after the end of the stream: median {1000 * statistics.median(ends):.0f} ms, "
          f"p90 {1000 * ends[int(0.9 * (len(ends) - 1))]:.0f} ms")
    if speech:
        print(f"final result after the end of speech (the pause that ends an utterance, plus compute): median "
              f"{1000 * statistics.median(speech):.0f} ms, p90 {1000 * speech[int(0.9 * (len(speech) - 1))]:.0f} ms")
    long_audio = np.concatenate([a for a, _ in strings])[: 30 * rate]
    rows = []
    for count in args.streams:
        lag = concurrent(model, long_audio, rate, chunk, count, config)
        rows.append([count, f"{1000 * lag:.0f} ms", "yes" if lag < 0.5 else "no"])
    print(f"\nSimultaneous real-time streams of {len(long_audio) / rate:.0f} s each, one shared model:\n")
    print(markdown_table(["streams", "worst lag behind real time", "keeps up (< 500 ms)"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
