"""What a stored n-gram LM costs when a decoder is built from it (issue 28 part 6), before and after the change
that writes a model file's ARPA text once per process and reads only its header and 1-gram section in Python.

    python bench/bench_lm_load.py [--data-dir ../shared/data] [--repeats 5]

LMs: ``asr.lm.build_arpa`` over AN4's training transcripts (order 3 and 4, the size the AN4 recipe's LM has) and
over speechocean762's text plus AN4's (order 4, six times the text). For each one:

(a) building a ``BeamSearchDecoder`` (lexicon-free word LM: the LM's words the packaged digits model can spell
    become the lexicon) from a ``Decoding`` that holds the LM's text;
(b) ``asr.load_model()`` of an ONNX file (the packaged digits model) that stores that decoding;

each **before** (the old path, run here by putting it back in place of ``asr.lm.arpa_file``: the text written to a
new temporary folder and parsed whole by the pure-Python ``asr.lm.read_arpa``, then KenLM) and **after**: the first
build in a process (the file written, the header and 1-gram section scanned, KenLM loads it), a later one (the
file already there: only KenLM loads), and one while another decoder of the same LM is alive (KenLM shared).
Times are the best of ``--repeats`` rounds, each round taking every way in turn; ratios are before / after. Also:
the Python parse alone against the scan alone, the load of the same model file storing beam search without an LM
(what the LM adds is the difference), and a check that both paths give the same lexicon and the same transcripts.
"""

from __future__ import annotations

import argparse
import gc
import re
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import asr
import asr.lm
from asr.decode import BeamSearchDecoder
from asr.decoding import Decoding
from asr.lm import ArpaFile, arpa_counts, arpa_unigrams, build_arpa, read_arpa, write_arpa
from asr.text import normalize_text


def an4_sentences(data_dir: Path) -> list[str]:
    lines = (data_dir / "an4/etc/an4_train.transcription").read_text(encoding="utf-8").splitlines()
    texts = (re.sub(r"\([^)]*\)\s*$", "", line).replace("<s>", "").replace("</s>", "") for line in lines)
    return [t for t in (normalize_text(t) for t in texts) if t]


def speechocean_sentences(data_dir: Path) -> list[str]:
    lines = (data_dir / "speechocean762/text").read_text(encoding="utf-8").splitlines()
    texts = (line.split(None, 1)[1] for line in lines if len(line.split(None, 1)) == 2)
    return [t for t in (normalize_text(t) for t in texts) if t]


_OLD_FOLDERS: list[tempfile.TemporaryDirectory] = []


def old_arpa_file(text: str) -> ArpaFile:
    """What the decoders did before: the text into a temporary folder of their own, parsed whole in Python."""
    folder = tempfile.TemporaryDirectory(prefix="asr-decoder-")
    _OLD_FOLDERS.append(folder)  # the old decoder held its folder while it lived
    path = Path(folder.name) / "lm.arpa"
    path.write_text(text, encoding="utf-8")
    model = read_arpa(path)
    return ArpaFile(path, model.order, tuple(model.vocabulary))


@contextmanager
def old_path() -> Iterator[None]:
    new = asr.lm.arpa_file
    asr.lm.arpa_file = old_arpa_file
    try:
        yield
    finally:
        asr.lm.arpa_file = new
        for folder in _OLD_FOLDERS:
            folder.cleanup()
        _OLD_FOLDERS.clear()


def forget_files() -> None:
    """As in a new process: no LM file written yet (and no decoder alive to share a KenLM with)."""
    asr.lm._ARPA_FILES.clear()
    gc.collect()


def best(repeats: int, run: Callable[[], object]) -> float:
    """Best wall time of ``run`` over ``repeats`` tries."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def rounds(repeats: int, run: Callable[[], object], baseline: Callable[[], object] | None = None) -> dict[str, float]:
    """Best wall time of each way to run ``run``, the ways taken in turn in every round (so that the machine's
    noise falls on all of them alike): ``before`` (the old path), ``first`` (the first in a process), ``there``
    (the LM's file already written), ``shared`` (while another from the same LM is alive); and ``baseline``."""
    times: dict[str, list[float]] = defaultdict(list)

    def timed(name: str, call: Callable[[], object]) -> None:
        gc.collect()  # what the last call made is gone (and its KenLM with it)
        start = time.perf_counter()
        call()
        times[name].append(time.perf_counter() - start)

    for _ in range(repeats):
        with old_path():
            timed("before", run)
        forget_files()
        timed("first", run)
        timed("there", run)
        alive = run()
        timed("shared", run)
        del alive
        if baseline is not None:
            timed("baseline", baseline)
    return {name: min(values) for name, values in times.items()}


def ratios(t: dict[str, float]) -> list[str]:
    return [f"{t['before'] / t[name]:.1f}x" for name in ("first", "there", "shared")]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    an4, speechocean = an4_sentences(args.data_dir), speechocean_sentences(args.data_dir)
    model = asr.load_model("digits")
    vocab, frame_seconds = model.vocab, model.frame_seconds
    clips = sorted((args.data_dir / "fsdd/recordings").glob("*_george_0.wav"))[:10]
    work = Path(tempfile.mkdtemp(prefix="bench-lm-load-"))
    parse_rows, build_rows, load_rows = [], [], []
    try:
        no_lm = work / "digits-no-lm.onnx"
        model.with_default_decoding(Decoding.beam()).save(no_lm)
        for name, sentences, order in (("AN4, 3-gram", an4, 3), ("AN4, 4-gram", an4, 4),
                                       ("speechocean762 + AN4, 4-gram", speechocean + an4, 4)):
            arpa = work / "lm.arpa"
            write_arpa(build_arpa(sentences, order=order), arpa)
            text = arpa.read_text(encoding="utf-8")
            decoding = Decoding.beam(lm_arpa=text)
            counts = arpa_counts(text)
            label = f"{name} ({sum(counts.values()):,} n-grams, {len(text) / 1e6:.2f} MB)"
            parse = best(args.repeats, lambda: read_arpa(arpa))  # noqa: B023 (used at once)
            scan = best(args.repeats, lambda: (arpa_counts(text), arpa_unigrams(text)))  # noqa: B023
            parse_rows.append([label, ms(parse), ms(scan), f"{parse / scan:.0f}x"])

            def build(d: Decoding = decoding) -> BeamSearchDecoder:
                return BeamSearchDecoder(vocab, frame_seconds, d)

            with old_path():
                old_words = build().words
            assert build().words == old_words, "the lexicon changed"
            t = rounds(args.repeats, build)
            build_rows.append([label, *(ms(t[name]) for name in ("before", "first", "there", "shared")), *ratios(t)])

            stored = work / "digits-lm.onnx"
            model.with_default_decoding(decoding).save(stored)

            def load(path: Path = stored) -> object:
                return asr.load_model(path)

            with old_path():
                old_texts = [r.text for r in load().transcribe(list(clips))] if clips else []
            new_texts = [r.text for r in load().transcribe(list(clips))] if clips else []
            assert new_texts == old_texts, f"transcripts changed: {old_texts} -> {new_texts}"
            t = rounds(args.repeats, load, baseline=lambda: asr.load_model(no_lm))
            load_rows.append([label, *(ms(t[name]) for name in ("before", "first", "there", "shared", "baseline")),
                              *ratios(t)])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    after = ["after, first (ms)", "after, file there (ms)", "after, KenLM shared (ms)"]
    ratio_names = ["before / first", "before / file there", "before / shared"]
    print("Python parse (asr.lm.read_arpa) against the header + 1-gram scan, best of", args.repeats)
    print(table(["LM", "read_arpa (ms)", "scan (ms)", "ratio"], parse_rows))
    print("\n(a) BeamSearchDecoder from a Decoding holding the LM")
    print(table(["LM", "before (ms)", *after, *ratio_names], build_rows))
    print("\n(b) asr.load_model() of the packaged digits model's ONNX file storing that decoding")
    print(table(["LM", "before (ms)", *after, "no LM stored (ms)", *ratio_names], load_rows))
    print(f"\nsame lexicon and the same transcripts of {len(clips)} FSDD clips on both paths")
    return 0


if __name__ == "__main__":
    sys.exit(main())
