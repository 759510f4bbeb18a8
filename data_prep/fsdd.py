"""Free Spoken Digit Dataset: ``{digit}_{speaker}_{index}.wav``, transcript the digit's English word.

The dataset's convention puts index 0..4 in test and 5..49 in train; the manifests keep the speaker so
that recipes can hold speakers out instead.
"""

from __future__ import annotations

import os
import re

from data_prep.common import PrepReport, require_dir

DIGIT_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
_NAME = re.compile(r"^(\d)_([A-Za-z0-9-]+)_(\d+)$")

#: What the converter expects to find (its error says so when it finds no utterance).
LAYOUT = "Free Spoken Digit Dataset: recordings/DIGIT_SPEAKER_INDEX.wav"


def prepare_fsdd(corpus_dir: str | os.PathLike[str], output_dir: str | os.PathLike[str]) -> PrepReport:
    root = require_dir(corpus_dir)
    recordings = root / "recordings" if (root / "recordings").is_dir() else root
    report = PrepReport()
    for path in sorted(recordings.glob("*.wav")):
        match = _NAME.match(path.stem)
        if not match:
            report.skip(path, "file name is not DIGIT_SPEAKER_INDEX.wav")
            continue
        digit, speaker, index = match.groups()
        split = "test" if int(index) < 5 else "train"
        report.add(split, path, DIGIT_WORDS[int(digit)], id=path.stem, speaker=speaker)
    report.write(output_dir, root, LAYOUT)
    return report


def recording_index(utt_id: str) -> int:
    """The take number of a recording (``3_george_17`` -> 17); each speaker says each digit 50 times."""
    return int(utt_id.rsplit("_", 1)[1])


def is_test_index(utt_id: str) -> bool:
    """FSDD's own convention: recordings 0..4 of each digit and speaker are test material."""
    return recording_index(utt_id) < 5
