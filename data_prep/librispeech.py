"""LibriSpeech: ``SPLIT/SPEAKER/CHAPTER/SPEAKER-CHAPTER.trans.txt`` lines ``UTT-ID TEXT`` beside ``UTT-ID.flac``.

Each split folder under the corpus root (``train-clean-100``, ``dev-clean``, ...) becomes one manifest.
"""

from __future__ import annotations

import os
from pathlib import Path

from data_prep.common import PrepReport, require_dir

#: What the converter expects to find (its error says so when it finds no utterance).
LAYOUT = "LibriSpeech: SPLIT/SPEAKER/CHAPTER/*.trans.txt + .flac"


def prepare_librispeech(corpus_dir: str | os.PathLike[str], output_dir: str | os.PathLike[str]) -> PrepReport:
    root = require_dir(corpus_dir)
    report = PrepReport()
    for split_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        transcribed: set[Path] = set()
        for trans in sorted(split_dir.rglob("*.trans.txt")):
            for line in trans.read_text(encoding="utf-8").splitlines():
                if not line.strip():
                    continue
                utt_id, _, text = line.strip().partition(" ")
                audio = trans.parent / f"{utt_id}.flac"
                transcribed.add(audio)
                if not audio.exists():
                    report.skip(audio, f"listed in {trans.name} but the audio file is missing")
                    continue
                report.add(split_dir.name, audio, text, id=utt_id, speaker=utt_id.split("-")[0])
        for audio in sorted(split_dir.rglob("*.flac")):
            if audio not in transcribed:
                report.skip(audio, "no line in any .trans.txt")
    report.write(output_dir, root, LAYOUT)
    return report
