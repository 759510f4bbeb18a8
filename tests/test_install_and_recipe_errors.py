"""The plain install serves; missing optional packages, bad data folders and recipe failures are one ``error:``
line, never a traceback; the same seed on the same machine trains the same weights (issue 13)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
import torch

from asr.checkpoint import safe_load
from asr.errors import AsrError
from asr.recipe import require_data_dir, run_recipe
from asr.train import train
from tests.conftest import REPO, tiny_config

RECIPES = ("yesno", "fsdd", "digits", "an4", "librispeech", "commonvoice")
#: what each recipe's error must name, so the user knows what the folder should hold
EXPECTED_WORDS = {"yesno": "0_1_0_1_1_1_0_0.wav", "fsdd": "recordings/", "digits": "hd_digits/",
                  "an4": "etc/an4_train.transcription",
                  "librispeech": "trans.txt",
                  "commonvoice": "train.tsv"}
#: packages of the extras, which the base install does not have
EXTRAS_ONLY = ("onnx", "httpx", "playwright", "pocketsphinx", "pytest", "hypothesis")

#: Python code run first in a child process: makes the named top-level packages impossible to import, as if
#: they were not installed (``BLOCKED`` is filled in by :func:`_python_without`).
_BLOCKER = """
import importlib.abc, sys
BLOCKED = {blocked!r}
class _NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, _NotInstalled())
for _name in [m for m in sys.modules if m.partition(".")[0] in BLOCKED]:
    del sys.modules[_name]
"""


def _python_without(blocked: tuple[str, ...], code: str, *args: str) -> subprocess.CompletedProcess[str]:
    program = _BLOCKER.format(blocked=set(blocked)) + code
    return subprocess.run([sys.executable, "-c", program, *args], capture_output=True, text=True, cwd=REPO,
                          timeout=300)


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and re.match(r"(asr: |transcribe: )?error: ", lines[0]), stderr[-3000:]
    assert "Traceback" not in stderr
    return lines[0]


# ---- 1. the base install ----------------------------------------------------------------------------------------


def test_server_dependencies_are_in_the_base_install():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    base = {requirement.split(">")[0].split("=")[0].split("<")[0].strip().lower()
            for requirement in project["dependencies"]}
    assert {"fastapi", "uvicorn", "python-multipart"} <= base
    assert not base & {"torch", "torchaudio", "librosa", "matplotlib"}, "those are for [train]"
    assert "serve" in project["optional-dependencies"], '".[serve]" must still install'
    assert not base & set(EXTRAS_ONLY)


def test_server_and_every_command_import_with_the_base_packages_alone():
    """With the extras' packages hidden, the server module loads and ``asr serve --help`` answers."""
    code = """
import asr.server, asr.cli, asr.train, asr.recipe, asr.plots, asr.onnx_export
from asr.server import create_app
import multipart, uvicorn
sys.argv = ["asr", "serve", "--help"]
sys.exit(asr.cli.main())
"""
    process = _python_without(EXTRAS_ONLY, code)
    assert process.returncode == 0, process.stderr[-3000:]
    assert "--max-upload-mb" in process.stdout


def test_the_blocker_really_hides_a_package():
    """The check above would prove nothing if hiding a package did not work."""
    process = _python_without(("fastapi",), "import asr.server")
    assert process.returncode != 0 and "No module named 'fastapi'" in process.stderr


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, ten_digits) -> Path:
    """A model file from one short epoch: enough to load and export, not to recognise anything."""
    exp = tmp_path_factory.mktemp("tiny_model")
    return train(tiny_config(epochs=1), ten_digits[:2], None, exp, resume=False, progress=False).best_model


def test_export_without_onnx_is_one_line_with_the_pip_command(tiny_model, tmp_path):
    output = tmp_path / "model.onnx"
    code = "from asr.cli import main; sys.exit(main())"
    process = _python_without(("onnx", "onnxruntime"), code, "export", "--model", str(tiny_model),
                              "--output", str(output))
    assert process.returncode != 0
    line = _one_error_line(process.stderr)
    assert "onnx" in line and "pip install" in line, line
    assert not output.exists()


def test_an_onnx_model_without_onnxruntime_is_one_line_with_the_pip_command(tiny_model, tmp_path, ten_digits):
    pytest.importorskip("onnx")
    from asr.loading import load_model
    from asr.onnx_export import export_onnx

    onnx_file = export_onnx(load_model(tiny_model), tmp_path / "model.onnx")
    code = "from asr.cli import transcribe_main; sys.exit(transcribe_main())"
    process = _python_without(("onnxruntime",), code, "--model", str(onnx_file), ten_digits[0].audio)
    assert process.returncode != 0
    line = _one_error_line(process.stderr)
    assert "onnxruntime" in line and "pip install" in line, line


def test_plots_without_matplotlib_are_an_asr_error_with_the_pip_command(tiny_model, monkeypatch):
    from asr.plots import plot_training

    for name in [m for m in sys.modules if m.partition(".")[0] == "matplotlib"]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # "import matplotlib" now raises ImportError
    with pytest.raises(AsrError, match="pip install matplotlib"):
        plot_training(tiny_model.parent / "metrics.jsonl", tiny_model.parent / "plots")


# ---- 2 and 3. recipes: bad data folders, one error line, --data-dir, --help -------------------------------------


def _recipe(name: str):
    spec = importlib.util.spec_from_file_location(f"recipe_{name}", REPO / "recipes" / name / "run.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow  # runs recipe scripts in subprocesses
def test_each_recipe_on_a_missing_and_an_empty_folder_says_what_it_expected(tmp_path):
    """As a user runs them: a child process per case, one ``error:`` line on stderr, exit status 2."""
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = {(name, kind): folder for name in RECIPES for kind, folder in (("missing", tmp_path / "nowhere"),
                                                                           ("empty", empty))}
    processes = {case: subprocess.Popen([sys.executable, str(REPO / "recipes" / case[0] / "run.py"),
                                         "--data-dir", str(folder), "--exp-dir", str(tmp_path / "exp" / case[0])],
                                        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for case, folder in cases.items()}
    for (name, kind), process in processes.items():
        stdout, stderr = process.communicate(timeout=300)
        assert process.returncode == 2, (name, kind, stderr[-3000:])
        line = _one_error_line(stderr)
        assert str(cases[name, kind]) in line and "expected" in line, line
        assert EXPECTED_WORDS[name] in line, line
        assert ("not found" if kind == "missing" else "is empty") in line, line
        assert not (tmp_path / "exp" / name / "model.pt").exists()


@pytest.mark.parametrize("name", RECIPES)
def test_each_recipe_refuses_a_folder_of_something_else(name, tmp_path, capsys):
    wrong = tmp_path / "wrong"
    (wrong / "sub").mkdir(parents=True)
    (wrong / "notes.txt").write_text("not a corpus\n")
    (wrong / "sub" / "a.wav").write_bytes(b"")
    module = _recipe(name)
    argv = ["run.py", "--data-dir", str(wrong), "--exp-dir", str(tmp_path / "exp")]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", argv)
        assert run_recipe(module.main) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "holds no" in line and EXPECTED_WORDS[name] in line, line


def test_yesno_with_too_few_files_says_so(tmp_path, yesno_dir, capsys):
    few = tmp_path / "yesno"
    few.mkdir()
    for path in sorted(yesno_dir.glob("*.wav"))[:5]:
        (few / path.name).symlink_to(path)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", ["run.py", "--data-dir", str(few), "--exp-dir", str(tmp_path / "exp")])
        assert run_recipe(_recipe("yesno").main) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "found 5 usable" in line and "more than 31" in line, line


@pytest.mark.parametrize("name", RECIPES)
def test_each_recipe_takes_data_dir_and_its_help_shows_the_full_command(name, capsys):
    module = _recipe(name)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", ["run.py", "--help"])
        with pytest.raises(SystemExit) as exit_info:
            module.main()
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert f"python recipes/{name}/run.py --data-dir " in text and "--exp-dir exp/" in text, text
    assert "--data-dir DATA_DIR" in text


@pytest.mark.parametrize("name", ["librispeech", "commonvoice"])
def test_corpus_dir_is_still_accepted(name, tmp_path, capsys):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", ["run.py", "--corpus-dir", str(tmp_path / "nowhere"), "--exp-dir",
                                    str(tmp_path / "exp")])
        assert run_recipe(_recipe(name).main) == 2
    assert "nowhere: --data-dir not found" in _one_error_line(capsys.readouterr().err)


@pytest.mark.slow  # runs recipe scripts in subprocesses
def test_an_error_in_the_middle_of_a_recipe_is_one_line_too(yesno_dir, tmp_path):
    """A bad config override surfaces after the data folder is read: still no traceback."""
    process = subprocess.run([sys.executable, str(REPO / "recipes" / "yesno" / "run.py"), "--data-dir",
                              str(yesno_dir), "--exp-dir", str(tmp_path / "exp"), "--set", "train.epochz=3"],
                             capture_output=True, text=True, cwd=REPO, timeout=300)
    assert process.returncode == 2
    assert "Traceback" not in process.stderr
    lines = process.stderr.strip().splitlines()  # the progress log of the data preparation, then the error
    assert lines[-1].startswith("error: ") and "epochz" in lines[-1], process.stderr[-3000:]
    assert sum(line.startswith("error") for line in lines) == 1


def test_run_recipe_turns_asr_errors_into_one_line_and_lets_other_errors_through(capsys):
    def failing() -> int:
        raise AsrError("the reason", "some/file")

    assert run_recipe(failing) == 2
    assert capsys.readouterr().err == "error: some/file: the reason\n"
    assert run_recipe(lambda: 0) == 0

    def buggy() -> int:
        raise KeyError("a bug")

    with pytest.raises(KeyError):  # a bug in a recipe must still show where it is
        run_recipe(buggy)


def test_require_data_dir_tells_the_four_cases_apart(tmp_path):
    expected = "WAV files"
    with pytest.raises(AsrError, match="not found; expected WAV files"):
        require_data_dir(tmp_path / "none", expected, "*.wav")
    (tmp_path / "file").write_text("x")
    with pytest.raises(AsrError, match="not a folder"):
        require_data_dir(tmp_path / "file", expected, "*.wav")
    (tmp_path / "empty").mkdir()
    with pytest.raises(AsrError, match="is empty"):
        require_data_dir(tmp_path / "empty", expected, "*.wav")
    with pytest.raises(AsrError, match=r"holds no \*\.wav or \*\.flac"):
        require_data_dir(tmp_path, expected, ["*.wav", "*.flac"])
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "x.flac").write_bytes(b"")
    assert require_data_dir(tmp_path, expected, ["*.wav", "*/*/*.flac"]) == tmp_path


# ---- 4. repeatable training ------------------------------------------------------------------------------------


def test_the_same_seed_twice_gives_identical_weights_and_the_model_records_its_environment(tmp_path, ten_digits):
    def run(seed: int, folder: str) -> dict:
        config = tiny_config(epochs=2, max_batch=3, seed=seed)
        config.train.spec_augment = True  # masks, dropout and data order all draw from the seeded generators
        config.model.dropout = 0.2
        result = train(config, ten_digits[:6], ten_digits[6:8], tmp_path / folder, resume=False, progress=False)
        return safe_load(result.best_model)

    first, second, third = run(5, "first"), run(5, "second"), run(6, "other_seed")
    assert first["state_dict"].keys() == second["state_dict"].keys()
    for key in first["state_dict"]:
        assert torch.equal(first["state_dict"][key], second["state_dict"][key]), key
    assert any(not torch.equal(first["state_dict"][k], third["state_dict"][k]) for k in first["state_dict"]
               if k.startswith("network.")), "another seed must give other weights"

    environment = first["metadata"]["environment"]
    assert environment["seed"] == 5 and third["metadata"]["environment"]["seed"] == 6
    assert environment["torch_threads"] == 2  # tiny_config sets train.threads=2
    import numpy
    import torchaudio

    assert environment["torch"] == torch.__version__ and environment["torchaudio"] == torchaudio.__version__
    assert environment["numpy"] == numpy.__version__
    assert environment["python"] == ".".join(str(v) for v in sys.version_info[:3])
