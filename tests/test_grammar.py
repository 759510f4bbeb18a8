"""Phrase-list grammars (asr.grammar): parsing, spelling checks, the vectorised CTC pass against a plain
per-phrase Viterbi, decoding with known answers on synthetic log-probabilities, rejection, and the packaged
digits model on a voice it never trained on."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from asr.decode import GreedyDecoder
from asr.errors import AsrError
from asr.grammar import (
    DEFAULT_REJECTION,
    DIGIT_WORDS,
    UNK,
    Emissions,
    Grammar,
    GrammarDecoder,
    build_tree,
    check_grammar,
    parse_grammar,
    viterbi,
)
from asr.text import BLANK_INDEX, WORD_SEPARATOR, Vocabulary

VOCAB = Vocabulary.from_transcripts([" ".join(DIGIT_WORDS), "yes no"])
SEPARATOR = VOCAB.tokens.index(WORD_SEPARATOR)
FRAME = 0.02
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def spelled(path: str, peak: float = 0.9, soft: dict[int, dict[str, float]] | None = None) -> np.ndarray:
    """``(frames, vocab)`` log-probabilities whose best token in frame ``t`` is ``path[t]`` (``_`` the blank,
    ``|`` the separator) with probability ``peak``; ``soft`` overrides whole frames: ``{t: {token: prob}}``."""
    size = len(VOCAB)
    probs = np.full((len(path), size), (1 - peak) / (size - 1))
    for t, char in enumerate(path):
        probs[t, BLANK_INDEX if char == "_" else VOCAB.tokens.index(char)] = peak
    for t, frame in (soft or {}).items():
        probs[t] = (1 - sum(frame.values())) / (size - len(frame))
        for char, p in frame.items():
            probs[t, BLANK_INDEX if char == "_" else VOCAB.tokens.index(char)] = p
    return np.log(probs).astype(np.float32)


def decode(decoder, log_probs: np.ndarray):  # noqa: ANN001, ANN201
    return decoder(log_probs[None], np.array([len(log_probs)]))[0]


# --- parsing --------------------------------------------------------------------------------------------------


def test_a_json_list_as_vosk_writes_it():
    grammar = parse_grammar('["Yes", "no!", "[unk]", "yes"]')
    assert grammar.phrases == ("yes", "no", UNK) and grammar.spoken == ("yes", "no")
    assert grammar.has_unk and not grammar.loop


def test_a_list_of_phrases_is_normalised_like_transcripts():
    grammar = parse_grammar(["Turn ON the light.", "stop", "[UNK]"])
    assert grammar.phrases == ("turn on the light", "stop", UNK)
    assert grammar.words == ["turn", "on", "the", "light", "stop"]
    assert not parse_grammar(("yes", "no")).has_unk


def test_built_in_grammars():
    digits = parse_grammar("digits")
    assert digits.loop and digits.phrases == DIGIT_WORDS and not digits.has_unk
    yesno = parse_grammar(" YesNo ")
    assert yesno.phrases == ("yes", "no") and not yesno.loop


def test_a_file_of_one_phrase_per_line_and_a_json_file(tmp_path):
    lines = tmp_path / "commands.txt"
    lines.write_text("# what the robot knows\nturn left\n\n  turn right  \nstop\n[unk]\n", encoding="utf-8")
    assert parse_grammar(str(lines)).phrases == ("turn left", "turn right", "stop", UNK)
    assert parse_grammar(lines).phrases == ("turn left", "turn right", "stop", UNK)
    listed = tmp_path / "commands.json"
    listed.write_text(json.dumps(["go", "stop"]), encoding="utf-8")
    assert parse_grammar(listed).phrases == ("go", "stop")


def test_a_grammar_is_frozen_and_replace_keeps_it_normalised():
    import dataclasses

    grammar = parse_grammar(["one", "two"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        grammar.loop = True  # type: ignore[misc]
    looped = dataclasses.replace(parse_grammar(list(grammar.phrases)), loop=True)
    assert looped.loop and looped.phrases == ("one", "two")


@pytest.mark.parametrize(("value", "says"), [
    ('["yes", "no"', "not valid JSON"),
    ('{"phrases": ["yes"]}', "JSON list"),
    ('["yes", 3]', "not a string"),
    ("[]", "empty"),
    ('["[unk]"]', "besides [unk]"),
    (["yes", None], "not a string"),
    (["!!!"], "has no words"),
    (["[unk] please"], "phrase of its own"),
    ("no-such-grammar.txt", "not a JSON list of phrases, a built-in name"),
])
def test_bad_grammars_are_one_line_errors(value, says):
    with pytest.raises(AsrError) as error:
        parse_grammar(value)
    assert says in str(error.value) and "\n" not in str(error.value)


def test_bad_grammar_files_are_one_line_errors_naming_the_file(tmp_path):
    with pytest.raises(AsrError, match="grammar file not found") as error:
        parse_grammar(tmp_path / "missing.txt")
    assert "missing.txt" in str(error.value)
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n\n", encoding="utf-8")
    with pytest.raises(AsrError, match="no phrases"):
        parse_grammar(empty)
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(AsrError, match="not UTF-8"):
        parse_grammar(binary)


def test_a_word_the_model_cannot_spell_is_an_error_naming_it():
    grammar = parse_grammar(["one", "quit", "two", "[unk]"])
    with pytest.raises(AsrError) as error:
        check_grammar(grammar, VOCAB)
    message = str(error.value)
    assert "'quit'" in message and "'q'" in message and "'one'" not in message and "\n" not in message
    with pytest.raises(AsrError, match="'quit'"):
        GrammarDecoder(VOCAB, FRAME, grammar)
    check_grammar(parse_grammar("digits"), VOCAB)  # spellable: no error


# --- the vectorised pass against a plain one ------------------------------------------------------------------


def reference_score(phrase: str, log_probs: np.ndarray, forward: bool = False) -> float:
    """The phrase's CTC score with its states written out one by one and a loop over them: an optional gap
    (blank or separator) at each end, a required one between words, an optional blank between letters (required
    between a repeated letter)."""
    blank, gap = log_probs[:, BLANK_INDEX], np.maximum(log_probs[:, BLANK_INDEX], log_probs[:, SEPARATOR])
    states: list[tuple[np.ndarray, bool]] = [(gap, True)]  # (emission per frame, may be skipped)
    for k, word in enumerate(phrase.split()):
        if k:
            states.append((gap, False))
        for i, char in enumerate(word):
            if i:
                states.append((blank, word[i] != word[i - 1]))
            states.append((log_probs[:, VOCAB.tokens.index(char)], False))
    states.append((gap, True))
    merge = np.logaddexp.reduce if forward else np.max

    def reachable(j: int) -> list[int]:  # states a path may come from into state j (itself included)
        sources = [j]
        for i in range(j - 1, -1, -1):
            sources.append(i)
            if not states[i][1]:
                break
        return sources

    score = [-math.inf] * len(states)
    for j in range(len(states)):
        if all(states[i][1] for i in range(j)):
            score[j] = float(states[j][0][0])
    for t in range(1, len(log_probs)):
        score = [float(merge(np.array([score[i] for i in reachable(j)]))) + float(states[j][0][t])
                 for j in range(len(states))]
    ends = [score[j] for j in range(len(states)) if all(states[i][1] for i in range(j + 1, len(states)))]
    return float(merge(np.array(ends)))


@pytest.mark.parametrize("forward", [False, True])
def test_the_tree_pass_scores_every_phrase_as_a_plain_viterbi_does(forward):
    phrases = ["one", "on", "one two", "one one", "nine", "nine nine", "three", "three eight", "no", "yes"]
    tree = build_tree(phrases, VOCAB)
    rng = np.random.default_rng(0)
    for frames in (1, 4, 12, 30):
        logits = rng.normal(0, 2, (frames, len(VOCAB)))
        log_probs = (logits - np.log(np.exp(logits).sum(1, keepdims=True))).astype(np.float32)
        scores, _ = viterbi(tree, Emissions.of(log_probs, tree, SEPARATOR), forward=forward)
        expected = [reference_score(p, log_probs, forward) for p in phrases]
        np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-3)


def test_a_phrase_longer_than_the_utterance_cannot_be_said():
    tree = build_tree(["one", "three"], VOCAB)
    scores, _ = viterbi(tree, Emissions.of(spelled("one"), tree, SEPARATOR))
    assert math.isfinite(scores[0]) and scores[1] == -math.inf


# --- decoding -------------------------------------------------------------------------------------------------


def test_the_phrase_the_frames_spell_wins_where_greedy_misspells_it():
    # "seven" whose v-frame leans to x: greedy reads "sexen", the grammar knows only digits.
    frames = spelled("_se_en__", soft={3: {"x": 0.55, "v": 0.4}})
    assert decode(GreedyDecoder(VOCAB, FRAME), frames).text == "sexen"
    result = decode(GrammarDecoder(VOCAB, FRAME, parse_grammar(list(DIGIT_WORDS))), frames)
    assert result.text == "seven"
    [word] = result.words
    assert word.word == "seven" and word.start == pytest.approx(0.02) and word.end == pytest.approx(0.12)
    assert 0.35 < word.confidence < 0.9  # its v was not the frame's best token


def test_a_phrase_of_several_words_gets_each_word_its_times():
    grammar = parse_grammar(["one two", "two one", "one", "two"])
    result = decode(GrammarDecoder(VOCAB, FRAME, grammar), spelled("_one_|_two__"))
    assert result.text == "one two" and [w.word for w in result.words] == ["one", "two"]
    first, second = result.words
    assert first.start == pytest.approx(0.02) and first.end == pytest.approx(0.08)
    assert second.start == pytest.approx(0.14) and second.end == pytest.approx(0.20)
    assert first.confidence == pytest.approx(0.9) and second.confidence == pytest.approx(0.9)


def test_a_double_letter_needs_a_blank_between():
    # CTC merges a repeated token: "e" held over two frames is one e, so only a blank between makes two.
    decoder = GrammarDecoder(VOCAB, FRAME, parse_grammar(["three", "thre"]), rejection=0.0)
    assert decode(decoder, spelled("_three_")).text == "thre"
    assert decode(decoder, spelled("_thre_e_")).text == "three"


def test_a_loop_grammar_outputs_the_digit_sequence():
    decoder = GrammarDecoder(VOCAB, FRAME, parse_grammar("digits"))
    result = decode(decoder, spelled("_one_|two|thre_e__|_seven_seven_"))
    assert result.text == "one two three seven seven"
    assert [w.word for w in result.words] == ["one", "two", "three", "seven", "seven"]
    pairs = zip(result.words, result.words[1:], strict=False)
    assert all(word.end <= following.start for word, following in pairs)
    # Words run together with no frame between them are not two words of the loop; one frame of blank is enough.
    assert decode(decoder, spelled("_sixsix_")).text == "six"
    assert decode(decoder, spelled("_six_six_")).text == "six six"


def test_unk_wins_on_a_word_outside_the_grammar():
    decoder = GrammarDecoder(VOCAB, FRAME, parse_grammar('["yes", "no", "[unk]"]'))
    rejected = decode(decoder, spelled("__eight__"))
    assert rejected.text == UNK and [w.word for w in rejected.words] == [UNK]
    assert rejected.words[0].start == pytest.approx(0.04) and rejected.words[0].end == pytest.approx(0.14)
    assert decode(decoder, spelled("__yes__")).text == "yes"
    assert decode(decoder, spelled("_no_")).text == "no"


def test_without_unk_the_best_phrase_comes_out_unless_reject_is_given():
    grammar = parse_grammar(["yes", "no"])
    frames = spelled("__eight__")
    assert decode(GrammarDecoder(VOCAB, FRAME, grammar), frames).text in {"yes", "no"}
    rejecting = GrammarDecoder(VOCAB, FRAME, grammar, reject=True)
    assert decode(rejecting, frames).text == "" and decode(rejecting, frames).words == []
    assert decode(rejecting, spelled("_yes_")).text == "yes"


def test_the_threshold_decides_how_readily():
    grammar = parse_grammar(["seven", "[unk]"])
    frames = spelled("_se_en__", soft={3: {"x": 0.55, "v": 0.4}})  # "seven", a little misheard
    score = GrammarDecoder(VOCAB, FRAME, grammar).score(frames[None], np.array([8]))[0].score
    assert 0 < score < 1
    assert decode(GrammarDecoder(VOCAB, FRAME, grammar, rejection=score * 0.99), frames).text == "seven"
    assert decode(GrammarDecoder(VOCAB, FRAME, grammar, rejection=score * 1.01), frames).text == UNK
    assert decode(GrammarDecoder(VOCAB, FRAME, grammar, rejection=None), frames).text == "seven"
    assert GrammarDecoder(VOCAB, FRAME, grammar).rejection == DEFAULT_REJECTION
    with pytest.raises(AsrError, match="finite"):
        GrammarDecoder(VOCAB, FRAME, grammar, rejection=math.nan)


def test_nothing_said_gives_an_empty_transcript():
    for grammar in (["yes", "no"], ["yes", "[unk]"]):
        decoder = GrammarDecoder(VOCAB, FRAME, parse_grammar(grammar))
        assert decode(decoder, spelled("______")).text == ""
        assert decoder(np.zeros((1, 0, len(VOCAB)), np.float32), np.array([0]))[0].text == ""


def test_a_padded_batch_decodes_each_utterance_to_its_length():
    decoder = GrammarDecoder(VOCAB, FRAME, parse_grammar(list(DIGIT_WORDS)))
    short, long = spelled("_two_"), spelled("__eight___")
    batch = np.full((2, len(long), len(VOCAB)), math.log(0.5), np.float32)
    batch[0, : len(short)], batch[1] = short, long
    # The padding spells "one": an utterance read past its length would not be "two".
    batch[0, len(short):] = spelled("one__")
    assert [r.text for r in decoder(batch, np.array([len(short), len(long)]))] == ["two", "eight"]


def test_torch_tensors_are_taken_as_they_are():
    torch = pytest.importorskip("torch")
    decoder = GrammarDecoder(VOCAB, FRAME, parse_grammar("yesno"))
    frames = torch.from_numpy(spelled("_yes_"))[None]
    assert decoder(frames, torch.tensor([5]))[0].text == "yes"


def test_a_thousand_phrase_grammar_decodes_correctly():
    rng = random.Random(0)
    phrases: set[str] = set()
    while len(phrases) < 1000:
        phrases.add(" ".join(rng.choice(DIGIT_WORDS) for _ in range(rng.randint(1, 4))))
    ordered = sorted(phrases)
    decoder = GrammarDecoder(VOCAB, FRAME, parse_grammar([*ordered, UNK]))
    for phrase in rng.sample(ordered, 5):
        path = "__" + "_|_".join(word.replace("ee", "e_e") for word in phrase.split()) + "__"
        assert decode(decoder, spelled(path)).text == phrase
    assert decode(decoder, spelled("_yes_|_no_|_yes_", peak=0.99)).text == UNK


def test_importing_the_grammar_does_not_import_torch():
    code = "import sys, asr.grammar; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# --- the packaged digits model on a voice it never trained on -------------------------------------------------

# AN4 speaker mmdg: one of the 24 validation speakers of recipes/digits/run.py, whom the packaged model never
# trained on (asr/models/README.md: it trained on every FSDD and Heidelberg Digits voice, george's too, and on
# AN4's training and test speakers' digit strings).
HELD_OUT_STRING = DATA / "an4" / "wav" / "an4_clstk" / "mmdg" / "cen7-mmdg-b.flac"
HELD_OUT_OTHER = DATA / "an4" / "wav" / "an4_clstk" / "mmdg" / "cen5-mmdg-b.flac"  # "p i t t s b u r g h"


@pytest.fixture(scope="module")
def digits_model():
    if not HELD_OUT_STRING.is_file():
        pytest.skip("the AN4 corpus is not in ../shared/data")
    import asr

    return asr.load_model("digits")


def model_log_probs(model, path: Path):  # noqa: ANN001, ANN201
    values, lengths = model.log_probs([model.load(path)])
    return values, lengths


def test_the_digits_model_reads_a_held_out_digit_string_with_the_digit_grammar(digits_model):
    values, lengths = model_log_probs(digits_model, HELD_OUT_STRING)
    grammar = parse_grammar("digits")
    result = GrammarDecoder(digits_model.vocab, digits_model.frame_seconds, grammar)(values, lengths)[0]
    assert result.text == "four one two five two one five three three nine"
    assert len(result.words) == 10 and all(0 < w.confidence <= 1 for w in result.words)


def test_the_digits_model_rejects_speech_that_is_not_digits(digits_model):
    values, lengths = model_log_probs(digits_model, HELD_OUT_OTHER)
    decoder = GrammarDecoder(digits_model.vocab, digits_model.frame_seconds, Grammar((*DIGIT_WORDS, UNK)))
    assert decoder.score(values, lengths)[0].score < DEFAULT_REJECTION * 1e-6  # far below: not a close call
    assert decoder(values, lengths)[0].text == UNK
