"""CTC decoding: greedy, and beam search through torchaudio's flashlight decoder.

Both take log-probabilities ``(batch, frames, vocab)`` with ``lengths (batch,)`` (NumPy arrays or
PyTorch tensors) and return one :class:`Transcript` per utterance, with per-word start/end times and
confidences. Importing this module does not import PyTorch (greedy decoding runs in NumPy), so the
ONNX inference path starts fast; beam search imports it when first used.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from asr.errors import AsrError
from asr.lm import read_arpa
from asr.text import BLANK_INDEX, BLANK_TOKEN, WORD_SEPARATOR, Vocabulary, normalize_text

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


@dataclass
class BeamSearchConfig:
    """Beam-search settings (flashlight's CTC decoder)."""

    beam_size: int = 16  # hypotheses kept per frame
    beam_size_token: int | None = None  # tokens considered per frame; None means all
    beam_threshold: float = 30.0  # prune hypotheses this far (log) below the best
    lm_weight: float = 1.0  # weight of the word language model
    word_score: float = 0.0  # added per word: the word insertion bonus
    unk_score: float = float("-inf")  # score of a word outside the lexicon (-inf forbids them)


def read_lexicon(path: str | os.PathLike[str], vocab: Vocabulary) -> list[str]:
    """Read a word list: one word per line (anything after the first whitespace is ignored).

    Words are normalised like transcripts; words the vocabulary cannot spell are dropped with an error
    if none remain.
    """
    if not os.path.isfile(path):
        raise AsrError("lexicon file not found", path)
    try:
        with open(path, encoding="utf-8") as handle:
            words = [normalize_text(line.split()[0]) for line in handle if line.strip()]
    except UnicodeDecodeError:
        raise AsrError("lexicon is not UTF-8 text", path) from None
    spellable = sorted({w for w in words if w and " " not in w and not vocab.unknown_characters(w)})
    if not spellable:
        raise AsrError("lexicon has no word that the model's characters can spell", path)
    return spellable


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


class BeamSearchDecoder:
    """CTC beam search with an optional lexicon and an optional word n-gram LM (ARPA).

    With an LM but no lexicon, the LM's own vocabulary becomes the lexicon, since a word LM needs
    to know where words are. Without either, decoding is lexicon-free over characters.
    """

    def __init__(
        self,
        vocab: Vocabulary,
        frame_seconds: float,
        config: BeamSearchConfig | None = None,
        lexicon: str | os.PathLike[str] | Sequence[str] | None = None,
        lm: str | os.PathLike[str] | None = None,
    ) -> None:
        from torchaudio.models.decoder import ctc_decoder  # imported here: it loads flashlight

        self.vocab = vocab
        self.frame_seconds = frame_seconds
        self.config = config or BeamSearchConfig()
        if self.config.beam_size < 1:
            raise AsrError(f"beam size must be at least 1, got {self.config.beam_size}")
        words: list[str] | None = None
        if lexicon is not None:
            words = read_lexicon(lexicon, vocab) if isinstance(lexicon, str | os.PathLike) else list(lexicon)
        if lm is not None:
            arpa_words = [w for w in read_arpa(lm).vocabulary if w not in ("<s>", "</s>", "<unk>")]
            if words is None:
                words = sorted(w for w in arpa_words if not vocab.unknown_characters(w))
                if not words:
                    raise AsrError("no word of the language model can be spelled by the model", lm)
        self._uses_lexicon = words is not None
        self._tmp = tempfile.TemporaryDirectory(prefix="asr-decoder-")
        lexicon_path = None
        if words is not None:
            lexicon_path = Path(self._tmp.name) / "lexicon.txt"
            # Each spelling ends with the word separator, as flashlight expects: without it, a long
            # "nnnooo" may be read as two words "no no" (seen on the yes/no test set).
            lexicon_path.write_text(
                "".join(f"{w}\t{' '.join(w)} {WORD_SEPARATOR}\n" for w in words), encoding="utf-8"
            )
        cfg = self.config
        self._decoder = ctc_decoder(
            lexicon=None if lexicon_path is None else str(lexicon_path),
            tokens=vocab.tokens,
            lm=None if lm is None else os.fspath(lm),
            nbest=1,
            beam_size=cfg.beam_size,
            beam_size_token=cfg.beam_size_token,
            beam_threshold=cfg.beam_threshold,
            lm_weight=cfg.lm_weight if lm is not None else 0.0,
            word_score=cfg.word_score,
            unk_score=cfg.unk_score,
            sil_score=0.0,
            log_add=False,
            blank_token=BLANK_TOKEN,
            sil_token=WORD_SEPARATOR,
            unk_word="<unk>",
        )

    def __call__(self, log_probs: ArrayLike, lengths: ArrayLike) -> list[Transcript]:
        """``(batch, frames, vocab)``, ``(batch,)`` -> one transcript per utterance."""
        import torch

        emissions = np.ascontiguousarray(as_numpy(log_probs), dtype=np.float32)
        lengths = as_numpy(lengths).astype(np.int32)
        if self._uses_lexicon:
            searched, searched_lengths = with_closing_separator(emissions, lengths,
                                                                self.vocab.tokens.index(WORD_SEPARATOR))
        else:
            searched, searched_lengths = emissions, lengths
        hypotheses = self._decoder(torch.from_numpy(searched), torch.from_numpy(searched_lengths))
        results = []
        for b, nbest in enumerate(hypotheses):
            if not nbest:
                results.append(Transcript(""))
                continue
            hyp = nbest[0]
            # flashlight counts frames from 1 (frame 0 is its start state) and pads the result with
            # word separators; shift back and clamp so every time lies inside the utterance.
            last = max(int(lengths[b]) - 1, 0)
            frames = [min(max(int(t) - 1, 0), last) for t in hyp.timesteps.tolist()]
            # With a lexicon every spelling ends with the separator, so the tokens mark the word ends.
            result = words_from_tokens(hyp.tokens.tolist(), frames, emissions[b], self.vocab, self.frame_seconds)
            if self._uses_lexicon and len(result.words) == len(hyp.words):
                for word, spelled in zip(result.words, hyp.words, strict=True):
                    word.word = spelled  # the lexicon's spelling, whole even where a double letter was merged
                result.text = " ".join(hyp.words)
            results.append(result)
        return results
