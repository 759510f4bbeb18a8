"""Command words: a 20-phrase grammar against pocketsphinx's one-word grammar, on held-out isolated words.

    python bench/bench_commands.py --manifest exp/english/data/validation.jsonl exp/english/data/dev_test.jsonl \\
        [--models english] [--per-word 40] [--threads 2]

The 20 words: the ten digits and AN4's ten control words (yes, no, stop, go, start, help, repeat, enter, erase,
rubout). The test files: every utterance of the given manifests that is one of those words alone (the English
recipe's validation and development-test speakers, whom no packaged model trained on), at most ``--per-word`` of
each word (drawn by ``random.Random(0)``) so the digits do not drown the commands.

Systems, each made to answer with exactly one of the 20 words:
- ours: the model with the 20 words as its phrase grammar (``transcribe --grammar words.txt``, no rejection);
- pocketsphinx 5 (bundled en-us acoustic model and dictionary) with the JSGF grammar
  ``public <command> = ( zero | one | ... | rubout ) ;``.
Accuracy = share of files whose answer is the word said; per word, digits and commands apart; RTF with reading
included (as in bench_peers.py). pocketsphinx is a measuring tool, never a dependency: ``pip install pocketsphinx``.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

from bench_peers import load_ours, our_run, pocketsphinx_run

from asr.grammar import DIGIT_WORDS
from asr.manifest import Utterance, read_manifest
from asr.report import markdown_table, percent
from asr.text import normalize_text

CONTROL_WORDS = ("yes", "no", "stop", "go", "start", "help", "repeat", "enter", "erase", "rubout")
COMMAND_WORDS = (*DIGIT_WORDS, *CONTROL_WORDS)
JSGF = "#JSGF V1.0;\ngrammar command;\npublic <command> = ( " + " | ".join(COMMAND_WORDS) + " ) ;\n"
PEER_RATE = 16000


def spoken_word(text: str) -> str:
    """A transcript as one of the 20 words are written ("oh" is "zero")."""
    word = normalize_text(text)
    return "zero" if word == "oh" else word


def isolated_words(manifests: Sequence[str], per_word: int) -> list[Utterance]:
    """The manifests' utterances that are one of :data:`COMMAND_WORDS` alone, at most ``per_word`` a word."""
    by_word: dict[str, list[Utterance]] = defaultdict(list)
    for path in manifests:
        for utt in read_manifest(path):
            word = spoken_word(utt.text)
            if word in COMMAND_WORDS:
                by_word[word].append(utt)
    chosen = []
    for word in COMMAND_WORDS:
        pool = sorted(by_word[word], key=lambda u: u.audio)
        chosen += random.Random(0).sample(pool, min(per_word, len(pool)))
    return chosen


def pocketsphinx_command_system(work: Path) -> Callable[[list[str]], list[str]] | None:
    try:
        from pocketsphinx import Decoder
    except ImportError:
        print("note: pocketsphinx is not installed, so its rows are left out (pip install pocketsphinx)",
              file=sys.stderr)
        return None
    grammar = work / "command.gram"
    grammar.write_text(JSGF, encoding="utf-8")
    return pocketsphinx_run(Decoder(samprate=PEER_RATE, loglevel="FATAL", jsgf=str(grammar)))


def rows_for(name: str, utterances: Sequence[Utterance], texts: Sequence[str], seconds: float) -> list[list[str]]:
    """One row per group (digits, control words, all) and the per-word accuracies as one cell."""
    said = [spoken_word(u.text) for u in utterances]
    right = [s == spoken_word(t) for s, t in zip(said, texts, strict=True)]
    audio = sum(u.duration for u in utterances)
    rows = []
    for group, words in (("digits", DIGIT_WORDS), ("control words", CONTROL_WORDS), ("all 20", COMMAND_WORDS)):
        hits = [r for s, r in zip(said, right, strict=True) if s in words]
        if hits:
            rows.append([name, group, str(len(hits)), percent(sum(hits) / len(hits))])
    per_word = []
    for word in COMMAND_WORDS:
        hits = [r for s, r in zip(said, right, strict=True) if s == word]
        if hits:
            per_word.append(f"{word} {sum(hits)}/{len(hits)}")
    rows[-1] += [f"{seconds / audio:.4f}", ", ".join(per_word)]
    for row in rows[:-1]:
        row += ["", ""]
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", nargs="+", required=True, help="manifests of held-out speakers")
    parser.add_argument("--models", nargs="+", default=["english"], help="our models: packaged names or files")
    parser.add_argument("--per-word", type=int, default=40, help="at most this many files of each word")
    parser.add_argument("--threads", type=int, default=2, help="onnxruntime threads (pocketsphinx uses one)")
    args = parser.parse_args()
    utterances = isolated_words(args.manifest, args.per_word)
    if not utterances:
        raise SystemExit("error: no utterance of the manifests is one of the 20 words alone")
    paths = [u.audio for u in utterances]
    print(f"{len(utterances)} isolated words from {', '.join(args.manifest)}; grammar: {' '.join(COMMAND_WORDS)}\n")
    systems: list[tuple[str, Callable[[list[str]], list[str]]]] = []
    for name in args.models:
        model = load_ours(name, args.threads).with_grammar(list(COMMAND_WORDS))
        systems.append((f"ours: {name}, 20-phrase grammar", our_run(model)))
    with tempfile.TemporaryDirectory() as tmp:
        peer = pocketsphinx_command_system(Path(tmp))
        if peer is not None:
            systems.append(("pocketsphinx 5 en-us, one-word JSGF grammar", peer))
        table = []
        for name, transcribe in systems:
            transcribe(paths[:1])  # warm up
            started = time.perf_counter()
            texts = transcribe(paths)
            table += rows_for(name, utterances, texts, time.perf_counter() - started)
    print(markdown_table(["system", "words", "files", "right", "RTF", "per word (right/files)"], table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
