"""Evaluation: transcribe a manifest, score it, write per-utterance results."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from tqdm import tqdm

from asr.error_report import write_error_report
from asr.errors import AsrError
from asr.inference import BaseRecognizer
from asr.manifest import Utterance
from asr.scoring import Score, score, write_per_utterance

log = logging.getLogger(__name__)


@dataclass
class Evaluation:
    """The score of the utterances that could be read; ``failed`` holds ``(id, reason)`` for those that could not
    (left out of the score, the per-utterance output and the error report)."""

    score: Score
    ids: list[str]
    references: list[str]
    hypotheses: list[str]
    failed: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        """The score's line, and how many files failed when any did: ``WER ... CER ...; 2 of 3 files could not
        be read (not scored)``."""
        if not self.failed:
            return self.score.summary()
        total = len(self.ids) + len(self.failed)
        return (f"{self.score.summary()}; {len(self.failed)} of {total} files could not be read and are not "
                "scored")


def accuracy(evaluation: Evaluation) -> float:
    """The share of the scored utterances recognised exactly, every word right (for isolated words: word
    accuracy); 0.0 when none was scored."""
    pairs = zip(evaluation.references, evaluation.hypotheses, strict=True)
    return sum(r == h for r, h in pairs) / max(1, len(evaluation.references))


class NothingDecoded(AsrError):
    """No utterance of the manifest could be read; ``failed`` holds each one's ``(id, reason)``."""

    def __init__(self, failed: list[tuple[str, str]]) -> None:
        super().__init__(f"none of the {len(failed)} utterances could be read, so nothing was scored")
        self.failed = failed


def evaluate(
    recognizer: BaseRecognizer,
    utterances: Sequence[Utterance],
    output: str | os.PathLike[str] | None = None,
    batch_size: int = 16,
    report: str | os.PathLike[str] | None = None,
    log_failures: bool = True,
) -> Evaluation:
    """Transcribe every utterance and score against its text.

    Files longer than a minute are cut at pauses (:meth:`BaseRecognizer.transcribe_files`); unreadable
    audio is reported (in ``failed``, and logged once each unless ``log_failures`` is off, as the command line
    prints them itself) and left out of the score; :class:`NothingDecoded` when no file could be read.
    ``output``, when given, receives one JSON line per utterance (see :func:`write_per_utterance`);
    ``report`` a Markdown error report (see :func:`asr.error_report.error_report`).
    """
    ids, refs, hyps, failed = [], [], [], []
    results = recognizer.transcribe_files([utt.audio for utt in utterances], batch_size)
    for utt, (_, result) in tqdm(zip(utterances, results, strict=True), total=len(utterances), desc="decoding",
                                 unit="file", disable=None, leave=False):
        if isinstance(result, AsrError):
            failed.append((utt.id, str(result)))
            if log_failures:
                log.warning("skipped %s", result)
            continue
        ids.append(utt.id)
        refs.append(utt.text)
        hyps.append(result.text)
    if not ids:
        raise NothingDecoded(failed)
    if output is not None:
        write_per_utterance(output, ids, refs, hyps)
    if report is not None:
        write_error_report(report, ids, refs, hyps)
    return Evaluation(score(refs, hyps), ids, refs, hyps, failed)
