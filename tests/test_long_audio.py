"""Long files are cut at pauses and transcribed piece by piece, with nothing lost or doubled at the seams."""

from __future__ import annotations

import numpy as np
import soundfile as sf

from asr.loading import load_model
from asr.scoring import score
from asr.segment import iter_segments


def test_three_minutes_of_digits(trained_digits, ten_digits, tmp_path):
    rng = np.random.default_rng(0)
    pieces, expected = [], []
    for _ in range(20):
        for index in rng.permutation(10):
            data, rate = sf.read(ten_digits[index].audio, dtype="float32")
            pieces += [data, np.zeros(int(rate * rng.uniform(0.3, 0.7)), np.float32)]
            expected.append(ten_digits[index].text)
    path = tmp_path / "long.wav"
    sf.write(path, np.concatenate(pieces), 8000)
    assert sf.info(path).duration > 60

    segments = list(iter_segments(path, 8000, max_seconds=20.0))
    assert len(segments) >= 5
    assert all(len(w) <= 20 * 8000 for _, w in segments)
    assert sum(len(w) for _, w in segments) == sf.info(path).frames  # every sample once

    model = load_model(trained_digits.best_model).use_beam_search(lexicon=[u.text for u in ten_digits])
    result = model.transcribe(str(path))
    # The tiny test model may miss a word anywhere (its weights depend on the CPU's float kernels); what
    # this test guards is the seams: a lost or doubled piece would cost many words, not one or two.
    assert score([" ".join(expected)], [result.text]).wer <= 0.02, result.text
    starts = [w.start for w in result.words]
    assert starts == sorted(starts) and result.words[-1].end <= sf.info(path).duration + 0.05
