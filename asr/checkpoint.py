"""Model files: one self-contained, atomically written package that loads without running code.

A model file is a ``torch.save`` dictionary of tensors, strings, numbers, lists and dicts only, and is
read back with ``torch.load(weights_only=True)``, whose restricted unpickler refuses anything else,
so a shared model file cannot execute code on the user's machine.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asr.errors import AsrError
from asr.spec import FORMAT_NAME, FORMAT_VERSION, ModelSpec, spec_from_dict

if TYPE_CHECKING:
    import torch

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "atomic_save", "model_package", "remove_stale_temporaries", "safe_load"]


def atomic_save(obj: Any, path: str | os.PathLike[str]) -> None:
    """``torch.save`` to a temporary file in the same folder, fsync, then rename over ``path``.

    A crash at any moment leaves either the old file or the new one, never half of one.
    """
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(obj, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a model file is read as any other file
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0)  # the only way to read it is to set it
    os.umask(mask)
    return mask


#: First bytes of the files torch.save writes: a zip archive (since torch 1.6), or a bare pickle before that.
_TORCH_MAGIC = (b"PK\x03\x04", b"\x80")


def remove_stale_temporaries(folder: str | os.PathLike[str]) -> list[Path]:
    """Delete the temporary files that a writer killed mid-save (SIGKILL, power loss) left behind.

    Only files named like :func:`atomic_save`'s temporaries are touched. Call it before a run writes
    into ``folder`` again, never while another process may be saving there. Returns what was removed.
    """
    removed = []
    for leftover in Path(folder).glob(".*.tmp"):
        if leftover.is_file():
            leftover.unlink(missing_ok=True)
            removed.append(leftover)
    return removed


def safe_load(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a file written by :func:`atomic_save` with the restricted (weights-only) unpickler."""
    import torch

    if not os.path.isfile(path):
        raise AsrError("model file not found", path)
    with open(path, "rb") as handle:
        if not handle.read(4).startswith(_TORCH_MAGIC):
            raise AsrError("not a model file (expected model.pt from asr train, or model.onnx from asr export)",
                           path)
    try:
        obj = torch.load(os.fspath(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # never repeat torch's advice to load with weights_only=False: that would run the file's code
        raise AsrError("refused to load: the file holds code or objects, not plain data; a model file of this "
                       "toolkit never does, so do not trust it", path) from None
    except Exception as error:  # zip, EOF, magic-number errors: the file is not a torch file
        raise AsrError(f"not a model file ({type(error).__name__}: {str(error)[:120]})", path) from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT_NAME:
        raise AsrError("not a model file of this toolkit", path)
    obj.update(spec_from_dict(obj, path).to_dict())  # refuses newer formats, migrates older ones
    return obj


def model_package(spec: ModelSpec, state_dict: dict[str, torch.Tensor]) -> dict[str, Any]:
    """The dictionary stored in a ``.pt`` model file: the spec's fields plus the weights."""
    return {**spec.to_dict(), "state_dict": {k: v.detach().cpu() for k, v in state_dict.items()}}
