"""Real recordings are not cut tight: the same digits with silence or room tone around them, and long
recordings that are mostly pauses, against the same words unpadded. Prints accuracy, WER and first-word
onset error, one line per condition.

    python bench/bench_padded.py --data-dir ../shared/data [--model digits] [--files 200] [--long 6]
        [--whole] [--no-fill] [--show-errors]

Test material (seeded, the same every run): isolated FSDD and Heidelberg Digits takes, and speechocean762's
digit strings (26 children and adults no digits model trained on). Each gets 0.5-3 s before and after of one of:
digital silence, white room tone at -65..-50 dBFS, or one of rirs_noise/'s real noises at that level. The long
recordings join 12-20 isolated takes with 2-25 s of room tone between them (40-300 s).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from asr.audio import read_audio  # noqa: E402
from asr.loading import load_model  # noqa: E402
from asr.scoring import score  # noqa: E402
from asr.speech_detect import block_levels  # noqa: E402

RATE = 16000
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def isolated_takes(data: Path, rng: random.Random, count: int) -> list[tuple[Path, str]]:
    fsdd = sorted((data / "fsdd" / "recordings").glob("*.wav"))
    hd = sorted((data / "hd_digits" / "audio").glob("*.flac"))
    files = rng.sample(fsdd, count // 2) + rng.sample(hd, count - count // 2)
    takes = []
    for path in files:
        digit = int(path.stem.split("_")[0]) if path.suffix == ".wav" else int(path.stem.rsplit("-", 1)[1])
        takes.append((path, DIGITS[digit]))
    return takes


def speechocean_strings(data: Path) -> list[tuple[Path, str]]:
    root = data / "speechocean762"
    speaker = dict(line.split() for line in (root / "utt2spk").read_text().splitlines())
    strings = []
    for line in (root / "text").read_text().splitlines():
        utt, text = line.split(maxsplit=1)
        words = text.lower().split()
        if all(w in DIGITS for w in words):
            strings.append((root / "audio" / f"SPEAKER{speaker[utt]}" / f"{utt}.ogg", " ".join(words)))
    return strings


def onset_seconds(samples: np.ndarray, threshold_db: float = -30.0) -> float:
    """Where the sound of a clip begins: the first 10 ms block within ``threshold_db`` of its loudest."""
    levels = block_levels(samples, RATE // 100)
    return float(np.argmax(levels > levels.max() + threshold_db)) * 0.01


def room_tone(kind: str, seconds: float, rng: np.random.Generator, noises: list[np.ndarray]) -> np.ndarray:
    n = int(seconds * RATE)
    if kind == "silence":
        return np.zeros(n, np.float32)
    level = 10 ** (rng.uniform(-65, -50) / 20)
    if kind == "white":
        tone = rng.standard_normal(n)
    else:
        noise = noises[int(rng.integers(len(noises)))]
        begin = int(rng.integers(0, len(noise) - n)) if len(noise) > n else 0
        tone = np.resize(noise[begin:], n)
    return (tone / (np.sqrt(np.mean(tone**2)) + 1e-12) * level).astype(np.float32)


def with_room_tone(clip: np.ndarray, kind: str, rng: np.random.Generator,
                   noises: list[np.ndarray]) -> tuple[np.ndarray, int]:
    """``clip`` with 0.5-3 s of ``kind`` room tone (:func:`room_tone`) before and after it, and under it unless
    the tone is digital silence -> (the padded samples, how many samples come before the clip)."""
    before = room_tone(kind, rng.uniform(0.5, 3.0), rng, noises)
    after = room_tone(kind, rng.uniform(0.5, 3.0), rng, noises)
    if kind != "silence":
        under = room_tone(kind, len(clip) / RATE, rng, noises)
        clip = clip + np.pad(under, (0, len(clip) - len(under)))  # seconds -> samples can fall one short
    return np.concatenate([before, clip, after]), len(before)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--model", default=None, help="model name or file (default: the packaged default)")
    parser.add_argument("--files", type=int, default=200, help="isolated takes (half FSDD, half Heidelberg)")
    parser.add_argument("--long", type=int, default=6, help="long recordings that are mostly pauses")
    parser.add_argument("--show-errors", action="store_true", help="print each wrongly read file's timed words")
    parser.add_argument("--whole", action="store_true",
                        help="decode each file whole, without finding its speech first (what segmentation earns)")
    parser.add_argument("--no-fill", action="store_true",
                        help="leave the room tone out from under a spliced word (SpeechConfig.fill_room_tone off)")
    args = parser.parse_args()
    data = Path(args.data_dir)
    model = load_model(args.model).with_speech_detection(not args.whole)
    if args.no_fill:
        model = model.with_speech_config(fill_room_tone=False)
    rng, nrng = random.Random(7), np.random.default_rng(7)
    noises = [read_audio(p, RATE) for p in sorted((data / "rirs_noise" / "noise").glob("*.flac"))]
    material = {"isolated": isolated_takes(data, rng, args.files), "speechocean strings": speechocean_strings(data)}
    with tempfile.TemporaryDirectory() as tmp:
        for name, items in material.items():
            clips = [read_audio(path, RATE) for path, _ in items]
            refs = [text for _, text in items]
            plain_paths, padded_paths, onsets = [], [], []
            for index, clip in enumerate(clips):
                plain = Path(tmp) / f"{name[:3]}_{index}_plain.wav"
                sf.write(plain, clip, RATE)
                samples, lead = with_room_tone(clip, ("silence", "white", "real")[index % 3], nrng, noises)
                padded = Path(tmp) / f"{name[:3]}_{index}_padded.wav"
                sf.write(padded, samples, RATE)
                onsets.append(lead / RATE + onset_seconds(clip))
                plain_paths.append(str(plain))
                padded_paths.append(str(padded))
            for label, paths in (("tight", plain_paths), ("padded", padded_paths)):
                started = time.perf_counter()
                results = [r for _, r in model.transcribe_files(paths)]
                elapsed = time.perf_counter() - started
                hyps = [r.text for r in results]
                right = sum(h == r for h, r in zip(hyps, refs, strict=True))
                line = (f"{name:20s} {label:7s} files {len(refs):4d}  right {100 * right / len(refs):5.1f}%  "
                        f"WER {100 * score(refs, hyps).wer:6.2f}%  ({elapsed:.1f} s)")
                if label == "padded":
                    errors = [abs(r.words[0].start - o) for r, o in zip(results, onsets, strict=True) if r.words]
                    within = np.mean(np.array(errors) <= 0.25) * 100 if errors else 0.0
                    within_01 = np.mean(np.array(errors) <= 0.1) * 100 if errors else 0.0
                    line += (f"  first-word start within 0.25 s: {within:5.1f}%, within 0.1 s: {within_01:5.1f}% "
                             f"(median error {np.median(errors) if errors else float('nan'):.3f} s)")
                print(line, flush=True)
                if args.show_errors:
                    for index, (path, ref, result) in enumerate(zip(items, refs, results, strict=True)):
                        if result.text != ref:
                            kind = ("silence", "white", "real")[index % 3] if label == "padded" else "none"
                            words = " ".join(f"{w.word}@{w.start:.2f}-{w.end:.2f}" for w in result.words)
                            onset = f" (sound at {onsets[index]:.2f} s)" if label == "padded" else ""
                            print(f"    {label} {path[0].name} [{kind}]{onset}: {ref!r} -> {words}")
        takes = isolated_takes(data, random.Random(11), 20 * args.long)
        long_refs, long_paths, long_counts = [], [], []
        for index in range(args.long):
            long_counts.append(rng.randint(12, 20))
            chosen = takes[index * 20 : index * 20 + long_counts[-1]]
            pieces = []
            for path, _ in chosen:
                pieces += [room_tone("white", nrng.uniform(2.0, 25.0) / (4 if index % 2 else 1), nrng, noises),
                           read_audio(path, RATE)]
            pieces.append(room_tone("white", 2.0, nrng, noises))
            path = Path(tmp) / f"long_{index}.wav"
            sf.write(path, np.concatenate(pieces), RATE)
            long_paths.append(str(path))
            long_refs.append(" ".join(text for _, text in chosen))
        started = time.perf_counter()
        hyps = [r.text for _, r in model.transcribe_files(long_paths)]
        seconds = sum(sf.info(p).duration for p in long_paths)
        print(f"{'long, mostly pauses':20s} files {len(long_refs):4d} ({seconds:.0f} s of audio)  "
              f"WER {100 * score(long_refs, hyps).wer:6.2f}%  words {sum(len(h.split()) for h in hyps)} of "
              f"{sum(len(r.split()) for r in long_refs)}  ({time.perf_counter() - started:.1f} s)")
        # the yardstick: the same takes, each decoded alone as its own file
        alone = [take for index, count in enumerate(long_counts) for take in takes[index * 20 : index * 20 + count]]
        alone_hyps = [r.text for _, r in model.transcribe_files([path for path, _ in alone])]
        print(f"{'  the same, alone':20s} files {len(alone):4d}  WER "
              f"{100 * score([text for _, text in alone], alone_hyps).wer:6.2f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
