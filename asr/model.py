"""The acoustic model: optional convolutional front end, bidirectional recurrent stack, linear output.

``(batch, frames, feat)`` features -> ``(batch, frames', vocab)`` log-probabilities, where
``frames' = ceil(frames / subsampling)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from asr.errors import AsrError

_RNN_TYPES = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


@dataclass
class ModelConfig:
    """Network shape. Stored in every model file."""

    rnn_type: Literal["lstm", "gru", "rnn"] = "lstm"  # recurrent cell; "rnn" is a plain tanh RNN
    hidden_size: int = 256  # units per direction
    num_layers: int = 3  # stacked recurrent layers
    bidirectional: bool = True  # False: left context only (no streaming state API yet)
    dropout: float = 0.2  # between recurrent layers and before the output layer
    subsampling: int = 2  # time subsampling by the conv front end: 1 (no front end), 2 or 4
    conv_channels: int = 32  # channels of each front-end convolution

    def __post_init__(self) -> None:
        if self.rnn_type not in _RNN_TYPES:
            raise AsrError(f"rnn_type must be one of {sorted(_RNN_TYPES)}, got {self.rnn_type!r}")
        if self.subsampling not in (1, 2, 4):
            raise AsrError(f"subsampling must be 1, 2 or 4, got {self.subsampling}")
        if self.hidden_size <= 0 or self.num_layers <= 0:
            raise AsrError("hidden_size and num_layers must be positive")
        if not 0.0 <= self.dropout < 1.0:
            raise AsrError(f"dropout must be in [0, 1), got {self.dropout}")


class ConvSubsampler(nn.Module):
    """Stride-2 convolutions over (time, frequency), one per factor of 2 of time subsampling.

    ``(batch, frames, feat)`` -> ``(batch, ceil(frames / factor), out_dim)``.
    """

    def __init__(self, feat_dim: int, factor: int, channels: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_channels, freq = 1, feat_dim
        for _ in range(factor.bit_length() - 1):
            layers += [nn.Conv2d(in_channels, channels, kernel_size=3, stride=2, padding=1), nn.GELU()]
            in_channels, freq = channels, (freq + 1) // 2
        self.conv = nn.Sequential(*layers)
        self.factor = factor
        self.out_dim = channels * freq

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = self.conv(features.unsqueeze(1))  # (batch, channels, frames', freq')
        batch, channels, frames, freq = x.shape
        return x.permute(0, 2, 1, 3).reshape(batch, frames, channels * freq)


class AcousticModel(nn.Module):
    """Conv front end + recurrent stack + linear layer, trained with CTC.

    The output is always log-softmax (in training and in evaluation alike).
    """

    def __init__(self, feat_dim: int, vocab_size: int, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        if config.subsampling > 1:
            self.frontend: nn.Module | None = ConvSubsampler(feat_dim, config.subsampling, config.conv_channels)
            rnn_input = self.frontend.out_dim
        else:
            self.frontend, rnn_input = None, feat_dim
        rnn_kwargs = {"nonlinearity": "tanh"} if config.rnn_type == "rnn" else {}
        self.rnn = _RNN_TYPES[config.rnn_type](
            input_size=rnn_input,
            hidden_size=config.hidden_size,
            num_layers=config.num_layers,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            bidirectional=config.bidirectional,
            batch_first=True,
            **rnn_kwargs,
        )
        directions = 2 if config.bidirectional else 1
        # a plain int, so that TorchScript can compile output_lengths (it cannot read the dataclass)
        self.halvings = config.subsampling.bit_length() - 1
        self.dropout = nn.Dropout(config.dropout)
        self.output = nn.Linear(config.hidden_size * directions, vocab_size)

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Frames after subsampling: ``ceil(lengths / subsampling)`` (each stride-2 conv rounds up)."""
        for _ in range(self.halvings):
            lengths = torch.div(lengths + 1, 2, rounding_mode="floor")
        return lengths

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """
        Args:
            features: ``(batch, frames, feat)``, zero-padded after each utterance's length.
            lengths: ``(batch,)`` valid frames per utterance.

        Returns:
            ``(log_probs, out_lengths)``: ``(batch, frames', vocab)`` and ``(batch,)``.
        """
        x = self.frontend(features) if self.frontend is not None else features
        out_lengths = self.output_lengths(lengths).clamp(min=1, max=x.shape[1])
        packed = pack_padded_sequence(x, out_lengths.cpu(), batch_first=True, enforce_sorted=False)
        x, _ = self.rnn(packed)
        x, _ = pad_packed_sequence(x, batch_first=True)  # (batch, max(out_lengths), directions * hidden)
        logits = self.output(self.dropout(x))
        return logits.log_softmax(dim=-1), out_lengths
