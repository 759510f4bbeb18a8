"""An exported ONNX model back as a PyTorch model file: the same weights, the same outputs, fine-tunable."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from asr.cli import main
from asr.config import FeatureConfig
from asr.errors import AsrError
from asr.features import FeatureExtractor
from asr.loading import load_model, packaged_model_path
from asr.model import AcousticModel, ModelConfig
from asr.onnx_export import export_onnx
from asr.onnx_import import package_from_onnx
from asr.recognizer import Recognizer, recognizer_from_package
from asr.text import Vocabulary


@pytest.mark.parametrize("rnn_type", ["lstm", "gru", "rnn"])
def test_every_recurrent_type_comes_back_with_its_exact_weights(rnn_type, tmp_path):
    torch.manual_seed(0)
    features = FeatureConfig(sample_rate=8000, n_mels=24)
    vocab = Vocabulary.from_transcripts(["one two three"])
    network = AcousticModel(features.dim, len(vocab), ModelConfig(rnn_type=rnn_type, hidden_size=16, num_layers=2,
                                                                  subsampling=4))
    extractor = FeatureExtractor(features)
    extractor.set_statistics(torch.randn(features.dim), torch.rand(features.dim) + 0.5)
    original = Recognizer(extractor, network.eval(), vocab)
    path = export_onnx(original, tmp_path / "model.onnx")
    imported = package_from_onnx(path)["state_dict"]
    expected = original.package()["state_dict"]
    assert sorted(imported) == sorted(expected)
    for name, value in expected.items():  # gate blocks reordered back exactly, not merely close
        assert torch.equal(imported[name], value), name


@pytest.mark.parametrize("name", ["digits", "english"])
def test_packaged_model_as_pytorch_gives_the_onnx_outputs(name, ten_digits):
    onnx_model = load_model(name)
    torch_model = recognizer_from_package(package_from_onnx(packaged_model_path(name)))
    assert torch_model.spec == onnx_model.spec  # vocabulary, settings and stored decoding come along
    waveforms = [onnx_model.load(u.audio) for u in ten_digits]
    expected, lengths = onnx_model.log_probs(waveforms)
    with torch.no_grad():
        got, got_lengths = torch_model.log_probs(waveforms)
    assert got_lengths.tolist() == lengths.tolist()
    for i, n in enumerate(lengths.tolist()):
        np.testing.assert_allclose(got[i, :n].numpy(), expected[i, :n], atol=1e-4)
    files = [u.audio for u in ten_digits]
    assert [r.text for r in torch_model.transcribe(files)] == [r.text for r in onnx_model.transcribe(files)]


def test_export_writes_the_pt_file_of_a_packaged_model_and_refuses_int8(tmp_path, capsys):
    out = tmp_path / "digits.pt"
    assert main(["export", "--model", "digits", "--output", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    model = load_model(out)
    assert type(model).__name__ == "Recognizer" and model.spec == load_model("digits").spec
    assert main(["export", "--model", "digits-int8", "--output", str(tmp_path / "int8.pt")]) == 2
    assert "int8 model cannot be turned back" in capsys.readouterr().err
    with pytest.raises(AsrError, match="int8 model cannot be turned back"):
        package_from_onnx(packaged_model_path("digits-int8"))


def test_training_fine_tunes_a_packaged_model_by_name(ten_digits, tmp_path):
    from asr.config import ExperimentConfig
    from asr.train import train

    spec = load_model("digits").spec
    config = ExperimentConfig.from_dict({"features": spec.features, "model": spec.model,
                                         "train": {"epochs": 1, "lr": 1e-5, "warmup_steps": 1, "threads": 1,
                                                   "spec_augment": False, "init_from": "digits"}})
    tuned = train(config, ten_digits, ten_digits, tmp_path / "tuned", resume=False, progress=False)
    assert tuned.history[0]["valid_wer"] <= 0.1  # the shipped weights are where it starts: it reads them already
    assert load_model(tuned.best_model).spec.vocabulary == spec.vocabulary
