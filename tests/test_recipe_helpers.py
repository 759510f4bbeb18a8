"""The recipes' shared helpers: where a results file says it came from (installed or not, in a repository or not),
one exact-match accuracy, and the learning curve read from a metrics log."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from asr.evaluate import Evaluation, accuracy
from asr.report import epoch_curve, provenance, repository_root, results_header
from asr.scoring import score
from tests.conftest import REPO


def test_outside_a_repository_the_commit_is_unknown_and_nothing_fails(tmp_path, monkeypatch):
    script = tmp_path / "run.py"
    script.write_text("")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [str(script), "--exp-dir", "exp"])
    if repository_root() is not None:
        pytest.skip(f"the temporary folder lies inside a git work tree ({repository_root()})")
    assert provenance().startswith("commit unknown, ")
    header = results_header("A title", 0.0)
    assert header.startswith("# A title\n\ncommit unknown, ")
    assert f"Command: `python {script.as_posix()} --exp-dir exp`" in header


@pytest.mark.skipif(not (REPO / ".git").exists() or shutil.which("git") is None, reason="not a git checkout")
def test_in_the_repository_the_header_names_its_commit_and_the_script_from_its_root(tmp_path, monkeypatch):
    # the working directory elsewhere: the script's repository counts, never the installed package's folder
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", [str(REPO / "recipes" / "yesno" / "run.py"), "--exp-dir", "exp"])
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True,
                            cwd=REPO).stdout.strip()
    assert repository_root() == REPO
    header = results_header("yes/no", 0.0)
    assert f"commit {commit}, " in header
    assert "Command: `python recipes/yesno/run.py --exp-dir exp`" in header
    # no script file (python -c, an interactive session): the working directory's repository
    monkeypatch.chdir(REPO / "asr")
    monkeypatch.setattr(sys, "argv", ["-c"])
    assert repository_root() == REPO
    assert provenance().startswith(f"commit {commit}, ")


def test_accuracy_is_the_share_recognised_exactly():
    references, hypotheses = ["one two", "three", "four"], ["one two", "three three", "four"]
    evaluation = Evaluation(score(references, hypotheses), ["a", "b", "c"], references, hypotheses)
    assert accuracy(evaluation) == pytest.approx(2 / 3)
    assert accuracy(Evaluation(score(["x"], ["x"]), [], [], [])) == 0.0


def test_the_learning_curve_comes_from_the_metrics_log(tmp_path):
    metrics = tmp_path / "metrics.jsonl"
    epoch = {"train_loss": 40.0, "frames_per_second": 1234.4, "valid_loss": 1.0, "valid_cer": 0.1}
    rows = [{"step": 1, "epoch": 1, "train_loss": 50.0, "lr": 1e-3},
            {**epoch, "epoch": 1, "step": 2, "valid_wer": 0.5},
            {**epoch, "epoch": 2, "step": 4, "valid_wer": 0.4},
            {**epoch, "epoch": 2, "step": 4, "valid_wer": 0.25, "train_loss": 20.0}]  # resumed: the last counts
    metrics.write_text("".join(json.dumps(row) + "\n" for row in rows))
    text = epoch_curve(metrics)
    assert "| 1 | 40.0 | 50.00% | 10.00% |" in text
    assert "| 2 | 20.0 | 25.00% | 10.00% |" in text
    assert "40.00%" not in text
    assert "| 2 | 20.0 | 25.00% | 10.00% | 1234 |" in epoch_curve(metrics, throughput=True)
    metrics.write_text(json.dumps({"epoch": 1, "step": 2, "train_loss": 1.0, "frames_per_second": 9.0}) + "\n")
    assert epoch_curve(metrics) == ""  # no validation set: no section
