"""The model spec: a model file carries its decoding (beam, lexicon, LM) in .pt and .onnx alike, flags only
override it, older files are migrated, and beam search with the stored LM runs without PyTorch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from asr.checkpoint import atomic_save, safe_load
from asr.cli import main as asr_main
from asr.cli import transcribe_main
from asr.decode import BeamSearchDecoder, GreedyDecoder
from asr.decoding import Decoding
from asr.errors import AsrError
from asr.lm import build_arpa, write_arpa
from asr.loading import load_model
from asr.onnx_export import export_onnx
from asr.spec import FORMAT_VERSION, spec_from_dict

WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


@pytest.fixture(scope="module")
def with_decoding(trained_digits, tmp_path_factory) -> tuple[Path, Path]:
    """The test model with beam 8, the ten-word lexicon and a bigram LM stored in it, as .pt and .onnx."""
    folder = tmp_path_factory.mktemp("spec")
    lm = folder / "digits.arpa"
    write_arpa(build_arpa([" ".join(WORDS[i:i + 3]) for i in range(8)], order=2), lm)
    model = load_model(trained_digits.best_model)
    model = model.with_default_decoding(Decoding.beam(beam_size=8, lm_weight=0.7, word_score=0.5).overridden(
        lexicon=WORDS, lm=lm))
    model.save(folder / "model.pt")
    lm.unlink()  # the model file must not need it any more
    return folder / "model.pt", export_onnx(load_model(folder / "model.pt"), folder / "model.onnx")


def test_saved_decoding_comes_back_from_pt_and_onnx(with_decoding, ten_digits):
    pt, onnx = with_decoding
    for path in (pt, onnx):
        model = load_model(path)
        assert isinstance(model.decoder, BeamSearchDecoder), path
        assert model.decoding.beam_size == 8 and model.decoding.lm_weight == 0.7
        assert list(model.decoding.lexicon) == WORDS and "\\2-grams:" in model.decoding.lm_arpa
        assert model.decoder.words == WORDS
        assert [model.transcribe(u.audio).text for u in ten_digits] == WORDS
    assert load_model(pt).spec.to_dict() == {**load_model(onnx).spec.to_dict()}


def test_flags_override_only_what_they_name(with_decoding, ten_digits, capsys):
    pt, _ = with_decoding
    assert transcribe_main(["--model", str(pt), "--greedy", ten_digits[3].audio]) == 0
    assert capsys.readouterr().out.strip().endswith("\tthree")
    assert transcribe_main(["--model", str(pt), "--greedy", "--beam", "4", ten_digits[3].audio]) == 2
    assert "--greedy cannot be combined with --beam" in capsys.readouterr().err
    from asr.cli import _apply_decoding_options, build_parser

    args = build_parser().parse_args(["transcribe", "--model", str(pt), "--beam", "3", "x.wav"])
    model = load_model(pt)
    beam3 = _apply_decoding_options(model, args)
    assert beam3.decoder.config.beam_size == 3 and beam3.decoder.config.lm_weight == 0.7
    assert beam3.decoder.words == WORDS  # the stored lexicon stays unless --lexicon replaces it
    assert model.decoder.config.beam_size == 8  # the loaded model still decodes as its file says
    args = build_parser().parse_args(["transcribe", "--model", str(pt), "--greedy", "x.wav"])
    assert isinstance(_apply_decoding_options(model, args).decoder, GreedyDecoder)


def test_version_1_files_are_migrated_and_newer_ones_refused(trained_digits, tmp_path):
    package = safe_load(trained_digits.best_model)
    old = {k: v for k, v in package.items() if k not in ("features", "model", "decoding")}
    old.update(format_version=1, feature_config=package["features"], model_config=package["model"])
    atomic_save(old, tmp_path / "v1.pt")
    model = load_model(tmp_path / "v1.pt")
    assert model.decoding == Decoding() and isinstance(model.decoder, GreedyDecoder)
    assert model.spec.features == package["features"]
    with pytest.raises(AsrError, match="newer"):
        spec_from_dict({**package, "format_version": FORMAT_VERSION + 1}, "x.pt")
    with pytest.raises(AsrError, match="decoding method"):
        spec_from_dict({**package, "decoding": {"method": "viterbi"}}, "x.pt")


def test_onnx_beam_search_with_stored_lm_never_imports_torch(with_decoding, ten_digits, tmp_path):
    _, onnx = with_decoding
    import soundfile as sf

    data, rate = sf.read(ten_digits[4].audio)
    resampled = tmp_path / "four_at_44k.wav"
    sf.write(resampled, data.repeat(2), 16000)  # another rate, so resampling runs too
    code = ("import sys\nfrom asr.cli import transcribe_main\n"
            f"status = transcribe_main(['--model', {str(onnx)!r}, {ten_digits[6].audio!r}, {str(resampled)!r}])\n"
            "assert status == 0 and 'torch' not in sys.modules, sorted(m for m in sys.modules if 'torch' in m)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].endswith("\tsix") and lines[1].endswith("\tfour")
    assert "Loading the LM" not in result.stderr and "binary" not in result.stderr  # KenLM's note is silenced


def test_evaluate_uses_the_stored_decoding(with_decoding, ten_digits, tmp_path, capsys):
    from asr.manifest import write_manifest

    pt, _ = with_decoding
    write_manifest(tmp_path / "m.jsonl", ten_digits)
    assert asr_main(["evaluate", "--model", str(pt), "--manifest", str(tmp_path / "m.jsonl")]) == 0
    assert "WER 0.00%" in capsys.readouterr().out
