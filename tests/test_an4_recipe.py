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
