"""SubRip (.srt) and WebVTT (.vtt) subtitles from word times."""

from __future__ import annotations

from collections.abc import Sequence

from asr.decode import Word


def group_cues(words: Sequence[Word], max_words: int = 8, max_seconds: float = 4.0,
               max_gap: float = 1.0) -> list[list[Word]]:
    """Split words into cues: a new cue after ``max_words`` words, ``max_seconds``, or a pause of ``max_gap``."""
    cues: list[list[Word]] = []
    for word in words:
        current = cues[-1] if cues else None
        if (current is None or len(current) >= max_words or word.end - current[0].start > max_seconds
                or word.start - current[-1].end > max_gap):
            cues.append([word])
        else:
            current.append(word)
    return cues


def _timestamp(seconds: float, separator: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def to_srt(words: Sequence[Word]) -> str:
    blocks = []
    for number, cue in enumerate(group_cues(words), start=1):
        blocks.append(f"{number}\n{_timestamp(cue[0].start, ',')} --> {_timestamp(cue[-1].end, ',')}\n"
                      + " ".join(w.word for w in cue) + "\n")
    return "\n".join(blocks)


def to_vtt(words: Sequence[Word]) -> str:
    blocks = ["WEBVTT\n"]
    for cue in group_cues(words):
        blocks.append(f"{_timestamp(cue[0].start, '.')} --> {_timestamp(cue[-1].end, '.')}\n"
                      + " ".join(w.word for w in cue) + "\n")
    return "\n".join(blocks)
