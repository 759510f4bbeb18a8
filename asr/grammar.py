"""Phrase-list grammars: say what may be said, and reject what was not.

A :class:`Grammar` is a list of phrases (one or more words each). Decoded with one, every utterance comes out as
exactly one of its phrases, or, for a loop grammar (``loop=True``, e.g. :data:`BUILT_INS` ``"digits"``), as a
sequence of one or more of them. The phrase :data:`UNK` (``"[unk]"``, Vosk's spelling) stands for "something
else was said": an utterance whose best phrase is not convincingly better than anything else comes out as it.

How (:class:`GrammarDecoder`): every phrase is a CTC path through its characters, all phrases together a prefix
tree (phrases that begin alike share their states), and a Viterbi pass over the tree scores every phrase at once,
vectorised over its nodes (NumPy only: no PyTorch, so the ONNX path stays light). The best phrase is then
force-aligned on its own for word times and confidences (:func:`asr.decode.words_from_tokens`, as the other
decoders give them). A loop grammar is one Viterbi pass over the same tree with every phrase's end leading back
to every phrase's start.

Topology, as the models are trained: the word separator :data:`asr.text.WORD_SEPARATOR` must fill at least one
frame between two words (a frame of blank does too), may be emitted before the first word and after the last,
and never inside a word.

Rejection: "anything else" is the free best path (the best token in every frame, what greedy decoding reads), an
upper bound of every phrase's path. The statistic is how far the best phrase's path falls below it, in nats,
divided by the square root of the frames of speech ``n`` (frames whose best token is a character): ``z = (free -
phrase) / sqrt(n)``, and the acceptance score is ``exp(-z)``, in (0, 1], 1 when greedy decoding already reads the
phrase. Why the square root: where a phrase was said, its path and the free one part only now and then, so
their gap spreads like ``sqrt(n)`` and dividing by it keeps long phrases as likely to pass as short ones, while
speech outside the grammar falls behind frame after frame. Measured (``bench/bench_rejection.py``), it rejects
more of the other speech at the same digit accuracy than the gap per frame of speech, or per frame. An utterance
is rejected when it scores below ``rejection`` (higher rejects more; default :data:`DEFAULT_REJECTION`,
calibrated there on voices the packaged digits model never heard).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from asr.decode import ArrayLike, Transcript, Word, as_numpy, words_from_tokens
from asr.errors import AsrError
from asr.text import BLANK_INDEX, WORD_SEPARATOR, Vocabulary, normalize_text

#: The phrase that stands for "something else was said" (Vosk's spelling).
UNK = "[unk]"
#: Reject an utterance whose best phrase scores below this (z above 8.1; see the module's docstring). Chosen with
#: ``bench/bench_rejection.py`` on voices the packaged digits model never heard: the middle of the thresholds
#: (1e-4 to 1e-2) that reject at least 80% of other speech while isolated-digit accuracy drops at most 3 points
#: (with the model of 2026-12-02, second retraining: 82.8% rejected, 80.8% -> 80.2%).
DEFAULT_REJECTION = 3e-4
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_NEG_INF = np.float32(-np.inf)


def normalized_phrases(phrases: Sequence[object]) -> tuple[str, ...]:
    """Each phrase normalised (:func:`asr.text.normalize_text`), each once; a one-line error for an entry that
    is not a string, a phrase with no words, :data:`UNK` inside a phrase, or no phrase besides :data:`UNK`."""
    if isinstance(phrases, str) or not isinstance(phrases, Sequence):
        raise AsrError(f"a grammar is a list of phrases, got {type(phrases).__name__}")
    kept: list[str] = []
    for number, phrase in enumerate(phrases, 1):
        if not isinstance(phrase, str):
            raise AsrError(f"grammar phrase {number} is not a string: {phrase!r}")
        if phrase.strip().lower() == UNK:
            kept.append(UNK)
            continue
        if UNK in phrase.lower():
            raise AsrError(f"{UNK} is a phrase of its own, not a word inside one: {phrase!r}")
        text = normalize_text(phrase)
        if not text:
            raise AsrError(f"grammar phrase {number} has no words: {phrase!r}")
        kept.append(text)
    unique = tuple(dict.fromkeys(kept))
    if not any(p != UNK for p in unique):
        raise AsrError("the grammar is empty: it needs at least one phrase" + (f" besides {UNK}" if unique else ""))
    return unique


@dataclass(frozen=True)
class Grammar:
    """What may be said: ``phrases`` (normalised like transcripts, each once, :data:`UNK` kept as written) and
    whether an utterance is one phrase (``loop=False``) or a sequence of one or more (``loop=True``)."""

    phrases: tuple[str, ...]
    loop: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "phrases", normalized_phrases(self.phrases))

    @property
    def has_unk(self) -> bool:
        """Whether :data:`UNK` ("something else") is one of the phrases."""
        return UNK in self.phrases

    @property
    def spoken(self) -> tuple[str, ...]:
        """The phrases other than :data:`UNK`, in order."""
        return tuple(p for p in self.phrases if p != UNK)

    @property
    def words(self) -> list[str]:
        """Every word of the spoken phrases, each once, in order of first use."""
        return list(dict.fromkeys(w for p in self.spoken for w in p.split()))


#: Grammars known by name.
BUILT_INS = {"digits": Grammar(DIGIT_WORDS, loop=True), "yesno": Grammar(("yes", "no"))}


def parse_grammar(value: str | os.PathLike[str] | Sequence[str] | Grammar) -> Grammar:
    """A grammar from what a user gives: a list of phrases; a JSON list as Vosk takes it (``'["yes", "no",
    "[unk]"]'``); a built-in name (:data:`BUILT_INS`: ``digits``, a loop of the ten digit words, and ``yesno``);
    or a file of one phrase per line (blank lines and lines starting with ``#`` skipped; a ``.json`` file holds a
    JSON list). A string is tried in that order. Lists, JSON and files give ``loop=False``."""
    if isinstance(value, Grammar):
        return value
    if isinstance(value, os.PathLike):
        return read_grammar_file(value)
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return Grammar(json_phrases(text))
        if text.lower() in BUILT_INS:
            return BUILT_INS[text.lower()]
        if text and os.path.isfile(text):
            return read_grammar_file(text)
        raise AsrError(f"the grammar {value!r} is not a JSON list of phrases, a built-in name "
                       f"({', '.join(BUILT_INS)}) or a file")
    return Grammar(tuple(value))


def client_grammar(value: object) -> Grammar:
    """A grammar sent by a network client (an upload's ``phrase_list``, a stream's config): a list of phrases, a
    JSON list's text, or a built-in name, never a file name (a client must not read the server's files)."""
    if isinstance(value, list) and all(isinstance(p, str) for p in value):
        return Grammar(tuple(value))
    if isinstance(value, str) and (value.strip().startswith("[") or value.strip().lower() in BUILT_INS):
        return parse_grammar(value)
    raise AsrError('phrase_list must be a list of phrases, such as ["yes", "no", "[unk]"], or a built-in '
                   f"grammar's name ({', '.join(BUILT_INS)})")


def json_phrases(text: str, source: str | os.PathLike[str] | None = None) -> tuple[str, ...]:
    """A JSON list of strings -> its entries; a one-line error for anything else."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise AsrError(f"the grammar is not valid JSON ({error.msg} at character {error.pos}): expected a list "
                       'of phrases such as ["yes", "no", "[unk]"]', source) from None
    if not isinstance(value, list):
        raise AsrError(f"the grammar must be a JSON list of phrases, got a JSON {type(value).__name__}", source)
    return tuple(value)


def read_grammar_file(path: str | os.PathLike[str]) -> Grammar:
    """One phrase per line (blank lines and ``#`` comments skipped), or a JSON list in a ``.json`` file."""
    if not os.path.isfile(path):
        raise AsrError("grammar file not found", path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise AsrError("the grammar file is not UTF-8 text", path) from None
    if Path(path).suffix.lower() == ".json":
        phrases = json_phrases(text, path)
    else:
        lines = (line.strip() for line in text.splitlines())
        phrases = tuple(line for line in lines if line and not line.startswith("#"))
    if not phrases:
        raise AsrError("the grammar file has no phrases", path)
    try:
        return Grammar(phrases)
    except AsrError as error:
        raise AsrError(error.reason, path) from None


def check_grammar(grammar: Grammar, vocab: Vocabulary) -> None:
    """Refuse, in one line, a grammar with words the model's characters cannot spell: it names the words and
    the characters the model lacks (such a phrase could never be recognised)."""
    bad = [w for w in grammar.words if vocab.unknown_characters(w)]
    if not bad:
        return
    known = {t for t in vocab.tokens if len(t) == 1 and t != WORD_SEPARATOR}
    missing = sorted(set().union(*(vocab.unknown_characters(w) for w in bad)))
    shown = ", ".join(repr(w) for w in bad[:8]) + (f" and {len(bad) - 8} more" if len(bad) > 8 else "")
    raise AsrError(f"the model cannot spell {len(bad)} grammar word(s): {shown}; it has no "
                   f"{', '.join(repr(c) for c in missing)} (its characters: {''.join(sorted(known))})")


@dataclass
class PhraseTree:
    """The phrases' CTC states as a prefix tree, flat in arrays of ``nodes + 1`` entries (the last a dummy that
    is never reachable). Each node is one character of a phrase, with two states: the character itself, and the
    blank before it (where a word begins: blank or separator, and at least one frame of it unless the node begins
    the phrase). Nodes are in depth-first order, so most nodes' parent is the node just before them: the pass
    reads parents as a shift, and gathers only the others (``branches``).

    ``label``: ``(nodes + 1,)`` token of each node (the dummy's: ``vocab size``, a column of -inf).
    ``parent``: ``(nodes + 1,)`` the node before (roots and the dummy: the dummy).
    ``skip``: ``(nodes + 1,)`` 0 where the character may follow its parent's without a blank between, else -inf.
    ``word_start``: ``(nodes + 1,)`` whether the node begins a word; ``roots``: the nodes that begin a phrase.
    ``branches``: nodes whose parent is not the node before them (the roots and the dummy among them).
    ``terminals``: ``(ends,)`` nodes where a phrase ends; ``phrase_end``: ``(phrases,)`` index into ``terminals``.
    """

    label: np.ndarray
    parent: np.ndarray
    skip: np.ndarray
    word_start: np.ndarray
    roots: np.ndarray
    branches: np.ndarray
    terminals: np.ndarray
    phrase_end: np.ndarray
    phrases: tuple[str, ...]

    @property
    def size(self) -> int:
        return len(self.label)


def build_tree(phrases: Sequence[str], vocab: Vocabulary) -> PhraseTree:
    """The prefix tree of ``phrases`` (normalised, spellable by ``vocab``)."""
    index = {token: i for i, token in enumerate(vocab.tokens)}
    keys: list[tuple[int, bool]] = []  # (token, begins a word) per node
    children: dict[int, dict[tuple[int, bool], int]] = {-1: {}}
    ends: list[int] = []
    for phrase in phrases:
        node = -1
        for word in phrase.split():
            for position, char in enumerate(word):
                key = (index[char], position == 0)
                if key not in children[node]:
                    children[node][key] = len(keys)
                    children[len(keys)] = {}
                    keys.append(key)
                node = children[node][key]
        ends.append(node)
    order, parents, stack = [], [], [(child, -1) for child in reversed(children[-1].values())]
    while stack:  # depth first, children in the order the phrases gave them
        node, parent = stack.pop()
        order.append(node)
        parents.append(parent)
        stack += [(child, node) for child in reversed(children[node].values())]
    new = {old: i for i, old in enumerate(order)}
    dummy = len(keys)
    label = np.array([keys[n][0] for n in order] + [len(vocab)], dtype=np.int64)
    parent = np.array([new.get(p, dummy) for p in parents] + [dummy], dtype=np.int64)
    word_start = np.array([keys[n][1] for n in order] + [False])
    skip = np.where(~word_start & (label != label[parent]), 0.0, -np.inf).astype(np.float32)
    skip[parent == dummy] = _NEG_INF
    branches = np.flatnonzero(parent != np.arange(len(parent)) - 1)
    terminals, phrase_end = np.unique([new[e] for e in ends], return_inverse=True)
    return PhraseTree(label, parent, skip, word_start, np.flatnonzero(parent[:-1] == dummy), branches,
                      terminals, phrase_end.reshape(-1), tuple(phrases))


@dataclass
class Emissions:
    """One utterance's scores: ``tokens`` ``(frames, vocab + 1)`` its log-probabilities with a column of -inf
    (the dummy node's label), ``before`` ``(frames, nodes + 1)`` each node's blank before it (blank or separator
    where a word begins), ``gap`` ``(frames,)`` the blank after a phrase's end (blank or separator)."""

    tokens: np.ndarray
    before: np.ndarray
    gap: np.ndarray

    @classmethod
    def of(cls, log_probs: np.ndarray, tree: PhraseTree, separator: int) -> Emissions:
        """``log_probs`` ``(frames, vocab)`` of one utterance."""
        log_probs = np.asarray(log_probs, dtype=np.float32)
        tokens = np.concatenate([log_probs, np.full((len(log_probs), 1), _NEG_INF, np.float32)], axis=1)
        blank = log_probs[:, BLANK_INDEX, None]
        gap = np.maximum(blank, log_probs[:, separator, None])
        before = np.multiply(tree.word_start.astype(np.float32), gap - blank)
        before += blank
        return cls(tokens, before, gap[:, 0])


@dataclass
class Trellis:
    """Every frame's state scores of a pass (what the backtrace reads): ``chars`` and ``before`` ``(frames,
    nodes + 1)`` each node's character and the blank before it, ``after`` ``(frames, ends)`` the blank after
    each phrase's end."""

    chars: np.ndarray
    before: np.ndarray
    after: np.ndarray


def viterbi(tree: PhraseTree, emissions: Emissions, loop: bool = False, forward: bool = False,
            keep: bool = False) -> tuple[np.ndarray, Trellis | None]:
    """One pass over the frames, vectorised over the tree's nodes -> ``(phrases,)`` each phrase's best path
    log-likelihood (-inf where the utterance is too short for it), and with ``keep`` the trellis.

    ``loop``: a phrase's end leads to any phrase's start (through at least one frame of blank or separator), so
    a phrase's score is that of the best sequence ending with it. ``forward``: sums over paths instead (the CTC
    forward log-likelihood; without ``loop``)."""
    combine = np.logaddexp if forward else np.maximum
    frames, branches, branch_parents = len(emissions.gap), tree.branches, tree.parent[tree.branches]
    char = np.full(tree.size, _NEG_INF, np.float32)
    before = char.copy()  # the blank before each node
    before[tree.roots] = 0.0  # where every path starts
    after = np.full(len(tree.terminals), _NEG_INF, np.float32)  # the blank after each phrase's end
    from_parent, emit = np.empty_like(char), np.empty_like(char)
    trellis = None
    if keep:
        trellis = Trellis(np.empty((frames, tree.size), np.float32), np.empty((frames, tree.size), np.float32),
                          np.empty((frames, len(tree.terminals)), np.float32))
    with np.errstate(invalid="ignore"):
        for t in range(frames):
            from_parent[1:] = char[:-1]
            from_parent[branches] = char[branch_parents]
            new_char = combine(char, before)
            if loop and t > 0:
                new_char[tree.roots] = np.maximum(new_char[tree.roots], after.max())
            after = combine(after, char[tree.terminals])
            after += emissions.gap[t]
            before = combine(before, from_parent)
            before += emissions.before[t]
            from_parent += tree.skip
            char = combine(new_char, from_parent, out=new_char)
            # The characters' scores gathered a frame at a time: one gather over all frames costs 4x more.
            char += np.take(emissions.tokens[t], tree.label, out=emit)
            if trellis is not None:
                trellis.chars[t], trellis.before[t], trellis.after[t] = char, before, after
        ends = combine(char[tree.terminals], after)
    return ends[tree.phrase_end], trellis


@dataclass
class Alignment:
    """A best path: per frame its state (``kind``: 0 a node's character, 1 the blank before a node, 2 the blank
    after a phrase's end; ``node``: the node, or for kind 2 the index into the tree's ``terminals``)."""

    kind: list[int]
    node: list[int]


def backtrace(tree: PhraseTree, trellis: Trellis, loop: bool = False) -> Alignment:
    """The best path through a kept trellis, from its best final state back to the first frame: at each frame
    the predecessor that scored best (the one the pass took)."""
    frames = len(trellis.chars)
    last_char, last_after = trellis.chars[-1][tree.terminals], trellis.after[-1]
    end = int(np.argmax(np.maximum(last_char, last_after)))
    kind, node = (2, end) if last_after[end] >= last_char[end] else (0, int(tree.terminals[end]))
    dummy, roots = tree.size - 1, set(tree.roots.tolist())
    kinds, nodes = [0] * frames, [0] * frames
    for t in range(frames - 1, 0, -1):
        kinds[t], nodes[t] = kind, node
        chars, before, after = trellis.chars[t - 1], trellis.before[t - 1], trellis.after[t - 1]
        if kind == 0:
            parent = int(tree.parent[node])
            options = [(chars[node], 0, node), (before[node], 1, node)]
            if parent != dummy:
                options.append((chars[parent] + tree.skip[node], 0, parent))
            if loop and node in roots:
                best = int(after.argmax())
                options.append((after[best], 2, best))
        elif kind == 1:
            parent = int(tree.parent[node])
            options = [(before[node], 1, node)] + ([(chars[parent], 0, parent)] if parent != dummy else [])
        else:
            options = [(after[node], 2, node), (chars[tree.terminals[node]], 0, int(tree.terminals[node]))]
        _, kind, node = max(options, key=lambda option: option[0])
    if frames:
        kinds[0], nodes[0] = kind, node
    return Alignment(kinds, nodes)


def path_tokens(tree: PhraseTree, alignment: Alignment, separator: int) -> tuple[list[int], list[int]]:
    """The tokens a path emits and the frame each begins at, with the separator before each word but the
    first (what :func:`asr.decode.words_from_tokens` takes)."""
    tokens: list[int] = []
    frames: list[int] = []
    previous = (-1, -1)
    for t, state in enumerate(zip(alignment.kind, alignment.node, strict=True)):
        kind, node = state
        if kind == 0 and state != previous:
            if tree.word_start[node] and tokens:
                tokens.append(separator)
                frames.append(t)
            tokens.append(int(tree.label[node]))
            frames.append(t)
        previous = state
    return tokens, frames


@dataclass
class Scored:
    """One utterance decoded with a grammar, before rejection: the best phrase (or sequence) with its word
    times and confidences, the log-likelihood of its path and of the free best path, and the frames."""

    transcript: Transcript
    log_likelihood: float  # the best phrase's path (-inf: no phrase fits)
    free_log_likelihood: float  # the best token in every frame
    frames: int
    speech_frames: int  # frames whose best token is a character (not blank, not the separator)
    speech: tuple[int, int] = field(default=(0, 0))  # first frame of speech, one past the last

    @property
    def gap(self) -> float:
        """How far, in nats, the best phrase's path falls below the free best path (0 or more; inf: no phrase)."""
        if not math.isfinite(self.log_likelihood):
            return math.inf
        return max(self.free_log_likelihood - self.log_likelihood, 0.0)

    @property
    def score(self) -> float:
        """The acceptance score in [0, 1]: ``exp(-gap / sqrt(speech frames))`` (1: greedy decoding reads the
        phrase; 0: no phrase fits)."""
        return math.exp(-self.gap / math.sqrt(max(self.speech_frames, 1)))


class GrammarDecoder:
    """Decodes to exactly one of ``grammar``'s phrases per utterance (a sequence of them for a loop grammar),
    rejecting what scores below ``rejection`` (None: :data:`DEFAULT_REJECTION`): as :data:`UNK` where the
    grammar has it (one word spanning the speech, its confidence one minus the score), as an empty transcript
    where it does not and ``reject`` is set, and not at all otherwise. A loop grammar's sequence is judged whole.
    An utterance in which no frame's best token is a character (nothing said) gives an empty transcript.

    Built once per grammar (the phrases' tree is made here; a word the model cannot spell is an error here)
    and called like :class:`asr.decode.GreedyDecoder`."""

    def __init__(self, vocab: Vocabulary, frame_seconds: float, grammar: Grammar, rejection: float | None = None,
                 reject: bool = False) -> None:
        grammar = parse_grammar(grammar)  # a Grammar as it is; phrases or a JSON list are taken too
        check_grammar(grammar, vocab)
        rejection = DEFAULT_REJECTION if rejection is None else float(rejection)
        if not math.isfinite(rejection):
            raise AsrError(f"the rejection threshold must be a finite number, got {rejection!r}")
        self.vocab = vocab
        self.frame_seconds = frame_seconds
        self.grammar = grammar
        self.rejection = rejection
        self.reject = reject
        self.separator = vocab.tokens.index(WORD_SEPARATOR)
        self.tree = build_tree(grammar.spoken, vocab)
        self._chains: dict[int, PhraseTree] = {}  # one phrase's own tree, for its alignment

    def __call__(self, log_probs: ArrayLike, lengths: ArrayLike) -> list[Transcript]:
        """``(batch, frames, vocab)``, ``(batch,)`` -> one transcript per utterance."""
        return [self.decide(scored) for scored in self.score(log_probs, lengths)]

    def score(self, log_probs: ArrayLike, lengths: ArrayLike) -> list[Scored]:
        """``(batch, frames, vocab)``, ``(batch,)`` -> each utterance's best phrase and its scores, nothing
        rejected yet (:meth:`decide` does that)."""
        log_probs, lengths = as_numpy(log_probs), as_numpy(lengths)
        return [self.score_one(log_probs[b, : int(lengths[b])]) for b in range(log_probs.shape[0])]

    def score_one(self, log_probs: np.ndarray, forward: bool = False) -> Scored:
        """``(frames, vocab)`` of one utterance -> its best phrase and scores (``forward``: phrases ranked by
        their CTC forward log-likelihood instead of their best path's, for measurements)."""
        log_probs = np.asarray(log_probs, dtype=np.float32)
        top = log_probs.argmax(axis=-1) if len(log_probs) else np.zeros(0, np.int64)
        speech = np.flatnonzero((top != BLANK_INDEX) & (top != self.separator))
        free = float(log_probs.max(axis=-1).sum()) if len(log_probs) else 0.0
        span = (int(speech[0]), int(speech[-1]) + 1) if len(speech) else (0, len(log_probs))
        nothing = Scored(Transcript(""), -math.inf, free, len(log_probs), len(speech), span)
        if not len(log_probs):
            return nothing
        if self.grammar.loop:
            tree = self.tree
            scores, trellis = viterbi(tree, Emissions.of(log_probs, tree, self.separator), loop=True, keep=True)
        else:
            scores, _ = viterbi(self.tree, Emissions.of(log_probs, self.tree, self.separator), forward=forward)
            tree = self._chain(int(scores.argmax()))
            scores, trellis = viterbi(tree, Emissions.of(log_probs, tree, self.separator), keep=True)
        best = float(scores.max())
        if not math.isfinite(best):
            return nothing
        alignment = backtrace(tree, trellis, self.grammar.loop)
        tokens, frames = path_tokens(tree, alignment, self.separator)
        transcript = words_from_tokens(tokens, frames, log_probs, self.vocab, self.frame_seconds)
        return Scored(transcript, best, free, len(log_probs), len(speech), span)

    def _chain(self, phrase: int) -> PhraseTree:
        if phrase not in self._chains:
            self._chains[phrase] = build_tree([self.tree.phrases[phrase]], self.vocab)
        return self._chains[phrase]

    def decide(self, scored: Scored) -> Transcript:
        """The transcript for one scored utterance: its best phrase, or :data:`UNK` / nothing if rejected."""
        if scored.speech_frames == 0:
            return Transcript("")
        if scored.score >= self.rejection and math.isfinite(scored.log_likelihood):
            return scored.transcript
        if self.grammar.has_unk:
            start, end = scored.speech
            return Transcript(UNK, [Word(UNK, start * self.frame_seconds, end * self.frame_seconds,
                                         1.0 - scored.score)])
        if self.reject or not math.isfinite(scored.log_likelihood):
            return Transcript("")
        return scored.transcript
