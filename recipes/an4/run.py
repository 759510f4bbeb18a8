# ruff: noqa: E402
"""CMU AN4: read English from 74 speakers; whole speakers held out for validation and testing.

    python recipes/an4/run.py --data-dir ../shared/data/an4 --exp-dir exp/an4

Stages (--stage/--stop-stage):
  1. manifests (data_prep an4); the training part's speakers shuffled once and split three ways:
     validation (model selection and the decoding choice), development test (scored, never looked at
     before), training; the corpus's own test part, when DATA_DIR has it, is scored too. The training set:
     the training speakers' recordings, plus copies through simulated rooms, microphones and lines at
     perturbed speeds (asr.augment);
  2. the BiLSTM-CTC (character units); a lexicon and word n-gram LM from the training transcripts only;
  3. beam, LM weight and word score chosen on the validation speakers and stored in EXP/model.pt (so
     `transcribe --model exp/an4/model.pt a.wav` decodes with them), exported to EXP/model.onnx;
  4. EXP/results.md: greedy, beam + lexicon, beam + lexicon + LM, WER and CER per test set.
"""

from __future__ import annotations

from asr.errors import require_training_packages

require_training_packages("recipes/an4/run.py")  # before the imports that need PyTorch

import dataclasses
import logging
import random
import sys
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path

from tqdm import tqdm

from asr.augment import ChannelConfig
from asr.config import load_config
from asr.decoding import Decoding
from asr.errors import AsrError
from asr.inference import BaseRecognizer
from asr.lm import build_arpa, write_arpa
from asr.loading import load_model
from asr.manifest import Utterance, read_manifest
from asr.recipe import Stages, prepared, recipe_parser, require_data_dir, run_recipe, trained
from asr.report import choose_decoding, epoch_curve, evaluate_variants, markdown_table, percent, results_header
from asr.text import normalize_text
from asr.train import train
from data_prep.an4 import prepare_an4
from data_prep.connected import make_channel_copies

log = logging.getLogger("an4")

HERE = Path(__file__).resolve().parent
EXPECTED = ("CMU AN4 as distributed: etc/an4_train.transcription and etc/an4_train.fileids beside "
            "wav/an4_clstk/SPEAKER/ID.{flac,sph,wav}")
#: Speakers held out of training, drawn once with this seed.
SEED_SPEAKERS, SEED_COPIES = 0, 200
SPEEDS = (0.9, 1.0, 1.1)
#: Decodings tried on the validation speakers; the best is stored in the model file.
BEAM_CHOICES = [Decoding.beam(beam_size=32, lm_weight=w, word_score=s)
                for w in (0.5, 1.0, 1.5, 2.0) for s in (0.0, 1.0, 2.0)]


def split_speakers(utterances: Sequence[Utterance], valid: int, test: int) -> dict[str, list[Utterance]]:
    """Whole speakers: ``valid`` for validation, ``test`` for the development test, the rest for training."""
    speakers = sorted({u.speaker for u in utterances})
    if len(speakers) < valid + test + 1:
        raise AsrError(f"{len(speakers)} speakers found; the split needs at least {valid + test + 1}")
    random.Random(SEED_SPEAKERS).shuffle(speakers)
    roles = {s: "valid" if i < valid else "dev test" if i < valid + test else "train" for i, s in enumerate(speakers)}
    return {role: [u for u in utterances if roles[u.speaker] == role] for role in ("train", "valid", "dev test")}


STAGES = ("prepare the manifests and the simulated-channel copies", "train",
          "choose and store the decoding, export ONNX", "decode, score and write results.md")


class _WithProgress(list):
    """The recordings, iterated with a progress bar (on a terminal): making the copies takes minutes."""

    def __init__(self, items: Sequence[Utterance], desc: str) -> None:
        super().__init__(items)
        self.desc = desc

    def __iter__(self):  # noqa: ANN204
        return iter(tqdm(list.__iter__(self), total=len(self), desc=self.desc, unit="file", disable=None,
                         leave=False, mininterval=1.0))


def augmented(recordings: Sequence[Utterance], folder: Path, rate: int, copies: int, make: bool) -> list[Utterance]:
    """The recordings and ``copies`` copies of each through random simulated channels and speeds: made now
    (``make``), or read from the manifests that making them left. Making them logs each copy's start and time
    (and shows a progress bar on a terminal)."""
    made = list(recordings)
    for index in range(copies):
        out = folder / f"train_channel{index}"
        if make:
            log.info("stage 1: simulated-channel copy %d of %d: %d recordings -> %s", index + 1, copies,
                     len(recordings), out)
            begun = time.perf_counter()
            made += make_channel_copies(_WithProgress(recordings, f"channel copy {index + 1}/{copies}"), out, rate,
                                        ChannelConfig(), seed=SEED_COPIES + index, speeds=SPEEDS)
            log.info("stage 1: copy %d of %d written in %.0f s", index + 1, copies, time.perf_counter() - begun)
        elif (out / "manifest.jsonl").is_file():
            made += read_manifest(out / "manifest.jsonl")
        else:
            raise AsrError("no simulated-channel copies here: run stage 1 first", out)
    return made


def lexicon_and_lm(train_set: Sequence[Utterance], folder: Path, order: int) -> tuple[list[str], Path]:
    """The training transcripts' words, and an ``order``-gram LM of the transcripts (EXP/lm.arpa)."""
    texts = [normalize_text(u.text) for u in train_set]
    lm_path = folder / "lm.arpa"
    write_arpa(build_arpa(texts, order=order), lm_path)
    return sorted({w for t in texts for w in t.split()}), lm_path


def lm_order_section(recognizer: BaseRecognizer, train_set: Sequence[Utterance], dev_test: Sequence[Utterance],
                     words: list[str], beam: Decoding, exp: Path, orders: Sequence[int]) -> str:
    """Beam + lexicon + an LM of each order (from the training transcripts), on the development test speakers,
    with the stored beam settings: what the LM's order earns."""
    if not orders:
        return ""
    texts = [normalize_text(u.text) for u in train_set]
    rows = []
    for order in orders:
        lm_path = exp / f"lm_order{order}.arpa"
        write_arpa(build_arpa(texts, order=order), lm_path)
        variant = (f"{order}-gram", partial(with_lm, beam=beam, words=words, lm=lm_path))
        evaluation = evaluate_variants(recognizer, dev_test, [variant])[variant[0]]
        rows.append([f"{order}-gram", percent(evaluation.score.wer), percent(evaluation.score.cer)])
    return ("\n## LM order (development test speakers, stored beam settings)\n\n"
            + markdown_table(["word LM", "WER", "CER"], rows))


def with_lm(recognizer: BaseRecognizer, beam: Decoding, words: list[str], lm: Path) -> BaseRecognizer:
    return recognizer.with_beam_search(beam, lexicon=words, lm=lm)


def main() -> int:
    parser = recipe_parser(__doc__, HERE / "config.toml", data_help="the AN4 folder (etc/, wav/)", stages=STAGES)
    parser.add_argument("--valid-speakers", type=int, default=8, help="speakers held out for validation")
    parser.add_argument("--test-speakers", type=int, default=8, help="speakers held out for the development test")
    parser.add_argument("--copies", type=int, default=2, help="simulated-channel copies of each training recording")
    parser.add_argument("--lm-order", type=int, default=3, help="order of the word n-gram LM")
    parser.add_argument("--compare-lm-orders", type=int, nargs="*", default=[2, 3, 4], metavar="N",
                        help="LM orders scored on the development test speakers in results.md (none to skip)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    stages = Stages.from_args(args)
    exp = Path(args.exp_dir)
    config = load_config(args.config, args.set)
    rate = config.features.sample_rate
    started = time.time()

    data_dir = require_data_dir(args.data_dir, EXPECTED, "etc/an4_train.transcription")
    if 1 in stages:
        log.info("stage 1: reading the AN4 manifests from %s", data_dir)
    splits = prepared(stages, exp / "data", lambda: prepare_an4(data_dir, exp / "data"))
    sets = split_speakers([u for u in splits.get("train", []) if u.text], args.valid_speakers, args.test_speakers)
    tests = {"valid": sets["valid"], "dev test": sets["dev test"]}
    if splits.get("test"):
        tests["AN4 test"] = splits["test"]
    train_set = augmented(sets["train"], exp, rate, args.copies, make=1 in stages)
    words, lm_path = lexicon_and_lm(sets["train"], exp, args.lm_order)
    if stages.last < 2:
        return 0

    # The best checkpoint is the training's model.pt, which stage 3 rewrites with its decoding.
    model = trained(stages, 2, lambda: train(config, train_set, sets["valid"], exp, resume=True).best_model,
                    exp / "model.pt")
    if 3 in stages:
        recognizer = load_model(model)
        beam, choice_rows = choose_decoding(recognizer, sets["valid"], BEAM_CHOICES, words, lm_path)
        recognizer.with_default_decoding(beam.overridden(lexicon=words, lm=lm_path)).save(exp / "model.pt")
        (exp / "decoding_choices.md").write_text(
            markdown_table(["beam", "LM weight", "word score", "validation WER"], choice_rows))
        from asr.onnx_export import export_onnx  # needs the onnx package only here

        export_onnx(load_model(exp / "model.pt"), exp / "model.onnx")
    if 4 not in stages:
        return 0
    recognizer = load_model(model)
    if recognizer.stored_decoding.method != "beam":
        raise AsrError("the model has no stored decoding yet: run stage 3 first", model)
    beam = dataclasses.replace(recognizer.stored_decoding, lexicon=None, lm_arpa=None)  # every setting but these

    variants = [("greedy", lambda r: r.with_greedy()),
                ("beam+lexicon", lambda r: r.with_beam_search(beam, lexicon=words)),
                ("beam+lexicon+LM", lambda r: r.with_beam_search(beam, lexicon=words, lm=lm_path))]
    rows = []
    for name, utterances in tests.items():
        for variant in variants:
            begun = time.perf_counter()
            evaluation = evaluate_variants(recognizer, utterances, [variant], exp, name.replace(" ", "_"))[variant[0]]
            per_100 = (time.perf_counter() - begun) * 100 / len(utterances)
            rows.append([name, len({u.speaker for u in utterances}), len(utterances), variant[0],
                         percent(evaluation.score.wer), percent(evaluation.score.cer), f"{per_100:.1f} s"])

    text = (results_header("CMU AN4", started) +
            f"Training: {len(sets['train'])} recordings of {len({u.speaker for u in sets['train']})} speakers, "
            f"{len(train_set)} utterances with {args.copies} simulated-channel copies each; lexicon of "
            f"{len(words)} words and a {args.lm_order}-gram LM from the training transcripts only.\n\n"
            "## Held-out speakers\n\n"
            + markdown_table(["test set", "speakers", "utterances", "decoder", "WER", "CER",
                              "time per 100 utterances"], rows)
            + "\n(Time: reading, features, network and search of the whole set on this CPU, per 100 utterances.)\n"
            + lm_order_section(recognizer, sets["train"], tests["dev test"], words, beam, exp, args.compare_lm_orders)
            + epoch_curve(exp / "metrics.jsonl")
            + "\n## Decoding chosen on the validation speakers\n\n"
            + (exp / "decoding_choices.md").read_text()
            + f"\nStored in `{exp / 'model.pt'}` and `{exp / 'model.onnx'}`: beam {beam.beam_size}, LM weight "
            f"{beam.lm_weight}, word score {beam.word_score}, the lexicon and the LM.\n\n"
            "![training and validation loss](loss.png)\n![validation WER and CER](error_rates.png)\n")
    (exp / "results.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(run_recipe(main))
