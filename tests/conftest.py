"""Shared fixtures: paths to the real recordings in ../shared/data and one small trained model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from asr.audio import audio_info
from asr.config import load_config
from asr.loading import load_model
from asr.manifest import Utterance

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"test data missing: {path} (the tests read ../shared/data beside the repository)")
    return path


@pytest.fixture(scope="session")
def fsdd_dir() -> Path:
    return _require(SHARED_DATA / "fsdd" / "recordings")


@pytest.fixture(scope="session")
def yesno_dir() -> Path:
    return _require(SHARED_DATA / "yesno")


def digit_utterance(folder: Path, digit: int, speaker: str, index: int) -> Utterance:
    path = folder / f"{digit}_{speaker}_{index}.wav"
    return Utterance(str(path), DIGITS[digit], audio_info(path).duration, {"id": path.stem, "speaker": speaker})


@pytest.fixture(scope="session")
def ten_digits(fsdd_dir: Path) -> list[Utterance]:
    """One recording of each digit by one speaker: the handful a model must be able to overfit."""
    return [digit_utterance(fsdd_dir, d, "jackson", 7) for d in range(10)]


def tiny_config(**train_overrides: object):
    """A small, fast configuration for tests: no augmentation, no dropout."""
    overrides = [
        "features.sample_rate=8000", "features.n_mels=40", "features.f_max=4000.0",
        "model.hidden_size=64", "model.num_layers=2", "model.subsampling=2", "model.dropout=0.0",
        "train.spec_augment=false", "train.lr=5e-3", "train.warmup_steps=10", "train.max_batch=2",
        "train.epochs=60", "train.save_every_steps=0", "train.threads=2",
    ]
    overrides += [f"train.{k}={v}" for k, v in train_overrides.items()]
    return load_config(None, overrides)


@pytest.fixture(scope="session")
def trained_digits(tmp_path_factory: pytest.TempPathFactory, ten_digits: list[Utterance]):
    """A model overfitted to ten digit recordings and a few strings joined from them, with its training result."""
    from asr.train import train
    from data_prep.connected import ConnectedConfig, make_connected

    torch.manual_seed(0)
    exp = tmp_path_factory.mktemp("digits_exp")
    strings = make_connected(ten_digits, 10, exp / "connected", 8000, ConnectedConfig(2, 3, gap_seconds=(0.3, 0.7)),
                             seed=0)
    result = train(tiny_config(), ten_digits + strings, ten_digits, exp, resume=False, progress=False)
    # It learned from whole clips, quiet edges and all: transcription keeps as much around the speech it finds
    # (trimmed to the default 0.15 s, a model trained on an Intel CPU read one of its own clips as "shix").
    load_model(result.best_model).with_speech_config(pre_roll_seconds=0.5, tail_seconds=0.5).save(result.best_model)
    return result


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def running_server(*options: str) -> Iterator[str]:
    """``asr serve OPTIONS`` on a free loopback port, until the generator is closed: yields the base URL once
    ``/health`` answers."""
    import os
    import subprocess
    import sys
    import time
    import urllib.request

    port = free_port()
    command = [sys.executable, "-m", "asr", "serve", *options, "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "OMP_NUM_THREADS": "2"})
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if process.poll() is not None or time.time() > deadline:
            process.kill()
            pytest.fail(f"asr serve did not start:\n{process.stdout.read() if process.stdout else ''}")
        time.sleep(0.2)
    yield url
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="session")
def digits_server(trained_digits):
    """``asr serve`` on a loopback port with the trained digits model, started and stopped here.

    Yields the base URL. Limits are small (500 KiB, 20 s) so the tests can cross them cheaply.
    """
    yield from running_server("--model", str(trained_digits.best_model), "--max-upload-mb", str(500 / 1024),
                              "--max-seconds", "20")


#: Tests that train, run a recipe or start several processes: minutes each. ``pytest -m "not slow"`` leaves them
#: out (the edit-test loop); CI runs everything.
SLOW_FILES = {"test_recipes.py", "test_an4_recipe.py", "test_english_recipe.py", "test_digits_recipe.py",
              "test_kill_and_resume.py", "test_distributed.py", "test_training.py"}
#: Fixtures that train a model first: every test that uses one (directly or through another fixture) is slow.
SLOW_FIXTURES = {"trained_digits"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name in SLOW_FILES or SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
