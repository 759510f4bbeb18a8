"""JSON Lines manifests: one utterance a line, ``{"audio": PATH, "text": STR, "duration": SECONDS, ...}``.

Relative audio paths resolve against the manifest's own folder, so a manifest and its audio can move
together. Extra keys (``id``, ``speaker``, ...) are kept.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asr.audio import audio_info
from asr.errors import AsrError
from asr.files import atomic_open


@dataclass
class Utterance:
    """One manifest line. ``audio`` is an absolute path once read."""

    audio: str
    text: str
    duration: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return str(self.extra.get("id", Path(self.audio).stem))

    @property
    def speaker(self) -> str | None:
        speaker = self.extra.get("speaker")
        return None if speaker is None else str(speaker)


def read_manifest(path: str | os.PathLike[str], require_text: bool = True,
                  require_audio: bool = True) -> list[Utterance]:
    """Read and validate a manifest; errors name the file and the line.

    ``duration`` may be left out: it is then read from the audio file's header. ``text`` may be left out only
    with ``require_text=False`` (untranscribed audio, as ``asr adapt`` takes); it is then empty. With
    ``require_audio=False`` (``asr evaluate``, which reports each unreadable file and goes on), a line without
    ``duration`` whose audio header cannot be read is kept with duration 0.0, and fails where its audio is read,
    as it would with a duration given."""
    path = Path(path)
    if not path.is_file():
        raise AsrError("manifest not found", path)
    base = path.resolve().parent
    utterances = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise AsrError("manifest is not UTF-8 text", path) from None
    for number, line in enumerate(lines, start=1):
        if line.strip():
            utterances.append(_parse_line(line, base, f"{path}:{number}", require_text, require_audio))
    if not utterances:
        raise AsrError("manifest has no utterances", path)
    return utterances


def _parse_line(line: str, base: Path, where: str, require_text: bool = True, require_audio: bool = True) -> Utterance:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise AsrError(f"not valid JSON ({error.msg})", where) from None
    if not isinstance(record, dict):
        raise AsrError("each line must be a JSON object", where)
    missing = [key for key in ("audio", "text") if key not in record and (key == "audio" or require_text)]
    if missing:
        raise AsrError(f"missing key(s): {', '.join(missing)}", where)
    audio, text, duration = record.pop("audio"), record.pop("text", ""), record.pop("duration", None)
    if not isinstance(audio, str) or not audio:
        raise AsrError("'audio' must be a non-empty string path", where)
    if not isinstance(text, str):
        raise AsrError("'text' must be a string", where)
    if duration is None:
        try:
            duration = audio_info(base / audio).duration  # from the header: no need to decode the audio
        except AsrError as error:
            if not require_audio:
                return Utterance(audio=str(base / audio), text=text, duration=0.0, extra=record)
            raise AsrError(f"no 'duration', and the audio's header cannot be read ({error})", where) from None
    if isinstance(duration, bool) or not isinstance(duration, int | float) or not 0 < duration < float("inf"):
        raise AsrError(f"'duration' must be a positive number of seconds, got {duration!r}", where)
    return Utterance(audio=str(base / audio), text=text, duration=float(duration), extra=record)


def write_manifest(path: str | os.PathLike[str], utterances: Iterable[Utterance]) -> None:
    """Write a manifest, storing audio paths relative to its folder where they lie below it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    base = path.resolve().parent
    with atomic_open(path, "w", encoding="utf-8") as handle:
        for utt in utterances:
            audio = Path(utt.audio).resolve()
            try:
                audio_str = str(audio.relative_to(base))
            except ValueError:
                audio_str = str(audio)
            record = {"audio": audio_str, "text": utt.text, "duration": round(utt.duration, 4), **utt.extra}
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
