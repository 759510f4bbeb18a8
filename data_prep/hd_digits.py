"""Heidelberg Digits (English part): ``audio/lang-english_speaker-NN_trial-T_digit-D.flac``.

The transcript is digit D's English word. Files of the German part (``lang-german``) are skipped: this
toolkit's digit models are English. Every file goes to the split ``all`` with its speaker id (``hd_NN``,
prefixed so that it never collides with another corpus's speaker names); recipes hold whole speakers out.
"""

from __future__ import annotations

import os
import re

from data_prep.common import PrepReport, require_dir
from data_prep.fsdd import DIGIT_WORDS

_NAME = re.compile(r"^lang-(\w+)_speaker-(\d+)_trial-(\d+)_digit-(\d)$")

#: What the converter expects to find (its error says so when it finds no utterance).
LAYOUT = "Heidelberg Digits: audio/lang-english_speaker-NN_trial-T_digit-D.flac"


def prepare_hd_digits(corpus_dir: str | os.PathLike[str], output_dir: str | os.PathLike[str]) -> PrepReport:
    root = require_dir(corpus_dir)
    audio = root / "audio" if (root / "audio").is_dir() else root
    report = PrepReport()
    for path in sorted(p for p in audio.iterdir() if p.suffix.lower() in (".flac", ".wav")):
        match = _NAME.match(path.stem)
        if not match:
            report.skip(path, "file name is not lang-LANG_speaker-NN_trial-T_digit-D")
            continue
        language, speaker, trial, digit = match.groups()
        if language != "english":
            report.skip(path, f"language {language!r}: only the English part is used")
            continue
        report.add("all", path, DIGIT_WORDS[int(digit)], id=path.stem, speaker=f"hd_{speaker}", trial=int(trial))
    report.write(output_dir, root, LAYOUT)
    return report
