"""Feature front end: ours (one file at a time, and padded batches) against librosa's and torchaudio's
``MelSpectrogram`` on the same audio, same settings.

    python bench/bench_features.py --data-dir ../shared/data/fsdd [--files 500]

Prints seconds for each and the throughput ratio, measured in the same run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import librosa
import numpy as np
import torch
import torchaudio

from asr.audio import load_audio
from asr.features import FeatureConfig, FeatureExtractor


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True, help="FSDD folder")
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(2)
    files = sorted((Path(args.data_dir) / "recordings").glob("*.wav"))[: args.files]
    config = FeatureConfig(sample_rate=8000, n_mels=40, f_max=4000.0)
    waves = [load_audio(f, 8000) for f in files]
    arrays = [w.numpy() for w in waves]
    seconds = sum(w.numel() for w in waves) / 8000
    extractor = FeatureExtractor(config)
    n_fft = 1 << (config.win_length - 1).bit_length()

    reference = torchaudio.transforms.MelSpectrogram(8000, n_fft=n_fft, win_length=config.win_length,
                                                     hop_length=config.hop_length, f_min=config.f_min,
                                                     f_max=4000.0, n_mels=40)

    def torchaudios() -> None:
        with torch.inference_mode():
            for w in waves:
                torch.log(reference(w) + 1e-6)

    def ours_one_by_one() -> None:
        with torch.inference_mode():
            for w in waves:
                extractor.one(w, normalised=False)

    def ours_batched() -> None:
        with torch.inference_mode():
            for start in range(0, len(waves), 32):
                batch = waves[start : start + 32]
                lengths = torch.tensor([len(w) for w in batch])
                extractor.raw(torch.nn.utils.rnn.pad_sequence(batch, batch_first=True), lengths)

    def theirs() -> None:
        for a in arrays:
            mel = librosa.feature.melspectrogram(y=a, sr=8000, n_fft=n_fft, win_length=config.win_length,
                                                 hop_length=config.hop_length, n_mels=40, fmin=config.f_min,
                                                 fmax=4000.0, htk=True, norm=None, power=2.0)
            np.log(mel + 1e-6)

    results = {}
    runs = (("librosa", theirs), ("torchaudio", torchaudios), ("asr, one by one", ours_one_by_one),
            ("asr, batches of 32", ours_batched))
    for name, run in runs:
        run()  # warm-up
        times = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            run()
            times.append(time.perf_counter() - started)
        results[name] = min(times)
    base = results["librosa"]
    print(f"{len(files)} files, {seconds:.0f} s of 8 kHz audio, 40 log-mel bands, best of {args.repeats}")
    for name, t in results.items():
        print(f"{name:18s} {t:.3f} s  ({seconds / t:,.0f}x real time)  speed vs librosa {base / t:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
