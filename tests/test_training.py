"""Training really learns, resumes to the same state, and the saved model equals the in-memory one."""

from __future__ import annotations

import math
import shutil

import pytest
import torch

from asr.checkpoint import safe_load
from asr.errors import AsrError
from asr.loading import load_model
from asr.scoring import score
from asr.train import STATE_FILE, train
from tests.conftest import tiny_config


def test_overfits_ten_real_recordings_to_zero_wer(trained_digits, ten_digits):
    history = trained_digits.history
    assert history[-1]["train_loss"] < 0.2 * history[0]["train_loss"], "training loss must fall"
    assert history[0]["valid_wer"] > 0.5, "an untrained model should not already be right"
    model = load_model(trained_digits.best_model)
    hyps = [r.text for r in model.transcribe([u.audio for u in ten_digits])]
    assert score([u.text for u in ten_digits], hyps).wer == 0.0, hyps


def test_saved_model_transcribes_like_in_memory(trained_digits, ten_digits, tmp_path):
    model = load_model(trained_digits.best_model)
    model.save(tmp_path / "copy.pt")
    again = load_model(tmp_path / "copy.pt")
    for utt in ten_digits[:4]:
        a, b = model.transcribe(utt.audio), again.transcribe(utt.audio)
        assert a.text == b.text
        assert [w.to_dict() for w in a.words] == [w.to_dict() for w in b.words]
        lp_a, _ = model.log_probs([model.load(utt.audio)])
        lp_b, _ = again.log_probs([again.load(utt.audio)])
        assert torch.equal(lp_a, lp_b)


def test_model_file_carries_everything(trained_digits):
    package = safe_load(trained_digits.best_model)
    assert package["vocabulary"][0] == "<blank>"
    assert package["features"]["sample_rate"] == 8000
    assert "features.mean" in package["state_dict"]
    assert package["metadata"]["config"]["model"]["hidden_size"] == 64


def test_resume_mid_training_reaches_identical_weights(tmp_path, ten_digits):
    config = tiny_config(epochs=4, max_batch=3, save_every_steps=5)  # 4 batches per epoch: 16 steps
    config.spec_augment.time_masks = 1
    config.train.spec_augment = True  # exercise the random state too
    config.model.dropout = 0.2
    straight = train(config, ten_digits, None, tmp_path / "straight", resume=False, progress=False)
    train(config, ten_digits, None, tmp_path / "interrupted", resume=False, progress=False, stop_after_steps=6)
    state = safe_load(tmp_path / "interrupted" / STATE_FILE)
    assert state["progress"]["step"] == 6 and state["progress"]["epoch"] == 1
    resumed = train(config, ten_digits, None, tmp_path / "interrupted", resume=True, progress=False)
    a = safe_load(straight.best_model)["state_dict"]
    b = safe_load(resumed.best_model)["state_dict"]
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert [round(h["train_loss"], 6) for h in straight.history[-2:]] == [
        round(h["train_loss"], 6) for h in resumed.history[-2:]]


def test_resume_refuses_a_different_config_but_goes_on_with_more_epochs(tmp_path, ten_digits):
    config = tiny_config(epochs=1)
    first = train(config, ten_digits[:4], None, tmp_path, resume=False, progress=False)
    other = tiny_config(epochs=1, lr=0.5)
    with pytest.raises(AsrError, match="config differs"):
        train(other, ten_digits[:4], None, tmp_path, resume=True, progress=False)
    longer = train(tiny_config(epochs=3), ten_digits[:4], None, tmp_path, resume=True, progress=False)
    assert len(first.history) == 1 and len(longer.history) == 3  # two more epochs after the finished one
    assert longer.history[0] == first.history[0]
    shutil.rmtree(tmp_path)


def test_init_from_fine_tunes_a_trained_model_and_refuses_another_network(trained_digits, ten_digits, tmp_path):
    config = tiny_config(epochs=1, lr=1e-4)
    config.train.init_from = str(trained_digits.best_model)
    tuned = train(config, ten_digits, ten_digits, tmp_path / "tuned", resume=False, progress=False)
    scratch = train(tiny_config(epochs=1, lr=1e-4), ten_digits, ten_digits, tmp_path / "scratch", resume=False,
                    progress=False)
    # the trained weights are where it starts: its one epoch is as right as the model it came from
    assert tuned.history[0]["valid_wer"] == 0.0 and scratch.history[0]["valid_wer"] > 0.5
    assert tuned.history[0]["train_loss"] < 0.2 * scratch.history[0]["train_loss"]
    wider = tiny_config(epochs=1)
    wider.model.hidden_size *= 2
    wider.train.init_from = str(trained_digits.best_model)
    with pytest.raises(AsrError, match=r"\[model\] differs from this config's in hidden_size"):
        train(wider, ten_digits, None, tmp_path / "wider", resume=False, progress=False)
    wider.train.init_from = str(tmp_path / "missing.pt")
    with pytest.raises(AsrError, match="init_from: model file not found"):
        train(wider, ten_digits, None, tmp_path / "missing", resume=False, progress=False)


def test_clips_where_nobody_speaks_are_kept_and_trained_on_as_blank(trained_digits, ten_digits, tmp_path):
    """Empty transcripts are skipped unless the utterance says ``non_speech``; such clips train (CTC of an empty
    target: blank throughout) without costing the words. What they earn on real recordings (words no longer
    written into room tone) is measured by bench/bench_padded.py on the English model."""
    from asr.augment import ChannelConfig
    from asr.data import load_examples
    from asr.features import FeatureExtractor
    from asr.text import Vocabulary
    from data_prep.connected import make_non_speech

    channel = ChannelConfig(reverb=0.0)
    quiet = make_non_speech(8, tmp_path / "quiet", 8000, channel, seed=0)
    unheard = make_non_speech(6, tmp_path / "unheard", 8000, channel, seed=1)
    assert all(u.text == "" and u.extra["non_speech"] for u in quiet)
    config = tiny_config(epochs=4, lr=1e-3)
    vocab = Vocabulary.from_transcripts(u.text for u in ten_digits)
    examples, skipped = load_examples(quiet, FeatureExtractor(config.features), vocab, 2)
    assert len(examples) == 8 and not skipped and all(e.targets.numel() == 0 for e in examples)

    def heard(model_file, utterances):
        model = load_model(model_file).with_greedy()
        model.detect_speech = False  # the network itself, not the speech detector, must say nothing here
        return [r.text for r in model.transcribe([u.audio for u in utterances])]

    config.train.init_from = str(trained_digits.best_model)
    tuned = train(config, ten_digits + quiet, None, tmp_path / "exp", resume=False, progress=False)
    assert all(math.isfinite(h["train_loss"]) for h in tuned.history) and not tuned.skipped_utterances
    tuned = tuned.best_model
    assert heard(tuned, unheard) == [""] * len(unheard)
    assert heard(tuned, ten_digits) == [u.text for u in ten_digits]


def test_gru_and_rnn_train(tmp_path, ten_digits):
    for kind in ("gru", "rnn"):
        config = tiny_config(epochs=3)
        config.model.rnn_type = kind
        config.model.bidirectional = kind == "gru"
        result = train(config, ten_digits, None, tmp_path / kind, resume=False, progress=False)
        assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]


def test_non_finite_loss_is_skipped_and_never_applied(tmp_path, ten_digits, monkeypatch):
    import asr.train as train_module

    real_loss = train_module.ctc_loss
    calls = {"n": 0}

    def sometimes_nan(*args, **kwargs):
        calls["n"] += 1
        loss = real_loss(*args, **kwargs)
        return loss * float("nan") if calls["n"] in (3, 4) else loss

    monkeypatch.setattr(train_module, "ctc_loss", sometimes_nan)
    config = tiny_config(epochs=2, max_batch=5)  # 2 steps per epoch: steps 3 and 4 are epoch 2
    result = train(config, ten_digits, None, tmp_path, resume=False, progress=False)
    assert result.skipped_batches == 2
    after_epoch_1 = safe_load(tmp_path / "last.pt")["state_dict"]
    assert all(torch.isfinite(v).all() for v in after_epoch_1.values())
    # epoch 2 applied nothing, so its weights equal those a 1-epoch run ends with (same seed, same schedule)
    monkeypatch.setattr(train_module, "ctc_loss", real_loss)
    one_epoch = train(config, ten_digits, None, tmp_path / "one", resume=False, progress=False,
                      stop_after_steps=2)
    assert one_epoch.skipped_batches == 0  # the real loss is finite: nothing skipped in the reference run
    state = safe_load(tmp_path / "one" / STATE_FILE)["state_dict"]
    for key, value in after_epoch_1.items():
        assert torch.equal(value, state[key]), key


def test_transcripts_too_long_for_their_audio_are_reported(tmp_path, ten_digits):
    from asr.manifest import Utterance

    long_text = Utterance(ten_digits[0].audio, "zero " * 40, ten_digits[0].duration, {"id": "too-long"})
    result = train(tiny_config(epochs=1), [*ten_digits, long_text], None, tmp_path, resume=False, progress=False)
    assert [utt_id for utt_id, _ in result.skipped_utterances] == ["too-long"]
    assert "more frames" in result.skipped_utterances[0][1]


def test_average_epochs_stores_the_mean_of_the_last_epochs_weights(tmp_path, ten_digits):
    config = tiny_config(epochs=4, average_epochs=2)
    result = train(config, ten_digits[:4], ten_digits[:2], tmp_path, resume=False, progress=False)
    assert sorted(p.name for p in tmp_path.glob("epoch*.pt")) == ["epoch3.pt", "epoch4.pt"]
    third, fourth = (safe_load(tmp_path / f"epoch{e}.pt")["state_dict"] for e in (3, 4))
    averaged = safe_load(result.best_model)
    assert averaged["metadata"]["averaged_epochs"] == [3, 4] and "valid_wer" in averaged["metadata"]
    for key, weights in averaged["state_dict"].items():
        if key.startswith("network."):
            assert torch.allclose(weights, (third[key] + fourth[key]) / 2), key
    assert not torch.equal(third["network.output.weight"], fourth["network.output.weight"])
    # resumed after it finished: the same files give the same mean
    again = train(config, ten_digits[:4], ten_digits[:2], tmp_path, resume=True, progress=False)
    assert torch.equal(safe_load(again.best_model)["state_dict"]["network.output.weight"],
                       averaged["state_dict"]["network.output.weight"])
