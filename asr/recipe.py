"""What the recipes share: their options, one-line errors for a bad data folder (or any ``AsrError``), and
the shape every manifest-based recipe has: train, decode each test set each way, write results.md."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from asr.config import ExperimentConfig
from asr.decode import BeamSearchConfig
from asr.errors import AsrError
from asr.lm import build_arpa, write_arpa
from asr.loading import load_model
from asr.manifest import Utterance
from asr.report import Variant, evaluate_variants, markdown_table, percent, provenance
from asr.text import normalize_text
from asr.train import train

log = logging.getLogger(__name__)


def recipe_parser(doc: str | None, default_config: Path, data_help: str | None = None,
                  data_aliases: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The options every recipe shares: ``--exp-dir``, ``--config`` and repeated ``--set`` overrides; with
    ``data_help``, also the required ``--data-dir`` (``data_aliases``: older spellings, such as ``--corpus-dir``).

    ``doc`` (the recipe's docstring, which shows its full command) is the description ``--help`` prints."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    if data_help is not None:
        parser.add_argument("--data-dir", *data_aliases, dest="data_dir", required=True, help=data_help)
    parser.add_argument("--exp-dir", required=True, help="output folder")
    parser.add_argument("--config", default=str(default_config), help="experiment config (TOML)")
    parser.add_argument("--set", action="append", default=[], metavar="TABLE.KEY=VALUE", help="config override")
    return parser


def run_recipe(main: Callable[[], int | None]) -> int:
    """Run a recipe's ``main``; an ``AsrError`` (a bad data folder, config or file) becomes one ``error:`` line
    on stderr and exit status 2, never a traceback. Returns the exit status, for ``sys.exit``."""
    try:
        return main() or 0
    except AsrError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def require_data_dir(path: str | os.PathLike[str], expected: str, probes: str | Sequence[str],
                     option: str = "--data-dir") -> Path:
    """Check that ``path`` is a folder laid out as a recipe expects, before any work starts.

    ``expected`` says in words what the folder should hold (it ends every message); ``probes`` are glob
    patterns relative to the folder, at least one of which must match a file. Raises ``AsrError`` saying
    whether the folder is missing, not a folder, empty, or laid out otherwise. Returns the folder.
    """
    root = Path(path)
    probes = [probes] if isinstance(probes, str) else list(probes)
    if not root.exists():
        raise AsrError(f"{option} not found; expected {expected}", root)
    if not root.is_dir():
        raise AsrError(f"{option} is not a folder; expected {expected}", root)
    if not any(root.iterdir()):
        raise AsrError(f"{option} is empty; expected {expected}", root)
    if not any(p.is_file() for probe in probes for p in root.glob(probe)):
        raise AsrError(f"{option} holds no {' or '.join(probes)}; expected {expected}", root)
    return root


def train_and_score(
    title: str,
    config: ExperimentConfig,
    train_set: Sequence[Utterance],
    valid_set: Sequence[Utterance] | None,
    test_sets: dict[str, Sequence[Utterance]],
    exp_dir: str | Path,
    note: str = "",
    lm_order: int = 3,
    beam: BeamSearchConfig | None = None,
) -> str:
    """Train on ``train_set``, then score each test set greedy, beam, and beam + an n-gram LM built from the
    training transcripts. Writes ``EXP/model.pt``, ``EXP/lm.arpa`` and ``EXP/results.md``; returns the Markdown."""
    exp = Path(exp_dir)
    started = time.time()
    result = train(config, train_set, valid_set, exp, resume=True)
    lm_path = exp / "lm.arpa"
    write_arpa(build_arpa([normalize_text(u.text) for u in train_set], order=lm_order), lm_path)
    beam = beam or BeamSearchConfig(beam_size=16, lm_weight=0.5, word_score=0.5)
    variants: list[Variant] = [("greedy", lambda r: r.use_greedy()),
                               ("beam", lambda r: r.use_beam_search(beam)),
                               ("beam+LM", lambda r: r.use_beam_search(beam, lm=lm_path))]
    recognizer = load_model(result.best_model)
    rows = []
    for name, utterances in test_sets.items():
        for variant, evaluation in evaluate_variants(recognizer, utterances, variants, exp, name).items():
            rows.append([name, variant, percent(evaluation.score.wer), percent(evaluation.score.cer),
                         len(evaluation.ids)])
    command = " ".join(["python", *sys.argv])
    text = (f"# {title}\n\n{provenance()}; {(time.time() - started) / 60:.1f} minutes.\n\nCommand: `{command}`\n\n"
            + (note + "\n\n" if note else "")
            + markdown_table(["test set", "decoder", "WER", "CER", "utterances"], rows))
    (exp / "results.md").write_text(text)
    return text
