"""The HTTP server: transcripts, health, limits with clear 4xx answers, concurrent requests kept apart."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
import soundfile as sf

from asr.loading import load_model


def _post(url: str, name: str, data: bytes) -> httpx.Response:
    return httpx.post(f"{url}/transcribe", files={"file": (name, data)}, timeout=60)


def _wav(samples: np.ndarray, rate: int = 8000, subtype: str = "PCM_16") -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format="WAV", subtype=subtype)
    return buffer.getvalue()


def test_health_reports_the_model_and_limits(digits_server):
    answer = httpx.get(f"{digits_server}/health").json()
    assert answer["status"] == "ok" and answer["sample_rate"] == 8000
    assert answer["max_audio_seconds"] == 20


def test_transcribe_returns_the_same_transcript_as_the_library(digits_server, trained_digits, ten_digits):
    expected = load_model(trained_digits.best_model).transcribe(ten_digits[3].audio).to_dict()
    response = _post(digits_server, "three.wav", open(ten_digits[3].audio, "rb").read())
    assert response.status_code == 200
    answer = response.json()
    assert answer["text"] == expected["text"] == "three"
    assert answer["words"] == expected["words"]
    assert answer["file"] == "three.wav" and answer["duration"] == pytest.approx(ten_digits[3].duration, abs=1e-3)


@pytest.mark.parametrize(("name", "data", "status", "phrase"), [
    ("notes.txt", b"these are not audio samples" * 10, 415, "not a readable audio file"),
    ("empty.wav", b"", 400, "empty"),
    ("long.wav", _wav(np.zeros(1000 * 25, dtype=np.float32), rate=1000), 413, "at most 20 s"),  # 50 kB
    ("huge.wav", _wav(np.zeros(8000 * 19), subtype="DOUBLE"), 413, "over the limit"),  # 1.2 MB > 500 KiB
], ids=["text", "empty", "too-long", "too-big"])
def test_bad_uploads_get_a_clear_client_error(digits_server, name, data, status, phrase):
    response = _post(digits_server, name, data)
    assert response.status_code == status
    detail = response.json()["detail"]
    assert phrase in detail and "/tmp" not in detail  # the server's own file names stay private


def test_a_request_without_a_file_is_refused(digits_server):
    response = httpx.post(f"{digits_server}/transcribe", data={"nothing": "here"}, timeout=30)
    assert response.status_code == 422


def test_concurrent_requests_each_get_their_own_transcript(digits_server, trained_digits, ten_digits):
    recognizer = load_model(trained_digits.best_model)
    files = [u.audio for u in ten_digits] * 2
    expected = [recognizer.transcribe(f).text for f in files]
    assert len(set(expected)) >= 8  # distinct answers, so that a mix-up would show
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda f: _post(digits_server, f.rsplit("/", 1)[-1], open(f, "rb").read()), files))
    assert [a.status_code for a in answers] == [200] * len(files)
    assert [a.json()["text"] for a in answers] == expected
    assert [a.json()["file"] for a in answers] == [f.rsplit("/", 1)[-1] for f in files]
