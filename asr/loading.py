"""Loading a model by file or by name: the one place that knows both kinds of recogniser.

:func:`load_model` picks :class:`asr.recognizer.Recognizer` (PyTorch) for a ``.pt`` file and
:class:`asr.onnx_model.OnnxRecognizer` (onnxruntime) for a ``.onnx`` file. Both imports are lazy: an ONNX
model must load without importing PyTorch, which alone takes seconds.
"""

from __future__ import annotations

import os
from pathlib import Path

from asr.errors import AsrError
from asr.inference import BaseRecognizer

__all__ = ["DEFAULT_MODEL", "PACKAGED_MODELS", "load_model", "model_file", "packaged_model_name", "packaged_model_path",
           "packaged_names"]


#: Models that ship inside the package, by name (asr/models/README.md says what each knows); no name at all means
#: :data:`DEFAULT_MODEL`.
PACKAGED_MODELS = {"digits": "digits-en.onnx", "digits-int8": "digits-en-int8.onnx", "english": "english-en.onnx"}
DEFAULT_MODEL = "english"


def packaged_model_name(name: str) -> str | None:
    """The packaged model that ``name`` means: its name (``digits``) or its file's name with or without the
    extension (``digits-en.onnx``, ``digits-en``); ``None`` when it names none."""
    for packaged, file_name in PACKAGED_MODELS.items():
        if name in (packaged, file_name, Path(file_name).stem):
            return packaged
    return None


def packaged_names() -> str:
    """The packaged models as the help and the errors list them: ``digits (digits-en.onnx)``."""
    return ", ".join(f"{name} ({file_name})" for name, file_name in sorted(PACKAGED_MODELS.items()))


def packaged_model_path(name: str = DEFAULT_MODEL) -> Path:
    """Where a packaged model's file lies (see ``asr/models/README.md`` for what each one knows)."""
    packaged = packaged_model_name(name)
    if packaged is None:
        raise AsrError(f"no packaged model named {name!r}; packaged: {packaged_names()}")
    return Path(__file__).resolve().parent / "models" / PACKAGED_MODELS[packaged]


def model_file(name_or_path: str | os.PathLike[str] | None = None) -> str | os.PathLike[str]:
    """The file that :func:`load_model` would load for ``name_or_path``: a packaged model's file for its name (or
    for ``None``, the default), else the path itself, which must exist."""
    if name_or_path is None or (isinstance(name_or_path, str) and packaged_model_name(name_or_path) is not None
                                and not os.path.exists(name_or_path)):
        path = packaged_model_path(name_or_path or DEFAULT_MODEL)
        if not path.is_file():
            raise AsrError("the packaged model file is missing from this installation; reinstall the package or "
                           "pass a model file", path)
        return path
    if not os.path.exists(name_or_path):
        raise AsrError(f"model file not found (a model is a .pt or .onnx file, or a packaged model's name: "
                       f"{packaged_names()})", name_or_path)
    return name_or_path


def load_model(name_or_path: str | os.PathLike[str] | None = None, threads: int | None = None) -> BaseRecognizer:
    """Load a model: a file written by training (``.pt``, run by PyTorch), one exported with ``asr export``
    (``.onnx``, run by onnxruntime without importing PyTorch), or a packaged model by name (``"digits"``, or its
    file's name ``"digits-en"`` / ``"digits-en.onnx"``). With no argument, the packaged default model: English,
    open vocabulary (``"english"``), any sample rate. A file of that name in the working folder wins over the
    packaged model.

    Everything, the default decoding included, is rebuilt from the file alone. ``threads``: CPU threads the
    network runs on (default: one per core); an ONNX model's own session, PyTorch's setting for the process.
    """
    name_or_path = model_file(name_or_path)
    if threads is not None and threads < 1:
        raise AsrError(f"threads must be at least 1, not {threads}")
    if Path(name_or_path).suffix.lower() == ".onnx":
        from asr.onnx_model import load_onnx_model

        return load_onnx_model(name_or_path, threads)
    from asr.recognizer import load_torch_model

    return load_torch_model(name_or_path, threads)
