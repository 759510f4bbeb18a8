"""What the recipes share: their options, numbered stages (``--stage``/``--stop-stage``), one-line errors for a
bad data folder (or any ``AsrError``), and the shape every manifest-based recipe has: prepare, train, decode
each test set each way, write results.md."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from asr.config import ExperimentConfig
from asr.decoding import Decoding
from asr.distributed import lead_from_rank_0
from asr.errors import AsrError
from asr.lm import build_arpa, write_arpa
from asr.loading import load_model
from asr.manifest import Utterance, read_manifest
from asr.report import Variant, evaluate_variants, markdown_table, percent, results_header
from asr.text import normalize_text
from asr.train import train

log = logging.getLogger(__name__)

#: The stages of a recipe that trains one model: what ``--stage`` and ``--stop-stage`` count.
TRAIN_AND_SCORE_STAGES = ("prepare the manifests", "train", "decode, score and write results.md")


def recipe_parser(doc: str | None, default_config: Path, data_help: str | None = None,
                  data_aliases: Sequence[str] = (), stages: Sequence[str] = TRAIN_AND_SCORE_STAGES,
                  ) -> argparse.ArgumentParser:
    """The options every recipe shares: ``--exp-dir``, ``--config``, repeated ``--set`` overrides and
    ``--stage``/``--stop-stage`` over the recipe's ``stages`` (see :class:`Stages`); with ``data_help``, also
    the required ``--data-dir`` (``data_aliases``: older spellings, such as ``--corpus-dir``).

    ``doc`` (the recipe's docstring, which shows its full command) is the description ``--help`` prints."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    if data_help is not None:
        parser.add_argument("--data-dir", *data_aliases, dest="data_dir", required=True, help=data_help)
    parser.add_argument("--exp-dir", required=True, help="output folder")
    parser.add_argument("--config", default=str(default_config), help="experiment config (TOML)")
    parser.add_argument("--set", action="append", default=[], metavar="TABLE.KEY=VALUE", help="config override")
    listing = "; ".join(f"{number}: {name}" for number, name in enumerate(stages, 1))
    parser.add_argument("--stage", type=int, default=1, help=f"first stage to run ({listing})")
    parser.add_argument("--stop-stage", type=int, default=len(stages), help="last stage to run (default: the last)")
    parser.set_defaults(stage_names=tuple(stages))
    return parser


@dataclass(frozen=True)
class Stages:
    """The numbered stages a run does, ``first`` to ``last`` (as Kaldi, ESPnet and icefall recipes count them):
    a rerun can start after the data preparation, or score a model without training it again.
    ``stage in stages`` says whether to run one."""

    first: int
    last: int
    names: tuple[str, ...]

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Stages:
        names = tuple(args.stage_names)
        if not 1 <= args.stage <= args.stop_stage <= len(names):
            raise AsrError(f"--stage {args.stage} --stop-stage {args.stop_stage}: stages run 1 to {len(names)} "
                           f"and the first cannot come after the last ({'; '.join(names)})")
        return cls(args.stage, args.stop_stage, names)

    def __contains__(self, stage: int) -> bool:
        return self.first <= stage <= self.last


def prepared(stages: Stages, out: str | os.PathLike[str], prepare: Callable[[], object],
             stage: int = 1) -> dict[str, list[Utterance]]:
    """The manifests of a data-preparation stage, by split: ``prepare()`` (a ``data_prep`` converter that
    writes ``SPLIT.jsonl`` into ``out`` and returns its report) when ``stage`` runs, else the manifests an
    earlier run of it left in ``out``."""
    if stage in stages:
        return prepare().splits  # type: ignore[attr-defined]
    manifests = sorted(Path(out).glob("*.jsonl"))
    if not manifests:
        raise AsrError(f"no prepared manifests (*.jsonl) here: run stage {stage} ({stages.names[stage - 1]}) "
                       f"first, or start with --stage {stage}", out)
    return {path.stem: read_manifest(path) for path in manifests}


def trained(stages: Stages, stage: int, train_model: Callable[[], Path], model: str | os.PathLike[str]) -> Path:
    """The trained model: ``train_model()`` (returning its path) when ``stage`` runs, else ``model``, which an
    earlier run of that stage wrote."""
    if stage in stages:
        return train_model()
    if not Path(model).is_file():
        raise AsrError(f"no trained model here: run stage {stage} ({stages.names[stage - 1]}) first", model)
    return Path(model)


def run_recipe(main: Callable[[], int | None]) -> int:
    """Run a recipe's ``main``; an ``AsrError`` (a bad data folder, config or file) becomes one ``error:`` line
    on stderr and exit status 2, never a traceback. Returns the exit status, for ``sys.exit``.

    Started by ``torchrun``, ``main`` runs on rank 0 alone and the other ranks join each of its trainings
    (:func:`asr.distributed.lead_from_rank_0`): ``torchrun --nproc_per_node=2 recipes/yesno/run.py ...``."""
    try:
        return lead_from_rank_0(lambda: main() or 0)
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
    beam: Decoding | None = None,
    stages: Stages | None = None,
) -> str:
    """Train on ``train_set`` (stage 2), then score each test set greedy, beam, and beam + an n-gram LM built
    from the training transcripts (stage 3). Writes ``EXP/model.pt``, ``EXP/lm.arpa`` and ``EXP/results.md``;
    returns the Markdown ("" when stage 3 does not run)."""
    exp = Path(exp_dir)
    stages = stages or Stages(1, 3, TRAIN_AND_SCORE_STAGES)
    started = time.time()
    if stages.last < 2:
        return ""
    model = trained(stages, 2, lambda: train(config, train_set, valid_set, exp, resume=True).best_model,
                    exp / "model.pt")
    if 3 not in stages:
        return ""
    lm_path = exp / "lm.arpa"
    write_arpa(build_arpa([normalize_text(u.text) for u in train_set], order=lm_order), lm_path)
    beam = beam or Decoding.beam(word_score=0.5)
    variants: list[Variant] = [("greedy", lambda r: r.with_greedy()),
                               ("beam", lambda r: r.with_beam_search(beam)),
                               ("beam+LM", lambda r: r.with_beam_search(beam, lm=lm_path))]
    recognizer = load_model(model)
    rows = []
    for name, utterances in test_sets.items():
        for variant, evaluation in evaluate_variants(recognizer, utterances, variants, exp, name).items():
            rows.append([name, variant, percent(evaluation.score.wer), percent(evaluation.score.cer),
                         len(evaluation.ids)])
    text = (results_header(title, started)
            + (note + "\n\n" if note else "")
            + markdown_table(["test set", "decoder", "WER", "CER", "utterances"], rows))
    (exp / "results.md").write_text(text)
    return text
