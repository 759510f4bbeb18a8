"""Outputs are checked before any work and never overwrite an input; usage mistakes, bad overrides and files that
are not models each get one ``error:`` line that says what is wrong (issue 17)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from asr.checkpoint import atomic_save, safe_load
from asr.cli import main
from asr.config import load_config
from asr.errors import AsrError
from tests.conftest import REPO


def one_error_line(capsys) -> str:  # noqa: ANN001
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "error: " in lines[0] and "Traceback" not in err, err
    return lines[0]


@pytest.fixture
def manifest(tmp_path, fsdd_dir):
    path = tmp_path / "test.jsonl"
    path.write_text(f'{{"audio": "{fsdd_dir / "3_george_1.wav"}", "text": "three", "duration": 0.5}}\n')
    return path


def test_evaluate_refuses_to_overwrite_its_manifest(manifest, capsys):
    before = manifest.read_text()
    assert main(["evaluate", "--manifest", str(manifest), "--output", str(manifest)]) == 2
    assert "would overwrite an input" in one_error_line(capsys)
    assert manifest.read_text() == before


@pytest.mark.parametrize("command, written", [
    (["evaluate", "--manifest", "{manifest}", "--output", "{missing}/out.jsonl"], "out.jsonl"),
    (["build-lm", "--text", "{manifest}", "--output", "{missing}/lm.arpa"], "lm.arpa"),
])
def test_outputs_into_a_missing_folder_make_it(command, written, manifest, tmp_path, capsys):
    """As ``transcribe --output-dir`` makes its folder, so do the other commands' outputs (issue 25, D16)."""
    argv = [part.format(manifest=manifest, missing=tmp_path / "not" / "yet") for part in command]
    assert main(argv) == 0
    assert (tmp_path / "not" / "yet" / written).is_file()


@pytest.mark.parametrize("command", [
    ["export", "--model", "{manifest}", "--output", "{missing}/model.onnx"],
    ["adapt", "--model", "{manifest}", "--output", "{missing}/adapted.pt", "{manifest}"],
])
def test_a_failed_command_makes_no_output_folder(command, manifest, tmp_path, capsys):
    argv = [part.format(manifest=manifest, missing=tmp_path / "nowhere") for part in command]
    assert main(argv) == 2
    assert "not a model file" in one_error_line(capsys)
    assert not (tmp_path / "nowhere").exists()


def test_an_output_below_a_file_is_refused_before_work(manifest, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["build-lm", "--text", str(manifest), "--output", str(blocker / "sub" / "lm.arpa")]) == 2
    assert f"cannot make the folder {blocker / 'sub'}: {blocker} is a file" in one_error_line(capsys)


def test_export_to_a_folder_is_refused_and_leaves_nothing(manifest, tmp_path, capsys):
    assert main(["export", "--model", str(manifest), "--output", str(tmp_path)]) == 2
    assert "is a folder" in one_error_line(capsys)
    assert not list(tmp_path.glob(".*.tmp"))


def test_subtitles_of_two_files_with_one_stem_are_refused(tmp_path, fsdd_dir, capsys):
    a, b = tmp_path / "a" / "x.wav", tmp_path / "b" / "x.wav"
    for path in (a, b):
        path.parent.mkdir()
        path.symlink_to(fsdd_dir / "3_george_1.wav")
    out = tmp_path / "subs"
    assert main(["transcribe", "--format", "srt", "--output-dir", str(out), str(a), str(b)]) == 2
    line = one_error_line(capsys)
    assert "would both write" in line and "x.srt" in line and not out.exists()


@pytest.mark.parametrize("argv, phrase", [
    (["transcribe", "--batch-size", "0", "a.wav"], "--batch-size: must be at least 1"),
    (["serve", "--port", "99999"], "a TCP port is 1-65535"),
    (["transcribe", "--beam", "0", "a.wav"], "--beam: must be at least 1"),
    (["build-lm", "--text", "t", "--output", "o", "--order", "0"], "--order: must be at least 1"),
])
def test_usage_mistakes_are_one_line(argv, phrase, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert phrase in one_error_line(capsys)


def test_adapt_does_not_offer_quantize():
    process = subprocess.run([sys.executable, "-m", "asr", "adapt", "--help"], capture_output=True, text=True,
                             cwd=REPO, timeout=60)
    assert process.returncode == 0 and "--greedy" in process.stdout and "--quantize" not in process.stdout


def test_a_bad_override_is_named_not_the_config_file(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("[train]\nepochs = 3\n")
    with pytest.raises(AsrError) as error:
        load_config(config, ["train.epochs=two"])
    assert "--set train.epochs=two" in str(error.value) and "config.toml" not in str(error.value)
    config.write_text("[train]\nepochs = 'x'\n")
    with pytest.raises(AsrError, match="config.toml"):  # a bad file is still named
        load_config(config, ["train.lr=0.1"])


@pytest.mark.parametrize("content", [b"RIFF\x24\x00\x00\x00WAVEfmt ", b"\\data\\\nngram 1=3\n", b""])
def test_audio_arpa_or_empty_file_as_model_says_not_a_model_file(tmp_path, content):
    path = tmp_path / "model.pt"
    path.write_bytes(content)
    with pytest.raises(AsrError) as error:
        safe_load(path)
    assert "not a model file" in str(error.value) and "weights_only" not in str(error.value)


def test_model_files_follow_the_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        atomic_save({"x": 1}, tmp_path / "model.pt")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "model.pt").stat().st_mode) == 0o644


def test_manifest_duration_comes_from_the_header_and_text_is_needed_only_for_scoring(tmp_path, fsdd_dir):
    from asr.manifest import read_manifest

    path = tmp_path / "m.jsonl"
    path.write_text(f'{{"audio": "{fsdd_dir / "3_george_1.wav"}", "text": "three"}}\n')
    (utterance,) = read_manifest(path)
    assert utterance.duration == pytest.approx(0.499, abs=0.01)
    path.write_text(f'{{"audio": "{fsdd_dir / "3_george_1.wav"}"}}\n')
    with pytest.raises(AsrError, match="missing key.*text"):
        read_manifest(path)
    assert read_manifest(path, require_text=False)[0].text == ""
    path.write_text('{"audio": "nowhere.wav", "text": "x"}\n')
    with pytest.raises(AsrError, match="m.jsonl:1: no 'duration', and the audio's header cannot be read"):
        read_manifest(path)
