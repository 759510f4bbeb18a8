"""Unsupervised adaptation: pseudo-labels from the model's own confident transcripts, then fine-tuning."""

from __future__ import annotations

import subprocess
import sys

import pytest

from asr.adapt import AdaptConfig, adapt, pseudo_label
from asr.errors import AsrError
from asr.loading import load_model
from tests.conftest import DIGITS, digit_utterance


def _accuracy(recognizer, utterances) -> float:  # noqa: ANN001
    hypotheses = recognizer.transcribe([u.audio for u in utterances])
    return sum(h.text == u.text for h, u in zip(hypotheses, utterances, strict=True)) / len(utterances)


@pytest.fixture(scope="module")
def new_recordings(fsdd_dir):
    """Unseen recordings of the training speaker: 200 to adapt on (texts unused), 100 to test on."""
    pool = [digit_utterance(fsdd_dir, d, "jackson", i) for d in range(10) for i in range(10, 30)]
    test = [digit_utterance(fsdd_dir, d, "jackson", i) for d in range(10) for i in range(30, 40)]
    return pool, test


def test_pseudo_labels_are_the_most_confident_transcripts(trained_digits, new_recordings):
    pool, _ = new_recordings
    recognizer = load_model(trained_digits.best_model)
    unlabelled = [type(u)(u.audio, "", u.duration, u.extra) for u in pool[:40]]
    kept = pseudo_label(recognizer, unlabelled, keep=0.5)
    assert len(kept) == 20
    confidences = [u.extra["confidence"] for u in kept]
    assert confidences == sorted(confidences, reverse=True)
    transcripts = {u.audio: t for u, t in zip(unlabelled, recognizer.transcribe([u.audio for u in unlabelled]),
                                              strict=True)}
    assert all(u.text == transcripts[u.audio].text and u.text for u in kept)
    dropped = [min(w.confidence for w in t.words) for a, t in transcripts.items()
               if t.words and a not in {u.audio for u in kept}]
    assert max(dropped) <= min(confidences)


def test_adaptation_without_transcripts_improves_accuracy_on_unseen_recordings(trained_digits, new_recordings):
    pool, test = new_recordings
    recognizer = load_model(trained_digits.best_model)
    recognizer = recognizer.with_beam_search(lexicon=list(DIGITS))
    before = _accuracy(recognizer, test)
    unlabelled = [type(u)(u.audio, "", u.duration, u.extra) for u in pool]  # the references are never seen
    reports = adapt(recognizer, unlabelled, AdaptConfig(rounds=2, epochs=3), progress=False)
    after = _accuracy(recognizer, test)
    assert round(after - before, 6) >= 0.05, (before, after)  # fractions of 100 files: 0.82 - 0.77 is 0.05
    # keep 0.8 of 200, less any utterance transcribed as nothing
    assert [r.decoded for r in reports] == [200, 200] and all(100 <= r.kept <= 160 for r in reports)
    assert reports[-1].losses[-1] < reports[0].losses[0]


def test_adapt_command(tmp_path, trained_digits, fsdd_dir):
    files = [str(fsdd_dir / f"{d}_jackson_{i}.wav") for d in range(10) for i in (11, 12)]
    output = tmp_path / "adapted.pt"

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "asr", "adapt", *args], capture_output=True, text=True)

    done = run("--model", str(trained_digits.best_model), "--output", str(output), "--rounds", "1", "--epochs", "1",
               *files, str(tmp_path / "missing.wav"))
    assert done.returncode == 0, done.stderr
    assert "missing.wav: file not found" in done.stderr and "round 1: 16 of 20 kept" in done.stdout
    adapted, original = load_model(output), load_model(trained_digits.best_model)
    assert adapted.metadata["adapted"]["files"] == 20
    changed = [name for name, weight in adapted.network.state_dict().items()
               if not weight.equal(original.network.state_dict()[name])]
    assert changed and adapted.vocab.tokens == original.vocab.tokens
    for args, message in [(["--model", str(trained_digits.best_model), "--output", str(output)], "give audio files"),
                          (["--model", str(tmp_path / "m.onnx"), "--output", str(output), files[0]], "ONNX"),
                          (["--model", str(trained_digits.best_model), "--output", str(output), "--keep", "0",
                            files[0]], "keep must be in")]:
        failed = run(*args)
        assert failed.returncode == 2 and message in failed.stderr, failed.stderr


def test_a_quantized_model_is_not_fine_tuned(trained_digits, new_recordings):
    recognizer = load_model(trained_digits.best_model).quantized()
    with pytest.raises(AsrError, match="quantized"):
        adapt(recognizer, new_recordings[0][:4], AdaptConfig(rounds=1, epochs=1), progress=False)
