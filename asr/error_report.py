"""A readable error report of an evaluation: totals, frequent confusions, alignments worst first."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import jiwer

from asr.scoring import score
from asr.text import normalize_text


@dataclass
class UtteranceErrors:
    """One utterance's word errors and its aligned reference/hypothesis (jiwer's visualisation)."""

    id: str
    errors: int
    words: int
    alignment: str


def _align(utt_id: str, reference: str, hypothesis: str) -> UtteranceErrors:
    if not reference:  # jiwer refuses empty references: every hypothesis word is an insertion
        words = hypothesis.split()
        return UtteranceErrors(utt_id, len(words), 0, f"REF: (empty)\nHYP: {hypothesis}\n")
    output = jiwer.process_words(reference, hypothesis)
    text = jiwer.visualize_alignment(output, show_measures=False, skip_correct=False)
    # drop jiwer's "=== SENTENCE 1 ===" header: the report names the utterance instead
    body = "\n".join(line for line in text.splitlines() if not line.startswith("=== SENTENCE")).strip("\n")
    errors = output.substitutions + output.deletions + output.insertions
    return UtteranceErrors(utt_id, errors, output.hits + output.substitutions + output.deletions, body + "\n")


def confusions(references: Sequence[str], hypotheses: Sequence[str]) -> tuple[Counter, Counter, Counter]:
    """Counts of substituted ``(reference word, hypothesis word)`` pairs, inserted words and deleted words.

    One count per aligned word: a stretch of substitutions in jiwer's alignment (``yes no no -> no yes yes``)
    gives one ``(reference, hypothesis)`` pair per position, never the stretch as a whole (jiwer's own
    ``collect_error_counts`` counts stretches); inserted and deleted stretches count each word.
    """
    substitutions: Counter = Counter()
    insertions: Counter = Counter()
    deletions: Counter = Counter()
    pairs = [(r, h) for r, h in zip(references, hypotheses, strict=True) if r]
    for r, h in zip(references, hypotheses, strict=True):
        if not r:
            insertions.update(h.split())
    if not pairs:
        return substitutions, insertions, deletions
    output = jiwer.process_words([r for r, _ in pairs], [h for _, h in pairs])
    for ref, hyp, chunks in zip(output.references, output.hypotheses, output.alignments, strict=True):
        for chunk in chunks:
            ref_words = ref[chunk.ref_start_idx : chunk.ref_end_idx]
            hyp_words = hyp[chunk.hyp_start_idx : chunk.hyp_end_idx]
            if chunk.type == "substitute":  # jiwer's substitution chunks pair words one to one
                substitutions.update(zip(ref_words, hyp_words, strict=True))
            elif chunk.type == "insert":
                insertions.update(hyp_words)
            elif chunk.type == "delete":
                deletions.update(ref_words)
    return substitutions, insertions, deletions


def error_report(ids: Sequence[str], references: Sequence[str], hypotheses: Sequence[str],
                 title: str = "Error report", top: int = 20) -> str:
    """Markdown: WER/CER with substitutions, deletions and insertions; the ``top`` most frequent
    confusions, insertions and deletions; then every utterance with errors, worst first, aligned."""
    refs = [normalize_text(r) for r in references]
    hyps = [normalize_text(h) for h in hypotheses]
    total = score(refs, hyps)
    w, c = total.words, total.chars
    lines = [f"# {title}", "",
             f"- utterances: {len(refs)}, with errors: "
             f"{sum(r != h for r, h in zip(refs, hyps, strict=True))}",
             f"- WER {100 * total.wer:.2f}% ({w.errors} errors in {w.reference_length} words: "
             f"{w.substitutions} substitutions, {w.deletions} deletions, {w.insertions} insertions)",
             f"- CER {100 * total.cer:.2f}% ({c.errors} errors in {c.reference_length} characters)", ""]
    substitutions, insertions, deletions = confusions(refs, hyps)
    lines += ["## Most frequent substitutions", ""]
    if substitutions:
        lines += ["| reference | recognised as | count |", "|---|---|---|"]
        lines += [f"| {r} | {h} | {n} |" for (r, h), n in substitutions.most_common(top)]
    else:
        lines.append("none")
    for heading, counts in (("Most frequent deletions", deletions), ("Most frequent insertions", insertions)):
        lines += ["", f"## {heading}", ""]
        lines.append(", ".join(f"{word} ({n})" for word, n in counts.most_common(top)) if counts else "none")

    wrong = [_align(i, r, h) for i, r, h in zip(ids, refs, hyps, strict=True) if r != h]
    wrong.sort(key=lambda u: (-u.errors, -u.errors / max(u.words, 1), u.id))
    lines += ["", "## Utterances with errors, worst first", ""]
    if not wrong:
        lines.append("none: every utterance was recognised correctly")
    for utt in wrong:
        lines += [f"### {utt.id}: {utt.errors} error(s) in {utt.words} word(s)", "", "```", utt.alignment.rstrip(),
                  "```", ""]
    return "\n".join(lines).rstrip() + "\n"


def write_error_report(path: str | os.PathLike[str], ids: Sequence[str], references: Sequence[str],
                       hypotheses: Sequence[str], title: str = "Error report") -> None:
    with open(path, "w", encoding="utf-8") as out:
        out.write(error_report(ids, references, hypotheses, title))
