"""The runtime installs and runs without PyTorch (issue 28, part 1).

``pip install .`` is the runtime (transcribe, evaluate, serve, stream with a packaged or exported ONNX model);
``pip install ".[train]"`` adds PyTorch, torchaudio, librosa, matplotlib and onnx. Here: every runtime module
imports, and the packaged model transcribes, without any of them entering ``sys.modules``; each module of the
package is on one list or the other (``asr.RUNTIME_MODULES``, ``asr.TRAINING_MODULES``); a command that needs
the extra says so in one line; and (slow) a wheel built from this tree installs into a new virtual environment
with no PyTorch and transcribes there.
"""

from __future__ import annotations

import json
import os
import pkgutil
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

import asr
from tests.conftest import REPO

#: What the [train] extra adds, by import name: none of them may be imported on the runtime path.
TRAIN_ONLY = ("torch", "torchaudio", "librosa", "matplotlib", "onnx")
#: A recording the packaged model knows, and what it says (the README's first example).
RECORDING, WORD = "7_george_3.wav", "seven"


def _recording(fsdd_dir: Path) -> Path:
    return fsdd_dir / RECORDING


def _requirement_name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].strip().lower()


def _child_env() -> dict[str, str]:
    """The environment for a child Python: this one, less anything that would point it at other packages."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update(OMP_NUM_THREADS="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    return env


# ---- the lists and the project file -----------------------------------------------------------------------------


def test_every_module_is_on_the_runtime_list_or_the_training_list():
    found = {f"asr.{m.name}" for m in pkgutil.iter_modules(asr.__path__) if m.name != "__main__"}
    runtime, training = set(asr.RUNTIME_MODULES), set(asr.TRAINING_MODULES)
    assert not runtime & training, runtime & training
    assert found - runtime - training == set(), "add each new module to asr.RUNTIME_MODULES or TRAINING_MODULES"
    assert (runtime | training) - found == set(), "a listed module does not exist"
    for name in runtime:  # the docstring's list is the one people read
        assert f"``{name.removeprefix('asr.')}``" in asr.__doc__, name


def test_the_base_install_leaves_the_training_packages_to_the_train_extra():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    base = {_requirement_name(r) for r in project["dependencies"]}
    extras = project["optional-dependencies"]
    assert not base & {"torch", "torchaudio", "librosa", "matplotlib", "onnx"}, base
    assert {"onnxruntime", "soundfile", "soxr", "flashlight-text", "jiwer", "fastapi", "numpy"} <= base
    assert {"torch", "torchaudio", "librosa", "matplotlib", "onnx"} <= {_requirement_name(r) for r in extras["train"]}
    assert "asr[train]" in extras["test"] and "build" in {_requirement_name(r) for r in extras["test"]}


def test_readme_and_ci_keep_one_install_command_each():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert ci in readme, "the README's test command is what .ci/run runs"
    assert "python3 -m pip install -e . && transcribe " in readme


# ---- the runtime path, with PyTorch installed but never imported ------------------------------------------------


def test_every_runtime_module_imports_and_the_packaged_model_transcribes_without_torch(fsdd_dir):
    """In a new process: ``import asr``, every runtime module, the packaged model's transcript of a recording,
    and then not one of the [train] extra's packages in ``sys.modules``."""
    code = f"""
import importlib, json, sys
import asr
for name in asr.RUNTIME_MODULES:
    importlib.import_module(name)
model = asr.load_model()
text = model.transcribe({str(_recording(fsdd_dir))!r}).text
loaded = sorted(m for m in sys.modules if m.partition(".")[0] in {TRAIN_ONLY!r})
print(json.dumps({{"text": text, "loaded": loaded, "model": type(model).__name__}}))
"""
    process = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                             env=_child_env(), timeout=300)
    assert process.returncode == 0, process.stderr[-3000:]
    result = json.loads(process.stdout.strip().splitlines()[-1])
    assert result["loaded"] == [], f"the runtime imported {result['loaded']}"
    assert result["text"] == WORD and result["model"] == "OnnxRecognizer", result


# ---- commands that need the extra, with its packages hidden -----------------------------------------------------

#: Run first in a child process: the [train] extra's packages cannot be imported, as if not installed.
_HIDE_TRAIN_EXTRA = f"""
import importlib.abc, sys
class _NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {TRAIN_ONLY!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, _NotInstalled())
for _name in [m for m in sys.modules if m.partition(".")[0] in {TRAIN_ONLY!r}]:
    del sys.modules[_name]
"""


def _run_without_train_extra(entry: str, argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    code = _HIDE_TRAIN_EXTRA + f"import asr.cli\nsys.exit(asr.cli.{entry}({argv!r}))\n"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd,
                          env={**_child_env(), "PYTHONPATH": str(REPO)}, timeout=300)


@pytest.mark.parametrize(("entry", "argv", "command"), [
    ("main", ["train", "--train-manifest", "train.jsonl", "--exp-dir", "exp"], "asr train"),
    ("main", ["adapt", "--model", "model.pt", "--output", "adapted.pt", "AUDIO"], "asr adapt --model model.pt"),
    ("main", ["export", "--model", "model.pt", "--output", "model.onnx"], "asr export"),
    ("transcribe_main", ["--model", "model.pt", "AUDIO"], "transcribe --model model.pt"),
    ("transcribe_main", ["--model", "model.pt", "--quantize", "AUDIO"], "transcribe --model model.pt"),
    ("main", ["evaluate", "--model", "model.pt", "--manifest", "test.jsonl"], "asr evaluate --model model.pt"),
    ("main", ["serve", "--model", "model.pt", "--port", "1"], "asr serve --model model.pt"),
], ids=["train", "adapt", "export", "transcribe-pt", "transcribe-quantize", "evaluate-pt", "serve-pt"])
def test_a_command_that_needs_pytorch_says_so_in_one_line(entry, argv, command, tmp_path, fsdd_dir):
    (tmp_path / "model.pt").write_bytes(b"PK\x03\x04 not read: PyTorch is missing first")
    (tmp_path / "train.jsonl").write_text("")
    (tmp_path / "test.jsonl").write_text("")
    argv = [str(_recording(fsdd_dir)) if a == "AUDIO" else a for a in argv]
    process = _run_without_train_extra(entry, argv, tmp_path)
    lines = [line for line in process.stderr.splitlines() if line.strip()]
    assert process.returncode == 2 and len(lines) == 1 and "Traceback" not in process.stderr, process.stderr[-3000:]
    prog = "transcribe" if entry == "transcribe_main" else "asr"
    assert lines[0].startswith(f"{prog}: error: {command} needs PyTorch"), lines[0]
    assert 'pip install -e ".[train]"' in lines[0], lines[0]


def test_the_runtime_commands_still_work_with_the_extra_hidden(tmp_path, fsdd_dir):
    """transcribe with the packaged model, --quantize refused in one line (an ONNX model's needs the onnx
    package, which the runtime leaves out), build-lm."""
    process = _run_without_train_extra("transcribe_main", [str(_recording(fsdd_dir))], tmp_path)
    assert process.returncode == 0 and process.stdout.strip().endswith(f"\t{WORD}"), process.stderr[-3000:]
    process = _run_without_train_extra("transcribe_main", ["--quantize", str(_recording(fsdd_dir))], tmp_path)
    lines = [line for line in process.stderr.splitlines() if line.strip()]
    assert process.returncode == 2 and len(lines) == 1 and lines[0].startswith("transcribe: error: "), lines
    assert "PyTorch" not in lines[0] and "Traceback" not in process.stderr, lines
    (tmp_path / "corpus.txt").write_text("one two\ntwo three\n")
    process = _run_without_train_extra("main", ["build-lm", "--text", "corpus.txt", "--output", "lm.arpa"],
                                       tmp_path)
    assert process.returncode == 0 and (tmp_path / "lm.arpa").is_file(), process.stderr[-3000:]


# ---- the wheel, in a new virtual environment --------------------------------------------------------------------


@pytest.mark.slow
def test_the_wheel_installs_without_pytorch_and_transcribes(tmp_path, fsdd_dir):
    """``python -m build --wheel`` on a copy of this tree, ``pip install`` of the wheel into a new venv (no
    system site-packages; the dependencies come from the package index or pip's cache), no PyTorch there, and
    ``transcribe`` with the packaged model gives the right word."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    for name in ("asr", "data_prep"):  # a copy: the build writes build/ and *.egg-info beside the sources
        shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    env = _child_env()
    built = subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp_path / "dist"),
                            str(source)], capture_output=True, text=True, env=env, timeout=600)
    assert built.returncode == 0, (built.stdout + built.stderr)[-3000:]
    wheel, = (tmp_path / "dist").glob("asr-*.whl")

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=env, timeout=300)
    python, bin_dir = venv / "bin" / "python", venv / "bin"
    installed = subprocess.run([str(python), "-m", "pip", "install", "-q", str(wheel)], capture_output=True,
                               text=True, env=env, cwd=tmp_path, timeout=1200)
    assert installed.returncode == 0, (installed.stdout + installed.stderr)[-3000:]
    for package in ("torch", "torchaudio", "librosa", "matplotlib"):
        shown = subprocess.run([str(python), "-m", "pip", "show", package], capture_output=True, text=True,
                               env=env, timeout=120)
        assert shown.returncode != 0, f"the runtime install brought {package}"

    where = subprocess.run([str(python), "-c", "import asr; print(asr.__file__)"], capture_output=True,
                           text=True, env=env, cwd=tmp_path, timeout=120)
    assert where.returncode == 0 and Path(where.stdout.strip()).is_relative_to(venv), where
    recording = _recording(fsdd_dir)
    process = subprocess.run([str(bin_dir / "transcribe"), str(recording)], capture_output=True, text=True,
                             env=env, cwd=tmp_path, timeout=300)
    assert process.returncode == 0, process.stderr[-3000:]
    assert process.stdout.strip() == f"{recording}\t{WORD}"


@pytest.mark.parametrize("recipe", ["yesno", "digits", "english"])
def test_a_recipe_without_the_train_extra_says_so_in_one_line(recipe, tmp_path):
    script = REPO / "recipes" / recipe / "run.py"
    code = (_HIDE_TRAIN_EXTRA + f"import runpy\nsys.argv = [{str(script)!r}, '--help']\n"
            f"runpy.run_path({str(script)!r}, run_name='__main__')\n")
    process = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                             env={**_child_env(), "PYTHONPATH": str(REPO)}, timeout=120)
    lines = [line for line in process.stderr.splitlines() if line.strip()]
    assert process.returncode == 2 and len(lines) == 1, process.stderr
    assert lines[0].startswith("error: ") and '.[train]' in lines[0] and "torch" in lines[0]
