"""The one front end: torchaudio's features, whatever the padding of the batch."""

from __future__ import annotations

import pytest
import torch
import torchaudio.transforms as T

from asr.features import LOG_FLOOR, FeatureConfig, FeatureExtractor


def torchaudio_reference(config: FeatureConfig, n_fft: int, waveform: torch.Tensor) -> torch.Tensor:
    """``(samples,)`` -> ``(frames, dim)``: torchaudio's MelSpectrogram (log) or MFCC, un-normalised."""
    mel = dict(n_fft=n_fft, win_length=config.win_length, hop_length=config.hop_length, f_min=config.f_min,
               f_max=config.f_max, n_mels=config.n_mels, center=True, power=2.0)
    if config.kind == "mfcc":
        features = T.MFCC(sample_rate=config.sample_rate, n_mfcc=config.n_mfcc, log_mels=True, melkwargs=mel)(waveform)
    else:
        features = torch.log(T.MelSpectrogram(sample_rate=config.sample_rate, **mel)(waveform) + LOG_FLOOR)
    features = features.T
    if config.utterance_cmn:
        features = features - features.mean(0, keepdim=True)
    return features


@pytest.mark.parametrize(("kind", "rate", "cmn"), [("fbank", 8000, False), ("fbank", 16000, True),
                                                   ("mfcc", 16000, False), ("mfcc", 8000, True)])
def test_padded_batch_gives_each_utterances_torchaudio_features(kind, rate, cmn):
    config = FeatureConfig(kind=kind, sample_rate=rate, n_mels=40, utterance_cmn=cmn)
    extractor = FeatureExtractor(config)
    mean, std = torch.linspace(-1, 1, config.dim), torch.linspace(0.5, 2, config.dim)
    extractor.set_statistics(mean, std)
    generator = torch.Generator().manual_seed(rate)
    waveforms = [torch.randn(n, generator=generator) * 0.1 for n in (rate, 3001, 801)]
    lengths = torch.tensor([len(w) for w in waveforms])
    features, frames = extractor(torch.nn.utils.rnn.pad_sequence(waveforms, batch_first=True), lengths)
    assert features.shape == (3, int(frames.max()), config.dim)
    for i, waveform in enumerate(waveforms):
        expected = (torchaudio_reference(config, extractor.n_fft, waveform) - mean) / std
        assert frames[i] == expected.shape[0]
        torch.testing.assert_close(features[i, : frames[i]], expected, atol=1e-4, rtol=1e-4)
        assert not features[i, frames[i]:].any()  # padding stays zero, as the network expects
        torch.testing.assert_close(extractor.one(waveform), expected, atol=1e-4, rtol=1e-4)


def test_raw_features_and_normalisation_compose_to_the_forward_pass():
    extractor = FeatureExtractor(FeatureConfig(sample_rate=8000, n_mels=20, utterance_cmn=True))
    extractor.set_statistics(torch.full((20,), 3.0), torch.full((20,), 2.0))
    waveforms = torch.randn(2, 4000, generator=torch.Generator().manual_seed(1))
    lengths = torch.tensor([4000, 2500])
    raw, frames = extractor.raw(waveforms, lengths)
    torch.testing.assert_close(extractor.normalise(raw, frames), extractor(waveforms, lengths)[0])
    centred = extractor.centre(raw, frames)
    assert centred[1, : frames[1]].mean(0).abs().max() < 1e-4  # each row's mean over its own frames only


def test_audio_shorter_than_the_window_still_gives_finite_frames():
    extractor = FeatureExtractor(FeatureConfig(sample_rate=8000, n_mels=20))
    for length in (1, 2, 50, 200):
        features = extractor.one(torch.randn(length))
        assert features.shape == (length // extractor.hop + 1, 20)
        assert torch.isfinite(features).all()
