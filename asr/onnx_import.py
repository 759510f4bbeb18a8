"""An exported ``.onnx`` model back as a ``.pt`` model file: the packaged models, shipped only as ONNX, can be
fine-tuned (``train.init_from``), adapted, or exported again with a newer front end.

The graph of :mod:`asr.onnx_export` keeps each weight of the network as an initializer. The convolutional front
end, the feature statistics and the output bias keep their PyTorch names; the output weight is stored
transposed (a MatMul); each recurrent layer is one ONNX node (LSTM, GRU or RNN) whose ``W``, ``R`` and ``B``
inputs hold both directions, with the gates in ONNX's order (LSTM ``i o f c``, GRU ``z r h``) where PyTorch's
are ``i f g o`` and ``r z n``, and ``B`` the input and the recurrent biases end to end. int8 files cannot be
imported (their weights are quantized).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from asr.checkpoint import model_package
from asr.errors import AsrError
from asr.onnx_model import load_onnx_model

__all__ = ["package_from_onnx"]

#: For each ONNX recurrent operator, the order of PyTorch's gate blocks among ONNX's.
GATE_ORDER = {"LSTM": (0, 2, 3, 1), "GRU": (1, 0, 2), "RNN": (0,)}


def package_from_onnx(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``.pt`` model-file dictionary (as :func:`asr.checkpoint.safe_load` returns it) of an ONNX model
    written by ``asr export``; ``Recognizer``'s outputs from it match the ONNX graph's."""
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise AsrError("reading an ONNX model's weights needs the onnx package: pip install onnx", path) from None
    recognizer = load_onnx_model(path, threads=1)  # checks the file and reads its spec
    if recognizer.is_quantized:
        raise AsrError("an int8 model cannot be turned back into a PyTorch model: use the float .onnx file", path)
    graph = onnx.load(os.fspath(path)).graph
    weights = {item.name: numpy_helper.to_array(item) for item in graph.initializer}
    state: dict[str, np.ndarray] = {name: value for name, value in weights.items()
                                    if name.startswith(("features.", "network.frontend.", "network.output."))}
    output = [node for node in graph.node if node.op_type == "MatMul" and node.input[1] in weights
              and weights[node.input[1]].shape[1] == len(recognizer.vocab)]
    recurrent = [node for node in graph.node if node.op_type in GATE_ORDER]
    spec = recognizer.spec
    if len(output) != 1 or len(recurrent) != spec.model["num_layers"]:
        raise AsrError("an ONNX graph this version cannot read the weights of (expected one output MatMul and "
                       f"{spec.model['num_layers']} recurrent nodes, found {len(output)} and {len(recurrent)})", path)
    state["network.output.weight"] = weights[output[0].input[1]].T
    for layer, node in enumerate(recurrent):
        state.update(recurrent_weights(node, weights, layer))
    tensors = {name: torch.tensor(np.ascontiguousarray(value)) for name, value in state.items()}
    return model_package(spec, tensors)


def recurrent_weights(node: Any, weights: dict[str, np.ndarray], layer: int) -> dict[str, np.ndarray]:
    """One ONNX LSTM/GRU/RNN node's ``W (dirs, gates * hidden, in)``, ``R (dirs, gates * hidden, hidden)`` and
    ``B (dirs, 2 * gates * hidden)`` as PyTorch's ``weight_ih_l{layer}`` ... ``bias_hh_l{layer}_reverse``."""
    order = GATE_ORDER[node.op_type]
    w, r, b = (weights[name] for name in node.input[1:4])

    def torch_gates(matrix: np.ndarray) -> np.ndarray:
        return np.concatenate([np.split(matrix, len(order))[i] for i in order])

    out = {}
    for direction in range(w.shape[0]):
        suffix = f"l{layer}" + ("_reverse" if direction else "")
        bias_ih, bias_hh = np.split(b[direction], 2)
        out[f"network.rnn.weight_ih_{suffix}"] = torch_gates(w[direction])
        out[f"network.rnn.weight_hh_{suffix}"] = torch_gates(r[direction])
        out[f"network.rnn.bias_ih_{suffix}"] = torch_gates(bias_ih)
        out[f"network.rnn.bias_hh_{suffix}"] = torch_gates(bias_hh)
    return out
