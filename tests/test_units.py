"""Unit tests of small pieces that otherwise run only inside long training fixtures: batching, the learning-rate
schedule, CTC's frame needs, the network's output lengths, the frequency warp and the pause finder."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from asr.data import BucketBatches, ctc_min_frames
from asr.features import warp_frequency
from asr.model import AcousticModel, ModelConfig
from asr.train import lr_schedule


def test_bucket_batches_respect_both_limits_and_cover_every_utterance_once():
    lengths = [5, 100, 7, 60, 61, 3, 90, 8, 9, 200]
    batches = BucketBatches(lengths, max_frames=200, max_batch=3, seed=1)
    flat = sorted(i for batch in batches.batches for i in batch)
    assert flat == list(range(len(lengths)))
    for batch in batches.batches:
        assert len(batch) <= 3 and (len(batch) == 1 or len(batch) * max(lengths[i] for i in batch) <= 200)
    first = batches.epoch(0)
    assert [max(lengths[i] for i in b) for b in first] == sorted(max(lengths[i] for i in b) for b in first)
    assert batches.epoch(1) == batches.epoch(1) and sorted(map(tuple, batches.epoch(1))) == sorted(map(tuple, first))
    assert len(batches) == len(batches.batches)


def test_bucket_batches_split_evenly_across_ranks():
    lengths = list(range(1, 12))
    ranks = [BucketBatches(lengths, max_frames=1000, max_batch=2, seed=0, rank=r, world_size=2) for r in (0, 1)]
    assert len(ranks[0].epoch(3)) == len(ranks[1].epoch(3)) == len(ranks[0])
    assert not {tuple(b) for b in ranks[0].epoch(3)} & {tuple(b) for b in ranks[1].epoch(3)}


def test_lr_schedule_warms_up_linearly_then_decays_to_the_final_ratio():
    assert lr_schedule(0, 10, 110, 0.1) == pytest.approx(0.1)
    assert lr_schedule(9, 10, 110, 0.1) == pytest.approx(1.0)
    assert lr_schedule(10, 10, 110, 0.1) == pytest.approx(1.0)
    assert lr_schedule(60, 10, 110, 0.1) == pytest.approx(0.1 + 0.9 * 0.5)  # half way: cosine at its middle
    assert lr_schedule(110, 10, 110, 0.1) == pytest.approx(0.1)
    assert lr_schedule(500, 10, 110, 0.1) == pytest.approx(0.1)  # past the end it stays at the floor
    values = [lr_schedule(s, 10, 110, 0.1) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(values, values[1:], strict=False))


@pytest.mark.parametrize("targets, frames", [([], 0), ([1], 1), ([1, 2, 3], 3), ([1, 1], 3), ([4, 4, 4, 2], 6)])
def test_ctc_needs_a_blank_between_repeats(targets, frames):
    assert ctc_min_frames(targets) == frames


@pytest.mark.parametrize("subsampling", [1, 2, 4])
def test_output_lengths_match_what_the_network_produces(subsampling):
    network = AcousticModel(16, 5, ModelConfig(hidden_size=8, num_layers=1, subsampling=subsampling)).eval()
    lengths = torch.tensor([1, 2, 3, 7, 8, 9, 33])
    with torch.no_grad():
        _, out_lengths = network(torch.randn(len(lengths), 33, 16), lengths)
    expected = torch.tensor([math.ceil(n / subsampling) for n in lengths.tolist()])
    assert torch.equal(network.output_lengths(lengths), expected) and torch.equal(out_lengths, expected)


def test_warp_frequency_keeps_shape_and_identity_at_zero_warp():
    features = torch.randn(3, 20, 40)
    assert torch.allclose(warp_frequency(features, 0.0), features)
    torch.manual_seed(0)
    warped = warp_frequency(features, 0.2)
    assert warped.shape == features.shape and not torch.allclose(warped, features)
    ramp = torch.arange(40.0).expand(1, 5, 40)
    stretched = warp_frequency(ramp, 0.2)[0, 0]  # bin f reads bin f * a: a straight line of slope a
    slope = float(stretched[10] - stretched[9])
    assert 0.8 <= slope <= 1.2 and torch.allclose(stretched[:30], torch.arange(30.0) * slope, atol=1e-4)


def test_resampling_never_turns_audio_into_nothing():
    from asr.audio import resample_samples

    one = np.array([0.25], dtype=np.float32)
    assert resample_samples(one, 32001, 16000).tolist() == [0.25]  # soxr alone returns zero samples here
    assert resample_samples(np.zeros(0, np.float32), 32001, 16000).size == 0
    assert resample_samples(np.ones(32000, np.float32), 32000, 16000).size == 16000
