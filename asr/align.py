"""Forced alignment: where each word of a known transcript lies in its audio, from a model's CTC output.

A model that has learned a corpus, even roughly, puts each of a transcript's tokens at the frames that carry it
(torchaudio's CTC Viterbi, :func:`torchaudio.functional.forced_align`); a word spans its tokens. The yes/no recipe
uses this to cut its recordings into words and join them again in new orders (:func:`data_prep.connected.
make_spliced`), as Kaldi recipes realign with a first-pass model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torchaudio.functional as AF

from asr.decode import Word
from asr.errors import AsrError
from asr.inference import BaseRecognizer
from asr.text import BLANK_INDEX, WORD_SEPARATOR, normalize_text


def align_words(recognizer: BaseRecognizer, waveform: np.ndarray, text: str) -> list[Word]:
    """The words of ``text`` in ``waveform`` (mono, at the model's rate), timed in seconds from its start, each
    with the mean probability of its tokens on their aligned frames as its confidence.

    Raises :class:`AsrError` when the transcript has characters the model cannot write or needs more frames than
    the audio gives."""
    words = normalize_text(text).split()
    if not words:
        raise AsrError("nothing to align: the transcript is empty")
    tokens = recognizer.vocab.encode(" ".join(words))
    log_probs, lengths = recognizer.log_probs([waveform])
    log_probs = torch.as_tensor(np.asarray(log_probs))[:1, : int(lengths[0])].float()
    if log_probs.shape[1] < len(tokens):
        raise AsrError(f"the audio is too short for its transcript ({log_probs.shape[1]} frames for {len(tokens)} "
                       "tokens)")
    path, scores = AF.forced_align(log_probs, torch.tensor([tokens], dtype=torch.int32), blank=BLANK_INDEX)
    spans = AF.merge_tokens(path[0], scores[0].exp())
    separator = recognizer.vocab.tokens.index(WORD_SEPARATOR) if WORD_SEPARATOR in recognizer.vocab.tokens else None
    timed, current = [], []
    for span in [*spans, None]:
        if span is None or span.token == separator:
            if current:
                timed.append(current)
            current = []
        else:
            current.append(span)
    if len(timed) != len(words):
        raise AsrError(f"aligned {len(timed)} words where the transcript has {len(words)}")
    step = recognizer.frame_seconds
    return [Word(word, spans[0].start * step, spans[-1].end * step, float(np.mean([s.score for s in spans])))
            for word, spans in zip(words, timed, strict=True)]


def pause_cuts(words: Sequence[Word], duration: float, margin: float = 0.15) -> list[tuple[float, float]]:
    """Each word's stretch of the audio, ``(start, end)`` seconds: cut halfway through the pauses between words,
    from ``margin`` before the first word to ``margin`` after the last (a CTC alignment marks a word's core,
    its sound starts and ends a little outside it). What lies before the first piece and after the last is the
    recording's lead-in and tail."""
    if not words:
        return []
    edges = ([max(0.0, words[0].start - margin)] + [(a.end + b.start) / 2 for a, b in zip(words, words[1:],
                                                                                          strict=False)]
             + [min(duration, words[-1].end + margin)])
    return list(zip(edges, edges[1:], strict=False))
