"""Forced alignment finds the frames of each word, and splicing joins word pieces into new word orders."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from asr.align import align_words, pause_cuts
from asr.errors import AsrError
from asr.manifest import Utterance
from asr.text import Vocabulary
from data_prep.connected import make_spliced

VOCAB = Vocabulary(["<blank>", "|", "e", "n", "o", "s", "y"])


class PeakedModel:
    """A stand-in for a recogniser whose CTC output puts each token on the frames the test chose."""

    vocab, sample_rate, frame_seconds = VOCAB, 8000, 0.02

    def __init__(self, frames: int, peaks: dict[int, str]) -> None:
        probs = np.full((frames, len(VOCAB)), 1e-4, dtype=np.float32)
        probs[:, 0] = 1.0  # blank everywhere else
        for frame, token in peaks.items():
            probs[frame] = 1e-4
            probs[frame, VOCAB.tokens.index(token)] = 1.0
        self.log_probs_ = np.log(probs / probs.sum(1, keepdims=True))[None]

    def log_probs(self, waveforms):
        return self.log_probs_, np.array([self.log_probs_.shape[1]])


def test_words_are_timed_where_their_tokens_peak():
    # "yes" on frames 10-12, a separator at 20, "no" on frames 30-31: 50 frames of 20 ms
    model = PeakedModel(50, {10: "y", 11: "e", 12: "s", 20: "|", 30: "n", 31: "o"})
    words = align_words(model, np.zeros(8000, dtype=np.float32), "Yes, no.")
    assert [w.word for w in words] == ["yes", "no"]
    assert words[0].start == pytest.approx(0.20) and words[0].end == pytest.approx(0.26)
    assert words[1].start == pytest.approx(0.60) and words[1].end == pytest.approx(0.64)
    assert all(0.9 < w.confidence <= 1.0 for w in words)
    assert pause_cuts(words, 1.0) == [(pytest.approx(0.05), pytest.approx(0.43)),
                                      (pytest.approx(0.43), pytest.approx(0.79))]


def test_alignment_refuses_what_it_cannot_align():
    model = PeakedModel(4, {})
    with pytest.raises(AsrError, match="too short"):
        align_words(model, np.zeros(800, dtype=np.float32), "yes no")
    with pytest.raises(AsrError, match="not in the vocabulary"):
        align_words(PeakedModel(50, {}), np.zeros(800, dtype=np.float32), "maybe")
    with pytest.raises(AsrError, match="empty"):
        align_words(PeakedModel(50, {}), np.zeros(800, dtype=np.float32), " ")


def test_spliced_recordings_join_word_pieces_in_new_orders(tmp_path):
    rate, quarter = 8000, 2000
    recordings, times = [], []
    for index, text in enumerate(["yes no yes", "no no yes no"]):
        words = text.split()
        # a lead-in, each word and a tail: 0.25 s each at a level of their own, so that each piece is recognisable
        levels = [90 + index] + [1 + index * 10 + w for w in range(len(words))] + [95 + index]
        audio = np.concatenate([np.full(quarter, level / 100, dtype=np.float32) for level in levels])
        path = tmp_path / f"rec{index}.wav"
        sf.write(path, audio, rate, subtype="FLOAT")
        recordings.append(Utterance(str(path), text, len(audio) / rate, {"id": f"rec{index}", "speaker": "s"}))
        times.append([((w + 1) * 0.25, (w + 2) * 0.25) for w in range(len(words))])
    made = make_spliced(recordings, times, 30, tmp_path / "out", rate, seed=1, words=(1, 5))
    assert len(made) == 30 and len({u.text for u in made}) > 10
    first_words = set()
    for utt in made:
        audio, _ = sf.read(utt.audio, dtype="float32")
        levels = [round(float(audio[i * quarter + 10]) * 100) for i in range(len(audio) // quarter)]
        assert levels[0] in (90, 91) and levels[-1] in (95, 96)  # some recording's lead-in, some one's tail
        assert len(levels) - 2 == len(utt.text.split()) and 1 <= len(levels) - 2 <= 5
        for level, word in zip(levels[1:-1], utt.text.split(), strict=True):
            recording, position = divmod(level - 1, 10)
            assert recordings[recording].text.split()[position] == word  # each piece keeps its own word
        first_words.add(utt.text.split()[0])
    assert first_words == {"yes", "no"}  # any word may open a recording, whatever opened the sources
    again = make_spliced(recordings, times, 30, tmp_path / "out", rate, seed=1, words=(1, 5))
    assert [u.text for u in again] == [u.text for u in made]  # read back, not made again


def test_padded_channel_copies_are_longer_by_their_lead_in_and_tail(tmp_path):
    from asr.augment import ChannelConfig
    from data_prep.connected import make_channel_copies

    rate = 8000
    word = (np.sin(np.arange(4000) * 0.3) * 0.5).astype(np.float32)
    path = tmp_path / "word.wav"
    sf.write(path, word, rate, subtype="FLOAT")
    recordings = [Utterance(str(path), "yes", 0.5, {"id": f"w{i}", "speaker": "s"}) for i in range(12)]
    copies = make_channel_copies(recordings, tmp_path / "copies", rate, ChannelConfig.off(), seed=0,
                                 pad_seconds=(0.2, 0.6))
    extra = [u.duration - 0.5 for u in copies]
    assert all(0.4 - 1e-3 <= e <= 1.2 + 1e-3 for e in extra) and len(set(extra)) > 6
    assert [u.text for u in copies] == ["yes"] * 12
    audio, _ = sf.read(copies[0].audio, dtype="float32")
    lead = audio[: int(0.2 * rate)]
    assert np.abs(lead).max() < 0.05  # silence or quiet room tone (at most -45 dBFS RMS) before the word


def test_padding_is_silence_room_tone_under_the_words_or_room_tone_around_them_only():
    import random

    import torch

    from data_prep.connected import padded

    rate = 8000
    word = torch.sin(torch.arange(1, 4001) * 0.3) * 0.5
    rng, generator = random.Random(0), torch.Generator().manual_seed(0)
    kinds = []
    for _ in range(60):
        out = padded(word, rate, (0.2, 0.6), rng, generator)
        extra = out.numel() - word.numel()
        assert 0.4 * rate - 1 <= extra <= 1.2 * rate + 1
        untouched = [s for s in range(extra + 1) if bool((out[s : s + word.numel()] == word).all())]
        if bool((out[:10] == 0).all()):
            kinds.append("silence")
            begin = untouched[0]
            assert bool((out[:begin] == 0).all()) and bool((out[begin + word.numel() :] == 0).all())
        elif untouched:  # the words as they were, room tone before and after them
            kinds.append("around")
            begin = untouched[0]
            assert float(out[begin - 10 : begin].abs().min()) > 0 and float(out[-10:].abs().min()) > 0
        else:
            kinds.append("under")
    assert all(12 <= kinds.count(kind) <= 28 for kind in ("silence", "under", "around")), kinds
