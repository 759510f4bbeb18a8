"""Model files load without running code, and refuse what they cannot read."""

from __future__ import annotations

import os
import pickle
import zipfile

import pytest
import torch

from asr.checkpoint import FORMAT_VERSION, atomic_save, remove_stale_temporaries, safe_load
from asr.errors import AsrError
from asr.loading import load_model


class _Exploit:
    """Unpickling this runs a shell command: what a malicious model file would do."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"format": "asr-model", "format_version": FORMAT_VERSION, "payload": _Exploit(str(marker))}, path)
    with pytest.raises(AsrError, match="refused to load"):
        load_model(path)
    assert not marker.exists(), "loading a model file executed code"


def test_raw_pickle_file_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(_Exploit(str(marker))))
    with pytest.raises(AsrError):
        load_model(path)
    assert not marker.exists()


def test_unknown_format_version(tmp_path, trained_digits):
    package = safe_load(trained_digits.best_model)
    package["format_version"] = FORMAT_VERSION + 1
    atomic_save(package, tmp_path / "future.pt")
    with pytest.raises(AsrError, match="version"):
        load_model(tmp_path / "future.pt")


def test_foreign_and_broken_files(tmp_path, trained_digits):
    torch.save({"weights": torch.zeros(3)}, tmp_path / "foreign.pt")
    with pytest.raises(AsrError, match="not a model file of this toolkit"):
        load_model(tmp_path / "foreign.pt")
    data = trained_digits.best_model.read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(AsrError, match="not a model file"):
        load_model(tmp_path / "cut.pt")
    with pytest.raises(AsrError, match="not found"):
        load_model(tmp_path / "missing.pt")
    package = safe_load(trained_digits.best_model)
    del package["state_dict"]["network.output.weight"]
    atomic_save(package, tmp_path / "inconsistent.pt")
    with pytest.raises(AsrError, match="inconsistent"):
        load_model(tmp_path / "inconsistent.pt")


def test_atomic_save_leaves_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "m.pt"
    atomic_save({"a": torch.ones(2)}, path)

    class Unsaveable:
        def __reduce__(self):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_save({"a": Unsaveable()}, path)
    assert torch.equal(torch.load(path, weights_only=True)["a"], torch.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"], "no temporary file may be left behind"
    assert zipfile.is_zipfile(path)


def test_leftovers_of_a_killed_save_are_removed_and_nothing_else(tmp_path):
    atomic_save({"format": "asr-model", "format_version": FORMAT_VERSION}, tmp_path / "last.pt")
    leftover = tmp_path / ".train_state.pt.k3j2x9.tmp"  # what SIGKILL during atomic_save leaves
    leftover.write_bytes(b"half a file")
    user_file = tmp_path / "notes.tmp"
    user_file.write_text("mine")
    assert remove_stale_temporaries(tmp_path) == [leftover]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt", "notes.tmp"]
