"""Word-confidence calibration (asr.confidence): the fit recovers a known curve, a model file carries it, and the
reliability table counts what it says."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from asr.confidence import (
    METADATA_KEY,
    Calibration,
    expected_calibration_error,
    fit_calibration,
    reliability_rows,
    word_outcomes,
)
from asr.decode import Transcript, Word
from asr.errors import AsrError
from asr.loading import load_model

SEVEN = Path(__file__).resolve().parents[2] / "shared" / "data" / "fsdd" / "recordings" / "7_george_3.wav"


def test_the_fit_recovers_an_over_sure_decoders_curve_and_lowers_its_error():
    rng = np.random.default_rng(0)
    raw = 1 / (1 + np.exp(-rng.normal(3.0, 2.0, 4000)))  # over-sure: true p = sigmoid(0.5 logit(raw) - 0.5)
    truth = Calibration(0.5, -0.5)
    right = rng.random(raw.size) < truth(raw)
    curve = fit_calibration(raw, right)
    assert abs(curve.a - 0.5) < 0.08 and abs(curve.b + 0.5) < 0.15
    assert expected_calibration_error(curve(raw), right) < expected_calibration_error(raw, right) / 2


def test_word_outcomes_follow_the_alignment():
    words = [Word(w, 0.0, 0.1, 0.9) for w in "one two nine four".split()]
    assert word_outcomes("one two three four", Transcript("one two nine four", words)) == [True, True, False, True]
    assert word_outcomes("", Transcript("one", words[:1])) == [False]
    rows = reliability_rows([0.95, 0.96, 0.5], [True, False, True])
    assert rows == [["0.50-0.70", 1, "0.500", "1.000"], ["0.95-0.99", 2, "0.955", "0.500"]]


def test_a_model_file_carries_its_calibration(tmp_path):
    if not SEVEN.exists():
        pytest.skip("needs ../shared/data")
    model = load_model("digits")
    raw = model.transcribe(SEVEN).words[0].confidence
    edited = model.with_default_decoding(model.stored_decoding)
    edited.metadata = {**model.metadata, METADATA_KEY: Calibration(0.5, -1.0).to_metadata()}
    edited.save(tmp_path / "calibrated.onnx")
    again = load_model(tmp_path / "calibrated.onnx").transcribe(SEVEN).words[0]
    assert again.word == "seven" and again.confidence == pytest.approx(float(Calibration(0.5, -1.0)(raw)), abs=1e-4)
    edited.metadata = {METADATA_KEY: {"a": "steep"}}
    with pytest.raises(AsrError, match="calibration"):
        edited.transcribe(SEVEN)
