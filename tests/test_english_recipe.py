"""The English recipe end to end on a tiny generated tree of all five corpora and real acoustics, stage by stage;
its speaker split; and the character-LM decoder it measures (asr.char_lm)."""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr.errors import AsrError
from asr.manifest import Utterance, read_manifest
from tests.conftest import DIGITS, REPO

TINY = ["--set", "model.hidden_size=16", "--set", "model.num_layers=1", "--set", "train.epochs=1",
        "--set", "features.n_mels=20", "--set", "train.threads=2", "--set", "train.max_batch=8"]


@pytest.fixture(scope="module")
def recipe():
    spec = importlib.util.spec_from_file_location("english_recipe", REPO / "recipes" / "english" / "run.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def clip(fsdd_dir: Path, digit: int, take: int) -> tuple[np.ndarray, int]:
    return sf.read(fsdd_dir / f"{digit}_jackson_{take}.wav", dtype="float32")


def write(path: Path, data: np.ndarray, rate: int, fmt: str | None = None, subtype: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, data, rate, format=fmt, subtype=subtype)


def tiny_tree(root: Path, fsdd_dir: Path) -> Path:
    """Every corpus in its own layout, from short FSDD recordings (transcripts their digit words), and a
    rirs_noise/ of two generated responses and a hum."""
    takes = itertools.count(10)
    # speechocean762: three children and three adults, two OGG utterances each
    lines = {"text": [], "utt2spk": [], "spk2age": [], "spk2gender": []}
    for number, age in enumerate((7, 9, 12, 21, 25, 30), 1):
        speaker = f"{number:04d}"
        lines["spk2age"].append(f"{speaker}\t{age}")
        lines["spk2gender"].append(f"{speaker}\t{'mf'[number % 2]}")
        for index in range(2):
            digit, utterance = (number + index) % 10, f"{number:04d}{index:05d}"
            write(root / "speechocean762" / "audio" / f"SPEAKER{speaker}" / f"{utterance}.ogg",
                  *clip(fsdd_dir, digit, next(takes)), "OGG", "VORBIS")
            lines["text"].append(f"{utterance}\t{DIGITS[digit].upper()}")
            lines["utt2spk"].append(f"{utterance} {speaker}")
    for name, content in lines.items():
        (root / "speechocean762" / name).write_text("\n".join(content) + "\n")
    # AN4: three speakers
    fileids, transcription = [], []
    for speaker in ("fash", "fbbh", "fcaw"):
        for index in range(2):
            digit, utterance = (len(fileids) * 3) % 10, f"an{index}-{speaker}-b"
            write(root / "an4" / "wav" / "an4_clstk" / speaker / f"{utterance}.flac",
                  *clip(fsdd_dir, digit, next(takes)))
            fileids.append(f"an4_clstk/{speaker}/{utterance}")
            transcription.append(f"<s> {DIGITS[digit].upper()} </s> ({utterance})")
    (root / "an4" / "etc").mkdir(parents=True)
    (root / "an4" / "etc" / "an4_train.fileids").write_text("\n".join(fileids) + "\n")
    (root / "an4" / "etc" / "an4_train.transcription").write_text("\n".join(transcription) + "\n")
    # FSDD: george (held out) and jackson; Heidelberg: the three held-out speakers and one to train on
    for speaker in ("george", "jackson"):
        for digit in (1, 4):
            write(root / "fsdd" / "recordings" / f"{digit}_{speaker}_7.wav", *clip(fsdd_dir, digit, next(takes)))
    for speaker in ("00", "01", "06", "10"):
        for digit in (2, 8):
            write(root / "hd_digits" / "audio" / f"lang-english_speaker-{speaker}_trial-0_digit-{digit}.flac",
                  *clip(fsdd_dir, digit, next(takes)))
    # yesno: 33 files (its converter trains on the first 31), eight labels each as in the corpus
    data, rate = clip(fsdd_dir, 0, 1)
    for labels in itertools.islice(itertools.product("01", repeat=8), 0, 256, 7):
        write(root / "yesno" / f"{'_'.join(labels)}.wav", np.tile(data, 3)[: int(2.0 * rate)], rate)
    # real acoustics: two rooms (one with leading silence), a device response, a hum
    acoustics = root / "rirs_noise"
    rng = np.random.default_rng(0)
    for name, delay, seconds in (("room_a", 0, 0.1), ("room_b", 200, 0.2), ("phone", 3, 0.003)):
        tail = rng.standard_normal(int(seconds * 16000)) * np.exp(-np.arange(int(seconds * 16000)) / 400) * 0.1
        write(acoustics / "rirs" / f"{name}.flac", np.concatenate([np.zeros(delay), [0.9], tail]), 16000)
    write(acoustics / "noise" / "hum.flac", 0.1 * np.sin(np.arange(16000) * 2 * np.pi * 100 / 16000), 16000)
    (acoustics / "index.tsv").write_text("path\tkind\nrirs/room_a.flac\troom\nrirs/room_b.flac\troom\n"
                                         "rirs/phone.flac\tdevice\nnoise/hum.flac\tnoise\n")
    return root


def _speakers(ages: dict[str, int], per_speaker: int = 2) -> list[Utterance]:
    return [Utterance(f"{s}_{i}.ogg", "yes", 1.0, {"speaker": s, "id": f"{s}_{i}", "age": age,
                                                    "corpus": "speechocean762"})
            for s, age in ages.items() for i in range(per_speaker)]


def test_speechocean762_roles_are_whole_speakers_half_children(recipe):
    ages = {f"{n:04d}": age for n, age in enumerate([6, 7, 8, 9, 10, 11, 13, 15, 19, 21, 24, 27, 30, 33, 40, 43])}
    roles = recipe.speechocean_roles(_speakers(ages), valid=4, test=4)
    for role in ("valid", "test"):
        held = [s for s, r in roles.items() if r == role]
        assert len(held) == 4 and sum(ages[s] < recipe.ADULT_AGE for s in held) == 2
    assert sorted(roles) == sorted(ages)
    assert roles == recipe.speechocean_roles(list(reversed(_speakers(ages))), valid=4, test=4)  # drawn once
    with pytest.raises(AsrError, match="8 speechocean762 children; the split needs more than 8"):
        recipe.speechocean_roles(_speakers(ages), valid=8, test=8)
    no_age = _speakers({"0001": 9})
    for utt in no_age:
        del utt.extra["age"]
    with pytest.raises(AsrError, match="without an age"):
        recipe.speechocean_roles(no_age, 2, 2)


def test_an4_roles_are_whole_speakers_women_and_men_alike(recipe):
    names = [f"f{c}" for c in "abcdef"] + [f"m{c}" for c in "abcdefghijkl"]
    utts = [Utterance(f"{s}_{i}.flac", "yes", 1.0, {"speaker": s, "id": f"{s}_{i}"}) for s in names for i in range(2)]
    roles = recipe.drawn_roles(utts, valid=4, test=4, corpus="an4")
    for role in ("valid", "test"):
        assert sorted(s[0] for s, r in roles.items() if r == role) == ["f", "f", "m", "m"]
    with pytest.raises(AsrError, match="3 an4 speakers found; the split needs at least 9"):
        recipe.drawn_roles(utts[:6], valid=4, test=4, corpus="an4")


def test_a_folder_holds_one_plan(recipe, tmp_path):
    recipe.check_plan(tmp_path, {"full": False, "copies": 1}, write=True)
    recipe.check_plan(tmp_path, {"full": False, "copies": 1}, write=False)
    with pytest.raises(AsrError, match="use a new --exp-dir"):
        recipe.check_plan(tmp_path, {"full": True, "copies": 2}, write=True)


def test_the_recipe_end_to_end_on_a_tiny_tree_stage_by_stage(recipe, tmp_path, fsdd_dir):
    """Stage 1 alone (manifests, speaker roles, a real-acoustics copy), then the rest: the model stores an
    open-vocabulary decoding, model.onnx is written, results.md has every held-out group and table."""
    from types import SimpleNamespace

    from asr.loading import load_model
    from asr.recipe import Stages

    root, exp = tiny_tree(tmp_path / "data", fsdd_dir), tmp_path / "exp"
    command = [sys.executable, str(REPO / "recipes" / "english" / "run.py"), "--data-dir", str(root), "--exp-dir",
               str(exp), "--so762-valid", "2", "--so762-test", "2", "--an4-valid", "1", "--an4-test", "1",
               "--train-fraction", "1", *TINY]
    # sleeping, not spinning, OpenMP threads: on a CPU that other work shares, spinning made the run 3 times slower
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    first = subprocess.run([*command, "--stop-stage", "1"], capture_output=True, text=True, timeout=300, env=env)
    assert first.returncode == 0, first.stderr[-2000:]
    assert (exp / "copies" / "copy0" / "manifest.jsonl").is_file() and not (exp / "model.pt").exists()
    args = SimpleNamespace(corpora=list(recipe.CONVERTERS), so762_valid=2, so762_test=2, an4_valid=1, an4_test=1)
    sets = recipe.split(root, exp / "data", Stages(2, 4, recipe.STAGES), args)
    speakers = {role: {(u.extra["corpus"], u.speaker) for u in part} for role, part in sets.items()}
    assert not (speakers["train"] & speakers["valid"] or speakers["train"] & speakers["test"] - {("yesno", "yesno")})
    assert {s for c, s in speakers["test"] if c == "fsdd"} == {"george"}
    assert {s for c, s in speakers["test"] if c == "hd_digits"} == {"hd_00", "hd_06"}
    manifest = exp / "copies" / "copy0" / "manifest.jsonl"
    made = manifest.stat().st_mtime_ns
    copies = recipe.acoustic_copies(sets["train"], exp / "copies", 16000, root / "rirs_noise", 1, make=True)
    assert len(copies) == len(sets["train"]) and manifest.stat().st_mtime_ns == made  # a complete copy is kept
    simulated = recipe.acoustic_copies(sets["train"][:3], tmp_path / "simulated", 16000, None, 1, make=True)
    assert [u.text for u in simulated] == [u.text for u in sets["train"][:3]]  # --channel simulated, the ablation

    rest = subprocess.run([*command, "--stage", "2"], capture_output=True, text=True, timeout=300, env=env)
    assert rest.returncode == 0, rest.stderr[-2000:]
    results = (exp / "results.md").read_text()
    for heading in ("## Data", "## Held-out speakers (development test)", "## The same speakers through 8 kHz",
                    "## The same speakers in rooms no training heard",
                    "## Decoding chosen on the validation speakers", "## Learning curve over the epochs",
                    "| speechocean762 children | 1 | 2 |", "| speechocean762 adults | 1 | 2 |", "| an4 | 1 | 2 |",
                    "| fsdd | 1 | 2 |", "| hd_digits | 2 | 4 |", "| yesno | 1 | 6 |", "| beam+chars w0.5 s1.0 |"):
        assert heading in results, heading
    kept, held = recipe.real_acoustics(root / "rirs_noise", 16000)  # the copies never drew the test's rooms
    assert (len(kept.rooms), len(held.rooms), len(kept.devices), len(held.devices)) == (1, 1, 0, 1)
    assert len(read_manifest(exp / "test_rooms" / "manifest.jsonl")) == len(sets["test"])
    model = load_model(exp / "model.pt")
    decoding = model.decoding  # open vocabulary, whatever it chose: no lexicon, no word LM
    assert decoding.lexicon is None and (decoding.lm_arpa is None or decoding.lm_unit == "char")
    assert (exp / "model.onnx").is_file() and (exp / "chars.arpa").is_file()
    assert set(json.loads((exp / "decoding.json").read_text())["char_lm"]) == {
        "beam_size", "beam_size_token", "beam_threshold", "lm_weight", "word_score"}
