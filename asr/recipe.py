"""The shape every manifest-based recipe shares: train, decode each test set each way, write results.md."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from asr.config import ExperimentConfig
from asr.decode import BeamSearchConfig
from asr.lm import build_arpa, write_arpa
from asr.manifest import Utterance
from asr.recognizer import load_model
from asr.report import Variant, evaluate_variants, markdown_table, percent, provenance
from asr.text import normalize_text
from asr.train import train

log = logging.getLogger(__name__)


def recipe_parser(doc: str | None, default_config: Path) -> argparse.ArgumentParser:
    """The options every recipe shares: ``--exp-dir``, ``--config`` and repeated ``--set`` overrides."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exp-dir", required=True, help="output folder")
    parser.add_argument("--config", default=str(default_config), help="experiment config (TOML)")
    parser.add_argument("--set", action="append", default=[], metavar="TABLE.KEY=VALUE", help="config override")
    return parser


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
