"""PNG plots of a training run, drawn from its ``metrics.jsonl`` (matplotlib, no screen needed)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from asr.errors import AsrError

LOSS_PLOT = "loss.png"
ERROR_PLOT = "error_rates.png"


def read_metrics(path: str | os.PathLike[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The epoch rows and the step rows of a metrics log (a resumed run may repeat epochs: the last wins)."""
    if not os.path.isfile(path):
        raise AsrError("metrics log not found", path)
    epochs: dict[int, dict[str, Any]] = {}
    steps: dict[int, dict[str, Any]] = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                raise AsrError(f"line {number} is not JSON", path) from None
            if "frames_per_second" in row:  # epoch summary rows carry the throughput
                epochs[int(row["epoch"])] = row
            elif "step" in row:
                steps[int(row["step"])] = row
    return [epochs[k] for k in sorted(epochs)], [steps[k] for k in sorted(steps)]


def plot_training(metrics_path: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write ``loss.png`` (train/validation loss per epoch) and ``error_rates.png`` (validation WER/CER).

    The error-rate plot is written only when the run had a validation set. Returns the files written.
    """
    # matplotlib announces "generated new fontManager" at INFO level the first time it runs on a machine, which
    # the command line's INFO logging would print among the training log; its warnings still show
    matplotlib_log = logging.getLogger("matplotlib")
    if matplotlib_log.getEffectiveLevel() < logging.WARNING:
        matplotlib_log.setLevel(logging.WARNING)
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display on servers; must precede pyplot
        import matplotlib.pyplot as plt
    except ImportError:
        raise AsrError("training plots need matplotlib: pip install matplotlib") from None

    epochs, _ = read_metrics(metrics_path)
    if not epochs:
        raise AsrError("the metrics log holds no finished epoch", metrics_path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    x = [row["epoch"] for row in epochs]

    def draw(name: str, curves: dict[str, list[float]], ylabel: str, title: str, log_scale: bool) -> Path:
        figure, axes = plt.subplots(figsize=(6, 3.6), dpi=100)
        for label, values in curves.items():
            axes.plot(x, values, marker="o", markersize=3, label=label)
        axes.set(xlabel="epoch", ylabel=ylabel, title=title)
        if log_scale:
            axes.set_yscale("log")
        else:
            axes.set_ylim(bottom=0)
        axes.grid(alpha=0.3)
        axes.legend()
        figure.tight_layout()
        figure.savefig(out / name)
        plt.close(figure)
        return out / name

    losses = {"training": [row["train_loss"] for row in epochs]}
    if any("valid_loss" in row for row in epochs):
        losses["validation"] = [row.get("valid_loss") for row in epochs]
    written = [draw(LOSS_PLOT, losses, "CTC loss per utterance", "Loss", log_scale=True)]
    if any("valid_wer" in row for row in epochs):
        rates = {"WER": [100 * row["valid_wer"] for row in epochs], "CER": [100 * row["valid_cer"] for row in epochs]}
        written.append(draw(ERROR_PLOT, rates, "%", "Validation error rates (greedy)", log_scale=False))
    return written
