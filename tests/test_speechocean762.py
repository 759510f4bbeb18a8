"""data_prep speechocean762 on small trees it writes: the layout as shared (lists at the root, OGG audio) and
as originally distributed (train/ and test/ lists, WAVE/ audio), speaker, age and gender kept, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr.errors import AsrError
from asr.manifest import read_manifest
from data_prep.__main__ import main as prep_main
from data_prep.speechocean762 import prepare_speechocean762

RATE = 16000


def tone(path: Path, seconds: float, fmt: str = "OGG", subtype: str | None = "VORBIS") -> None:
    """A short generated recording (a 300 Hz tone at 16 kHz)."""
    t = np.arange(int(seconds * RATE)) / RATE
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, (0.3 * np.sin(2 * np.pi * 300 * t)).astype(np.float32), RATE, format=fmt, subtype=subtype)


def write_lists(folder: Path, text: str, utt2spk: str, spk2age: str, spk2gender: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in (("text", text), ("utt2spk", utt2spk), ("spk2age", spk2age), ("spk2gender", spk2gender)):
        (folder / name).write_text(content)


def shared_tree(root: Path) -> Path:
    """As ../shared/data/speechocean762: lists at the root, audio/SPEAKERnnnn/UTT.ogg."""
    tone(root / "audio" / "SPEAKER0001" / "000010011.ogg", 0.8)
    tone(root / "audio" / "SPEAKER0001" / "000010035.ogg", 1.2)
    tone(root / "audio" / "SPEAKER1027" / "010270007.ogg", 0.5)
    tone(root / "audio" / "SPEAKER1027" / "010270099.ogg", 0.5)  # in no list
    write_lists(root,
                "000010011\tWE CALL IT BEAR\n000010035\tZERO  THREE FIVE ONE\n010270007\tI'M GLAD\n"
                "010270050\tMISSING AUDIO\n",
                "000010011 0001\n000010035 0001\n010270007 1027\n010270050 1027\n",
                "0001\t6\n1027\t37\n", "0001\tm\n1027\tf\n")
    (root / "spk2utt").write_text("0001 000010011 000010035\n1027 010270007 010270050\n")
    return root


def test_the_shared_layout(tmp_path):
    report = prepare_speechocean762(shared_tree(tmp_path / "so762"), tmp_path / "out")
    utts = read_manifest(tmp_path / "out" / "train.jsonl")
    assert [(u.id, u.text, u.speaker, u.extra["age"], u.extra["gender"]) for u in utts] == [
        ("000010011", "we call it bear", "0001", 6, "m"),
        ("000010035", "zero three five one", "0001", 6, "m"),
        ("010270007", "i'm glad", "1027", 37, "f"),
    ]
    assert [round(u.duration, 2) for u in utts] == [0.8, 1.2, 0.5]
    reasons = {Path(path).name: why for path, why in report.skipped}
    assert "audio file is missing" in reasons["010270050.ogg"] and "no line" in reasons["010270099.ogg"]
    assert (tmp_path / "out" / "skipped.tsv").read_text().count("\n") == 3


def test_the_original_layout_with_train_and_test_parts(tmp_path):
    root = tmp_path / "speechocean762"
    tone(root / "WAVE" / "SPEAKER0003" / "000030012.WAV", 0.6, "WAV", "PCM_16")
    tone(root / "WAVE" / "SPEAKER0004" / "000040001.WAV", 0.7, "WAV", "PCM_16")
    write_lists(root / "train", "000030012 TOM GIVES UP BOXING\n", "000030012 0003\n", "0003 12\n", "0003 f\n")
    write_lists(root / "test", "000040001 NICE TO MEET YOU\n", "000040001 0004\n", "0004 25\n", "0004 m\n")
    assert prep_main(["speechocean762", str(root), str(tmp_path / "out")]) == 0
    train, test = (read_manifest(tmp_path / "out" / f"{split}.jsonl") for split in ("train", "test"))
    assert [(u.text, u.speaker, u.extra["age"]) for u in train] == [("tom gives up boxing", "0003", 12)]
    assert [(u.text, u.speaker, u.extra["gender"]) for u in test] == [("nice to meet you", "0004", "m")]


def test_a_wrong_folder_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "an4" / "etc").mkdir(parents=True)
    (tmp_path / "an4" / "etc" / "an4_train.transcription").write_text("<s> YES </s> (an1-fash-b)\n")
    with pytest.raises(AsrError, match="no 'text' list here nor in train/ or test/; expected speechocean762"):
        prepare_speechocean762(tmp_path / "an4", tmp_path / "out")
    assert prep_main(["speechocean762", str(tmp_path / "nowhere"), str(tmp_path / "out")]) == 2
    assert "corpus folder not found" in capsys.readouterr().err
    root = shared_tree(tmp_path / "so762")
    (root / "utt2spk").unlink()
    with pytest.raises(AsrError, match="the list utt2spk is missing"):
        prepare_speechocean762(root, tmp_path / "out")
    (root / "utt2spk").write_text("000010011 0001\n000010035\n")
    with pytest.raises(AsrError, match="line 2 is '000010035' alone"):
        prepare_speechocean762(root, tmp_path / "out")
    (root / "utt2spk").write_text("000010011 0001\n")
    (root / "spk2age").write_text("0001 six\n")
    with pytest.raises(AsrError, match="age 'six' is not a whole number"):
        prepare_speechocean762(root, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing written before the lists are valid
