"""Generic corpora: a folder of audio with a same-named ``.txt`` beside each file, or a CSV/TSV table
with a path column and a text column (paths relative to the table's folder)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from asr.errors import AsrError
from data_prep.common import PrepReport, audio_files, require_dir

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".sph", ".aiff", ".aif")
#: What the converters expect to find (their error says so when they find no utterance).
FOLDER_LAYOUT = "any folder of audio with a same-named .txt beside each file"
TABLE_LAYOUT = "a CSV/TSV file with 'path' and 'text' columns (CORPUS_DIR is the table)"


def prepare_folder(corpus_dir: str | os.PathLike[str], output_dir: str | os.PathLike[str],
                   split: str = "all") -> PrepReport:
    root = require_dir(corpus_dir)
    report = PrepReport()
    for audio in audio_files(root, AUDIO_EXTENSIONS):
        transcript = audio.with_suffix(".txt")
        text = transcript.read_text(encoding="utf-8").strip() if transcript.is_file() else None
        report.add(split, audio, text, id=audio.stem)
    report.write(output_dir, root, FOLDER_LAYOUT)
    return report


def prepare_table(table: str | os.PathLike[str], output_dir: str | os.PathLike[str],
                  path_column: str = "path", text_column: str = "text", split: str = "all") -> PrepReport:
    table = Path(table)
    if not table.is_file():
        raise AsrError("table not found", table)
    delimiter = "\t" if table.suffix.lower() in (".tsv", ".tab") else ","
    report = PrepReport()
    with open(table, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        columns = set(reader.fieldnames or [])
        if not {path_column, text_column} <= columns:
            raise AsrError(f"needs columns {path_column!r} and {text_column!r}; found {sorted(columns)}", table)
        for row in reader:
            path = row.get(path_column) or ""
            if not path:
                report.skip(f"{table}:{reader.line_num}", "row has no path")
                continue
            audio = Path(path) if os.path.isabs(path) else table.parent / path
            report.add(split, audio, row.get(text_column), id=audio.stem)
    report.write(output_dir, table, TABLE_LAYOUT)
    return report
