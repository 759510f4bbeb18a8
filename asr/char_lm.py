"""Open-vocabulary decoding with a character n-gram LM: lexicon-free CTC beam search whose LM scores each
emitted character (and each word boundary), so that words the training text never had can still come out,
spelled as the LM finds likely.

flashlight's lexicon-free decoder asks its LM for the next *token*, so the LM's "words" are the model's
characters: a transcript ``we call`` is the LM sentence ``w e | c a l l`` (``|`` the word separator). The LM is
an ordinary ARPA file built by :func:`asr.lm.build_arpa` over such sentences (:func:`build_char_lm`).

:class:`CharLMBeamSearchDecoder` is :class:`asr.decode.BeamSearchDecoder` with that LM in its lexicon-free
search. Importing this module does not import PyTorch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from asr.decode import BeamSearchDecoder, load_kenlm
from asr.decoding import Decoding
from asr.errors import AsrError
from asr.lm import NgramModel, arpa_file, build_arpa
from asr.text import BLANK_INDEX, WORD_SEPARATOR, Vocabulary, normalize_text


def char_sentence(text: str) -> str:
    """A transcript as the character LM's sentence: ``"we call"`` -> ``"w e | c a l l"``."""
    return " ".join(WORD_SEPARATOR if ch == " " else ch for ch in normalize_text(text))


def build_char_lm(texts: Iterable[str], order: int = 6) -> NgramModel:
    """An interpolated Kneser-Ney ``order``-gram LM over the characters of ``texts`` (transcripts, normalised
    here), word boundaries included; write it with :func:`asr.lm.write_arpa`."""
    return build_arpa((char_sentence(t) for t in texts), order=order)


class CharLMBeamSearchDecoder(BeamSearchDecoder):
    """Lexicon-free CTC beam search scored by a character n-gram LM (:func:`build_char_lm`).

    ``(batch, frames, vocab)`` log-probabilities with ``lengths (batch,)`` -> one transcript each, as every
    decoder here. ``decoding.lm_arpa`` is the LM's ARPA text (``lm_unit="char"``), ``decoding.lm_weight`` weighs
    its log-probability of each emitted token, and ``decoding.word_score`` is added at each word boundary (an
    insertion bonus, as with a word LM); the other settings are the beam's.
    """

    def __init__(self, vocab: Vocabulary, frame_seconds: float, decoding: Decoding) -> None:
        if decoding.lm_arpa is None:
            raise AsrError("a character-LM decoder needs the LM (its ARPA text)")
        # lexicon-free without an LM first: its search is replaced here
        super().__init__(vocab, frame_seconds, dataclasses.replace(decoding, lm_arpa=None))
        self.config = decoding
        from flashlight.lib.text import decoder as fl

        lm = arpa_file(decoding.lm_arpa)  # written once per process, never parsed whole
        if lm.order < 2:
            raise AsrError("a unigram LM: the beam search's KenLM needs an LM of order 2 or more", lm.path)
        spelled = [w for w in lm.vocabulary if w not in ("<s>", "</s>", "<unk>")]
        strangers = [w for w in spelled if w not in vocab.tokens]
        if strangers:
            raise AsrError(f"not a character LM of this model: {len(strangers)} of its words are not the model's "
                           f"tokens (the first {strangers[0]!r}); build it with asr.char_lm.build_char_lm", lm.path)
        # the LM's vocabulary numbered as the model's tokens (the blank is never scored)
        self._lm = load_kenlm(lm.path, vocab.tokens)
        cfg = self.config
        options = fl.LexiconFreeDecoderOptions(
            beam_size=cfg.beam_size, beam_size_token=cfg.beam_size_token or len(vocab),
            beam_threshold=cfg.beam_threshold, lm_weight=cfg.lm_weight, sil_score=cfg.word_score, log_add=False,
            criterion_type=fl.CriterionType.CTC)
        self._decoder = fl.LexiconFreeDecoder(options, self._lm, vocab.tokens.index(WORD_SEPARATOR), BLANK_INDEX,
                                              [])
