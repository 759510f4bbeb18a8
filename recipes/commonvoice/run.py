# ruff: noqa: E402
"""Common Voice: train on train.tsv, select on dev.tsv, score test.tsv.

    python recipes/commonvoice/run.py --data-dir /data/cv-corpus/en --exp-dir exp/commonvoice [--set train.epochs=2]

(--corpus-dir is an older name of --data-dir.)
"""

from __future__ import annotations

from asr.errors import require_training_packages

require_training_packages("recipes/commonvoice/run.py")  # before the imports that need PyTorch

import logging
import sys
from pathlib import Path

from asr.config import load_config
from asr.errors import AsrError
from asr.recipe import Stages, prepared, recipe_parser, require_data_dir, run_recipe, train_and_score
from data_prep.commonvoice import prepare_commonvoice

HERE = Path(__file__).resolve().parent
EXPECTED = "a Common Voice language folder: train.tsv, dev.tsv and test.tsv beside clips/ (the audio)"


def main() -> int:
    parser = recipe_parser(__doc__, HERE / "config.toml", data_aliases=["--corpus-dir"],
                           data_help="language folder holding train.tsv, dev.tsv, clips/")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    stages = Stages.from_args(args)
    data_dir = require_data_dir(args.data_dir, EXPECTED, "train.tsv")
    out = Path(args.exp_dir) / "data"
    splits = prepared(stages, out, lambda: prepare_commonvoice(data_dir, out, splits=("train", "dev", "test")))
    if "train" not in splits:
        raise AsrError(f"no usable utterances in train.tsv; expected {EXPECTED}", data_dir)
    text = train_and_score("Common Voice", load_config(args.config, args.set), splits["train"],
                           splits.get("dev"), {s: splits[s] for s in ("test",) if s in splits}, args.exp_dir,
                           stages=stages)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(run_recipe(main))
