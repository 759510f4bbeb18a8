"""Model files: one self-contained, atomically written package that loads without running code.

A model file is a ``torch.save`` dictionary of tensors, strings, numbers, lists and dicts only, and is
read back with ``torch.load(weights_only=True)``, whose restricted unpickler refuses anything else,
so a shared model file cannot execute code on the user's machine.
"""

from __future__ import annotations

import os
import pickle
from typing import TYPE_CHECKING, Any

from asr.errors import AsrError
from asr.files import atomic_write, remove_stale_temporaries
from asr.spec import FORMAT_NAME, FORMAT_VERSION, ModelSpec, spec_from_dict

if TYPE_CHECKING:
    import torch

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "atomic_save", "model_package", "remove_stale_temporaries", "safe_load"]


def atomic_save(obj: Any, path: str | os.PathLike[str]) -> None:
    """``torch.save`` to ``path`` atomically (:func:`asr.files.atomic_write`: a temporary file in the same
    folder, fsync, then rename): a crash at any moment leaves either the old file or the new one, never half."""
    import torch

    atomic_write(path, lambda handle: torch.save(obj, handle))


#: First bytes of the files torch.save writes: a zip archive (since torch 1.6), or a bare pickle before that.
_TORCH_MAGIC = (b"PK\x03\x04", b"\x80")


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


def network_weights(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The acoustic network's weights of a model file's ``state_dict`` (its ``network.`` entries, the prefix
    dropped), as ``AcousticModel.load_state_dict`` takes them."""
    return {k[len("network."):]: v for k, v in state_dict.items() if k.startswith("network.")}
