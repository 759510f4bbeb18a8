"""speechocean762: read English by non-native speakers, in the Kaldi-style layout it is distributed in.

Lists ``text`` (``UTT<TAB>WORDS``), ``utt2spk`` (``UTT SPEAKER``), ``spk2age`` and ``spk2gender`` (``SPEAKER
VALUE``), and the audio at ``audio/SPEAKERnnnn/UTT.ogg`` (``WAVE/SPEAKERnnnn/UTT.WAV`` in the original
distribution; ``.wav`` and ``.flac`` are found too). The lists lie either at the corpus root (one part, written
as ``train.jsonl``, as ``../shared/data/speechocean762`` holds the training part) or in ``train/`` and ``test/``
(the original layout; one manifest each).

Transcripts are lowercased with their spacing collapsed (apostrophes kept), as the other converters do; each
entry keeps the ``speaker`` (the corpus's own id, ``0001`` for ``SPEAKER0001``), its ``age`` (years, an integer)
and ``gender`` (``m``/``f`` as listed) where the lists give them.
"""

from __future__ import annotations

import os
from pathlib import Path

from asr.errors import AsrError
from data_prep.common import PrepReport, require_dir

#: What the converter expects to find (its error says so when it finds no utterance).
LAYOUT = ("speechocean762: text, utt2spk, spk2age, spk2gender (at the root, or in train/ and test/) + "
          "audio/SPEAKERnnnn/UTT.ogg (or WAVE/SPEAKERnnnn/UTT.WAV)")
_AUDIO_FOLDERS = ("audio", "WAVE", "wave")
_EXTENSIONS = (".ogg", ".wav", ".WAV", ".flac")


def read_list(path: Path, required: bool = True) -> dict[str, str]:
    """A Kaldi list, ``KEY<whitespace>VALUE`` per line, as ``{KEY: VALUE}`` (``{}`` for a missing optional list).

    Raises:
        AsrError: a required list is missing, or a line has a key but no value (the error names the line).
    """
    if not path.is_file():
        if required:
            raise AsrError(f"the list {path.name} is missing; expected {LAYOUT}", path.parent)
        return {}
    values = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        key, *value = line.strip().split(maxsplit=1)
        if not value:
            raise AsrError(f"line {number} is '{key}' alone; expected KEY and VALUE", path)
        values[key] = value[0].strip()
    return values


def _age(value: str | None, source: Path, speaker: str) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise AsrError(f"speaker {speaker}'s age {value!r} is not a whole number", source) from None


def _find_audio(root: Path, speaker: str, utterance: str) -> Path | None:
    for folder in _AUDIO_FOLDERS:
        for extension in _EXTENSIONS:
            candidate = root / folder / f"SPEAKER{speaker}" / f"{utterance}{extension}"
            if candidate.is_file():
                return candidate
    return None


def _parts(root: Path) -> dict[str, Path]:
    """Split name -> the folder holding its lists."""
    if (root / "text").is_file():
        return {"train": root}
    parts = {name: root / name for name in ("train", "test") if (root / name / "text").is_file()}
    if not parts:
        raise AsrError(f"no 'text' list here nor in train/ or test/; expected {LAYOUT}", root)
    return parts


def prepare_speechocean762(corpus_dir: str | os.PathLike[str], output_dir: str | os.PathLike[str]) -> PrepReport:
    """Write ``SPLIT.jsonl`` per part (``train``; ``test`` too in the original layout) and ``skipped.tsv``."""
    root = require_dir(corpus_dir)
    report = PrepReport()
    listed: set[Path] = set()
    for split, folder in _parts(root).items():
        texts, speakers = read_list(folder / "text"), read_list(folder / "utt2spk")
        ages, genders = read_list(folder / "spk2age", required=False), read_list(folder / "spk2gender", False)
        for utterance, text in sorted(texts.items()):
            speaker = speakers.get(utterance)
            if speaker is None:
                report.skip(folder / "text", f"utterance {utterance} has no line in utt2spk")
                continue
            audio = _find_audio(root, speaker, utterance)
            if audio is None:
                report.skip(root / "audio" / f"SPEAKER{speaker}" / f"{utterance}.ogg",
                            "listed in text but the audio file is missing (.ogg, .wav or .flac)")
                continue
            listed.add(audio.resolve())
            extra: dict[str, object] = {"id": utterance, "speaker": speaker}
            age = _age(ages.get(speaker), folder / "spk2age", speaker)
            if age is not None:
                extra["age"] = age
            if speaker in genders:
                extra["gender"] = genders[speaker]
            report.add(split, audio, " ".join(text.lower().split()), **extra)
    for folder in _AUDIO_FOLDERS:
        for audio in sorted((root / folder).glob("SPEAKER*/*")) if (root / folder).is_dir() else []:
            if audio.suffix in _EXTENSIONS and audio.resolve() not in listed:
                report.skip(audio, "no line in any part's text list")
    report.write(output_dir, root, LAYOUT)
    return report
