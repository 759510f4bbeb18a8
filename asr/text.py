"""Transcript normalisation and the character vocabulary.

Normalisation (applied to training transcripts, references and nothing else):
  * Unicode NFKC, then lowercase;
  * apostrophes inside words are kept ("don't"), every other punctuation mark becomes a space;
  * runs of whitespace collapse to one space; leading and trailing space is dropped.

The vocabulary holds the CTC blank at index :data:`BLANK_INDEX`, the word separator
:data:`WORD_SEPARATOR` (written for a space), and the characters seen in the training transcripts.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

from asr.errors import AsrError

#: Index of the CTC blank in every vocabulary.
BLANK_INDEX = 0
BLANK_TOKEN = "<blank>"
#: Token that stands for the space between words (flashlight's silence/word-boundary token).
WORD_SEPARATOR = "|"

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'"})
_NOT_WORD = re.compile(r"[^\w' ]+")
_LOOSE_APOSTROPHE = re.compile(r"(^|\s)'+|'+(\s|$)")
_SPACES = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """Lowercase, drop punctuation (keeping in-word apostrophes) and collapse whitespace."""
    text = unicodedata.normalize("NFKC", text).lower().translate(_APOSTROPHES)
    text = _NOT_WORD.sub(" ", text.replace("_", " "))
    text = _LOOSE_APOSTROPHE.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


class Vocabulary:
    """Characters <-> indices for CTC. Index 0 is the blank; the space is :data:`WORD_SEPARATOR`."""

    def __init__(self, tokens: Sequence[str]) -> None:
        tokens = list(tokens)
        if not tokens or tokens[BLANK_INDEX] != BLANK_TOKEN:
            raise AsrError(f"a vocabulary must start with {BLANK_TOKEN!r}")
        if WORD_SEPARATOR not in tokens:
            raise AsrError(f"a vocabulary must contain the word separator {WORD_SEPARATOR!r}")
        if len(set(tokens)) != len(tokens):
            raise AsrError("a vocabulary must not repeat tokens")
        self.tokens = tokens
        self._index = {token: i for i, token in enumerate(tokens)}

    @classmethod
    def from_transcripts(cls, transcripts: Iterable[str]) -> Vocabulary:
        """Build from normalised transcripts: blank, separator, then the characters in sorted order."""
        chars = {ch for text in transcripts for ch in text if ch != " "}
        chars.discard(WORD_SEPARATOR)
        return cls([BLANK_TOKEN, WORD_SEPARATOR, *sorted(chars)])

    def __len__(self) -> int:
        return len(self.tokens)

    def unknown_characters(self, text: str) -> set[str]:
        """Characters of ``text`` (normalised) that the vocabulary cannot spell."""
        return {ch for ch in text if ch != " " and ch not in self._index}

    def encode(self, text: str) -> list[int]:
        """Normalised text -> token indices; raises :class:`AsrError` on characters outside the vocabulary."""
        unknown = self.unknown_characters(text)
        if unknown:
            raise AsrError(f"characters not in the vocabulary: {''.join(sorted(unknown))!r} in {text!r}")
        return [self._index[WORD_SEPARATOR if ch == " " else ch] for ch in text]

    def decode(self, indices: Iterable[int]) -> str:
        """Token indices (already collapsed, no blanks) -> text with spaces between words."""
        chars = [self.tokens[i] for i in indices if i != BLANK_INDEX]
        return _SPACES.sub(" ", "".join(" " if c == WORD_SEPARATOR else c for c in chars)).strip()
