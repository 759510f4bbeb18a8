"""Synthetic voices: words and word strings spoken by espeak-ng with many accents, timbres, pitches and rates.

A corpus with few speakers teaches a model those speakers' voices. Adding the same words from many
synthetic voices (espeak-ng's English accents crossed with its voice variants, pitch and speaking rate
drawn at random) is a cheap way to show it voices it would otherwise never hear. The synthetic speech
only joins the training data; models are always tested on real recordings.

Needs the ``espeak-ng`` program (Debian/Ubuntu: ``apt-get install espeak-ng``;
``scripts/install_speech_tools.sh`` installs it).
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from asr.audio import load_audio, write_audio
from asr.errors import AsrError
from asr.manifest import Utterance, write_manifest

#: espeak-ng's English accents.
ENGLISH_ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd",
                   "en-029", "en-us-nyc")
#: Voice variants shipped with espeak-ng (timbre, sex, formant shifts, synthesis method).
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt2",
            "klatt3", "klatt4", "croak", "Andy", "Annie", "Denis", "Gene", "Jacky", "Lee", "Mario", "Michael",
            "Mr serious", "Tweaky", "aunty", "boris", "david", "edward", "grandma", "grandpa", "john", "linda",
            "max", "michel", "norbert", "paul", "pedro", "robert", "steph", "victor", "zac")


@dataclass
class SynthConfig:
    """How synthetic utterances are drawn."""

    min_words: int = 1  # words per utterance, inclusive range
    max_words: int = 1
    pitch: tuple[int, int] = (25, 75)  # espeak-ng pitch (0-99), uniform range
    words_per_minute: tuple[int, int] = (120, 200)
    word_gap_ms: tuple[int, int] = (0, 60)  # extra pause between words (espeak-ng -g, in 10 ms units)


def require_espeak() -> str:
    """Path of the espeak-ng program, or a clear error saying how to install it."""
    program = shutil.which("espeak-ng")
    if program is None:
        raise AsrError("espeak-ng is not installed: run scripts/install_speech_tools.sh "
                       "(or apt-get install espeak-ng)")
    return program


def synthesize(words: Sequence[str], count: int, output_dir: str | os.PathLike[str], sample_rate: int,
               config: SynthConfig | None = None, seed: int = 0, prefix: str = "synth") -> list[Utterance]:
    """Write ``count`` synthetic utterances of random ``words`` strings as WAV at ``sample_rate``.

    Each utterance gets its own voice (accent + variant), pitch and rate; its ``speaker`` is that voice,
    so speaker-aware code (connected-utterance building, splits) treats each voice as a speaker.
    Returns the utterances (also written to ``output_dir/manifest.jsonl``).
    """
    config = config or SynthConfig()
    program = require_espeak()
    rng = random.Random(seed)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    raw = output_dir / ".raw.wav"
    made = []
    for index in range(count):
        voice = f"{rng.choice(ENGLISH_ACCENTS)}+{rng.choice(VARIANTS)}"
        text = " ".join(rng.choice(words) for _ in range(rng.randint(config.min_words, config.max_words)))
        command = [program, "-v", voice, "-p", str(rng.randint(*config.pitch)),
                   "-s", str(rng.randint(*config.words_per_minute)),
                   "-g", str(rng.randint(*config.word_gap_ms) // 10), "-w", str(raw), text]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0 or not raw.is_file():
            raise AsrError(f"espeak-ng failed for voice {voice}: {done.stderr.strip()[:200]}")
        path = output_dir / f"{prefix}_{index:05d}.wav"
        waveform = load_audio(raw, sample_rate)  # espeak-ng speaks at 22.05 kHz
        write_audio(path, waveform, sample_rate)
        made.append(Utterance(str(path), text, waveform.numel() / sample_rate,
                              {"id": path.stem, "speaker": voice.replace(" ", "_")}))
    raw.unlink(missing_ok=True)
    write_manifest(output_dir / "manifest.jsonl", made)
    return made
