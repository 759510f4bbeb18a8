"""Running an exported model (``asr export``) with onnxruntime and NumPy: no PyTorch is imported.

The ``.onnx`` file holds the whole path from waveform to log-probabilities (see :mod:`asr.onnx_export`)
and, in its metadata, the model's :class:`~asr.spec.ModelSpec` (vocabulary, settings, default decoding
with its lexicon and LM). Reading audio at any rate, the network and both decoders run without PyTorch,
so a ``transcribe`` process starts in well under a second instead of the seconds that importing PyTorch
takes. Only onnxruntime is needed to load a model (the ``onnx`` package only to export one).
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from asr.decode import ArrayLike, as_numpy
from asr.errors import AsrError
from asr.files import atomic_write_bytes
from asr.inference import BaseRecognizer
from asr.spec import ModelSpec, spec_from_dict
from asr.text import Vocabulary

#: Metadata key of the settings in the ONNX file.
METADATA_KEY = "asr_package"
#: Version of the graph's inputs and outputs. Layout 2 (before the one front end) wanted each waveform
#: reflect-padded by the caller; it is still read, and padded here.
GRAPH_LAYOUT = 3
READABLE_LAYOUTS = (2, 3)


def require_onnxruntime() -> tuple[Any, Any]:
    """The ``onnx`` and ``onnxruntime`` modules (for export), or a clear error saying how to install them."""
    try:
        import onnx
        import onnxruntime
    except ImportError:
        raise AsrError("ONNX export and int8 quantization need the onnx and onnxruntime packages: "
                       "pip install -e '.[onnx]'") from None
    return onnx, onnxruntime


class OnnxRecognizer(BaseRecognizer):
    """A recogniser whose features and network run in onnxruntime: the contract of
    :class:`asr.inference.BaseRecognizer`, as :class:`asr.recognizer.Recognizer` keeps it (training and
    fine-tuning need the ``.pt`` model it came from)."""

    is_quantized = False

    def __init__(self, session: Any, spec: ModelSpec, graph: dict[str, Any], path: str | os.PathLike[str],
                 threads: int | None = None) -> None:
        self.session = session
        self.path = os.fspath(path)
        self.threads = threads  # onnxruntime's intra-op threads (None: one per core)
        self._features, self._model, self._graph = spec.features, spec.model, dict(graph)
        self.vocab = Vocabulary(spec.vocabulary)
        self.sample_rate = int(graph["sample_rate"])
        self.frame_seconds = float(graph["frame_seconds"])
        self.pad = int(graph["pad"]) if graph["layout"] == 2 else 0  # layout 2: the caller centres the STFT
        self.is_quantized = bool(graph.get("int8", False))  # weights stored as int8 (asr export --int8)
        self.metadata = spec.metadata
        self._start_decoding(spec.decoding)

    @property
    def spec(self) -> ModelSpec:
        """Everything but the weights, as :meth:`save` writes it (with :attr:`stored_decoding`)."""
        return ModelSpec(dict(self._features), dict(self._model), list(self.vocab.tokens), self.stored_decoding,
                         self.metadata)

    def quantized(self) -> OnnxRecognizer:
        """A recogniser like this one whose recurrent and output layers run with int8 weights (onnxruntime's
        dynamic quantization, as ``asr export --int8`` writes it; needs the ``onnx`` package). This one is
        unchanged; a quantized recogniser is not saved (``asr export --int8`` writes the int8 file)."""
        if self.is_quantized:
            return self
        from asr.onnx_int8 import quantize_int8

        onnx, _ = require_onnxruntime()
        other = copy.copy(self)
        other.session = inference_session(quantize_int8(onnx.load(self.path)).SerializeToString(), self.path,
                                          self.threads)
        other.is_quantized = True
        return other

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write this model as an ``.onnx`` file: the same graph, with this recogniser's spec (its default
        decoding among it) in the metadata. Needs the ``onnx`` package (``pip install onnx``)."""
        if os.path.splitext(os.fspath(path))[1].lower() != ".onnx":
            raise AsrError("an ONNX model is saved as an .onnx file (a .pt file needs the PyTorch model)", path)
        if self.is_quantized and not self._graph.get("int8"):
            raise AsrError("a quantized recognizer is not saved: asr export --int8 writes the int8 file", path)
        try:
            import onnx
        except ImportError:
            raise AsrError("saving an ONNX model needs the onnx package: pip install onnx", path) from None
        try:
            graph = onnx.load(self.path)  # the weights: the file this model was loaded from
        except Exception as error:  # moved or overwritten since
            raise AsrError(f"cannot read the ONNX file this model was loaded from ({str(error)[:120]})",
                           self.path) from None
        kept = [entry for entry in graph.metadata_props if entry.key != METADATA_KEY]
        del graph.metadata_props[:]
        graph.metadata_props.extend(kept)
        entry = graph.metadata_props.add()
        entry.key, entry.value = METADATA_KEY, json.dumps({**self.spec.to_dict(), "graph": self._graph})
        os.makedirs(os.path.dirname(os.path.abspath(os.fspath(path))), exist_ok=True)
        atomic_write_bytes(path, graph.SerializeToString())  # never a half-written model file

    def log_probs(self, waveforms: Sequence[ArrayLike]) -> tuple[np.ndarray, np.ndarray]:
        """Mono waveforms -> ``(batch, frames', vocab)`` log-probabilities and ``(batch,)`` lengths."""
        arrays = [as_numpy(w).astype(np.float32, copy=False) for w in waveforms]
        if any(len(a) < 2 for a in arrays):
            raise AsrError("audio is too short to transcribe (fewer than 2 samples)")
        batch = np.zeros((len(arrays), max(len(a) for a in arrays) + 2 * self.pad), dtype=np.float32)
        for row, samples in zip(batch, arrays, strict=True):
            samples = np.pad(samples, self.pad, mode="reflect") if self.pad else samples
            row[: len(samples)] = samples
        num_samples = np.array([len(a) for a in arrays], dtype=np.int64)
        log_probs, lengths = self.session.run(None, {"waveforms": batch, "num_samples": num_samples})
        return log_probs, np.asarray(lengths)


def inference_session(model: str | bytes, path: str | os.PathLike[str], threads: int | None) -> Any:
    """An onnxruntime CPU session for ``model`` (a file's path, or a serialized graph read from ``path``) with
    ``threads`` intra-op threads (None: one per core)."""
    try:
        import onnxruntime
    except ImportError:
        raise AsrError("an .onnx model needs onnxruntime: pip install onnxruntime", path) from None
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or os.cpu_count() or 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: no shape-inference chatter on every load
    try:
        return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    except Exception as error:  # protobuf decode errors, unsupported operators
        raise AsrError(f"not an ONNX model file onnxruntime can run ({str(error).strip()[:160]})", path) from None


def load_onnx_model(path: str | os.PathLike[str], threads: int | None = None) -> OnnxRecognizer:
    """An :class:`OnnxRecognizer` from a file written by ``asr export`` (needs onnxruntime only), running on
    ``threads`` intra-op threads (None: one per core)."""
    if not os.path.isfile(path):
        raise AsrError("model file not found", path)
    session = inference_session(os.fspath(path), path, threads)
    settings_json = session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
    if settings_json is None:
        raise AsrError("an ONNX file, but not one exported by this toolkit (no settings in its metadata)", path)
    try:
        settings = json.loads(settings_json)
    except ValueError:
        raise AsrError("the ONNX file's settings are not valid JSON", path) from None
    spec = spec_from_dict(settings, path)
    graph = settings.get("graph", {})
    if graph.get("layout") not in READABLE_LAYOUTS:
        raise AsrError(f"an ONNX graph of layout {graph.get('layout')}, which this version cannot run: export the "
                       ".pt model again", path)
    return OnnxRecognizer(session, spec, graph, path, threads)
