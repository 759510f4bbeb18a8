"""Shared pieces of the converters: building utterances from audio headers, and the skip report."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from asr.audio import audio_info
from asr.errors import AsrError
from asr.manifest import Utterance, write_manifest

log = logging.getLogger(__name__)


@dataclass
class PrepReport:
    """Utterances kept per split and files skipped with the reason."""

    splits: dict[str, list[Utterance]] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def add(self, split: str, audio: str | os.PathLike[str], text: str | None, **extra: object) -> None:
        """Check ``audio`` through its header and record it in ``split``, or record why it was skipped."""
        if text is None or not text.strip():
            self.skip(audio, "no transcript")
            return
        try:
            info = audio_info(audio)
        except AsrError as error:
            self.skip(audio, error.reason)
            return
        if info.frames == 0:
            self.skip(audio, "audio is empty (zero samples)")
            return
        self.splits.setdefault(split, []).append(
            Utterance(str(Path(audio).resolve()), text.strip(), info.duration, dict(extra)))

    def skip(self, path: str | os.PathLike[str], reason: str) -> None:
        self.skipped.append((os.fspath(path), reason))

    def write(self, output_dir: str | os.PathLike[str], corpus: str | os.PathLike[str] | None = None,
              layout: str | None = None) -> dict[str, Path]:
        """Write ``SPLIT.jsonl`` for each split and ``skipped.tsv``; returns the manifest paths.

        Raises:
            AsrError: no utterance was found (nothing is written): the message names ``corpus``, the ``layout``
                the converter expected and, when files were skipped, how many and the first one's reason.
        """
        if not any(self.splits.values()):
            reason = f"no utterances found; expected {layout}" if layout else "no utterances found"
            if self.skipped:
                path, why = self.skipped[0]
                reason += f" ({len(self.skipped)} file(s) skipped, the first {path}: {why})"
            raise AsrError(reason, corpus)
        output_dir = Path(output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        written = {}
        for split, utterances in sorted(self.splits.items()):
            path = output_dir / f"{split}.jsonl"
            write_manifest(path, utterances)
            written[split] = path
        with open(output_dir / "skipped.tsv", "w", encoding="utf-8") as out:
            out.write("path\treason\n")
            for path, reason in self.skipped:
                out.write(f"{path}\t{reason}\n")
        for path, reason in self.skipped:
            log.warning("skipped %s: %s", path, reason)
        summary = ", ".join(f"{split} {len(u)}" for split, u in sorted(self.splits.items()))
        log.info("wrote %s (%s); skipped %d (see %s)", output_dir, summary or "nothing",
                 len(self.skipped), output_dir / "skipped.tsv")
        return written


def require_dir(path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    if not path.is_dir():
        raise AsrError("corpus folder not found", path)
    return path


def audio_files(root: Path, extensions: Iterable[str]) -> list[Path]:
    """Audio files below ``root`` with one of ``extensions`` (lowercase, with dot), sorted."""
    wanted = {e.lower() for e in extensions}
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in wanted)
