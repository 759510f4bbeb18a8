"""asr: audio -> log-mel/MFCC -> bidirectional RNN + CTC -> greedy or beam-search text.

Python API::

    import asr
    model = asr.load_model()                      # the packaged English model: onnxruntime, no PyTorch
    model = asr.load_model("exp/model.pt")        # a trained model: needs PyTorch (the [train] extra)
    result = model.transcribe("speech.wav")
    print(result.text, result.words)

Two parts, two installs. ``pip install .`` is the **runtime**: these modules (:data:`RUNTIME_MODULES`) import
and run without PyTorch, torchaudio, librosa or matplotlib, and transcribe, evaluate, serve and stream with
a packaged or exported ``.onnx`` model, whose graph holds the features and the network (onnxruntime runs it):

- loading and running a model: ``loading``, ``onnx_model``, ``inference``, ``spec``, ``text``, ``errors``,
  ``files`` (atomic writes)
- audio: ``audio`` (soundfile, soxr), ``segment`` (long files), ``speech_detect`` (finding the utterances)
- decoding: ``decoding``, ``decode`` (greedy, and beam search on flashlight-text), ``grammar`` (phrase lists),
  ``char_lm``, ``lm``, ``quiet``
- live transcription: ``streaming``, ``stream_session``, ``stream_source``
- scoring: ``evaluate``, ``scoring``, ``error_report`` (jiwer), ``manifest``, ``confidence`` (calibrated word
  confidences)
- the front ends: ``cli``, ``server`` (FastAPI), ``subtitles``
- int8 weights for an exported model: ``onnx_int8`` (``asr export --model model.onnx --int8``; with the
  ``onnx`` package, ``pip install ".[onnx]"``, and still no PyTorch)

``pip install ".[train]"`` adds PyTorch, torchaudio, librosa, matplotlib and onnx for the rest
(:data:`TRAINING_MODULES`): ``train``, ``train_state``, ``model``, ``features``, ``data``, ``augment``, ``align``,
``config``, ``plots``, ``adapt``, ``recognizer`` (``.pt`` models, ``--quantize``), ``checkpoint``,
``onnx_export`` (``asr export``), ``onnx_import`` (an ``.onnx`` model back as ``.pt``), ``distributed``
(``torchrun``), and the recipes' helpers ``recipe`` and ``report``. ``import asr`` imports the runtime only;
``asr.Recognizer`` imports PyTorch when it is first used.
tests/test_runtime_install.py imports every runtime module with PyTorch hidden and checks that each module is in
one list or the other.
"""

from typing import Any

from asr.decode import Transcript, Word
from asr.decoding import Decoding
from asr.errors import AsrError
from asr.inference import BaseRecognizer
from asr.loading import load_model

__all__ = ["AsrError", "BaseRecognizer", "Decoding", "Recognizer", "Transcript", "Word", "load_model"]
__version__ = "0.1.0"

#: Modules of the runtime install: importable, and used, without PyTorch (see the module docstring).
RUNTIME_MODULES = ("asr.audio", "asr.char_lm", "asr.cli", "asr.confidence", "asr.decode", "asr.decoding",
                   "asr.error_report", "asr.errors", "asr.evaluate", "asr.files", "asr.grammar", "asr.inference",
                   "asr.lm", "asr.loading", "asr.manifest", "asr.onnx_int8", "asr.onnx_model", "asr.quiet",
                   "asr.scoring", "asr.segment", "asr.server", "asr.spec", "asr.speech_detect", "asr.stream_session",
                   "asr.stream_source", "asr.streaming", "asr.subtitles", "asr.text")
#: Modules that need the ``[train]`` extra (PyTorch and the rest) when imported or used.
TRAINING_MODULES = ("asr.adapt", "asr.align", "asr.augment", "asr.checkpoint", "asr.config", "asr.data",
                    "asr.distributed", "asr.features", "asr.model", "asr.onnx_export", "asr.onnx_import", "asr.plots",
                    "asr.recipe", "asr.recognizer", "asr.report", "asr.train", "asr.train_state")


def __getattr__(name: str) -> Any:
    # Recognizer needs PyTorch; importing asr alone does not, so an ONNX model starts fast.
    if name == "Recognizer":
        from asr.recognizer import Recognizer

        return Recognizer
    raise AttributeError(f"module 'asr' has no attribute {name!r}")
