"""What a new user's probe of every command found (issue 25, D5-D16), one test each, on the packaged model where
it serves (onnxruntime, quick) and the small trained test model where a PyTorch model is needed."""

from __future__ import annotations

import importlib.util
import io
import json
import logging
import math
import re
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

import asr
from asr.cli import main, transcribe_main
from asr.decoding import Decoding
from asr.errors import AsrError
from data_prep.__main__ import CONVERTERS
from tests.conftest import REPO, SHARED_DATA

SEVEN = SHARED_DATA / "fsdd" / "recordings" / "7_george_3.wav"


@pytest.fixture(scope="module")
def digits_model():
    return asr.load_model("digits")


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


# D5: a lexicon word the model cannot spell


def test_lexicon_list_with_words_the_model_cannot_spell_names_them_and_the_missing_characters(digits_model):
    with pytest.raises(AsrError) as raised:
        digits_model.with_beam_search(lexicon=["yes", "no"])  # was: ValueError: 'y' is not in list
    message = str(raised.value)
    assert "\n" not in message and "'yes'" in message and "'y'" in message
    assert "'no'" not in message  # n and o are digit letters: "no" can be spelled


def test_lexicon_file_with_words_the_model_cannot_spell_is_an_error_not_dropped(tmp_path, capsys):
    lexicon = tmp_path / "words.txt"
    lexicon.write_text("yes\nno\nseven\nquack\n")
    # was: 0, "yes" and "quack" dropped
    assert transcribe_main(["--model", "digits", "--lexicon", str(lexicon), str(SEVEN)]) == 2
    captured = capsys.readouterr()
    line = _one_line(captured.err)
    assert line.startswith("transcribe: error: ") and str(lexicon) in line
    assert "'yes'" in line and "'quack'" in line and "'seven'" not in line
    for missing in "yqack":
        assert f"'{missing}'" in line
    assert captured.out == ""


# D6: the packaged model by its file's name


@pytest.mark.parametrize("name", ["digits", "digits-en", "digits-en.onnx"])
def test_packaged_model_by_name_or_file_name(name, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no file of that name here
    assert transcribe_main(["--model", name, str(SEVEN)]) == 0
    assert capsys.readouterr().out == f"{SEVEN}\tseven\n"


def test_an_unknown_model_name_lists_the_packaged_ones(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert transcribe_main(["--model", "digits-english", str(SEVEN)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "digits-english: model file not found" in line and "digits (digits-en.onnx)" in line


def test_help_names_the_packaged_models(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # argparse wraps help at hyphens too
    with pytest.raises(SystemExit):
        transcribe_main(["--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "'digits' (also 'digits-en.onnx' or 'digits-en')" in help_text


# D9: substitutions are word pairs


def test_error_report_counts_substitutions_per_aligned_word():
    from asr.error_report import confusions, error_report

    refs = ["yes no no no", "seven zero one two"]
    hyps = ["yes one one one", "one one one two"]  # a stretch of three substitutions, then one of two
    substitutions, insertions, deletions = confusions(refs, hyps)
    assert substitutions == {("no", "one"): 3, ("seven", "one"): 1, ("zero", "one"): 1}
    assert not insertions and not deletions
    report = error_report(["a", "b"], refs, hyps)
    assert "| no | one | 3 |" in report and "| no no no |" not in report  # was one row per stretch
    # inserted and deleted stretches count each word
    _, insertions, deletions = confusions(["one two three four"], ["one four five six"])
    assert sum(insertions.values()) + sum(deletions.values()) <= 4
    assert all(" " not in word for word in [*insertions, *deletions])


# D10: a converter that finds nothing


def test_a_converter_that_finds_no_utterance_exits_non_zero_saying_the_layout(tmp_path, capsys):
    from data_prep.__main__ import main as data_prep_main

    out = tmp_path / "out"
    assert data_prep_main(["librispeech", str(SHARED_DATA / "fsdd"), str(out)]) == 2  # was: 0, nothing written
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("data_prep: error: ") and "no utterances found" in line
    assert "expected LibriSpeech: SPLIT/SPEAKER/CHAPTER/*.trans.txt + .flac" in line
    assert not out.exists()


@pytest.mark.parametrize("corpus", sorted(CONVERTERS))
def test_every_converter_refuses_a_folder_without_its_layout(corpus, tmp_path, capsys):
    from data_prep.__main__ import main as data_prep_main

    corpus_dir = tmp_path / "corpus"
    corpus_dir.mkdir()
    sf.write(corpus_dir / "hello.wav", np.zeros(800, np.float32), 8000)  # audio, in no converter's layout
    (corpus_dir / "table.csv").write_text("path,text\n")
    (corpus_dir / "metadata.csv").write_text("")
    for split in ("train", "dev", "test"):
        (corpus_dir / f"{split}.tsv").write_text("path\tsentence\n")
    source = corpus_dir / "table.csv" if corpus == "table" else corpus_dir
    assert data_prep_main([corpus, str(source), str(tmp_path / "out")]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("data_prep: error: ") and "expected" in line
    assert not (tmp_path / "out").exists()


def test_readme_lists_every_converter():
    readme = (REPO / "README.md").read_text()
    listed = re.search(r"# corpus -> manifests: ([^(]*)\(", readme)
    assert listed is not None
    names = [name.strip() for name in listed.group(1).replace("#", " ").split(",")]
    assert sorted(names) == sorted(CONVERTERS)


# D11 and D14: unreadable files in an evaluation, with and without durations


@pytest.mark.parametrize("durations", [False, True])
def test_evaluate_reports_each_unreadable_file_once_with_or_without_durations(durations, tmp_path, capsys):
    bad, empty = tmp_path / "bad.wav", tmp_path / "empty.wav"
    bad.write_bytes(b"RIFF....garbage")
    empty.write_bytes(b"")
    manifest = tmp_path / "test.jsonl"
    lines = [{"audio": str(SEVEN), "text": "seven"}, {"audio": str(bad), "text": "one"},
             {"audio": str(empty), "text": "two"}]
    if durations:
        lines = [{**line, "duration": 0.5} for line in lines]
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    output = tmp_path / "not" / "yet" / "results.jsonl"  # D16: a missing folder is made
    assert main(["evaluate", "--manifest", str(manifest), "--output", str(output)]) == 1  # was: 2 without durations
    captured = capsys.readouterr()
    errors = captured.err.strip().splitlines()
    assert len(errors) == 2, captured.err  # was: each failure twice
    assert errors[0].startswith(f"asr: error: {bad}: ")
    assert errors[1] == f"asr: error: {empty}: audio file is empty (0 bytes)"
    summary = captured.out.splitlines()[0]
    assert summary.startswith("WER 0.00% (0/1:") and "2 of 3 files could not be read and are not scored" in summary
    assert output.is_file() and output.with_suffix(".errors.md").is_file()


def test_evaluate_with_every_file_unreadable(tmp_path, capsys):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"")
    manifest = tmp_path / "test.jsonl"
    manifest.write_text(json.dumps({"audio": str(bad), "text": "one"}) + "\n")
    assert main(["evaluate", "--manifest", str(manifest)]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert errors == [f"asr: error: {bad}: audio file is empty (0 bytes)",
                      "asr: error: none of the 1 utterances could be read, so nothing was scored"]


def test_per_file_errors_say_error_and_an_empty_file_says_so(tmp_path, capsys):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    assert transcribe_main([str(empty), str(SEVEN)]) == 1
    captured = capsys.readouterr()
    assert captured.out == f"{SEVEN}\tseven\n"
    assert _one_line(captured.err) == f"transcribe: error: {empty}: audio file is empty (0 bytes)"  # was: Format...


# D12: decoding numbers that cannot be right


@pytest.mark.parametrize("option", [["--lm-weight", "nan"], ["--lm-weight", "inf"], ["--lm-weight", "-1"],
                                    ["--word-score", "nan"], ["--word-score", "-inf"], ["--beam", "-3"],
                                    ["--beam", "0"], ["--min-confidence", "2"], ["--min-confidence", "1"],
                                    ["--min-confidence", "nan"], ["--min-confidence", "-0.1"]])
def test_invalid_decoding_numbers_are_refused(option, capsys):
    with pytest.raises(SystemExit) as exited:
        transcribe_main([*option, str(SEVEN)])
    assert exited.value.code == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("transcribe: error: argument " + option[0])


@pytest.mark.parametrize("settings", [{"lm_weight": math.nan}, {"lm_weight": math.inf}, {"lm_weight": -0.5},
                                      {"word_score": math.nan}, {"beam_size": 0}, {"beam_size": -2},
                                      {"beam_threshold": math.nan}, {"beam_size_token": 0}])
def test_invalid_beam_settings_are_refused_by_the_library(settings, digits_model):
    with pytest.raises(AsrError, match="must be"):
        digits_model.with_beam_search(Decoding.beam(**settings))


def test_an_explicit_finite_lm_weight_still_decodes(capsys):
    assert transcribe_main(["--lm-weight", "0.5", str(SEVEN)]) == 0
    assert capsys.readouterr().out == f"{SEVEN}\tseven\n"


# D15: channels first


def test_channels_first_samples_give_the_same_transcript(digits_model):
    samples, rate = sf.read(SEVEN, dtype="float32")
    import soxr

    samples = soxr.resample(samples, rate, 44100).astype(np.float32)
    mono = digits_model.transcribe(samples, sample_rate=44100).text
    assert mono == "seven"
    assert digits_model.transcribe(np.stack([samples, samples], 0), sample_rate=44100).text == mono  # was: ""
    assert digits_model.transcribe(np.stack([samples, samples], 1), sample_rate=44100).text == mono
    with pytest.raises(AsrError, match=r"\(16, "):  # 16 rows: neither layout makes sense
        digits_model.transcribe(np.zeros((16, 20000), np.float32), sample_rate=44100)


# D16: options that were ignored, and what printed wrongly


@pytest.mark.parametrize("fmt, extension", [("text", "txt"), ("json", "json")])
def test_output_dir_writes_text_and_json_files(fmt, extension, tmp_path, capsys):
    out = tmp_path / "made" / "here"
    assert transcribe_main(["--format", fmt, "--output-dir", str(out), str(SEVEN)]) == 0  # was: ignored
    assert capsys.readouterr().out == ""
    written = (out / f"{SEVEN.stem}.{extension}").read_text()
    if fmt == "text":
        assert written == "seven\n"
    else:
        assert json.loads(written)["text"] == "seven"


@pytest.mark.parametrize("options, flag", [(["--rate", "8000"], "--rate"), (["--chunk-ms", "50"], "--chunk-ms"),
                                           (["--realtime"], "--realtime")])
def test_streaming_options_without_stream_are_refused(options, flag, capsys):
    assert transcribe_main([*options, str(SEVEN)]) == 2  # was: --rate ignored
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("transcribe: error: ") and flag in line and "--stream" in line


def test_rate_with_a_streamed_file_is_refused(capsys):
    assert transcribe_main(["--stream", str(SEVEN), "--rate", "8000"]) == 2
    assert "--rate is for raw PCM" in capsys.readouterr().err


def test_stream_of_an_odd_byte_count_is_an_error_after_the_last_result(monkeypatch, capsys):
    samples, rate = sf.read(SEVEN, dtype="int16")
    pcm = samples.astype("<i2").tobytes() + b"\x01"  # half a sample at the end
    monkeypatch.setattr(sys, "stdin", type("Stdin", (), {"buffer": io.BytesIO(pcm)})())
    assert transcribe_main(["--stream", "-", "--rate", str(rate)]) == 2  # was: 0
    captured = capsys.readouterr()
    line = _one_line(captured.err)
    assert line.startswith("transcribe: error: ") and f"{len(pcm)} bytes is an odd count" in line
    assert captured.out.strip()  # what was heard is still printed, before the error


def test_quantize_help_says_what_an_onnx_model_needs(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")
    with pytest.raises(SystemExit):
        transcribe_main(["--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "an .onnx model (the packaged ones too) needs the onnx package" in help_text


def test_training_log_gives_error_rates_in_percent():
    from asr.train import format_row

    line = format_row({"epoch": 3, "train_loss": 1.23456, "valid_loss": 2.5, "valid_wer": 1.0, "valid_cer": 0.125})
    assert line == "train_loss 1.235  valid_loss 2.5  valid_wer 100.00%  valid_cer 12.50%"  # was: valid_wer 1


def test_training_plots_do_not_log_matplotlibs_font_cache(tmp_path):
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text("".join(json.dumps({"epoch": e, "train_loss": 3.0 / e, "valid_loss": 3.5 / e, "valid_wer": 0.5,
                                           "valid_cer": 0.2, "frames_per_second": 1000.0}) + "\n" for e in (1, 2)))
    script = ("import logging, sys; logging.basicConfig(level=logging.INFO, format='%(name)s: %(message)s'); "
              "from asr.plots import plot_training; plot_training(sys.argv[1], sys.argv[2])")
    # a fresh matplotlib configuration folder: matplotlib builds its font cache, as on a new machine
    done = subprocess.run([sys.executable, "-c", script, str(metrics), str(tmp_path / "plots")], capture_output=True,
                          text=True, env={"MPLCONFIGDIR": str(tmp_path / "mpl"), "PATH": "/usr/bin:/bin",
                                          "HOME": str(tmp_path)}, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "fontManager" not in done.stderr and (tmp_path / "plots" / "loss.png").is_file()
    assert (tmp_path / "mpl").is_dir()  # the cache really was made in this run


def test_adapt_prints_each_round_once_with_the_loss_that_moved(trained_digits, fsdd_dir, tmp_path, capsys, caplog):
    files = [str(fsdd_dir / f"{d}_jackson_{i}.wav") for d in range(10) for i in (13, 14)]
    output = tmp_path / "adapted.pt"
    with caplog.at_level(logging.INFO):
        assert main(["adapt", "--model", str(trained_digits.best_model), "--output", str(output), "--rounds", "1",
                     "--epochs", "2", *files]) == 0
    captured = capsys.readouterr()
    logged = [r.getMessage() for r in caplog.records if "kept (confidence" in r.getMessage()]
    printed = [line for line in captured.out.splitlines() if "kept (confidence" in line]
    assert len(printed) == 1 and not logged, (printed, logged)  # was: the summary printed and logged
    found = re.search(r"loss on the pseudo-labels (\d+\.\d+) -> (\d+\.\d+)", printed[0])
    assert found is not None, printed[0]
    before, after = map(float, found.groups())
    assert after < before  # fine-tuning on the pseudo-labels lowers their (unaugmented) loss


def test_adapt_rounds_measure_the_loss_without_augmentation(trained_digits, fsdd_dir):
    from asr.adapt import AdaptConfig, adapt
    from asr.loading import load_model
    from tests.conftest import digit_utterance

    recognizer = load_model(trained_digits.best_model)
    unlabelled = [digit_utterance(fsdd_dir, d, "jackson", i) for d in range(10) for i in (15, 16)]
    unlabelled = [type(u)(u.audio, "", u.duration, u.extra) for u in unlabelled]
    report = adapt(recognizer, unlabelled, AdaptConfig(rounds=1, epochs=2), progress=False)[0]
    assert report.loss_before is not None and report.loss_after is not None
    # measured without augmentation, so it moves only as the weights do: a model that already fits its own
    # pseudo-labels may gain little (1.1558 -> 1.1575 on one CPU), but the labels never become much less likely
    assert report.loss_after != report.loss_before and report.loss_after < 1.02 * report.loss_before
    assert "loss on the pseudo-labels" in report.summary()


def test_models_readme_says_what_the_stored_decoding_does(digits_model):
    readme = (REPO / "asr" / "models" / "README.md").read_text()
    digits = readme[readme.index("## `digits-en.onnx`"):]
    decoding = digits[digits.index("- **Decoding**"):digits.index("- **Runs on**")]
    weight = digits_model.decoding.lm_weight
    assert f"LM weight {weight:g}" in decoding
    if weight == 0:
        assert "with a digit bigram LM" not in decoding and "no effect" in decoding


def test_an4_copies_log_their_progress(tmp_path, caplog):
    spec = importlib.util.spec_from_file_location("an4_recipe_progress", REPO / "recipes" / "an4" / "run.py")
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    from asr.manifest import Utterance

    recordings = [Utterance(str(SEVEN), "seven", 0.5, {"id": "seven", "speaker": "george"})]
    with caplog.at_level(logging.INFO):
        made = recipe.augmented(recordings, tmp_path, 8000, copies=2, make=True)
    assert len(made) == 3
    messages = [r.getMessage() for r in caplog.records]
    assert any("simulated-channel copy 1 of 2: 1 recordings" in m for m in messages)
    assert any("copy 2 of 2 written in" in m for m in messages)


def test_evaluate_output_and_report_folders_are_made(tmp_path, capsys):
    manifest = tmp_path / "test.jsonl"
    manifest.write_text(json.dumps({"audio": str(SEVEN), "text": "seven"}) + "\n")
    report = tmp_path / "reports" / "deep" / "errors.md"
    output = tmp_path / "results" / "per_utt.jsonl"
    assert main(["evaluate", "--manifest", str(manifest), "--output", str(output), "--report", str(report)]) == 0
    assert output.is_file() and report.is_file() and "WER 0.00%" in capsys.readouterr().out


def test_output_into_a_file_that_is_no_folder_is_still_refused(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(AsrError, match="cannot make the folder"):
        from asr.cli import _check_output

        _check_output(str(blocker / "out.jsonl"))
