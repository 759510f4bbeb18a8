"""Finding speech: the one way the toolkit decides where words are, offline and streaming alike.

A CTC model trained on clips cut tight around the words is thrown by what real recordings hold around them:
seconds of silence or room tone before the first word, long pauses between words. So before the network runs,
audio is cut into utterances by level: 10 ms blocks are *loud* when they stand :attr:`SpeechConfig.speech_margin_db`
above a noise floor (and above :attr:`SpeechConfig.min_speech_dbfs`); an utterance opens at the first loud block,
with :attr:`~SpeechConfig.pre_roll_seconds` of the audio before it (soft onsets such as /s/ and /f/), and ends
after :attr:`~SpeechConfig.end_silence_seconds` of quiet, keeping :attr:`~SpeechConfig.tail_seconds` after its
last loud block. The quiet between utterances never reaches the network, so neither its length nor its level can
make words. An utterance that reaches :attr:`~SpeechConfig.max_utterance_seconds` is cut at the quietest part of
its second half (memory and decoding time stay bounded) and the rest carries on.

The noise floor drops at once to a quieter block and rises slowly (1 dB a second), so speech never pulls it up
within an utterance. :class:`UtteranceCutter` is causal (streams start their floor at the first block);
:func:`find_utterances`, for audio that is all there, starts it at the audio's own quiet level instead, which is
the only difference between the two paths (and a clip with no quiet part at all, cut tight around a word, is
one utterance offline).

Where the room tone before an utterance stops under its words (a clip spliced into a recording, a voice
recorded at 8 kHz between full-band tone), the cutter loops that tone under the utterance
(:func:`fill_vanished_floor`): the network hears one noise floor, as in any real room.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from asr.errors import AsrError

FRAME_SECONDS, HOP_SECONDS = 0.025, 0.010
#: Spread between loud and quiet frames (95th minus 5th percentile, dB) below this: steady noise or hum, not a
#: clip cut tight around a word. The smallest spread over 3,700 FSDD, Heidelberg Digits and AN4 files was
#: 4.3 dB; white noise gives 1.3 dB, a constant hum 0 dB.
MIN_SPREAD_DB = 2.0
#: Level analysis step of the cutter: 10 ms blocks.
BLOCK_SECONDS = 0.010
#: The offline noise floor starts at this percentile of the audio's block levels: its quiet part.
FLOOR_PERCENTILE = 5.0
#: Width of the stretch whose mean level picks the cut of an over-long utterance.
CUT_PAUSE_SECONDS = 0.2
#: Floor of a block's level, so digital silence gives a finite number.
MIN_LEVEL_DB = -120.0
#: Blocks of an utterance this far below the room tone before it: the tone stops where the words are, which no
#: room does (a clip spliced into a recording, a noise gate), and the floor is filled (:func:`fill_vanished_floor`).
VANISHED_FLOOR_DB = 6.0
#: The room tone's level is the median of the quiet blocks in this stretch before an utterance.
ROOM_TONE_SECONDS = 1.0
#: The least quiet before an utterance that is taken for its room tone, and the bands it is compared in.
MIN_ROOM_TONE_SECONDS, FILL_BANDS = 0.2, 8
#: Room tone quieter than this is not filled: it is digital silence or near it.
QUIETEST_FILLED_DB = -90.0


@dataclass
class SpeechConfig:
    """How audio is cut into utterances (see the module's docstring)."""

    end_silence_seconds: float = 0.5  # quiet this long ends an utterance (or pre-roll + tail, if longer)
    max_utterance_seconds: float = 15.0  # an utterance is cut (at a pause) before it grows longer
    pre_roll_seconds: float = 0.15  # audio kept from before the first loud block (soft word onsets)
    tail_seconds: float = 0.15  # audio kept after the last loud block
    speech_margin_db: float = 12.0  # a block is loud this far above the noise floor ...
    min_speech_dbfs: float = -50.0  # ... and above this level (dB re full scale)
    min_loud_seconds: float = 0.08  # an utterance with less loud audio is a click or a knock, not speech
    fill_room_tone: bool = True  # loop the room tone under an utterance where it stops (fill_vanished_floor)

    def __post_init__(self) -> None:
        if min(self.end_silence_seconds, self.max_utterance_seconds) <= 0:
            raise AsrError("end_silence_seconds and max_utterance_seconds must be positive")
        if min(self.pre_roll_seconds, self.tail_seconds) < 0:
            raise AsrError("pre_roll_seconds and tail_seconds cannot be negative")
        if self.max_utterance_seconds < 4 * CUT_PAUSE_SECONDS:
            raise AsrError(f"max_utterance_seconds must be at least {4 * CUT_PAUSE_SECONDS:g}")


def frame_power(samples: np.ndarray, window: int, hop: int | None = None) -> np.ndarray:
    """``(samples,)`` -> ``(frames,)`` mean square (power re full scale) of each whole frame of ``window`` samples,
    one every ``hop`` (default ``window``: back-to-back blocks); a part frame at the end is left out.

    The one measure of loudness in this toolkit: :func:`frame_levels`, :func:`block_levels` (the cutter, the
    noise floor, word times) and :func:`data_prep.connected.trim_silence` are all made of it."""
    samples = np.asarray(samples, dtype=np.float64)
    hop = window if hop is None else hop
    if samples.size < window:
        return np.zeros(0)
    if hop == window:
        frames = samples[: samples.size // window * window].reshape(-1, window)
    else:
        count = 1 + (samples.size - window) // hop
        frames = np.lib.stride_tricks.sliding_window_view(samples, window)[::hop][:count]
    return np.mean(frames**2, axis=1)


def to_db(power: np.ndarray) -> np.ndarray:
    """Power re full scale -> level in dB re full scale, at least :data:`MIN_LEVEL_DB` (digital silence)."""
    return np.maximum(10.0 * np.log10(power + 1e-12), MIN_LEVEL_DB)


def frame_levels(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """``(samples,)`` mono audio -> ``(frames,)`` RMS level in dB re full scale, 25 ms frames every 10 ms.

    Audio shorter than one frame is one frame."""
    samples = np.asarray(samples, dtype=np.float64)
    window = max(1, int(FRAME_SECONDS * sample_rate))
    hop = max(1, int(HOP_SECONDS * sample_rate))
    if samples.size <= window:
        return to_db(np.array([np.mean(samples**2) if samples.size else 0.0]))
    return to_db(frame_power(samples, window, hop))


def block_levels(samples: np.ndarray, block: int) -> np.ndarray:
    """``(samples,)`` -> ``(blocks,)`` RMS level of each whole ``block`` samples, dB re full scale (a part block
    at the end is left out)."""
    return to_db(frame_power(samples, block))


def block_size(sample_rate: int) -> int:
    """Samples in one of the cutter's 10 ms blocks (:data:`BLOCK_SECONDS`) at ``sample_rate``."""
    return max(1, round(BLOCK_SECONDS * sample_rate))


class NoiseFloor:
    """Loud or quiet, per 10 ms block, against a floor that follows the quiet blocks: it drops at once to a
    quieter block and rises slowly (1 dB a second), so speech never pulls it up within an utterance."""

    RISE_DB_PER_BLOCK = 0.01

    def __init__(self, config: SpeechConfig, initial_db: float | None = None) -> None:
        self.config = config
        self.floor = initial_db

    def is_loud(self, level_db: float) -> bool:
        self.floor = level_db if self.floor is None else min(level_db, self.floor + self.RISE_DB_PER_BLOCK)
        return level_db > max(self.config.min_speech_dbfs, self.floor + self.config.speech_margin_db)


class UtteranceCutter:
    """Mono audio at one rate in, in chunks of any size; utterances out, each ``(audio (samples,), start)``
    with ``start`` its first sample counted from the start of the audio. Memory is bounded by
    :attr:`SpeechConfig.max_utterance_seconds`.

    >>> cutter = UtteranceCutter(8000)
    >>> utterances = cutter.accept(chunk) + cutter.accept(other_chunk) + cutter.finish()   # doctest: +SKIP
    """

    def __init__(self, sample_rate: int, config: SpeechConfig | None = None, initial_floor_db: float | None = None):
        self.config = config or SpeechConfig()
        self.rate = int(sample_rate)
        self.block = block_size(self.rate)
        self._floor = NoiseFloor(self.config, initial_floor_db)
        self._pending = np.zeros(0, dtype=np.float32)  # samples short of a whole block
        self._pre_roll: list[np.ndarray] = []
        self._pre_roll_blocks = max(0, round(self.config.pre_roll_seconds / BLOCK_SECONDS))
        # A pause ends an utterance only when it also holds the tail of this one and the pre-roll of the next:
        # two stretches of speech closer than that are one utterance, each cut with its full context.
        self._end_silence = max(self.config.end_silence_seconds,
                                self.config.pre_roll_seconds + self.config.tail_seconds)
        self._blocks: list[np.ndarray] = []  # the open utterance, block by block
        self._levels: list[float] = []  # their levels
        self._loud: list[bool] = []  # and whether each was loud
        self._start = 0  # first sample of the open utterance
        self._room: deque[np.ndarray] = deque(maxlen=round(ROOM_TONE_SECONDS / BLOCK_SECONDS))  # recent quiet
        self._room_tone: np.ndarray | None = None  # the quiet before the open utterance
        self._lead = 0  # pre-roll blocks at its start
        self._quiet = 0  # quiet blocks since its last loud block
        self.samples_seen = 0  # whole blocks only
        self.finished = False

    @property
    def is_open(self) -> bool:
        """Whether an utterance is open (speech was heard and has not ended)."""
        return bool(self._blocks)

    @property
    def open_samples(self) -> int:
        """Samples of the open utterance since its first loud block (its pre-roll not counted)."""
        return (len(self._blocks) - self._lead) * self.block

    @property
    def buffered_samples(self) -> int:
        """Samples held in memory: the open utterance, the pre-roll and a part block."""
        return (len(self._blocks) + len(self._pre_roll)) * self.block + len(self._pending)

    def open_audio(self) -> np.ndarray:
        """The open utterance so far (up to :attr:`~SpeechConfig.tail_seconds` after its last loud block)."""
        return self._audio(len(self._blocks))

    def accept(self, samples: np.ndarray) -> list[tuple[np.ndarray, int]]:
        """Float samples at the cutter's rate -> the utterances that ended in them."""
        if self.finished:
            raise AsrError("this audio has ended; start a new cutter")
        samples = np.asarray(samples, dtype=np.float32)
        if len(self._pending):
            samples = np.concatenate([self._pending, samples])
        whole = len(samples) - len(samples) % self.block
        self._pending = samples[whole:].copy()
        ended: list[tuple[np.ndarray, int]] = []
        if whole == 0:
            return ended
        levels = block_levels(samples[:whole], self.block)
        for index, level in enumerate(levels):
            block = samples[index * self.block : (index + 1) * self.block]
            ended += self._push(block, float(level))
        return ended

    def finish(self) -> list[tuple[np.ndarray, int]]:
        """End of audio: the utterance still open, if any (with the last part block)."""
        if self.finished:
            return []
        self.finished = True
        if not self._blocks:
            return []
        if self._quiet == 0:  # still loud at the end: the last part block belongs to it
            self._blocks.append(self._pending)
        taken = self._take(len(self._blocks))
        return [taken] if taken else []

    def _push(self, block: np.ndarray, level: float) -> list[tuple[np.ndarray, int]]:
        loud = self._floor.is_loud(level)
        self.samples_seen += self.block
        if not self._blocks:
            if loud:  # an utterance opens, with the pre-roll before it
                self._blocks = [*self._pre_roll, block.copy()]
                self._levels = [MIN_LEVEL_DB] * len(self._pre_roll) + [level]
                self._loud = [False] * len(self._pre_roll) + [True]
                self._start = self.samples_seen - len(self._blocks) * self.block
                self._lead = len(self._blocks) - 1
                self._pre_roll, self._quiet = [], 0
                self._room_tone = np.concatenate(self._room) if self._room else None
                return []
            self._room.append(block.copy())
            if self._pre_roll_blocks:
                self._pre_roll.append(block.copy())
                del self._pre_roll[: -self._pre_roll_blocks]
            return []
        self._blocks.append(block.copy())
        self._levels.append(level)
        self._loud.append(loud)
        self._quiet = 0 if loud else self._quiet + 1
        taken = None
        if self._quiet * BLOCK_SECONDS >= self._end_silence - 1e-9:
            taken = self._take(len(self._blocks))
        elif len(self._blocks) * BLOCK_SECONDS >= self.config.max_utterance_seconds:
            taken = self._take(self._quietest_cut())
        return [taken] if taken else []

    def _quietest_cut(self) -> int:
        """Block index in the open utterance's second half at the centre of its quietest stretch."""
        levels = np.asarray(self._levels)
        half = len(levels) // 2
        width = max(1, round(CUT_PAUSE_SECONDS / BLOCK_SECONDS))
        power = 10.0 ** (levels[half:] / 10.0)
        smooth = np.convolve(power, np.ones(width) / width, mode="valid")
        return half + int(np.argmin(smooth)) + width // 2

    def _audio(self, end: int) -> np.ndarray:
        """Blocks ``[0, end)`` of the open utterance, less the quiet beyond the tail at its end."""
        quiet = self._quiet if end == len(self._blocks) else 0
        tail = round(self.config.tail_seconds / BLOCK_SECONDS)
        loud_end = max(1, end - max(0, quiet - tail))
        return np.concatenate(self._blocks[:loud_end])

    def _take(self, end: int) -> tuple[np.ndarray, int] | None:
        """Close the open utterance at block ``end`` (None if it held too little loud audio to be speech);
        blocks after it open the next one (a cut at a pause)."""
        audio, start = self._audio(end), self._start
        speech = sum(self._loud[:end]) * BLOCK_SECONDS >= self.config.min_loud_seconds
        if speech and self.config.fill_room_tone:
            audio = fill_vanished_floor(audio, self._room_tone, self.rate, seed=start)
        if end == len(self._blocks) and self._pre_roll_blocks:  # the pause's last blocks: the next one's pre-roll
            beyond_tail = self._blocks[len(audio) // self.block:]
            self._pre_roll = beyond_tail[-self._pre_roll_blocks:]
        self._start += end * self.block
        self._blocks, self._levels, self._loud = self._blocks[end:], self._levels[end:], self._loud[end:]
        self._lead = 0
        if not self._blocks:
            self._quiet = 0
        return (audio, start) if speech else None


def band_levels(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """``(samples,)`` -> ``(frames, FILL_BANDS)`` level (dB) of each 20 ms frame in equal-width frequency bands."""
    window = max(2 * FILL_BANDS, round(0.02 * sample_rate))
    frames = len(samples) // window
    if frames == 0:
        return np.zeros((0, FILL_BANDS))
    spectrum = np.abs(np.fft.rfft(samples[: frames * window].reshape(frames, window), axis=1)) ** 2
    bands = np.array_split(spectrum[:, 1:], FILL_BANDS, axis=1)
    return to_db(np.stack([band.mean(axis=1) for band in bands], axis=1) / window**2)


def fill_vanished_floor(audio: np.ndarray, room_tone: np.ndarray | None, sample_rate: int, seed: int) -> np.ndarray:
    """``audio`` ``(samples,)`` of one utterance, with ``room_tone`` (the quiet just before it) looped under the
    whole of it where, in some frequency band, even its quietest frames fall :data:`VANISHED_FLOOR_DB` below
    that tone; else ``audio`` unchanged.

    The tone stopping where the words are is what no room does (a clip spliced into a recording, a noise gate, a
    voice recorded at 8 kHz between full-band room tone), and a network hears the noise floor as part of the
    voice: FSDD's narrow-band voices between white room tone were read as other words ("eight" as "six") and
    the same voices with the tone running under them were read right. Where the tone runs under the words
    already, nothing changes. ``seed`` (the utterance's first sample) picks where the loop starts, so a file
    decodes the same every time."""
    if room_tone is None or len(room_tone) < MIN_ROOM_TONE_SECONDS * sample_rate:
        return audio
    room = band_levels(room_tone, sample_rate)
    if room.size == 0 or to_db(np.mean(room_tone.astype(np.float64) ** 2)) <= QUIETEST_FILLED_DB:
        return audio
    quietest = np.percentile(band_levels(audio, sample_rate), 10, axis=0) if len(audio) else None
    if quietest is None or quietest.size == 0 or np.all(quietest >= np.median(room, axis=0) - VANISHED_FLOOR_DB):
        return audio
    offset = seed % len(room_tone)
    under = np.resize(np.roll(room_tone, -offset), len(audio))
    return (audio + under).astype(np.float32)


def quiet_level(samples: np.ndarray, sample_rate: int) -> float:
    """The level (dB re full scale) of the quiet part of ``samples``: where the offline noise floor starts."""
    levels = block_levels(samples, block_size(sample_rate))
    return float(np.percentile(levels, FLOOR_PERCENTILE)) if levels.size else MIN_LEVEL_DB


def find_utterances(
    samples: np.ndarray, sample_rate: int, config: SpeechConfig | None = None
) -> list[tuple[np.ndarray, int]]:
    """``(samples,)`` mono audio -> its utterances, each ``(audio (samples,), first sample)``; ``[]`` for
    audio without speech (silence, room tone, steady noise or hum, however long).

    The same cutter as streaming, with the noise floor started at the audio's own quiet level."""
    samples = np.asarray(samples, dtype=np.float32)
    config = config or SpeechConfig()
    floor = quiet_level(samples, sample_rate)
    cutter = UtteranceCutter(sample_rate, config, initial_floor_db=floor)
    utterances = cutter.accept(samples) + cutter.finish()
    if not utterances and floor > config.min_speech_dbfs and level_spread(samples, sample_rate) >= MIN_SPREAD_DB:
        # Nothing stands out because nothing is quiet: a clip cut tight around a word is speech throughout.
        return [(samples, 0)]
    return utterances


def level_spread(samples: np.ndarray, sample_rate: int) -> float:
    """Spread between loud and quiet 25 ms frames (95th minus 5th percentile of their levels, dB)."""
    levels = frame_levels(samples, sample_rate)
    return float(np.percentile(levels, 95) - np.percentile(levels, 5))


def has_speech(samples: np.ndarray, sample_rate: int) -> bool:
    """Whether :func:`find_utterances` finds any speech in ``samples`` (silence never does: nothing in it is
    above :attr:`SpeechConfig.min_speech_dbfs`)."""
    return bool(find_utterances(samples, sample_rate))


#: Where a word's sound begins: the first 10 ms block within this many dB of the utterance's loudest.
ONSET_BELOW_PEAK_DB = 30.0


def snap_to_sound(spans: list[tuple[float, float]], samples: np.ndarray, sample_rate: int) -> list[tuple[float, float]]:
    """Word ``(start, end)`` times (seconds into ``samples``, in order) moved to where the sound is.

    A bidirectional CTC model may emit a word's letters frames before its sound begins (even in the quiet
    before it), so each word's start moves forward to the first loud block at or after it, and its end to the
    block after the last loud one before the next word's start ("loud": within :data:`ONSET_BELOW_PEAK_DB` of
    the utterance's loudest block, and a speech margin above its quiet part, the pre-roll). Without a loud block
    after it, a word keeps its times."""
    levels = block_levels(samples, block_size(sample_rate))
    if levels.size == 0 or not spans:
        return spans
    floor = float(np.percentile(levels, FLOOR_PERCENTILE)) + SpeechConfig.speech_margin_db
    loud = np.flatnonzero(levels > max(levels.max() - ONSET_BELOW_PEAK_DB, floor))
    starts = []
    for start, _ in spans:
        after = loud[loud >= int(start / BLOCK_SECONDS)]
        starts.append(float(after[0]) * BLOCK_SECONDS if after.size else start)
    starts = list(np.maximum.accumulate(starts))  # words stay in order
    snapped = []
    for index, ((start, end), new_start) in enumerate(zip(spans, starts, strict=True)):
        limit = starts[index + 1] if index + 1 < len(spans) else len(levels) * BLOCK_SECONDS
        inside = loud[(loud >= round(new_start / BLOCK_SECONDS)) & (loud < round(max(limit, end) / BLOCK_SECONDS))]
        new_end = float(inside[-1] + 1) * BLOCK_SECONDS if inside.size else new_start + (end - start)
        snapped.append((float(new_start), max(new_end, float(new_start))))
    return snapped

