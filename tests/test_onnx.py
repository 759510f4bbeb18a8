"""ONNX export: the exported model gives the same transcripts, word times and log-probabilities, and runs
without PyTorch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from asr.decoding import Decoding
from asr.errors import AsrError
from asr.loading import load_model
from asr.onnx_export import export_onnx


@pytest.fixture(scope="module")
def exported(trained_digits, tmp_path_factory) -> Path:
    return export_onnx(load_model(trained_digits.best_model), tmp_path_factory.mktemp("onnx") / "model.onnx")


def _test_files(trained_digits, ten_digits) -> list[str]:
    # isolated digits and connected strings together: one batch with lengths from 0.3 s to several seconds
    strings = sorted((Path(trained_digits.best_model).parent / "connected").rglob("*.wav"))
    return [u.audio for u in ten_digits] + [str(p) for p in strings]


def test_exported_model_gives_the_same_transcripts_and_times(trained_digits, ten_digits, exported):
    files = _test_files(trained_digits, ten_digits)
    torch_model, onnx_model = load_model(trained_digits.best_model), load_model(exported)
    assert type(onnx_model).__name__ == "OnnxRecognizer"
    expected = torch_model.transcribe(files, batch_size=32)
    got = onnx_model.transcribe(files, batch_size=32)
    assert [t.text for t in got] == [t.text for t in expected]
    for a, b in zip(expected, got, strict=True):
        assert [(w.word, w.start, w.end) for w in a.words] == [(w.word, w.start, w.end) for w in b.words]

    waveforms = [torch_model.load(f) for f in files]
    log_probs_a, lengths_a = torch_model.log_probs(waveforms)
    log_probs_b, lengths_b = onnx_model.log_probs(waveforms)
    assert isinstance(log_probs_b, np.ndarray)
    assert lengths_a.tolist() == lengths_b.tolist()
    for i, n in enumerate(lengths_a.tolist()):  # padded frames may differ; valid ones must not
        np.testing.assert_allclose(log_probs_b[i, :n], log_probs_a[i, :n].numpy(), atol=1e-4, rtol=1e-4)


def test_resampled_input_and_beam_search_match_too(trained_digits, ten_digits, exported):
    torch_model, onnx_model = load_model(trained_digits.best_model), load_model(exported)
    samples = torch_model.load(ten_digits[3].audio)
    at_16k = np.repeat(samples, 2)  # a crude 16 kHz copy: both recognisers resample it the same way
    assert onnx_model.transcribe(at_16k, sample_rate=16000).text == torch_model.transcribe(at_16k, 16000).text
    files = [u.audio for u in ten_digits]
    digits = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    torch_model, onnx_model = (model.with_beam_search(lexicon=digits) for model in (torch_model, onnx_model))
    assert [t.text for t in onnx_model.transcribe(files)] == [t.text for t in torch_model.transcribe(files)]


def test_layout_2_files_from_before_the_one_front_end_still_run(trained_digits, ten_digits, tmp_path,
                                                                 monkeypatch):
    import onnx

    import asr.onnx_export as onnx_export

    torch_model = load_model(trained_digits.best_model)
    pad = torch_model.extractor.pad

    class PrePadded(onnx_export.WaveformModel):  # layout 2's input: each row reflect-padded by the caller
        def forward(self, waveforms, num_samples):  # noqa: ANN001, ANN202
            unpadded = torch.nn.functional.pad(waveforms[:, pad:], (0, pad))  # the same width, samples first
            return super().forward(unpadded, num_samples)

    monkeypatch.setattr(onnx_export, "WaveformModel", PrePadded)
    monkeypatch.setattr(onnx_export, "GRAPH_LAYOUT", 2)
    path = export_onnx(torch_model, tmp_path / "layout2.onnx")
    graph = onnx.load(path)
    settings = json.loads(graph.metadata_props[0].value)
    settings["graph"]["pad"] = pad
    graph.metadata_props[0].value = json.dumps(settings)
    onnx.save(graph, path)
    files = _test_files(trained_digits, ten_digits)
    old = load_model(path)
    assert old.pad == pad
    assert [t.text for t in old.transcribe(files)] == [t.text for t in torch_model.transcribe(files)]


def test_transcribe_with_an_onnx_model_never_imports_torch(exported, ten_digits):
    code = ("import sys\nfrom asr.cli import transcribe_main\n"
            f"status = transcribe_main(['--model', {str(exported)!r}, {ten_digits[6].audio!r}])\n"
            "assert status == 0 and 'torch' not in sys.modules, sorted(m for m in sys.modules if 'torch' in m)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("\tsix")


def test_an_onnx_model_refuses_what_it_cannot_do(exported, tmp_path):
    model = load_model(exported)
    with pytest.raises(AsrError, match=".onnx file"):
        model.save(tmp_path / "back.pt")
    with pytest.raises(AsrError, match="not saved"):
        model.quantized().save(tmp_path / "int8.onnx")


def test_an_onnx_model_quantizes_into_a_new_recogniser_that_reads_the_same(fsdd_dir):
    """``quantized()`` is in the one contract (the ``.pt`` side: tests/test_quantize.py): the packaged ONNX
    model's copy runs onnxruntime's int8 weights, as ``asr export --int8`` writes them; the model it came from
    stays float, and both read the word."""
    model = load_model("digits")
    int8 = model.quantized()
    assert int8 is not model and int8.is_quantized and not model.is_quantized and int8.quantized() is int8
    audio = fsdd_dir / "7_jackson_3.wav"
    assert model.transcribe(audio).text == int8.transcribe(audio).text == "seven"


def test_load_model_runs_an_onnx_model_on_the_threads_asked():
    assert load_model("digits", threads=1).session.get_session_options().intra_op_num_threads == 1
    with pytest.raises(AsrError, match="at least 1"):
        load_model("digits", threads=0)


def test_an_onnx_model_saves_its_new_default_decoding(exported, tmp_path, ten_digits):
    """Both back ends keep the same contract: ``with_default_decoding`` returns a new recogniser, whose
    ``save`` writes a model file that decodes so, and the model it came from is unchanged."""
    model = load_model(exported)
    lexicon = tuple(sorted({u.text for u in ten_digits}))
    edited = model.with_default_decoding(Decoding.beam(beam_size=4, lexicon=lexicon))
    assert model.stored_decoding.method == "greedy" and edited.stored_decoding.lexicon == lexicon
    assert edited.spec.decoding == edited.stored_decoding and model.spec.decoding.method == "greedy"
    edited.save(tmp_path / "edited.onnx")
    again = load_model(tmp_path / "edited.onnx")
    assert again.stored_decoding == edited.stored_decoding and again.decoding == again.stored_decoding
    assert again.transcribe(ten_digits[0].audio).text == model.transcribe(ten_digits[0].audio).text


def test_foreign_and_corrupt_onnx_files_are_clear_errors(exported, tmp_path):
    import onnx

    foreign = onnx.load(exported)
    del foreign.metadata_props[:]
    onnx.save(foreign, tmp_path / "foreign.onnx")
    with pytest.raises(AsrError, match="not one exported by this toolkit"):
        load_model(tmp_path / "foreign.onnx")
    older = onnx.load(exported)
    settings = json.loads(older.metadata_props[0].value)
    del settings["graph"]  # files from the first export layout had no graph entry
    older.metadata_props[0].value = json.dumps(settings)
    onnx.save(older, tmp_path / "older.onnx")
    with pytest.raises(AsrError, match="export the .pt model again"):
        load_model(tmp_path / "older.onnx")
    (tmp_path / "corrupt.onnx").write_bytes(exported.read_bytes()[:1000])
    with pytest.raises(AsrError, match="not an ONNX model file"):
        load_model(tmp_path / "corrupt.onnx")


def test_export_command_then_transcribe_with_the_onnx_file(trained_digits, ten_digits, tmp_path):
    out = tmp_path / "digits.onnx"
    run = [sys.executable, "-m", "asr"]
    subprocess.run([*run, "export", "--model", str(trained_digits.best_model), "--output", str(out)], check=True,
                   capture_output=True, timeout=300)
    result = subprocess.run([*run, "transcribe", "--model", str(out), ten_digits[6].audio], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("\tsix")


def test_int8_export_of_an_onnx_model_is_smaller_and_transcribes_alike(ten_digits, tmp_path):
    """``asr export --int8`` of an exported model runs on onnxruntime's quantizer alone: PyTorch is never imported
    (the runtime install plus the onnx package is enough). A packaged model's name means its file."""
    from asr.loading import packaged_model_path

    source, out = packaged_model_path("digits"), tmp_path / "digits-int8.onnx"
    run = [sys.executable, "-m", "asr", "export", "--model", "digits", "--output", str(out), "--int8"]
    code = ("import sys\nfrom asr.cli import main\n"
            f"status = main({run[3:]!r})\n"
            "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if 'torch' in m)\nsys.exit(status)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "int8" in done.stdout and not done.stderr.strip(), done.stderr
    assert out.stat().st_size < 0.4 * source.stat().st_size  # 8-bit weights
    float_model, int8_model = load_model(source), load_model(out)
    assert int8_model.is_quantized and not float_model.is_quantized
    assert int8_model.spec.decoding == float_model.spec.decoding  # the settings travel with the weights
    paths = [u.audio for u in ten_digits]
    same = [a.text == b.text for a, b in zip(float_model.transcribe(paths), int8_model.transcribe(paths), strict=True)]
    assert sum(same) >= 9, same  # 8-bit rounding may flip a close call, not the model
    again = subprocess.run([*run[:5], str(out), "--output", str(tmp_path / "twice.onnx"), "--int8"],
                           capture_output=True, text=True, timeout=300)
    assert again.returncode != 0 and "int8 already" in again.stderr and "Traceback" not in again.stderr
