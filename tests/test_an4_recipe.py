"""The AN4 recipe's data plan: whole speakers held out, three roles that never share a speaker."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from asr.errors import AsrError
from asr.manifest import Utterance
from tests.conftest import REPO


@pytest.fixture(scope="module")
def recipe():
    spec = importlib.util.spec_from_file_location("an4_recipe", REPO / "recipes" / "an4" / "run.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _utterances(speakers: int, per_speaker: int) -> list[Utterance]:
    return [Utterance(f"{s}_{i}.flac", "yes", 1.0, {"speaker": f"spk{s:02d}", "id": f"{s}_{i}"})
            for s in range(speakers) for i in range(per_speaker)]


def test_roles_hold_whole_speakers_and_every_utterance_once(recipe):
    utts = _utterances(20, 3)
    sets = recipe.split_speakers(utts, valid=4, test=5)
    speakers = {role: {u.speaker for u in part} for role, part in sets.items()}
    assert [len(speakers[r]) for r in ("valid", "dev test", "train")] == [4, 5, 11]
    assert not (speakers["valid"] & speakers["dev test"] or speakers["valid"] & speakers["train"]
                or speakers["dev test"] & speakers["train"])
    assert sorted(u.id for part in sets.values() for u in part) == sorted(u.id for u in utts)
    assert recipe.split_speakers(list(reversed(utts)), 4, 5)["valid"][0].speaker in speakers["valid"]


def test_too_few_speakers_is_a_clear_error(recipe):
    with pytest.raises(AsrError, match="3 speakers found; the split needs at least 10"):
        recipe.split_speakers(_utterances(3, 2), valid=4, test=5)


def test_lexicon_and_lm_come_from_the_training_transcripts(recipe, tmp_path):
    train = [Utterance("a.flac", "ENTER nine one", 1.0, {"speaker": "a"}),
             Utterance("b.flac", "stop", 1.0, {"speaker": "b"})]
    words, lm_path = recipe.lexicon_and_lm(train, tmp_path, order=2)
    assert words == ["enter", "nine", "one", "stop"]
    assert "\\2-grams:" in lm_path.read_text()


def test_the_recipe_end_to_end_on_a_tiny_tree_stage_by_stage(tmp_path, fsdd_dir):
    """Every stage on a tiny AN4 tree (FSDD recordings in AN4's layout; a tiny network): stage 1 alone, then
    the rest; the model stores the chosen decoding and results.md has every table."""
    import subprocess

    import soundfile as sf

    from asr.loading import load_model
    from tests.conftest import DIGITS
    from tests.test_recipes import TINY

    root = tmp_path / "an4"
    fileids, lines = [], []
    for speaker, fsdd_speaker in (("fash", "george"), ("fbbh", "jackson"), ("fcaw", "nicolas")):
        for take in range(4):
            digit = (take * 3) % 10
            utt = f"an{take}-{speaker}-b"
            data, rate = sf.read(fsdd_dir / f"{digit}_{fsdd_speaker}_{take}.wav", dtype="float32")
            target = root / "wav" / "an4_clstk" / speaker / f"{utt}.flac"
            target.parent.mkdir(parents=True, exist_ok=True)
            sf.write(target, data, rate)
            fileids.append(f"an4_clstk/{speaker}/{utt}")
            lines.append(f"<s> {DIGITS[digit].upper()} </s> ({utt})")
    (root / "etc").mkdir()
    (root / "etc" / "an4_train.fileids").write_text("\n".join(fileids) + "\n")
    (root / "etc" / "an4_train.transcription").write_text("\n".join(lines) + "\n")
    exp = tmp_path / "exp"
    command = [sys.executable, str(REPO / "recipes" / "an4" / "run.py"), "--data-dir", str(root), "--exp-dir",
               str(exp), "--valid-speakers", "1", "--test-speakers", "1", "--copies", "1",
               "--compare-lm-orders", "2", "3", *TINY]
    first = subprocess.run([*command, "--stop-stage", "1"], capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-2000:]
    assert (exp / "data" / "train.jsonl").is_file() and (exp / "train_channel0" / "manifest.jsonl").is_file()
    assert not (exp / "model.pt").exists()
    rest = subprocess.run([*command, "--stage", "2"], capture_output=True, text=True, timeout=600)
    assert rest.returncode == 0, rest.stderr[-2000:]
    results = (exp / "results.md").read_text()
    for heading in ("## Held-out speakers", "## Decoding chosen on the validation speakers", "## LM order",
                    "## Learning curve over the epochs", "| dev test | 1 | 4 | beam+lexicon+LM |", "| 2-gram |"):
        assert heading in results, heading
    model = load_model(exp / "model.pt")
    assert model.decoding.method == "beam" and sorted(model.decoding.lexicon) == sorted(
        {DIGITS[(take * 3) % 10] for take in range(4)})
    assert (exp / "model.onnx").is_file()
