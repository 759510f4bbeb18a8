"""ONNX export: waveform to log-probabilities (features and network) in one self-contained ``.onnx`` file.

The graph takes waveforms and gives CTC log-probabilities, so running it needs onnxruntime and NumPy but
no PyTorch (:mod:`asr.onnx_model`): a ``transcribe`` process then starts in a fraction of the time that
importing PyTorch takes. Its metadata holds everything else a recogniser needs: vocabulary, sample rate,
frame shift and the model's settings.

Graph inputs and outputs (layout 3):
  ``waveforms (batch, samples)``: mono waveforms at the model's rate, zero-padded to the longest;
  ``num_samples (batch,)``: each waveform's length before the padding;
  -> ``log_probs (batch, frames', vocab)`` and ``out_lengths (batch,)``.

The graph is the same :class:`~asr.features.FeatureExtractor` that training and the PyTorch recogniser use,
exported as it is. With ``int8``, onnxruntime's dynamic quantization stores the recurrent and linear weights as
8-bit integers (activations are quantized per batch as the graph runs): a third of the file and about half of the
network's time on a CPU (``bench/bench_runtime.py`` measures both, and the accuracy it costs).
Loading parses JSON and an ONNX graph, never pickles, so an ONNX model file cannot run code either.
"""

from __future__ import annotations

import io
import json
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from asr.errors import AsrError
from asr.features import FeatureExtractor
from asr.files import atomic_write_bytes
from asr.inference import BaseRecognizer
from asr.onnx_int8 import quantize_int8
from asr.onnx_model import GRAPH_LAYOUT, METADATA_KEY, require_onnxruntime
from asr.quiet import quiet_stderr

OPSET = 17


class WaveformModel(nn.Module):
    """Feature extractor + acoustic network: the whole graph of the ``.onnx`` file."""

    def __init__(self, extractor: FeatureExtractor, network: nn.Module) -> None:
        super().__init__()
        self.features = extractor
        self.network = network

    def forward(self, waveforms: torch.Tensor, num_samples: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.network(*self.features(waveforms, num_samples))


def export_onnx(recognizer: BaseRecognizer, path: str | os.PathLike[str], int8: bool = False) -> Path:
    """Write ``recognizer``'s features, network and settings to ``path`` (``.onnx``), with int8 weights when
    ``int8``. Returns the path."""
    onnx, _ = require_onnxruntime()
    from asr.recognizer import Recognizer

    if not isinstance(recognizer, Recognizer):
        raise AsrError("this model is already an ONNX file: export the .pt model it came from")
    if recognizer.is_quantized:
        raise AsrError("export the float model: load the .pt file without --quantize")
    model = WaveformModel(recognizer.extractor.cpu().eval(), recognizer.network.cpu().eval()).eval()
    example = (torch.zeros(2, 8000), torch.tensor([8000, 5000]))
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter warns about its own deprecation
        # dynamo=False: torch.export cannot trace packed sequences; the TorchScript-based exporter maps them
        # to the ONNX LSTM's sequence_lens input.
        with quiet_stderr():  # the exporter's shape-inference warnings about packed sequences are expected
            torch.onnx.export(model, example, buffer, input_names=["waveforms", "num_samples"],
                              output_names=["log_probs", "out_lengths"], opset_version=OPSET, dynamo=False,
                              dynamic_axes={"waveforms": {0: "batch", 1: "samples"}, "num_samples": {0: "batch"},
                                            "log_probs": {0: "batch", 1: "out_frames"},
                                            "out_lengths": {0: "batch"}})
    graph = onnx.load_from_string(buffer.getvalue())
    config = recognizer.extractor.config
    settings = recognizer.spec.to_dict()  # the same spec a .pt file holds
    settings["graph"] = {"layout": GRAPH_LAYOUT, "sample_rate": config.sample_rate,
                         "frame_seconds": recognizer.frame_seconds}
    entry = graph.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(settings)
    return atomic_write_bytes(path, (quantize_int8(graph) if int8 else graph).SerializeToString())
