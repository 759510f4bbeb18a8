"""The HTTP server: transcripts, health, limits with clear 4xx answers, concurrent requests kept apart."""

from __future__ import annotations

import io
import re
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
import soundfile as sf

from asr.loading import load_model
from tests.conftest import free_port, running_server

DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def _post(url: str, name: str, data: bytes) -> httpx.Response:
    return httpx.post(f"{url}/transcribe", files={"file": (name, data)}, timeout=60)


def _wav(samples: np.ndarray, rate: int = 8000, subtype: str = "PCM_16") -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format="WAV", subtype=subtype)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def default_server():
    """``asr serve`` with no --model: the packaged default."""
    yield from running_server()


def test_health_reports_the_model_and_limits(digits_server):
    answer = httpx.get(f"{digits_server}/health").json()
    assert answer["status"] == "ok" and answer["sample_rate"] == 8000
    assert answer["max_audio_seconds"] == 20
    model = answer["model"]
    assert model["name"] == model["file"] == "model.pt" and model["packaged"] is False  # the file's name only
    assert model["recognises"] and set(model["characters"]) >= set("zeronietwhfusvx")
    assert answer["decoding"]


@pytest.fixture(scope="module")
def packaged_digits_server():
    """``asr serve --model digits``: the packaged digits model, by name."""
    yield from running_server("--model", "digits")


def test_health_says_what_the_packaged_default_recognises(default_server):
    from asr.loading import DEFAULT_MODEL, PACKAGED_MODELS

    answer = httpx.get(f"{default_server}/health").json()
    model = answer["model"]
    assert model["name"] == DEFAULT_MODEL and model["file"] == PACKAGED_MODELS[DEFAULT_MODEL] and model["packaged"]
    if DEFAULT_MODEL == "english":  # open vocabulary: any spelling, from a character LM
        assert model["words"] is None and model["recognises"].startswith("any spelling in these 27 characters")
        assert answer["sample_rate"] == 16000 and answer["decoding"]["lm"]["unit"] == "char"


def test_health_says_the_packaged_digits_model_knows_only_the_ten_digit_words(packaged_digits_server):
    answer = httpx.get(f"{packaged_digits_server}/health").json()
    model = answer["model"]
    assert model["name"] == "digits" and model["file"] == "digits-en.onnx" and model["packaged"] is True
    assert model["words"] == DIGITS
    assert model["recognises"].startswith("only these 10 words: zero, one, two") and "nine" in model["recognises"]
    decoding = answer["decoding"]  # everything the stored decoding holds, the LM included
    assert answer["sample_rate"] == 8000 and decoding["method"] == "beam" and decoding["summary"].startswith("beam")
    assert decoding["lexicon"]["words"] == 10 and decoding["lm"]["unit"] == "word" and decoding["lm"]["order"] >= 2


@pytest.mark.parametrize("given", [None, "digits", "digits-en", "digits-en.onnx", "packaged file"])
def test_the_packaged_model_is_named_however_it_was_given(given):
    from asr.loading import DEFAULT_MODEL, PACKAGED_MODELS, packaged_model_path
    from asr.server import ModelInfo

    name = DEFAULT_MODEL if given is None else "digits"
    given = str(packaged_model_path("digits")) if given == "packaged file" else given
    assert ModelInfo.of(given) == ModelInfo(name, PACKAGED_MODELS[name], packaged=True)
    mine = ModelInfo.of("/srv/secret/folder/model.pt")
    assert mine == ModelInfo("model.pt", "model.pt") and "secret" not in str(mine)  # the file's name, not its folders


def test_no_page_needs_the_network(default_server):
    """Offline, a page whose scripts or styles come from a CDN is blank (FastAPI's /docs and /redoc were):
    nothing the server answers refers to an external script or style sheet; the API's description stays."""
    spec = httpx.get(f"{default_server}/openapi.json")
    assert spec.status_code == 200 and "/transcribe" in spec.json()["paths"]
    external = re.compile(r"""<(script|link)[^>]*(src|href)\s*=\s*["']?(https?:)?//""", re.IGNORECASE)
    paths = ["/", "/docs", "/redoc", "/docs/oauth2-redirect", "/openapi.json", *spec.json()["paths"]]
    answered = 0
    for path in paths:
        response = httpx.get(f"{default_server}{path}", timeout=30)
        answered += response.status_code == 200
        assert not external.search(response.text), (path, external.search(response.text))
    assert answered >= 3  # the page, /health and /openapi.json


def test_serve_on_a_port_in_use_says_so_in_one_line():
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        process = subprocess.run([sys.executable, "-m", "asr", "serve", "--port", str(port)], capture_output=True,
                                 text=True, timeout=120)
    output = process.stdout + process.stderr
    assert process.returncode == 2, output
    assert f"error: port {port} on 127.0.0.1 is in use" in process.stderr
    assert "startup complete" not in output and "Traceback" not in output
    assert len(process.stderr.strip().splitlines()) == 1, process.stderr


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
    ("empty.wav", b"", 400, "the file is empty"),
    ("long.wav", _wav(np.zeros(1000 * 25, dtype=np.float32), rate=1000), 413, "at most 20 s"),  # 50 kB
    ("huge.wav", _wav(np.zeros(8000 * 19), subtype="DOUBLE"), 413, "over the limit"),  # 1.2 MB > 500 KiB
], ids=["text", "empty", "too-long", "too-big"])
def test_bad_uploads_get_a_clear_client_error(digits_server, name, data, status, phrase):
    response = _post(digits_server, name, data)
    assert response.status_code == status
    detail = response.json()["detail"]
    assert phrase in detail and "/tmp" not in detail  # the server's own file names stay private
    assert "the upload" not in detail and "Error opening" not in detail  # no server-side file in the reason
    assert detail.startswith(f"{name}: ") or status == 413  # a body over the limit is refused before it is read


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
