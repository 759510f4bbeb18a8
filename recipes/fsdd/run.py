# ruff: noqa: E402
"""FSDD spoken digits, speaker-independent: isolated and connected digits from unseen voices.

    python recipes/fsdd/run.py --data-dir ../shared/data/fsdd --exp-dir exp/fsdd

Stages (--stage/--stop-stage): (1) manifests from the corpus; (2) for each speaker, train on the others
(isolated recordings plus connected strings built from them with speed, gain and noise variation) and test
on the held-out speaker, greedy / beam + lexicon / beam + lexicon + bigram LM; then adapt that model to the
held-out speaker without transcripts (pseudo-labels on takes 25-49) and test both models on takes 0-24;
(3) the final model on every speaker, written to EXP/model.pt; (4) EXP/results.md, of the stages this run did.
"""

from __future__ import annotations

from asr.errors import require_training_packages

require_training_packages("recipes/fsdd/run.py")  # before the imports that need PyTorch

import argparse
import logging
import shutil
import sys
import time
from functools import partial
from pathlib import Path

from asr.adapt import AdaptConfig, adapt
from asr.config import ExperimentConfig, load_config
from asr.decoding import Decoding
from asr.evaluate import accuracy
from asr.inference import BaseRecognizer
from asr.lm import build_arpa, write_arpa
from asr.loading import load_model
from asr.manifest import Utterance
from asr.recipe import Stages, prepared, recipe_parser, require_data_dir, run_recipe
from asr.report import Variant, evaluate_variants, markdown_table, percent, results_header
from asr.train import train
from data_prep.connected import ConnectedConfig, make_connected
from data_prep.fsdd import DIGIT_WORDS, is_test_index, prepare_fsdd, recording_index

HERE = Path(__file__).resolve().parent
TRAIN_CONNECTED = ConnectedConfig(min_words=1, max_words=6, speeds=(0.85, 0.9, 0.95, 1.0, 1.05, 1.1, 1.15),
                                  gain_db=(-6.0, 0.0), snr_db=(15.0, 40.0))
TEST_CONNECTED = ConnectedConfig(min_words=3, max_words=7)
BEAM = Decoding.beam()
ADAPT_CONNECTED = ConnectedConfig(min_words=1, max_words=6, speeds=(0.9, 1.0, 1.1), gain_db=(-6.0, 0.0),
                                  snr_db=(15.0, 40.0))
STAGES = ("prepare the manifests", "leave-one-speaker-out folds and adaptation", "the final model on every speaker",
          "write results.md")
#: Seeds of the generated data, named so that each set is drawn once: fold i's training strings use
#: SEED_FOLD_DATA + i (and its validation strings the next seed), adaptation round r SEED_ADAPT_STRINGS + r.
SEED_FOLD_DATA, SEED_FINAL_DATA, SEED_ADAPT_STRINGS = 100, 7, 200
SEED_TEST_STRINGS, SEED_ADAPT_TEST_STRINGS = 999, 998
EXPECTED = ("the Free Spoken Digit Dataset: a folder holding recordings/ with files named DIGIT_SPEAKER_TAKE.wav, "
            "such as 3_george_17.wav")


def build_sets(recordings: list[Utterance], train_speakers: list[str], folder: Path, rate: int, connected: int,
               seed: int) -> tuple[list[Utterance], list[Utterance], Path]:
    """Training set (takes 5-49 of ``train_speakers`` plus ``connected`` strings joined from them), validation
    set (their takes 0-4, unseen in training, plus strings of them) and a bigram LM of the training strings."""
    pool = [u for u in recordings if u.speaker in train_speakers]
    fit = [u for u in pool if not is_test_index(u.id)]
    held = [u for u in pool if is_test_index(u.id)]  # unseen recordings for model selection
    strings = make_connected(fit, connected, folder / "train_connected", rate, TRAIN_CONNECTED, seed=seed)
    valid = held + make_connected(held, 100, folder / "valid_connected", rate, TEST_CONNECTED, seed=seed + 1)
    lm_path = folder / "digits.arpa"
    write_arpa(build_arpa([u.text for u in strings], order=2), lm_path)
    return fit + strings, valid, lm_path


def decoding_variants(lm_path: Path) -> list[Variant]:
    return [("greedy", with_greedy),
            ("beam+lexicon", partial(with_beam, lm=None)),
            ("beam+lexicon+LM", partial(with_beam, lm=lm_path))]


def with_greedy(recognizer: BaseRecognizer) -> BaseRecognizer:
    return recognizer.with_greedy()


def with_beam(recognizer: BaseRecognizer, lm: Path | None) -> BaseRecognizer:
    return recognizer.with_beam_search(BEAM, lexicon=DIGIT_WORDS, lm=lm)


def adapted_rows(speaker: str, isolated: list[Utterance], model_path: Path, fold: Path, lm_path: Path, rate: int,
                 args: argparse.Namespace) -> list[list]:
    """Adapt to ``speaker`` on takes 25-49 (their transcripts unused), score before and after on takes 0-24."""
    unlabelled = [Utterance(u.audio, "", u.duration, u.extra) for u in isolated if recording_index(u.id) >= 25]
    test_iso = [u for u in isolated if recording_index(u.id) < 25]
    test_con = make_connected(test_iso, args.connected_test, fold / "adapt_test_connected", rate, TEST_CONNECTED,
                              seed=SEED_ADAPT_TEST_STRINGS)
    adapted = load_model(model_path).with_beam_search(BEAM, lexicon=DIGIT_WORDS)
    # 4 epochs and 200 strings per round keep the whole recipe within its 20 minutes
    adapt(adapted, unlabelled, AdaptConfig(rounds=args.adapt_rounds, epochs=4),
          expand=partial(adaptation_strings, folder=fold, rate=rate))
    adapted.save(fold / "adapted.pt")
    rows = []
    for label, recognizer in (("speaker-independent", load_model(model_path)), ("adapted", adapted)):
        chosen = decoding_variants(lm_path)[:2]
        iso = evaluate_variants(recognizer, test_iso, chosen, fold, f"half_isolated.{label}")
        con = evaluate_variants(recognizer, test_con, chosen, fold, f"half_connected.{label}")
        for name in iso:
            rows.append([speaker, label, name, accuracy(iso[name]), con[name].score.wer])
            logging.info("held-out %s, %s, %s (takes 0-24): isolated accuracy %s, connected %s", speaker, label,
                         name, percent(accuracy(iso[name])), con[name].score.summary())
    return rows


def adaptation_strings(kept: list[Utterance], round_index: int, folder: Path, rate: int) -> list[Utterance]:
    """Connected strings joined from one adaptation round's pseudo-labelled recordings."""
    return make_connected(kept, 200, folder / f"adapt_connected_{round_index}", rate, ADAPT_CONNECTED,
                          seed=SEED_ADAPT_STRINGS + round_index)


def leave_one_out(config: ExperimentConfig, recordings: list[Utterance], speakers: list[str], exp: Path,
                  args: argparse.Namespace) -> str:
    """Stage 2: for each held-out speaker, train on the others, score, adapt; returns the Markdown."""
    rate = config.features.sample_rate
    holdout = speakers if args.holdout is None else args.holdout
    rows, sums, adaptation = [], {}, []
    for index, speaker in enumerate(holdout):
        fold = exp / f"heldout_{speaker}"
        train_set, valid_set, lm_path = build_sets(recordings, [s for s in speakers if s != speaker], fold, rate,
                                                   args.connected_per_fold, seed=SEED_FOLD_DATA + index)
        result = train(config, train_set, valid_set, fold, resume=True)
        recognizer = load_model(result.best_model)
        isolated = [u for u in recordings if u.speaker == speaker]
        connected = make_connected(isolated, args.connected_test, fold / "test_connected", rate, TEST_CONNECTED,
                                   seed=SEED_TEST_STRINGS)
        iso = evaluate_variants(recognizer, isolated, decoding_variants(lm_path), fold, "isolated")
        con = evaluate_variants(recognizer, connected, decoding_variants(lm_path), fold, "connected")
        int8 = load_model(result.best_model).quantized()
        iso.update(evaluate_variants(int8, isolated, [("greedy int8", with_greedy)], fold, "isolated"))
        con.update(evaluate_variants(int8, connected, [("greedy int8", with_greedy)], fold, "connected"))
        for name in iso:
            wer = con[name].score.wer
            rows.append([speaker, name, percent(accuracy(iso[name])), percent(wer), percent(con[name].score.cer)])
            sums.setdefault(name, []).append((accuracy(iso[name]), wer))
            logging.info("held-out %s, %s: isolated accuracy %s, connected %s", speaker, name,
                         percent(accuracy(iso[name])), con[name].score.summary())
        if args.adapt_rounds > 0:
            adaptation += adapted_rows(speaker, isolated, result.best_model, fold, lm_path, rate, args)
    for name, values in sums.items():
        rows.append(["**mean**", name, percent(sum(a for a, _ in values) / len(values)),
                     percent(sum(w for _, w in values) / len(values)), ""])
    text = ("Each row: trained on the other speakers (isolated recordings + connected strings built from them), "
            f"tested on all the held-out speaker's isolated recordings and {args.connected_test} connected "
            "strings of 3-7 digits built from that speaker's recordings.\n\n"
            + markdown_table(["held-out speaker", "decoder", "isolated accuracy", "connected WER", "connected CER"],
                             rows))
    if adaptation:
        text += adaptation_table(adaptation, args.adapt_rounds, args.connected_test)
    return text


def adaptation_table(adaptation: list[list], rounds: int, connected_test: int) -> str:
    means = {}
    for _, label, name, acc, wer in adaptation:
        means.setdefault((label, name), []).append((acc, wer))
    table_rows = [[who, label, name, percent(acc), percent(wer)] for who, label, name, acc, wer in adaptation]
    table_rows += [["**mean**", label, name, percent(sum(a for a, _ in v) / len(v)),
                    percent(sum(w for _, w in v) / len(v))] for (label, name), v in means.items()]
    return ("\n## Unsupervised adaptation to the held-out speaker\n\n"
            f"Each fold's model, adapted with `asr.adapt` (rounds: {rounds}, 4 epochs each): beam search with the "
            "lexicon transcribes the held-out speaker's takes 25-49 (their transcripts are never read), the 80% "
            "most confident become pseudo-labels, and the network is fine-tuned on them plus connected strings "
            "joined from them. Both models are scored on takes 0-24 (isolated recordings, and "
            f"{connected_test} connected strings of them), which the adaptation never touched.\n\n"
            + markdown_table(["held-out speaker", "model", "decoder", "isolated accuracy", "connected WER"],
                             table_rows))


def final_model(config: ExperimentConfig, recordings: list[Utterance], speakers: list[str], exp: Path,
                args: argparse.Namespace) -> str:
    """Stage 3: every speaker; EXP/model.pt with digits.arpa and lexicon.txt beside it."""
    final_train, final_valid, final_lm = build_sets(recordings, speakers, exp / "final", config.features.sample_rate,
                                                    args.connected_per_fold, seed=SEED_FINAL_DATA)
    result = train(config, final_train, final_valid, exp / "final", resume=True)
    load_model(result.best_model).save(exp / "model.pt")
    (exp / "digits.arpa").write_bytes(final_lm.read_bytes())
    (exp / "lexicon.txt").write_text("\n".join(DIGIT_WORDS) + "\n")
    for plot in ("loss.png", "error_rates.png"):
        shutil.copyfile(exp / "final" / plot, exp / plot)
    return (f"\nFinal model (all speakers): `{exp / 'model.pt'}`, with `digits.arpa` and `lexicon.txt`.\n\n"
            "Training of the final model (validation: held-back recordings of the same speakers):\n\n"
            "![training and validation loss](loss.png)\n![validation WER and CER](error_rates.png)\n")


def main() -> int:
    parser = recipe_parser(__doc__, HERE / "config.toml", data_help="FSDD folder (with recordings/)", stages=STAGES)
    parser.add_argument("--connected-per-fold", type=int, default=1000, help="connected training utterances")
    parser.add_argument("--connected-test", type=int, default=100, help="connected test utterances per speaker")
    parser.add_argument("--adapt-rounds", type=int, default=2,
                        help="rounds of unsupervised adaptation to each held-out speaker (0 to skip)")
    parser.add_argument("--holdout", nargs="*", default=None,
                        help="speakers to hold out in turn (default: every speaker; none to skip)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    stages = Stages.from_args(args)
    exp = Path(args.exp_dir)
    config = load_config(args.config, args.set)
    started = time.time()

    data_dir = require_data_dir(args.data_dir, EXPECTED, ["recordings/[0-9]_*_*.wav", "[0-9]_*_*.wav"])
    splits = prepared(stages, exp / "data", lambda: prepare_fsdd(data_dir, exp / "data"))
    recordings = [u for split in splits.values() for u in split]
    speakers = sorted({u.speaker for u in recordings})
    sections = []
    if 2 in stages:
        sections.append(leave_one_out(config, recordings, speakers, exp, args))
    if 3 in stages:
        sections.append(final_model(config, recordings, speakers, exp, args))
    if 4 not in stages:
        return 0
    text = (results_header("FSDD spoken digits, speaker-independent", started) + "\n".join(sections)
            + "\nError reports (confusions, alignments worst first): `heldout_SPEAKER/{isolated,connected}.DECODER"
            ".errors.md`,\nand for the adaptation table `heldout_SPEAKER/half_{isolated,connected}.MODEL.DECODER"
            ".errors.md`.\n")
    (exp / "results.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(run_recipe(main))
