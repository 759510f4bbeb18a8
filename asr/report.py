"""Small helpers for recipe results: decoding a test set several ways and writing Markdown tables."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from asr.decoding import Decoding
from asr.evaluate import Evaluation, evaluate
from asr.inference import BaseRecognizer
from asr.manifest import Utterance

#: A decoding variant: a name and a function that gives the recogniser that decodes so.
Variant = tuple[str, Callable[[BaseRecognizer], BaseRecognizer]]


def evaluate_variants(recognizer: BaseRecognizer, utterances: Sequence[Utterance], variants: Sequence[Variant],
                      output_dir: str | os.PathLike[str] | None = None, tag: str = "test") -> dict[str, Evaluation]:
    """Evaluate ``utterances`` once per decoding variant.

    Per variant, ``output_dir`` receives ``TAG.VARIANT.jsonl`` (per utterance) and ``TAG.VARIANT.errors.md``
    (the error report: confusions and alignments, worst first).
    """
    results = {}
    for name, decoding in variants:
        stem = None if output_dir is None else Path(output_dir) / f"{tag}.{name.replace(' ', '_')}"
        results[name] = evaluate(decoding(recognizer), utterances, None if stem is None else f"{stem}.jsonl",
                                 report=None if stem is None else f"{stem}.errors.md")
    return results


def choose_decoding(recognizer: BaseRecognizer, valid: Sequence[Utterance], choices: Sequence[Decoding],
                    lexicon: Sequence[str] | None = None, lm: str | os.PathLike[str] | None = None,
                    ) -> tuple[Decoding, list[list[object]]]:
    """The decoding of ``choices`` (each with ``lexicon`` and the ARPA file ``lm`` where given) with the lowest
    WER on ``valid`` (ties: the earlier, simpler one), and one table row per choice: beam, LM weight, word score,
    WER."""
    if not choices:
        raise ValueError("choose_decoding needs at least one choice")
    rows: list[list[object]] = []
    best: tuple[float, Decoding] | None = None
    for choice in choices:
        beam = choice.overridden(lexicon=lexicon, lm=lm)
        variant = [("beam", lambda r, b=beam: r.with_decoding(b))]
        wer = evaluate_variants(recognizer, valid, variant)["beam"].score.wer
        rows.append([beam.beam_size, beam.lm_weight, beam.word_score, percent(wer)])
        if best is None or wer < best[0]:
            best = (wer, beam)
    return best[1], rows


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def provenance() -> str:
    """Commit and date, for results files."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                check=True, cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return f"commit {commit}, {datetime.date.today().isoformat()}"


def results_header(title: str, started: float, detail: str = "") -> str:
    """The head of every recipe's results.md: title, commit, date, minutes since ``started`` (a
    ``time.time()``), and the command that ran, with the script path as seen from the repository root."""
    script = Path(sys.argv[0]).resolve()
    root = Path(__file__).resolve().parents[1]
    shown = script.relative_to(root) if script.is_relative_to(root) else Path(sys.argv[0])
    command = " ".join(["python", shown.as_posix(), *sys.argv[1:]])
    minutes = (time.time() - started) / 60
    return (f"# {title}\n\n{provenance()}; {minutes:.1f} minutes on this machine{detail}.\n\n"
            f"Command: `{command}`\n\n")


def percent(value: float) -> str:
    return f"{100 * value:.2f}%"
