"""ONNX export: the acoustic network as an ONNX graph, run by onnxruntime, in one self-contained file.

The ``.onnx`` file holds the network (any batch size and length; padded frames are masked through the
LSTM's sequence lengths) and, in its metadata, everything else a :class:`~asr.recognizer.Recognizer`
needs: feature settings and statistics, vocabulary, model settings. ``asr.load_model("model.onnx")``
gives a recognizer like any other, whose network runs in onnxruntime (faster than eager PyTorch on a
CPU for these small recurrent models; see bench/README.md). Loading parses JSON and an ONNX graph, never
pickles, so an ONNX model file cannot run code either.
"""

from __future__ import annotations

import io
import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from asr.checkpoint import FORMAT_NAME, FORMAT_VERSION
from asr.errors import AsrError
from asr.model import ModelConfig

METADATA_KEY = "asr_package"
OPSET = 17


def _require_onnx() -> tuple[Any, Any]:
    try:
        import onnx
        import onnxruntime
    except ImportError:
        raise AsrError("ONNX support needs the onnx and onnxruntime packages: pip install -e '.[onnx]'") from None
    return onnx, onnxruntime


def export_onnx(recognizer: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``recognizer``'s network and settings to ``path`` (``.onnx``). Returns the path."""
    onnx, _ = _require_onnx()
    if getattr(recognizer, "quantized", False) or not isinstance(recognizer.network, torch.nn.Module):
        raise AsrError("export the float model: load the .pt file without --quantize")
    network = recognizer.network.cpu().eval()
    dim = recognizer.extractor.config.dim
    example = (torch.zeros(2, 50, dim), torch.tensor([50, 30]))
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter warns about its own deprecation
        # dynamo=False: torch.export cannot trace packed sequences; the TorchScript-based exporter maps them
        # to the ONNX LSTM's sequence_lens input.
        torch.onnx.export(network, example, buffer, input_names=["features", "lengths"],
                          output_names=["log_probs", "out_lengths"], opset_version=OPSET, dynamo=False,
                          dynamic_axes={"features": {0: "batch", 1: "frames"}, "lengths": {0: "batch"},
                                        "log_probs": {0: "batch", 1: "out_frames"}, "out_lengths": {0: "batch"}})
    graph = onnx.load_from_string(buffer.getvalue())
    package = recognizer.package()
    settings = {key: value for key, value in package.items() if key != "state_dict"}
    settings["features_mean"] = package["state_dict"]["features.mean"].tolist()
    settings["features_std"] = package["state_dict"]["features.std"].tolist()
    entry = graph.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(settings)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    onnx.save(graph, tmp)
    os.replace(tmp, path)  # never a half-written model file
    return path


class OnnxNetwork:
    """Stands in for :class:`~asr.model.AcousticModel` at inference: same call, same outputs."""

    def __init__(self, session: Any, config: ModelConfig) -> None:
        self.session = session
        self.config = config

    def __call__(self, features: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(batch, frames, feat)``, ``(batch,)`` -> ``(batch, frames', vocab)`` log-probs, ``(batch,)``."""
        log_probs, out_lengths = self.session.run(None, {"features": features.float().numpy(),
                                                         "lengths": lengths.to(torch.int64).numpy()})
        return torch.from_numpy(log_probs), torch.from_numpy(np.asarray(out_lengths))

    def eval(self) -> OnnxNetwork:
        return self

    def cpu(self) -> OnnxNetwork:
        return self


def load_onnx_model(path: str | os.PathLike[str], threads: int | None = None) -> Any:
    """A :class:`~asr.recognizer.Recognizer` whose network runs in onnxruntime."""
    from asr.recognizer import recognizer_from_package

    onnx, onnxruntime = _require_onnx()
    if not os.path.isfile(path):
        raise AsrError("model file not found", path)
    try:
        graph = onnx.load(os.fspath(path), load_external_data=False)
        settings = json.loads({p.key: p.value for p in graph.metadata_props}[METADATA_KEY])
    except KeyError:
        raise AsrError("an ONNX file, but not one exported by this toolkit (no settings in its metadata)",
                       path) from None
    except Exception as error:  # protobuf decode errors, bad JSON
        raise AsrError(f"not an ONNX model file ({type(error).__name__})", path) from None
    if settings.get("format") != FORMAT_NAME or settings.get("format_version") != FORMAT_VERSION:
        raise AsrError(f"model format version {settings.get('format_version')!r} is not supported", path)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.inter_op_num_threads = 1
    try:
        session = onnxruntime.InferenceSession(graph.SerializeToString(), options,
                                               providers=["CPUExecutionProvider"])
    except Exception as error:
        raise AsrError(f"onnxruntime cannot run this graph ({str(error)[:200]})", path) from None
    # Rebuild the feature extractor and vocabulary through the same code as a .pt file, with no weights.
    package = {**settings, "state_dict": {"features.mean": torch.tensor(settings["features_mean"]),
                                          "features.std": torch.tensor(settings["features_std"])}}
    recognizer = recognizer_from_package(package, path, network=OnnxNetwork(session,
                                                                            ModelConfig(**settings["model_config"])))
    return recognizer
