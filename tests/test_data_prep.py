"""Each converter on a tiny tree in its corpus's own layout, built from real recordings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr.errors import AsrError
from asr.manifest import read_manifest
from data_prep.__main__ import main as prep_main
from data_prep.commonvoice import prepare_commonvoice
from data_prep.fsdd import prepare_fsdd
from data_prep.generic import prepare_folder, prepare_table
from data_prep.librispeech import prepare_librispeech
from data_prep.ljspeech import prepare_ljspeech
from data_prep.timit import prepare_timit
from data_prep.yesno import prepare_yesno


def copy_audio(source: Path, target: Path, fmt: str | None = None, subtype: str | None = None) -> Path:
    data, rate = sf.read(source, dtype="float32")
    target.parent.mkdir(parents=True, exist_ok=True)
    sf.write(target, data, rate, format=fmt, subtype=subtype)
    return target


def skipped(output: Path) -> list[list[str]]:
    return [line.split("\t") for line in (output / "skipped.tsv").read_text().splitlines()[1:]]


def test_librispeech(tmp_path, fsdd_dir):
    chapter = tmp_path / "corpus" / "dev-clean" / "84" / "121123"
    copy_audio(fsdd_dir / "1_george_5.wav", chapter / "84-121123-0000.flac")
    copy_audio(fsdd_dir / "2_george_5.wav", chapter / "84-121123-0001.flac")
    copy_audio(fsdd_dir / "3_george_5.wav", chapter / "84-121123-0002.flac")  # no transcript line
    (chapter / "84-121123-0000.flac").with_name("84-121123.trans.txt").write_text(
        "84-121123-0000 ONE\n84-121123-0001 TWO\n84-121123-0009 MISSING AUDIO\n")
    report = prepare_librispeech(tmp_path / "corpus", tmp_path / "out")
    utts = read_manifest(tmp_path / "out" / "dev-clean.jsonl")
    assert [(u.id, u.text, u.speaker) for u in utts] == [("84-121123-0000", "ONE", "84"),
                                                        ("84-121123-0001", "TWO", "84")]
    assert utts[0].duration == pytest.approx(sf.info(fsdd_dir / "1_george_5.wav").duration, abs=1e-3)
    reasons = {Path(p).name: r for p, r in skipped(tmp_path / "out")}
    assert "missing" in reasons["84-121123-0009.flac"] and "no line" in reasons["84-121123-0002.flac"]
    assert len(report.skipped) == 2


def test_commonvoice(tmp_path, fsdd_dir):
    root = tmp_path / "cv"
    copy_audio(fsdd_dir / "4_jackson_5.wav", root / "clips" / "a.mp3", "MP3", "MPEG_LAYER_III")
    copy_audio(fsdd_dir / "5_jackson_5.wav", root / "clips" / "b.mp3", "MP3", "MPEG_LAYER_III")
    (root / "clips" / "c.mp3").write_bytes(b"not an mp3")
    header = "client_id\tpath\tsentence\tup_votes\n"
    (root / "train.tsv").write_text(header + "s1\ta.mp3\tFour!\t2\ns1\tc.mp3\tbroken\t1\n")
    (root / "test.tsv").write_text(header + "s2\tb.mp3\tFive.\t2\ns2\tz.mp3\tgone\t0\n")
    prepare_commonvoice(root, tmp_path / "out")
    train = read_manifest(tmp_path / "out" / "train.jsonl")
    assert [(u.text, u.speaker) for u in train] == [("Four!", "s1")]
    assert train[0].duration > 0.2
    assert [u.text for u in read_manifest(tmp_path / "out" / "test.jsonl")] == ["Five."]
    assert sorted(Path(p).name for p, _ in skipped(tmp_path / "out")) == ["c.mp3", "z.mp3"]
    with pytest.raises(AsrError, match="Common Voice"):
        prepare_commonvoice(tmp_path / "out", tmp_path / "out2")


def test_ljspeech(tmp_path, fsdd_dir):
    root = tmp_path / "LJSpeech-1.1"
    copy_audio(fsdd_dir / "6_nicolas_5.wav", root / "wavs" / "LJ001-0001.wav")
    (root / "metadata.csv").write_text("LJ001-0001|Six 6|Six six\nLJ001-0002|gone|gone\nbroken line\n")
    prepare_ljspeech(root, tmp_path / "out")
    assert [u.text for u in read_manifest(tmp_path / "out" / "all.jsonl")] == ["Six six"]
    assert len(skipped(tmp_path / "out")) == 2


def test_timit_sphere(tmp_path, fsdd_dir):
    speaker = tmp_path / "timit" / "TRAIN" / "DR1" / "FCJF0"
    copy_audio(fsdd_dir / "7_yweweler_5.wav", speaker / "SA1.WAV", "NIST", "PCM_16")
    (speaker / "SA1.TXT").write_text("0 4000 Seven, please.\n")
    (speaker / "SA1.WRD").write_text("0 2000 seven\n2000 4000 please\n")
    copy_audio(fsdd_dir / "8_yweweler_5.wav", speaker / "SA2.WAV", "NIST", "PCM_16")
    (speaker / "SA2.TXT").write_text("0 4000 Eight.\n")
    copy_audio(fsdd_dir / "9_yweweler_5.wav", speaker / "SX3.WAV", "NIST", "PCM_16")  # unlabelled
    prepare_timit(tmp_path / "timit", tmp_path / "out")
    utts = read_manifest(tmp_path / "out" / "train.jsonl")
    assert [(u.id, u.text) for u in utts] == [("fcjf0_sa1", "seven please"), ("fcjf0_sa2", "Eight.")]
    assert sf.info(utts[0].audio).format == "NIST"
    assert [r for _, r in skipped(tmp_path / "out")] == ["no transcript"]


def test_fsdd_and_yesno_from_names(tmp_path, fsdd_dir, yesno_dir):
    root = tmp_path / "fsdd" / "recordings"
    for name in ("0_george_0.wav", "0_george_5.wav"):
        copy_audio(fsdd_dir / name, root / name)
    (root / "notes_here.wav").write_bytes(b"x")
    prepare_fsdd(tmp_path / "fsdd", tmp_path / "out")
    assert [u.text for u in read_manifest(tmp_path / "out" / "test.jsonl")] == ["zero"]
    assert [u.speaker for u in read_manifest(tmp_path / "out" / "train.jsonl")] == ["george"]
    assert len(skipped(tmp_path / "out")) == 1
    report = prepare_yesno(yesno_dir, tmp_path / "yn")
    assert len(report.splits["train"]) == 31 and len(report.splits["test"]) == 29
    assert report.splits["train"][0].text == "no no no no yes yes yes yes"


def test_generic_folder_and_table(tmp_path, fsdd_dir):
    folder = tmp_path / "folder"
    copy_audio(fsdd_dir / "1_jackson_9.wav", folder / "a.wav")
    (folder / "a.txt").write_text("one\n")
    copy_audio(fsdd_dir / "2_jackson_9.wav", folder / "sub" / "b.flac")
    (folder / "sub" / "b.txt").write_text("two")
    copy_audio(fsdd_dir / "3_jackson_9.wav", folder / "c.wav")  # no transcript
    prepare_folder(folder, tmp_path / "out1")
    assert sorted(u.text for u in read_manifest(tmp_path / "out1" / "all.jsonl")) == ["one", "two"]
    assert len(skipped(tmp_path / "out1")) == 1
    table = tmp_path / "folder" / "list.tsv"
    table.write_text("path\ttext\na.wav\tone\nsub/b.flac\ttwo\nmissing.wav\tthree\n")
    prepare_table(table, tmp_path / "out2")
    assert [u.text for u in read_manifest(tmp_path / "out2" / "all.jsonl")] == ["one", "two"]
    assert "file not found" in skipped(tmp_path / "out2")[0][1]
    bad = tmp_path / "bad.csv"
    bad.write_text("file,words\nx,y\n")
    with pytest.raises(AsrError, match="columns"):
        prepare_table(bad, tmp_path / "out3")


def test_command_line(tmp_path, fsdd_dir, capsys):
    root = tmp_path / "c"
    copy_audio(fsdd_dir / "1_jackson_9.wav", root / "a.wav")
    (root / "a.txt").write_text("one")
    assert prep_main(["folder", str(root), str(tmp_path / "out")]) == 0
    line = json.loads((tmp_path / "out" / "all.jsonl").read_text())
    assert line["text"] == "one"
    assert prep_main(["librispeech", str(tmp_path / "nope"), str(tmp_path / "o")]) == 2
    assert "corpus folder not found" in capsys.readouterr().err


def test_durations_come_from_headers(tmp_path):
    path = tmp_path / "long.wav"
    sf.write(path, np.zeros(8000 * 3, np.int16), 8000)
    (tmp_path / "long.txt").write_text("silence")
    report = prepare_folder(tmp_path, tmp_path / "out")
    assert report.splits["all"][0].duration == pytest.approx(3.0)


def test_hd_digits(tmp_path, fsdd_dir):

    audio = tmp_path / "hd" / "audio"
    copy_audio(fsdd_dir / "3_george_5.wav", audio / "lang-english_speaker-07_trial-2_digit-3.flac")
    copy_audio(fsdd_dir / "0_jackson_5.wav", audio / "lang-english_speaker-11_trial-0_digit-0.flac")
    copy_audio(fsdd_dir / "4_george_5.wav", audio / "lang-german_speaker-07_trial-0_digit-4.flac")
    copy_audio(fsdd_dir / "5_george_5.wav", audio / "speaker-07_digit-5.flac")
    (audio / "lang-english_speaker-07_trial-3_digit-6.flac").write_bytes(b"not audio")
    assert prep_main(["hd_digits", str(tmp_path / "hd"), str(tmp_path / "out")]) == 0
    utts = read_manifest(tmp_path / "out" / "all.jsonl")
    assert [(u.text, u.speaker, u.extra["trial"]) for u in utts] == [("three", "hd_07", 2), ("zero", "hd_11", 0)]
    reasons = {Path(p).name: r for p, r in skipped(tmp_path / "out")}
    assert "only the English part" in reasons["lang-german_speaker-07_trial-0_digit-4.flac"]
    assert "file name" in reasons["speaker-07_digit-5.flac"]
    assert reasons["lang-english_speaker-07_trial-3_digit-6.flac"]  # unreadable: skipped with its reason


def test_an4_sphere_and_flac(tmp_path, fsdd_dir):
    from data_prep.an4 import prepare_an4

    root = tmp_path / "an4"
    copy_audio(fsdd_dir / "1_george_5.wav", root / "wav" / "an4_clstk" / "fash" / "an251-fash-b.flac")
    sphere = root / "wav" / "an4_clstk" / "fash" / "cen1-fash-b.sph"
    copy_audio(fsdd_dir / "2_george_5.wav", sphere, "NIST", "PCM_16")
    copy_audio(fsdd_dir / "3_george_5.wav", root / "wav" / "an4test_clstk" / "fcaw" / "an406-fcaw-b.sph", "NIST",
               "PCM_16")
    (root / "etc").mkdir()
    (root / "etc" / "an4_train.fileids").write_text("an4_clstk/fash/an251-fash-b\nan4_clstk/fash/cen1-fash-b\n"
                                                    "an4_clstk/fash/gone-fash-b\n")
    (root / "etc" / "an4_train.transcription").write_text(
        "<s> YES </s> (an251-fash-b)\n<s> THREE THREE ONE OH ONE </s> (cen1-fash-b)\n")
    (root / "etc" / "an4_test.fileids").write_text("an4test_clstk/fcaw/an406-fcaw-b\n")
    (root / "etc" / "an4_test.transcription").write_text("<s> STOP </s> (an406-fcaw-b)\n")
    assert prep_main(["an4", str(root), str(tmp_path / "out")]) == 0
    train = read_manifest(tmp_path / "out" / "train.jsonl")
    assert [(u.id, u.text, u.speaker) for u in train] == [("an251-fash-b", "yes", "fash"),
                                                         ("cen1-fash-b", "three three one oh one", "fash")]
    assert Path(train[1].audio).suffix == ".sph"
    assert [(u.text, u.speaker) for u in read_manifest(tmp_path / "out" / "test.jsonl")] == [("stop", "fcaw")]
    assert "not found" in dict((Path(p).name, r) for p, r in skipped(tmp_path / "out"))["gone-fash-b"]
    (root / "etc" / "an4_train.transcription").write_text("YES an251-fash-b\n")
    with pytest.raises(AsrError, match="line 1"):
        prepare_an4(root, tmp_path / "out2")
