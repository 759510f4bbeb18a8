"""Training plots and evaluation error reports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from asr.error_report import confusions, error_report
from asr.errors import AsrError
from asr.manifest import write_manifest
from asr.plots import ERROR_PLOT, LOSS_PLOT, plot_training, read_metrics


def _is_drawn_png(path: Path) -> bool:
    pixels = np.asarray(Image.open(path).convert("L"))
    return pixels.shape == (360, 600) and (pixels < 128).sum() > 1000  # axes, lines and labels, not a blank


def test_training_writes_loss_and_error_rate_plots(trained_digits):
    exp = Path(trained_digits.best_model).parent
    assert _is_drawn_png(exp / LOSS_PLOT)
    assert _is_drawn_png(exp / ERROR_PLOT)
    epochs, _ = read_metrics(exp / "metrics.jsonl")
    assert [row["epoch"] for row in epochs] == list(range(1, len(trained_digits.history) + 1))


def test_plots_from_a_metrics_log_keep_the_last_row_of_a_repeated_epoch(tmp_path):
    rows = [{"epoch": 1, "train_loss": 9.0, "frames_per_second": 1.0},
            {"step": 5, "epoch": 2, "train_loss": 4.0, "lr": 0.001},
            {"epoch": 2, "train_loss": 5.0, "frames_per_second": 1.0},  # interrupted, then redone:
            {"epoch": 2, "train_loss": 3.0, "frames_per_second": 1.0}]
    (tmp_path / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    epochs, steps = read_metrics(tmp_path / "metrics.jsonl")
    assert [r["train_loss"] for r in epochs] == [9.0, 3.0] and [r["step"] for r in steps] == [5]
    assert plot_training(tmp_path / "metrics.jsonl", tmp_path / "plots") == [tmp_path / "plots" / LOSS_PLOT]


@pytest.mark.parametrize("content", ["", "{not json\n", json.dumps({"step": 3, "train_loss": 1.0}) + "\n"])
def test_plotting_a_bad_metrics_log_is_a_clear_error(tmp_path, content):
    (tmp_path / "metrics.jsonl").write_text(content)
    with pytest.raises(AsrError):
        plot_training(tmp_path / "metrics.jsonl", tmp_path)


def test_confusions_count_substitutions_insertions_and_deletions():
    refs = ["three one", "six two", "three", "five"]
    hyps = ["eight one", "eight two four", "eight", ""]
    subs, ins, dels = confusions(refs, hyps)
    assert subs == {("three", "eight"): 2, ("six", "eight"): 1}
    assert ins == {"four": 1} and dels == {"five": 1}


def test_error_report_totals_confusions_and_worst_utterance_first():
    ids = ["a", "b", "c", "d"]
    refs = ["three one four", "one five nine two", "six", ""]
    hyps = ["eight one four", "one nine", "six", "oh"]
    report = error_report(ids, refs, hyps, title="digits")
    assert report.startswith("# digits\n")
    assert "- utterances: 4, with errors: 3" in report
    # 8 reference words: 1 substitution (a), 2 deletions (b), 1 insertion (d)
    assert "WER 50.00% (4 errors in 8 words: 1 substitutions, 2 deletions, 1 insertions)" in report
    assert "| three | eight | 1 |" in report
    sections = [line for line in report.splitlines() if line.startswith("### ")]
    # most errors first; among equals, the higher error rate (an insertion into silence before 1 in 3)
    assert sections == ["### b: 2 error(s) in 4 word(s)", "### d: 1 error(s) in 0 word(s)",
                        "### a: 1 error(s) in 3 word(s)"]
    assert "REF: one five nine two\nHYP: one **** nine ***" in report
    assert "### c" not in report  # correct utterances are counted, not listed


def test_evaluate_command_writes_the_error_report(trained_digits, ten_digits, tmp_path):
    manifest = tmp_path / "test.jsonl"
    wrong = [*ten_digits[:3]]
    wrong[0] = type(wrong[0])(wrong[0].audio, "seven", wrong[0].duration, wrong[0].extra)  # a mislabelled file
    write_manifest(manifest, wrong)
    result = subprocess.run([sys.executable, "-m", "asr", "evaluate", "--model", str(trained_digits.best_model),
                             "--manifest", str(manifest), "--output", str(tmp_path / "out.jsonl")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    report = (tmp_path / "out.errors.md").read_text()
    assert "| seven | zero | 1 |" in report
    assert report.count("### ") == 1
