"""Grammar decoding cost: milliseconds per utterance for grammars of 10, 100 and 1,000 phrases, against greedy
decoding, on synthetic log-probabilities of the digits model's shape (17 tokens) for 3 s of audio at 50 and 25
output frames a second.

    python bench/bench_grammar.py [--repeats 20] [--seconds 3]

Two kinds of phrase list: PIN-like digit strings (one to four digit words: phrases share their beginnings) and
made-up two-word commands of random letters (almost no sharing, the costly case). The time is the whole
decoder call (every phrase scored, the best one aligned for word times), the median of ``--repeats`` calls, in
CPU time and wall time (one thread: NumPy's element-wise work here does not use more).

Measured 2026-12-02 on the 2-core build machine beside a training, 3 s at 50 frames/s: 5.9-7.2 ms for 10 or
100 phrases, 12.4 ms for 1,000 digit strings (4,783 tree nodes), 16.1 ms for 1,000 made-up commands (9,159
nodes); the digits loop 4.8 ms; greedy 0.3-0.7 ms. At 25 frames/s about half. The scoring pass over 1,000
commands: 7.1 ms by best path, 112 ms by CTC forward probability (logaddexp for max), which ranks the same
digits as well (bench_rejection.py: 69.8% against 69.6%), so the decoder scores by best path.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import numpy as np

from asr.decode import GreedyDecoder
from asr.grammar import DIGIT_WORDS, Emissions, GrammarDecoder, build_tree, parse_grammar, viterbi
from asr.report import markdown_table
from asr.text import Vocabulary

VOCAB = Vocabulary.from_transcripts([" ".join(DIGIT_WORDS)])


def digit_phrases(count: int, rng: random.Random) -> list[str]:
    """``count`` distinct strings of one to four digit words."""
    phrases: set[str] = set()
    while len(phrases) < count:
        phrases.add(" ".join(rng.choice(DIGIT_WORDS) for _ in range(rng.randint(1, 4))))
    return sorted(phrases)


def command_phrases(count: int, rng: random.Random) -> list[str]:
    """``count`` distinct made-up two-word phrases, words of 3-8 of the model's letters."""
    letters = [t for t in VOCAB.tokens[2:]]
    phrases: set[str] = set()
    while len(phrases) < count:
        phrases.add(" ".join("".join(rng.choice(letters) for _ in range(rng.randint(3, 8))) for _ in range(2)))
    return sorted(phrases)


def log_probs(frames: int, seed: int) -> np.ndarray:
    """``(1, frames, vocab)`` peaky random log-softmax, blank most often best, as a CTC model's output."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 3, (1, frames, len(VOCAB))).astype(np.float32)
    logits[..., 0] += 4.0
    return logits - np.log(np.exp(logits).sum(-1, keepdims=True))


def median_ms(decoder, values: np.ndarray, repeats: int) -> list[str]:  # noqa: ANN001
    """Median CPU and wall milliseconds of one call (CPU time: what the call costs where other work shares the
    cores; wall time counts the waits too)."""
    lengths = np.array([values.shape[1]])
    decoder(values, lengths)  # warm up
    cpu, wall = [], []
    for _ in range(repeats):
        started, started_cpu = time.perf_counter(), time.process_time()
        decoder(values, lengths)
        cpu.append(time.process_time() - started_cpu)
        wall.append(time.perf_counter() - started)
    return [f"{1000 * statistics.median(cpu):.2f}", f"{1000 * statistics.median(wall):.2f}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    rng = random.Random(0)
    rows = []
    for rate in (50, 25):
        frames = round(args.seconds * rate)
        values = log_probs(frames, rate)
        greedy = median_ms(GreedyDecoder(VOCAB, 1 / rate), values, args.repeats)
        rows.append([f"{rate}", "greedy (reference)", "", "", *greedy])
        loop = GrammarDecoder(VOCAB, 1 / rate, parse_grammar("digits"))
        rows.append([f"{rate}", "loop: any string of digits", "10", f"{loop.tree.size - 1}",
                     *median_ms(loop, values, args.repeats)])
        for kind, make in (("digit strings", digit_phrases), ("made-up commands", command_phrases)):
            for count in (10, 100, 1000):
                phrases = [*make(count, rng), "[unk]"]
                built = time.perf_counter()
                decoder = GrammarDecoder(VOCAB, 1 / rate, parse_grammar(phrases))
                build_ms = 1000 * (time.perf_counter() - built)
                ms = median_ms(decoder, values, args.repeats)
                rows.append([f"{rate}", f"one of: {kind} (built in {build_ms:.0f} ms)", f"{count}",
                             f"{decoder.tree.size - 1}", *ms])
    print(f"{args.seconds:g} s of audio per utterance, median of {args.repeats} calls\n")
    print(markdown_table(["frames/s", "grammar", "phrases", "tree nodes", "CPU ms per utterance",
                          "wall ms per utterance"], rows))
    # The scoring pass alone, best path against CTC forward probability (sums over paths: logaddexp for max).
    tree = build_tree(command_phrases(1000, rng), VOCAB)
    values = log_probs(round(args.seconds * 50), 50)[0]
    emissions = Emissions.of(values, tree, VOCAB.tokens.index("|"))
    passes = [[name, *median_ms(lambda v, n, f=forward: viterbi(tree, emissions, forward=f), values[None],
                                args.repeats)] for name, forward in (("best path (Viterbi)", False),
                                                                     ("CTC forward probability", True))]
    print(f"The scoring pass alone, 1,000 made-up commands ({tree.size - 1} nodes), 50 frames/s:\n")
    print(markdown_table(["phrase score", "CPU ms", "wall ms"], passes))


if __name__ == "__main__":
    main()
