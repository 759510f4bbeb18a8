"""Int8 dynamic quantization: the same transcripts as the float model, layers really converted."""

from __future__ import annotations

import subprocess
import sys

import pytest
from torch.ao.nn.quantized import dynamic as quantized_dynamic

from asr.errors import AsrError
from asr.loading import load_model


def test_quantized_model_transcribes_like_the_float_model(trained_digits, ten_digits):
    files = [u.audio for u in ten_digits]
    float_model = load_model(trained_digits.best_model)
    int8_model = load_model(trained_digits.best_model).quantized()
    assert isinstance(int8_model.network.rnn, quantized_dynamic.LSTM)
    assert isinstance(int8_model.network.output, quantized_dynamic.Linear)
    assert not isinstance(float_model.network.rnn, quantized_dynamic.LSTM)
    expected = [t.text for t in float_model.transcribe(files)]
    assert expected == [u.text for u in ten_digits]  # the float model knows these ten
    assert [t.text for t in int8_model.transcribe(files)] == expected
    # word times come from the same frames, so they agree to within one output frame
    for a, b in zip(float_model.transcribe(files), int8_model.transcribe(files), strict=True):
        assert [w.word for w in a.words] == [w.word for w in b.words]
        for wa, wb in zip(a.words, b.words, strict=True):
            assert abs(wa.start - wb.start) <= float_model.frame_seconds + 1e-6


def test_a_quantized_model_is_not_saved(trained_digits, tmp_path):
    with pytest.raises(AsrError, match="quantized"):
        load_model(trained_digits.best_model).quantized().save(tmp_path / "int8.pt")


def test_transcribe_command_quantize_option(trained_digits, ten_digits):
    result = subprocess.run([sys.executable, "-m", "asr", "transcribe", "--model", str(trained_digits.best_model),
                             "--quantize", ten_digits[4].audio], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("\tfour")
