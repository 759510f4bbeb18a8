"""Common Voice: ``validated.tsv``, ``train.tsv``, ``dev.tsv``, ``test.tsv`` (columns ``path``, ``sentence``,
``client_id``, ...) with the audio in ``clips/``.

Each TSV present becomes one manifest named after it. MP3 is read through soundfile (libsndfile >= 1.1).
"""

from __future__ import annotations

import csv
import os

from asr.errors import AsrError
from data_prep.common import PrepReport, require_dir

SPLITS = ("train", "dev", "test", "validated", "other", "invalidated")

#: What the converter expects to find (its error says so when it finds no utterance).
LAYOUT = "Common Voice: train/dev/test/validated.tsv + clips/"


def prepare_commonvoice(corpus_dir: str | os.PathLike[str], output_dir: str | os.PathLike[str],
                        splits: tuple[str, ...] = SPLITS) -> PrepReport:
    root = require_dir(corpus_dir)
    report = PrepReport()
    found = False
    for split in splits:
        tsv = root / f"{split}.tsv"
        if not tsv.is_file():
            continue
        found = True
        with open(tsv, encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
            if not reader.fieldnames or not {"path", "sentence"} <= set(reader.fieldnames):
                raise AsrError("a Common Voice TSV needs 'path' and 'sentence' columns", tsv)
            for row in reader:
                clip = row.get("path") or ""
                if not clip:
                    report.skip(f"{tsv}:{reader.line_num}", "row has no path")
                    continue
                report.add(split, root / "clips" / clip, row.get("sentence"), id=os.path.splitext(clip)[0],
                           speaker=row.get("client_id") or None)
    if not found:
        raise AsrError(f"no {', '.join(s + '.tsv' for s in splits)} found (is this a Common Voice folder?)",
                       root)
    report.write(output_dir, root, LAYOUT)
    return report
