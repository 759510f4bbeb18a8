"""TIMIT-style corpora: ``TRAIN|TEST/DIALECT/SPEAKER/UTT.WAV`` (NIST SPHERE) with ``UTT.TXT`` and/or ``UTT.WRD``.

``.TXT`` holds ``START END sentence``; ``.WRD`` holds ``START END word`` per line. The word file wins
when both exist, since it has no punctuation. Case of names and extensions does not matter.
"""

from __future__ import annotations

import os
from pathlib import Path

from data_prep.common import PrepReport, audio_files, require_dir

#: What the converter expects to find (its error says so when it finds no utterance).
LAYOUT = "TIMIT-style: SPLIT/DIALECT/SPEAKER/*.WAV (SPHERE) + .TXT/.WRD"


def _sibling(audio: Path, extension: str) -> Path | None:
    for candidate in (audio.with_suffix(extension.upper()), audio.with_suffix(extension.lower())):
        if candidate.is_file():
            return candidate
    return None


def read_timit_transcript(audio: Path) -> str | None:
    wrd = _sibling(audio, ".wrd")
    if wrd is not None:
        words = [line.split()[2] for line in wrd.read_text(encoding="utf-8", errors="replace").splitlines()
                 if len(line.split()) >= 3]
        return " ".join(words) or None
    txt = _sibling(audio, ".txt")
    if txt is not None:
        parts = txt.read_text(encoding="utf-8", errors="replace").split(maxsplit=2)
        return parts[2] if len(parts) == 3 else None
    return None


def prepare_timit(corpus_dir: str | os.PathLike[str], output_dir: str | os.PathLike[str]) -> PrepReport:
    root = require_dir(corpus_dir)
    report = PrepReport()
    for audio in audio_files(root, [".wav"]):
        relative = audio.relative_to(root).parts
        split = relative[0].lower() if len(relative) > 1 else "all"
        speaker = audio.parent.name.lower()
        report.add(split, audio, read_timit_transcript(audio), id=f"{speaker}_{audio.stem.lower()}",
                   speaker=speaker)
    report.write(output_dir, root, LAYOUT)
    return report
