"""Word confidences that mean what they say: among words given 0.9, about nine in ten are right.

A decoder's raw confidence (the geometric mean of a word's token posteriors, :func:`asr.decode.words_from_tokens`)
ranks words well but is over-sure: a CTC network's posteriors sit near 1 even where it is wrong. A
:class:`Calibration` maps it through one logistic curve, ``p = sigmoid(a * logit(raw) + b)``, fitted on the
words of speakers the model never trained on (``bench/bench_confidence.py``) and stored in the model file's
metadata (key :data:`METADATA_KEY`), which the recognisers apply to every word. NumPy only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import jiwer
import numpy as np

from asr.decode import Transcript, Word
from asr.errors import AsrError

#: Model metadata key of the fitted curve: ``{"a": ..., "b": ...}``.
METADATA_KEY = "confidence"
_EPS = 1e-6


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p) - np.log1p(-p)


@dataclass(frozen=True)
class Calibration:
    """``p = sigmoid(a * logit(raw) + b)``; ``a = 1, b = 0`` leaves confidences as they are."""

    a: float = 1.0
    b: float = 0.0

    @classmethod
    def from_metadata(cls, metadata: dict) -> Calibration | None:
        values = metadata.get(METADATA_KEY)
        if values is None:
            return None
        try:
            return cls(float(values["a"]), float(values["b"]))
        except (KeyError, TypeError, ValueError):
            raise AsrError(f"the model file's confidence calibration is not understood ({values!r})") from None

    def to_metadata(self) -> dict[str, float]:
        return {"a": round(self.a, 6), "b": round(self.b, 6)}

    def __call__(self, raw: np.ndarray | float) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(self.a * _logit(np.asarray(raw, dtype=np.float64)) + self.b)))

    def apply(self, transcript: Transcript) -> Transcript:
        """``transcript`` with each word's confidence calibrated (text and times unchanged)."""
        if not transcript.words:
            return transcript
        calibrated = self([w.confidence for w in transcript.words])
        words = [Word(w.word, w.start, w.end, float(c)) for w, c in zip(transcript.words, calibrated, strict=True)]
        return Transcript(transcript.text, words)


def fit_calibration(raw: Sequence[float], correct: Sequence[bool], iterations: int = 50) -> Calibration:
    """The logistic curve over ``logit(raw)`` with the highest likelihood of ``correct`` (Newton's method, with
    a small ridge so that words all right or all wrong still give a finite curve)."""
    x, y = _logit(np.asarray(raw, dtype=np.float64)), np.asarray(correct, dtype=np.float64)
    if x.size < 2:
        raise AsrError("calibrating confidences needs at least two words")
    features = np.stack([x, np.ones_like(x)], axis=1)
    weights = np.zeros(2)  # from p = 0.5 everywhere: IRLS converges from here
    ridge = 1e-3 * np.eye(2)
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-features @ weights))
        gradient = features.T @ (p - y) + ridge @ weights
        hessian = (features * (p * (1 - p))[:, None]).T @ features + ridge
        step = np.linalg.solve(hessian, gradient)
        weights -= step
        if np.abs(step).max() < 1e-8:
            break
    return Calibration(float(weights[0]), float(weights[1]))


def word_outcomes(reference: str, transcript: Transcript) -> list[bool]:
    """For each word of ``transcript``: whether the alignment with ``reference`` finds it right."""
    words = [w.word for w in transcript.words]
    if not words:
        return []
    if not reference.split():
        return [False] * len(words)
    right = [False] * len(words)
    alignment = jiwer.process_words(reference, " ".join(words))
    for chunk in alignment.alignments[0]:
        if chunk.type == "equal":
            for index in range(chunk.hyp_start_idx, chunk.hyp_end_idx):
                right[index] = True
    return right


def reliability_rows(raw: Sequence[float], correct: Sequence[bool],
                     edges: Sequence[float] = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)) -> list[list[object]]:
    """One row per confidence bin: the bin, its words, their mean confidence, the share right."""
    conf, right = np.asarray(raw, dtype=np.float64), np.asarray(correct, dtype=bool)
    rows: list[list[object]] = []
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        inside = (conf >= low) & ((conf < high) if high < 1.0 else (conf <= high))
        if inside.any():
            rows.append([f"{low:.2f}-{high:.2f}", int(inside.sum()), f"{conf[inside].mean():.3f}",
                         f"{right[inside].mean():.3f}"])
    return rows


def expected_calibration_error(raw: Sequence[float], correct: Sequence[bool], bins: int = 10) -> float:
    """Mean |confidence - accuracy| over equal-width bins, weighted by their words."""
    conf, right = np.asarray(raw, dtype=np.float64), np.asarray(correct, dtype=np.float64)
    index = np.minimum((conf * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        inside = index == b
        if inside.any():
            total += inside.sum() * abs(conf[inside].mean() - right[inside].mean())
    return total / max(conf.size, 1)
