"""ONNX export: the exported model gives the same transcripts, word times and log-probabilities."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from asr.errors import AsrError
from asr.onnx_export import export_onnx
from asr.recognizer import load_model


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
    assert not onnx_model.runs_in_pytorch
    expected = torch_model.transcribe(files, batch_size=32)
    got = onnx_model.transcribe(files, batch_size=32)
    assert [t.text for t in got] == [t.text for t in expected]
    for a, b in zip(expected, got, strict=True):
        assert [(w.word, w.start, w.end) for w in a.words] == [(w.word, w.start, w.end) for w in b.words]

    waveforms = [torch_model.load(f) for f in files]
    log_probs_a, lengths_a = torch_model.log_probs(waveforms)
    log_probs_b, lengths_b = onnx_model.log_probs(waveforms)
    assert torch.equal(lengths_a, lengths_b)
    for i, n in enumerate(lengths_a.tolist()):  # padded frames may differ; valid ones must not
        torch.testing.assert_close(log_probs_b[i, :n], log_probs_a[i, :n], atol=1e-4, rtol=1e-4)


def test_an_onnx_model_refuses_what_it_cannot_do(exported, tmp_path):
    model = load_model(exported)
    with pytest.raises(AsrError, match="onnxruntime"):
        model.save(tmp_path / "back.pt")
    with pytest.raises(AsrError, match="quantize"):
        model.quantize()


def test_foreign_and_corrupt_onnx_files_are_clear_errors(exported, tmp_path):
    import onnx

    foreign = onnx.load(exported)
    del foreign.metadata_props[:]
    onnx.save(foreign, tmp_path / "foreign.onnx")
    with pytest.raises(AsrError, match="not one exported by this toolkit"):
        load_model(tmp_path / "foreign.onnx")
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
