"""The ARPA builder gives proper distributions; the reader rejects malformed files."""

from __future__ import annotations

import pytest

from asr.errors import AsrError
from asr.lm import build_arpa, read_arpa, write_arpa

SENTENCES = ["one two three", "two three four", "one one two", "four"]


@pytest.mark.parametrize("order", [1, 2, 3])
def test_every_context_sums_to_one(order):
    model = build_arpa(SENTENCES, order=order)
    words = [w for w in model.vocabulary if w != "<s>"]
    for context in [(), ("<s>",), ("one",), ("three",), ("<s>", "one"), ("one", "two"), ("nine", "ten")]:
        total = sum(10 ** model.log10_prob(w, context) for w in words)
        assert total == pytest.approx(1.0, abs=1e-6), context


def test_seen_bigram_beats_unseen(tmp_path):
    model = build_arpa(SENTENCES, order=2)
    assert model.log10_prob("three", ("two",)) > model.log10_prob("one", ("two",))
    assert model.log10_prob("zebra", ("two",)) == model.log10_prob("<unk>", ("two",))


def test_round_trip(tmp_path):
    model = build_arpa(SENTENCES, order=3)
    write_arpa(model, tmp_path / "lm.arpa")
    again = read_arpa(tmp_path / "lm.arpa")
    assert again.order == 3
    assert again.probs.keys() == model.probs.keys()
    for words in (["one", "two"], ["four", "four", "one"]):
        assert again.sentence_log10_prob(words) == pytest.approx(model.sentence_log10_prob(words), abs=1e-5)


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "no \\data\\"),
        ("hello world\n", "no \\data\\"),
        ("\\data\\\nngram 1=2\n\n\\1-grams:\n-1.0\ta\n", "truncated"),
        ("\\data\\\nngram 1=2\n\n\\1-grams:\n-1.0\ta\n\\end\\\n", "declares 2"),
        ("\\data\\\nngram 1=1\n\n\\1-grams:\nabc\ta\n\\end\\\n", "must be numbers"),
        ("\\data\\\nngram 1=1\n\n\\1-grams:\n0.5\ta\n\\end\\\n", "at most 0"),
        ("\\data\\\nngram one=1\n", "ngram N=COUNT"),
        ("\\data\\\nngram 1=1\n\n\\2-grams:\n-1\ta b\n\\end\\\n", "not declared"),
    ],
)
def test_malformed_arpa_is_a_clear_error(tmp_path, text, message):
    path = tmp_path / "bad.arpa"
    path.write_text(text)
    with pytest.raises(AsrError, match=message.replace("\\", "\\\\").replace("(", "\\(")):
        read_arpa(path)


def test_binary_garbage_is_a_clear_error(tmp_path):
    path = tmp_path / "bad.arpa"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(AsrError):
        read_arpa(path)


def test_empty_text_is_refused():
    with pytest.raises(AsrError, match="no words"):
        build_arpa(["", ""])
