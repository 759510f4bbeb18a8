"""The model that runs with no ``--model``: the packaged English model, open vocabulary, run by onnxruntime
without PyTorch. It gives English words, digits included, and the digits model stays by name
(tests/test_digits_model.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import asr
from asr.loading import DEFAULT_MODEL, packaged_model_path
from data_prep.an4 import find_audio, read_transcription
from data_prep.fsdd import DIGIT_WORDS

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
RECORDING = SHARED / "hd_digits" / "audio" / "lang-english_speaker-03_trial-1_digit-4.flac"  # "four"


@pytest.fixture(scope="module")
def model():
    if not RECORDING.is_file() or not (SHARED / "an4").is_dir():
        pytest.skip("shared data not found")
    return asr.load_model()


def test_the_default_is_the_english_model_with_open_vocabulary_decoding(model):
    assert DEFAULT_MODEL == "english" and packaged_model_path() == packaged_model_path("english")
    assert packaged_model_path().stat().st_size < 25 * 2**20
    assert model.spec.to_dict() == asr.load_model("english").spec.to_dict()
    assert model.decoding.method == "beam" and model.decoding.lexicon is None  # any spelling can come out


def test_an_english_sentence_comes_out_as_english_words_not_digits(model):
    """AN4 speakers the English recipe held out of its training: a sentence gives words beyond the digits
    (where the digits model, the default before, answered every sentence with digits)."""
    texts = read_transcription(SHARED / "an4" / "etc" / "an4_train.transcription")
    items = [(path, text) for file_id, text in sorted(texts.items()) if file_id.split("-")[1] == "fjmd"
             and (path := find_audio(SHARED / "an4" / "wav" / "an4_clstk" / "fjmd", file_id)) is not None]
    hyps = [model.transcribe(path).text for path, _ in items[:10]]
    words = {w for h in hyps for w in h.split()}
    assert len(words - set(DIGIT_WORDS)) >= 5, hyps


def test_transcribe_without_model_flag_or_torch(model):
    code = ("import sys\nfrom asr.cli import transcribe_main\n"
            f"status = transcribe_main([{str(RECORDING)!r}])\n"
            "assert status == 0 and 'torch' not in sys.modules, sorted(m for m in sys.modules if 'torch' in m)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{RECORDING}\tfour"


def test_the_server_answers_with_the_onnx_model_without_torch(model):
    code = ("import sys\nfrom fastapi.testclient import TestClient\nfrom asr.loading import load_model\n"
            "from asr.server import create_app\n"
            "client = TestClient(create_app(load_model(), None, 'default'))\n"
            f"with open({str(RECORDING)!r}, 'rb') as audio:\n"
            "    reply = client.post('/transcribe', files={'file': ('a.flac', audio, 'audio/flac')})\n"
            "print(reply.status_code, reply.json()['text'])\n"
            "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if 'torch' in m)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "200 four"
