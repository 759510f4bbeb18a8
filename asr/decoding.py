"""How a model decodes: one :class:`Decoding` for the API, the command line, model files, the server and the
recipes.

A :class:`Decoding` says everything a decoder needs: the method (greedy, beam search, or a phrase grammar),
the beam's settings, the lexicon's words, the n-gram LM's ARPA text (over words, or over the model's characters
for open-vocabulary decoding) and the grammar's phrases. A model file stores one as its default
(:class:`asr.spec.ModelSpec`); :meth:`Decoding.overridden` is the one place where flags that name a setting
change only that setting; :func:`build_decoder` turns one into the decoder that runs it; :meth:`Decoding.describe`
says all of it for ``/health`` and logs. Importing this module does not import PyTorch.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from asr.errors import AsrError

#: Beam-search defaults.
DEFAULT_BEAM_SIZE = 16
DEFAULT_BEAM_THRESHOLD = 30.0
DEFAULT_LM_WEIGHT = 0.5

Method = Literal["greedy", "beam", "grammar"]
METHODS = ("greedy", "beam", "grammar")
#: What an LM's "words" are: words of the lexicon, or the model's own characters (lexicon-free, open vocabulary).
LM_UNITS = ("word", "char")


@dataclass(frozen=True)
class Decoding:
    """Everything a decoder needs. Frozen: change one with :func:`dataclasses.replace` or :meth:`overridden`.

    ``greedy``: the best token per frame. ``beam``: flashlight's CTC beam search, lexicon-free or over
    ``lexicon``, scored by the ARPA LM ``lm_arpa`` if given (``lm_unit`` ``"word"``: a word n-gram, with no
    lexicon its vocabulary becomes the lexicon; ``"char"``: an n-gram over the model's characters, lexicon-free,
    so that any spelling can come out). ``grammar``: exactly one of ``grammar``'s phrases per utterance (a
    sequence of them with ``grammar_loop``), ``[unk]`` among them standing for anything else
    (:mod:`asr.grammar`).
    """

    method: Method = "greedy"
    beam_size: int = DEFAULT_BEAM_SIZE  # hypotheses kept per frame
    beam_size_token: int | None = None  # tokens considered per frame; None: all
    beam_threshold: float = DEFAULT_BEAM_THRESHOLD  # prune hypotheses this far (log) below the best
    lm_weight: float = DEFAULT_LM_WEIGHT  # weight of the n-gram LM
    word_score: float = 0.0  # added per word: the insertion bonus (negative: a penalty)
    unk_score: float | None = None  # score of a word outside the lexicon; None forbids them
    lexicon: tuple[str, ...] | None = None  # the words the output may contain; None: any spelling
    lm_arpa: str | None = None  # the n-gram LM as ARPA text; None: no LM
    lm_unit: Literal["word", "char"] = "word"
    grammar: tuple[str, ...] | None = None  # the phrases a grammar allows ("[unk]": anything else)
    grammar_loop: bool = False  # a sequence of phrases rather than exactly one
    rejection: float | None = None  # how much better than "anything else" a phrase must score; None: the default
    reject: bool = False  # without [unk] in the grammar: rejected utterances give an empty transcript
    # Words the model gives less than this confidence (0-1) are left out of the transcript; None keeps every
    # word. For a closed task whose words the model knows well (yes/no), a word below even odds is a sound
    # it took for a word.
    min_confidence: float | None = None

    def __post_init__(self) -> None:
        # Model files and JSON give lists; a frozen value holds tuples.
        for name in ("lexicon", "grammar"):
            value = getattr(self, name)
            if isinstance(value, str | os.PathLike):
                raise AsrError(f"Decoding's {name} holds the words themselves, not {value!r}: read a file or a "
                               f"built-in with Decoding().overridden({name}=...)")
            if value is not None and not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))
        check_decoding(self)

    @classmethod
    def beam(cls, **settings: Any) -> Decoding:
        """Beam search with these settings (the others default)."""
        return cls(method="beam", **settings)

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: object = None) -> Decoding:
        """Read what :meth:`to_dict` wrote (a model file's ``decoding``); unknown keys are an error."""
        unknown = sorted(set(values) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise AsrError(f"the model file's decoding has settings this version does not know: {', '.join(unknown)}"
                           " (update the toolkit)", source)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (lists for tuples), as model files store it."""
        values = dataclasses.asdict(self)
        for name in ("lexicon", "grammar"):
            if values[name] is not None:
                values[name] = list(values[name])
        return values

    def overridden(
        self,
        *,
        greedy: bool = False,
        grammar: str | os.PathLike[str] | Sequence[str] | None = None,
        lexicon: str | os.PathLike[str] | Sequence[str] | None = None,
        lm: str | os.PathLike[str] | None = None,
        **settings: Any,
    ) -> Decoding:
        """This decoding with what the caller named changed and nothing else: the command line's flags, the
        server's options. ``None`` means "not given".

        ``greedy`` asks for greedy decoding and cannot be combined with any other setting; ``grammar`` (phrases,
        a JSON list, a file or a built-in name, see :func:`asr.grammar.parse_grammar`) makes it a grammar;
        a ``lexicon`` (words, or a file of one word per line), an ``lm`` (an ARPA file over words) or any beam
        setting in ``settings`` (``beam_size``, ``lm_weight``, ``word_score``, ...) makes it beam search, keeping
        the stored lexicon and LM unless replaced. ``min_confidence`` combines with any of them and changes
        nothing else.
        """
        min_confidence = settings.pop("min_confidence", None)
        if min_confidence is not None:
            base = self.overridden(greedy=greedy, grammar=grammar, lexicon=lexicon, lm=lm, **settings)
            return dataclasses.replace(base, min_confidence=min_confidence)
        given = {name: value for name, value in settings.items() if value is not None}
        unknown = sorted(set(given) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise AsrError(f"unknown decoding settings: {', '.join(unknown)}")
        named = [*given, *(name for name, value in (("grammar", grammar), ("lexicon", lexicon), ("lm", lm))
                             if value is not None)]
        if greedy:
            if named:
                raise AsrError(f"greedy decoding cannot be combined with {', '.join(named)}")
            return Decoding()
        if grammar is not None:
            if lexicon is not None or lm is not None:
                raise AsrError("a grammar decides the words itself: it cannot be combined with a lexicon or an LM")
            from asr.grammar import parse_grammar

            parsed = parse_grammar(grammar)
            return dataclasses.replace(self, method="grammar", grammar=parsed.phrases, grammar_loop=parsed.loop,
                                       lexicon=None, lm_arpa=None, lm_unit="word", **given)
        if not named:
            return self
        grammar_settings = {"rejection", "reject"}
        if self.method == "grammar" and set(named) <= grammar_settings:  # the stored grammar, tuned
            return dataclasses.replace(self, **given)
        changes: dict[str, Any] = dict(given)
        if self.method != "beam":
            changes.setdefault("method", "beam")
        if lexicon is not None:
            changes["lexicon"] = read_words(lexicon)
            if self.lm_unit == "char" and lm is None:  # a character LM decodes without a lexicon: drop it
                changes.update(lm_arpa=None, lm_unit="word")
        if lm is not None:
            changes.update(lm_arpa=read_lm_text(lm), lm_unit="word")
        return dataclasses.replace(self, grammar=None, grammar_loop=False, **changes)

    def summary(self) -> str:
        """One line for logs and reports: ``beam 16 + lexicon (10 words) + word LM (2-gram, weight 0.5)``."""
        if self.method == "greedy":
            return "greedy"
        if self.method == "grammar":
            phrases = self.grammar or ()
            spoken = [p for p in phrases if p != "[unk]"]
            kind = "a sequence of" if self.grammar_loop else "one of"
            return f"grammar: {kind} {len(spoken)} phrases" + (" or [unk]" if "[unk]" in phrases else "")
        pruning = [f"{self.beam_size_token} tokens a frame"] if self.beam_size_token is not None else []
        if self.beam_threshold != DEFAULT_BEAM_THRESHOLD:
            pruning.append(f"threshold {self.beam_threshold:g}")
        parts = [f"beam {self.beam_size}" + (f" ({', '.join(pruning)})" if pruning else "")]
        if self.lexicon is not None:
            parts.append(f"lexicon ({len(self.lexicon)} words)")
        if self.lm_arpa is not None:
            parts.append(f"{self.lm_unit} LM ({lm_order(self.lm_arpa)}-gram, weight {self.lm_weight})")
        if self.min_confidence is not None:
            parts.append(f"words below confidence {self.min_confidence} left out")
        return " + ".join(parts)

    def describe(self) -> dict[str, Any]:
        """Everything, for ``/health`` and JSON reports: the settings, the lexicon's size and first words, the
        LM's unit, order and n-gram counts, the grammar's phrases; ``summary`` the one-line form."""
        about: dict[str, Any] = {"summary": self.summary(), "method": self.method,
                                 "min_confidence": self.min_confidence}
        if self.method == "beam":
            about.update(beam_size=self.beam_size, beam_size_token=self.beam_size_token,
                         beam_threshold=self.beam_threshold, word_score=self.word_score, unk_score=self.unk_score)
            about["lexicon"] = None if self.lexicon is None else {"words": len(self.lexicon),
                                                                  "first": list(self.lexicon[:20])}
            about["lm"] = None if self.lm_arpa is None else {"unit": self.lm_unit, "weight": self.lm_weight,
                                                             "order": lm_order(self.lm_arpa),
                                                             "ngrams": lm_counts(self.lm_arpa)}
        elif self.method == "grammar":
            about.update(phrases=list(self.grammar or ()), loop=self.grammar_loop, rejection=self.rejection,
                         reject=self.reject)
        return about


def check_decoding(decoding: Decoding) -> None:
    """A one-line error for settings no decoder can run (NaN weights, a beam of 0, a grammar without phrases)."""
    if decoding.method not in METHODS:
        raise AsrError(f"decoding method must be one of {', '.join(METHODS)}, got {decoding.method!r}")
    if decoding.lm_unit not in LM_UNITS:
        raise AsrError(f"the LM's unit must be 'word' or 'char', got {decoding.lm_unit!r}")
    if not isinstance(decoding.beam_size, int) or decoding.beam_size < 1:
        raise AsrError(f"beam size must be a whole number of at least 1, got {decoding.beam_size!r}")
    if decoding.beam_size_token is not None and decoding.beam_size_token < 1:
        raise AsrError(f"tokens per frame must be at least 1, got {decoding.beam_size_token}")
    finite = {"LM weight": decoding.lm_weight, "word score": decoding.word_score,
              "beam threshold": decoding.beam_threshold}
    if decoding.unk_score is not None:
        finite["unknown-word score"] = decoding.unk_score
    if decoding.rejection is not None:
        finite["rejection"] = decoding.rejection
    if decoding.min_confidence is not None and not (isinstance(decoding.min_confidence, int | float)
                                                    and 0.0 <= decoding.min_confidence < 1.0):
        raise AsrError(f"the minimum word confidence must be a number from 0 to below 1, got "
                       f"{decoding.min_confidence!r}")
    for name, value in finite.items():
        if not isinstance(value, int | float) or not math.isfinite(value):
            raise AsrError(f"the {name} must be a finite number, got {value!r}")
    if decoding.lm_weight < 0:
        raise AsrError(f"the LM weight must be 0 or more, got {decoding.lm_weight}")
    if decoding.beam_threshold <= 0:
        raise AsrError(f"the beam threshold must be positive, got {decoding.beam_threshold}")
    if decoding.lexicon is not None and not decoding.lexicon:
        raise AsrError("the lexicon is empty")
    if decoding.lm_unit == "char" and decoding.lexicon is not None:
        raise AsrError("a character LM decodes without a lexicon (open vocabulary): drop the lexicon or use a word LM")
    if decoding.method == "grammar" and not decoding.grammar:
        raise AsrError("a grammar decoding needs at least one phrase")


def read_words(lexicon: str | os.PathLike[str] | Sequence[str]) -> tuple[str, ...]:
    """A lexicon's words: a sequence as given, or a file of one word per line (anything after a line's first
    whitespace is ignored, so a pronunciation lexicon's ``word  w o r d`` lines work), normalised like
    transcripts, sorted, each once. Whether the model can spell them is checked when a decoder is built."""
    if not isinstance(lexicon, str | os.PathLike):
        return tuple(lexicon)
    if not os.path.isfile(lexicon):
        raise AsrError("lexicon file not found", lexicon)
    from asr.text import normalize_text

    try:
        with open(lexicon, encoding="utf-8") as handle:
            words = [normalize_text(line.split()[0]) for line in handle if line.strip()]
    except UnicodeDecodeError:
        raise AsrError("lexicon is not UTF-8 text", lexicon) from None
    words = [w for w in words if w]  # a line of punctuation alone normalises to nothing
    if not words:
        raise AsrError("lexicon has no words", lexicon)
    return tuple(sorted(set(words)))


def read_lm_text(path: str | os.PathLike[str]) -> str:
    """An ARPA file's text, checked now (a clear error here rather than when a decoder is built); checked once
    per file as it is (a recipe tries several decodings with one LM)."""
    from asr.lm import read_arpa

    try:
        found = os.stat(path)
    except OSError:
        read_arpa(path)  # its one-line error for a missing or unreadable file
        raise
    return _checked_lm_text(os.path.realpath(path), found.st_mtime_ns, found.st_size)


@functools.lru_cache(maxsize=8)
def _checked_lm_text(path: str, mtime_ns: int, size: int) -> str:
    from asr.lm import read_arpa

    read_arpa(path)
    return Path(path).read_text(encoding="utf-8")


def lm_counts(arpa_text: str) -> dict[str, int]:
    """The ``\\data\\`` header of ARPA text: ``{"1": 12, "2": 80}`` (n-gram counts by order; the rest of the
    text is not read)."""
    from asr.lm import arpa_counts

    return {str(order): count for order, count in arpa_counts(arpa_text).items()}


def lm_order(arpa_text: str) -> int:
    from asr.lm import arpa_counts

    return max(arpa_counts(arpa_text), default=0)


def build_decoder(vocab: Any, frame_seconds: float, decoding: Decoding) -> Any:
    """The decoder that runs ``decoding`` for a model with this vocabulary (:class:`asr.text.Vocabulary`) and
    output frame length. Every decoder maps ``(batch, frames, vocab)`` log-probabilities with ``(batch,)``
    lengths to one :class:`asr.decode.Transcript` each."""
    from asr.decode import BeamSearchDecoder, GreedyDecoder

    if decoding.method == "greedy":
        return GreedyDecoder(vocab, frame_seconds)
    if decoding.method == "grammar":
        from asr.grammar import GrammarDecoder, parse_grammar

        grammar = dataclasses.replace(parse_grammar(list(decoding.grammar or ())), loop=decoding.grammar_loop)
        return GrammarDecoder(vocab, frame_seconds, grammar, rejection=decoding.rejection, reject=decoding.reject)
    if decoding.lm_unit == "char" and decoding.lm_arpa is not None:
        from asr.char_lm import CharLMBeamSearchDecoder

        return CharLMBeamSearchDecoder(vocab, frame_seconds, decoding)
    return BeamSearchDecoder(vocab, frame_seconds, decoding)
