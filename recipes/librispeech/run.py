"""LibriSpeech: train on a training split, select on dev-clean, score dev/test clean and other.

    python recipes/librispeech/run.py --corpus-dir /data/LibriSpeech --exp-dir exp/librispeech \
        [--train train-clean-100] [--set train.epochs=2]
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from asr.config import load_config
from asr.errors import AsrError
from asr.recipe import recipe_parser, train_and_score
from data_prep.librispeech import prepare_librispeech

HERE = Path(__file__).resolve().parent
TESTS = ("dev-clean", "dev-other", "test-clean", "test-other")


def main() -> int:
    parser = recipe_parser(__doc__, HERE / "config.toml")
    parser.add_argument("--corpus-dir", required=True, help="LibriSpeech root (holding train-clean-100/ etc.)")
    parser.add_argument("--train", nargs="+", default=["train-clean-100"], help="training split(s)")
    parser.add_argument("--valid", default="dev-clean", help="split for model selection")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        splits = prepare_librispeech(args.corpus_dir, Path(args.exp_dir) / "data").splits
        missing = [s for s in [*args.train, args.valid] if s not in splits]
        if missing:
            raise AsrError(f"split(s) not found in the corpus: {', '.join(missing)}", args.corpus_dir)
        text = train_and_score("LibriSpeech", load_config(args.config, args.set),
                               [u for s in args.train for u in splits[s]], splits[args.valid],
                               {s: splits[s] for s in TESTS if s in splits}, args.exp_dir)
    except AsrError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
