"""ONNX export: waveform to log-probabilities (features and network) in one self-contained ``.onnx`` file.

The graph takes waveforms and gives CTC log-probabilities, so running it needs onnxruntime and NumPy but
no PyTorch (:mod:`asr.onnx_model`): a ``transcribe`` process then starts in a fraction of the time that
importing PyTorch takes. Its metadata holds everything else a recogniser needs: vocabulary, sample rate,
frame shift and the model's settings.

Graph inputs and outputs:
  ``waveforms (batch, samples)``: each waveform reflect-padded by ``pad`` samples on both sides (the
  ``center=True`` padding of the STFT, done per utterance by the caller), then zero-padded to the longest;
  ``num_samples (batch,)``: each waveform's length before any padding;
  -> ``log_probs (batch, frames', vocab)`` and ``out_lengths (batch,)``.

ONNX has no complex numbers, so the STFT is a strided convolution with the windowed DFT basis; the window,
mel filterbank and DCT matrix are torchaudio's own buffers, and the export checks that the graph's features
match torchaudio's. Loading parses JSON and an ONNX graph, never pickles, so an ONNX model file cannot run
code either.
"""

from __future__ import annotations

import io
import json
import math
import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from asr.errors import AsrError
from asr.features import LOG_FLOOR, FeatureExtractor
from asr.onnx_model import GRAPH_LAYOUT, METADATA_KEY, require_onnxruntime
from asr.quiet import quiet_stderr

OPSET = 17


class ExportableFeatures(nn.Module):
    """The features of a :class:`~asr.features.FeatureExtractor`, normalised, in ONNX-exportable operations.

    ``(batch, samples + 2 * pad)`` reflect-padded waveforms and ``(batch,)`` frame counts ->
    ``(batch, frames, dim)``, zero after each utterance's frames (as :func:`pad_sequence` leaves them).
    """

    def __init__(self, extractor: FeatureExtractor) -> None:
        super().__init__()
        config = extractor.config
        mfcc = config.kind == "mfcc"
        mel_spectrogram = extractor.transform.MelSpectrogram if mfcc else extractor.transform
        spectrogram = mel_spectrogram.spectrogram
        n_fft, window = spectrogram.n_fft, spectrogram.window
        left = (n_fft - window.numel()) // 2  # torch.stft centres a shorter window inside the FFT frame
        window = nn.functional.pad(window, (left, n_fft - window.numel() - left))
        time = torch.arange(n_fft, dtype=torch.float64)
        freq = torch.arange(n_fft // 2 + 1, dtype=torch.float64)
        angle = 2 * math.pi * freq.unsqueeze(1) * time.unsqueeze(0) / n_fft  # (freqs, n_fft)
        basis = torch.cat([torch.cos(angle), -torch.sin(angle)]) * window.double()
        self.register_buffer("basis", basis.float().unsqueeze(1))  # (2 * freqs, 1, n_fft)
        self.register_buffer("filterbank", mel_spectrogram.mel_scale.fb.clone())  # (freqs, n_mels)
        self.register_buffer("dct", extractor.transform.dct_mat.clone() if mfcc else torch.empty(0))
        self.register_buffer("mean", extractor.mean.clone())
        self.register_buffer("std", extractor.std.clone())
        self.hop = config.hop_length
        self.pad = n_fft // 2
        self.mfcc = mfcc
        self.utterance_cmn = config.utterance_cmn

    def forward(self, waveforms: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        spectrum = nn.functional.conv1d(waveforms.unsqueeze(1), self.basis, stride=self.hop)  # (b, 2F, t)
        real, imag = spectrum.chunk(2, dim=1)
        power = (real * real + imag * imag).transpose(1, 2)  # (batch, frames, freqs)
        features = torch.log(power @ self.filterbank + LOG_FLOOR)
        if self.mfcc:
            features = features @ self.dct
        valid = (torch.arange(features.shape[1]).unsqueeze(0) < frames.unsqueeze(1)).unsqueeze(2).float()
        if self.utterance_cmn:
            features = features - (features * valid).sum(1, keepdim=True) / frames.view(-1, 1, 1).float()
        return (features - self.mean) / self.std * valid


class WaveformModel(nn.Module):
    """Exportable features + acoustic network: the whole graph of the ``.onnx`` file."""

    def __init__(self, extractor: FeatureExtractor, network: nn.Module) -> None:
        super().__init__()
        self.features = ExportableFeatures(extractor)
        self.network = network

    def forward(self, waveforms: torch.Tensor, num_samples: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        frames = torch.div(num_samples, self.features.hop, rounding_mode="floor") + 1
        return self.network(self.features(waveforms, frames), frames)


def export_onnx(recognizer: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``recognizer``'s features, network and settings to ``path`` (``.onnx``). Returns the path."""
    onnx, _ = require_onnxruntime()
    if not getattr(recognizer, "runs_in_pytorch", False):
        raise AsrError("this model is already an ONNX file: export the .pt model it came from")
    if getattr(recognizer, "quantized", False):
        raise AsrError("export the float model: load the .pt file without --quantize")
    model = WaveformModel(recognizer.extractor.cpu().eval(), recognizer.network.cpu().eval()).eval()
    _check_features(recognizer.extractor, model.features)
    pad = model.features.pad
    example = (torch.zeros(2, 8000 + 2 * pad), torch.tensor([8000, 5000]))
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
    settings["graph"] = {"layout": GRAPH_LAYOUT, "pad": pad, "sample_rate": config.sample_rate,
                         "frame_seconds": recognizer.frame_seconds}
    entry = graph.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(settings)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    onnx.save(graph, tmp)
    os.replace(tmp, path)  # never a half-written model file
    return path


@torch.no_grad()
def _check_features(extractor: FeatureExtractor, exportable: ExportableFeatures) -> None:
    """The exportable front end must give torchaudio's features (a guard against a torchaudio change)."""
    waveform = torch.randn(12345, generator=torch.Generator().manual_seed(0)) * 0.1
    expected = extractor(waveform)
    padded = nn.functional.pad(waveform.view(1, 1, -1), (exportable.pad, exportable.pad), mode="reflect")
    got = exportable(padded.view(1, -1), torch.tensor([expected.shape[0]]))[0]
    if got.shape != expected.shape or not torch.allclose(got, expected, atol=1e-3, rtol=1e-3):
        raise AsrError("the exportable features differ from torchaudio's; this torchaudio version is not supported "
                       "by asr export")
