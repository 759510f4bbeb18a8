"""Long files are cut at pauses and transcribed piece by piece, with nothing lost or doubled at the seams."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from asr.loading import load_model
from asr.scoring import score
from asr.segment import iter_blocks


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

    blocks = list(iter_blocks(path, 8000, block_seconds=20.0))
    assert len(blocks) >= 5 and all(len(b) <= 20 * 8000 for b in blocks)
    assert np.array_equal(np.concatenate(blocks), sf.read(path, dtype="float32")[0])  # every sample once, in order
    at_16k = np.concatenate(list(iter_blocks(path, 16000, block_seconds=20.0)))
    assert abs(len(at_16k) - 2 * sf.info(path).frames) <= 2  # resampled as one stream: no seams lost or doubled

    model = load_model(trained_digits.best_model).with_beam_search(lexicon=[u.text for u in ten_digits])
    result = model.transcribe(str(path))
    # The tiny test model may miss a word anywhere (its weights depend on the CPU's float kernels); what
    # this test guards is the seams: a lost or doubled piece would cost many words, not one or two.
    assert score([" ".join(expected)], [result.text]).wer <= 0.02, result.text
    starts = [w.start for w in result.words]
    assert starts == sorted(starts) and result.words[-1].end <= sf.info(path).duration + 0.05


def _long_file(ten_digits, path, rounds: int = 8) -> str:
    """Over a minute of the ten digits in shuffled rounds with pauses; returns the words said."""
    rng = np.random.default_rng(1)
    pieces, expected = [], []
    for _ in range(rounds):
        for index in rng.permutation(10):
            data, rate = sf.read(ten_digits[index].audio, dtype="float32")
            pieces += [data, np.zeros(int(rate * 0.5), np.float32)]
            expected.append(ten_digits[index].text)
    sf.write(path, np.concatenate(pieces), 8000)
    assert sf.info(path).duration > 60
    return " ".join(expected)


def test_transcribe_files_segments_long_files_and_reports_bad_ones_in_order(ten_digits, tmp_path):
    from asr.errors import AsrError
    from asr.evaluate import evaluate
    from asr.manifest import Utterance

    long_path = tmp_path / "long.wav"
    said = _long_file(ten_digits, long_path)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF not really a wave file")
    paths = [ten_digits[3].audio, str(corrupt), str(long_path), str(tmp_path / "missing.wav"), ten_digits[7].audio]
    model = load_model()  # the packaged default model
    results = list(model.transcribe_files(paths, batch_size=2))

    assert [path for path, _ in results] == paths
    assert [isinstance(r, AsrError) for _, r in results] == [False, True, False, True, False]
    assert results[0][1].text == "three" and results[4][1].text == "seven"
    # the default model misses a few connected FSDD digits anywhere (about 8% here); a piece lost or doubled
    # at a cut would cost 5-10 words at once and change the word count
    long_words = results[2][1].text.split()
    assert score([said], [" ".join(long_words)]).wer <= 0.15 and abs(len(long_words) - 80) <= 3, long_words
    assert results[2][1].words[-1].end > 60  # word times run through the whole file, across the cuts

    # evaluate goes the same way: the long file is scored whole, the bad one reported, not fatal
    utterances = [Utterance(str(long_path), said, 0.0, {"id": "long"}),
                  Utterance(str(corrupt), "one", 0.0, {"id": "bad"})]
    evaluation = evaluate(model, utterances)
    assert evaluation.ids == ["long"] and [i for i, _ in evaluation.failed] == ["bad"]
    assert evaluation.score.wer <= 0.15
    # a list of paths through transcribe() raises the first bad file's error
    with pytest.raises(AsrError, match="corrupt.wav"):
        model.transcribe(paths[:2])
