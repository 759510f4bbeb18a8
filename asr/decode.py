"""CTC decoding: greedy, and beam search through flashlight-text's decoder.

Both take log-probabilities ``(batch, frames, vocab)`` with ``lengths (batch,)`` (NumPy arrays or
PyTorch tensors) and return one :class:`Transcript` per utterance, with per-word start/end times and
confidences. Neither imports PyTorch (greedy decoding runs in NumPy, beam search in flashlight-text),
so the ONNX inference path starts fast.
"""

from __future__ import annotations

import math
import os
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from asr import lm as arpa_lm
from asr.decoding import Decoding
from asr.errors import AsrError
from asr.quiet import quiet_stderr
from asr.text import BLANK_INDEX, WORD_SEPARATOR, Vocabulary

#: Log-probabilities or lengths as either library holds them.
ArrayLike = Any  # np.ndarray | torch.Tensor


def as_numpy(values: ArrayLike) -> np.ndarray:
    """A NumPy view of a tensor (detached, on the CPU, float32 for floating types) or of an array."""
    if hasattr(values, "detach"):  # a torch.Tensor, recognised without importing torch
        values = values.detach().cpu()
        values = values.float() if values.is_floating_point() else values
        return values.numpy()
    return np.asarray(values)


@dataclass
class Word:
    """A recognised word with its time span in seconds and a confidence in (0, 1]."""

    word: str
    start: float
    end: float
    confidence: float

    def to_dict(self) -> dict[str, float | str]:
        return {"word": self.word, "start": round(self.start, 3), "end": round(self.end, 3),
                "confidence": round(self.confidence, 4)}


@dataclass
class Transcript:
    """The result for one utterance."""

    text: str
    words: list[Word] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {"text": self.text, "words": [w.to_dict() for w in self.words]}


def words_from_tokens(
    tokens: Sequence[int],
    frames: Sequence[int],
    log_probs: np.ndarray,
    vocab: Vocabulary,
    frame_seconds: float,
) -> Transcript:
    """Group emitted tokens into words with times and confidences.

    Args:
        tokens: emitted token ids, blanks and repeats already removed.
        frames: the output frame at which each token was emitted.
        log_probs: ``(frames, vocab)`` for the utterance.
        frame_seconds: seconds per output frame.

    A word starts at its first token's frame and ends one frame after its last token's frame;
    its confidence is the geometric mean of its tokens' peak posteriors.
    """
    separator = vocab.tokens.index(WORD_SEPARATOR)
    num_frames = log_probs.shape[0]
    # A token's posterior is its peak between its own frame and the next token's: beam search with a
    # lexicon may place a token on the first frame of its span rather than on its peak.
    bounds, next_frame = [], num_frames
    for token, frame in zip(reversed(tokens), reversed(frames), strict=True):
        bounds.append(next_frame)
        if token not in (separator, BLANK_INDEX):
            next_frame = int(frame)
    bounds.reverse()
    words: list[Word] = []
    current: list[tuple[int, int, float]] = []

    def flush() -> None:
        if not current:
            return
        text = "".join(vocab.tokens[t] for t, _, _ in current)
        mean_log_prob = sum(lp for _, _, lp in current) / len(current)
        start, end = current[0][1], current[-1][1] + 1
        words.append(Word(text, start * frame_seconds, end * frame_seconds, math.exp(mean_log_prob)))
        current.clear()

    for token, frame, bound in zip(tokens, frames, bounds, strict=True):
        if token == separator:
            flush()
        elif token != BLANK_INDEX:
            span_end = min(max(int(bound), int(frame) + 1), num_frames)
            peak = float(log_probs[int(frame) : span_end, int(token)].max())
            current.append((int(token), int(frame), peak))
    flush()
    return Transcript(" ".join(w.word for w in words), words)


class GreedyDecoder:
    """Best token per frame, repeats collapsed, blanks removed."""

    def __init__(self, vocab: Vocabulary, frame_seconds: float) -> None:
        self.vocab = vocab
        self.frame_seconds = frame_seconds

    def __call__(self, log_probs: ArrayLike, lengths: ArrayLike) -> list[Transcript]:
        """``(batch, frames, vocab)``, ``(batch,)`` -> one transcript per utterance."""
        log_probs, lengths = as_numpy(log_probs), as_numpy(lengths)
        best = log_probs.argmax(axis=-1)
        results = []
        for b in range(best.shape[0]):
            path = best[b, : int(lengths[b])]
            keep = np.ones(path.shape, dtype=bool)
            keep[1:] = path[1:] != path[:-1]
            keep &= path != BLANK_INDEX
            frames = np.flatnonzero(keep)
            results.append(
                words_from_tokens(path[frames].tolist(), frames.tolist(), log_probs[b], self.vocab,
                                  self.frame_seconds)
            )
        return results


def check_spellable(words: Sequence[str], vocab: Vocabulary, source: str | os.PathLike[str] | None = None) -> None:
    """Refuse, in one line, a lexicon with words the model's characters cannot spell: it names the words and the
    characters the model lacks (a lexicon word the model cannot spell could never be recognised)."""
    if not words:
        raise AsrError("the lexicon is empty", source)
    known = {t for t in vocab.tokens if len(t) == 1 and t != WORD_SEPARATOR}
    bad = [w for w in dict.fromkeys(words) if not w.strip() or " " in w or vocab.unknown_characters(w)]
    if not bad:
        return
    spaced = [w for w in bad if not w.strip() or " " in w]
    if spaced:
        raise AsrError(f"a lexicon word must be one word without spaces, got {spaced[0]!r}", source)
    missing = sorted(set().union(*(vocab.unknown_characters(w) for w in bad)))
    shown = ", ".join(repr(w) for w in bad[:8]) + (f" and {len(bad) - 8} more" if len(bad) > 8 else "")
    raise AsrError(f"the model cannot spell {len(bad)} lexicon word(s): {shown}; it has no "
                   f"{', '.join(repr(c) for c in missing)} (its characters: {''.join(sorted(known))})", source)


def with_closing_separator(log_probs: np.ndarray, lengths: np.ndarray, separator: int) -> tuple[np.ndarray, np.ndarray]:
    """Append to each utterance one frame that is certainly the word separator.

    Lexicon spellings end with the separator, so a word that fills the utterance to its last frame
    could not be completed; the added frame lets every hypothesis close its last word at no cost.
    ``(batch, frames, vocab)``, ``(batch,)`` -> ``(batch, frames + 1, vocab)``, ``(batch,)``.
    """
    batch, frames, vocab = log_probs.shape
    closing = np.full(vocab, -1e4, dtype=np.float32)
    closing[separator] = 0.0
    out = np.full((batch, frames + 1, vocab), -1e4, dtype=np.float32)
    for b in range(batch):
        length = int(lengths[b])
        out[b, :length] = log_probs[b, :length]
        out[b, length] = closing
    return out, lengths + 1


#: The KenLMs decoders hold, by (file, its size and time, the words in order): a decoder built while another
#: holds the same LM over the same words shares it (KenLM's model is read-only; each search makes its own states).
_KENLMS: weakref.WeakValueDictionary[tuple[Any, ...], Any] = weakref.WeakValueDictionary()
_KENLMS_LOCK = threading.Lock()


def load_kenlm(path: str | os.PathLike[str], words: Sequence[str]) -> Any:
    """flashlight's KenLM over the ARPA file ``path``, ``words`` numbered in this order (its note about binary
    files silenced), shared with any live decoder that loaded the same. A file KenLM cannot read is an
    :class:`AsrError`: :func:`asr.lm.read_arpa`'s, naming the bad line, where it finds one, else KenLM's message."""
    from flashlight.lib.text.decoder.kenlm import KenLM
    from flashlight.lib.text.dictionary import Dictionary

    stat = os.stat(path)
    key = (os.path.abspath(path), stat.st_size, stat.st_mtime_ns, tuple(words))
    with _KENLMS_LOCK:
        known = _KENLMS.get(key)
    if known is not None:
        return known
    numbered = Dictionary()  # numbered exactly in this order (create_word_dict goes through a hash map)
    for word in words:
        numbered.add_entry(word)
    try:
        with quiet_stderr():
            loaded = KenLM(os.fspath(path), numbered)
    except RuntimeError as error:
        arpa_lm.read_arpa(path)
        reason = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
        raise AsrError(f"KenLM cannot read the language model: {reason}", path) from None
    with _KENLMS_LOCK:
        _KENLMS[key] = loaded
    return loaded


class BeamSearchDecoder:
    """CTC beam search with an optional lexicon and an optional word n-gram LM (ARPA), on flashlight-text's
    decoder directly (the library behind torchaudio's ``ctc_decoder``), so it runs without PyTorch.

    ``decoding`` (a :class:`asr.decoding.Decoding`) holds the settings, the lexicon's words and the LM's ARPA
    text. With a word LM but no lexicon, the LM's own vocabulary becomes the lexicon, since a word LM needs
    to know where words are. Without either, decoding is lexicon-free over characters.
    """

    def __init__(self, vocab: Vocabulary, frame_seconds: float, decoding: Decoding | None = None) -> None:
        from flashlight.lib.text import decoder as fl

        self.vocab = vocab
        self.frame_seconds = frame_seconds
        self.config = decoding or Decoding.beam()
        lm: arpa_lm.ArpaFile | None = None
        if self.config.lm_arpa is not None and self.config.lm_unit == "word":
            lm = arpa_lm.arpa_file(self.config.lm_arpa)  # written once per process, never parsed whole
        words: list[str] | None = None
        if self.config.lexicon is not None:
            words = list(dict.fromkeys(self.config.lexicon))  # each once: KenLM's dictionary refuses repeats
            check_spellable(words, vocab)
        if lm is not None:
            if lm.order < 2:
                raise AsrError("a unigram LM: the beam search's KenLM needs an LM of order 2 or more "
                               "(asr build-lm --order 2)", lm.path)
            arpa_words = [w for w in lm.vocabulary if w not in ("<s>", "</s>", "<unk>")]
            if words is None:
                spellable = set(vocab.tokens)  # as vocab.unknown_characters, once for all the LM's words
                words = sorted(w for w in arpa_words if set(w) <= spellable)
                if not words:
                    raise AsrError("no word of the language model can be spelled by the model", lm.path)
        self._uses_lexicon = words is not None
        self.words = words
        cfg, size = self.config, len(vocab)
        separator = vocab.tokens.index(WORD_SEPARATOR)
        common = dict(beam_size=cfg.beam_size, beam_size_token=cfg.beam_size_token or size,
                      beam_threshold=cfg.beam_threshold, lm_weight=cfg.lm_weight if lm is not None else 0.0,
                      sil_score=0.0, log_add=False, criterion_type=fl.CriterionType.CTC)
        if words is None:
            self._lm = fl.ZeroLM()
            self._decoder = fl.LexiconFreeDecoder(fl.LexiconFreeDecoderOptions(**common), self._lm, separator,
                                                  BLANK_INDEX, [])
            return
        self._word_list = [*words, "<unk>"]
        word_index = {w: i for i, w in enumerate(self._word_list)}
        # words numbered as in the lexicon
        self._lm = load_kenlm(lm.path, self._word_list) if lm is not None else fl.ZeroLM()
        start = self._lm.start(False)
        trie = fl.Trie(size, separator)
        for word in words:
            _, score = self._lm.score(start, word_index[word])
            # Each spelling ends with the word separator: without it, a long "nnnooo" may be read as
            # two words "no no" (seen on the yes/no test set).
            trie.insert([vocab.tokens.index(c) for c in word] + [separator], word_index[word], score)
        trie.smear(fl.SmearingMode.MAX)
        unk_score = float("-inf") if cfg.unk_score is None else cfg.unk_score
        options = fl.LexiconDecoderOptions(**common, word_score=cfg.word_score, unk_score=unk_score)
        self._decoder = fl.LexiconDecoder(options, trie, self._lm, separator, BLANK_INDEX, word_index["<unk>"],
                                          [], False)

    def __call__(self, log_probs: ArrayLike, lengths: ArrayLike) -> list[Transcript]:
        """``(batch, frames, vocab)``, ``(batch,)`` -> one transcript per utterance."""
        emissions = np.ascontiguousarray(as_numpy(log_probs), dtype=np.float32)
        lengths = as_numpy(lengths).astype(np.int64)
        if self._uses_lexicon:
            searched, searched_lengths = with_closing_separator(emissions, lengths,
                                                                self.vocab.tokens.index(WORD_SEPARATOR))
        else:
            searched, searched_lengths = emissions, lengths
        searched = np.ascontiguousarray(searched, dtype=np.float32)
        batch, frames, size = searched.shape
        results = []
        for b in range(batch):
            pointer = searched.ctypes.data + 4 * b * frames * size
            hypotheses = self._decoder.decode(pointer, int(searched_lengths[b]), size)
            if not hypotheses:
                results.append(Transcript(""))
                continue
            results.append(self._transcript(hypotheses[0], emissions[b], int(lengths[b])))
        return results

    def _transcript(self, hypothesis: Any, emissions: np.ndarray, length: int) -> Transcript:
        # flashlight's path has one entry per frame plus its start state at index 0; tokens are the path
        # with repeats collapsed and blanks removed, each at the frame where it begins.
        path = list(hypothesis.tokens)
        tokens, frames = [], []
        for i, token in enumerate(path):
            if token != BLANK_INDEX and (i == 0 or token != path[i - 1]):
                tokens.append(token)
                frames.append(min(max(i - 1, 0), max(length - 1, 0)))
        result = words_from_tokens(tokens, frames, emissions, self.vocab, self.frame_seconds)
        if self._uses_lexicon:
            spelled = [self._word_list[w] for w in hypothesis.words if w >= 0]
            if len(result.words) > len(spelled):  # a spelling left unfinished at the end: not a word
                result.words = result.words[: len(spelled)]
                result.text = " ".join(spelled)
            if len(result.words) == len(spelled):
                for word, text in zip(result.words, spelled, strict=True):
                    word.word = text  # the lexicon's spelling, whole even where a double letter was merged
                result.text = " ".join(spelled)
        return result
