"""Are word confidences calibrated? A reliability table on speakers the model never trained on, before and after
the logistic calibration of :mod:`asr.confidence`, fitted on half of those speakers and shown on the other half.

    python bench/bench_confidence.py --data-dir ../shared/data                       # the packaged digits model
    python bench/bench_confidence.py --data-dir ../shared/data --model exp/digits/model.onnx \\
        --store asr/models/digits-en.onnx                                            # fit on all, store it

Held-out voices of the digits model (it trained on every FSDD and Heidelberg speaker and AN4's training and test
speakers): the digit strings of AN4's validation speakers (the digits recipe's draw) and speechocean762's digit
strings, decoded as the model decodes by default (its stored decoding). Speakers are split into two halves by a
fixed draw: the curve is fitted on one half and judged on the other, then (``--store``) fitted on all.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asr  # noqa: E402
from asr.confidence import (  # noqa: E402
    METADATA_KEY,
    expected_calibration_error,
    fit_calibration,
    reliability_rows,
    word_outcomes,
)
from asr.report import markdown_table  # noqa: E402
from bench.bench_rejection import SPOKEN_DIGITS, an4_utterances, an4_validation_speakers  # noqa: E402
from data_prep.speechocean762 import read_list  # noqa: E402


def held_out(data: Path) -> list[tuple[Path, str, str]]:
    """(audio, reference, speaker) of the held-out digit strings (AN4's validation speakers drawn as
    bench_rejection.py and the digits recipe draw them, and speechocean762's)."""
    an4 = an4_utterances(data / "an4")
    valid = an4_validation_speakers(an4)
    items = [(path, spoken(text), f"an4-{speaker}") for path, text, speaker in an4
             if speaker in valid and text.split() and set(text.split()) <= SPOKEN_DIGITS]
    ocean = data / "speechocean762"
    spk = read_list(ocean / "utt2spk")
    for utt_id, text in read_list(ocean / "text").items():
        words = text.lower().split()
        if words and set(words) <= SPOKEN_DIGITS:
            speaker = spk[utt_id]
            items.append((ocean / "audio" / f"SPEAKER{speaker}" / f"{utt_id}.ogg", spoken(text), f"so-{speaker}"))
    return items


def spoken(text: str) -> str:
    """Transcript words as the model writes them ("oh" is written "zero")."""
    return " ".join("zero" if w == "oh" else w for w in text.lower().split())


def outcomes(model, items) -> tuple[list[float], list[bool], list[str]]:  # noqa: ANN001
    raw, right, speakers = [], [], []
    results = model.transcribe([str(p) for p, _, _ in items])
    for (_, reference, speaker), transcript in zip(items, results, strict=True):
        for word, ok in zip(transcript.words, word_outcomes(reference, transcript), strict=True):
            raw.append(word.confidence)
            right.append(ok)
            speakers.append(speaker)
    return raw, right, speakers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--model", default="digits")
    parser.add_argument("--store", type=Path, help="write the model with the curve fitted on all held-out words")
    args = parser.parse_args()
    model = asr.load_model(args.model)
    model.metadata = {k: v for k, v in model.metadata.items() if k != METADATA_KEY}  # judge the raw scores
    items = held_out(args.data_dir)
    raw, right, speakers = outcomes(model, items)
    names = sorted(set(speakers))
    random.Random(1).shuffle(names)
    fit_half = set(names[: len(names) // 2])
    fit = [i for i, s in enumerate(speakers) if s in fit_half]
    judge = [i for i, s in enumerate(speakers) if s not in fit_half]
    curve = fit_calibration([raw[i] for i in fit], [right[i] for i in fit])
    judged_raw, judged_right = [raw[i] for i in judge], [right[i] for i in judge]
    calibrated = [float(c) for c in curve(judged_raw)]
    print(f"{len(items)} held-out digit strings, {len(raw)} words, {len(names)} speakers; fitted on "
          f"{len(fit_half)} speakers ({len(fit)} words), judged on the other {len(names) - len(fit_half)} "
          f"({len(judge)} words); {sum(judged_right)}/{len(judge)} of those words right.\n")
    headers = ["confidence", "words", "mean confidence", "share right"]
    print(f"Raw (the decoder's), ECE {expected_calibration_error(judged_raw, judged_right):.3f}:\n")
    print(markdown_table(headers, reliability_rows(judged_raw, judged_right)))
    print(f"Calibrated (a={curve.a:.3f}, b={curve.b:.3f}), ECE "
          f"{expected_calibration_error(calibrated, judged_right):.3f}:\n")
    print(markdown_table(headers, reliability_rows(calibrated, judged_right)))
    if args.store:
        final = fit_calibration(raw, right)
        stored = model.with_default_decoding(model.stored_decoding)
        stored.metadata = {**model.metadata, METADATA_KEY: final.to_metadata()}
        stored.save(args.store)
        print(f"stored a={final.a:.3f}, b={final.b:.3f} (fitted on all {len(raw)} words) in {args.store}")


if __name__ == "__main__":
    main()
