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


@pytest.mark.parametrize("kind", ["fbank", "mfcc"])
def test_speech_frames_mean_ignores_the_silence_around_the_words(kind):
    """``cmn_frames = "speech"``: a word with a second of silence or quiet room tone on each side gets the
    features it has alone (on its own frames), where the mean over all frames shifts them by far more."""
    rate = 8000
    generator = torch.Generator().manual_seed(5)
    envelope = torch.hann_window(4000, periodic=False) ** 0.5
    word = torch.sin(torch.arange(4000) * 0.3) * envelope * 0.3 + torch.randn(4000, generator=generator) * 0.02
    shifts = {}
    for frames_used in ("all", "speech"):
        extractor = FeatureExtractor(FeatureConfig(kind=kind, sample_rate=rate, n_mels=40, utterance_cmn=True,
                                                   cmn_frames=frames_used))
        for around in ("silence", "room tone"):
            padded = torch.nn.functional.pad(word, (rate, rate))  # 100 frames each side
            if around == "room tone":  # under the word too, as in a room
                padded = padded + torch.randn(padded.numel(), generator=generator) * 10 ** (-60 / 20)
            alone = extractor.one(padded[rate:-rate])
            inner = extractor.one(padded)[100 + 5 : 100 + alone.shape[0] - 5]  # the word's frames, edges left out
            shifts[frames_used, around] = float((inner - alone[5:-5]).abs().mean())
    for around in ("silence", "room tone"):
        assert shifts["speech", around] < 0.1, shifts
        assert shifts["all", around] > 10 * shifts["speech", around], shifts


def test_speech_frames_mean_of_a_padded_batch_is_each_rows_own():
    extractor = FeatureExtractor(FeatureConfig(sample_rate=8000, n_mels=20, utterance_cmn=True, cmn_frames="speech"))
    waveforms = [torch.randn(n, generator=torch.Generator().manual_seed(n)) * 0.1 for n in (4000, 1500)]
    batch, frames = extractor(torch.nn.utils.rnn.pad_sequence(waveforms, batch_first=True),
                              torch.tensor([len(w) for w in waveforms]))
    for i, waveform in enumerate(waveforms):
        torch.testing.assert_close(batch[i, : frames[i]], extractor.one(waveform), atol=1e-5, rtol=1e-5)


def test_unknown_cmn_frames_is_a_clear_error():
    from asr.errors import AsrError

    with pytest.raises(AsrError, match="cmn_frames must be 'all' or 'speech'"):
        FeatureConfig(utterance_cmn=True, cmn_frames="loud")
