"""FSDD spoken digits, speaker-independent: isolated and connected digits from unseen voices.

    python recipes/fsdd/run.py --data-dir ../shared/data/fsdd --exp-dir exp/fsdd

Stages: (1) manifests from the corpus; (2) for each speaker, train on the others (isolated recordings
plus connected strings built from them with speed, gain and noise variation) and test on the held-out
speaker, greedy / beam + lexicon / beam + lexicon + bigram LM; then adapt that model to the held-out
speaker without transcripts (pseudo-labels on takes 25-49) and test both models on takes 0-24;
(3) the final model on every speaker, written to EXP/model.pt; (4) EXP/results.md.
"""

from __future__ import annotations

import logging
import shutil
import sys
import time
from pathlib import Path

from asr.adapt import AdaptConfig, adapt
from asr.config import load_config
from asr.decode import BeamSearchConfig
from asr.lm import build_arpa, write_arpa
from asr.loading import load_model
from asr.manifest import Utterance
from asr.recipe import recipe_parser, require_data_dir, run_recipe
from asr.report import evaluate_variants, markdown_table, percent, provenance
from asr.train import train
from data_prep.connected import ConnectedConfig, make_connected
from data_prep.fsdd import DIGIT_WORDS, is_test_index, prepare_fsdd, recording_index

HERE = Path(__file__).resolve().parent
TRAIN_CONNECTED = ConnectedConfig(min_words=1, max_words=6, speeds=(0.85, 0.9, 0.95, 1.0, 1.05, 1.1, 1.15),
                                  gain_db=(-6.0, 0.0), snr_db=(15.0, 40.0))
TEST_CONNECTED = ConnectedConfig(min_words=3, max_words=7)
BEAM = BeamSearchConfig(beam_size=16, lm_weight=0.5, word_score=0.0)
ADAPT_CONNECTED = ConnectedConfig(min_words=1, max_words=6, speeds=(0.9, 1.0, 1.1), gain_db=(-6.0, 0.0),
                                  snr_db=(15.0, 40.0))
EXPECTED = ("the Free Spoken Digit Dataset: a folder holding recordings/ with files named DIGIT_SPEAKER_TAKE.wav, "
            "such as 3_george_17.wav")


def main() -> int:
    parser = recipe_parser(__doc__, HERE / "config.toml", data_help="FSDD folder (with recordings/)")
    parser.add_argument("--connected-per-fold", type=int, default=1000, help="connected training utterances")
    parser.add_argument("--connected-test", type=int, default=100, help="connected test utterances per speaker")
    parser.add_argument("--adapt-rounds", type=int, default=2,
                        help="rounds of unsupervised adaptation to each held-out speaker (0 to skip)")
    parser.add_argument("--holdout", nargs="*", default=None,
                        help="speakers to hold out in turn (default: every speaker; none to skip)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    exp = Path(args.exp_dir)
    config = load_config(args.config, args.set)
    rate = config.features.sample_rate
    started = time.time()

    # Stage 1: manifests.
    data_dir = require_data_dir(args.data_dir, EXPECTED, ["recordings/[0-9]_*_*.wav", "[0-9]_*_*.wav"])
    report = prepare_fsdd(data_dir, exp / "data")
    recordings = [u for split in report.splits.values() for u in split]
    speakers = sorted({u.speaker for u in recordings})
    holdout = speakers if args.holdout is None else args.holdout
    lexicon = DIGIT_WORDS

    def build_sets(train_speakers: list[str], folder: Path, seed: int):
        pool = [u for u in recordings if u.speaker in train_speakers]
        fit = [u for u in pool if not is_test_index(u.id)]
        held = [u for u in pool if is_test_index(u.id)]  # unseen recordings for model selection
        connected = make_connected(fit, args.connected_per_fold, folder / "train_connected", rate,
                                   TRAIN_CONNECTED, seed=seed)
        valid = held + make_connected(held, 100, folder / "valid_connected", rate, TEST_CONNECTED, seed=seed + 1)
        lm_path = folder / "digits.arpa"
        write_arpa(build_arpa([u.text for u in connected], order=2), lm_path)
        return fit + connected, valid, lm_path

    def variants(lm_path: Path):
        return [("greedy", lambda r: r.use_greedy()),
                ("beam+lexicon", lambda r: r.use_beam_search(BEAM, lexicon=lexicon)),
                ("beam+lexicon+LM", lambda r: r.use_beam_search(BEAM, lexicon=lexicon, lm=lm_path))]

    def accuracy(evaluation) -> float:  # noqa: ANN001
        pairs = zip(evaluation.references, evaluation.hypotheses, strict=True)
        return sum(r == h for r, h in pairs) / len(evaluation.references)

    def adapted_rows(speaker: str, isolated: list, model_path: Path, fold: Path, lm_path: Path) -> list[list]:
        """Adapt to ``speaker`` on takes 25-49 (their transcripts unused), score before and after on takes 0-24."""
        unlabelled = [Utterance(u.audio, "", u.duration, u.extra) for u in isolated if recording_index(u.id) >= 25]
        test_iso = [u for u in isolated if recording_index(u.id) < 25]
        test_con = make_connected(test_iso, args.connected_test, fold / "adapt_test_connected", rate, TEST_CONNECTED,
                                  seed=998)
        rows = []
        for label, recognizer in (("speaker-independent", load_model(model_path)), ("adapted", None)):
            if recognizer is None:
                recognizer = load_model(model_path).use_beam_search(BEAM, lexicon=lexicon)
                # 4 epochs and 200 strings per round keep the whole recipe within its 20 minutes
                adapt(recognizer, unlabelled, AdaptConfig(rounds=args.adapt_rounds, epochs=4),
                      expand=lambda kept, r: make_connected(kept, 200, fold / f"adapt_connected_{r}", rate,
                                                            ADAPT_CONNECTED, seed=200 + r))
                recognizer.save(fold / "adapted.pt")
            chosen = variants(lm_path)[:2]
            iso = evaluate_variants(recognizer, test_iso, chosen, fold, f"half_isolated.{label}")
            con = evaluate_variants(recognizer, test_con, chosen, fold, f"half_connected.{label}")
            for name in iso:
                rows.append([speaker, label, name, accuracy(iso[name]), con[name].score.wer])
                logging.info("held-out %s, %s, %s (takes 0-24): isolated accuracy %s, connected %s", speaker, label,
                             name, percent(accuracy(iso[name])), con[name].score.summary())
        return rows

    # Stage 2: leave one speaker out.
    rows, sums, adaptation = [], {}, []
    for index, speaker in enumerate(holdout):
        fold = exp / f"heldout_{speaker}"
        train_set, valid_set, lm_path = build_sets([s for s in speakers if s != speaker], fold, seed=100 + index)
        result = train(config, train_set, valid_set, fold, resume=True)
        recognizer = load_model(result.best_model)
        isolated = [u for u in recordings if u.speaker == speaker]
        connected = make_connected(isolated, args.connected_test, fold / "test_connected", rate, TEST_CONNECTED,
                                   seed=999)
        iso = evaluate_variants(recognizer, isolated, variants(lm_path), fold, "isolated")
        con = evaluate_variants(recognizer, connected, variants(lm_path), fold, "connected")
        int8 = load_model(result.best_model).quantize()
        iso.update(evaluate_variants(int8, isolated, [("greedy int8", lambda r: r.use_greedy())], fold, "isolated"))
        con.update(evaluate_variants(int8, connected, [("greedy int8", lambda r: r.use_greedy())], fold,
                                     "connected"))
        for name in iso:
            wer = con[name].score.wer
            rows.append([speaker, name, percent(accuracy(iso[name])), percent(wer), percent(con[name].score.cer)])
            sums.setdefault(name, []).append((accuracy(iso[name]), wer))
            logging.info("held-out %s, %s: isolated accuracy %s, connected %s", speaker, name,
                         percent(accuracy(iso[name])), con[name].score.summary())
        if args.adapt_rounds > 0:
            adaptation += adapted_rows(speaker, isolated, result.best_model, fold, lm_path)
    for name, values in sums.items():
        rows.append(["**mean**", name, percent(sum(a for a, _ in values) / len(values)),
                     percent(sum(w for _, w in values) / len(values)), ""])

    adaptation_table = ""
    if adaptation:
        means = {}
        for _, label, name, acc, wer in adaptation:
            means.setdefault((label, name), []).append((acc, wer))
        table_rows = [[who, label, name, percent(acc), percent(wer)] for who, label, name, acc, wer in adaptation]
        table_rows += [["**mean**", label, name, percent(sum(a for a, _ in v) / len(v)),
                        percent(sum(w for _, w in v) / len(v))] for (label, name), v in means.items()]
        adaptation_table = (
            "\n## Unsupervised adaptation to the held-out speaker\n\n"
            f"Each fold's model, adapted with `asr.adapt` (rounds: {args.adapt_rounds}, 4 epochs each): beam search "
            "with the "
            "lexicon transcribes the held-out speaker's takes 25-49 (their transcripts are never read), the 80% "
            "most confident become pseudo-labels, and the network is fine-tuned on them plus connected strings "
            "joined from them. Both models are scored on takes 0-24 (isolated recordings, and "
            f"{args.connected_test} connected strings of them), which the adaptation never touched.\n\n"
            + markdown_table(["held-out speaker", "model", "decoder", "isolated accuracy", "connected WER"],
                             table_rows))

    # Stage 3: the final model on every speaker.
    final_train, final_valid, final_lm = build_sets(speakers, exp / "final", seed=7)
    result = train(config, final_train, final_valid, exp / "final", resume=True)
    load_model(result.best_model).save(exp / "model.pt")
    (exp / "digits.arpa").write_bytes(final_lm.read_bytes())
    (exp / "lexicon.txt").write_text("\n".join(lexicon) + "\n")
    for plot in ("loss.png", "error_rates.png"):
        shutil.copyfile(exp / "final" / plot, exp / plot)

    # Stage 4: results.
    minutes = (time.time() - started) / 60
    command = " ".join(["python", "recipes/fsdd/run.py", *sys.argv[1:]])
    text = (f"# FSDD spoken digits, speaker-independent\n\n{provenance()}; {minutes:.1f} minutes on this machine.\n\n"
            f"Command: `{command}`\n\n"
            "Each row: trained on the other speakers (isolated recordings + connected strings built from them), "
            f"tested on all the held-out speaker's isolated recordings and {args.connected_test} connected "
            "strings of 3-7 digits built from that speaker's recordings.\n\n"
            + markdown_table(["held-out speaker", "decoder", "isolated accuracy", "connected WER", "connected CER"],
                             rows)
            + adaptation_table
            + f"\nFinal model (all speakers): `{exp / 'model.pt'}`, with `digits.arpa` and `lexicon.txt`.\n"
            "Error reports (confusions, alignments worst first): `heldout_SPEAKER/{isolated,connected}.DECODER"
            ".errors.md`,\nand for the adaptation table `heldout_SPEAKER/half_{isolated,connected}.MODEL.DECODER"
            ".errors.md`.\n\nTraining of the final model (validation: held-back recordings of the same speakers):\n\n"
            "![training and validation loss](loss.png)\n![validation WER and CER](error_rates.png)\n")
    (exp / "results.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(run_recipe(main))
