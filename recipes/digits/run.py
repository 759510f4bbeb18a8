# ruff: noqa: E402
"""English digits for any speaker: one model from FSDD, Heidelberg Digits and AN4's digit strings.

    python recipes/digits/run.py --data-dir ../shared/data --exp-dir exp/digits
    python recipes/digits/run.py --data-dir ../shared/data --exp-dir exp/digits-full --full  # the packaged model
    python recipes/digits/run.py --data-dir ../shared/data --exp-dir exp/digits --cross-validate --ablations

DATA_DIR holds fsdd/, hd_digits/ and an4/ (an4/ is optional). Stages (--stage/--stop-stage):
  1. manifests of the three corpora; AN4's utterances made only of digit words ("oh" read as "zero"),
     its speakers split three ways: validation, test, and training;
  2. (--cross-validate) speaker-independent folds: whole speakers of both digit corpora held out, the
     model trained on the rest, tested on the held-out speakers (isolated recordings and connected strings
     of them) and on AN4's test speakers, a corpus no training saw; plus a learning curve over the number
     of training speakers; (--ablations) what each augmentation earns on the first fold;
  3. the final model on every speaker, its decoding (beam, lexicon, LM weight) chosen on AN4's validation
     speakers and stored in EXP/model.pt, exported to EXP/model.onnx;
  4. EXP/results.md.
Every model sees its training data through simulated rooms, microphones and lines (asr.augment), plus
connected strings joined from isolated recordings; all audio is read at 8 kHz.
The default run (5 epochs, 600 strings; 9.3 minutes on a 2-core Intel Xeon, 2026-12-04) fits the 25-minute
budget of a recipe's default run with room to spare;
--full trains the packaged model (full.toml: 10 epochs; 2000 strings), resuming from EXP/final/train_state.pt.
"""

from __future__ import annotations

from asr.errors import require_training_packages

require_training_packages("recipes/digits/run.py")  # before the imports that need PyTorch

import dataclasses
import logging
import random
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from asr.augment import ChannelConfig
from asr.config import ExperimentConfig, load_config
from asr.decoding import Decoding
from asr.evaluate import Evaluation, accuracy
from asr.lm import build_arpa, write_arpa
from asr.loading import load_model
from asr.manifest import Utterance
from asr.recipe import Stages, prepared, recipe_parser, require_data_dir, run_recipe
from asr.report import choose_decoding, evaluate_variants, markdown_table, percent, results_header
from asr.train import train
from data_prep.an4 import prepare_an4
from data_prep.connected import ConnectedConfig, make_channel_copies, make_connected
from data_prep.fsdd import DIGIT_WORDS, prepare_fsdd
from data_prep.hd_digits import prepare_hd_digits

HERE = Path(__file__).resolve().parent
EXPECTED = ("a folder holding fsdd/ (the Free Spoken Digit Dataset, recordings/ of DIGIT_SPEAKER_TAKE.wav), "
            "hd_digits/ (Heidelberg Digits, FLAC) and, optionally, an4/ (CMU AN4), as ../shared/data does")
CHANNEL = ChannelConfig()
SPEEDS = (0.9, 0.95, 1.0, 1.05, 1.1)
# Pauses and edges as long as the speech finder leaves them (pre-roll 0.3 s, tail 0.2 s, pauses under 0.5 s)
# and longer, over a quiet room tone in most strings: recordings are not cut tight, nor silent between words.
TRAIN_CONNECTED = ConnectedConfig(min_words=1, max_words=7, speeds=SPEEDS, gain_db=(-6.0, 0.0),
                                  channel=CHANNEL, clean_fraction=0.3, gap_seconds=(0.05, 0.6),
                                  edge_seconds=(0.05, 1.0), room_tone=0.6)
TEST_CONNECTED = ConnectedConfig(min_words=3, max_words=7)
#: Lead-in and tail of each channel copy (seconds, each drawn): FSDD and Heidelberg takes are cut tight, and a
#: take that the speech finder cuts from a recording keeps its pre-roll and tail of the room around it.
PAD_SECONDS = (0.0, 0.6)
#: Connected training strings of the default run and of --full's.
DEFAULT_STRINGS, FULL_STRINGS = 600, 2000
STAGES = ("prepare the manifests", "cross-validation, learning curve and ablations (as their flags ask)",
          "the final model", "write results.md")
#: Seeds of the generated data, named so that each set is drawn once and never shares a draw with another.
SEED_TRAIN_DATA, SEED_TEST_STRINGS = 100, 999
#: Decodings tried on the validation speakers; the best is stored in the model file.
BEAM_CHOICES = [Decoding.beam(lm_weight=w, word_score=s) for w in (0.0, 0.5, 1.0) for s in (0.0, 1.0)]


@dataclass
class Corpora:
    """Every utterance the recipe uses, by role; speaker ids are unique across corpora."""

    digits: list[Utterance]  # isolated recordings of FSDD and Heidelberg Digits
    an4_valid: list[Utterance]  # AN4 digit strings: model selection and decoding choice
    an4_test: list[Utterance]  # AN4 digit strings of other speakers: a corpus no training sees
    an4_train: list[Utterance]  # AN4 digit strings of a third set of speakers

    def speakers(self, corpus: str) -> list[str]:
        return sorted({u.speaker for u in self.digits if u.extra.get("corpus") == corpus})


def digit_strings_only(utterances: Sequence[Utterance]) -> list[Utterance]:
    """AN4 utterances made only of digit words, with "oh" written "zero" (the model writes digit 0 so)."""
    kept = []
    for utt in utterances:
        words = ["zero" if w == "oh" else w for w in utt.text.lower().split()]
        if words and all(w in DIGIT_WORDS for w in words):
            kept.append(Utterance(utt.audio, " ".join(words), utt.duration, {**utt.extra, "corpus": "an4"}))
    return kept


def prepare(data_dir: Path, out: Path, stages: Stages | None = None) -> Corpora:
    """Stage 1: manifests, tagged by corpus (a run that starts later reads them)."""
    stages = stages or Stages(1, len(STAGES), STAGES)
    digits = []
    for corpus, prepare_corpus in (("fsdd", prepare_fsdd), ("hd_digits", prepare_hd_digits)):
        splits = prepared(stages, out / corpus, partial(prepare_corpus, data_dir / corpus, out / corpus))
        digits += [dataclasses.replace(u, extra={**u.extra, "corpus": corpus})
                   for split in splits.values() for u in split]
    an4 = []
    if (data_dir / "an4").is_dir():
        splits = prepared(stages, out / "an4", partial(prepare_an4, data_dir / "an4", out / "an4"))
        an4 = digit_strings_only(splits.get("train", []))
    speakers = sorted({u.speaker for u in an4})
    random.Random(0).shuffle(speakers)
    third = len(speakers) // 3
    roles = {s: ("valid" if i < third else "test" if i < 2 * third else "train") for i, s in enumerate(speakers)}
    return Corpora(digits, *([u for u in an4 if roles[u.speaker] == role] for role in ("valid", "test", "train")))


@dataclass(frozen=True)
class Augmentation:
    """How the training data is made: the simulated channel (None: none), speed factors, AN4's speakers."""

    channel: ChannelConfig | None = field(default_factory=lambda: CHANNEL)
    speeds: tuple[float, ...] = SPEEDS
    with_an4: bool = True  # AN4's training speakers' digit strings join the training set


def training_set(recordings: Sequence[Utterance], folder: Path, rate: int, connected: int,
                 augmentation: Augmentation, seed: int, extra: Sequence[Utterance] = ()) -> list[Utterance]:
    """The recordings (and ``extra``), a copy of each through a simulated channel with silence or room tone
    around it (:data:`PAD_SECONDS`), and connected strings joined from the recordings."""
    strings = dataclasses.replace(TRAIN_CONNECTED, channel=augmentation.channel, speeds=augmentation.speeds)
    made = list(recordings) + list(extra)
    made += make_connected(recordings, connected, folder / "train_connected", rate, strings, seed=seed)
    if augmentation.channel is not None:
        made += make_channel_copies(list(recordings) + list(extra), folder / "train_channel", rate,
                                    augmentation.channel, seed=seed + 1, speeds=augmentation.speeds,
                                    pad_seconds=PAD_SECONDS)
    return made


def test_sets(corpora: Corpora, held_out: set[str], folder: Path, rate: int, strings: int) -> dict[str, list]:
    """Per corpus, the held-out speakers' isolated recordings and connected strings of them; AN4's test speakers."""
    sets: dict[str, list[Utterance]] = {}
    for corpus in ("fsdd", "hd_digits"):
        isolated = [u for u in corpora.digits if u.speaker in held_out and u.extra["corpus"] == corpus]
        if not isolated:
            continue
        sets[f"{corpus} isolated"] = isolated
        sets[f"{corpus} connected"] = make_connected(isolated, strings, folder / f"test_{corpus}", rate,
                                                     TEST_CONNECTED, seed=SEED_TEST_STRINGS)
    if corpora.an4_test:
        sets["an4 strings"] = corpora.an4_test
    return sets


def decoders(lm_path: Path, beam: Decoding) -> list:
    return [("greedy", lambda r: r.with_greedy()),
            ("beam+lexicon+LM", lambda r: r.with_beam_search(beam, lexicon=DIGIT_WORDS, lm=lm_path))]


def train_and_test(config: ExperimentConfig, corpora: Corpora, train_speakers: Sequence[str], held_out: set[str],
                   folder: Path, args, augmentation: Augmentation = Augmentation(),  # noqa: ANN001
                   ) -> dict[str, dict[str, Evaluation]]:
    """Train on ``train_speakers`` (and AN4's training speakers, as the final model does, unless
    ``augmentation`` says otherwise) and score every test set with each decoder."""
    rate = config.features.sample_rate
    recordings = [u for u in corpora.digits if u.speaker in train_speakers]
    train_set = training_set(recordings, folder, rate, args.connected, augmentation, SEED_TRAIN_DATA,
                             extra=corpora.an4_train if augmentation.with_an4 else ())
    lm_path = write_lm(train_set, folder)
    result = train(config, train_set, corpora.an4_valid or None, folder, resume=True)
    recognizer = load_model(result.best_model)
    chosen = decoders(lm_path, BEAM_CHOICES[2])
    return {name: evaluate_variants(recognizer, utts, chosen, folder, name.replace(" ", "_"))
            for name, utts in test_sets(corpora, held_out, folder, rate, args.connected_test).items()}


def write_lm(train_set: Sequence[Utterance], folder: Path) -> Path:
    lm_path = folder / "digits.arpa"
    write_arpa(build_arpa([u.text for u in train_set], order=2), lm_path)
    return lm_path


def speaker_folds(corpora: Corpora, count: int) -> list[set[str]]:
    """``count`` disjoint sets of held-out speakers, each with speakers of both digit corpora."""
    folds: list[set[str]] = [set() for _ in range(count)]
    for corpus in ("fsdd", "hd_digits"):
        for index, speaker in enumerate(corpora.speakers(corpus)):
            folds[index % count].add(speaker)
    return folds


def score_values(scores: dict[str, dict[str, Evaluation]], decoder: str) -> list[float | None]:
    """Isolated accuracy and connected WER per corpus, AN4 WER (``None`` for a test set not run)."""
    values: list[float | None] = []
    for corpus in ("fsdd", "hd_digits"):
        iso, con = scores.get(f"{corpus} isolated"), scores.get(f"{corpus} connected")
        values += [accuracy(iso[decoder]) if iso else None, con[decoder].score.wer if con else None]
    an4 = scores.get("an4 strings")
    values.append(an4[decoder].score.wer if an4 else None)
    return values


def table_row(label: str, decoder: str, values: Sequence[float | None]) -> list[str]:
    """One table row: ``values`` (:func:`score_values`) in percent, "" for a test set not run."""
    return [label, decoder] + ["" if value is None else percent(value) for value in values]


def score_row(label: str, scores: dict[str, dict[str, Evaluation]], decoder: str) -> list[str]:
    """One table row of a model's scores with ``decoder``."""
    return table_row(label, decoder, score_values(scores, decoder))


SCORE_HEADERS = ["model", "decoder", "FSDD isolated acc.", "FSDD connected WER", "HD isolated acc.",
                 "HD connected WER", "AN4 strings WER"]


def cross_validate(config: ExperimentConfig, corpora: Corpora, exp: Path, args) -> str:  # noqa: ANN001
    """Stage 2: speaker-independent folds and the learning curve; returns the Markdown section."""
    speakers = corpora.speakers("fsdd") + corpora.speakers("hd_digits")
    rows, means = [], {}
    folds = speaker_folds(corpora, args.folds)
    for index, held_out in enumerate(folds):
        if args.run_folds is not None and index not in args.run_folds:
            continue
        scores = train_and_test(config, corpora, [s for s in speakers if s not in held_out], held_out,
                                exp / f"fold{index}", args)
        for decoder in ("greedy", "beam+lexicon+LM"):
            values = score_values(scores, decoder)
            rows.append(table_row(f"fold {index}: held out {', '.join(sorted(held_out))}", decoder, values))
            means.setdefault(decoder, []).append(values)
    for decoder, fold_values in means.items():  # the mean of the numbers, formatted once
        columns = zip(*fold_values, strict=True)
        rows.append(table_row("**mean of folds**", decoder, [mean(column) for column in columns]))
    text = ("## Speaker-independent cross-validation\n\n"
            f"{args.folds} folds; each trains on the other speakers of FSDD and Heidelberg Digits and AN4's "
            f"{len({u.speaker for u in corpora.an4_train})} training speakers, and holds out whole speakers of "
            "both digit corpora (isolated accuracy on all their "
            f"recordings, connected WER on {args.connected_test} strings of 3-7 of their recordings) and is also "
            f"tested on AN4's {len(corpora.an4_test)} digit strings of "
            f"{len({u.speaker for u in corpora.an4_test})} test speakers, a corpus and microphone no training saw.\n\n"
            + markdown_table(SCORE_HEADERS, rows))
    if args.learning_curve:
        text += learning_curve(config, corpora, folds[0], speakers, exp, args)
    return text


def learning_curve(config: ExperimentConfig, corpora: Corpora, held_out: set[str], speakers: list[str],
                   exp: Path, args) -> str:  # noqa: ANN001
    """Fold 0's test sets, models trained on growing subsets of its training speakers."""
    pool = [s for s in speakers if s not in held_out]
    random.Random(1).shuffle(pool)
    rows = []
    for count in args.learning_curve:
        if count >= len(pool):
            continue
        chosen = pool[:count]
        scores = train_and_test(config, corpora, chosen, held_out, exp / f"curve{count}", args)
        rows.append(score_row(f"{count} speakers", scores, "beam+lexicon+LM"))
    return ("\n## Learning curve over training speakers\n\nFold 0's held-out speakers; the training speakers a "
            f"random subset of fold 0's {len(pool)} (the full fold is the first table's fold 0 row).\n\n"
            + markdown_table(SCORE_HEADERS, rows))


#: Short name -> (table label, how the training data is made); "specaugment" switches SpecAugment off instead.
ABLATIONS = {
    "channel": ("no channel simulation (no copies through rooms, microphones, lines)", Augmentation(channel=None)),
    "reverb": ("no reverberation", Augmentation(channel=dataclasses.replace(CHANNEL, reverb=0.0))),
    "band": ("no band limits or EQ",
             Augmentation(channel=dataclasses.replace(CHANNEL, band_limit=0.0, equalize=0.0))),
    "noise": ("no additive noise", Augmentation(channel=dataclasses.replace(CHANNEL, noise=0.0))),
    "speed": ("no speed perturbation", Augmentation(speeds=(1.0,))),
    "an4": ("without AN4's training speakers", Augmentation(with_an4=False)),
    "specaugment": ("no SpecAugment (nor frequency warp)", Augmentation()),
}


def ablations(config: ExperimentConfig, corpora: Corpora, held_out: set[str], speakers: list[str], exp: Path,
              args) -> str:  # noqa: ANN001
    """What each augmentation earns: fold 0 with everything, then retrained without each part in turn."""
    train_speakers = [s for s in speakers if s not in held_out]
    no_specaugment = dataclasses.replace(config, train=dataclasses.replace(config.train, spec_augment=False))
    runs = [("everything (fold 0)", config, Augmentation(), exp / "fold0")]
    for key in args.ablations or list(ABLATIONS):
        label, augmentation = ABLATIONS[key]
        runs.append((label, no_specaugment if key == "specaugment" else config, augmentation,
                     exp / f"ablation_{key}"))
    rows = []
    for name, run_config, augmentation, folder in runs:
        scores = train_and_test(run_config, corpora, train_speakers, held_out, folder, args, augmentation)
        rows.append(score_row(name, scores, "beam+lexicon+LM"))
    return ("\n## Ablations on fold 0\n\nEach row retrains fold 0 with one change (beam + lexicon + LM).\n\n"
            + markdown_table(SCORE_HEADERS, rows))


def mean(values: Sequence[float | None]) -> float | None:
    """The mean of the folds that ran that test set (``None`` where none did)."""
    present = [value for value in values if value is not None]
    return sum(present) / len(present) if present else None


def final_model(config: ExperimentConfig, corpora: Corpora, exp: Path, args) -> str:  # noqa: ANN001
    """Stage 3: every speaker; the decoding chosen on AN4's validation speakers is stored in the model."""
    speakers = corpora.speakers("fsdd") + corpora.speakers("hd_digits")
    folder = exp / "final"
    recordings = [u for u in corpora.digits if u.speaker in speakers]
    train_set = training_set(recordings, folder, config.features.sample_rate, args.connected, Augmentation(),
                             SEED_TRAIN_DATA, extra=corpora.an4_train + corpora.an4_test)
    lm_path = write_lm(train_set, folder)
    result = train(config, train_set, corpora.an4_valid or None, folder, resume=True)
    recognizer = load_model(result.best_model)
    beam, rows = (choose_decoding(recognizer, corpora.an4_valid, BEAM_CHOICES, DIGIT_WORDS, lm_path)
                  if corpora.an4_valid else (BEAM_CHOICES[2], []))
    recognizer.with_default_decoding(beam.overridden(lexicon=DIGIT_WORDS, lm=lm_path)).save(exp / "model.pt")
    export_onnx(exp / "model.pt", exp / "model.onnx")
    for plot in ("loss.png", "error_rates.png"):
        shutil.copyfile(folder / plot, exp / plot)
    return ("## Final model\n\nTrained on all "
            f"{len(speakers)} speakers of FSDD and Heidelberg Digits and AN4's "
            f"{len({u.speaker for u in corpora.an4_train + corpora.an4_test})} training and test speakers "
            f"({len(train_set)} utterances with the simulated channels and connected strings); validated on AN4's "
            f"{len({u.speaker for u in corpora.an4_valid})} validation speakers, on which the stored decoding was "
            "chosen:\n\n" + markdown_table(["beam", "LM weight", "word score", "AN4 validation WER"], rows)
            + f"\nStored in `{exp / 'model.pt'}` and `{exp / 'model.onnx'}`: beam {beam.beam_size}, LM weight "
            f"{beam.lm_weight}, word score {beam.word_score}, the ten-word lexicon and the bigram LM.\n\n"
            "![training and validation loss](loss.png)\n![validation WER and CER](error_rates.png)\n")


def export_onnx(model: Path, output: Path) -> None:
    from asr.onnx_export import export_onnx as export

    export(load_model(model), output)


def main() -> int:
    parser = recipe_parser(__doc__, HERE / "config.toml", stages=STAGES,
                           data_help="folder holding fsdd/, hd_digits/ and (optionally) an4/")
    parser.add_argument("--full", action="store_true",
                        help="the packaged model: full.toml (unless --config) and 2000 connected strings")
    parser.add_argument("--connected", type=int, default=None,
                        help="connected training strings per model (default 600; 2000 with --full)")
    parser.add_argument("--connected-test", type=int, default=100, help="connected test strings per corpus")
    parser.add_argument("--cross-validate", action="store_true", help="add speaker-independent folds (stage 2)")
    parser.add_argument("--folds", type=int, default=4, help="folds of --cross-validate")
    parser.add_argument("--run-folds", type=int, nargs="+", default=None, metavar="INDEX",
                        help="train and score only these folds (0-based; default all)")
    parser.add_argument("--learning-curve", type=int, nargs="*", default=[3, 6, 9],
                        help="training-speaker counts of the learning curve (with --cross-validate; default 3 6 9; "
                             "the flag alone: no curve)")
    parser.add_argument("--ablations", nargs="*", choices=list(ABLATIONS), default=None, metavar="NAME",
                        help="retrain fold 0 without each augmentation (or only the NAMEs given: "
                             f"{', '.join(ABLATIONS)})")
    parser.add_argument("--skip-final", action="store_true", help="stop after the cross-validation")
    args = parser.parse_args()
    if args.full and args.config == str(HERE / "config.toml"):
        args.config = str(HERE / "full.toml")
    if args.connected is None:
        args.connected = FULL_STRINGS if args.full else DEFAULT_STRINGS
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    stages = Stages.from_args(args)
    exp = Path(args.exp_dir)
    config = load_config(args.config, args.set)
    started = time.time()

    data_dir = require_data_dir(args.data_dir, EXPECTED, ["fsdd/recordings/[0-9]_*_*.wav", "fsdd/[0-9]_*_*.wav"])
    require_data_dir(data_dir / "hd_digits", EXPECTED, ["**/*.flac"], option="--data-dir's hd_digits/")
    corpora = prepare(data_dir, exp / "data", stages)
    sections = []
    if args.cross_validate and 2 in stages:
        sections.append(cross_validate(config, corpora, exp, args))
    if args.ablations is not None and 2 in stages:
        speakers = corpora.speakers("fsdd") + corpora.speakers("hd_digits")
        sections.append(ablations(config, corpora, speaker_folds(corpora, args.folds)[0], speakers, exp, args))
    if not args.skip_final and 3 in stages:
        sections.append(final_model(config, corpora, exp, args))
    if 4 not in stages:
        return 0

    text = results_header("English digits for any speaker", started) + "\n".join(sections)
    (exp / "results.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(run_recipe(main))
