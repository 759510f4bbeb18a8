"""LJSpeech: ``metadata.csv`` lines ``ID|raw text|normalised text`` and ``wavs/ID.wav``.

The normalised column (numbers spelled out) is used; the raw one where it is missing.
"""

from __future__ import annotations

import os

from data_prep.common import PrepReport, require_dir

#: What the converter expects to find (its error says so when it finds no utterance).
LAYOUT = "LJSpeech: metadata.csv + wavs/"


def prepare_ljspeech(corpus_dir: str | os.PathLike[str], output_dir: str | os.PathLike[str]) -> PrepReport:
    root = require_dir(corpus_dir)
    metadata = root / "metadata.csv"
    if not metadata.is_file():
        from asr.errors import AsrError

        raise AsrError("metadata.csv not found (is this an LJSpeech folder?)", root)
    report = PrepReport()
    for number, line in enumerate(metadata.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("|")
        if len(fields) < 2:
            report.skip(f"{metadata}:{number}", "expected ID|text|normalised text")
            continue
        text = fields[2] if len(fields) > 2 and fields[2].strip() else fields[1]
        report.add("all", root / "wavs" / f"{fields[0]}.wav", text, id=fields[0], speaker="LJ")
    report.write(output_dir, root, LAYOUT)
    return report
