"""int8 weights for an exported ``.onnx`` model, without PyTorch: onnxruntime's dynamic quantization of the
recurrent and output layers (``asr export --model model.onnx --int8``; needs the ``onnx`` package, the ``[onnx]``
extra, beside the runtime). :mod:`asr.onnx_export` uses it for ``asr export --int8`` of a ``.pt`` model."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from asr.errors import AsrError
from asr.files import atomic_write_bytes
from asr.onnx_model import METADATA_KEY, require_onnxruntime

#: Operators whose weights int8 export quantizes: the recurrent layers and the output layer's MatMul hold almost
#: every weight and almost all of the time. The small convolutional front end stays float, and so does the feature
#: graph (its STFT is a Conv, its mel filterbank a MatMul): a power spectrum's dynamic range is far beyond 8 bits.
INT8_OPERATORS = ("LSTM", "GRU", "RNN", "MatMul")



def export_int8(source: str | os.PathLike[str], path: str | os.PathLike[str]) -> Path:
    """Write the int8 twin of an exported float ``.onnx`` file to ``path`` (``asr export --int8`` of an ONNX
    model). Returns the path."""
    onnx, _ = require_onnxruntime()
    try:
        graph = onnx.load(os.fspath(source))
    except Exception as error:  # protobuf decode errors
        raise AsrError(f"not an ONNX model file ({str(error).strip()[:160]})", source) from None
    if not any(entry.key == METADATA_KEY for entry in graph.metadata_props):
        raise AsrError("an ONNX file, but not one exported by this toolkit (no settings in its metadata)", source)
    if any(node.op_type.startswith("DynamicQuantize") for node in graph.graph.node):
        raise AsrError("this ONNX model's weights are int8 already", source)
    return atomic_write_bytes(path, quantize_int8(graph).SerializeToString())


def quantize_int8(graph: Any) -> Any:
    """An exported graph (``onnx.ModelProto``) with the weights of :data:`INT8_OPERATORS` dynamically quantized
    to int8 by onnxruntime; its settings say so (``graph.int8``, read as ``is_quantized``)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = type(graph).FromString(graph.SerializeToString())  # a copy: the caller's graph stays float
    for entry in graph.metadata_props:
        if entry.key == METADATA_KEY:
            settings = json.loads(entry.value)
            settings["graph"]["int8"] = True
            entry.value = json.dumps(settings)

    with tempfile.TemporaryDirectory() as folder:  # the quantizer reads and writes files
        source, target = Path(folder) / "float.onnx", Path(folder) / "int8.onnx"
        source.write_bytes(graph.SerializeToString())
        root = logging.getLogger()  # the quantizer logs "consider pre-processing" (shape inference) as a warning
        level = root.level
        root.setLevel(logging.ERROR)
        try:
            quantize_dynamic(source, target, op_types_to_quantize=list(INT8_OPERATORS), weight_type=QuantType.QInt8,
                             nodes_to_exclude=[n.name for n in graph.graph.node if n.name.startswith("/features/")])
        finally:
            root.setLevel(level)
        return require_onnxruntime()[0].load(os.fspath(target))
