"""Which ``min_confidence`` should a model store? WER on a manifest of held-out speakers, tight and with room tone
around each utterance, for a range of thresholds: words below the threshold are left out.

    python bench/bench_min_confidence.py --model english \\
        --manifest exp/english-full2/data/validation.jsonl --data-dir ../shared/data

Choose the threshold on validation speakers (never on the files a model is judged on). Leaving a word out turns a
substitution into a deletion (the same cost) and removes an insertion (a gain), but also drops right words of low
confidence (a loss); the sweep shows where the balance lies, per corpus and overall. The padding is 0.5-3 s before
and after of digital silence, white room tone or one of rirs_noise/'s real noises, at -65..-50 dBFS (seeded).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from asr.audio import read_audio  # noqa: E402
from asr.loading import load_model  # noqa: E402
from asr.scoring import score  # noqa: E402
from bench.bench_padded import RATE, with_room_tone  # noqa: E402

THRESHOLDS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)


def padded_copies(items: list[dict], folder: Path, data: Path, seed: int) -> list[str]:
    """Each manifest item's audio with room tone before and after it (and under it), as WAV files in ``folder``."""
    rng = np.random.default_rng(seed)
    noises = [read_audio(p, RATE) for p in sorted((data / "rirs_noise" / "noise").glob("*.flac"))]
    paths = []
    for index, item in enumerate(items):
        clip = read_audio(item["audio"], RATE)
        samples, _ = with_room_tone(clip, ("silence", "white", "real")[index % 3], rng, noises)
        path = folder / f"padded_{index}.wav"
        sf.write(path, samples, RATE)
        paths.append(str(path))
    return paths


def sweep(refs: list[str], words: list[list[tuple[str, float]]], groups: list[str]) -> dict[str, list[float]]:
    """WER (%) per group (and "all") for each threshold of THRESHOLDS."""
    table: dict[str, list[float]] = defaultdict(list)
    for threshold in THRESHOLDS:
        hyps = [" ".join(w for w, c in ws if c >= threshold) for ws in words]
        table["all"].append(100 * score(refs, hyps).wer)
        for group in sorted(set(groups)):
            chosen = [i for i, g in enumerate(groups) if g == group]
            table[group].append(100 * score([refs[i] for i in chosen], [hyps[i] for i in chosen]).wer)
    return table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="model name or file (default: the packaged default)")
    parser.add_argument("--manifest", type=Path, required=True, help="JSON-lines manifest of held-out speakers")
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    items = [json.loads(line) for line in args.manifest.read_text().splitlines() if line.strip()]
    refs = [item["text"] for item in items]
    groups = [item.get("corpus", "manifest") for item in items]
    # Decode without any threshold, so that every word's confidence is seen.
    model = load_model(args.model)
    model = model.with_decoding(dataclasses.replace(model.decoding, min_confidence=None))
    with tempfile.TemporaryDirectory() as tmp:
        conditions = {"tight": [item["audio"] for item in items],
                      "padded": padded_copies(items, Path(tmp), args.data_dir, args.seed)}
        print(f"{'condition':8s} {'group':16s} " + " ".join(f"{t:>6.2f}" for t in THRESHOLDS))
        for name, paths in conditions.items():
            results = [r for _, r in model.transcribe_files(paths)]
            words = [[(w.word, w.confidence) for w in r.words] for r in results]
            for group, row in sweep(refs, words, groups).items():
                print(f"{name:8s} {group:16s} " + " ".join(f"{v:6.2f}" for v in row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
