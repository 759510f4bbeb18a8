# ruff: noqa: E402
r"""LibriSpeech: train on a training split, select on dev-clean, score dev/test clean and other.

    python recipes/librispeech/run.py --data-dir /data/LibriSpeech --exp-dir exp/librispeech \
        [--train train-clean-100] [--set train.epochs=2]

(--corpus-dir is an older name of --data-dir.)
"""

from __future__ import annotations

from asr.errors import require_training_packages

require_training_packages("recipes/librispeech/run.py")  # before the imports that need PyTorch

import logging
import sys
from pathlib import Path

from asr.config import load_config
from asr.errors import AsrError
from asr.recipe import Stages, prepared, recipe_parser, require_data_dir, run_recipe, train_and_score
from data_prep.librispeech import prepare_librispeech

HERE = Path(__file__).resolve().parent
TESTS = ("dev-clean", "dev-other", "test-clean", "test-other")
EXPECTED = ("the LibriSpeech root: split folders (train-clean-100/, dev-clean/, ...) laid out as "
            "SPLIT/SPEAKER/CHAPTER/SPEAKER-CHAPTER.trans.txt beside the .flac files")


def main() -> int:
    parser = recipe_parser(__doc__, HERE / "config.toml", data_aliases=["--corpus-dir"],
                           data_help="LibriSpeech root (holding train-clean-100/ etc.)")
    parser.add_argument("--train", nargs="+", default=["train-clean-100"], help="training split(s)")
    parser.add_argument("--valid", default="dev-clean", help="split for model selection")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    stages = Stages.from_args(args)
    data_dir = require_data_dir(args.data_dir, EXPECTED, "*/*/*/*.trans.txt")
    out = Path(args.exp_dir) / "data"
    splits = prepared(stages, out, lambda: prepare_librispeech(data_dir, out))
    missing = [s for s in [*args.train, args.valid] if s not in splits]
    if missing:
        raise AsrError(f"split(s) not found: {', '.join(missing)} (found: {', '.join(sorted(splits)) or 'none'}); "
                       f"expected {EXPECTED}", data_dir)
    text = train_and_score("LibriSpeech", load_config(args.config, args.set),
                           [u for s in args.train for u in splits[s]], splits[args.valid],
                           {s: splits[s] for s in TESTS if s in splits}, args.exp_dir,
                           stages=stages)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(run_recipe(main))
