"""Word n-gram language models in ARPA format: build one from text, read and validate one.

No LM toolkit (KenLM's ``lmplz``, SRILM) is installed here, so :func:`build_arpa` estimates an
interpolated Kneser-Ney model (single discount per order) and writes it in backoff ARPA form,
which flashlight's KenLM reader loads directly.

A decoder never parses an LM here: :func:`arpa_file` writes a model file's ARPA text once per process to a file
KenLM loads, and reads the order from the ``\\data\\`` header and the vocabulary from the 1-gram section only
(:func:`read_arpa`, the full parse, runs only to name the bad line of a malformed LM).
"""

from __future__ import annotations

import atexit
import hashlib
import math
import os
import shutil
import tempfile
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from asr.errors import AsrError
from asr.files import atomic_open

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
#: log10 probability written for <s>, which is never predicted.
NEVER = -99.0


@dataclass
class NgramModel:
    """A backoff n-gram model: ``probs[ngram] = log10 p`` and ``backoffs[ngram] = log10 weight``."""

    order: int
    probs: dict[tuple[str, ...], float] = field(default_factory=dict)
    backoffs: dict[tuple[str, ...], float] = field(default_factory=dict)

    @property
    def vocabulary(self) -> list[str]:
        return [ngram[0] for ngram in self.probs if len(ngram) == 1]

    def log10_prob(self, word: str, context: tuple[str, ...]) -> float:
        """log10 p(word | context) with backoff; unknown words are scored as <unk>."""
        if (word,) not in self.probs:
            word = UNK
        context = context[-(self.order - 1) :] if self.order > 1 else ()
        penalty = 0.0
        while True:
            ngram = (*context, word)
            if ngram in self.probs:
                return penalty + self.probs[ngram]
            if not context:
                return penalty + self.probs.get((UNK,), NEVER)
            penalty += self.backoffs.get(context, 0.0)
            context = context[1:]

    def sentence_log10_prob(self, words: list[str]) -> float:
        history, total = [BOS], 0.0
        for word in [*words, EOS]:
            total += self.log10_prob(word, tuple(history))
            history.append(word)
        return total


def build_arpa(sentences: Iterable[str], order: int = 2, discount: float = 0.7) -> NgramModel:
    """Estimate an interpolated Kneser-Ney n-gram model from whitespace-tokenised sentences.

    Args:
        sentences: one sentence per item (already normalised).
        order: n-gram order, at least 1.
        discount: absolute discount D in (0, 1) subtracted from every seen count.
    """
    if order < 1:
        raise AsrError(f"n-gram order must be at least 1, got {order}")
    if not 0.0 < discount < 1.0:
        raise AsrError(f"discount must be in (0, 1), got {discount}")
    counts: list[Counter[tuple[str, ...]]] = [Counter() for _ in range(order + 1)]
    for sentence in sentences:
        words = [BOS, *sentence.split(), EOS]
        if len(words) == 2:
            continue
        for n in range(1, order + 1):
            for i in range(max(0, 1 if n == 1 else 0), len(words) - n + 1):
                counts[n][tuple(words[i : i + n])] += 1
    if not counts[1]:
        raise AsrError("no words to build a language model from")
    # Lower orders count distinct left contexts (Kneser-Ney), except n-grams that start a sentence.
    for n in range(order - 1, 0, -1):
        continuation: Counter[tuple[str, ...]] = Counter()
        for ngram in counts[n + 1]:
            continuation[ngram[1:]] += 1
        for ngram in list(counts[n]):
            if ngram[0] != BOS:
                counts[n][ngram] = continuation.get(ngram, 0)
        counts[n] = Counter({k: v for k, v in counts[n].items() if v > 0 or k[0] == BOS})
    model = NgramModel(order)
    vocab = sorted(({w for (w,) in counts[1]} | {UNK}) - {BOS})  # the words that can be predicted
    # Unigrams: discounted counts interpolated with a uniform distribution (which gives <unk> its mass).
    total = sum(counts[1].values())
    seen = [ngram for ngram in counts[1] if ngram != (BOS,)]
    lam = discount * len(seen) / total
    for word in vocab:
        p = max(counts[1].get((word,), 0) - discount, 0.0) / total + lam / len(vocab)
        model.probs[(word,)] = math.log10(p)
    model.probs[(BOS,)] = NEVER
    # Higher orders: p(w|h) = max(c(hw) - D, 0) / c(h) + gamma(h) p(w|h'), gamma(h) = D N1+(h.) / c(h).
    for n in range(2, order + 1):
        by_context: dict[tuple[str, ...], list[tuple[str, int]]] = defaultdict(list)
        for ngram, count in counts[n].items():
            by_context[ngram[:-1]].append((ngram[-1], count))
        for context, followers in by_context.items():
            context_total = sum(c for _, c in followers)
            gamma = discount * len(followers) / context_total
            for word, count in followers:
                lower = 10 ** model.log10_prob(word, context[1:])
                model.probs[(*context, word)] = math.log10((count - discount) / context_total + gamma * lower)
            model.backoffs[context] = math.log10(gamma)
    return model


def write_arpa(model: NgramModel, path: str | os.PathLike[str]) -> None:
    """Write a model as an ARPA file (atomically)."""
    by_order: dict[int, list[tuple[str, ...]]] = defaultdict(list)
    for ngram in model.probs:
        by_order[len(ngram)].append(ngram)
    with atomic_open(path, "w", encoding="utf-8") as out:
        out.write("\\data\\\n")
        for n in range(1, model.order + 1):
            out.write(f"ngram {n}={len(by_order[n])}\n")
        for n in range(1, model.order + 1):
            out.write(f"\n\\{n}-grams:\n")
            for ngram in sorted(by_order[n]):
                line = f"{model.probs[ngram]:.6f}\t{' '.join(ngram)}"
                if n < model.order and ngram in model.backoffs:
                    line += f"\t{model.backoffs[ngram]:.6f}"
                out.write(line + "\n")
        out.write("\n\\end\\\n")


def read_arpa(path: str | os.PathLike[str]) -> NgramModel:
    """Read and validate an ARPA file; malformed files raise :class:`AsrError` naming the line."""
    if not os.path.isfile(path):
        raise AsrError("language model file not found", path)
    declared: dict[int, int] = {}
    model = NgramModel(order=0)
    section = "start"
    try:
        handle = open(path, encoding="utf-8")
        lines = list(handle)
        handle.close()
    except UnicodeDecodeError:
        raise AsrError("not an ARPA language model (not UTF-8 text)", path) from None
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        where = f"{path}:{number}"
        if not line:
            continue
        if section == "start":
            if line == "\\data\\":
                section = "data"
            continue
        if line == "\\end\\":
            section = "end"
            break
        if line.startswith("\\") and line.endswith("-grams:"):
            try:
                n = int(line[1:].split("-", 1)[0])
            except ValueError:
                raise AsrError(f"bad section header {line!r}", where) from None
            if n not in declared:
                raise AsrError(f"section {line!r} was not declared in \\data\\", where)
            section = n
            continue
        if section == "data":
            key, _, value = line.partition("=")
            parts = key.split()
            if len(parts) != 2 or parts[0] != "ngram" or not parts[1].isdigit() or not value.strip().isdigit():
                raise AsrError(f"expected 'ngram N=COUNT', got {line!r}", where)
            declared[int(parts[1])] = int(value)
            continue
        if not isinstance(section, int):
            raise AsrError(f"unexpected line {line!r}", where)
        fields = line.split()
        n = section
        if len(fields) not in (n + 1, n + 2):
            raise AsrError(f"a {n}-gram line needs a log10 probability, {n} word(s) and an optional backoff", where)
        try:
            prob = float(fields[0])
            backoff = float(fields[n + 1]) if len(fields) == n + 2 else None
        except ValueError:
            raise AsrError(f"probabilities must be numbers: {line!r}", where) from None
        if not math.isfinite(prob) or prob > 0 or (backoff is not None and not math.isfinite(backoff)):
            raise AsrError(f"log10 probabilities must be finite and at most 0: {line!r}", where)
        ngram = tuple(fields[1 : n + 1])
        model.probs[ngram] = prob
        if backoff is not None:
            model.backoffs[ngram] = backoff
    if section == "start" or not declared:
        raise AsrError("not an ARPA language model (no \\data\\ section)", path)
    if section != "end":
        raise AsrError("ARPA file ends without \\end\\ (truncated?)", path)
    for n, count in declared.items():
        found = sum(1 for ngram in model.probs if len(ngram) == n)
        if found != count:
            raise AsrError(f"header declares {count} {n}-grams but the file has {found}", path)
    model.order = max(declared)
    if 1 not in declared or not model.vocabulary:
        raise AsrError("ARPA file has no unigrams", path)
    return model


def arpa_counts(text: str) -> dict[int, int]:
    """The ``\\data\\`` header of ARPA text, read without the rest: n-gram counts by order (``{1: 12, 2: 80}``);
    ``{}`` without a header."""
    start = text.find("\\data\\")
    if start < 0:
        return {}
    end = text.find("-grams:", start)
    counts: dict[int, int] = {}
    for line in text[start: end if end >= 0 else len(text)].splitlines()[1:]:
        key, _, value = line.partition("=")
        parts = key.split()
        if len(parts) == 2 and parts[0] == "ngram" and parts[1].isdigit() and value.strip().isdigit():
            counts[int(parts[1])] = int(value)
    return counts


def arpa_unigrams(text: str) -> tuple[str, ...] | None:
    """The words of ARPA text's 1-gram section, in file order, read by a scan of that section alone; ``None`` if
    it has none, or lines no 1-gram has (:func:`read_arpa` then names the bad line)."""
    header = text.find("\n\\1-grams:")
    if header < 0:
        return None
    start = text.find("\n", header + 1)
    end = text.find("\n\\", start) if start >= 0 else -1
    if end < 0:
        return None
    words = []
    for line in text[start:end].splitlines():
        fields = line.split()
        if not fields:
            continue
        if len(fields) not in (2, 3):
            return None
        words.append(fields[1])
    return tuple(words)


@dataclass(frozen=True)
class ArpaFile:
    """An LM's ARPA text in a file KenLM loads, with what a decoder checks before loading it."""

    path: Path
    order: int
    vocabulary: tuple[str, ...]  # the 1-gram words, <s>, </s> and <unk> among them


_ARPA_LOCK = threading.Lock()
_ARPA_FILES: dict[str, ArpaFile] = {}  # by the SHA-256 of the text
_ARPA_FOLDER: tuple[int, Path] | None = None  # (process id, folder): a forked child makes its own


def _remove_folder(pid: int, folder: Path) -> None:
    if os.getpid() == pid:  # never a parent's folder from a forked child
        shutil.rmtree(folder, ignore_errors=True)


def _arpa_folder() -> Path:
    global _ARPA_FOLDER
    if _ARPA_FOLDER is None or _ARPA_FOLDER[0] != os.getpid():
        folder = Path(tempfile.mkdtemp(prefix="asr-lm-"))
        atexit.register(_remove_folder, os.getpid(), folder)
        _ARPA_FOLDER = (os.getpid(), folder)
        _ARPA_FILES.clear()
    return _ARPA_FOLDER[1]


def arpa_file(text: str) -> ArpaFile:
    """ARPA text (a model file's LM) as a file KenLM can load, with its order and vocabulary: written once per
    process and per LM (the same text again, from any :class:`asr.decoding.Decoding`, is found by its SHA-256),
    into a folder of this process's that is removed when it exits. The order comes from the ``\\data\\`` header
    and the vocabulary from the 1-gram section; nothing else is parsed here (KenLM reads the rest), except that
    text this scan cannot read goes through :func:`read_arpa`, for its error naming the bad line."""
    data = text.encode("utf-8")
    digest = hashlib.sha256(data).hexdigest()
    with _ARPA_LOCK:
        folder = _arpa_folder()
        known = _ARPA_FILES.get(digest)
        if known is not None and known.path.is_file():
            return known
        path = folder / f"{digest[:32]}.arpa"
        try:
            path.write_bytes(data)
        except OSError as error:
            path.unlink(missing_ok=True)
            raise AsrError(f"cannot write the language model for KenLM: {error.strerror or error}", path) from None
        counts, vocabulary = arpa_counts(text), arpa_unigrams(text)
        if counts and 1 in counts and vocabulary:
            stored = ArpaFile(path, max(counts), vocabulary)
        else:
            model = read_arpa(path)  # raises, naming what is wrong, unless only the layout puzzled the scan
            stored = ArpaFile(path, model.order, tuple(model.vocabulary))
        _ARPA_FILES[digest] = stored
        return stored
