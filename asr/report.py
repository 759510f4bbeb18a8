"""Small helpers for recipe results: decoding a test set several ways and writing Markdown tables."""

from __future__ import annotations

import datetime
import os
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from asr.evaluate import Evaluation, evaluate
from asr.inference import BaseRecognizer
from asr.manifest import Utterance

#: A decoding variant: a name and a function that switches the recognizer to it.
Variant = tuple[str, Callable[[BaseRecognizer], None]]


def evaluate_variants(recognizer: BaseRecognizer, utterances: Sequence[Utterance], variants: Sequence[Variant],
                      output_dir: str | os.PathLike[str] | None = None, tag: str = "test") -> dict[str, Evaluation]:
    """Evaluate ``utterances`` once per decoding variant.

    Per variant, ``output_dir`` receives ``TAG.VARIANT.jsonl`` (per utterance) and ``TAG.VARIANT.errors.md``
    (the error report: confusions and alignments, worst first).
    """
    results = {}
    for name, switch in variants:
        switch(recognizer)
        stem = None if output_dir is None else Path(output_dir) / f"{tag}.{name.replace(' ', '_')}"
        results[name] = evaluate(recognizer, utterances, None if stem is None else f"{stem}.jsonl",
                                 report=None if stem is None else f"{stem}.errors.md")
    recognizer.use_greedy()
    return results


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


def percent(value: float) -> str:
    return f"{100 * value:.2f}%"
