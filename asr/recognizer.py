"""Inference in PyTorch: a trained model with its features and vocabulary, turning audio into transcripts.

The shared parts (audio, batching, long files, decoding) live in :class:`asr.inference.BaseRecognizer`.
"""

from __future__ import annotations

import copy
import os
import warnings
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import torch
from torch import nn

from asr.checkpoint import atomic_save, model_package, network_weights, safe_load
from asr.decode import ArrayLike
from asr.decoding import Decoding
from asr.errors import AsrError
from asr.features import FeatureConfig, FeatureExtractor
from asr.inference import LONG_AUDIO_SECONDS, AudioInput, BaseRecognizer
from asr.model import AcousticModel, ModelConfig
from asr.spec import ModelSpec, spec_from_dict
from asr.text import Vocabulary

__all__ = ["LONG_AUDIO_SECONDS", "AudioInput", "Recognizer", "load_torch_model"]


class Recognizer(BaseRecognizer):
    """Features + acoustic model (PyTorch) + decoder.

    >>> model = asr.load_model("exp/model.pt")            # doctest: +SKIP
    >>> model.transcribe("hello.wav").text                 # doctest: +SKIP
    """

    def __init__(
        self,
        extractor: FeatureExtractor,
        network: AcousticModel,
        vocab: Vocabulary,
        metadata: dict[str, Any] | None = None,
        decoding: Decoding | None = None,
    ) -> None:
        self.extractor = extractor.eval()
        self.network = network.eval()
        self.vocab = vocab
        self.metadata = metadata or {}
        self.is_quantized = False
        self._start_decoding(decoding or Decoding())

    @property
    def sample_rate(self) -> int:
        return self.extractor.config.sample_rate

    @property
    def frame_seconds(self) -> float:
        """Seconds per output frame (feature hop times subsampling)."""
        return self.extractor.config.frame_seconds * self.network.config.subsampling

    def quantized(self) -> Recognizer:
        """A recogniser like this one whose recurrent and output layers run in int8, for faster CPU inference.

        Weights are stored as int8 and activations quantized on the fly (``torch.ao`` dynamic
        quantization; plain-RNN layers stay in float, only LSTM/GRU and linear layers are converted).
        CPU only; a quantized recogniser is not saved (save the float one). This one is unchanged.
        """
        if self.is_quantized:
            return self
        with warnings.catch_warnings():
            # torch.ao.quantization is deprecated in favour of torchao, which has no dynamic int8 LSTM yet
            warnings.simplefilter("ignore")
            from torch.ao.quantization import quantize_dynamic

            network = quantize_dynamic(copy.deepcopy(self.network).cpu(), {nn.LSTM, nn.GRU, nn.Linear},
                                       dtype=torch.qint8)
        other = copy.copy(self)
        other.network, other.is_quantized = network, True
        return other

    @torch.inference_mode()
    def log_probs(self, waveforms: Sequence[ArrayLike]) -> tuple[torch.Tensor, torch.Tensor]:
        """Mono waveforms (tensors or arrays) -> ``(batch, frames', vocab)`` log-probabilities and
        ``(batch,)`` lengths."""
        tensors = [torch.as_tensor(w, dtype=torch.float32) for w in waveforms]
        lengths = torch.tensor([t.shape[0] for t in tensors])
        features, frames = self.extractor(torch.nn.utils.rnn.pad_sequence(tensors, batch_first=True), lengths)
        return self.network(features, frames)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the model file (see :mod:`asr.checkpoint`)."""
        if os.path.splitext(os.fspath(path))[1].lower() != ".pt":
            raise AsrError("a PyTorch model is saved as a .pt file (asr export writes the .onnx one)", path)
        if self.is_quantized:
            raise AsrError("a quantized recognizer is not saved: save the float model and quantize after loading",
                           path)
        atomic_save(self.package(), path)

    @property
    def spec(self) -> ModelSpec:
        """Everything but the weights, as written into ``.pt`` and ``.onnx`` files alike."""
        return ModelSpec(asdict(self.extractor.config), asdict(self.network.config), list(self.vocab.tokens),
                         self.stored_decoding, self.metadata)

    def package(self) -> dict[str, Any]:
        state = {f"network.{k}": v for k, v in self.network.state_dict().items()}
        state["features.mean"] = self.extractor.mean
        state["features.std"] = self.extractor.std
        return model_package(self.spec, state)


def recognizer_from_package(package: dict[str, Any], source: str | os.PathLike[str] | None = None) -> Recognizer:
    """Rebuild a :class:`Recognizer` from the dictionary of a model file."""
    spec = spec_from_dict(package, source)
    try:
        feature_config = FeatureConfig(**spec.features)
        model_config = ModelConfig(**spec.model)
        vocab = Vocabulary(spec.vocabulary)
        state = package["state_dict"]
        extractor = FeatureExtractor(feature_config)
        extractor.set_statistics(state["features.mean"], state["features.std"])
        network = AcousticModel(feature_config.dim, len(vocab), model_config)
        network.load_state_dict(network_weights(state))
    except (KeyError, TypeError, RuntimeError) as error:
        raise AsrError(f"model file is inconsistent ({type(error).__name__}: {str(error)[:200]})", source) from None
    return Recognizer(extractor, network, vocab, spec.metadata, spec.decoding)


def load_torch_model(path: str | os.PathLike[str], threads: int | None = None) -> Recognizer:
    """Load a ``.pt`` model file (use :func:`asr.load_model` for either kind of file); ``threads``, if given,
    sets PyTorch's CPU threads for this process (``torch.set_num_threads``)."""
    if threads is not None:
        torch.set_num_threads(threads)
    return recognizer_from_package(safe_load(path), path)
