"""Inference: a trained model with its features and vocabulary, turning audio into transcripts."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from asr.audio import audio_info, load_audio, prepare_waveform
from asr.checkpoint import atomic_save, model_package, safe_load
from asr.decode import BeamSearchConfig, BeamSearchDecoder, GreedyDecoder, Transcript, Word
from asr.errors import AsrError
from asr.features import FeatureConfig, FeatureExtractor
from asr.model import AcousticModel, ModelConfig
from asr.text import Vocabulary

#: Files longer than this are transcribed piece by piece, cut at pauses, in bounded memory.
LONG_AUDIO_SECONDS = 60.0

AudioInput = str | os.PathLike[str] | np.ndarray | torch.Tensor


class Recognizer:
    """Features + acoustic model + decoder.

    >>> model = asr.load_model("exp/model.pt")            # doctest: +SKIP
    >>> model.transcribe("hello.wav").text                 # doctest: +SKIP
    """

    def __init__(
        self,
        extractor: FeatureExtractor,
        network: AcousticModel | Any,
        vocab: Vocabulary,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.extractor = extractor.eval()
        self.network = network.eval()
        self.vocab = vocab
        self.metadata = metadata or {}
        self.decoder: GreedyDecoder | BeamSearchDecoder = GreedyDecoder(vocab, self.frame_seconds)
        self.quantized = False

    @property
    def sample_rate(self) -> int:
        return self.extractor.config.sample_rate

    @property
    def frame_seconds(self) -> float:
        """Seconds per output frame (feature hop times subsampling)."""
        return self.extractor.config.frame_seconds * self.network.config.subsampling

    def use_beam_search(
        self,
        config: BeamSearchConfig | None = None,
        lexicon: str | os.PathLike[str] | Sequence[str] | None = None,
        lm: str | os.PathLike[str] | None = None,
    ) -> Recognizer:
        """Switch to beam search (optionally with a lexicon and an ARPA LM); returns ``self``."""
        self.decoder = BeamSearchDecoder(self.vocab, self.frame_seconds, config, lexicon, lm)
        return self

    def quantize(self) -> Recognizer:
        """Int8 dynamic quantization of the recurrent and output layers for faster CPU inference.

        Weights are stored as int8 and activations quantized on the fly (``torch.ao`` dynamic
        quantization; plain-RNN layers stay in float, only LSTM/GRU and linear layers are converted).
        Irreversible for this object and CPU only; a quantized recognizer is not saved. Returns ``self``.
        """
        if self.quantized:
            return self
        if not self.runs_in_pytorch:
            raise AsrError("an ONNX model is not quantized here: quantize the .pt model instead")
        with warnings.catch_warnings():
            # torch.ao.quantization is deprecated in favour of torchao, which has no dynamic int8 LSTM yet
            warnings.simplefilter("ignore")
            from torch.ao.quantization import quantize_dynamic

            self.network = quantize_dynamic(self.network.cpu(), {nn.LSTM, nn.GRU, nn.Linear}, dtype=torch.qint8)
        self.quantized = True
        return self

    def use_greedy(self) -> Recognizer:
        self.decoder = GreedyDecoder(self.vocab, self.frame_seconds)
        return self

    def load(self, audio: AudioInput, sample_rate: int | None = None) -> torch.Tensor:
        """A path, or samples with their ``sample_rate``, as mono ``(samples,)`` at the model's rate."""
        if isinstance(audio, str | os.PathLike):
            return load_audio(audio, self.sample_rate)
        if sample_rate is None:
            raise AsrError("a sample_rate is needed with raw audio samples")
        return prepare_waveform(audio, sample_rate, self.sample_rate)

    @torch.inference_mode()
    def log_probs(self, waveforms: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Mono waveforms -> ``(batch, frames', vocab)`` log-probabilities and ``(batch,)`` lengths."""
        features = [self.extractor(w) for w in waveforms]
        lengths = torch.tensor([f.shape[0] for f in features])
        padded = torch.nn.utils.rnn.pad_sequence(features, batch_first=True)
        return self.network(padded, lengths)

    def transcribe(
        self, audio: AudioInput | Sequence[AudioInput], sample_rate: int | None = None, batch_size: int = 16
    ) -> Transcript | list[Transcript]:
        """Transcribe one input (path, numpy array or tensor) or a list of them.

        Lists are decoded in batches of similar length; results come back in input order.
        """
        if isinstance(audio, list | tuple):
            waveforms = [self.load(a, sample_rate) for a in audio]
            return self.transcribe_waveforms(waveforms, batch_size)
        if isinstance(audio, str | os.PathLike) and audio_info(audio).duration > LONG_AUDIO_SECONDS:
            return self.transcribe_long(audio)
        return self.transcribe_waveforms([self.load(audio, sample_rate)], batch_size)[0]

    def transcribe_long(self, path: str | os.PathLike[str], max_seconds: float = 30.0) -> Transcript:
        """Transcribe a file of any length in bounded memory, cutting it at pauses (see :mod:`asr.segment`).

        Word times are relative to the start of the file.
        """
        from asr.segment import iter_segments

        words: list[Word] = []
        for offset, waveform in iter_segments(path, self.sample_rate, max_seconds):
            result = self.transcribe_waveforms([waveform])[0]
            words += [Word(w.word, w.start + offset, w.end + offset, w.confidence) for w in result.words]
        return Transcript(" ".join(w.word for w in words), words)

    def transcribe_waveforms(self, waveforms: Sequence[torch.Tensor], batch_size: int = 16) -> list[Transcript]:
        """Mono waveforms at the model's rate -> transcripts, batched by length."""
        order = sorted(range(len(waveforms)), key=lambda i: waveforms[i].numel())
        results: list[Transcript | None] = [None] * len(waveforms)
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            log_probs, lengths = self.log_probs([waveforms[i] for i in chunk])
            for i, transcript in zip(chunk, self.decoder(log_probs, lengths), strict=True):
                results[i] = transcript
        return [r for r in results if r is not None]

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the model file (see :mod:`asr.checkpoint`)."""
        if self.quantized:
            raise AsrError("a quantized recognizer is not saved: save the float model and quantize after loading",
                           path)
        atomic_save(self.package(), path)

    @property
    def runs_in_pytorch(self) -> bool:
        """False for a network exported to ONNX (it cannot be quantized, saved or trained here)."""
        return isinstance(self.network, nn.Module)

    def package(self) -> dict[str, Any]:
        if not self.runs_in_pytorch:
            raise AsrError("this model runs in onnxruntime; its weights are in the .onnx file only")
        state = {f"network.{k}": v for k, v in self.network.state_dict().items()}
        state["features.mean"] = self.extractor.mean
        state["features.std"] = self.extractor.std
        return model_package(self.extractor.config, self.network.config, self.vocab.tokens, state,
                             self.metadata)


def recognizer_from_package(package: dict[str, Any], source: str | os.PathLike[str] | None = None,
                            network: Any = None) -> Recognizer:
    """Rebuild a :class:`Recognizer` from the dictionary of a model file.

    ``network``, when given, replaces the PyTorch network (the ONNX runtime's stand-in does).
    """
    try:
        feature_config = FeatureConfig(**package["feature_config"])
        model_config = ModelConfig(**package["model_config"])
        vocab = Vocabulary(package["vocabulary"])
        state = package["state_dict"]
        extractor = FeatureExtractor(feature_config)
        extractor.set_statistics(state["features.mean"], state["features.std"])
        if network is None:
            network = AcousticModel(feature_config.dim, len(vocab), model_config)
            network.load_state_dict({k[len("network."):]: v for k, v in state.items() if k.startswith("network.")})
    except (KeyError, TypeError, RuntimeError) as error:
        raise AsrError(f"model file is inconsistent ({type(error).__name__}: {str(error)[:200]})", source) from None
    return Recognizer(extractor, network, vocab, package.get("metadata", {}))


def load_model(path: str | os.PathLike[str]) -> Recognizer:
    """Load a model file written by training (``.pt``) or exported to ONNX (``.onnx``, run by onnxruntime).

    Everything is rebuilt from the file alone.
    """
    if Path(path).suffix.lower() == ".onnx":
        from asr.onnx_export import load_onnx_model

        return load_onnx_model(path)
    return recognizer_from_package(safe_load(path), Path(path))
