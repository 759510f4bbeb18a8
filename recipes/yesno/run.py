"""yes/no: Kaldi's customary split (first 31 files train, last 29 test), train, decode, score.

    python recipes/yesno/run.py --data-dir ../shared/data/yesno --exp-dir exp/yesno

The last 4 training files are held back for model selection, so the test files are never looked at
before the final scoring. Writes EXP/model.pt, EXP/results.md, the training plots and an error report per decoder.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

from asr.config import load_config
from asr.recipe import recipe_parser
from asr.recognizer import load_model
from asr.report import evaluate_variants, markdown_table, percent, provenance
from asr.train import train
from data_prep.yesno import prepare_yesno

HERE = Path(__file__).resolve().parent
LEXICON = ["no", "yes"]


def main() -> int:
    parser = recipe_parser(__doc__, HERE / "config.toml")
    parser.add_argument("--data-dir", required=True, help="yes/no folder of WAV files")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    exp = Path(args.exp_dir)
    started = time.time()

    report = prepare_yesno(args.data_dir, exp / "data")
    train_all, test = report.splits["train"], report.splits["test"]
    train_set, valid_set = train_all[:-4], train_all[-4:]
    config = load_config(args.config, args.set)

    result = train(config, train_set, valid_set, exp, resume=True)
    recognizer = load_model(result.best_model)
    variants = [("greedy", lambda r: r.use_greedy()),
                ("beam+lexicon", lambda r: r.use_beam_search(lexicon=LEXICON))]
    scores = evaluate_variants(recognizer, test, variants, exp, "test")
    scores.update(evaluate_variants(load_model(result.best_model).quantize(), test,
                                    [("greedy int8", lambda r: r.use_greedy())], exp, "test"))

    rows = [["test (29 files, 232 words)", name, percent(e.score.wer),
             f"{e.score.words.errors}/{e.score.words.reference_length}", percent(e.score.cer)]
            for name, e in scores.items()]
    command = " ".join(["python", "recipes/yesno/run.py", *sys.argv[1:]])
    text = (f"# yes/no\n\n{provenance()}; {(time.time() - started) / 60:.1f} minutes on this machine.\n\n"
            f"Command: `{command}`\n\n"
            + markdown_table(["test set", "decoder", "WER", "word errors", "CER"], rows)
            + "\nError reports: `test.greedy.errors.md`, `test.beam+lexicon.errors.md`, `test.greedy_int8.errors.md`."
            "\n\n![training and validation loss](loss.png)\n![validation WER and CER](error_rates.png)\n")
    (exp / "results.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
