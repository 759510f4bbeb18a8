"""The digits recipe's data plan: AN4's digit strings read as the model writes digits, its speakers split three
ways with no overlap, and speaker folds that hold out whole speakers of both digit corpora."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from asr.manifest import Utterance
from tests.conftest import REPO, SHARED_DATA


@pytest.fixture(scope="module")
def recipe():
    spec = importlib.util.spec_from_file_location("digits_recipe", REPO / "recipes" / "digits" / "run.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_only_pure_digit_strings_are_kept_with_oh_as_zero(recipe):
    utts = [Utterance("a.flac", text, 1.0, {"speaker": "s"}) for text in
            ("THREE THREE ONE OH ONE", "ENTER NINE ONE SIX", "YES", "", "oh seven")]
    kept = recipe.digit_strings_only(utts)
    assert [u.text for u in kept] == ["three three one zero one", "zero seven"]
    assert all(u.extra["corpus"] == "an4" for u in kept)


@pytest.fixture(scope="module")
def corpora(recipe, tmp_path_factory):
    if not all((SHARED_DATA / name).is_dir() for name in ("fsdd", "hd_digits", "an4")):
        pytest.skip("shared data not found")
    return recipe.prepare(SHARED_DATA, tmp_path_factory.mktemp("digits_data"))


def test_speakers_of_the_three_an4_roles_never_meet(corpora):
    roles = [{u.speaker for u in part} for part in (corpora.an4_valid, corpora.an4_test, corpora.an4_train)]
    assert all(roles) and not (roles[0] & roles[1] or roles[0] & roles[2] or roles[1] & roles[2])
    assert all(set(u.text.split()) <= set(recipe_words()) for u in corpora.an4_valid)


def recipe_words() -> list[str]:
    from data_prep.fsdd import DIGIT_WORDS

    return DIGIT_WORDS


def test_folds_hold_out_whole_speakers_of_both_corpora(recipe, corpora):
    fsdd, hd = corpora.speakers("fsdd"), corpora.speakers("hd_digits")
    assert len(fsdd) == 4 and len(hd) == 10
    folds = recipe.speaker_folds(corpora, 4)
    assert sorted(s for fold in folds for s in fold) == sorted(fsdd + hd)  # each speaker in exactly one fold
    for fold in folds:
        assert fold & set(fsdd) and fold & set(hd)
