"""Word and character error rates with jiwer."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import jiwer

from asr.text import normalize_text


@dataclass
class ErrorCounts:
    """Edit operations between references and hypotheses, at one level (words or characters)."""

    substitutions: int
    deletions: int
    insertions: int
    reference_length: int

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def rate(self) -> float:
        """Errors / reference length (0 when the references are empty and nothing was inserted)."""
        if self.reference_length == 0:
            return 0.0 if self.errors == 0 else float("inf")
        return self.errors / self.reference_length


@dataclass
class Score:
    words: ErrorCounts
    chars: ErrorCounts

    @property
    def wer(self) -> float:
        return self.words.rate

    @property
    def cer(self) -> float:
        return self.chars.rate

    def summary(self) -> str:
        w = self.words
        return (f"WER {100 * self.wer:.2f}% ({w.errors}/{w.reference_length}: {w.substitutions} sub, "
                f"{w.deletions} del, {w.insertions} ins)  CER {100 * self.cer:.2f}%")


def _counts(output: jiwer.WordOutput | jiwer.CharacterOutput, references: Sequence[str]) -> ErrorCounts:
    return ErrorCounts(output.substitutions, output.deletions, output.insertions,
                       output.substitutions + output.deletions + output.hits)


def score(references: Sequence[str], hypotheses: Sequence[str]) -> Score:
    """Corpus-level WER and CER of normalised texts (both sides normalised with :func:`normalize_text`)."""
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    refs = [normalize_text(r) for r in references]
    hyps = [normalize_text(h) for h in hypotheses]
    # jiwer refuses empty references; score those utterances by hand (every hypothesis word is inserted).
    pairs = [(r, h) for r, h in zip(refs, hyps, strict=True) if r]
    extra_words = sum(len(h.split()) for r, h in zip(refs, hyps, strict=True) if not r)
    extra_chars = sum(len(h) for r, h in zip(refs, hyps, strict=True) if not r)
    if pairs:
        r, h = zip(*pairs, strict=True)
        words = _counts(jiwer.process_words(list(r), list(h)), r)
        chars = _counts(jiwer.process_characters(list(r), list(h)), r)
    else:
        words, chars = ErrorCounts(0, 0, 0, 0), ErrorCounts(0, 0, 0, 0)
    words.insertions += extra_words
    chars.insertions += extra_chars
    return Score(words, chars)


def write_per_utterance(
    path: str | os.PathLike[str], ids: Sequence[str], references: Sequence[str], hypotheses: Sequence[str]
) -> None:
    """One JSON line per utterance: id, reference, hypothesis, word errors and WER."""
    with open(path, "w", encoding="utf-8") as out:
        for utt_id, ref, hyp in zip(ids, references, hypotheses, strict=True):
            s = score([ref], [hyp])
            record = {"id": utt_id, "ref": normalize_text(ref), "hyp": normalize_text(hyp),
                      "word_errors": s.words.errors, "words": s.words.reference_length,
                      "wer": round(s.wer, 4), **{f"{k}": v for k, v in asdict(s.words).items()
                                                  if k != "reference_length"}}
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
