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
    score: Score
    ids: list[str]
    references: list[str]
    hypotheses: list[str]
    failed: list[tuple[str, str]] = field(default_factory=list)


def evaluate(
    recognizer: BaseRecognizer,
    utterances: Sequence[Utterance],
    output: str | os.PathLike[str] | None = None,
    batch_size: int = 16,
    report: str | os.PathLike[str] | None = None,
) -> Evaluation:
    """Transcribe every utterance and score against its text.

    Files longer than a minute are cut at pauses (:meth:`BaseRecognizer.transcribe_files`); unreadable
    audio is reported (in ``failed`` and the log) and left out of the score.
    ``output``, when given, receives one JSON line per utterance (see :func:`write_per_utterance`);
    ``report`` a Markdown error report (see :func:`asr.error_report.error_report`).
    """
    ids, refs, hyps, failed = [], [], [], []
    results = recognizer.transcribe_files([utt.audio for utt in utterances], batch_size)
    for utt, (_, result) in tqdm(zip(utterances, results, strict=True), total=len(utterances), desc="decoding",
                                 unit="file", disable=None, leave=False):
        if isinstance(result, AsrError):
            failed.append((utt.id, str(result)))
            log.warning("skipped %s", result)
            continue
        ids.append(utt.id)
        refs.append(utt.text)
        hyps.append(result.text)
    if not ids:
        raise AsrError("no utterance could be decoded")
    if output is not None:
        write_per_utterance(output, ids, refs, hyps)
    if report is not None:
        write_error_report(report, ids, refs, hyps)
    return Evaluation(score(refs, hyps), ids, refs, hyps, failed)
