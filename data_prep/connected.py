"""Connected-word utterances built from isolated-word recordings (the classic trick for digit strings).

Recordings of one speaker are joined with silent gaps; each word may be speed-perturbed, the whole
utterance gets a random gain and, optionally, a quiet room tone under it (real recordings are never digital
zeros between the words) or background noise. The result is written as WAV
files plus a manifest, so training and evaluation read them like any other corpus; a rerun with the same
request (count, config, seed, source files) reads them back instead of making them again.
"""

from __future__ import annotations

import json
import os
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from asr.audio import load_audio, write_audio
from asr.augment import (
    ChannelConfig,
    add_noise,
    apply_gain,
    normalise_peak,
    room_tone,
    simulate_channel,
    speed_perturb,
)
from asr.data import NON_SPEECH
from asr.files import atomic_write_text
from asr.manifest import Utterance, read_manifest, write_manifest
from asr.speech_detect import frame_power

#: Beside a folder's manifest: what made it, so that a rerun with the same request reads it instead of making it again.
STAMP = "made.json"


def _already_made(output_dir: Path, request: dict) -> list[Utterance] | None:
    """The utterances an earlier call with the same ``request`` wrote into ``output_dir``, if all are there."""
    stamp, manifest = output_dir / STAMP, output_dir / "manifest.jsonl"
    if not (stamp.is_file() and manifest.is_file()) or json.loads(stamp.read_text()) != request:
        return None
    made = read_manifest(manifest)
    return made if all(Path(u.audio).is_file() for u in made) else None


def _stamp(output_dir: Path, request: dict, made: list[Utterance]) -> list[Utterance]:
    write_manifest(output_dir / "manifest.jsonl", made)
    atomic_write_text(output_dir / STAMP, json.dumps(request))
    return made


#: RMS level range of a quiet room's tone (dB re full scale): what real recordings have where nobody speaks.
ROOM_TONE_DBFS = (-75.0, -45.0)


@dataclass
class ConnectedConfig:
    """How connected utterances are made."""

    min_words: int = 2  # words per utterance, inclusive range
    max_words: int = 6
    gap_seconds: tuple[float, float] = (0.05, 0.30)  # silence between words, uniform range
    edge_seconds: tuple[float, float] = (0.05, 0.25)  # silence before the first and after the last word
    speeds: tuple[float, ...] = (1.0,)  # speed factors drawn per word (e.g. 0.9, 1.0, 1.1)
    gain_db: tuple[float, float] = (0.0, 0.0)  # gain range applied to the whole utterance
    snr_db: tuple[float, float] | None = None  # white-noise SNR range; None adds no noise
    channel: ChannelConfig | None = None  # a simulated room/microphone/line per utterance; None: none
    clean_fraction: float = 0.0  # with a channel: the share of utterances left without one
    # Real recordings are not digital zeros between words: the share of utterances that get a quiet room tone
    # under the whole utterance (white, pink or brown noise) at an RMS level drawn from ``room_tone_dbfs``.
    room_tone: float = 0.0
    room_tone_dbfs: tuple[float, float] = ROOM_TONE_DBFS


def trim_silence(waveform: torch.Tensor, sample_rate: int, threshold_db: float = -35.0) -> torch.Tensor:
    """Cut leading and trailing samples quieter than ``threshold_db`` below the peak (10 ms frames)."""
    frame = max(1, sample_rate // 100)
    energy = frame_power(waveform.numpy(), frame)
    if energy.size == 0:
        return waveform
    loud = np.flatnonzero(energy > energy.max() * 10 ** (threshold_db / 10))
    if loud.size == 0:
        return waveform
    return waveform[int(loud[0]) * frame : (int(loud[-1]) + 1) * frame]


def make_connected(
    recordings: Sequence[Utterance],
    count: int,
    output_dir: str | os.PathLike[str],
    sample_rate: int,
    config: ConnectedConfig,
    seed: int,
    prefix: str = "conn",
) -> list[Utterance]:
    """Write ``count`` connected utterances, each from one speaker's isolated-word ``recordings``.

    Returns the new utterances (also written as ``output_dir/manifest.jsonl``).
    """
    output_dir = Path(output_dir)
    request = {"kind": "connected", "count": count, "rate": sample_rate, "config": repr(config), "seed": seed,
               "prefix": prefix, "sources": [u.audio for u in recordings]}
    if (made := _already_made(output_dir, request)) is not None:
        return made
    rng = random.Random(seed)
    generator = torch.Generator().manual_seed(seed)
    by_speaker: dict[str, list[Utterance]] = defaultdict(list)
    for utt in recordings:
        by_speaker[utt.speaker or "unknown"].append(utt)
    speakers = sorted(by_speaker)
    cache: dict[str, torch.Tensor] = {}

    def word_audio(utt: Utterance) -> torch.Tensor:
        if utt.audio not in cache:
            cache[utt.audio] = trim_silence(load_audio(utt.audio, sample_rate), sample_rate)
        return cache[utt.audio]

    def silence(bounds: tuple[float, float]) -> torch.Tensor:
        return torch.zeros(int(rng.uniform(*bounds) * sample_rate))

    output_dir.mkdir(parents=True, exist_ok=True)
    made = []
    for index in range(count):
        speaker = speakers[index % len(speakers)]
        words = [rng.choice(by_speaker[speaker]) for _ in range(rng.randint(config.min_words, config.max_words))]
        pieces = [silence(config.edge_seconds)]
        for position, utt in enumerate(words):
            if position:
                pieces.append(silence(config.gap_seconds))
            pieces.append(speed_perturb(word_audio(utt), rng.choice(config.speeds), sample_rate))
        pieces.append(silence(config.edge_seconds))
        waveform = normalise_peak(torch.cat(pieces), rng.uniform(0.3, 0.95))
        waveform = apply_gain(waveform, rng.uniform(*config.gain_db))
        if config.room_tone > 0 and rng.random() < config.room_tone:
            waveform = waveform + room_tone(waveform.numel(), rng.uniform(*config.room_tone_dbfs), generator)
        if config.snr_db is not None:
            waveform = add_noise(waveform, rng.uniform(*config.snr_db), generator)
        if config.channel is not None and rng.random() >= config.clean_fraction:
            waveform = simulate_channel(waveform, sample_rate, config.channel, generator)
        path = output_dir / f"{prefix}_{index:05d}.wav"
        write_audio(path, waveform, sample_rate)
        made.append(Utterance(str(path), " ".join(u.text for u in words), waveform.numel() / sample_rate,
                              {"id": path.stem, "speaker": speaker}))
    return _stamp(output_dir, request, made)


def make_channel_copies(
    recordings: Sequence[Utterance],
    output_dir: str | os.PathLike[str],
    sample_rate: int,
    channel: ChannelConfig,
    seed: int,
    speeds: tuple[float, ...] = (1.0,),
    pad_seconds: tuple[float, float] = (0.0, 0.0),
) -> list[Utterance]:
    """Write one copy of each recording through a random simulated channel (and a speed from ``speeds``).

    With ``pad_seconds`` ``(low, high)``, each copy first gets a lead-in and a tail, each drawn from that range,
    of digital silence or of room tone (:data:`ROOM_TONE_DBFS`) that runs under the words too or only around them
    (:func:`padded`), before the channel (so a room's reverberation rings into the tail and its noise fills the
    pauses): corpus clips are cut tight, recordings are not. Returns the copies (also written as
    ``output_dir/manifest.jsonl``), same transcripts and speakers.
    """
    output_dir = Path(output_dir)
    request = {"kind": "copies", "rate": sample_rate, "channel": repr(channel), "seed": seed, "speeds": list(speeds),
               "sources": [u.audio for u in recordings]}
    if pad_seconds != (0.0, 0.0):  # only then: the copies made before padding existed keep their stamp
        request["pad_seconds"] = list(pad_seconds)
        request["padding"] = "silence, tone under, tone around"  # copies padded before the third kind are remade
    if (made := _already_made(output_dir, request)) is not None:
        return made
    rng = random.Random(seed)
    generator = torch.Generator().manual_seed(seed)
    output_dir.mkdir(parents=True, exist_ok=True)
    made = []
    for index, utt in enumerate(recordings):
        waveform = speed_perturb(load_audio(utt.audio, sample_rate), rng.choice(speeds), sample_rate)
        if pad_seconds != (0.0, 0.0):
            waveform = padded(waveform, sample_rate, pad_seconds, rng, generator)
        waveform = simulate_channel(waveform, sample_rate, channel, generator)
        path = output_dir / f"copy_{index:05d}.wav"
        write_audio(path, waveform, sample_rate)
        made.append(Utterance(str(path), utt.text, waveform.numel() / sample_rate,
                              {**utt.extra, "id": f"{utt.id}.channel"}))
    return _stamp(output_dir, request, made)


def padded(waveform: torch.Tensor, sample_rate: int, pad_seconds: tuple[float, float], rng: random.Random,
           generator: torch.Generator) -> torch.Tensor:
    """``(samples,)`` with a lead-in and a tail of ``pad_seconds`` (each drawn), a third of the time each: digital
    silence; room tone (:data:`ROOM_TONE_DBFS`) under the whole of it; or room tone in the lead-in and tail only.
    The last is a recording whose noise floor changes when the words start (a clip spliced into a recording, a
    noise gate, a phone's noise suppression): a network that never heard it reads a narrow-band voice between
    full-band room tone as other words."""
    lead, tail = (round(rng.uniform(*pad_seconds) * sample_rate) for _ in range(2))
    out = torch.nn.functional.pad(waveform, (lead, tail))
    mode = rng.random()
    if mode < 2 / 3:
        tone = room_tone(out.numel(), rng.uniform(*ROOM_TONE_DBFS), generator)
        if mode >= 1 / 3:  # around the words only
            tone[lead : lead + waveform.numel()] = 0.0
        out = out + tone
    return out


def make_non_speech(
    count: int,
    output_dir: str | os.PathLike[str],
    sample_rate: int,
    channel: ChannelConfig,
    seed: int,
    seconds: tuple[float, float] = (0.3, 3.0),
) -> list[Utterance]:
    """Write ``count`` clips where nobody speaks, each ``seconds`` long (drawn): a quiet room's tone
    (:data:`ROOM_TONE_DBFS`) or, half the time where ``channel.real`` holds recorded noise, a stretch of it at
    such a level, through the channel. Their transcripts are empty and their ``extra`` says ``non_speech``
    (:data:`asr.data.NON_SPEECH`), so training keeps them: a network that only ever heard utterances with words
    in them writes words into a stretch of room tone that the speech detector let through."""
    output_dir = Path(output_dir)
    request = {"kind": "non_speech", "count": count, "rate": sample_rate, "channel": repr(channel), "seed": seed,
               "seconds": list(seconds)}
    if (made := _already_made(output_dir, request)) is not None:
        return made
    rng = random.Random(seed)
    generator = torch.Generator().manual_seed(seed)
    output_dir.mkdir(parents=True, exist_ok=True)
    noises = channel.real.noises if channel.real is not None else []
    made = []
    for index in range(count):
        samples = round(rng.uniform(*seconds) * sample_rate)
        level = rng.uniform(*ROOM_TONE_DBFS)
        if noises and rng.random() < 0.5:
            noise = noises[rng.randrange(len(noises))]
            begin = rng.randrange(max(noise.numel() - samples, 1))
            waveform = noise[begin : begin + samples].float()
            waveform = torch.nn.functional.pad(waveform, (0, samples - waveform.numel()))
            waveform = waveform * (10.0 ** (level / 20.0) / waveform.pow(2).mean().sqrt().clamp_min(1e-12))
        else:
            waveform = room_tone(samples, level, generator)
        waveform = simulate_channel(waveform, sample_rate, channel, generator)
        path = output_dir / f"non_speech_{index:05d}.wav"
        write_audio(path, waveform, sample_rate)
        made.append(Utterance(str(path), "", samples / sample_rate,
                              {"id": f"non_speech_{index:05d}", "speaker": "none", NON_SPEECH: True}))
    return _stamp(output_dir, request, made)


def make_spliced(
    recordings: Sequence[Utterance],
    word_times: Sequence[Sequence[tuple[float, float]]],
    count: int,
    output_dir: str | os.PathLike[str],
    sample_rate: int,
    seed: int,
    words: tuple[int, int] = (1, 8),
    prefix: str = "spliced",
) -> list[Utterance]:
    """Write ``count`` recordings joined from the word pieces of ``recordings``, in word orders they never had.

    ``word_times`` gives, for each recording, each word's piece ``(start, end)`` in seconds, adjacent pieces
    touching (:func:`asr.align.pause_cuts` of a forced alignment: cut halfway through the pauses); before the
    first piece lies the recording's lead-in, after the last its tail. A new recording is one recording's
    lead-in, 1-8 word pieces drawn from any recording and position, and one recording's tail: the corpus's own
    voice, room and pauses, with any word first or last and next to any other, so that a model cannot learn a
    word from its place or its neighbours (in the yes/no corpus's usual split every training file opens with
    "no" and every test file with "yes"). Returns the new utterances (also written as
    ``output_dir/manifest.jsonl``).
    """
    if len(word_times) != len(recordings):
        raise ValueError("one list of word times per recording")
    output_dir = Path(output_dir)
    request = {"kind": "spliced", "count": count, "rate": sample_rate, "seed": seed, "words": list(words),
               "prefix": prefix, "sources": [u.audio for u in recordings],
               "times": [[[round(a, 4), round(b, 4)] for a, b in times] for times in word_times]}
    if (made := _already_made(output_dir, request)) is not None:
        return made
    usable = [i for i, (utt, times) in enumerate(zip(recordings, word_times, strict=True))
              if times and len(times) == len(utt.text.split())]
    if not usable:
        raise ValueError("no recording whose word times match its words")
    pieces = [(i, w) for i in usable for w in range(len(word_times[i]))]
    rng = random.Random(seed)
    cache: dict[int, torch.Tensor] = {}

    def audio(index: int, start: float, end: float | None) -> torch.Tensor:
        if index not in cache:
            cache[index] = load_audio(recordings[index].audio, sample_rate)
        return cache[index][int(start * sample_rate) : None if end is None else int(end * sample_rate)]

    output_dir.mkdir(parents=True, exist_ok=True)
    made = []
    for number in range(count):
        chosen = [rng.choice(pieces) for _ in range(rng.randint(*words))]
        lead, tail = rng.choice(usable), rng.choice(usable)
        parts = [audio(lead, 0.0, word_times[lead][0][0])]
        parts += [audio(index, *word_times[index][word]) for index, word in chosen]
        parts.append(audio(tail, word_times[tail][-1][1], None))
        waveform = torch.cat(parts)
        path = output_dir / f"{prefix}_{number:05d}.wav"
        write_audio(path, waveform, sample_rate)
        text = " ".join(recordings[index].text.split()[word] for index, word in chosen)
        made.append(Utterance(str(path), text, waveform.numel() / sample_rate,
                              {"id": path.stem, "speaker": recordings[lead].speaker}))
    return _stamp(output_dir, request, made)
