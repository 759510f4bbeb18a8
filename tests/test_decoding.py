"""Decoders on hand-built emission matrices with known answers."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from asr.decode import BeamSearchDecoder, GreedyDecoder, Transcript, Word
from asr.decoding import Decoding, build_decoder, check_decoding
from asr.errors import AsrError
from asr.inference import confident_words
from asr.lm import build_arpa, write_arpa
from asr.text import Vocabulary

VOCAB = Vocabulary.from_transcripts(["yes no cat cot"])


def emissions(frames: list[str | dict[str, float]]) -> torch.Tensor:
    """``(1, frames, vocab)`` log-probs: a char (``'_'`` blank, ``' '`` separator) or a {char: prob} dict per frame."""
    probs = torch.full((len(frames), len(VOCAB)), 1e-4)
    for t, frame in enumerate(frames):
        spec = frame if isinstance(frame, dict) else {frame: 1.0}
        for char, p in spec.items():
            probs[t, _index(char)] = p
    probs = probs / probs.sum(-1, keepdim=True)
    return probs.log().unsqueeze(0)


def _index(char: str) -> int:
    return 0 if char == "_" else VOCAB.tokens.index("|" if char == " " else char)


def test_greedy_collapses_repeats_and_removes_blanks():
    lp = emissions(list("yy_ees__ _nn_o_"))
    result = GreedyDecoder(VOCAB, 0.04)(lp, torch.tensor([lp.shape[1]]))[0]
    assert result.text == "yes no"
    assert [w.word for w in result.words] == ["yes", "no"]
    # "y" at frame 0, "s" at frame 5 -> yes spans [0, 6) frames; "n" at 10, "o" at 13 -> no spans [10, 14)
    assert (result.words[0].start, result.words[0].end) == (0.0, 6 * 0.04)
    assert abs(result.words[1].start - 10 * 0.04) < 1e-9 and abs(result.words[1].end - 14 * 0.04) < 1e-9
    assert all(0.99 < w.confidence <= 1.0 for w in result.words)


def test_greedy_keeps_double_letters_split_by_blank():
    lp = emissions(list("c_oo_o_t"))
    assert GreedyDecoder(VOCAB, 0.01)(lp, torch.tensor([8]))[0].text == "coot"


def test_greedy_respects_lengths_in_a_batch():
    a, b = emissions(list("no__")), emissions(list("yes_"))
    batch = torch.cat([a, b])
    results = GreedyDecoder(VOCAB, 0.01)(batch, torch.tensor([4, 2]))
    assert [r.text for r in results] == ["no", "ye"]


def test_beam_without_lexicon_matches_greedy_on_peaky_emissions():
    lp = emissions(list("yy_ees__ _nn_o_"))
    beam = BeamSearchDecoder(VOCAB, 0.04, Decoding.beam(beam_size=8))(lp, torch.tensor([lp.shape[1]]))[0]
    assert beam.text == "yes no"
    assert [round(w.start, 6) for w in beam.words] == [0.0, round(10 * 0.04, 6)]


def test_lexicon_fixes_a_misspelling():
    # greedy reads "cet"; "e" barely beats "a", and only "cat" / "cot" are words
    lp = emissions(["c", "_", {"e": 0.5, "a": 0.4, "o": 0.1}, "_", "t"])
    lengths = torch.tensor([5])
    assert GreedyDecoder(VOCAB, 0.01)(lp, lengths)[0].text == "cet"
    lexicon_beam = BeamSearchDecoder(VOCAB, 0.01, Decoding.beam(beam_size=8, lexicon=["cat", "cot"]))
    assert lexicon_beam(lp, lengths)[0].text == "cat"


def test_language_model_overrides_weak_acoustic_evidence(tmp_path):
    # acoustically "cot" is slightly more likely than "cat" ...
    lp = emissions(["c", {"o": 0.55, "a": 0.45}, "t"])
    lengths = torch.tensor([3])
    config = Decoding.beam(beam_size=8, lm_weight=2.0)
    lexicon = dataclasses.replace(config, lexicon=("cat", "cot"))
    assert BeamSearchDecoder(VOCAB, 0.01, lexicon)(lp, lengths)[0].text == "cot"
    # ... but an LM that has seen "cat" far more often flips the decision
    arpa = tmp_path / "lm.arpa"
    write_arpa(build_arpa(["cat"] * 20 + ["cot"], order=2), arpa)
    with_lm = BeamSearchDecoder(VOCAB, 0.01, dataclasses.replace(lexicon, lm_arpa=arpa.read_text()))
    assert with_lm(lp, lengths)[0].text == "cat"
    # and the LM alone (its vocabulary becomes the lexicon) does the same
    assert BeamSearchDecoder(VOCAB, 0.01, config.overridden(lm=arpa))(lp, lengths)[0].text == "cat"


def test_a_unigram_lm_is_a_clear_error_not_a_kenlm_crash(tmp_path):
    from asr.errors import AsrError

    arpa = tmp_path / "unigram.arpa"
    write_arpa(build_arpa(["cat", "cot"], order=1), arpa)
    with pytest.raises(AsrError, match="order 2 or more"):
        BeamSearchDecoder(VOCAB, 0.01, Decoding.beam(lexicon=["cat", "cot"], lm_arpa=arpa.read_text()))


def test_decoders_from_one_stored_lm_parse_it_at_most_once_and_decode_alike(tmp_path, monkeypatch):
    # A model file's LM is ARPA text: building decoders from it (each load, each with_decoding) must not parse
    # it in Python again and again, nor change what comes out.
    import asr.lm
    from asr.char_lm import build_char_lm

    arpa, chars = tmp_path / "lm.arpa", tmp_path / "chars.arpa"
    write_arpa(build_arpa(["cat no"] * 20 + ["cot"] * 2 + ["yes no"], order=3), arpa)  # an LM no other test has
    write_arpa(build_char_lm(["cat", "cot no", "yes no"], order=3), chars)
    text = arpa.read_text()
    parsed = []

    class CountedModel(asr.lm.NgramModel):  # what asr.lm.read_arpa fills, however a module imported it
        def __init__(self, *args, **kwargs):
            parsed.append(args)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(asr.lm, "NgramModel", CountedModel)
    lp = emissions(["c", {"o": 0.55, "a": 0.45}, "t", "_", " ", "n", "o"])
    lengths = torch.tensor([lp.shape[1]])
    stored = Decoding.beam(beam_size=8, lm_weight=2.0, lm_arpa=text)
    copied = dataclasses.replace(stored, lm_arpa=(text + "\n")[:-1])  # the same LM in another string
    decoders = [BeamSearchDecoder(VOCAB, 0.01, d) for d in (stored, stored, copied)]
    results = [decoder(lp, lengths)[0] for decoder in decoders]
    assert len(parsed) <= 1
    assert [r.text for r in results] == ["cat no"] * 3  # the LM's choice: the acoustics alone say "cot no"
    assert BeamSearchDecoder(VOCAB, 0.01, dataclasses.replace(stored, lm_weight=0.0))(lp, lengths)[0].text == "cot no"
    assert all(r.words == results[0].words for r in results)
    assert decoders[0].words == ["cat", "cot", "no", "yes"]
    assert decoders[1]._lm is decoders[0]._lm  # one KenLM for both
    # the file KenLM reads is the text itself, written once
    assert asr.lm.arpa_file(copied.lm_arpa).path.read_text() == text
    # the same for a character LM
    char_lm = Decoding.beam(beam_size=8, lm_weight=1.0, lm_arpa=chars.read_text(), lm_unit="char")
    texts = [build_decoder(VOCAB, 0.01, char_lm)(lp, lengths)[0].text for _ in range(2)]
    assert len(parsed) <= 2 and texts[0] == texts[1] == "cot no"


def test_a_malformed_stored_lm_names_its_bad_line():
    from asr.errors import AsrError

    good = ("\\data\\\nngram 1=3\nngram 2=1\n\n\\1-grams:\n-99\t<s>\n-0.5\tcat\n-0.5\t</s>\n\n"
            "\\2-grams:\n-0.1\t<s> cat\n\n\\end\\\n")
    assert BeamSearchDecoder(VOCAB, 0.01, Decoding.beam(lm_arpa=good)).words == ["cat"]
    with pytest.raises(AsrError, match="probabilities must be numbers"):
        BeamSearchDecoder(VOCAB, 0.01, Decoding.beam(lm_arpa=good.replace("-0.1\t<s> cat", "x\t<s> cat")))
    with pytest.raises(AsrError, match="truncated"):
        BeamSearchDecoder(VOCAB, 0.01, Decoding.beam(lm_arpa=good[:-6]))
    with pytest.raises(AsrError, match="no word of the language model can be spelled"):
        BeamSearchDecoder(VOCAB, 0.01, Decoding.beam(lm_arpa=good.replace("cat", "dog")))


@pytest.mark.parametrize(("frames", "expected"), [("nnnnoooo", "no"), ("__nnnnoooo  ____nnnooo__", "no no"),
                                                  ("no", "no"), ("yyes", "yes")])
def test_lexicon_search_reads_held_letters_as_one_word(frames, expected):
    # A letter held over several frames is one letter. Spellings without a closing word separator made
    # flashlight read "nnnnoooo" as "no no" (insertions on the yes/no test set); a word that runs to the
    # very last frame must still be found.
    lp = emissions(list(frames))
    decoder = BeamSearchDecoder(VOCAB, 0.01, Decoding.beam(beam_size=8, lexicon=["no", "yes"]))
    assert decoder(lp, torch.tensor([lp.shape[1]]))[0].text == expected


def test_word_score_trades_insertions():
    # "no" then something that could be a second short word or noise
    lp = emissions(["n", "o", " ", {"n": 0.4, "_": 0.6}, {"o": 0.4, "_": 0.6}])
    lengths = torch.tensor([5])
    stingy = BeamSearchDecoder(VOCAB, 0.01, Decoding.beam(beam_size=8, word_score=-5.0, lexicon=["no", "yes"]))
    generous = BeamSearchDecoder(VOCAB, 0.01, Decoding.beam(beam_size=8, word_score=5.0, lexicon=["no", "yes"]))
    assert stingy(lp, lengths)[0].text == "no"
    assert generous(lp, lengths)[0].text == "no no"


def test_subtitles_from_word_times():
    from asr.decode import Word
    from asr.subtitles import to_srt, to_vtt

    words = [Word("yes", 0.5, 0.9, 1.0), Word("no", 1.0, 1.3, 1.0), Word("yes", 3.0, 3.4, 1.0)]
    assert to_srt(words) == ("1\n00:00:00,500 --> 00:00:01,300\nyes no\n\n"
                             "2\n00:00:03,000 --> 00:00:03,400\nyes\n")
    assert to_vtt(words).startswith("WEBVTT\n\n00:00:00.500 --> 00:00:01.300\nyes no\n")


def test_min_confidence_is_checked_stored_and_kept_across_overrides():
    with pytest.raises(AsrError, match="minimum word confidence"):
        check_decoding(Decoding(min_confidence=1.5))
    stored = Decoding.beam(lexicon=["yes", "no"], min_confidence=0.5)
    assert Decoding.from_dict(stored.to_dict()) == stored
    assert "below confidence 0.5" in stored.summary() and stored.describe()["min_confidence"] == 0.5
    # greedy is the plain best path, nothing stored kept; with a threshold named, greedy with it
    assert stored.overridden(greedy=True) == Decoding()
    assert stored.overridden(greedy=True, min_confidence=0.5) == Decoding(min_confidence=0.5)
    assert stored.overridden(beam_size=4).min_confidence == 0.5  # other flags keep it
    relaxed = stored.overridden(min_confidence=0.1)
    assert (relaxed.method, relaxed.lexicon, relaxed.min_confidence) == ("beam", ("yes", "no"), 0.1)


def test_confident_words_leaves_out_only_the_words_below_the_threshold():
    transcript = Transcript("no yes no", [Word("no", 0.0, 0.2, 0.4), Word("yes", 0.5, 0.8, 0.97),
                                          Word("no", 1.0, 1.2, 0.5)])
    kept = confident_words(transcript, 0.5)
    assert kept.text == "yes no" and [w.start for w in kept.words] == [0.5, 1.0]
    assert confident_words(transcript, None) is transcript
    assert confident_words(transcript, 0.0).text == "no yes no"
