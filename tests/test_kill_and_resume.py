"""Killing training with SIGKILL and running the same command again ends exactly where an uninterrupted run ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import torch

from asr.checkpoint import safe_load
from asr.manifest import write_manifest

OVERRIDES = ("features.sample_rate=8000", "features.n_mels=40", "model.hidden_size=48", "model.num_layers=1",
             "model.dropout=0.1", "train.lr=5e-3", "train.warmup_steps=5", "train.max_batch=2", "train.epochs=12",
             "train.save_every_steps=4", "train.threads=1")


def _command(manifest, exp):
    command = [sys.executable, "-m", "asr", "train", "--train-manifest", str(manifest), "--exp-dir", str(exp)]
    for override in OVERRIDES:
        command += ["--set", override]
    return command


def test_sigkill_then_rerun_matches_uninterrupted(tmp_path, ten_digits):
    manifest = tmp_path / "train.jsonl"
    write_manifest(manifest, ten_digits)
    subprocess.run(_command(manifest, tmp_path / "straight"), check=True, capture_output=True, timeout=600)

    exp = tmp_path / "killed"
    process = subprocess.Popen(_command(manifest, exp), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = exp / "train_state.pt"
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        if state.exists() and safe_load(state)["progress"]["step"] >= 8:
            break
        time.sleep(0.05)
    assert process.poll() is None, "training finished before it could be killed; make the run longer"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    killed_at = safe_load(state)["progress"]["step"]  # the checkpoint on disk is whole and loadable
    assert 8 <= killed_at < 60

    subprocess.run(_command(manifest, exp), check=True, capture_output=True, timeout=600)
    a = safe_load(tmp_path / "straight" / "last.pt")["state_dict"]
    b = safe_load(exp / "last.pt")["state_dict"]
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert not [p for p in exp.iterdir() if p.name.endswith(".tmp")]
