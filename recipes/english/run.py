# ruff: noqa: E402
"""One English model for every task: character CTC on every shared corpus, heard through real rooms and noise.

    python recipes/english/run.py --data-dir ../shared/data --exp-dir exp/english             # within 25 minutes
    python recipes/english/run.py --data-dir ../shared/data --exp-dir exp/english-full --full  # the shipped model

On a CPU that other work shares, start either with OMP_WAIT_POLICY=PASSIVE (or --set train.threads=1): PyTorch's
spinning threads made a training step 10 times slower there (39.6 s against 4.2 s, measured).

DATA_DIR holds speechocean762/, an4/, fsdd/, hd_digits/, yesno/ and rirs_noise/, as ../shared/data does.
Stages (--stage/--stop-stage):
  1. manifests of each corpus (data_prep); whole speakers of each held out for validation (model selection and
     the decoding choice) and for a development test: speechocean762's children and adults in equal numbers (by
     spk2age), AN4 speakers drawn once, FSDD's george, Heidelberg speakers; yesno's one speaker keeps its
     customary split. The training recordings, plus copies of each through measured rooms, loudspeakers and
     recorded noise, simulated microphones and lines, and 8 kHz narrowband (asr.augment, real acoustics from
     DATA_DIR/rirs_noise less every 5th room and loudspeaker, kept for stage 4), at perturbed speeds, with up to
     2.5 s of silence or room tone before and after the words, the tone under the words too or around them only
     (PAD_SECONDS), and clips where nobody
     speaks, room tone and recorded noise with empty transcripts (NON_SPEECH_SHARE); copies already made are
     kept (--channel simulated: synthetic rooms and noise instead, and --copies 0 none, the ablations). The
     default run trains on a share of the recordings (--train-fraction), every speaker's;
  2. the BiLSTM-CTC over characters, 16 kHz log-mels, 40 ms output frames (resumes from EXP/train_state.pt);
  3. on the validation speakers: greedy, lexicon-free beam search, and lexicon-free beam search with a character
     n-gram LM of the training transcripts (open vocabulary: any spelling can come out) at several weights; the
     best decoding the model file can store is stored in EXP/model.pt, which is exported to EXP/model.onnx;
  4. EXP/results.md: WER and CER per held-out group (speechocean762 children and adults, each corpus), greedy and
     stored decoding beside the character LM and a closed-vocabulary word LM, the same speakers through 8 kHz and
     through the measured rooms no training copy used, the learning curve and the time taken.
--full trains the bigger model of full.toml on every training recording (about 3 hours on 2 cores); rerun the
same command to resume it.
"""

from __future__ import annotations

from asr.errors import require_training_packages

require_training_packages("recipes/english/run.py")  # before the imports that need PyTorch

import dataclasses
import functools
import itertools
import json
import logging
import random
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import torch

from asr.audio import load_audio, resample, write_audio
from asr.augment import ChannelConfig, RealAcoustics, simulate_channel
from asr.char_lm import build_char_lm
from asr.config import load_config
from asr.data import NON_SPEECH
from asr.decoding import Decoding
from asr.errors import AsrError
from asr.evaluate import Evaluation
from asr.inference import BaseRecognizer
from asr.lm import build_arpa, write_arpa
from asr.loading import load_model
from asr.manifest import Utterance, read_manifest, write_manifest
from asr.recipe import Stages, prepared, recipe_parser, require_data_dir, run_recipe, trained
from asr.report import Variant, epoch_curve, evaluate_variants, markdown_table, percent, results_header
from asr.scoring import score
from asr.text import normalize_text
from asr.train import train
from data_prep.an4 import prepare_an4
from data_prep.connected import make_channel_copies, make_non_speech
from data_prep.fsdd import prepare_fsdd
from data_prep.hd_digits import prepare_hd_digits
from data_prep.speechocean762 import prepare_speechocean762
from data_prep.yesno import prepare_yesno

log = logging.getLogger("english")

HERE = Path(__file__).resolve().parent
EXPECTED = ("a folder holding speechocean762/, an4/, fsdd/, hd_digits/, yesno/ (the corpora named by --corpora) "
            "and rirs_noise/, as ../shared/data does")
CONVERTERS = {"speechocean762": prepare_speechocean762, "an4": prepare_an4, "fsdd": prepare_fsdd,
              "hd_digits": prepare_hd_digits, "yesno": prepare_yesno}
STAGES = ("prepare the manifests and the real-acoustics copies", "train",
          "choose and store the decoding, export ONNX", "decode, score and write results.md")
#: speechocean762 speakers younger than this are children (its ages: 6 to 15, then 19 to 43).
ADULT_AGE = 18
#: Held out by name: george with hd_00 and hd_06 is the digits recipe's fold 0, so the two can be compared.
FSDD_TEST, HD_VALID, HD_TEST = ("george",), ("hd_10",), ("hd_00", "hd_06")
#: Isolated-digit recordings kept per held-out FSDD or Heidelberg speaker (of 280-500), drawn once: about +-3 points
#: at 95% on their word accuracy, and the decoding passes of stages 3 and 4 stay short.
HELD_OUT_DIGITS = 200
#: Seeds: the speaker draw, and the copies (copy k of shard j draws from SEED_COPIES + 100 k + j).
SEED_SPEAKERS, SEED_COPIES = 0, 300
SPEEDS = (0.9, 1.0, 1.1)
#: Lead-in and tail of each copy (seconds, each drawn): the digit corpora are cut tight around the words, and
#: the recordings people bring are not (silence or room tone around the words, asr.speech_detect's pre-roll;
#: data_prep.connected.padded: a third each silence, tone under everything, tone around the words only).
PAD_SECONDS = (0.0, 2.5)
#: Clips where nobody speaks (room tone, recorded noise; empty transcripts), per training recording: what the
#: speech detector lets through of a quiet room must come out blank, not as words.
NON_SPEECH_SHARE = 0.05
SEED_NON_SPEECH = 500
#: The channel of the copies. The synthetic room is off: measured ones replace it (the digits ablations found the
#: synthetic reverberation costing an unseen FSDD voice 5 points); band limits, 8 kHz narrowband and mu-law
#: make the telephone-band copies through which 8 kHz input still works.
CHANNEL = ChannelConfig(reverb=0.0, band_limit=0.3, equalize=0.4, noise=0.3, snr_db=(5.0, 30.0), mu_law=0.1,
                        clip=0.03, narrowband=0.25)
#: How often a copy goes through a measured room, a loudspeaker's response and a recorded noise (at this SNR).
REAL_ACOUSTICS = {"room": 0.5, "device": 0.1, "noise": 0.4, "snr_db": (3.0, 25.0)}
#: Every 5th measured room and loudspeaker response (of index.tsv's order) is held out of the copies: stage 4 puts
#: the development test's speakers through them (each in a room, one in five through the loudspeaker as well),
#: acoustics that no arm of the ablation trained on.
TEST_ROOMS_EVERY = 5
TEST_DEVICE = 0.2
SEED_TEST_ROOMS = 700
#: --channel simulated, the ablation: the same channel with synthetic rooms and noise where measured ones would be
#: (rooms as often; noise 0.4 + 0.6 * 0.3 of the time, as with real noise and its synthetic fallback).
SIMULATED = dataclasses.replace(CHANNEL, reverb=0.5, noise=0.58)
#: The beam's pruning: the 8 likeliest characters a frame, hypotheses within 15 (log) of the best. On the
#: packaged model's validation speakers it gave the same words as all 29 characters within 30 at a quarter of the
#: search's time (bench/README.md, "The search's pruning").
PRUNING = {"beam_size": 32, "beam_size_token": 8, "beam_threshold": 15.0}
#: Character-LM decodings tried on the validation speakers (lexicon-free beam search; word score: per word).
CHAR_LM_CHOICES = [Decoding.beam(**PRUNING, lm_weight=w, word_score=s) for w in (0.25, 0.5, 1.0) for s in (0.0, 1.0)]
LEXICON_FREE = Decoding.beam(**PRUNING)
#: The default run's share of the training recordings: with config.toml's two epochs it fits 25 minutes.
DEFAULT_FRACTION = 0.3
#: The closed-vocabulary reference: beam + the training words + their word 3-gram LM (no word outside them).
WORD_LM = Decoding.beam(beam_size=32, lm_weight=0.5, word_score=1.0)


def tagged(utterances: Sequence[Utterance], corpus: str) -> list[Utterance]:
    return [dataclasses.replace(u, extra={**u.extra, "corpus": corpus}) for u in utterances]


def speechocean_roles(utterances: Sequence[Utterance], valid: int, test: int) -> dict[str, str]:
    """Speaker -> role: ``valid`` and ``test`` speakers each half children, half adults (by age), drawn once."""
    ages = {u.speaker: u.extra.get("age") for u in utterances}
    if any(age is None for age in ages.values()):
        raise AsrError("speechocean762 speakers without an age (spk2age): children and adults cannot be balanced")
    roles = {}
    for children in (True, False):
        group = sorted(s for s, age in ages.items() if (age < ADULT_AGE) == children)
        random.Random(SEED_SPEAKERS).shuffle(group)
        held = (valid // 2, test // 2)
        if len(group) <= sum(held):
            raise AsrError(f"{len(group)} speechocean762 {'children' if children else 'adults'}; the split needs "
                           f"more than {sum(held)}")
        roles.update({s: "valid" if i < held[0] else "test" if i < sum(held) else "train"
                      for i, s in enumerate(group)})
    return roles


def drawn_roles(utterances: Sequence[Utterance], valid: int, test: int, corpus: str) -> dict[str, str]:
    """Speaker -> role, ``valid`` and ``test`` whole speakers drawn once, the rest training; women and men
    alternate in the draw (AN4's speaker ids begin with their gender, ``f`` or ``m``), so each role has both."""
    speakers = sorted({u.speaker for u in utterances})
    if len(speakers) < valid + test + 1:
        raise AsrError(f"{len(speakers)} {corpus} speakers found; the split needs at least {valid + test + 1}")
    random.Random(SEED_SPEAKERS).shuffle(speakers)
    by_gender = [[s for s in speakers if s[0] == g] for g in sorted({s[0] for s in speakers})]
    order = [s for group in itertools.zip_longest(*by_gender) for s in group if s is not None]
    return {s: "valid" if i < valid else "test" if i < valid + test else "train" for i, s in enumerate(order)}


def named_roles(utterances: Sequence[Utterance], valid: Sequence[str], test: Sequence[str]) -> dict[str, str]:
    return {u.speaker: "valid" if u.speaker in valid else "test" if u.speaker in test else "train"
            for u in utterances}


def test_group(utt: Utterance) -> str:
    """The results table's row an utterance of the development test belongs to."""
    corpus = utt.extra["corpus"]
    if corpus == "speechocean762":
        return "speechocean762 " + ("children" if utt.extra["age"] < ADULT_AGE else "adults")
    return corpus


def split(data_dir: Path, out: Path, stages: Stages, args) -> dict[str, list[Utterance]]:  # noqa: ANN001
    """Stage 1's manifests (or an earlier run's), every utterance tagged with its corpus, in three roles:
    ``train``, ``valid`` and ``test`` (the development test), whole speakers each."""
    sets: dict[str, list[Utterance]] = {"train": [], "valid": [], "test": []}
    for corpus in args.corpora:
        splits = prepared(stages, out / corpus, partial(CONVERTERS[corpus], data_dir / corpus, out / corpus))
        if corpus == "yesno":  # one speaker: its customary split, the test files of a voice the training heard
            sets["train"] += tagged(splits.get("train", []), corpus)
            sets["test"] += tagged(splits.get("test", []), corpus)
            continue
        utterances = tagged([u for part in splits.values() for u in part if u.text], corpus)
        if corpus == "speechocean762":
            roles = speechocean_roles(utterances, args.so762_valid, args.so762_test)
        elif corpus == "an4":
            roles = drawn_roles(utterances, args.an4_valid, args.an4_test, corpus)
        elif corpus == "fsdd":
            roles = named_roles(utterances, (), FSDD_TEST)
        else:
            roles = named_roles(utterances, HD_VALID, HD_TEST)
        for role in ("train", "valid", "test"):
            sets[role] += capped([u for u in utterances if roles[u.speaker] == role], corpus, role)
    return sets


def capped(utterances: list[Utterance], corpus: str, role: str) -> list[Utterance]:
    """A held-out digit speaker's recordings, at most :data:`HELD_OUT_DIGITS` of each (drawn once, kept in order)."""
    if role == "train" or corpus not in ("fsdd", "hd_digits"):
        return utterances
    kept = []
    for speaker in sorted({u.speaker for u in utterances}):
        own = [i for i, u in enumerate(utterances) if u.speaker == speaker]
        kept += sorted(random.Random(SEED_SPEAKERS).sample(own, min(HELD_OUT_DIGITS, len(own))))
    return [utterances[i] for i in sorted(kept)]


def check_plan(exp: Path, plan: dict[str, object], write: bool) -> None:
    """A folder holds one run: refuse to mix a default run with a --full one, or other copies and corpora."""
    path = exp / "plan.json"
    if path.is_file() and json.loads(path.read_text()) != plan:
        raise AsrError(f"this folder holds a run of another plan ({path.read_text().strip()}, now {json.dumps(plan)}):"
                       " use a new --exp-dir", exp)
    if write:
        exp.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(plan) + "\n")


def acoustic_copies(recordings: Sequence[Utterance], folder: Path, rate: int, acoustics: Path | None, copies: int,
                    make: bool) -> list[Utterance]:
    """``copies`` copies of each recording through :data:`CHANNEL` with the real acoustics of ``acoustics`` (None:
    :data:`SIMULATED` instead), at a speed from :data:`SPEEDS` (``folder/copyK/manifest.jsonl``): made now
    (``make``; a copy already complete is kept), or read."""
    made: list[Utterance] = []
    real: RealAcoustics | None = None
    for index in range(copies):
        out = folder / f"copy{index}"
        manifest = out / "manifest.jsonl"
        if manifest.is_file() and len(read_manifest(manifest)) == len(recordings):
            made += read_manifest(manifest)
            continue
        if not make:
            raise AsrError("no real-acoustics copies here: run stage 1 first", out)
        if real is None and acoustics is not None:
            real = real_acoustics(acoustics, rate)[0]
        channel = SIMULATED if acoustics is None else dataclasses.replace(CHANNEL, real=real)
        begun = time.perf_counter()
        copy = copies_in_shards(recordings, out, rate, channel, SEED_COPIES + 100 * index)
        write_manifest(manifest, copy)  # written last: a manifest means a complete copy
        made += copy
        log.info("stage 1: copy %d of %d: %d recordings (%.1f h) in %.0f s", index + 1, copies, len(copy),
                 sum(u.duration for u in copy) / 3600, time.perf_counter() - begun)
    return made


def copies_in_shards(recordings: Sequence[Utterance], out: Path, rate: int, channel: ChannelConfig, seed: int,
                     workers: int = 2) -> list[Utterance]:
    """One copy of each recording (:func:`data_prep.connected.make_channel_copies`), made in ``workers`` shards
    (``out/partJ``, seed ``seed + J``) on as many threads with one torch thread each: the effects are short
    sequential filters and FFTs, which a second intra-op thread barely speeds up and a busy CPU slows down."""
    def shard(j: int) -> list[Utterance]:
        return make_channel_copies(recordings[j::workers], out / f"part{j}", rate, channel, seed=seed + j,
                                   speeds=SPEEDS, pad_seconds=PAD_SECONDS)

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(workers) as pool:
            parts = list(pool.map(shard, range(workers)))
        return [parts[i % workers][i // workers] for i in range(len(recordings))]  # the recordings' order
    finally:
        torch.set_num_threads(threads)


def non_speech_clips(count: int, folder: Path, rate: int, acoustics: Path | None, make: bool) -> list[Utterance]:
    """``count`` clips of room tone or recorded noise with nobody speaking (:func:`make_non_speech`) through
    :data:`CHANNEL` with the real acoustics of ``acoustics`` (None: :data:`SIMULATED`): made now (``make``; kept
    when made before with the same request), or read."""
    manifest = folder / "manifest.jsonl"
    if not make:
        if not manifest.is_file():
            raise AsrError("no non-speech clips here: run stage 1 first", folder)
        return read_manifest(manifest)
    real = real_acoustics(acoustics, rate)[0] if acoustics is not None else None
    channel = SIMULATED if real is None else dataclasses.replace(CHANNEL, real=real)
    return make_non_speech(count, folder, rate, channel, SEED_NON_SPEECH)


@functools.cache
def real_acoustics(acoustics: Path, rate: int) -> tuple[RealAcoustics, RealAcoustics]:
    """The measured responses and noises of ``acoustics`` at ``rate``: ``(training, held out)``, every
    :data:`TEST_ROOMS_EVERY`-th room and loudspeaker in the second (:meth:`RealAcoustics.held_out`)."""
    return RealAcoustics.load(acoustics, rate, **REAL_ACOUSTICS).held_out(TEST_ROOMS_EVERY)


def in_held_out_rooms(utterances: Sequence[Utterance], folder: Path, rate: int, acoustics: Path) -> list[Utterance]:
    """The utterances, each through one of the measured rooms that no training copy used (and one in
    :data:`TEST_DEVICE` through the held-out loudspeaker too), as files in ``folder`` (kept when made before)."""
    manifest = folder / "manifest.jsonl"
    if manifest.is_file() and len(read_manifest(manifest)) == len(utterances):
        return read_manifest(manifest)
    held = real_acoustics(acoustics, rate)[1]
    channel = dataclasses.replace(ChannelConfig.off(), real=dataclasses.replace(
        held, device=TEST_DEVICE if held.devices else 0.0))
    made = []
    folder.mkdir(parents=True, exist_ok=True)
    for index, utt in enumerate(utterances):
        path = folder / f"{index:05d}_{utt.id}.wav"
        generator = torch.Generator().manual_seed(SEED_TEST_ROOMS + index)
        write_audio(path, simulate_channel(load_audio(utt.audio, rate), rate, channel, generator), rate)
        made.append(dataclasses.replace(utt, audio=str(path)))
    write_manifest(manifest, made)
    return made


def through_8khz(utterances: Sequence[Utterance], folder: Path, rate: int) -> list[Utterance]:
    """The utterances resampled to 8 kHz files (``folder``; kept when made before), as a telephone or an
    8 kHz recorder gives them: the model reads them back at 16 kHz, with nothing above 4 kHz."""
    manifest = folder / "manifest.jsonl"
    if manifest.is_file() and len(read_manifest(manifest)) == len(utterances):
        return read_manifest(manifest)
    made = []
    for index, utt in enumerate(utterances):
        path = folder / f"{index:05d}_{utt.id}.wav"
        folder.mkdir(parents=True, exist_ok=True)
        write_audio(path, resample(load_audio(utt.audio, rate), rate, 8000), 8000)
        made.append(dataclasses.replace(utt, audio=str(path)))
    write_manifest(manifest, made)
    return made


def language_models(train_set: Sequence[Utterance], exp: Path, char_order: int) -> tuple[Path, list[str], Path]:
    """From the training transcripts only: a character ``char_order``-gram LM (EXP/chars.arpa), and the
    training words with their word 3-gram LM (EXP/words.arpa), the closed-vocabulary reference."""
    texts = [normalize_text(u.text) for u in train_set]
    chars, words = exp / "chars.arpa", exp / "words.arpa"
    write_arpa(build_char_lm(texts, char_order), chars)
    write_arpa(build_arpa(texts, order=3), words)
    return chars, sorted({w for t in texts for w in t.split()}), words


def with_char_lm(beam: Decoding, chars: Path) -> Decoding:
    """``beam``'s settings, lexicon-free, scored by the character LM in the ARPA file ``chars``."""
    return dataclasses.replace(beam, lm_arpa=chars.read_text(encoding="utf-8"), lm_unit="char")


def choose(recognizer: BaseRecognizer, valid: Sequence[Utterance], chars: Path) -> tuple[dict[str, object], str]:
    """Validation WER of greedy, lexicon-free beam and each character-LM setting; returns the choice (the
    decoding to store: the best of them all, and the best character-LM setting) and the Markdown table."""
    rows, results = [], {}
    variants: list[tuple[str, Decoding]] = [("greedy", Decoding()), ("beam", LEXICON_FREE)]
    variants += [(f"beam+chars w{b.lm_weight} s{b.word_score}", with_char_lm(b, chars)) for b in CHAR_LM_CHOICES]
    for name, decoding in variants:
        evaluation = evaluate_variants(recognizer, valid, [(name, lambda r, d=decoding: r.with_decoding(d))])[name]
        results[name] = (evaluation.score.wer, evaluation.score.cer, decoding)
        with_lm = decoding.lm_arpa is not None
        rows.append([name, "" if decoding.method == "greedy" else decoding.beam_size,
                     decoding.lm_weight if with_lm else "", decoding.word_score if with_lm else "",
                     percent(evaluation.score.wer), percent(evaluation.score.cer)])
    stored = min(results, key=lambda n: results[n][:2])  # ties: the earlier, simpler one
    best_chars = min((n for n in results if n.startswith("beam+chars")), key=lambda n: results[n][:2])
    beam = results[best_chars][2]
    choice = {"stored": stored, "char_lm": {"beam_size": beam.beam_size, "beam_size_token": beam.beam_size_token,
                                            "beam_threshold": beam.beam_threshold, "lm_weight": beam.lm_weight,
                                            "word_score": beam.word_score}}
    return choice, markdown_table(["decoding", "beam", "LM weight", "word score", "validation WER",
                                   "validation CER"], rows)


def store_decoding(model: Path, choice: dict[str, object], exp: Path, chars: Path) -> None:
    """The chosen decoding (the character LM's text in it, where chosen) into EXP/model.pt, then EXP/model.onnx;
    the choice into EXP/decoding.json."""
    stored = str(choice["stored"])
    decoding = (Decoding() if stored == "greedy" else LEXICON_FREE if stored == "beam"
                else with_char_lm(Decoding.beam(**choice["char_lm"]), chars))
    recognizer = load_model(model).with_default_decoding(decoding)
    recognizer.save(exp / "model.pt")
    (exp / "decoding.json").write_text(json.dumps(choice, indent=2) + "\n")
    from asr.onnx_export import export_onnx  # needs the onnx package only here

    export_onnx(load_model(exp / "model.pt"), exp / "model.onnx")


def unseen_words(utterances: Sequence[Utterance], known: set[str]) -> float:
    words = [w for u in utterances for w in normalize_text(u.text).split()]
    return sum(w not in known for w in words) / max(1, len(words))


def score_groups(evaluation: Evaluation, groups: dict[str, str]) -> dict[str, tuple[float, float]]:
    """(WER, CER) per group of an evaluation of the whole development test (``groups``: id -> group)."""
    by_group: dict[str, tuple[list[str], list[str]]] = {}
    for utt_id, ref, hyp in zip(evaluation.ids, evaluation.references, evaluation.hypotheses, strict=True):
        refs, hyps = by_group.setdefault(groups[utt_id], ([], []))
        refs.append(ref)
        hyps.append(hyp)
    scores = {name: score(refs, hyps) for name, (refs, hyps) in by_group.items()}
    scores["all"] = evaluation.score
    return {name: (s.wer, s.cer) for name, s in scores.items()}


def held_out_section(recognizer: BaseRecognizer, test: Sequence[Utterance], variants: Sequence[Variant],
                     exp: Path, tag: str, known: set[str]) -> str:
    """One table: per held-out group and decoder, WER and CER; and each decoder's real-time factor."""
    groups = {u.id: test_group(u) for u in test}
    names = sorted(set(groups.values())) + ["all"]
    members = {name: [u for u in test if name == "all" or groups[u.id] == name] for name in names}
    audio_seconds = sum(u.duration for u in test)
    rows, timing = [], []
    scored = {}
    for variant in variants:
        begun = time.perf_counter()
        evaluation = evaluate_variants(recognizer, test, [variant], exp, tag)[variant[0]]
        seconds = time.perf_counter() - begun
        scored[variant[0]] = score_groups(evaluation, groups)
        timing.append([variant[0], f"{seconds:.1f} s", f"{seconds / audio_seconds:.4f}"])
    for name in names:
        for variant in variants:
            wer, cer = scored[variant[0]][name]
            rows.append([name, len({u.speaker for u in members[name]}), len(members[name]),
                         percent(unseen_words(members[name], known)), variant[0], percent(wer), percent(cer)])
    return (markdown_table(["held-out group", "speakers", "utterances", "words unseen in training", "decoder",
                            "WER", "CER"], rows)
            + f"\nDecoding time for all {len(test)} utterances ({audio_seconds / 60:.1f} minutes of audio), "
            "reading, features, network and search, on this CPU:\n\n"
            + markdown_table(["decoder", "time", "real-time factor"], timing))


def data_section(sets: dict[str, list[Utterance]], train_set: Sequence[Utterance], copies: int, channel: str) -> str:
    rows = []
    for corpus in sorted({u.extra["corpus"] for part in sets.values() for u in part}):
        cells = [corpus]
        for role in ("train", "valid", "test"):
            utts = [u for u in sets[role] if u.extra["corpus"] == corpus]
            cells.append(f"{len({u.speaker for u in utts})} / {len(utts)} / {sum(u.duration for u in utts) / 60:.1f}")
        rows.append(cells)
    hours = sum(u.duration for u in train_set) / 3600
    return ("## Data\n\nSpeakers / utterances / minutes per role (whole speakers; yesno's one speaker keeps its "
            "customary split):\n\n" + markdown_table(["corpus", "training", "validation", "development test"], rows)
            + f"\nTraining set: the training recordings, {copies} {channel}-acoustics copy(ies) of each and "
            f"{sum(bool(u.extra.get(NON_SPEECH)) for u in train_set)} clips where nobody speaks (room tone and "
            f"noise, empty transcripts), {len(train_set)} utterances, {hours:.1f} hours. Held out: whole speakers, "
            f"at most {HELD_OUT_DIGITS} "
            "recordings of each held-out FSDD and Heidelberg speaker.\n")


def main() -> int:
    parser = recipe_parser(__doc__, HERE / "config.toml", stages=STAGES,
                           data_help="folder holding the corpora and rirs_noise/ (../shared/data)")
    parser.add_argument("--full", action="store_true",
                        help="the shipped model: full.toml (unless --config), every training recording")
    parser.add_argument("--copies", type=int, default=None, help="real-acoustics copies of each training recording "
                        "(default 1)")
    parser.add_argument("--corpora", nargs="+", choices=list(CONVERTERS), default=list(CONVERTERS),
                        help="corpora of DATA_DIR to use (default all)")
    parser.add_argument("--acoustics", default=None, help="real impulse responses and noise (default DATA_DIR/"
                        "rirs_noise)")
    parser.add_argument("--channel", choices=("real", "simulated"), default="real",
                        help="the copies' rooms and noise: measured and recorded (default), or synthetic (the "
                             "ablation; --copies 0 for none)")
    parser.add_argument("--so762-valid", type=int, default=8, help="speechocean762 validation speakers (half children)")
    parser.add_argument("--so762-test", type=int, default=12, help="speechocean762 development-test speakers "
                        "(half children)")
    parser.add_argument("--an4-valid", type=int, default=4, help="AN4 validation speakers")
    parser.add_argument("--an4-test", type=int, default=4, help="AN4 development-test speakers")
    parser.add_argument("--char-lm-order", type=int, default=6, help="order of the character n-gram LM")
    parser.add_argument("--train-fraction", type=float, default=None,
                        help="train on this share of the training recordings (every speaker's), drawn once "
                             f"(default {DEFAULT_FRACTION}, so that the default run fits 25 minutes; 1 with --full)")
    args = parser.parse_args()
    if args.full and args.config == str(HERE / "config.toml"):
        args.config = str(HERE / "full.toml")
    copies = args.copies if args.copies is not None else 1
    fraction = args.train_fraction if args.train_fraction is not None else 1.0 if args.full else DEFAULT_FRACTION
    if not 0.0 < fraction <= 1.0:
        raise AsrError(f"--train-fraction must lie in (0, 1], got {fraction}")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    stages = Stages.from_args(args)
    exp = Path(args.exp_dir)
    config = load_config(args.config, args.set)
    rate = config.features.sample_rate
    started = time.time()

    data_dir = require_data_dir(args.data_dir, EXPECTED, [f"{c}/*" for c in args.corpora])
    for corpus in args.corpora:
        require_data_dir(data_dir / corpus, EXPECTED, ["*", "*/*"], option=f"--data-dir's {corpus}/")
    acoustics = Path(args.acoustics) if args.acoustics else data_dir / "rirs_noise"
    check_plan(exp, {"full": args.full, "copies": copies, "corpora": args.corpora, "fraction": fraction,
                     "channel": args.channel}, write=1 in stages)
    sets = split(data_dir, exp / "data", stages, args)
    for role, name in (("valid", "validation"), ("test", "dev_test")):  # for bench/bench_peers.py --manifest
        if 1 in stages or not (exp / "data" / f"{name}.jsonl").is_file():
            write_manifest(exp / "data" / f"{name}.jsonl", sets[role])
    if fraction < 1.0:
        drawn = random.Random(SEED_SPEAKERS).sample(range(len(sets["train"])), round(fraction * len(sets["train"])))
        sets["train"] = [sets["train"][i] for i in sorted(drawn)]
    real = args.channel == "real"
    if 1 in stages and real and copies:
        require_data_dir(acoustics, "rirs/*.flac, noise/*.flac and index.tsv, as ../shared/data/rirs_noise holds",
                         ["rirs/*.flac", "noise/*.flac"], option="--acoustics")
    train_set = sets["train"] + acoustic_copies(sets["train"], exp / "copies", rate, acoustics if real else None,
                                                copies, make=1 in stages)
    train_set += non_speech_clips(round(NON_SPEECH_SHARE * len(sets["train"])), exp / "non_speech", rate,
                                  acoustics if real else None, make=1 in stages)
    if stages.last < 2:
        return 0

    model = trained(stages, 2, lambda: train(config, train_set, sets["valid"], exp, resume=True).best_model,
                    exp / "model.pt")
    chars, words, word_lm = language_models(sets["train"], exp, args.char_lm_order)
    if 3 in stages:
        choice, table = choose(load_model(model), sets["valid"], chars)
        (exp / "decoding_choices.md").write_text(table)
        store_decoding(model, choice, exp, chars)
    if 4 not in stages:
        return 0
    if not (exp / "decoding.json").is_file():
        raise AsrError("no decoding chosen yet: run stage 3 first", exp)
    choice = json.loads((exp / "decoding.json").read_text())
    recognizer = load_model(exp / "model.pt")
    best = Decoding.beam(**choice["char_lm"])
    # greedy; the model file's own decoding; lexicon-free beam + the character LM; the closed-vocabulary reference
    variants: list[Variant] = [
        ("greedy", lambda r: r.with_greedy()), ("stored", lambda r: r.with_stored_decoding()),
        ("char-LM", lambda r: r.with_decoding(with_char_lm(best, chars))),
        ("word-LM", lambda r: r.with_beam_search(WORD_LM, lexicon=words, lm=word_lm))]
    known = set(words)
    narrow = through_8khz([u for u in sets["test"] if u.extra["corpus"] in ("speechocean762", "an4")],
                          exp / "test_8khz", rate)
    held_out = held_out_section(recognizer, sets["test"], variants, exp, "dev_test", known)
    narrowband = held_out_section(recognizer, narrow, variants[:3], exp, "dev_test_8khz", known)
    rooms = ""
    if (acoustics / "rirs").is_dir():
        reverberant = in_held_out_rooms(sets["test"], exp / "test_rooms", rate, acoustics)
        rooms = ("\n## The same speakers in rooms no training heard (measured rooms held out of the copies)\n\n"
                 f"Each development-test recording through one of the {len(real_acoustics(acoustics, rate)[1].rooms)}"
                 f" measured rooms of {acoustics} held out of every training copy (every {TEST_ROOMS_EVERY}th),"
                 f" {TEST_DEVICE:.0%} also through a held-out loudspeaker's response; no noise.\n\n"
                 + held_out_section(recognizer, reverberant, variants[:2], exp, "dev_test_rooms", known))
    text = (results_header("One English model: every shared corpus, real acoustics", started)
            + data_section(sets, train_set, copies, args.channel)
            + "\n## Held-out speakers (development test)\n\n"
            + f"Decoders: greedy; stored, the model file's own ({recognizer.stored_decoding.summary()}); char-LM, "
            f"lexicon-free beam {best.beam_size} with the character LM (weight {best.lm_weight}, word score "
            f"{best.word_score}); word-LM, the closed-vocabulary reference: beam {WORD_LM.beam_size} over the "
            f"{len(words)} training words with their 3-gram LM (weight {WORD_LM.lm_weight}, word score "
            f"{WORD_LM.word_score}), which cannot write a word it was not given.\n\n"
            + held_out
            + "\n## The same speakers through 8 kHz (speechocean762 and AN4, resampled to 8 kHz files)\n\n"
            + narrowband
            + rooms
            + "\n## Decoding chosen on the validation speakers\n\n"
            + (exp / "decoding_choices.md").read_text()
            + f"\nStored in `{exp / 'model.pt'}` and `{exp / 'model.onnx'}`: {recognizer.stored_decoding.summary()}. "
            f"The best character LM ({args.char_lm_order}-gram of the training transcripts, `{chars}`): beam "
            f"{best.beam_size}, LM weight {best.lm_weight}, word score {best.word_score} (in `decoding.json`).\n"
            + epoch_curve(exp / "metrics.jsonl", throughput=True)
            + "\n![training and validation loss](loss.png)\n![validation WER and CER](error_rates.png)\n")
    (exp / "results.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(run_recipe(main))
