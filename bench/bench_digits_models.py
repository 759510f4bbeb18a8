"""Digits: the packaged English model with the digits grammar against the packaged digits model, on the same
files. Prints WER per corpus and decoding, and the seconds each took.

    python bench/bench_digits_models.py --manifest exp/english-full2/data/dev_test.jsonl

Only the manifest's utterances whose transcript is all digit words are used, grouped by the manifest's
``corpus`` field. Which speakers a model never heard is the manifest's business: the English recipe's
development test holds whole speakers out of the English model's training; the digits model trained on every
FSDD and Heidelberg speaker (so those rows flatter it) and on no speechocean762 or AN4 development-test voice.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asr  # noqa: E402
from asr.grammar import DIGIT_WORDS  # noqa: E402
from asr.scoring import score  # noqa: E402

#: (row name, packaged model, grammar or None for the model's stored decoding)
SYSTEMS = (("digits, stored", "digits", None), ("digits, --grammar digits", "digits", "digits"),
           ("english, stored", "english", None), ("english, --grammar digits", "english", "digits"))


def digit_utterances(manifest: Path) -> dict[str, list[tuple[str, str]]]:
    """``corpus -> [(audio, text)]`` of the utterances that are digit words only."""
    groups: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for line in manifest.read_text().splitlines():
        row = json.loads(line)
        words = row["text"].split()
        if words and all(w in DIGIT_WORDS for w in words):
            groups[row.get("corpus", "all")].append((row["audio"], row["text"]))
    return dict(groups)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--manifest", type=Path, required=True, help="JSON Lines manifest (audio, text, corpus)")
    args = parser.parse_args()
    groups = digit_utterances(args.manifest)
    if not groups:
        sys.exit(f"error: {args.manifest}: no utterance of digit words only")
    print("| corpus | files | " + " | ".join(name for name, _, _ in SYSTEMS) + " |")
    print("|---|---|" + "---|" * len(SYSTEMS))
    seconds = dict.fromkeys((name for name, _, _ in SYSTEMS), 0.0)
    models = {name: asr.load_model(name) for name in ("digits", "english")}
    for corpus, items in sorted(groups.items()):
        cells = []
        for name, model_name, grammar in SYSTEMS:
            model = models[model_name] if grammar is None else models[model_name].with_grammar(grammar)
            started = time.perf_counter()
            hyps = [t.text if isinstance(t, asr.Transcript) else "" for _, t in
                    model.transcribe_files([audio for audio, _ in items])]
            seconds[name] += time.perf_counter() - started
            cells.append(f"{100 * score([text for _, text in items], hyps).wer:.2f}%")
        print(f"| {corpus} | {len(items)} | " + " | ".join(cells) + " |")
    print("\nseconds: " + ", ".join(f"{name} {value:.1f}" for name, value in seconds.items()))


if __name__ == "__main__":
    main()
