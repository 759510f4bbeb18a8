"""Small helpers for recipe results: decoding a test set several ways, Markdown tables, the learning curve from a
training's metrics log, and the head of a results.md (the commit and command it came from, found from the running
script or the working directory, so an installed package reports them too)."""

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
from asr.plots import read_metrics

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


def epoch_curve(metrics: str | os.PathLike[str], throughput: bool = False) -> str:
    """A results.md section from a training's metrics log (:func:`asr.plots.read_metrics`): training loss and
    validation WER and CER (greedy) after each epoch, with the training frames per second when ``throughput``;
    "" when no epoch was validated."""
    epochs = [row for row in read_metrics(metrics)[0] if "valid_wer" in row]
    if not epochs:
        return ""
    headers = ["epoch", "training loss", "validation WER", "validation CER"]
    rows = [[r["epoch"], f"{r['train_loss']:.1f}", percent(r["valid_wer"]), percent(r["valid_cer"])] for r in epochs]
    if throughput:
        headers.append("training frames per second")
        for row, epoch in zip(rows, epochs, strict=True):
            row.append(f"{epoch.get('frames_per_second', 0):.0f}")
    return "\n## Learning curve over the epochs (validation speakers, greedy)\n\n" + markdown_table(headers, rows)


def repository_root() -> Path | None:
    """The git work tree the running script (``sys.argv[0]``) lies in, else the one the working directory lies
    in; ``None`` outside any. Never the package's own folder: installed from a wheel, that is site-packages."""
    script = Path(sys.argv[0]).resolve() if sys.argv and sys.argv[0] else None
    for start in (script.parent if script is not None and script.is_file() else None, Path.cwd()):
        for folder in () if start is None else (start, *start.parents):
            if (folder / ".git").exists():  # a folder, or a file in a linked work tree or submodule
                return folder
    return None


def provenance(root: str | os.PathLike[str] | None = None) -> str:
    """Commit and date, for results files: the commit checked out in ``root`` (default:
    :func:`repository_root`), or "commit unknown" outside a repository or without git."""
    root = repository_root() if root is None else root
    commit = "unknown"
    if root is not None:
        try:
            commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                    check=True, cwd=root, timeout=30).stdout.strip() or "unknown"
        except (OSError, subprocess.SubprocessError):
            pass
    return f"commit {commit}, {datetime.date.today().isoformat()}"


def results_header(title: str, started: float, detail: str = "") -> str:
    """The head of every recipe's results.md: title, commit, date, minutes since ``started`` (a
    ``time.time()``), and the command that ran, with the script path as seen from the repository root
    (:func:`repository_root`; as given outside a repository)."""
    root = repository_root()
    script = Path(sys.argv[0]).resolve()
    inside = root is not None and script.is_file() and script.is_relative_to(root)
    shown = script.relative_to(root) if inside else Path(sys.argv[0])
    command = " ".join(["python", shown.as_posix(), *sys.argv[1:]])
    minutes = (time.time() - started) / 60
    return (f"# {title}\n\n{provenance(root)}; {minutes:.1f} minutes on this machine{detail}.\n\n"
            f"Command: `{command}`\n\n")


def percent(value: float) -> str:
    return f"{100 * value:.2f}%"
