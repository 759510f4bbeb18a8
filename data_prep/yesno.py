"""The yes/no corpus: ``0_1_1_0_0_1_1_0.wav`` says "no yes yes no no yes yes no".

Customary split: the first 31 files in sorted order train, the other 29 test.
"""

from __future__ import annotations

import os
from pathlib import Path

from data_prep.common import PrepReport, require_dir

WORDS = {"0": "no", "1": "yes"}

#: What the converter expects to find (its error says so when it finds no utterance).
LAYOUT = "yes/no: 0_1_1_0_0_1_1_0.wav"


def transcript_from_name(name: str) -> str | None:
    labels = Path(name).stem.split("_")
    if not labels or any(label not in WORDS for label in labels):
        return None
    return " ".join(WORDS[label] for label in labels)


def prepare_yesno(corpus_dir: str | os.PathLike[str], output_dir: str | os.PathLike[str],
                  num_train: int = 31) -> PrepReport:
    root = require_dir(corpus_dir)
    report = PrepReport()
    files = sorted(p for p in root.iterdir() if p.suffix.lower() == ".wav")
    for index, path in enumerate(files):
        text = transcript_from_name(path.name)
        if text is None:
            report.skip(path, "file name is not a sequence of 0/1 labels")
            continue
        report.add("train" if index < num_train else "test", path, text, id=path.stem, speaker="yesno")
    report.write(output_dir, root, LAYOUT)
    return report
