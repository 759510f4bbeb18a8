"""asr.char_lm: a character n-gram LM in a lexicon-free beam search steers ambiguous characters towards the
training text's spellings, and still lets out words the text never had."""

from __future__ import annotations

import numpy as np
import pytest

from asr.char_lm import CharLMBeamSearchDecoder, build_char_lm, char_sentence
from asr.decoding import Decoding, build_decoder
from asr.errors import AsrError
from asr.lm import build_arpa, write_arpa
from asr.text import Vocabulary

VOCAB = Vocabulary(["<blank>", "|", "a", "b", "c"])


def emissions(*frames: dict[str, float]) -> np.ndarray:
    """``(1, frames, vocab)`` log-probabilities from each frame's probabilities by token (the rest share 1e-4)."""
    out = np.full((1, len(frames), len(VOCAB)), 1e-4, dtype=np.float32)
    for t, probabilities in enumerate(frames):
        for token, p in probabilities.items():
            out[0, t, VOCAB.tokens.index(token)] = p
    out /= out.sum(-1, keepdims=True)
    return np.log(out)


def test_char_sentence_spells_words_with_the_separator():
    assert char_sentence("We  call it!") == "w e | c a l l | i t"
    assert char_sentence("don't") == "d o n ' t"


def test_the_lm_decides_an_ambiguous_character_and_unseen_words_still_come_out(tmp_path):
    lm = tmp_path / "chars.arpa"
    write_arpa(build_char_lm(["ab", "ab ab", "cab"], order=3), lm)
    ambiguous = emissions({"a": 0.9}, {"<blank>": 0.9}, {"b": 0.45, "c": 0.55}, {"<blank>": 0.9})
    lengths = np.array([4])

    def decode(weight: float, log_probs: np.ndarray) -> str:
        decoding = Decoding.beam(beam_size=8, lm_weight=weight, lm_arpa=lm.read_text(), lm_unit="char")
        decoder = build_decoder(VOCAB, 0.04, decoding)  # as a model file's stored decoding builds it
        assert isinstance(decoder, CharLMBeamSearchDecoder)
        return decoder(log_probs, lengths)[0].text

    assert decode(0.0, ambiguous) == "ac"  # the acoustics alone
    assert decode(1.0, ambiguous) == "ab"  # the LM knows "ab", never "ac"
    clear = emissions({"b": 0.9}, {"<blank>": 0.9}, {"a": 0.95}, {"c": 0.95})
    assert decode(1.0, clear) == "bac"  # open vocabulary: a spelling the training text never had


def test_a_word_lm_or_a_unigram_is_refused(tmp_path):
    words = tmp_path / "words.arpa"
    write_arpa(build_arpa(["abc cab", "cab"], order=2), words)
    with pytest.raises(AsrError, match="not a character LM of this model"):
        build_decoder(VOCAB, 0.04, Decoding.beam(lm_arpa=words.read_text(), lm_unit="char"))
    unigram = tmp_path / "unigram.arpa"
    write_arpa(build_char_lm(["ab"], order=1), unigram)
    with pytest.raises(AsrError, match="unigram"):
        build_decoder(VOCAB, 0.04, Decoding.beam(lm_arpa=unigram.read_text(), lm_unit="char"))
    with pytest.raises(AsrError, match="needs the LM"):
        CharLMBeamSearchDecoder(VOCAB, 0.04, Decoding.beam())
    with pytest.raises(AsrError, match="without a lexicon"):
        Decoding.beam(lexicon=["ab"], lm_arpa=words.read_text(), lm_unit="char")
