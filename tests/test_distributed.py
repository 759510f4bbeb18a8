"""Data-parallel training with torchrun: two CPU processes (gloo) learn like one, only rank 0 writes, and a recipe
runs under torchrun as `asr train` does."""

from __future__ import annotations

import json
import subprocess
import sys

from asr.loading import load_model
from asr.manifest import write_manifest


def test_torchrun_two_processes(tmp_path, ten_digits):
    manifest = tmp_path / "train.jsonl"
    write_manifest(manifest, ten_digits * 2)
    exp = tmp_path / "exp"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29531",
               "-m", "asr", "train", "--train-manifest", str(manifest), "--valid-manifest", str(manifest),
               "--exp-dir", str(exp)]
    for override in ("features.sample_rate=8000", "features.n_mels=40", "model.hidden_size=48",
                     "model.num_layers=1", "model.dropout=0.0", "train.spec_augment=false", "train.lr=5e-3",
                     "train.warmup_steps=5", "train.max_batch=2", "train.epochs=6", "train.log_every_steps=0",
                     "train.threads=1"):
        command += ["--set", override]
    process = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert process.returncode == 0, process.stderr[-3000:]
    assert process.stdout.count("best model:") == 1, "only rank 0 reports"
    rows = [json.loads(line) for line in (exp / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4, 5, 6], "one metrics row per epoch: only rank 0 logs"
    assert rows[-1]["train_loss"] < 0.5 * rows[0]["train_loss"]
    assert rows[-1]["valid_loss"] < rows[0]["valid_loss"]
    # 20 utterances in batches of 2 -> 10 batches, 5 per rank per epoch
    assert rows[-1]["step"] == 6 * 5
    # one writer: one set of files, plots included, and no second rank's leftovers
    assert sorted(p.name for p in exp.iterdir()) == ["config.json", "error_rates.png", "last.pt", "loss.png",
                                                      "metrics.jsonl", "model.pt", "train_state.pt"]
    load_model(exp / "model.pt")


#: A recipe's shape in a few lines: its own main, run by asr.recipe.run_recipe, training twice (as a recipe's
#: folds or seeds do) with asr.train.train and no Distributed of its own, then writing something of its own.
RECIPE = '''
import sys
from pathlib import Path

from asr.config import load_config
from asr.manifest import read_manifest
from asr.recipe import run_recipe
from asr.train import train


def main():
    manifest, exp = sys.argv[1], Path(sys.argv[2])
    config = load_config(None, sys.argv[3:])
    utterances = read_manifest(manifest)
    for name in ("first", "second"):
        print("trained", train(config, utterances, utterances, exp / name).best_model, flush=True)
    (exp / "results.md").write_text("written once")


sys.exit(run_recipe(main))
'''


def test_a_recipe_runs_under_torchrun(tmp_path, ten_digits):
    """torchrun --nproc_per_node=2 recipes/X/run.py: the recipe's main runs once (rank 0), and the other rank
    trains along with each of its trainings, taking its share of the batches."""
    manifest = tmp_path / "train.jsonl"
    write_manifest(manifest, ten_digits * 2)
    script = tmp_path / "run.py"
    script.write_text(RECIPE)
    exp = tmp_path / "exp"
    overrides = ["features.sample_rate=8000", "features.n_mels=40", "model.hidden_size=32", "model.num_layers=1",
                 "train.spec_augment=false", "train.max_batch=2", "train.epochs=1", "train.log_every_steps=0",
                 "train.threads=1"]
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29532",
               str(script), str(manifest), str(exp), *overrides]
    process = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert process.returncode == 0, process.stderr[-3000:]
    assert process.stdout.count("trained") == 2, process.stdout  # main ran on one rank only
    for name in ("first", "second"):
        rows = [json.loads(line) for line in (exp / name / "metrics.jsonl").read_text().splitlines()]
        # 20 utterances in batches of 2 -> 10 batches, 5 per rank: the other rank took the other half
        assert [(r["epoch"], r["step"]) for r in rows] == [(1, 5)]
        load_model(exp / name / "model.pt")
    assert (exp / "results.md").read_text() == "written once"
