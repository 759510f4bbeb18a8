"""CMU AN4 (census) in its distributed layout.

``wav/an4_clstk/SPEAKER/ID.{sph,flac,wav}`` (training part) and ``wav/an4test_clstk/...`` (test part),
listed in ``etc/an4_{train,test}.fileids`` with transcripts in ``etc/an4_{train,test}.transcription``
(``<s> WORDS </s> (ID)``). Writes ``train.jsonl`` and, when the test part is there, ``test.jsonl``;
``<s>``/``</s>`` are stripped, words lowercased, and the speaker (the file's folder) kept.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from asr.errors import AsrError
from data_prep.common import PrepReport, require_dir

_LINE = re.compile(r"^(?:<s>\s*)?(.*?)(?:\s*</s>)?\s*\(([^()\s]+)\)\s*$")
_AUDIO_EXTENSIONS = (".flac", ".sph", ".wav")
SPLITS = {"train": "an4_train", "test": "an4_test"}

#: What the converter expects to find (its error says so when it finds no utterance).
LAYOUT = "CMU AN4: etc/an4_{train,test}.{fileids,transcription} + wav/an4*_clstk/SPK/ID.sph|flac"


def read_transcription(path: Path) -> dict[str, str]:
    """``<s> WORDS </s> (ID)`` lines -> ``{ID: "words"}``."""
    texts = {}
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        match = _LINE.match(line.strip())
        if not match:
            raise AsrError(f"line {number} is not '<s> WORDS </s> (ID)'", path)
        texts[match.group(2)] = match.group(1).lower()
    return texts


def find_audio(wav_dir: Path, file_id: str) -> Path | None:
    for extension in _AUDIO_EXTENSIONS:
        candidate = wav_dir / f"{file_id}{extension}"
        if candidate.is_file():
            return candidate
    return None


def prepare_an4(corpus_dir: str | os.PathLike[str], output_dir: str | os.PathLike[str]) -> PrepReport:
    root = require_dir(corpus_dir)
    report = PrepReport()
    for split, stem in SPLITS.items():
        fileids, transcription = root / "etc" / f"{stem}.fileids", root / "etc" / f"{stem}.transcription"
        if not fileids.is_file() and split == "test":
            continue  # the test part is optional
        if not fileids.is_file() or not transcription.is_file():
            raise AsrError(f"expected etc/{stem}.fileids and etc/{stem}.transcription (AN4's layout)", root)
        texts = read_transcription(transcription)
        for file_id in fileids.read_text(encoding="utf-8").split():
            utterance = Path(file_id).name
            audio = find_audio(root / "wav", file_id)
            if audio is None:
                report.skip(root / "wav" / file_id, "audio file not found (.flac, .sph or .wav)")
                continue
            report.add(split, audio, texts.get(utterance), id=utterance, speaker=Path(file_id).parent.name)
    report.write(output_dir, root, LAYOUT)
    return report
