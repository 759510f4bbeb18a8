"""Common Voice: train on train.tsv, select on dev.tsv, score test.tsv.

    python recipes/commonvoice/run.py --corpus-dir /data/cv-corpus/en --exp-dir exp/commonvoice [--set train.epochs=2]
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from asr.config import load_config
from asr.errors import AsrError
from asr.recipe import recipe_parser, train_and_score
from data_prep.commonvoice import prepare_commonvoice

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = recipe_parser(__doc__, HERE / "config.toml")
    parser.add_argument("--corpus-dir", required=True, help="language folder holding train.tsv, dev.tsv, clips/")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        splits = prepare_commonvoice(args.corpus_dir, Path(args.exp_dir) / "data",
                                     splits=("train", "dev", "test")).splits
        if "train" not in splits:
            raise AsrError("no usable utterances in train.tsv", args.corpus_dir)
        text = train_and_score("Common Voice", load_config(args.config, args.set), splits["train"],
                               splits.get("dev"), {s: splits[s] for s in ("test",) if s in splits}, args.exp_dir)
    except AsrError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
