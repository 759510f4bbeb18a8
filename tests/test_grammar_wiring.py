"""Grammars through every door: the Python API, model files, ``transcribe --grammar``, uploads with a
``phrase_list`` and Vosk clients' ``phrase_list`` over ``/stream`` (the decoder itself: tests/test_grammar.py).

All on the packaged digits model (ONNX, nothing trained here); AN4's mmdg is a speaker it never heard."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr.cli import transcribe_main
from asr.decoding import Decoding
from asr.errors import AsrError
from asr.grammar import GrammarDecoder
from asr.loading import load_model

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DIGIT_STRING = DATA / "an4/wav/an4_clstk/mmdg/cen7-mmdg-b.flac"  # "four one two five two one five three three nine"
SPELLED = DATA / "an4/wav/an4_clstk/mmdg/cen5-mmdg-b.flac"  # "p i t t s b u r g h": not a digit
SEVEN = DATA / "fsdd/recordings/7_george_3.wav"
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
ONE_DIGIT = json.dumps([*DIGITS, "[unk]"])

pytestmark = pytest.mark.skipif(not DIGIT_STRING.exists(), reason="needs ../shared/data")


@pytest.fixture(scope="module")
def model():
    return load_model("digits")


def test_with_grammar_outputs_only_its_phrases_and_unk_for_other_speech(model):
    loop = model.with_grammar("digits")
    assert isinstance(loop.decoder, GrammarDecoder) and loop.decoding.grammar_loop
    assert loop.transcribe(DIGIT_STRING).text == "four one two five two one five three three nine"
    one = model.with_grammar([*DIGITS, "[unk]"])
    assert one.transcribe(SPELLED).text == "[unk]"
    assert one.transcribe(SEVEN).text == "seven"
    assert model.decoding.method == "beam"  # the model it came from is unchanged


def test_a_one_phrase_grammar_gives_one_phrase_for_a_recording_with_a_pause_in_it(model):
    seven, rate = sf.read(SEVEN, dtype="float32")
    paused = np.concatenate([np.zeros(rate // 2), seven, np.zeros(rate), seven, np.zeros(rate // 2)])
    one = model.with_grammar(["seven", "two", "[unk]"])
    assert len(one.transcribe(paused.astype(np.float32), sample_rate=rate).text.split()) == 1
    assert model.with_grammar("digits").transcribe(paused.astype(np.float32), sample_rate=rate).text == "seven seven"


def test_a_word_the_model_cannot_spell_is_a_one_line_error_naming_it(model):
    with pytest.raises(AsrError, match="yes"):
        model.with_grammar(["yes", "no"])


def test_a_stored_grammar_comes_back_from_the_model_file(model, tmp_path):
    pin = model.with_default_decoding(Decoding().overridden(grammar=ONE_DIGIT))
    pin.save(tmp_path / "pin.onnx")
    again = load_model(tmp_path / "pin.onnx")
    assert again.stored_decoding.method == "grammar" and again.stored_decoding.grammar == (*DIGITS, "[unk]")
    assert again.transcribe(SPELLED).text == "[unk]" and again.transcribe(SEVEN).text == "seven"


def test_transcribe_grammar_flag(capsys, tmp_path):
    assert transcribe_main(["--grammar", "digits", str(DIGIT_STRING)]) == 0
    assert capsys.readouterr().out.strip().endswith("four one two five two one five three three nine")
    assert transcribe_main(["--grammar", ONE_DIGIT, str(SPELLED)]) == 0
    assert capsys.readouterr().out.strip().endswith("[unk]")
    phrases = tmp_path / "phrases.txt"
    phrases.write_text("seven\ntwo\n")
    assert transcribe_main(["--grammar", str(phrases), "--reject", str(SPELLED), str(SEVEN)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].endswith("\tseven") and lines[0].endswith("\t")  # rejected without [unk]: empty


@pytest.mark.parametrize(("flags", "error"), [
    (["--model", "digits", "--grammar", '["yes", "no"]'], "cannot spell"),
    (["--grammar", '["seven"'], "not valid JSON"),
    (["--grammar", "nosuchgrammar"], "not a JSON list"),
    (["--grammar", "digits", "--greedy"], "--greedy cannot be combined with --grammar"),
    (["--grammar", "digits", "--lm-weight", "1", "--lexicon", "x.txt"], "cannot be combined with --lexicon"),
    (["--rejection", "0.1"], "apply to a grammar"),
])
def test_bad_grammar_flags_are_one_line_errors(flags, error, capsys):
    assert transcribe_main([*flags, str(SEVEN)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and error in err, err


@pytest.fixture(scope="module")
def client(model):
    from fastapi.testclient import TestClient

    from asr.server import ServerLimits, create_app

    return TestClient(create_app(model, ServerLimits(max_audio_seconds=30.0), "default"))


def test_an_upload_may_carry_a_phrase_list(client):
    with open(SPELLED, "rb") as handle:
        answer = client.post("/transcribe", files={"file": ("s.flac", handle)}, data={"phrase_list": ONE_DIGIT})
    assert answer.status_code == 200 and answer.json()["text"] == "[unk]"
    for bad in ('["yes"]', "/etc/passwd"):  # a client's grammar is never a file on the server
        with open(SEVEN, "rb") as handle:
            answer = client.post("/transcribe", files={"file": ("7.wav", handle)}, data={"phrase_list": bad})
        assert answer.status_code == 400 and answer.json()["detail"].startswith("phrase_list: "), answer.json()


def _stream(client, config: dict, path: Path) -> list[dict]:  # noqa: ANN001
    audio, rate = sf.read(path, dtype="float32")
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()
    replies = []
    with client.websocket_connect("/stream") as socket:
        socket.send_text(json.dumps({"config": {"sample_rate": rate, **config}}))
        for start in range(0, len(pcm), 3200):
            socket.send_bytes(pcm[start : start + 3200])
            replies.append(socket.receive_json())
        socket.send_text('{"eof": 1}')
        replies.append(socket.receive_json())
    return replies


def test_a_vosk_clients_phrase_list_is_honoured_over_stream(client):
    replies = _stream(client, {"phrase_list": [*DIGITS, "[unk]"]}, SPELLED)
    finals = " ".join(r["text"] for r in replies if r.get("text"))
    assert finals and set(finals.split()) == {"[unk]"}
    replies = _stream(client, {"phrase_list": ["seven", "[unk]"], "words": False}, SEVEN)
    assert " ".join(r["text"] for r in replies if r.get("text")) == "seven"
    assert all("result" not in r for r in replies)  # "words": false, as Vosk's server reads it
    for bad, error in (("/etc/passwd", "phrase_list must be"), (["yes", "no"], "cannot spell")):
        with client.websocket_connect("/stream") as socket:  # a client's grammar is never a file on the server
            socket.send_text(json.dumps({"config": {"sample_rate": 8000, "phrase_list": bad}}))
            assert error in socket.receive_json()["error"]
