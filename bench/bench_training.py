"""Training throughput of the digits recipe's model and where a training step spends its time.

    python bench/bench_training.py --data-dir ../shared/data/fsdd [--connected 1000] [--epochs 1]

Prints: feature extraction (done once, before the first epoch, then cached in memory); seconds per epoch and
frames per second of ``asr.train.train`` with the recipe's config; CPU time / wall time (2.0 = both cores
busy); then a step broken into its phases (batching, SpecAugment, forward, CTC loss, backward, optimizer) and
torch's profiler's top operators.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch

from asr.config import load_config
from asr.data import BucketBatches, collate, feature_statistics, load_examples
from asr.features import FeatureExtractor, SpecAugment
from asr.model import AcousticModel
from asr.report import markdown_table
from asr.text import Vocabulary, normalize_text
from asr.train import ctc_loss, train
from data_prep.connected import ConnectedConfig, make_connected
from data_prep.fsdd import is_test_index, prepare_fsdd

REPO = Path(__file__).resolve().parents[1]


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", required=True, help="FSDD folder")
    parser.add_argument("--config", default=str(REPO / "recipes" / "fsdd" / "config.toml"))
    parser.add_argument("--connected", type=int, default=1000, help="connected strings added to the isolated ones")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--steps", type=int, default=30, help="steps in the phase breakdown")
    args = parser.parse_args()
    torch.set_num_threads(2)
    work = Path(tempfile.mkdtemp(prefix="bench-train-"))
    recordings = [u for s in prepare_fsdd(args.data_dir, work / "data").splits.values() for u in s]
    fit = [u for u in recordings if u.speaker != "george" and not is_test_index(u.id)]
    utterances = fit + make_connected(fit, args.connected, work / "connected", 8000,
                                      ConnectedConfig(1, 6, speeds=(0.9, 1.0, 1.1)), seed=1)
    config = load_config(args.config, [f"train.epochs={args.epochs}", "train.save_every_steps=0", "train.threads=2"])

    # 1. Features, computed once and kept in memory for every epoch.
    extractor = FeatureExtractor(config.features)
    vocab = Vocabulary.from_transcripts(normalize_text(u.text) for u in utterances)
    started = time.perf_counter()
    examples, _ = load_examples(utterances, extractor, vocab, config.model.subsampling)
    feature_seconds = time.perf_counter() - started
    extractor.set_statistics(*feature_statistics(examples, extractor))
    frames = sum(e.features.shape[0] for e in examples)
    audio_seconds = frames * config.features.frame_seconds

    # 2. Whole epochs through the library's training loop.
    wall0, cpu0 = time.perf_counter(), cpu_seconds()
    result = train(config, utterances, None, work / "exp", resume=False, progress=False)
    wall, cpu = time.perf_counter() - wall0, cpu_seconds() - cpu0
    epoch_fps = [row["frames_per_second"] for row in result.history]

    # 3. One step, phase by phase (the same calls as asr.train.train makes).
    model = AcousticModel(config.features.dim, len(vocab), config.model)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.train.lr)
    augment = SpecAugment(config.spec_augment)
    batches = BucketBatches([e.features.shape[0] for e in examples], config.train.max_frames_per_batch,
                            config.train.max_batch, seed=0).epoch(1)[: args.steps]
    phases = dict.fromkeys(["batching (collate)", "SpecAugment", "forward (conv + RNN + output)", "CTC loss",
                            "backward", "clip + optimizer step"], 0.0)

    def timed(name: str, function):  # noqa: ANN001, ANN202
        begin = time.perf_counter()
        value = function()
        phases[name] += time.perf_counter() - begin
        return value

    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profile:
        for indices in batches:
            batch = timed("batching (collate)", lambda idx=indices: collate([examples[i] for i in idx], extractor))
            features = timed("SpecAugment", lambda b=batch: augment(b.features))
            log_probs, lengths = timed("forward (conv + RNN + output)",
                                       lambda f=features, b=batch: model(f, b.lengths))
            loss = timed("CTC loss", lambda lp=log_probs, ln=lengths, b=batch: ctc_loss(lp, ln, b.targets,
                                                                                         b.target_lengths))
            optimizer.zero_grad(set_to_none=True)
            timed("backward", loss.backward)
            timed("clip + optimizer step", lambda: (torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0),
                                                    optimizer.step()))
    step_total = sum(phases.values())

    print(f"{len(examples)} utterances, {audio_seconds / 60:.1f} min of audio, {frames} feature frames; "
          f"model {sum(p.numel() for p in model.parameters())} parameters; torch threads 2\n")
    print(f"features, once before training: {feature_seconds:.1f} s ({audio_seconds / feature_seconds:.0f}x "
          "real time), then cached in memory\n")
    print(markdown_table(["epochs", "wall", "s per epoch", "frames per second", "CPU time / wall"],
                         [[args.epochs, f"{wall:.1f} s", f"{wall / args.epochs:.1f}",
                           " / ".join(f"{f:.0f}" for f in epoch_fps), f"{cpu / wall:.2f}"]]))
    print(f"\nOne step, phase by phase ({len(batches)} steps, {step_total:.2f} s):\n")
    print(markdown_table(["phase", "seconds", "share"],
                         [[name, f"{seconds:.3f}", f"{100 * seconds / step_total:.1f}%"]
                          for name, seconds in phases.items()]))
    print("\nTop operators by self CPU time (torch.profiler):\n")
    print(profile.key_averages().table(sort_by="self_cpu_time_total", row_limit=12, max_name_column_width=40))
    return 0


if __name__ == "__main__":
    sys.exit(main())
