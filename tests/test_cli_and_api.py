"""The transcribe command and the Python API, used the way a person would."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

import asr
from asr.cli import main, transcribe_main


def test_python_api_paths_arrays_and_lists(trained_digits, ten_digits):
    model = asr.load_model(trained_digits.best_model)
    path = ten_digits[3].audio
    result = model.transcribe(path)
    assert result.text == "three"
    assert result.words[0].word == "three" and 0 <= result.words[0].start < result.words[0].end
    assert 0 < result.words[0].confidence <= 1
    samples, rate = sf.read(path, dtype="int16")
    assert model.transcribe(samples, sample_rate=rate).text == "three"
    # the same audio at 16 kHz stereo float is converted on the way in
    import torch
    import torchaudio.functional as AF

    upsampled = AF.resample(torch.from_numpy(samples / 32768.0).float(), 8000, 16000)
    stereo = torch.stack([upsampled, upsampled], dim=1)
    assert model.transcribe(stereo, sample_rate=16000).text == "three"
    batch = model.transcribe([u.audio for u in ten_digits[:5]])
    assert [r.text for r in batch] == [u.text for u in ten_digits[:5]]
    with pytest.raises(asr.AsrError, match="sample_rate"):
        model.transcribe(samples)


def test_with_decoder_gives_a_new_recogniser_and_leaves_the_model_alone(trained_digits, ten_digits):
    from asr.decode import BeamSearchDecoder, GreedyDecoder

    model = asr.load_model(trained_digits.best_model)
    stored = model.decoder
    one_two = model.with_beam_search(lexicon=["one", "two"])
    assert isinstance(one_two.decoder, BeamSearchDecoder) and one_two.network is model.network  # the model is shared
    assert model.decoder is stored  # the original still decodes as its file says
    audio = [u.audio for u in ten_digits[:4]]
    assert {t.text for t in one_two.transcribe(audio)} <= {"one", "two", ""}  # only the lexicon's words
    assert [t.text for t in model.transcribe(audio)] == [u.text for u in ten_digits[:4]]
    greedy = one_two.with_greedy()
    assert isinstance(greedy.decoder, GreedyDecoder) and isinstance(one_two.decoder, BeamSearchDecoder)
    assert type(greedy.with_stored_decoding().decoder) is type(stored)


def test_transcribe_prints_file_tab_text_in_order(trained_digits, ten_digits, capsys):
    files = [ten_digits[i].audio for i in (5, 0, 9)]
    assert transcribe_main(["--model", str(trained_digits.best_model), *files]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"{files[0]}\tfive", f"{files[1]}\tzero", f"{files[2]}\tnine"]


def test_transcribe_json_has_words_and_times(trained_digits, ten_digits, capsys):
    assert main(["transcribe", "--model", str(trained_digits.best_model), "--format", "json",
                 ten_digits[7].audio]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["text"] == "seven"
    assert set(record["words"][0]) == {"word", "start", "end", "confidence"}


def test_transcribe_with_beam_and_lexicon(trained_digits, ten_digits, tmp_path, capsys):
    lexicon = tmp_path / "words.txt"
    lexicon.write_text("\n".join(u.text for u in ten_digits) + "\n")
    assert transcribe_main(["--model", str(trained_digits.best_model), "--beam", "8", "--lexicon", str(lexicon),
                            ten_digits[2].audio]) == 0
    assert capsys.readouterr().out.strip().endswith("\ttwo")


def test_bad_file_among_good_ones(trained_digits, ten_digits, tmp_path, capsys):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF....garbage")
    files = [ten_digits[1].audio, str(bad), ten_digits[4].audio]
    assert transcribe_main(["--model", str(trained_digits.best_model), *files]) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [f"{files[0]}\tone", f"{files[2]}\tfour"]
    assert captured.err.count("\n") == 1 and "broken.wav" in captured.err and "Traceback" not in captured.err


def test_missing_model_is_one_line_error(tmp_path):
    process = subprocess.run([sys.executable, "-m", "asr", "transcribe", "--model", str(tmp_path / "x.pt"), "a.wav"],
                             capture_output=True, text=True)
    assert process.returncode == 2
    assert process.stderr.count("\n") == 1
    assert process.stderr.startswith(f"asr: error: {tmp_path / 'x.pt'}: model file not found")
    assert "digits (digits-en.onnx)" in process.stderr  # the packaged names a --model may give instead


def test_evaluate_and_build_lm_commands(trained_digits, ten_digits, tmp_path, capsys):
    from asr.manifest import write_manifest

    manifest = tmp_path / "test.jsonl"
    write_manifest(manifest, ten_digits)
    out = tmp_path / "per_utt.jsonl"
    assert main(["evaluate", "--model", str(trained_digits.best_model), "--manifest", str(manifest),
                 "--output", str(out)]) == 0
    assert "WER 0.00%" in capsys.readouterr().out
    assert len(out.read_text().splitlines()) == 10
    text = tmp_path / "text.txt"
    text.write_text("one two\nthree\n")
    assert main(["build-lm", "--text", str(text), "--output", str(tmp_path / "lm.arpa")]) == 0
    assert (tmp_path / "lm.arpa").read_text().startswith("\\data\\")


def test_help_documents_every_option():
    import argparse

    from asr.cli import build_parser

    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in subparsers.choices.items():
        for action in sub._actions:
            assert action.help, f"asr {name}: option {action.option_strings or action.dest} has no help"
        process = subprocess.run([sys.executable, "-m", "asr", name, "--help"], capture_output=True, text=True)
        assert process.returncode == 0 and "usage: asr " + name in process.stdout


def test_transcribe_resamples_other_rates(trained_digits, ten_digits, tmp_path, capsys):
    samples, rate = sf.read(ten_digits[6].audio, dtype="float32")
    import torch
    import torchaudio.functional as AF

    up = AF.resample(torch.from_numpy(samples), rate, 44100).numpy()
    path = tmp_path / "six_44k.flac"
    sf.write(path, np.stack([up, up], 1), 44100)
    assert transcribe_main(["--model", str(trained_digits.best_model), str(path)]) == 0
    assert capsys.readouterr().out.strip() == f"{path}\tsix"
