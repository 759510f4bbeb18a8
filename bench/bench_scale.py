"""Scale: time and peak memory of one ``transcribe`` process against audio length (10 s to 60 min).

    python bench/bench_scale.py --model exp/fsdd/model.pt --data-dir ../shared/data/fsdd [--minutes 0.1667 1 10 60]

Each file is connected digits from FSDD recordings with 0.2-0.8 s pauses, written block by block. Each length
runs in its own process; peak memory is that process's maximum resident set size.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from asr.report import markdown_table
from asr.scoring import score

WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
MEASURE = """
import resource, subprocess, sys, time
started = time.perf_counter()
out = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(time.perf_counter() - started, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, out.returncode)
sys.stdout.write(out.stdout)
"""


def write_long_file(path: Path, seconds: float, recordings: list[Path], seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    words, written = [], 0
    with sf.SoundFile(path, "w", samplerate=8000, channels=1, subtype="PCM_16") as out:
        while written < seconds * 8000:
            source = recordings[rng.integers(len(recordings))]
            data, _ = sf.read(source, dtype="float32")
            gap = np.zeros(int(8000 * rng.uniform(0.2, 0.8)), np.float32)
            out.write(np.concatenate([data, gap]))
            written += len(data) + len(gap)
            words.append(WORDS[int(source.name[0])])
    return words


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--data-dir", required=True, help="FSDD folder")
    parser.add_argument("--minutes", type=float, nargs="+", default=[10 / 60, 1, 10, 60])
    args = parser.parse_args()
    recordings = sorted((Path(args.data_dir) / "recordings").glob("*.wav"))
    work = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    rows = []
    for minutes in args.minutes:
        path = work / f"{minutes:g}min.wav"
        words = write_long_file(path, minutes * 60, recordings, seed=int(minutes * 1000))
        duration = sf.info(path).duration
        command = [sys.executable, "-m", "asr", "transcribe", "--model", args.model, "--format", "json", str(path)]
        started = time.perf_counter()
        measured = subprocess.run([sys.executable, "-c", MEASURE, *command], capture_output=True, text=True,
                                  check=True).stdout.splitlines()
        wall, peak_kb, status = measured[0].split()
        result = json.loads(measured[1])
        rows.append([f"{duration / 60:.2f} min", f"{float(wall):.1f} s", f"{float(wall) / duration:.4f}",
                     f"{int(peak_kb) / 1024:.0f} MiB", f"{100 * score([' '.join(words)], [result['text']]).wer:.2f}%",
                     status])
        print(rows[-1], f"({time.perf_counter() - started:.0f} s)", flush=True)
        path.unlink()
    print(markdown_table(["audio", "wall (process, start-up included)", "RTF", "peak RSS", "WER", "exit"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
