"""Text normalisation, the vocabulary, manifests and configs."""

from __future__ import annotations

import json

import pytest

from asr.config import load_config
from asr.errors import AsrError
from asr.manifest import Utterance, read_manifest, write_manifest
from asr.text import BLANK_INDEX, Vocabulary, normalize_text


@pytest.mark.parametrize(
    "raw, expected",
    [("Hello, World!", "hello world"), ("Don't  stop", "don't stop"), ("'quoted' words", "quoted words"),
     ("ÉCOLE—Été", "école été"), ("a_b\tc\n", "a b c"), ("It’s", "it's"), ("...", "")],
)
def test_normalize(raw, expected):
    assert normalize_text(raw) == expected


def test_vocabulary_round_trip_and_blank():
    vocab = Vocabulary.from_transcripts(["yes no", "don't"])
    assert vocab.tokens[BLANK_INDEX] == "<blank>"
    ids = vocab.encode("no yes")
    assert BLANK_INDEX not in ids
    assert vocab.decode(ids) == "no yes"


def test_unknown_characters_are_named():
    vocab = Vocabulary.from_transcripts(["yes no"])
    with pytest.raises(AsrError, match="'axz'"):
        vocab.encode("zax")


def test_manifest_relative_paths_and_extra_keys(tmp_path):
    (tmp_path / "audio").mkdir()
    manifest = tmp_path / "m.jsonl"
    write_manifest(manifest, [Utterance(str(tmp_path / "audio" / "a.wav"), "hi", 1.5, {"speaker": "s1"})])
    line = json.loads(manifest.read_text())
    assert line["audio"] == "audio/a.wav"
    utt = read_manifest(manifest)[0]
    assert utt.audio == str(tmp_path / "audio" / "a.wav") and utt.speaker == "s1" and utt.duration == 1.5


@pytest.mark.parametrize(
    "line, message",
    [("not json", "not valid JSON"), ("[1, 2]", "JSON object"), ('{"audio": "a.wav", "text": "x"}', "duration"),
     ('{"audio": "a.wav", "text": 3, "duration": 1}', "'text'"),
     ('{"audio": "a.wav", "text": "x", "duration": -1}', "positive"),
     ('{"audio": "", "text": "x", "duration": 1}', "'audio'")],
)
def test_malformed_manifest_lines(tmp_path, line, message):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"audio": "ok.wav", "text": "x", "duration": 1}\n' + line + "\n")
    with pytest.raises(AsrError, match=message) as info:
        read_manifest(manifest)
    assert "m.jsonl:2" in str(info.value)


def test_missing_and_empty_manifest(tmp_path):
    with pytest.raises(AsrError, match="not found"):
        read_manifest(tmp_path / "nope.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(AsrError, match="no utterances"):
        read_manifest(tmp_path / "empty.jsonl")


def test_config_file_and_overrides(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[model]\nrnn_type = "gru"\n[train]\nepochs = 3\n')
    config = load_config(path, ["train.lr=0.01", "model.bidirectional=false"])
    assert config.model.rnn_type == "gru" and config.train.epochs == 3
    assert config.train.lr == 0.01 and config.model.bidirectional is False


@pytest.mark.parametrize(
    "text, message",
    [("[modle]\n", "unknown config table"), ("[train]\nepoch = 3\n", "unknown key"),
     ('[train]\nepochs = "many"\n', "must be int"), ('[model]\nrnn_type = "transformer"\n', "rnn_type"),
     ("[train\n", "not valid TOML"), ("[model]\nsubsampling = 3\n", "subsampling")],
)
def test_bad_configs(tmp_path, text, message):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(AsrError, match=message):
        load_config(path)
