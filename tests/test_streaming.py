"""Streaming recognition with the packaged model: connected digits fed in chunks give partial text before the end
and final results as good as offline transcription, at any input rate and chunk size, in bounded memory."""

from __future__ import annotations

import json
import random
from pathlib import Path

import jiwer
import numpy as np
import pytest
import soundfile as sf
import soxr

import asr
from asr.errors import AsrError
from asr.streaming import StreamConfig, StreamingRecognizer
from data_prep.fsdd import DIGIT_WORDS

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="module")
def model():
    return asr.load_model()


def digit_strings(count: int, seed: int = 0) -> list[tuple[np.ndarray, str]]:
    """``count`` strings of 3-5 FSDD recordings (8 kHz) with pauses of 0.1-0.8 s, over a faint noise floor as a
    real line has: ``(samples, reference)``."""
    rng = random.Random(seed)
    files = sorted((SHARED / "fsdd" / "recordings").glob("*_*_*.wav"))
    strings = []
    for index in range(count):
        chosen = rng.sample(files, rng.randint(3, 5))
        parts = [np.zeros(2000, dtype=np.float32)]
        for path in chosen:
            samples, _ = sf.read(path, dtype="float32")
            parts += [samples, np.zeros(int(rng.uniform(0.1, 0.8) * 8000), dtype=np.float32)]
        audio = np.concatenate(parts)
        audio += np.random.default_rng(index).normal(0, 3e-4, len(audio)).astype(np.float32)
        strings.append((audio, " ".join(DIGIT_WORDS[int(p.name[0])] for p in chosen)))
    return strings


def stream(model, audio: np.ndarray, rate: int, chunk: int) -> tuple[str, list, bool]:  # noqa: ANN001
    """Feed ``audio`` in chunks of ``chunk`` samples: the final text, the final words, and whether a partial came
    before the end."""
    recogniser = StreamingRecognizer(model, rate)
    finals, words, partial = [], [], False
    for start in range(0, len(audio), chunk):
        event = recogniser.accept(audio[start : start + chunk])
        partial |= bool(event.text) and not event.final
        if event.final:
            finals += [event.text] if event.text else []
            words += event.words
    event = recogniser.finish()
    finals += [event.text] if event.text else []
    return " ".join(finals), words + event.words, partial


def test_streamed_digits_match_offline_transcription_with_partials_before_the_end(model):
    strings = digit_strings(12)
    refs = [ref for _, ref in strings]
    offline = [model.transcribe(audio, sample_rate=8000).text for audio, _ in strings]
    streamed, with_partial = [], 0
    for audio, _ in strings:
        text, words, partial = stream(model, audio, 8000, 800)  # 100 ms chunks
        streamed.append(text)
        with_partial += partial
        times = [(w.start, w.end) for w in words]
        assert all(0 <= s <= e <= len(audio) / 8000 + 0.05 for s, e in times)
        assert times == sorted(times)  # words in order, with times from the start of the stream
    assert with_partial >= 0.8 * len(strings)
    assert jiwer.wer(refs, streamed) <= jiwer.wer(refs, offline) + 0.05


def test_any_rate_and_any_chunk_size_give_the_same_words(model):
    audio, _ = digit_strings(1, seed=5)[0]
    text, _, _ = stream(model, audio, 8000, 800)
    assert text
    assert stream(model, audio, 8000, 333)[0] == text
    assert stream(model, audio, 8000, 100_000)[0] == text  # all at once: several utterances end in one chunk
    at_16k = soxr.resample(audio, 8000, 16000)
    assert jiwer.wer(text, stream(model, at_16k, 16000, 1600)[0]) <= 0.25
    pcm = (np.clip(at_16k, -1, 1) * 32767).astype("<i2").tobytes()
    recogniser = StreamingRecognizer(model, 16000)
    events = [recogniser.accept_pcm16(pcm[i : i + 3200]) for i in range(0, len(pcm), 3200)]
    events.append(recogniser.finish())
    assert " ".join(e.text for e in events if e.final and e.text) == stream(model, at_16k, 16000, 1600)[0]


def test_memory_stays_bounded_on_speech_that_never_pauses(model):
    config = StreamConfig(max_utterance_seconds=2.0)
    recogniser = StreamingRecognizer(model, 8000, config)
    files = sorted((SHARED / "fsdd" / "recordings").glob("*_jackson_*.wav"))[:40]
    audio = np.concatenate([sf.read(f, dtype="float32")[0] for f in files])  # back to back, no pause long enough
    assert len(audio) > 12 * 8000
    finals, most = 0, 0
    for start in range(0, len(audio), 800):
        finals += recogniser.accept(audio[start : start + 800]).final
        most = max(most, recogniser.buffered_samples)
    assert finals >= len(audio) / 8000 / 2.5  # cut at the 2 s limit, again and again
    # held at the model's rate (the cutter works after resampling), plus one part block of 100 ms
    assert most <= (config.max_utterance_seconds + config.pre_roll_seconds + 0.1) * model.sample_rate


def test_silence_gives_nothing_and_bad_input_is_a_clear_error(model):
    recogniser = StreamingRecognizer(model, 8000)
    for _ in range(30):
        event = recogniser.accept(np.zeros(800, dtype=np.float32))
        assert not event.final and event.text == ""
    assert recogniser.buffered_samples <= 0.31 * model.sample_rate  # only the pre-roll is kept between utterances
    assert recogniser.finish().to_vosk() == {"text": "", "result": []}
    with pytest.raises(AsrError, match="finished"):
        recogniser.accept(np.zeros(10, dtype=np.float32))
    fresh = StreamingRecognizer(model, 8000)
    with pytest.raises(AsrError, match="mono"):
        fresh.accept(np.zeros((10, 2), dtype=np.float32))
    with pytest.raises(AsrError, match="NaN"):
        fresh.accept(np.array([0.0, np.nan], dtype=np.float32))
    with pytest.raises(AsrError, match="2 bytes"):
        fresh.accept_pcm16(b"\x00\x01\x02")
    with pytest.raises(AsrError, match="sample rate"):
        StreamingRecognizer(model, 0)
    with pytest.raises(AsrError, match="positive"):
        StreamConfig(end_silence_seconds=0)


def test_transcribe_stream_reads_pcm_from_stdin_and_plays_files(tmp_path):
    import subprocess
    import sys

    audio, reference = digit_strings(1, seed=3)[0]
    path = tmp_path / "string.wav"
    sf.write(path, audio, 8000)
    pcm = (np.clip(soxr.resample(audio, 8000, 16000), -1, 1) * 32767).astype("<i2").tobytes()
    run = [sys.executable, "-m", "asr", "transcribe"]
    piped = subprocess.run([*run, "--stream", "-", "--rate", "16000"], input=pcm, capture_output=True, timeout=120)
    assert piped.returncode == 0, piped.stderr
    lines = piped.stdout.decode().splitlines()
    assert len(lines) >= 2 and "\r" not in piped.stdout.decode()  # a pipe gets final lines only
    assert jiwer.wer(reference, " ".join(lines)) <= 0.4
    played = subprocess.run([*run, "--stream", str(path), "--format", "json"], capture_output=True, text=True,
                            timeout=120)
    assert played.returncode == 0, played.stderr
    finals = [json.loads(line) for line in played.stdout.splitlines()]
    assert all(set(f) == {"text", "result"} and f["result"] for f in finals)
    assert jiwer.wer(reference, " ".join(f["text"] for f in finals)) <= 0.4
    both = subprocess.run([*run, "--stream", "-", str(path)], capture_output=True, text=True, timeout=60)
    assert both.returncode == 2 and "either files or --stream" in both.stderr
    nothing = subprocess.run(run, capture_output=True, text=True, timeout=60)
    assert nothing.returncode == 2 and "--stream -" in nothing.stderr


def test_partials_rewrite_one_line_on_a_terminal(capsys):
    from asr.decode import Word
    from asr.stream_source import Printer
    from asr.streaming import StreamEvent

    printer = Printer(as_json=False, terminal=True)
    printer.show(StreamEvent(False, "seven"))
    printer.show(StreamEvent(False, "seven two"))
    printer.show(StreamEvent(True, "seven two", [Word("seven", 0.1, 0.4, 0.9), Word("two", 0.5, 0.7, 0.9)]))
    assert capsys.readouterr().out == "seven\r     \rseven two\r         \rseven two\n"


@pytest.fixture(scope="module")
def digits_model():
    """The Vosk-protocol tests stream digit strings: to the packaged digits model, the one for that task."""
    return asr.load_model("digits")


@pytest.fixture(scope="module")
def client(digits_model):
    from fastapi.testclient import TestClient

    from asr.server import ServerLimits, create_app

    return TestClient(create_app(digits_model, ServerLimits(max_audio_seconds=30.0), "digits"))


def _pcm16(audio: np.ndarray, rate: int) -> bytes:
    return (np.clip(soxr.resample(audio, 8000, rate), -1, 1) * 32767).astype("<i2").tobytes()


def test_websocket_speaks_the_vosk_protocol(client, digits_model):
    audio, reference = digit_strings(1, seed=7)[0]
    pcm, chunk = _pcm16(audio, 16000), 3200  # 100 ms messages
    with client.websocket_connect("/stream") as socket:
        socket.send_text(json.dumps({"config": {"sample_rate": 16000}}))  # answered with nothing, as Vosk's server
        replies = []
        for start in range(0, len(pcm), chunk):
            socket.send_bytes(pcm[start : start + chunk])
            replies.append(socket.receive_json())  # one reply per audio message
        socket.send_text('{"eof": 1}')
        last = socket.receive_json()
    assert all(set(r) in ({"partial"}, {"text", "result"}) for r in replies)
    assert any(r.get("partial") for r in replies)
    finals = [r for r in [*replies, last] if "text" in r and r["text"]]
    assert set(last) == {"text", "result"}
    assert all(set(w) == {"word", "start", "end", "conf"} for f in finals for w in f["result"])
    assert jiwer.wer(reference, " ".join(f["text"] for f in finals)) <= 0.4
    offline = digits_model.transcribe(audio, sample_rate=8000).text
    assert jiwer.wer(offline, " ".join(f["text"] for f in finals)) <= 0.25
    with client.websocket_connect("/stream") as socket:  # no config: 16 kHz
        for start in range(0, len(pcm), 16000):
            socket.send_bytes(pcm[start : start + 16000])
            socket.receive_json()
        socket.send_text('{"eof": 1}')
        assert "text" in socket.receive_json()


@pytest.mark.parametrize(("messages", "error"), [
    (["not json"], "must be JSON"),
    (['{"config": {"sample_rate": 7}}'], "sample rate must be"),
    (['{"config": {"sample_rate": "fast"}}'], "sample rate must be"),
    (['{"config": 16000}'], "config must be an object"),
    (['{"hello": 1}'], "unknown message"),
    ([b"\x00\x00" * 800, '{"config": {"sample_rate": 8000}}'], "config comes before the audio"),
    ([b"\x00\x00\x00"], "2 bytes"),
    ([b"\x00\x00" * 16000 * 31], "limit of 30 s"),
])
def test_bad_stream_messages_get_an_error_and_a_clean_close(client, messages, error):
    from starlette.websockets import WebSocketDisconnect

    with client.websocket_connect("/stream") as socket:
        for message in messages:
            if isinstance(message, bytes):
                socket.send_bytes(message)
            else:
                socket.send_text(message)
            reply = socket.receive_json()
        assert set(reply) == {"error"} and error in reply["error"], reply
        with pytest.raises(WebSocketDisconnect):
            socket.receive_json()  # the server closed this stream
    with client.websocket_connect("/stream") as socket:  # and goes on serving others
        socket.send_text('{"config": {"sample_rate": 8000}}')
        socket.send_text('{"eof": 1}')
        assert socket.receive_json() == {"text": "", "result": []}  # the first reply: the config got none


def test_a_lock_step_vosk_client_gets_every_final_including_the_last(client):
    """vosk-server's websocket/test.py: send the config, then per chunk one send and one read, then eof and one
    read. With a reply to the config, such a client reads one reply behind and never sees the last final."""
    audio, reference = digit_strings(1, seed=7)[0]
    pcm, chunk = _pcm16(audio, 8000), 8000  # 0.5 s messages, as test.py sends
    with client.websocket_connect("/stream") as socket:
        socket.send_text(json.dumps({"config": {"sample_rate": 8000}}))
        replies = []
        for start in range(0, len(pcm), chunk):
            socket.send_bytes(pcm[start : start + chunk])
            replies.append(socket.receive_json())
        socket.send_text('{"eof": 1}')
        last = socket.receive_json()
    assert all("config" not in r for r in replies)
    assert set(last) == {"text", "result"}  # the answer to eof, not the answer to the last audio message
    heard = [r["text"] for r in [*replies, last] if r.get("text")]
    assert heard and jiwer.wer(reference, " ".join(heard)) <= 0.4
    # the same audio read without lock-step (every message drained to the end) gives the same finals
    with client.websocket_connect("/stream") as socket:
        socket.send_text(json.dumps({"config": {"sample_rate": 8000}}))
        socket.send_bytes(pcm)
        socket.send_text('{"eof": 1}')
        drained = [socket.receive_json(), socket.receive_json()]
    assert " ".join(r["text"] for r in drained if r.get("text")) == " ".join(heard)
